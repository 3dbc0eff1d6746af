// Unpack an image archive (tar, maybe compressed: gzip, bzip2, xz or zstd, as dockerd's load
// reads it through DecompressStream) into a private temp directory so its blobs can
// be read in any order. Archive paths never become filesystem paths: every regular file is
// written to <dir>/f<N> and hashed on the way, symlinks and hard links are kept in a table
// and resolved lexically, so an entry can neither escape the directory nor point outside.
import { createHash } from '../common/crypto.js';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
// tar's subpaths, not its index: the index brings every module of the package (its unpacker
// loads node:assert), and the parser is all this needs
import { Parser } from 'tar/parse';
import type { ReadEntry } from 'tar/read-entry';
import { invalidArgument, errorMessage, TsulaError } from '../common/errors.js';
import { decompressor } from './decompress.js';
import { detectCompression, peek } from './stream-head.js';

export interface ArchiveFile {
  name: string;   // path inside the archive
  file: string;   // where its bytes are on disk
  size: number;
  digest: string; // sha256:<hex> of the bytes
}

/** Normalise an archive path; reject anything that could escape (absolute, "..", NUL). */
export function cleanArchivePath(p: string): string {
  if (p.includes('\0')) throw invalidArgument(`invalid archive entry "${p.replace(/\0/g, '\\0')}"`);
  if (p.startsWith('/')) throw invalidArgument(`archive entry "${p}" escapes the archive: absolute path`);
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) throw invalidArgument(`archive entry "${p}" escapes the archive`);
  return parts.join('/');
}

export class ExtractedArchive {
  readonly files = new Map<string, ArchiveFile>();
  readonly symlinks = new Map<string, string>(); // path -> raw link target
  readonly hardlinks = new Map<string, string>(); // path -> cleaned target path

  constructor(readonly dir: string) {}

  /** The file at `name`, following symlinks (docker-archives link <id>/layer.tar to ../<hex>.tar). */
  lookup(name: string): ArchiveFile | undefined {
    let p = cleanArchivePath(name);
    for (let hops = 0; hops < 32; hops++) {
      const f = this.files.get(p);
      if (f) return f;
      const hard = this.hardlinks.get(p);
      if (hard !== undefined) { p = hard; continue; }
      const target = this.symlinks.get(p);
      if (target === undefined) return undefined;
      if (target.startsWith('/')) throw invalidArgument(`archive entry "${p}" is a symlink out of the archive (${target})`);
      const joined = path.posix.normalize(path.posix.join(path.posix.dirname(p), target));
      if (joined === '..' || joined.startsWith('../')) throw invalidArgument(`archive entry "${p}" is a symlink out of the archive (${target})`);
      p = cleanArchivePath(joined);
    }
    throw invalidArgument(`archive entry "${name}": too many levels of symbolic links`);
  }

  has(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** Read a small JSON file; malformed JSON is a clear invalidArgument. */
  async readJson(name: string, maxBytes = 32 << 20): Promise<{ value: unknown; file: ArchiveFile }> {
    const f = this.lookup(name);
    if (!f) throw invalidArgument(`archive has no ${name}`);
    if (f.size > maxBytes) throw invalidArgument(`${name} in archive is too large (${f.size} bytes)`);
    const text = await fs.readFile(f.file, 'utf8');
    try {
      return { value: JSON.parse(text) as unknown, file: f };
    } catch (e) {
      throw invalidArgument(`malformed ${name} in archive: ${errorMessage(e)}`);
    }
  }
}

/**
 * Unpack `input` into `dir` (which must exist and be private). Rejects data that does not
 * decompress, escaping entries and truncated archives with invalidArgument.
 */
export async function extractArchive(from: Readable, dir: string): Promise<ExtractedArchive> {
  const { head, stream: input } = await peek(from, 10);
  if (head.length === 0) throw invalidArgument('empty archive');
  const compression = detectCompression(head);
  const out = new ExtractedArchive(dir);
  const parser = new Parser({ strict: true, maxMetaEntrySize: 1 << 20 });
  const writes: Array<Promise<void>> = [];
  const streams = new Set<NodeJS.WritableStream & { destroy(): void }>();
  let failure: Error | undefined;
  const fail = (e: unknown) => {
    if (!failure) failure = e instanceof Error ? e : new Error(String(e));
    // An aborted parser never ends its current entry: close our side so nothing waits on it.
    for (const ws of streams) ws.destroy();
  };
  let index = 0;
  parser.on('entry', (entry: ReadEntry) => {
    try {
      if (failure) { entry.resume(); return; }
      const name = cleanArchivePath(entry.path);
      switch (entry.type) {
        case 'File':
        case 'OldFile':
        case 'ContiguousFile': {
          const file = path.join(dir, `f${index++}`);
          writes.push(writeEntry(entry, file, streams).then(({ digest, size }) => {
            out.files.set(name, { name, file, size, digest });
            out.symlinks.delete(name); out.hardlinks.delete(name);
          }, fail));
          return;
        }
        case 'SymbolicLink':
          out.symlinks.set(name, entry.linkpath ?? '');
          break;
        case 'Link':
          out.hardlinks.set(name, cleanArchivePath(entry.linkpath ?? ''));
          break;
        default:
          break; // directories and anything else carry nothing an image archive needs
      }
      entry.resume();
    } catch (e) {
      fail(e);
      entry.resume();
    }
  });
  // The last block of a complete tar is part of its end-of-archive marker (zero blocks).
  let total = 0;
  let tail: Buffer = Buffer.alloc(0);
  const tap = new PassThrough();
  tap.on('data', (c: Buffer) => {
    total += c.length;
    tail = c.length >= 512 ? c.subarray(c.length - 512) : Buffer.concat([tail, c]).subarray(-512);
  });
  // A parser that gave up (not a tar: a bad header checksum) is unpiped and reads no more:
  // waiting for the stream's end would then hang. The rest of the input is the caller's to
  // drain (the API answers, then reads the upload to its end).
  let parserGaveUp = () => {};
  const parsed = new Promise<void>((resolve) => {
    parser.on('error', (e: Error) => { fail(e); resolve(); parserGaveUp(); });
    parser.on('end', () => resolve());
  });
  const source = compression === 'none' ? input : input.pipe(decompressor(compression, 'the archive'));
  await new Promise<void>((resolve) => {
    const onErr = (e: Error) => { fail(e); tap.end(); resolve(); };
    input.once('error', onErr);
    if (source !== input) source.once('error', onErr);
    tap.once('end', () => resolve());
    parserGaveUp = () => {
      source.unpipe(tap);
      if (source !== input) { input.unpipe(source as unknown as NodeJS.WritableStream); source.destroy(); }
      resolve();
    };
    source.pipe(tap).pipe(parser as unknown as NodeJS.WritableStream);
  });
  await parsed;
  await Promise.allSettled(writes);
  if (failure) throw describe(failure);
  if (total === 0 || total % 512 !== 0 || tail.some((b) => b !== 0)) {
    throw invalidArgument('truncated archive: the tar stream ends without its end-of-archive marker');
  }
  return out;
}

function writeEntry(
  entry: ReadEntry, file: string, streams: Set<NodeJS.WritableStream & { destroy(): void }>,
): Promise<{ digest: string; size: number }> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    let size = 0;
    let failed: Error | undefined;
    const ws = createWriteStream(file, { flags: 'wx', mode: 0o600 });
    streams.add(ws);
    ws.on('error', (e) => { failed = e; entry.resume(); });
    entry.on('data', (c: Buffer) => {
      hash.update(c);
      size += c.length;
      if (!ws.write(c)) {
        entry.pause();
        ws.once('drain', () => entry.resume());
      }
    });
    entry.on('end', () => ws.end());
    ws.on('close', () => {
      streams.delete(ws);
      if (failed) reject(failed);
      else if (!ws.writableFinished) reject(new Error(`extraction of ${entry.path} was interrupted`));
      else resolve({ digest: `sha256:${hash.digest('hex')}`, size });
    });
  });
}

function describe(e: Error): Error {
  if (e instanceof TsulaError) return e;
  const msg = errorMessage(e);
  const code = (e as { code?: string }).code;
  if (code === 'Z_BUF_ERROR' || /unexpected end of file|Truncated input/i.test(msg)) {
    return invalidArgument(`truncated archive: ${msg}`);
  }
  if (code?.startsWith('Z_') || code?.startsWith('TAR_') || /TAR_|incorrect header check|invalid/i.test(msg)) {
    return invalidArgument(`invalid archive: ${msg}`);
  }
  return e;
}
