// SPDY/3.1 framing and header compression, against bytes crictl v1.29 (client-go over
// moby/spdystream) really sent, and in round trips through our own encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from '../../src/cri/streaming/spdy/dictionary.js';
import {
  FLAG_FIN, FrameError, FrameParser, RstStatus, decodeFrame, encodeFrame, type Frame,
} from '../../src/cri/streaming/spdy/frames.js';
import {
  HeaderCompressor, HeaderDecompressor, decodeHeaderBlock, encodeHeaderBlock, type SpdyHeaders,
} from '../../src/cri/streaming/spdy/headers.js';

// The first SYN_STREAM of `crictl exec c1 true`, whole, and the header blocks of the next
// two (zlib stream continued: they refer back into the first block).
const CRICTL_SYN_STREAM_1 = '80030001000000290000000100000000000078f9e3c6a7c26260606004a7b392a2d4c45c6851c29a0a0a6800000000ffff';
const CRICTL_BLOCK_3 = 'c22ac5565c92925f5a02000000ffff';
const CRICTL_BLOCK_5 = 'c229975a5404000000ffff';

function adler32(b: Buffer): number {
  let a = 1;
  let c = 0;
  for (const x of b) { a = (a + x) % 65521; c = (c + a) % 65521; }
  return ((c << 16) | a) >>> 0;
}

test('the SPDY/3 dictionary: 1423 bytes whose Adler-32 is the id in Go\'s zlib header', () => {
  assert.equal(SPDY3_DICTIONARY.length, 1423);
  assert.equal(adler32(SPDY3_DICTIONARY).toString(16), 'e3c6a7c2');
  // crictl's first header block starts with zlib's header naming that dictionary.
  assert.equal(CRICTL_SYN_STREAM_1.slice(36, 48), '78f9e3c6a7c2');
});

test('crictl\'s SYN_STREAMs decode: ids, and streamType through one inflate context', async () => {
  const f = decodeFrame(Buffer.from(CRICTL_SYN_STREAM_1, 'hex'));
  assert.equal(f.type, 'syn_stream');
  if (f.type !== 'syn_stream') return;
  assert.deepEqual([f.streamId, f.associatedId, f.priority, f.slot, f.flags], [1, 0, 0, 0, 0]);
  const d = new HeaderDecompressor();
  const blocks = [f.headerBlock, Buffer.from(CRICTL_BLOCK_3, 'hex'), Buffer.from(CRICTL_BLOCK_5, 'hex')];
  const got = await Promise.all(blocks.map((b) => d.decode(b)));
  d.close();
  assert.deepEqual(got.map((h) => Object.fromEntries(h)), [
    { streamtype: ['error'] }, { streamtype: ['stdout'] }, { streamtype: ['stderr'] },
  ]);
});

test('every frame type encodes and decodes back, also fed to the parser a byte at a time', () => {
  const frames: Frame[] = [
    { type: 'data', streamId: 3, flags: FLAG_FIN, data: Buffer.from('hello') },
    { type: 'data', streamId: 0x7fffffff, flags: 0, data: Buffer.alloc(0) },
    { type: 'syn_stream', streamId: 5, associatedId: 1, priority: 7, slot: 2, flags: 2, headerBlock: Buffer.from([1, 2, 3]) },
    { type: 'syn_reply', streamId: 5, flags: 1, headerBlock: Buffer.from([9]) },
    { type: 'rst_stream', streamId: 7, status: RstStatus.Cancel },
    { type: 'settings', flags: 1, entries: [{ flags: 1, id: 7, value: 65536 }, { flags: 0, id: 4, value: 100 }] },
    { type: 'ping', id: 0xfffffffe },
    { type: 'goaway', lastGoodStreamId: 9, status: 1 },
    { type: 'headers', streamId: 9, flags: 0, headerBlock: Buffer.from([4, 5]) },
    { type: 'window_update', streamId: 0, delta: 0x7fffffff },
    { type: 'unknown', frameType: 10, flags: 0, payload: Buffer.from('cred') },
  ];
  const wire = Buffer.concat(frames.map(encodeFrame));
  assert.deepEqual(new FrameParser().push(wire), frames);
  const p = new FrameParser();
  const oneByOne: Frame[] = [];
  for (const b of wire) oneByOne.push(...p.push(Buffer.from([b])));
  assert.deepEqual(oneByOne, frames);
});

test('frame layouts are the draft\'s: control bit, version 3, 24-bit length, 3-bit priority', () => {
  assert.equal(encodeFrame({ type: 'ping', id: 1 }).toString('hex'), '80030006000000040000000' + '1');
  assert.equal(encodeFrame({ type: 'rst_stream', streamId: 1, status: 5 }).toString('hex'), '800300030000000800000001' + '00000005');
  assert.equal(encodeFrame({ type: 'data', streamId: 1, flags: 1, data: Buffer.from('a') }).toString('hex'), '000000010100000161');
  assert.equal(encodeFrame({ type: 'goaway', lastGoodStreamId: 7, status: 0 }).toString('hex'), '800300070000000800000007' + '00000000');
  const syn = encodeFrame({ type: 'syn_stream', streamId: 1, associatedId: 0, priority: 3, slot: 0, flags: 0, headerBlock: Buffer.alloc(0) });
  assert.equal(syn.toString('hex'), '80030001000000' + '0a' + '00000001' + '00000000' + '6000');
});

test('malformed frames are refused: other versions, short control frames, data on stream 0', () => {
  const v2ping = Buffer.from('80020006000000040000000' + '1', 'hex');
  assert.throws(() => decodeFrame(v2ping), (e: unknown) => e instanceof FrameError && e.status === RstStatus.UnsupportedVersion);
  assert.throws(() => new FrameParser().push(Buffer.from('800300030000000400000001', 'hex')), /RST_STREAM frame of 4 bytes/);
  assert.throws(() => decodeFrame(Buffer.from('0000000000000000', 'hex')), /stream 0/);
  assert.throws(() => new FrameParser().push(Buffer.from('8003000400000008' + '00000002' + '00000000', 'hex')), /SETTINGS/);
});

test('header blocks: names lower-cased, several values joined with NUL, duplicates refused', () => {
  const h: SpdyHeaders = new Map([['streamType', ['data']], ['port', ['80']], ['x', ['a', 'b']]]);
  const raw = encodeHeaderBlock(h);
  const back = decodeHeaderBlock(raw);
  assert.deepEqual(back && Object.fromEntries(back.headers), { streamtype: ['data'], port: ['80'], x: ['a', 'b'] });
  assert.equal(back?.used, raw.length);
  assert.equal(decodeHeaderBlock(raw.subarray(0, raw.length - 1)), null, 'a partial block waits for more');
  const dup = encodeHeaderBlock(new Map([['a', ['1']], ['A', ['2']]]));
  assert.throws(() => decodeHeaderBlock(dup), /repeats "a"/);
});

test('compression round trip: many blocks, one zlib stream per direction, read by zlib as one', async () => {
  const c = new HeaderCompressor();
  const d = new HeaderDecompressor();
  const sets: SpdyHeaders[] = [
    new Map(),
    new Map([['streamtype', ['error']], ['port', ['8080']], ['requestid', ['0']]]),
    new Map([['streamtype', ['data']], ['port', ['8080']], ['requestid', ['0']]]),
    new Map([['content-type', ['text/plain']], ['x-long', ['y'.repeat(5000)]]]),
  ];
  const blocks = [...sets, ...sets].map((h) => c.compress(h));
  assert.equal(blocks[0]!.subarray(2, 6).readUInt32BE(0).toString(16), 'e3c6a7c2', 'the first block names the dictionary');
  const got = await Promise.all(blocks.map((b) => d.decode(b)));
  d.close();
  assert.deepEqual(got.map((h) => Object.fromEntries(h)), [...sets, ...sets].map((h) => Object.fromEntries(h)));
  // What a peer's single inflate (Go's zlib reader) sees: one stream, every block complete.
  const all = zlib.inflateSync(Buffer.concat(blocks), { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  assert.equal(all.length, [...sets, ...sets].reduce((n, h) => n + encodeHeaderBlock(h).length, 0));
});

test('a corrupt or empty compressed block fails the decompressor for good', async () => {
  const d = new HeaderDecompressor();
  await assert.rejects(d.decode(Buffer.from('not zlib at all')), /decompression/);
  await assert.rejects(d.decode(Buffer.from([0x78])), /decompression/);
  d.close();
  const e = new HeaderDecompressor();
  await assert.rejects(e.decode(Buffer.alloc(0)), /empty compressed header block/);
  e.close();
});
