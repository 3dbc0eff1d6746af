// Docker's multiplexed stream framing (pkg/stdcopy): each frame is an 8-byte header
// [stream, 0, 0, 0, uint32 BE length] then the payload. Used by logs, attach and exec when the
// container has no TTY (with a TTY the stream is raw bytes and is copied as is).
import type { Readable, Writable } from 'node:stream';

export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
/** The daemon reports a failure in the middle of a stream this way (API >= 1.41 "systemerr"). */
export const SYSTEMERR = 3;

const HEADER = 8;

/** One frame, for servers and tests. */
export function frame(stream: number, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = Buffer.alloc(HEADER);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/**
 * Incremental demultiplexer: frames may arrive split at any byte, or many in one chunk,
 * so bytes are buffered until a whole header and then a whole payload are there.
 */
export class Demuxer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: number, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    let off = 0;
    while (this.buf.length - off >= HEADER) {
      const stream = this.buf[off]!;
      if (stream > SYSTEMERR) {
        throw new Error(`Unrecognized input header: ${stream}`);
      }
      const len = this.buf.readUInt32BE(off + 4);
      if (this.buf.length - off - HEADER < len) break;
      const payload = this.buf.subarray(off + HEADER, off + HEADER + len);
      off += HEADER + len;
      if (stream === SYSTEMERR) throw new Error(`error from daemon in stream: ${payload.toString()}`);
      this.onFrame(stream, payload);
    }
    // Copy the remainder so a retained slice does not pin a large chunk.
    this.buf = off === 0 ? this.buf : Buffer.from(this.buf.subarray(off));
  }

  /** Bytes of an incomplete frame still held (non-zero at EOF means a truncated stream). */
  get pending(): number {
    return this.buf.length;
  }
}

/**
 * Copy a multiplexed stream to stdout/stderr until it ends, honouring back-pressure of
 * either output (a slow pipe must not make tsula buffer a whole log in memory).
 */
export function demuxTo(src: Readable, stdout: Writable, stderr: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const demux = new Demuxer((stream, payload) => {
      const dst = stream === STDERR ? stderr : stdout;
      if (!dst.write(payload)) {
        src.pause();
        dst.once('drain', () => src.resume());
      }
    });
    src.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        demux.push(chunk);
      } catch (err) {
        failed = true;
        src.destroy();
        reject(err);
      }
    });
    onceDone(src, () => { if (!failed) resolve(); }, (err) => {
      if (failed) return;
      failed = true;
      reject(err);
    });
  });
}

/** Copy a raw (TTY) stream to one output with back-pressure, until it ends. */
export function copyTo(src: Readable, dst: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    src.on('data', (chunk: Buffer) => {
      if (!dst.write(chunk)) {
        src.pause();
        dst.once('drain', () => src.resume());
      }
    });
    onceDone(src, resolve, reject);
  });
}

/**
 * Call done when src ends or closes, fail on its error, also when that already happened:
 * a hijacked attach socket of a container that exited before we started reading (`run
 * busybox false`) has emitted its 'end' and 'close' long before anyone listens.
 */
function onceDone(src: Readable, done: () => void, fail: (err: Error) => void): void {
  if (src.errored) {
    fail(src.errored);
  } else if (src.readableEnded || src.destroyed) {
    done();
  } else {
    src.once('end', done);
    src.once('close', done);
    src.once('error', fail);
  }
}
