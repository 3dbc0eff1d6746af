// The content store: blobs addressed by their sha256, at root/blobs/sha256/<hex>. A blob
// is only ever renamed into place after its bytes were hashed and matched what the caller
// expected, so a name under blobs/ is a promise about its content. Work in progress lives
// under root/ingest/ and is thrown away at start-up.
import { createHash, randomBytes } from '../common/crypto.js';
import { createReadStream, createWriteStream, promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidArgument, notFound } from '../common/errors.js';
import { fsyncDir, mkdirp } from '../common/fsutil.js';
import { validateDigest } from '../common/ids.js';

export interface BlobInfo { digest: string; size: number }

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function digestMismatch(name: string, expected: string, got: string): Error {
  return invalidArgument(`digest mismatch for ${name}: expected ${expected}, got ${got}`);
}

export class ContentStore {
  readonly blobDir: string;
  readonly ingestDir: string;

  constructor(readonly root: string) {
    this.blobDir = path.join(root, 'blobs', 'sha256');
    this.ingestDir = path.join(root, 'ingest');
  }

  /** Create the directories and drop whatever a crash left half-written in ingest/. */
  async init(): Promise<void> {
    await mkdirp(this.blobDir);
    await fs.rm(this.ingestDir, { recursive: true, force: true });
    await mkdirp(this.ingestDir);
  }

  blobPath(digest: string): string {
    return path.join(this.blobDir, validateDigest(digest).slice('sha256:'.length));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await fs.stat(this.blobPath(digest))).isFile();
    } catch {
      return false;
    }
  }

  async size(digest: string): Promise<number> {
    try {
      return (await fs.stat(this.blobPath(digest))).size;
    } catch {
      throw notFound(`blob ${digest} not found`);
    }
  }

  open(digest: string): Readable {
    return createReadStream(this.blobPath(digest));
  }

  async readJson<T>(digest: string): Promise<T> {
    return JSON.parse(await fs.readFile(this.blobPath(digest), 'utf8')) as T;
  }

  /** A fresh private directory under ingest/ (removed by the caller, or at the next init). */
  async tempDir(prefix: string): Promise<string> {
    await mkdirp(this.ingestDir);
    return fs.mkdtemp(path.join(this.ingestDir, `${prefix}-`));
  }

  /**
   * Store a stream: written to ingest/<random> while hashing, checked against `expected`
   * (digest and/or size), fsync'd, then renamed into place. On mismatch nothing is stored.
   */
  async ingest(input: Readable, name: string, expected: Partial<BlobInfo> = {}): Promise<BlobInfo> {
    await mkdirp(this.ingestDir);
    const tmp = path.join(this.ingestDir, randomBytes(12).toString('hex'));
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        // Fail early rather than filling the disk with a blob that is already too long.
        if (expected.size !== undefined && size > expected.size) {
          cb(invalidArgument(`size mismatch for ${name}: expected ${expected.size} bytes, got more`));
          return;
        }
        cb(null, chunk);
      },
    });
    const out = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    try {
      await pipeline(input, counter, out);
      const digest = `sha256:${hash.digest('hex')}`;
      if (expected.digest !== undefined && digest !== expected.digest) throw digestMismatch(name, expected.digest, digest);
      if (expected.size !== undefined && size !== expected.size) {
        throw invalidArgument(`size mismatch for ${name}: expected ${expected.size} bytes, got ${size}`);
      }
      await this.commit(tmp, digest);
      return { digest, size };
    } finally {
      // a stream that failed before its file was open still opens it, then closes it: remove
      // the file after that, or it would be made again after the rm (a leftover in ingest/)
      if (!out.closed) await new Promise<void>((r) => out.once('close', () => r()));
      await fs.rm(tmp, { force: true });
    }
  }

  /**
   * Move a file the caller has already hashed (it must live under ingest/) into place as
   * `digest`. If the blob exists already the file is just dropped.
   */
  async commit(file: string, digest: string): Promise<void> {
    const dest = this.blobPath(digest);
    if (!path.resolve(file).startsWith(this.ingestDir + path.sep)) {
      throw invalidArgument(`refusing to commit ${file}: not under ${this.ingestDir}`);
    }
    if (await this.has(digest)) {
      await fs.rm(file, { force: true });
      return;
    }
    const fh = await fs.open(file, constants.O_RDONLY);
    try { await fh.sync(); } finally { await fh.close(); }
    await fs.chmod(file, 0o600);
    await fs.rename(file, dest);
    await fsyncDir(this.blobDir);
  }

  async delete(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  async list(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.blobDir);
    } catch {
      return [];
    }
    return names.filter((n) => /^[0-9a-f]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }
}
