// The server end of a SPDY/3.1 connection over an upgraded HTTP socket, as kubelet's
// streaming server runs it (apimachinery httpstream/spdy over moby/spdystream): the client
// opens every stream (odd ids, increasing), we accept each with an empty SYN_REPLY or refuse
// it with RST_STREAM, answer the client's PINGs, and say GOAWAY before closing.
//
// Flow control: spdystream has none (moby/spdystream#2, open since 2014). It never sends
// WINDOW_UPDATE and ignores the ones it gets, so a sender that kept to SPDY/3.1's 64 KiB
// initial window would stall an exec after 64 KiB of output. As kubelet does, we send
// without windows and send no WINDOW_UPDATEs (each extra frame would land in spdystream's
// bounded per-connection frame queues); the TCP connection is the flow control: we stop
// writing while the socket's buffer is full and stop reading while a stream's reader is.
import type { Socket } from 'node:net';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { adoptSocket, Linger, type DrainWaiters } from '../../../common/socket-drain.js';
import {
  encodeFrame, FLAG_FIN, FLAG_UNIDIRECTIONAL, FrameError, FrameParser, GoAwayStatus, RstStatus, type Frame,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor, type SpdyHeaders } from './headers.js';
import { SpdyStream, type StreamSink } from './stream.js';

export interface SpdyConnectionOptions {
  /**
   * A new stream from the client, its headers known. The callee must reply() (accept) or
   * reset() (refuse) it; streams come in the order the client opened them.
   */
  onStream: (stream: SpdyStream) => void;
  /** Closes the connection when no frame has come or gone for this long (kubelet: 4 h). */
  idleTimeoutMs?: number;
  log?: Logger;
}

export class SpdyConnection implements StreamSink {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly parser = new FrameParser();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();
  private readonly congested = new Set<SpdyStream>();
  private readonly drain: DrainWaiters;
  private lastRemoteId = 0;
  private sentGoAway = false;
  private closed = false;
  private readonly lingering: Linger;
  /** Resolves when the socket has closed (all streams then read EOF). */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly socket: Socket, private readonly opts: SpdyConnectionOptions) {
    this.done = new Promise((r) => { this.resolveDone = r; });
    this.drain = adoptSocket(socket, {
      onBytes: (d) => this.onBytes(d), onClose: () => this.onClose(), onIdle: () => this.close(),
      ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}), ...(opts.log ? { log: opts.log } : {}),
    });
    this.lingering = new Linger(socket);
  }

  get isClosed(): boolean { return this.closed; }

  /** Bytes the client sent right behind the upgrade request (Node hands them over apart). */
  feed(head: Buffer): void {
    if (head.length) this.onBytes(head);
  }

  /** GOAWAY(OK): no new streams; the ones open carry on. Sent once. */
  goAway(status: number = GoAwayStatus.Ok): void {
    if (this.sentGoAway || this.closed) return;
    this.sentGoAway = true;
    this.write({ type: 'goaway', lastGoodStreamId: this.lastRemoteId, status });
  }

  /**
   * Resets every open stream, says GOAWAY and hangs up once the client has (or after a
   * short linger): kubelet's Connection.Close.
   */
  close(): void {
    if (this.closed) return;
    for (const s of [...this.streams.values()]) s.reset(RstStatus.Cancel);
    this.goAway();
    this.socket.end();
    this.lingering.start();
  }

  /**
   * Says GOAWAY and lets the client close the TCP connection (bounded by a linger). Used at
   * the end of a session whose streams we already finished: closing the socket ourselves
   * would race spdystream, which drops frames still queued when the socket goes.
   */
  finish(): void {
    this.goAway();
    this.lingering.start();
  }

  /** The server stops: as close(). */
  shutdown(): void {
    this.close();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- StreamSink --------------------------------------------------------------------------

  sendData(streamId: number, data: Buffer, fin: boolean): boolean {
    return this.write({ type: 'data', streamId, flags: fin ? FLAG_FIN : 0, data });
  }

  whenWritable(cb: () => void): void {
    this.drain.add(cb, this.closed);
  }

  sendReply(streamId: number, headers: SpdyHeaders): void {
    this.write({ type: 'syn_reply', streamId, flags: 0, headerBlock: this.compressor.compress(headers) });
  }

  sendReset(streamId: number, status: number): void {
    this.write({ type: 'rst_stream', streamId, status });
  }

  readPaused(stream: SpdyStream, paused: boolean): void {
    if (paused) this.congested.add(stream); else this.congested.delete(stream);
    if (this.closed) return;
    if (this.congested.size) this.socket.pause(); else this.socket.resume();
  }

  streamDone(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    if (this.congested.delete(stream) && !this.congested.size && !this.closed) this.socket.resume();
  }

  // ---- reading -----------------------------------------------------------------------------

  private write(f: Frame): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return true;
    return this.socket.write(encodeFrame(f));
  }

  private onBytes(d: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.parser.push(d);
    } catch (e) {
      return this.protocolError(e);
    }
    for (const f of frames) {
      if (this.closed) return;
      try {
        this.onFrame(f);
      } catch (e) {
        return this.protocolError(e);
      }
    }
  }

  private onFrame(f: Frame): void {
    switch (f.type) {
      case 'syn_stream': return this.onSynStream(f);
      case 'data': {
        const s = this.streams.get(f.streamId);
        // spdystream drops frames for streams it no longer knows (reset, finished); so do we.
        if (!s) return;
        if (!s.receive(f.data, f.flags)) this.opts.log?.debug('data on a closed SPDY stream', { stream: f.streamId });
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.markReset();
        return;
      case 'headers':
        // Nothing here uses HEADERS, but their block is part of the peer's zlib stream.
        this.decompressor.decode(f.headerBlock).catch((e: unknown) => this.protocolError(e));
        if (f.flags & FLAG_FIN) this.streams.get(f.streamId)?.remoteFin();
        return;
      case 'syn_reply':
        // We open no streams; decode only to keep the zlib context in step.
        this.decompressor.decode(f.headerBlock).catch((e: unknown) => this.protocolError(e));
        return;
      case 'ping':
        // Client pings are odd (client-go pings every few seconds); echo them. Even ids
        // would be answers to pings of ours, and we send none.
        if (f.id & 1) this.write(f);
        return;
      case 'goaway':
        // The client is closing: it hangs up once its streams are done.
        this.opts.log?.debug('client sent GOAWAY', { lastGood: f.lastGoodStreamId, status: f.status });
        return;
      case 'settings':
      case 'window_update':
      case 'unknown':
        // No flow control to adjust (see the header); unknown control frames are ignored (§2.2.1).
        return;
    }
  }

  private onSynStream(f: Extract<Frame, { type: 'syn_stream' }>): void {
    // Every header block goes through the inflater, also for streams we then refuse.
    const headers = this.decompressor.decode(f.headerBlock);
    const valid = (f.streamId & 1) === 1 && f.streamId > this.lastRemoteId;
    if (!valid) {
      headers.catch(() => {});
      this.opts.log?.debug('invalid SPDY stream id', { stream: f.streamId, last: this.lastRemoteId });
      this.sendReset(f.streamId, RstStatus.ProtocolError);
      return;
    }
    this.lastRemoteId = f.streamId;
    if (this.sentGoAway) {
      // spdystream ignores streams after GOAWAY too; the id stays above lastGoodStreamId.
      headers.catch(() => {});
      return;
    }
    const stream = new SpdyStream(this, f.streamId, { unidirectional: (f.flags & FLAG_UNIDIRECTIONAL) !== 0 });
    this.streams.set(f.streamId, stream);
    if (f.flags & FLAG_FIN) stream.remoteFin();
    headers.then((h) => {
      stream.headers = h;
      if (!stream.isReset && !this.closed) this.opts.onStream(stream);
    }, (e: unknown) => this.protocolError(e));
  }

  private protocolError(e: unknown): void {
    if (this.closed) return;
    if (e instanceof FrameError && e.streamId) {
      this.streams.get(e.streamId)?.reset(e.status);
      return;
    }
    this.opts.log?.warn('SPDY protocol error, closing the streaming connection', { error: errorMessage(e) });
    this.goAway(GoAwayStatus.ProtocolError);
    this.socket.end();
    this.lingering.start();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.lingering.stop();
    this.decompressor.close();
    for (const s of [...this.streams.values()]) s.markReset();
    this.congested.clear();
    this.drain.flush();
    this.resolveDone();
  }
}
