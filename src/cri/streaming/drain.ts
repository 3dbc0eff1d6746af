// What both kinds of upgraded connection (SPDY, WebSocket) do at the edges of their socket:
// taking it over, writers waiting for its buffer to drain, and the linger that bounds a
// closing handshake.
import type { Socket } from 'node:net';
import type { Logger } from '../../common/log.js';

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

/**
 * The end of a closing handshake: the socket goes when the client hangs up, or once our
 * bytes have left it and the client has sent nothing for `ms` (its pings and acks start the
 * wait again: a client still reading what we queued is not cut off, nor reset by a late ping
 * of its own), and after `maxMs` in any case. Returns the cancel; its timer keeps no process
 * alive.
 */
export function linger(socket: Socket, ms: number, maxMs = MAX_LINGER_MS): () => void {
  const started = Date.now();
  let heard = started;
  const onData = () => { heard = Date.now(); };
  const t = setInterval(() => {
    const now = Date.now();
    if (now - started >= maxMs || (socket.writableLength === 0 && now - heard >= ms)) socket.destroy();
  }, Math.min(ms, 1000));
  t.unref();
  socket.on('data', onData);
  return () => {
    clearInterval(t);
    socket.off('data', onData);
  };
}
