// Decompressing a stream, every format dockerd's DecompressStream reads (moby pkg/archive):
// gzip by node's zlib; zstd by node's zlib where it has it (node >= 22.15), else by the
// `zstd` tool; xz by `xz -d -c -q`, the command dockerd runs too; bzip2 by `bzip2 -d -c`
// (dockerd has Go's bzip2, node has none). A tool runs as a child process streamed through
// pipes; its output ends only once it exited 0, so corrupt data fails the stream (with the
// tool's stderr, as moby's cmdStream fails its reader) instead of ending it early, and a
// stream destroyed before its end (a consumer giving up, an AbortSignal) kills the child.
import { Duplex, PassThrough, addAbortSignal, type Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';
import { internal, invalidArgument } from '../common/errors.js';
import { spawnChild, type Child } from '../common/spawn.js';
import { detectCompression, peek, type Compression } from './stream-head.js';

export type Compressed = Exclude<Compression, 'none'>;

/** The Debian tool for each format node may lack, and the package it comes in. */
export const TOOLS: Record<Exclude<Compressed, 'gzip'>, { cmd: string; args: string[]; pkg: string }> = {
  zstd: { cmd: 'zstd', args: ['-d', '-c', '-q'], pkg: 'zstd' },
  xz: { cmd: 'xz', args: ['-d', '-c', '-q'], pkg: 'xz-utils' },
  bzip2: { cmd: 'bzip2', args: ['-d', '-c'], pkg: 'bzip2' },
};

type ZstdZlib = { createZstdDecompress?: () => Duplex };

// node:zlib on first use (~0.3 MB of tsulad's RSS for its life, ~2 MB of a bare node's): a
// daemon that only runs containers, or loads uncompressed archives, never inflates anything
let zlibMod: typeof Zlib | undefined;
const zlib = (): typeof Zlib => (zlibMod ??= createRequire('/')('node:zlib') as typeof Zlib);

/**
 * A decompressor to pipe into, like zlib's: compressed bytes in, plain bytes out; a failure
 * (corrupt data, a tool that is missing) destroys it with an error that names `label`.
 */
export function decompressor(compression: Compressed, label: string): Duplex {
  // 256 KiB output chunks: the default 16 KiB makes inflate 4x slower (a thread-pool hop per chunk).
  if (compression === 'gzip') return zlib().createGunzip({ chunkSize: 1 << 18 });
  const native = (zlib() as unknown as ZstdZlib).createZstdDecompress;
  if (compression === 'zstd' && typeof native === 'function') return native();
  return new ToolDecompressor(compression, label);
}

/**
 * Wrap a compressed stream in its decompressor. Errors of the source are forwarded; a failed
 * decompressor destroys the source; `signal` destroys the stream (and so a tool's child).
 */
export function decompress(source: Readable, compression: Compression, label: string, signal?: AbortSignal): Readable {
  if (compression === 'none') return source;
  const d = decompressor(compression, label);
  source.on('error', (e) => d.destroy(e));
  // corrupt data fails the decompressor: its reader gets the error (an errored stream's
  // iterator throws it), and until it reads, this listener keeps it from ending the process
  d.on('error', () => source.destroy());
  if (signal) addAbortSignal(signal, d);
  return source.pipe(d);
}

/**
 * A layer's bytes as a tar whatever its media type says, as dockerd's DecompressStream and
 * containerd's read them: the format from the first bytes (gzip, zstd, xz, bzip2 or none);
 * the declared one only for a blob too short to tell. A mislabelled layer (a gzip blob
 * declared plain, say) unpacks as elsewhere.
 */
export function decompressByContent(source: Readable, declared: Compression, label: string, signal?: AbortSignal): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 18 });
  // its reader gets the error (an errored stream's iterator throws it); until it reads, this
  // listener keeps it from ending the process
  out.on('error', () => source.destroy());
  void peek(source, 10).then(({ head, stream }) => {
    const plain = decompress(stream, head.length >= 4 ? detectCompression(head) : declared, label, signal);
    plain.on('error', (e) => out.destroy(e));
    // a reader that gives up stops what feeds it (a tool's child among them)
    out.on('close', () => { if (!plain.readableEnded) plain.destroy(); if (!stream.readableEnded) stream.destroy(); });
    plain.pipe(out);
  }, (e: unknown) => out.destroy(e instanceof Error ? e : new Error(String(e))));
  return out;
}

/** A decompression tool as a stream: our writes are its stdin, its stdout our reads. */
export class ToolDecompressor extends Duplex {
  private readonly child: Child;
  private readonly stderr: Buffer[] = [];
  private exited = false;

  constructor(compression: Exclude<Compressed, 'gzip'>, label: string) {
    super({ readableHighWaterMark: 1 << 18 });
    const t = TOOLS[compression];
    this.child = spawnChild(t.cmd, t.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const { stdin, stdout, stderr } = this.child as Child & { stdin: NodeJS.WritableStream; stdout: Readable; stderr: Readable };
    // EPIPE when the tool stops reading early (it failed, or its data ended): its exit says which
    stdin.on('error', () => undefined);
    let errBytes = 0;
    stderr.on('data', (c: Buffer) => { if ((errBytes += c.length) <= 4096) this.stderr.push(c); });
    stdout.on('data', (c: Buffer) => { if (!this.push(c)) stdout.pause(); });
    this.child.on('error', (e: NodeJS.ErrnoException) => {
      this.exited = true;
      this.destroy(e.code === 'ENOENT'
        ? internal(`${label} is ${compression}-compressed and ${t.cmd} is not installed: install the "${t.pkg}" package (apt-get install ${t.pkg})`, e)
        : internal(`${label}: cannot run ${t.cmd}: ${e.message}`, e));
    });
    // 'close' comes after stdout's end: everything the tool wrote was pushed by then
    this.child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      if (this.exited) return; // 'error' said it already
      this.exited = true;
      if (this.destroyed) return;
      if (code === 0) { this.push(null); return; }
      // the first line names the fault (bzip2 goes on with advice about bzip2recover)
      const said = Buffer.concat(this.stderr).toString('utf8').trim().split('\n')[0];
      const why = `${t.cmd}: ${(said ?? '').replace(new RegExp(`^${t.cmd}: `), '') || (sig ? `killed by ${sig}` : `exit status ${code}`)}`;
      this.destroy(invalidArgument(`${label}: cannot decompress the ${compression} data: ${why}`));
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    const stdin = this.child.stdin!;
    // a tool that exited no longer reads: the rest is dropped, its exit status decides
    if (this.exited || stdin.destroyed) { cb(); return; }
    if (stdin.write(chunk)) cb();
    else {
      const go = () => { stdin.off('drain', go); stdin.off('close', go); cb(); };
      stdin.on('drain', go);
      stdin.on('close', go);
    }
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin!.end();
    cb();
  }

  override _read(): void {
    this.child.stdout!.resume();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // given up before the tool finished: nobody reads what it would still write
    if (!this.exited) this.child.kill('SIGKILL');
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    cb(err);
  }
}
