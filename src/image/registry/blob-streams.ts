// The byte streams of a pull: a stored blob read in chunks and counted, and a layer's plain
// (uncompressed) bytes counted as the driver unpacks them.
import { promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { errorMessage, invalidArgument, TsulaError } from '../../common/errors.js';

/** Read size for compressed layer bytes: big enough for few hops, small enough to stay light. */
const CHUNK = 256 << 10;

/** A stored blob as a stream, counted as it is read. */
export function openBlob(file: string, onRead: (n: number) => void): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const fh = await fs.open(file, 'r');
    try {
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) return;
        onRead(bytesRead);
        yield buf.subarray(0, bytesRead);
      }
    } finally {
      await fh.close();
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/**
 * Count the uncompressed bytes the driver reads (the layer's diff size). A failure to read
 * (a corrupt gzip stream) becomes "cannot read layer"; the driver's own abort, thrown in at
 * the yield, passes through as it is.
 */
export function countPlain(src: Readable, counter: { n: number }): Readable {
  async function* gen(): AsyncGenerator<Buffer> {
    const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        try {
          r = await it.next();
        } catch (e) {
          throw e instanceof TsulaError ? e : invalidArgument(`cannot read layer: ${errorMessage(e)}`, e);
        }
        if (r.done) return;
        counter.n += r.value.length;
        yield r.value;
      }
    } finally {
      src.destroy();
    }
  }
  return Readable.from(gen(), { objectMode: false, highWaterMark: CHUNK });
}
