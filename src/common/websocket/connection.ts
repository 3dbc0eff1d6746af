// The server end of one WebSocket connection over an upgraded socket: whole messages in
// (fragments joined), unfragmented messages out, pings answered, the closing handshake both
// ways, and back-pressure both ways: send() says when the socket's buffer is full (wait for
// whenWritable), and pauseReading() stops reading the socket while a reader is full.
//
// Where kubelet's wsstream (golang.org/x/net/websocket) is laxer than RFC 6455 we keep to the
// RFC: fragmented messages are joined (x/net hands out each frame), a text message must be
// UTF-8, and an unsolicited pong is ignored (x/net drops the connection over one).
import type { Socket } from 'node:net';
import { errorMessage } from '../errors.js';
import type { Logger } from '../log.js';
import { adoptSocket, Linger, type DrainWaiters } from '../socket-drain.js';
import {
  CloseCode, FrameParser, MessageAssembler, Opcode, WsProtocolError, closePayload, encodeFrame, parseClose,
} from './frames.js';

/** x/net/websocket's DefaultMaxPayloadBytes: the largest message a client may send. */
export const DEFAULT_MAX_MESSAGE = 32 << 20;

export interface WsConnectionOptions {
  /** A whole data message from the client; not called once the closing handshake began. */
  onMessage: (type: 'text' | 'binary', data: Buffer) => void;
  maxMessageBytes?: number;
  /** Closes the connection when nothing has come or gone for this long (kubelet: 4 h). */
  idleTimeoutMs?: number;
  log?: Logger;
}

export class WsConnection {
  private readonly parser: FrameParser;
  private readonly assembler: MessageAssembler;
  private readonly pausers = new Set<unknown>();
  private readonly drain: DrainWaiters;
  private sentClose = false;
  private receivedClose = false;
  private closed = false;
  private readonly lingering: Linger;
  /** The latest ping not answered yet, while the socket's buffer is full. */
  private pendingPong: Buffer | undefined;
  /** The close code the client sent (1005 for none), once it has. */
  peerCloseCode: number | undefined;
  /** Resolves when the socket has closed. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(private readonly socket: Socket, private readonly opts: WsConnectionOptions) {
    const max = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE;
    this.parser = new FrameParser(max);
    this.assembler = new MessageAssembler(max);
    this.done = new Promise((r) => { this.resolveDone = r; });
    // (the client's FIN without a close frame: it is gone)
    this.drain = adoptSocket(socket, {
      onBytes: (d) => this.onBytes(d), onClose: () => this.onClose(), onIdle: () => this.close(CloseCode.GoingAway),
      ...(opts.idleTimeoutMs ? { idleTimeoutMs: opts.idleTimeoutMs } : {}), ...(opts.log ? { log: opts.log } : {}),
    });
    this.lingering = new Linger(socket);
  }

  get isClosed(): boolean { return this.closed; }
  /** No more messages go out: we said close, or the socket is gone. */
  get isClosing(): boolean { return this.sentClose || this.closed; }

  /** Bytes the client sent right behind the handshake (Node hands them over apart). */
  feed(head: Buffer): void {
    if (head.length) this.onBytes(head);
  }

  /** Sends one message; false when the socket's buffer is full (wait for whenWritable). */
  send(type: 'text' | 'binary', data: Buffer): boolean {
    return this.write(encodeFrame(type === 'text' ? Opcode.Text : Opcode.Binary, data));
  }

  whenWritable(cb: () => void): void {
    this.drain.add(cb, this.closed);
  }

  /** A reader of ours is full (stop reading the socket) or wants more (read again). */
  pauseReading(who: unknown, paused: boolean): void {
    if (paused) this.pausers.add(who); else this.pausers.delete(who);
    if (this.closed) return;
    if (this.pausers.size) this.socket.pause(); else this.socket.resume();
  }

  /**
   * Starts the closing handshake: our close frame, then FIN; the socket goes when the
   * client hangs up, or after a short linger. Messages still arriving are dropped.
   */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.closed) return;
    if (!this.sentClose) {
      this.sentClose = true;
      this.write(encodeFrame(Opcode.Close, closePayload(code, reason)), true);
      this.socket.end();
    }
    // Whatever the client still sends must be read, or its close frame never arrives.
    this.pausers.clear();
    this.socket.resume();
    this.lingering.start();
  }

  /**
   * The server stops: 1001, not 1000, which client-go takes for the end of every stream, so
   * an exec whose status never came would read as a success.
   */
  shutdown(): void {
    this.close(CloseCode.GoingAway, 'the streaming server is stopping');
  }

  destroy(): void {
    this.socket.destroy();
  }

  private write(b: Buffer, closing = false): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded || (this.sentClose && !closing)) return true;
    return this.socket.write(b);
  }

  private onBytes(d: Buffer): void {
    if (this.receivedClose) return;
    try {
      for (const f of this.parser.push(d)) {
        const m = this.assembler.push(f);
        if (!m) continue;
        switch (m.type) {
          case 'ping':
            this.pong(m.data);
            break;
          case 'pong':
            break;
          case 'close':
            return this.onCloseFrame(m.data);
          default:
            if (!this.sentClose) this.opts.onMessage(m.type, m.data);
        }
        if (this.closed || this.receivedClose) return;
      }
    } catch (e) {
      this.fail(e);
    }
  }

  /**
   * A ping's answer; while the socket's buffer is full, only the latest ping's, once it
   * drains (§5.5.3): a client that pings and never reads must not grow our buffer.
   */
  private pong(data: Buffer): void {
    if (!this.socket.writableNeedDrain) {
      this.write(encodeFrame(Opcode.Pong, data));
      return;
    }
    const waiting = this.pendingPong !== undefined;
    this.pendingPong = data;
    if (waiting) return;
    this.drain.add(() => {
      const p = this.pendingPong;
      this.pendingPong = undefined;
      if (p) this.write(encodeFrame(Opcode.Pong, p));
    }, this.closed);
  }

  private onCloseFrame(payload: Buffer): void {
    const { code } = parseClose(payload);
    this.receivedClose = true;
    this.peerCloseCode = code;
    // Echo the code (§5.5.1); a close without one is answered without one.
    if (!this.sentClose) {
      this.sentClose = true;
      this.write(encodeFrame(Opcode.Close, closePayload(code === CloseCode.NoStatus ? undefined : code)), true);
    }
    this.socket.end();
    this.lingering.start();
  }

  private fail(e: unknown): void {
    if (this.closed) return;
    const code = e instanceof WsProtocolError ? e.code : CloseCode.InternalError;
    this.opts.log?.warn('websocket protocol error, closing the streaming connection', { error: errorMessage(e), code });
    this.receivedClose = true;
    this.close(code, e instanceof WsProtocolError ? e.message : 'internal error');
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.lingering.stop();
    this.pausers.clear();
    this.drain.flush();
    this.resolveDone();
  }
}
