// RFC 6455 framing for the server end: frames we send (never masked), an incremental parser
// of the client's frames (which must be masked), and the reassembly of fragmented messages.
//
//  0                   1                   2                   3
// |F|R|R|R| opcode|M| len(7) | len(16 or 64, if len is 126 or 127) | mask key(32, if M) | payload
import { isUtf8 } from 'node:buffer';

export const Opcode = { Continuation: 0, Text: 1, Binary: 2, Close: 8, Ping: 9, Pong: 10 } as const;

/** Close status codes (§7.4.1). */
export const CloseCode = {
  Normal: 1000, GoingAway: 1001, ProtocolError: 1002, UnsupportedData: 1003, NoStatus: 1005,
  InvalidPayload: 1007, PolicyViolation: 1008, TooBig: 1009, InternalError: 1011,
} as const;

/** Control frames carry at most 125 bytes and are never fragmented (§5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** Something the client got wrong: the connection is failed with close `code`. */
export class WsProtocolError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export interface Frame { fin: boolean; opcode: number; payload: Buffer }

/** One unmasked, unfragmented frame (a whole message or a control frame). */
export function encodeFrame(opcode: number, payload: Buffer = Buffer.alloc(0), fin = true): Buffer {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 0x10000 ? 4 : 10;
  const b = Buffer.allocUnsafe(head + n);
  b[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) {
    b[1] = n;
  } else if (n < 0x10000) {
    b[1] = 126;
    b.writeUInt16BE(n, 2);
  } else {
    b[1] = 127;
    b.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(b, head);
  return b;
}

/** A close frame's payload: the code (big-endian) and a UTF-8 reason, or nothing. */
export function closePayload(code?: number, reason = ''): Buffer {
  if (code === undefined) return Buffer.alloc(0);
  const r = Buffer.from(reason, 'utf8').subarray(0, MAX_CONTROL_PAYLOAD - 2);
  const b = Buffer.alloc(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Codes a peer may send (§7.4.1, §7.4.2): 1000–1003, 1007–1011, and 3000–4999. */
function validCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

/** The code and reason of a received close frame (no code: 1005, as RFC 6455 reports it). */
export function parseClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length === 0) return { code: CloseCode.NoStatus, reason: '' };
  if (payload.length === 1) throw new WsProtocolError(CloseCode.ProtocolError, 'a close frame of one byte');
  const code = payload.readUInt16BE(0);
  if (!validCloseCode(code)) throw new WsProtocolError(CloseCode.ProtocolError, `invalid close code ${code}`);
  const reason = payload.subarray(2);
  if (!isUtf8(reason)) throw new WsProtocolError(CloseCode.InvalidPayload, 'a close reason that is not UTF-8');
  return { code, reason: reason.toString('utf8') };
}

/**
 * Cuts the client's byte stream into frames, unmasking them. A frame whose payload would
 * pass `maxPayload` fails the connection (1009) as soon as its header says so, before its
 * payload is buffered.
 */
const EMPTY = Buffer.alloc(0);

export class FrameParser {
  private buf: Buffer = EMPTY;
  /** Chunks of a large frame kept apart until it is whole (one copy, not one per chunk). */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** What the frame at the head needs in all, once its header is read; 0: unknown. */
  private need = 0;

  constructor(private readonly maxPayload: number) {}

  /** The frames `d` completes, one by one: a bad frame throws after those before it. */
  *push(d: Buffer): Generator<Frame> {
    if (this.need && this.buf.length + this.pendingLen + d.length < this.need) {
      this.pending.push(d);
      this.pendingLen += d.length;
      return;
    }
    this.buf = this.buf.length || this.pending.length ? Buffer.concat([this.buf, ...this.pending, d]) : d;
    this.pending = [];
    this.pendingLen = 0;
    for (;;) {
      const f = this.next();
      if (!f) return;
      yield f;
    }
  }

  private next(): Frame | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const fin = (b[0]! & 0x80) !== 0;
    const opcode = b[0]! & 0x0f;
    if (b[0]! & 0x70) throw new WsProtocolError(CloseCode.ProtocolError, 'reserved bits set without an extension');
    const control = opcode >= 8;
    if (![0, 1, 2, 8, 9, 10].includes(opcode)) throw new WsProtocolError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    if (!(b[1]! & 0x80)) throw new WsProtocolError(CloseCode.ProtocolError, 'an unmasked frame from the client');
    let len = b[1]! & 0x7f;
    let off = 2;
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const big = b.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new WsProtocolError(CloseCode.TooBig, 'frame too large');
      len = Number(big);
      off = 10;
    }
    if (control && (len > MAX_CONTROL_PAYLOAD || !fin)) {
      throw new WsProtocolError(CloseCode.ProtocolError, 'a control frame too long or fragmented');
    }
    if (len > this.maxPayload) throw new WsProtocolError(CloseCode.TooBig, `a frame of ${len} bytes (the limit is ${this.maxPayload})`);
    if (b.length < off + 4 + len) {
      this.need = off + 4 + len;
      return undefined;
    }
    this.need = 0;
    const mask = b.subarray(off, off + 4);
    const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
    // no slice that would keep a large joined buffer alive for the few bytes after it
    const rest = b.subarray(off + 4 + len);
    this.buf = !rest.length ? EMPTY : len > 0x10000 ? Buffer.from(rest) : rest;
    return { fin, opcode, payload };
  }
}

export type Message =
  | { type: 'text' | 'binary'; data: Buffer }
  | { type: 'close' | 'ping' | 'pong'; data: Buffer };

/**
 * Joins fragments into messages (§5.4): control frames may come between the fragments of a
 * message and are passed on at once. A message past `maxMessage` bytes fails with 1009, a
 * text message that is not UTF-8 with 1007.
 */
export class MessageAssembler {
  private type: 'text' | 'binary' | undefined;
  private parts: Buffer[] = [];
  private size = 0;

  constructor(private readonly maxMessage: number) {}

  push(f: Frame): Message | undefined {
    switch (f.opcode) {
      case Opcode.Close: return { type: 'close', data: f.payload };
      case Opcode.Ping: return { type: 'ping', data: f.payload };
      case Opcode.Pong: return { type: 'pong', data: f.payload };
      case Opcode.Continuation:
        if (!this.type) throw new WsProtocolError(CloseCode.ProtocolError, 'a continuation frame with no message to continue');
        break;
      default:
        if (this.type) throw new WsProtocolError(CloseCode.ProtocolError, 'a new message inside a fragmented one');
        this.type = f.opcode === Opcode.Text ? 'text' : 'binary';
    }
    this.size += f.payload.length;
    if (this.size > this.maxMessage) throw new WsProtocolError(CloseCode.TooBig, `a message over ${this.maxMessage} bytes`);
    this.parts.push(f.payload);
    if (!f.fin) return undefined;
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    const type = this.type!;
    this.type = undefined;
    this.parts = [];
    this.size = 0;
    if (type === 'text' && !isUtf8(data)) throw new WsProtocolError(CloseCode.InvalidPayload, 'a text message that is not UTF-8');
    return { type, data };
  }
}
