// Docker's 8-byte stream framing: frames split anywhere must come out whole and in order.
import assert from 'node:assert/strict';
import { PassThrough, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { EscapeProxy, parseDetachKeys } from '../../src/common/detachkeys.js';
import { copyTo, demuxTo, Demuxer, frame, STDERR, STDOUT } from '../../src/cli/stdcopy.js';

class Sink extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.chunks.push(chunk);
    cb();
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
}

describe('stdcopy', () => {
  it('frames with a big-endian length header', () => {
    const f = frame(STDERR, 'hi');
    assert.deepEqual([...f.subarray(0, 8)], [2, 0, 0, 0, 0, 0, 0, 2]);
    assert.equal(f.subarray(8).toString(), 'hi');
  });

  it('demuxes frames split at every possible byte boundary', () => {
    const wire = Buffer.concat([frame(STDOUT, 'hello\n'), frame(STDERR, 'oops\n'), frame(STDOUT, ''), frame(STDOUT, 'x'.repeat(300))]);
    for (let cut1 = 0; cut1 <= wire.length; cut1 += 1) {
      const cut2 = Math.min(wire.length, cut1 + 7);
      const got: [number, string][] = [];
      const d = new Demuxer((s, p) => got.push([s, p.toString()]));
      d.push(wire.subarray(0, cut1));
      d.push(wire.subarray(cut1, cut2));
      d.push(wire.subarray(cut2));
      assert.deepEqual(got.filter(([, t]) => t !== ''), [[1, 'hello\n'], [2, 'oops\n'], [1, 'x'.repeat(300)]]);
      assert.equal(d.pending, 0);
    }
  });

  it('one byte at a time', () => {
    const wire = Buffer.concat([frame(STDOUT, 'ab'), frame(STDERR, 'cd')]);
    const got: string[] = [];
    const d = new Demuxer((s, p) => got.push(`${s}:${p}`));
    for (const b of wire) d.push(Buffer.from([b]));
    assert.deepEqual(got, ['1:ab', '2:cd']);
  });

  it('rejects unknown stream types and reports daemon errors in the stream', () => {
    const d = new Demuxer(() => {});
    assert.throws(() => d.push(Buffer.from([9, 0, 0, 0, 0, 0, 0, 0])), /Unrecognized input header: 9/);
    const d2 = new Demuxer(() => {});
    assert.throws(() => d2.push(frame(3, 'boom')), /boom/);
  });

  it('demuxTo routes to stdout and stderr until the stream ends', async () => {
    const src = new PassThrough();
    const out = new Sink();
    const err = new Sink();
    const done = demuxTo(src, out, err);
    const wire = Buffer.concat([frame(STDOUT, 'line1\n'), frame(STDERR, 'eline\n'), frame(STDOUT, 'line2\n')]);
    src.write(wire.subarray(0, 3));
    src.write(wire.subarray(3, 17));
    src.end(wire.subarray(17));
    await done;
    assert.equal(out.text, 'line1\nline2\n');
    assert.equal(err.text, 'eline\n');
  });

  it('demuxTo and copyTo finish on a source that ended before they were called', async () => {
    // an attach socket of a container that exited before tsula started reading it
    const src = new PassThrough();
    src.end();
    src.resume();
    await new Promise((r) => src.once('close', r));
    await demuxTo(src, new Sink(), new Sink());
    await copyTo(src, new Sink());
    const failed = new PassThrough();
    failed.on('error', () => {}); // seen before copyTo is called, as on a reset socket
    failed.destroy(new Error('reset'));
    await new Promise((r) => failed.once('close', r));
    await assert.rejects(copyTo(failed, new Sink()), /reset/);
  });
});

describe('detach keys', () => {
  it('ctrl-p ctrl-q detaches; a broken prefix is passed on', () => {
    const p = new EscapeProxy(parseDetachKeys('ctrl-p,ctrl-q'));
    assert.deepEqual(p.feed(Buffer.from('ab\x10')), { data: Buffer.from('ab'), detach: false });
    assert.deepEqual(p.feed(Buffer.from('x')), { data: Buffer.from('\x10x'), detach: false });
    assert.deepEqual(p.feed(Buffer.from('\x10')), { data: Buffer.from(''), detach: false });
    assert.equal(p.feed(Buffer.from('\x11')).detach, true);
  });

  it('parses docker detach-key specs', () => {
    assert.deepEqual([...parseDetachKeys('ctrl-a,x')], [1, 120]);
    assert.deepEqual([...parseDetachKeys('ctrl-@')], [0]);
    assert.throws(() => parseDetachKeys('ctrl-pp'), /Unknown character/);
  });
});
