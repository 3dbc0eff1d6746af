// What both kinds of upgraded connection (SPDY, WebSocket) do at the edges of their socket:
// writers waiting for its buffer to drain, and the linger that bounds a closing handshake.
import type { Socket } from 'node:net';

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

/** Destroys the socket after `ms` unless cleared first; the timer keeps no process alive. */
export function lingerTimer(socket: Socket, ms: number): NodeJS.Timeout {
  const t = setTimeout(() => socket.destroy(), ms);
  t.unref();
  return t;
}
