// decompress.ts against the real tools (zstd, xz, bzip2; node 20 has no zstd of its own):
// each format round-trips, corrupt or cut data fails the stream (it never just ends short),
// a missing tool names its package, and a stream given up (destroyed, aborted) leaves no
// child behind. Also the magic bytes, as moby's DetectCompression reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { isKind } from '../../src/common/errors.js';
import { decompress, decompressByContent, type Compressed } from '../../src/image/decompress.js';
import { detectCompression } from '../../src/image/stream-head.js';

const PLAIN = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `line ${i}\n`).join(''));

const compressors: Record<Compressed, (b: Buffer) => Buffer> = {
  gzip: (b) => gzipSync(b),
  zstd: (b) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 30 }),
  xz: (b) => execFileSync('xz', ['-c', '-0'], { input: b, maxBuffer: 1 << 30 }),
  bzip2: (b) => execFileSync('bzip2', ['-c'], { input: b, maxBuffer: 1 << 30 }),
};

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Our children that are decompression tools (read from /proc: no ps in the way). */
function toolChildren(): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && ['zstd', 'xz', 'bzip2'].includes(comm)) out.push(`${pid} ${comm}`);
    } catch { /* gone meanwhile */ }
  }
  return out;
}

async function noToolChildren(): Promise<void> {
  for (let i = 0; i < 50 && toolChildren().length; i++) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(toolChildren(), [], 'no decompression tool left running');
}

for (const c of ['gzip', 'zstd', 'xz', 'bzip2'] as const) {
  test(`${c}: detected by its magic, round-trips in chunks`, async () => {
    const packed = compressors[c](PLAIN);
    assert.equal(detectCompression(packed.subarray(0, 10)), c);
    // fed in small pieces, as a download arrives
    const pieces = Array.from({ length: Math.ceil(packed.length / 997) }, (_, i) => packed.subarray(i * 997, (i + 1) * 997));
    assert.ok((await readAll(decompress(Readable.from(pieces), c, 'layer X'))).equals(PLAIN));
    await noToolChildren();
  });
}

for (const c of ['zstd', 'xz', 'bzip2'] as const) {
  test(`${c}: corrupt or cut data fails the stream with the tool's reason, never a short end`, async () => {
    const packed = compressors[c](PLAIN);
    const corrupt = Buffer.from(packed);
    for (let i = 40; i < corrupt.length - 40; i += 7) corrupt[i] ^= 0x5a;
    for (const bad of [corrupt, packed.subarray(0, packed.length >> 1)]) {
      await assert.rejects(readAll(decompress(Readable.from([bad]), c, 'layer sha256:abc')), (e: unknown) => {
        assert.ok(isKind(e, 'InvalidArgument'), String(e));
        assert.match((e as Error).message, new RegExp(`^layer sha256:abc: cannot decompress the ${c} data: ${c}: `));
        return true;
      });
    }
    await noToolChildren();
  });
}

test('a tool that is not installed names the package to install', async () => {
  const packed = { zstd: compressors.zstd(Buffer.from('x')), xz: compressors.xz(Buffer.from('x')), bzip2: compressors.bzip2(Buffer.from('x')) };
  const empty = mkdtempSync(path.join(os.tmpdir(), 'tsula-nopath-'));
  const saved = process.env.PATH;
  process.env.PATH = empty;
  try {
    for (const [c, pkg] of [['zstd', 'zstd'], ['xz', 'xz-utils'], ['bzip2', 'bzip2']] as const) {
      await assert.rejects(readAll(decompress(Readable.from([packed[c]]), c, 'the archive')), (e: unknown) => {
        assert.ok(isKind(e, 'Internal'), String(e));
        assert.match((e as Error).message, new RegExp(`the archive is ${c}-compressed and ${c} is not installed: install the "${pkg}" package`));
        return true;
      });
    }
  } finally {
    process.env.PATH = saved;
    rmSync(empty, { recursive: true, force: true });
  }
});

test('a stream given up before its end (destroyed, or its signal aborted) kills the tool', async () => {
  // 256 MiB of zeros: far more than the pipes hold, so the tool is still running
  const big = execFileSync('sh', ['-c', 'head -c 268435456 /dev/zero | zstd -q -c'], { maxBuffer: 1 << 30 });
  const s = decompress(Readable.from([big]), 'zstd', 'big');
  for await (const _ of s) break; // the iterator destroys the stream
  assert.ok(s.destroyed);
  await noToolChildren();
  const ac = new AbortController();
  const s2 = decompress(Readable.from([big]), 'zstd', 'big', ac.signal);
  let n = 0;
  await assert.rejects(async () => { for await (const c of s2) { n += (c as Buffer).length; if (n > 1 << 20) ac.abort(); } }, { name: 'AbortError' });
  await noToolChildren();
});

test('a zstd stream that opens with a skippable frame is zstd (moby zstdMatcher)', async () => {
  const skippable = Buffer.from([0x5e, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]);
  const packed = Buffer.concat([skippable, compressors.zstd(PLAIN)]);
  assert.equal(detectCompression(packed.subarray(0, 10)), 'zstd');
  assert.ok((await readAll(decompress(Readable.from([packed]), 'zstd', 'x'))).equals(PLAIN));
  assert.equal(detectCompression(Buffer.from([0x5e, 0x2a, 0x4d, 0x18])), 'none', 'four bytes are not enough to tell');
});

test('by content, as dockerd reads a layer: the bytes decide over the media type; a blob too short to tell keeps the declared one', async () => {
  assert.deepEqual(await readAll(decompressByContent(Readable.from([gzipSync(PLAIN)]), 'none', 'gzip declared plain')), PLAIN);
  assert.deepEqual(await readAll(decompressByContent(Readable.from([PLAIN]), 'gzip', 'plain declared gzip')), PLAIN);
  assert.deepEqual(await readAll(decompressByContent(Readable.from([compressors.zstd(PLAIN)]), 'gzip', 'zstd declared gzip')), PLAIN);
  // chunks of one byte: the head is gathered across them
  const gz = gzipSync(PLAIN);
  assert.deepEqual(await readAll(decompressByContent(Readable.from([...gz.subarray(0, 16)].map((b) => Buffer.from([b])).concat([gz.subarray(16)])), 'none', 'bytewise')), PLAIN);
  assert.deepEqual(await readAll(decompressByContent(Readable.from([Buffer.from('ab')]), 'none', 'tiny')), Buffer.from('ab'));
  // a corrupt gzip still fails the stream
  const bad = Buffer.from(gz);
  bad.fill(0, 100, 200);
  await assert.rejects(readAll(decompressByContent(Readable.from([bad]), 'gzip', 'corrupt')));
});
