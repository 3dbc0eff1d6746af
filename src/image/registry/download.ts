// One blob download: the body is hashed and written to a file under the content store's
// ingest/ as it arrives, checked against its digest and size at the end, then committed
// into the store. While it runs, readers can follow the file as it grows (tail -f style),
// so a layer is unpacked while it is still downloading; a reader fails if the download
// does, which makes the snapshot driver throw the half-unpacked layer away.
import { createHash, randomBytes } from '../../common/crypto.js';
import { createReadStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { errorMessage, invalidArgument, TsulaError, unavailable } from '../../common/errors.js';
import { mkdirp } from '../../common/fsutil.js';
import type { ContentStore } from '../content.js';

/** Tries after the first of a download that breaks (dockerd's maxDownloadAttempts is 5). */
const RETRIES = 4;

/** Read size for compressed layer bytes: big enough for few hops, small enough to stay light. */
const CHUNK = 256 << 10;

/** Run at most `n` tasks at once, in the order they were queued. */
export class Limiter {
  private active = 0;
  private queue: Array<() => void> = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.queue.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }

  get busy(): boolean {
    return this.active >= this.n;
  }
}

type State = 'waiting' | 'running' | 'done' | 'failed';

export class BlobDownload {
  written = 0;
  state: State = 'waiting';
  error?: unknown;
  readonly done: Promise<void>;
  private settle!: { resolve: () => void; reject: (e: unknown) => void };
  private readonly listeners = new Set<() => void>();
  private file = '';
  private readFh?: FileHandle;
  private readers = 0;
  private users = 0;
  private cancelled = false;
  private body?: Readable;
  /** Told when a broken download is resumed (for a log line). */
  onRetry?: (err: Error, attempt: number) => void;
  /** Seconds until the next try of a broken download ("Retrying in N seconds"); 0 otherwise. */
  retryIn = 0;
  /** Ends a wait between tries at once (the download was dropped). */
  private wake?: () => void;

  constructor(private readonly content: ContentStore, readonly digest: string, readonly size: number, readonly label: string) {
    this.done = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject }; });
    this.done.catch(() => undefined); // observed by whoever awaits it
  }

  /** Be told about every change (bytes written, started, finished). Returns the unsubscribe. */
  watch(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private notify(): void {
    for (const cb of [...this.listeners]) cb();
  }

  /** A pull starts needing this blob. */
  acquire(): void {
    this.users++;
  }

  /** A pull no longer needs this blob (it failed): stop downloading it if nobody else does. */
  drop(): void {
    if (--this.users > 0 || this.state === 'done' || this.state === 'failed') return;
    this.cancelled = true;
    this.body?.destroy(invalidArgument(`${this.label}: download cancelled`));
    this.wake?.();
  }

  /**
   * Download from `open(offset)` (a response body; 206 when it starts at `offset`). Resolves
   * `done` once the blob is verified and stored. A connection that breaks is resumed with a
   * range request (or restarted, when the registry ignores ranges) up to RETRIES times,
   * as dockerd's download manager does (5 attempts, 5, 10, 15 then 20 s apart, counted down a
   * second at a time: a registry restart or a short network drop is survived).
   */
  async run(open: (offset: number) => Promise<Readable & { statusCode?: number }>): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      await mkdirp(this.content.ingestDir);
      this.file = path.join(this.content.ingestDir, `pull-${randomBytes(8).toString('hex')}`);
      fh = await fs.open(this.file, 'wx', 0o600);
      this.readFh = await fs.open(this.file, 'r');
      let hash = createHash('sha256');
      for (let attempt = 0; ; attempt++) {
        try {
          if (this.cancelled) throw invalidArgument(`${this.label}: download cancelled`);
          this.state = 'running';
          this.notify();
          const body = await open(this.written);
          this.body = body;
          if (this.cancelled) { body.destroy(); throw invalidArgument(`${this.label}: download cancelled`); }
          // The whole blob again: same bytes at the same offsets, so readers are not disturbed.
          if (this.written > 0 && body.statusCode !== 206) { hash = createHash('sha256'); this.written = 0; }
          for await (const chunk of body) {
            const b = chunk as Buffer;
            if (this.written + b.length > this.size) {
              body.destroy();
              throw invalidArgument(`size mismatch for ${this.label}: expected ${this.size} bytes, got more`);
            }
            hash.update(b);
            for (let off = 0; off < b.length;) off += (await fh.write(b, off, b.length - off, this.written + off)).bytesWritten;
            this.written += b.length;
            this.notify();
          }
          if (this.written < this.size) throw unavailable(`${this.label}: the registry closed the connection after ${this.written} of ${this.size} bytes`);
          break;
        } catch (e) {
          if (!transient(e)) throw e;
          const err = e instanceof TsulaError ? e : unavailable(`${this.label}: download failed: ${errorMessage(e)}`);
          if (this.cancelled || attempt >= RETRIES) throw err;
          this.onRetry?.(err, attempt + 1);
          await this.waitToRetry((attempt + 1) * 5);
        }
      }
      const got = `sha256:${hash.digest('hex')}`;
      // dockerd's words (its v2LayerDescriptor), then what came
      if (got !== this.digest) throw invalidArgument(`filesystem layer verification failed for digest ${this.digest}: the registry sent bytes of ${got}`);
      await fh.close();
      fh = undefined;
      await this.content.commit(this.file, this.digest); // fsync + rename; open readers keep reading
      this.state = 'done';
      this.settle.resolve();
    } catch (e) {
      this.state = 'failed';
      this.error = e;
      this.settle.reject(e);
      await fh?.close().catch(() => undefined);
      if (this.file) await fs.rm(this.file, { force: true });
    } finally {
      this.body = undefined;
      this.notify();
      await this.release();
    }
    return this.done;
  }

  /** Count `seconds` down (each one told to the watchers); a drop ends it at once. */
  private async waitToRetry(seconds: number): Promise<void> {
    try {
      for (this.retryIn = seconds; this.retryIn > 0 && !this.cancelled; this.retryIn--) {
        this.notify();
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 1000);
          this.wake = () => { clearTimeout(t); resolve(); };
        });
      }
    } finally {
      this.retryIn = 0;
      this.wake = undefined;
    }
  }

  private async release(): Promise<void> {
    if (this.readers === 0 && this.state !== 'running' && this.state !== 'waiting' && this.readFh) {
      const fh = this.readFh;
      this.readFh = undefined;
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * The blob's bytes from the start: read from the file as it grows while the download
   * runs, from the content store once it is done. Ends only after the digest matched;
   * errors with the download's error otherwise. `onRead` counts the bytes handed out.
   */
  follow(onRead?: (n: number) => void): Readable {
    if (this.state === 'done') {
      const s = createReadStream(this.content.blobPath(this.digest), { highWaterMark: CHUNK });
      return onRead ? counted(s, onRead) : s;
    }
    if (this.state === 'failed') return Readable.from((async function* (e: unknown) { throw e; })(this.error));
    this.readers++;
    let offset = 0;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.readers--;
      void this.release();
    };
    const dl = this; // eslint-disable-line @typescript-eslint/no-this-alias
    async function* gen(): AsyncGenerator<Buffer> {
      try {
        for (;;) {
          if (dl.state === 'failed') throw dl.error;
          if (offset < dl.written && dl.readFh) {
            const want = Math.min(CHUNK, dl.written - offset);
            const buf = Buffer.allocUnsafe(want);
            const { bytesRead } = await dl.readFh.read(buf, 0, want, offset);
            if (bytesRead === 0) throw new Error(`${dl.label}: short read at ${offset}`);
            offset += bytesRead;
            onRead?.(bytesRead);
            yield buf.subarray(0, bytesRead);
            continue;
          }
          if (dl.state === 'done' && offset >= dl.written) return;
          await new Promise<void>((resolve) => { const off = dl.watch(() => { off(); resolve(); }); });
        }
      } finally {
        release();
      }
    }
    return Readable.from(gen(), { objectMode: false, highWaterMark: CHUNK });
  }
}

/** A stream's chunks, counted as they are read (errors of the source come through). */
function counted(src: Readable, onRead: (n: number) => void): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    for await (const c of src) { onRead((c as Buffer).length); yield c as Buffer; }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: CHUNK });
}

/** A broken connection (worth resuming), as opposed to a refusal or bad content. */
function transient(e: unknown): boolean {
  if (e instanceof TsulaError) return e.kind === 'Unavailable';
  const code = (e as NodeJS.ErrnoException).code ?? '';
  return ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ERR_STREAM_PREMATURE_CLOSE'].includes(code) || /aborted|socket hang up/i.test(errorMessage(e));
}
