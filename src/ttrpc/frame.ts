// ttrpc framing (containerd/ttrpc v1.1 channel.go): a 10-byte big-endian header
// [u32 payload length][u32 stream id][u8 type][u8 flags] and then the payload.
// FrameReader turns a byte stream cut anywhere (split or merged frames) into frames.

export const HEADER_LENGTH = 10;
/** ttrpc's messageLengthMax: bigger payloads get RESOURCE_EXHAUSTED on their stream. */
export const MAX_MESSAGE_LENGTH = 4 << 20;

export const TYPE_REQUEST = 1;
export const TYPE_RESPONSE = 2;
/** ttrpc 1.2's data frame (streaming); 1.1 peers ignore it, and so do we. */
export const TYPE_DATA = 3;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export type FrameEvent =
  | { kind: 'frame'; header: FrameHeader; payload: Buffer }
  /** Header announced more than MAX_MESSAGE_LENGTH; the payload is being skipped. */
  | { kind: 'oversize'; header: FrameHeader }
  /** The header is not ttrpc at all (unknown frame type): the stream can't be trusted. */
  | { kind: 'garbage'; header: FrameHeader };

export function encodeFrame(streamId: number, type: number, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  buf.writeUInt32BE(payload.length, 0);
  buf.writeUInt32BE(streamId >>> 0, 4);
  buf[8] = type;
  buf[9] = 0; // flags: written as 0, ignored on read (ttrpc 1.1)
  buf.set(payload, HEADER_LENGTH);
  return buf;
}

/**
 * Incremental frame parser. Chunks are kept in a list (no copying per chunk); a frame's
 * payload is copied out once, when complete. An oversized payload is discarded as it
 * arrives, never buffered, which is what ttrpc 1.1 does (bufio.Reader.Discard).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skip = 0;         // bytes of an oversized payload still to discard
  private header: FrameHeader | null = null;
  private dead = false;

  constructor(private readonly knownType: (type: number) => boolean = isKnownType) {}

  /** Feed bytes; returns the events they complete, in order. */
  push(chunk: Buffer): FrameEvent[] {
    if (this.dead) return [];
    const out: FrameEvent[] = [];
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      chunk = chunk.subarray(n);
    }
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    for (;;) {
      if (!this.header) {
        if (this.buffered < HEADER_LENGTH) break;
        const h = this.take(HEADER_LENGTH);
        const header: FrameHeader = {
          length: h.readUInt32BE(0), streamId: h.readUInt32BE(4), type: h[8], flags: h[9],
        };
        if (!this.knownType(header.type)) {
          this.dead = true;
          this.chunks = [];
          this.buffered = 0;
          out.push({ kind: 'garbage', header });
          return out;
        }
        if (header.length > MAX_MESSAGE_LENGTH) {
          out.push({ kind: 'oversize', header });
          const n = Math.min(header.length, this.buffered);
          this.take(n);
          this.skip = header.length - n;
          if (this.skip > 0) break;
          continue;
        }
        this.header = header;
      }
      if (this.buffered < this.header.length) break;
      const payload = this.take(this.header.length);
      out.push({ kind: 'frame', header: this.header, payload });
      this.header = null;
    }
    return out;
  }

  /** Remove n buffered bytes and return them as one Buffer (copied: no pinned chunks). */
  private take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    let i = 0;
    while (off < n) {
      const c = this.chunks[i];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) i++; else this.chunks[i] = c.subarray(k);
    }
    // one splice per frame, not a shift per chunk: tiny chunks must not cost O(n^2)
    if (i) this.chunks.splice(0, i);
    this.buffered -= n;
    return out;
  }
}

function isKnownType(t: number): boolean {
  return t === TYPE_REQUEST || t === TYPE_RESPONSE || t === TYPE_DATA;
}
