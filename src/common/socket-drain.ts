// What both kinds of upgraded connection (SPDY, WebSocket) do at the edges of their socket:
// taking it over, writers waiting for its buffer to drain, and the linger that bounds a
// closing handshake.
import type { Socket } from 'node:net';
import type { Logger } from './log.js';

export interface AdoptOptions {
  onBytes(d: Buffer): void;
  onClose(): void;
  /** No byte either way for this long: onIdle (kubelet's stream idle timeout). */
  idleTimeoutMs?: number;
  onIdle(): void;
  log?: Logger;
}

/**
 * An upgraded socket taken over by a connection: its bytes, its close, its idle timeout.
 * Node's HTTP server hands over half-open sockets: the client's FIN alone would not close
 * ours, and neither protocol has a use for a half-closed connection: the client is gone.
 */
export function adoptSocket(socket: Socket, o: AdoptOptions): DrainWaiters {
  socket.setNoDelay(true);
  socket.on('data', (d: Buffer) => o.onBytes(d));
  const drain = new DrainWaiters(socket);
  socket.on('error', (e) => o.log?.debug('streaming connection error', { error: e.message }));
  socket.on('close', () => o.onClose());
  socket.on('end', () => socket.end());
  if (o.idleTimeoutMs) {
    socket.setTimeout(o.idleTimeoutMs, () => {
      o.log?.info('closing idle streaming connection', { idleMs: o.idleTimeoutMs });
      o.onIdle();
    });
  }
  return drain;
}

/** Callbacks waiting for the socket's buffer to drain; all run when it does, or at close. */
export class DrainWaiters {
  private waiters: Array<() => void> = [];

  constructor(private readonly socket: Socket) {
    socket.on('drain', () => this.flush());
  }

  /** Runs `cb` soon if the buffer has room (or the connection is closed), else at 'drain'. */
  add(cb: () => void, closed: boolean): void {
    if (closed || !this.socket.writableNeedDrain) setImmediate(cb);
    else this.waiters.push(cb);
  }

  flush(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

/** How long a closing connection waits for the client at most (the apiserver's 15 minutes). */
export const MAX_LINGER_MS = 15 * 60_000;

/** How long a closing connection waits for a silent client before it cuts the socket. */
const CLOSE_LINGER_MS = 5_000;

/**
 * The end of a closing handshake, started at most once: the socket goes when the client hangs
 * up, or once our bytes have left it and the client has sent nothing for `ms` (its pings and
 * acks start the wait again: a client still reading what we queued is not cut off, nor reset
 * by a late ping of its own), and after `maxMs` in any case. Its timer keeps no process alive.
 */
export class Linger {
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly onData = () => { this.heard = Date.now(); };
  private heard = 0;

  constructor(private readonly socket: Socket, private readonly ms = CLOSE_LINGER_MS, private readonly maxMs = MAX_LINGER_MS) {}

  start(): void {
    if (this.stopped || this.timer) return;
    const started = this.heard = Date.now();
    this.timer = setInterval(() => {
      const now = Date.now();
      if (now - started >= this.maxMs || (this.socket.writableLength === 0 && now - this.heard >= this.ms)) this.socket.destroy();
    }, Math.min(this.ms, 1000));
    this.timer.unref();
    this.socket.on('data', this.onData);
  }

  /** The socket closed: no more lingering, now or later. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.socket.off('data', this.onData);
  }
}
