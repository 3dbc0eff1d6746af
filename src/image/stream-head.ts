// A stream's first bytes: read without consuming them (peek), and what they say of its
// compression. Small on purpose: callers loaded with the daemon (docker cp's uploads) use it
// without pulling in the archive reader (tar) or zlib.
import { Readable } from 'node:stream';
import { invalidArgument } from '../common/errors.js';

export type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2' | 'none';

/** The format by its magic bytes, as moby's DetectCompression tells it (10 bytes are enough). */
export function detectCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  // a zstd stream may open with a skippable frame (magic 0x184D2A50..5F, little-endian)
  if (head.length >= 8 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  return 'none';
}

/**
 * The first `want` bytes of a stream (fewer if it ends first), and the stream to read from
 * the start: the same one, the bytes given back, or a replay of them when it ended meanwhile.
 */
export async function peek(input: Readable, want: number): Promise<{ head: Buffer; stream: Readable }> {
  const parts: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < want && !ended) {
    // A stream that already failed or ended emits nothing more: waiting would hang.
    if (input.errored) throw input.errored;
    if (input.readableEnded) break;
    if (input.destroyed) throw invalidArgument('archive stream was closed before it was read');
    const chunk = input.read() as Buffer | null;
    if (chunk !== null) {
      parts.push(chunk);
      have += chunk.length;
      continue;
    }
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        input.off('readable', onReadable); input.off('end', onEnd); input.off('error', done);
        if (err) reject(err); else resolve();
      };
      const onReadable = () => done();
      const onEnd = () => { ended = true; done(); };
      input.on('readable', onReadable); input.on('end', onEnd); input.on('error', done);
    });
    if (input.readableEnded) ended = true;
  }
  const head = Buffer.concat(parts);
  // after its 'end' a stream takes nothing back (unshift fails): a short one is replayed whole
  if (ended || input.readableEnded) return { head, stream: Readable.from(head.length > 0 ? [head] : [], { objectMode: false }) };
  if (head.length > 0) input.unshift(head);
  return { head, stream: input };
}

/**
 * `input` as plain bytes, whatever its first bytes say it is compressed with (dockerd's
 * DecompressStream). The decompressors (zlib, the tools) load with the first compressed
 * stream, not with the daemon.
 */
export async function decompressedByHead(input: Readable, label: string): Promise<Readable> {
  const { head, stream } = await peek(input, 10);
  const c = detectCompression(head);
  if (c === 'none') return stream;
  return (await import('./decompress.js')).decompress(stream, c, label);
}
