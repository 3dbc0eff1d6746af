// One SPDY stream as a Node Duplex: what the peer sends is readable, what we write goes out
// as DATA frames, end() sends FIN (half-close), reset() sends RST_STREAM.
//
// Semantics follow spdystream (the kubelet's and client-go's SPDY library) rather than
// Node's error-first habits: a stream the peer resets, or whose connection drops, reads as
// EOF and silently drops later writes — it never emits 'error', so a runtime that pipes a
// process into it is not brought down by a client that went away; 'reset' says it happened.
import { Duplex } from 'node:stream';
import { FLAG_FIN, RstStatus } from './frames.js';
import { headerValue, type SpdyHeaders } from './headers.js';

/**
 * What the stream needs from its connection. Kept narrow so the connection owns the
 * socket, the frame order and the header compression alone.
 */
export interface StreamSink {
  /** Queues a DATA frame; false when the socket's buffer is full (wait for whenWritable). */
  sendData(streamId: number, data: Buffer, fin: boolean): boolean;
  whenWritable(cb: () => void): void;
  sendReply(streamId: number, headers: SpdyHeaders): void;
  sendReset(streamId: number, status: number): void;
  /** Our reader is full (stop reading the socket) or wants more (resume). */
  readPaused(stream: SpdyStream, paused: boolean): void;
  /** Both halves are closed, or the stream was reset: forget it. */
  streamDone(stream: SpdyStream): void;
}

/** client-go writes at most 32 KiB per DATA frame (io.Copy's buffer); so do we. */
export const MAX_DATA_CHUNK = 32 * 1024;

export class SpdyStream extends Duplex {
  /** The SYN_STREAM's headers; set before the connection hands the stream out. */
  headers: SpdyHeaders = new Map();
  private replied = false;
  private localFinished = false;
  private remoteFinished = false;
  private wasReset = false;

  constructor(private readonly sink: StreamSink, readonly id: number, opts: { unidirectional?: boolean } = {}) {
    // A generous read buffer: a full one pauses the whole connection (see readPaused).
    super({ allowHalfOpen: true, readableHighWaterMark: 256 * 1024 });
    // A unidirectional stream is one we may never send on.
    if (opts.unidirectional) this.localFinished = true;
  }

  header(name: string): string {
    return headerValue(this.headers, name);
  }

  get isReset(): boolean { return this.wasReset; }
  get isReplied(): boolean { return this.replied; }
  /** The peer sent FIN: nothing more will be read. */
  get isRemoteFinished(): boolean { return this.remoteFinished; }

  /** Accepts the stream (SYN_REPLY, no headers, as kubelet's server does). */
  reply(): void {
    if (this.replied || this.wasReset) return;
    this.replied = true;
    this.sink.sendReply(this.id, new Map());
    this.emit('replied');
  }

  /** RST_STREAM: refuses a stream not yet replied to, or abandons one in use. */
  reset(status: number = RstStatus.Cancel): void {
    if (this.wasReset) return;
    this.sink.sendReset(this.id, status);
    this.markReset();
  }

  // ---- called by the connection -------------------------------------------------------

  /** A DATA frame's payload; false if this stream cannot take data any more. */
  receive(data: Buffer, flags: number): boolean {
    if (this.wasReset || this.remoteFinished) return false;
    if (data.length && !this.push(data)) this.sink.readPaused(this, true);
    if (flags & FLAG_FIN) this.remoteFin();
    return true;
  }

  remoteFin(): void {
    if (this.remoteFinished || this.wasReset) return;
    this.remoteFinished = true;
    this.push(null);
    this.maybeDone();
  }

  /** The peer reset the stream, or the connection is gone. */
  markReset(): void {
    if (this.wasReset) return;
    this.wasReset = true;
    if (!this.remoteFinished) {
      this.remoteFinished = true;
      if (!this.destroyed) this.push(null);
    }
    this.localFinished = true;
    this.sink.streamDone(this);
    this.emit('reset');
    // Writers waiting for 'replied' must not wait forever.
    this.emit('replied');
  }

  // ---- Duplex ----------------------------------------------------------------------------

  override _read(): void {
    this.sink.readPaused(this, false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.wasReset || this.localFinished) return cb();
    if (!this.replied) {
      this.once('replied', () => this._write(chunk, _enc, cb));
      return;
    }
    let ok = true;
    for (let off = 0; off < chunk.length; off += MAX_DATA_CHUNK) {
      ok = this.sink.sendData(this.id, chunk.subarray(off, off + MAX_DATA_CHUNK), false) && ok;
    }
    if (ok) cb(); else this.sink.whenWritable(() => cb());
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.wasReset || this.localFinished) return cb();
    if (!this.replied) {
      this.once('replied', () => this._final(cb));
      return;
    }
    this.localFinished = true;
    this.sink.sendData(this.id, Buffer.alloc(0), true);
    this.maybeDone();
    cb();
  }

  /**
   * Destroyed before both halves were closed (an abandoned pipe, a `for await` loop that
   * ended, which destroys what it read): the peer hears RST_STREAM(CANCEL), as from
   * spdystream's Reset, instead of nothing.
   */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.wasReset && !(this.localFinished && this.remoteFinished)) this.reset(RstStatus.Cancel);
    cb(err);
  }

  private maybeDone(): void {
    if (this.localFinished && this.remoteFinished) this.sink.streamDone(this);
  }
}
