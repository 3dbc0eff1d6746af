// SPDY/3 name/value header blocks (§2.6.10) and their compression: each direction of a
// connection is ONE zlib stream primed with the SPDY/3 dictionary, each block ending on a
// sync flush, so the peer's single inflate context reads the blocks back one after another.
//
// Uncompressed block: count(32) then per pair: len(32) name, len(32) value; names are
// lower case; several values of one name are joined with NUL.
import zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './dictionary.js';
import { FrameError } from './frames.js';

/** Header names (lower case) to their values, in the order received. */
export type SpdyHeaders = Map<string, string[]>;

/** Far above anything kubelet's clients send; stops a compressed block from ballooning. */
const MAX_DECOMPRESSED_BLOCK = 1 << 20;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(headers.size);
  parts.push(n);
  for (const [name, values] of headers) {
    for (const s of [name.toLowerCase(), values.join('\0')]) {
      const b = Buffer.from(s, 'utf8');
      const len = Buffer.alloc(4);
      len.writeUInt32BE(b.length);
      parts.push(len, b);
    }
  }
  return Buffer.concat(parts);
}

/**
 * One block from the start of `buf`: the headers and the bytes used, or null when `buf`
 * holds only part of it. Malformed blocks (and duplicated names, which Go's framer refuses
 * too) throw FrameError.
 */
export function decodeHeaderBlock(buf: Buffer): { headers: SpdyHeaders; used: number } | null {
  let off = 0;
  const u32 = (): number | null => {
    if (buf.length < off + 4) return null;
    const v = buf.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (): string | null => {
    const len = u32();
    if (len === null || buf.length < off + len) return null;
    const s = buf.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  const count = u32();
  if (count === null) return null;
  const headers: SpdyHeaders = new Map();
  for (let i = 0; i < count; i++) {
    const name = str();
    if (name === null) return null;
    const value = str();
    if (value === null) return null;
    if (name === '') throw new FrameError('header block has an empty name');
    const key = name.toLowerCase();
    if (headers.has(key)) throw new FrameError(`header block repeats ${JSON.stringify(key)}`);
    headers.set(key, value.split('\0'));
  }
  return { headers, used: off };
}

/** The first value of a header, or '' (like Go's http.Header.Get). */
export function headerValue(headers: SpdyHeaders, name: string): string {
  return headers.get(name.toLowerCase())?.[0] ?? '';
}

/**
 * Our direction's zlib stream. Only the first block carries the zlib header (with the
 * dictionary's id) and may refer to the dictionary; later blocks are raw deflate that
 * refers to nothing before itself. The peer's inflate reads them as one stream all the
 * same, and compression stays synchronous: a SYN_REPLY is encoded at the moment it is
 * queued, so it can never be overtaken by the stream's first data frame.
 */
export class HeaderCompressor {
  private started = false;

  compress(headers: SpdyHeaders): Buffer {
    const raw = encodeHeaderBlock(headers);
    const finishFlush = zlib.constants.Z_SYNC_FLUSH;
    if (this.started) return zlib.deflateRawSync(raw, { finishFlush });
    this.started = true;
    return zlib.deflateSync(raw, { dictionary: SPDY3_DICTIONARY, finishFlush });
  }
}

/**
 * The peer's zlib stream. Its compressor keeps state across blocks (back-references reach
 * into earlier blocks), so one inflate context lives as long as the connection. Node's
 * inflate is asynchronous; blocks are self-delimiting once decompressed, so each decode()
 * gets the next whole block of the output, in the order the blocks were given.
 */
export class HeaderDecompressor {
  private readonly inflate = zlib.createInflate({ dictionary: SPDY3_DICTIONARY, flush: zlib.constants.Z_SYNC_FLUSH });
  private out: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve: (h: SpdyHeaders) => void; reject: (e: Error) => void }> = [];
  private failed: Error | undefined;

  constructor() {
    this.inflate.on('data', (d: Buffer) => {
      this.out = this.out.length ? Buffer.concat([this.out, d]) : d;
      this.drain();
    });
    this.inflate.on('error', (e: Error) => this.fail(new FrameError(`header block decompression: ${e.message}`)));
  }

  decode(block: Buffer): Promise<SpdyHeaders> {
    if (this.failed) return Promise.reject(this.failed);
    // An empty block would yield no output and shift every later block onto the wrong frame.
    if (block.length === 0) {
      this.fail(new FrameError('empty compressed header block'));
      return Promise.reject(this.failed);
    }
    const p = new Promise<SpdyHeaders>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.inflate.write(block);
    return p;
  }

  close(): void {
    this.fail(new FrameError('connection closed'));
    this.inflate.destroy();
  }

  private drain(): void {
    try {
      while (this.waiting.length) {
        const r = decodeHeaderBlock(this.out);
        if (!r) {
          if (this.out.length > MAX_DECOMPRESSED_BLOCK) throw new FrameError(`header block over ${MAX_DECOMPRESSED_BLOCK} bytes`);
          return;
        }
        this.out = this.out.subarray(r.used);
        this.waiting.shift()!.resolve(r.headers);
      }
    } catch (e) {
      this.fail(e instanceof FrameError ? e : new FrameError(String(e)));
    }
  }

  private fail(e: FrameError): void {
    if (this.failed) return;
    this.failed = e;
    for (const w of this.waiting.splice(0)) w.reject(e);
  }
}
