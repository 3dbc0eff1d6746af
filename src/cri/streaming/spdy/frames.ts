// SPDY/3.1 framing (draft 3.1 §2.2–2.6): frames as typed values, their encoding, and an
// incremental parser for a byte stream. Header blocks stay compressed here: their zlib
// context belongs to the connection (headers.ts), and must see every block in order.
//
// Control frame: |1|version(15)|type(16)|flags(8)|length(24)|payload
// Data frame:    |0|stream-id(31)|flags(8)|length(24)|data
import { TsulaError, invalidArgument } from '../../../common/errors.js';

export const SPDY_VERSION = 3;
/** The largest payload the 24-bit length field can carry. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export const FrameType = {
  SynStream: 1, SynReply: 2, RstStream: 3, Settings: 4, Ping: 6, GoAway: 7, Headers: 8, WindowUpdate: 9,
} as const;

export const FLAG_FIN = 0x01;
/** SYN_STREAM only: the sender will not receive on this stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (§2.4.2). */
export const RstStatus = {
  ProtocolError: 1, InvalidStream: 2, RefusedStream: 3, UnsupportedVersion: 4, Cancel: 5,
  InternalError: 6, FlowControlError: 7, StreamInUse: 8, StreamAlreadyClosed: 9, FrameTooLarge: 11,
} as const;

/** GOAWAY status codes (§2.6.6). */
export const GoAwayStatus = { Ok: 0, ProtocolError: 1, InternalError: 2 } as const;

export interface SettingsEntry { flags: number; id: number; value: number }

export type Frame =
  | { type: 'data'; streamId: number; flags: number; data: Buffer }
  | { type: 'syn_stream'; streamId: number; associatedId: number; priority: number; slot: number; flags: number; headerBlock: Buffer }
  | { type: 'syn_reply'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'rst_stream'; streamId: number; status: number }
  | { type: 'settings'; flags: number; entries: SettingsEntry[] }
  | { type: 'ping'; id: number }
  | { type: 'goaway'; lastGoodStreamId: number; status: number }
  | { type: 'headers'; streamId: number; flags: number; headerBlock: Buffer }
  | { type: 'window_update'; streamId: number; delta: number }
  // A control type this version does not define (e.g. CREDENTIAL): §2.2.1 says ignore it.
  | { type: 'unknown'; frameType: number; flags: number; payload: Buffer };

/**
 * Something the peer got wrong (InvalidArgument), with what to answer: RST_STREAM with
 * `status` for `streamId`, or GOAWAY for the connection when the stream id is 0.
 */
export class FrameError extends TsulaError {
  constructor(message: string, readonly streamId = 0, readonly status: number = RstStatus.ProtocolError) {
    super('InvalidArgument', message);
  }
}

const ID_MASK = 0x7fffffff;

function u32(...values: number[]): Buffer {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw invalidArgument(`SPDY frame payload of ${payload.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24 | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

export function encodeFrame(f: Frame): Buffer {
  switch (f.type) {
    case 'data': {
      if (f.data.length > MAX_FRAME_PAYLOAD) throw invalidArgument(`SPDY data frame of ${f.data.length} bytes exceeds ${MAX_FRAME_PAYLOAD}`);
      const h = u32(f.streamId & ID_MASK, ((f.flags & 0xff) << 24 | f.data.length) >>> 0);
      return Buffer.concat([h, f.data]);
    }
    case 'syn_stream': {
      const fixed = Buffer.concat([u32(f.streamId & ID_MASK, f.associatedId & ID_MASK), Buffer.from([(f.priority & 7) << 5, f.slot & 0xff])]);
      return control(FrameType.SynStream, f.flags, Buffer.concat([fixed, f.headerBlock]));
    }
    case 'syn_reply':
      return control(FrameType.SynReply, f.flags, Buffer.concat([u32(f.streamId & ID_MASK), f.headerBlock]));
    case 'headers':
      return control(FrameType.Headers, f.flags, Buffer.concat([u32(f.streamId & ID_MASK), f.headerBlock]));
    case 'rst_stream':
      return control(FrameType.RstStream, 0, u32(f.streamId & ID_MASK, f.status));
    case 'settings': {
      const body = [u32(f.entries.length)];
      for (const e of f.entries) body.push(u32(((e.flags & 0xff) << 24 | (e.id & 0xffffff)) >>> 0, e.value));
      return control(FrameType.Settings, f.flags, Buffer.concat(body));
    }
    case 'ping':
      return control(FrameType.Ping, 0, u32(f.id));
    case 'goaway':
      return control(FrameType.GoAway, 0, u32(f.lastGoodStreamId & ID_MASK, f.status));
    case 'window_update':
      return control(FrameType.WindowUpdate, 0, u32(f.streamId & ID_MASK, f.delta & ID_MASK));
    case 'unknown':
      return control(f.frameType, f.flags, f.payload);
  }
}

function decodeControl(type: number, flags: number, p: Buffer): Frame {
  const need = (n: number, what: string): void => {
    if (p.length < n) throw new FrameError(`${what} frame of ${p.length} bytes is too short (needs ${n})`);
  };
  switch (type) {
    case FrameType.SynStream:
      need(10, 'SYN_STREAM');
      return {
        type: 'syn_stream', flags, streamId: p.readUInt32BE(0) & ID_MASK, associatedId: p.readUInt32BE(4) & ID_MASK,
        priority: p[8]! >> 5, slot: p[9]!, headerBlock: p.subarray(10),
      };
    case FrameType.SynReply:
      need(4, 'SYN_REPLY');
      return { type: 'syn_reply', flags, streamId: p.readUInt32BE(0) & ID_MASK, headerBlock: p.subarray(4) };
    case FrameType.Headers:
      need(4, 'HEADERS');
      return { type: 'headers', flags, streamId: p.readUInt32BE(0) & ID_MASK, headerBlock: p.subarray(4) };
    case FrameType.RstStream:
      need(8, 'RST_STREAM');
      return { type: 'rst_stream', streamId: p.readUInt32BE(0) & ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.Settings: {
      need(4, 'SETTINGS');
      const n = p.readUInt32BE(0);
      if (p.length !== 4 + 8 * n) throw new FrameError(`SETTINGS frame says ${n} entries in ${p.length} bytes`);
      const entries: SettingsEntry[] = [];
      for (let i = 0; i < n; i++) {
        const fi = p.readUInt32BE(4 + 8 * i);
        entries.push({ flags: fi >>> 24, id: fi & 0xffffff, value: p.readUInt32BE(8 + 8 * i) });
      }
      return { type: 'settings', flags, entries };
    }
    case FrameType.Ping:
      need(4, 'PING');
      return { type: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GoAway:
      need(8, 'GOAWAY');
      return { type: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & ID_MASK, status: p.readUInt32BE(4) };
    case FrameType.WindowUpdate:
      need(8, 'WINDOW_UPDATE');
      return { type: 'window_update', streamId: p.readUInt32BE(0) & ID_MASK, delta: p.readUInt32BE(4) & ID_MASK };
    default:
      return { type: 'unknown', frameType: type, flags, payload: p };
  }
}

/**
 * Splits a byte stream into frames. Bytes are kept until a whole frame is there; a frame
 * is never larger than 8 + 2^24 - 1 bytes, so neither is what waits here.
 */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The frames completed by `chunk`, in order. Throws FrameError on a malformed frame. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Frame[] = [];
    for (;;) {
      if (this.buffered < 8) break;
      const head = this.peek(8);
      const length = head.readUInt32BE(4) & 0xffffff;
      if (this.buffered < 8 + length) break;
      const frame = this.take(8 + length);
      out.push(decodeFrame(frame));
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0]!;
    const frame = first.subarray(0, n);
    if (first.length === n) this.chunks.shift(); else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return frame;
  }
}

/** One whole frame (header and payload) to its value. */
export function decodeFrame(b: Buffer): Frame {
  const w0 = b.readUInt32BE(0);
  const w1 = b.readUInt32BE(4);
  const flags = w1 >>> 24;
  const payload = b.subarray(8, 8 + (w1 & 0xffffff));
  if (w0 & 0x80000000) {
    const version = (w0 >>> 16) & 0x7fff;
    // §2.2.1: a control frame of another version is answered with UNSUPPORTED_VERSION.
    if (version !== SPDY_VERSION) throw new FrameError(`SPDY version ${version} is not supported (3.1 is)`, 0, RstStatus.UnsupportedVersion);
    return decodeControl(w0 & 0xffff, flags, payload);
  }
  const streamId = w0 & ID_MASK;
  if (streamId === 0) throw new FrameError('data frame for stream 0');
  return { type: 'data', streamId, flags, data: payload };
}
