// Kubernetes' channel protocols over one WebSocket connection (apimachinery wsstream): each
// message starts with its channel number, a byte in the binary protocols (`channel.k8s.io`,
// `v4.channel.k8s.io`, `v5.channel.k8s.io`), an ASCII digit in the base64 ones
// (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`, whose data is base64 text). The
// server's list of channel kinds says which it reads and which it writes: what comes for a
// channel we do not read is dropped, what we write to one we do not write goes nowhere.
//
// v5 adds the half-close (remotecommand.StreamClose): the message [255, channel] ends what
// the client sends on that channel. Before v5 a channel's input ends with the connection.
//
// Each channel is a Node Duplex with the semantics of our SPDY streams: the connection going
// away reads as EOF and drops later writes, with 'reset' instead of 'error'.
import { Duplex } from 'node:stream';
import type { Logger } from '../../../common/log.js';
import { CloseCode } from '../../../common/websocket/frames.js';
import type { WsConnection } from '../../../common/websocket/connection.js';

export const ChannelKind = { Ignore: 0, Read: 1, Write: 2, ReadWrite: 3 } as const;
export type ChannelKind = typeof ChannelKind[keyof typeof ChannelKind];

/** remotecommand.StreamClose: the v5 half-close signal's first byte. */
export const STREAM_CLOSE = 255;

/** What we send in one message at most (client-go reads and writes 32 KiB at a time). */
export const MAX_CHANNEL_CHUNK = 32 * 1024;

export interface ChannelCodec {
  /** base64.channel.k8s.io and v4.base64.channel.k8s.io: text messages of base64. */
  base64: boolean;
  /** v5.channel.k8s.io: the client may half-close a channel. */
  closeSignal: boolean;
}

/** A subprotocol's codec: its base64 variants, and v5's close signal. */
export function codecFor(protocol: string): ChannelCodec {
  return { base64: protocol.includes('base64'), closeSignal: protocol === 'v5.channel.k8s.io' };
}

/**
 * Go's base64.StdEncoding, which wsstream decodes with: padded, no stray characters. (A
 * pattern of repeated groups would run out of stack on a message of a few MiB.)
 */
const isStrictBase64 = (text: string) => text.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(text);

/** One message's bytes for `data` on channel `num`. */
export function encodeChannelMessage(codec: ChannelCodec, num: number, data: Buffer): { type: 'text' | 'binary'; data: Buffer } {
  if (codec.base64) return { type: 'text', data: Buffer.from(String.fromCharCode(48 + num) + data.toString('base64'), 'latin1') };
  const b = Buffer.allocUnsafe(1 + data.length);
  b[0] = num;
  data.copy(b, 1);
  return { type: 'binary', data: b };
}

export type ChannelMessage =
  | { kind: 'data'; channel: number; data: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'skip'; why?: string }
  | { kind: 'fail'; why: string };

/** What wsstream's read loop makes of one message from the client. */
export function decodeChannelMessage(codec: ChannelCodec, channels: number, msg: Buffer): ChannelMessage {
  if (!msg.length) return { kind: 'skip' };
  if (codec.closeSignal && msg[0] === STREAM_CLOSE) {
    if (msg.length !== 2) return { kind: 'fail', why: `single channel byte should follow stream close signal, got ${msg.length - 1} bytes` };
    if (msg[1]! >= channels) return { kind: 'fail', why: `close is targeted for a channel ${msg[1]} that is not valid` };
    return { kind: 'close', channel: msg[1]! };
  }
  // wsstream subtracts '0' from a byte: what is below wraps around to a channel too big.
  const channel = codec.base64 ? (msg[0]! - 48) & 0xff : msg[0]!;
  if (channel >= channels) return { kind: 'skip', why: `a message for channel ${channel}, which is not there` };
  let data = msg.subarray(1);
  if (codec.base64) {
    const text = data.toString('latin1').replace(/[\r\n]/g, '');
    if (!isStrictBase64(text)) return { kind: 'skip', why: `invalid base64 on channel ${channel}` };
    data = Buffer.from(text, 'base64');
  }
  return { kind: 'data', channel, data };
}

export class WsChannel extends Duplex {
  private inputEnded = false;
  private wasReset = false;

  constructor(private readonly mux: ChannelConnection, readonly num: number, readonly kind: ChannelKind) {
    // A generous read buffer: a full one pauses the whole connection.
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024 });
    if (!(kind & ChannelKind.Read)) this.endInput();
  }

  get isReset(): boolean { return this.wasReset; }

  /** Data from the client; dropped when we do not read this channel. */
  receive(data: Buffer): void {
    if (this.inputEnded || !(this.kind & ChannelKind.Read) || !data.length) return;
    if (!this.push(data)) this.mux.pauseReading(this, true);
  }

  /** No more input: the client half-closed the channel, or the connection is going. */
  endInput(): void {
    if (this.inputEnded) return;
    this.inputEnded = true;
    this.mux.pauseReading(this, false);
    if (!this.destroyed) this.push(null);
  }

  /** The connection is gone: input ends, output is dropped. */
  markReset(): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.endInput();
    this.emit('reset');
  }

  override _read(): void {
    this.mux.pauseReading(this, false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.wasReset || !(this.kind & ChannelKind.Write)) return cb();
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_CHANNEL_CHUNK) {
      ok = this.mux.send(this.num, chunk.subarray(off, off + MAX_CHANNEL_CHUNK)) && ok;
    }
    if (ok) cb(); else this.mux.whenWritable(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    // wsstream has no end of output per channel: the connection's close is the end.
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.mux.pauseReading(this, false);
    cb(err);
  }
}

/** The channels of one connection, fed from its messages. */
export class ChannelConnection {
  readonly channels: WsChannel[];

  constructor(
    readonly ws: WsConnection,
    readonly codec: ChannelCodec,
    kinds: readonly ChannelKind[],
    private readonly log?: Logger,
  ) {
    this.channels = kinds.map((k, i) => new WsChannel(this, i, k));
    void ws.done.then(() => { for (const c of this.channels) c.markReset(); });
  }

  /** The connection's onMessage. */
  onMessage(data: Buffer): void {
    const m = decodeChannelMessage(this.codec, this.channels.length, data);
    switch (m.kind) {
      case 'data': return this.channels[m.channel]!.receive(m.data);
      case 'close': return this.channels[m.channel]!.endInput();
      case 'skip':
        if (m.why) this.log?.debug('websocket message dropped', { why: m.why });
        return;
      case 'fail':
        // wsstream stops reading and closes the connection.
        this.log?.warn('websocket channel protocol error', { why: m.why });
        return this.ws.close(CloseCode.ProtocolError, m.why);
    }
  }

  /** A message on channel `num`; false when the socket's buffer is full. */
  send(num: number, data: Buffer): boolean {
    const m = encodeChannelMessage(this.codec, num, data);
    return this.ws.send(m.type, m.data);
  }

  whenWritable(cb: () => void): void { this.ws.whenWritable(cb); }

  pauseReading(who: WsChannel, paused: boolean): void { this.ws.pauseReading(who, paused); }
}
