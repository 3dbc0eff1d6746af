// A process' stdio as pipes we made ourselves (conmon's passthrough with pipes from spawn):
// nobody between the process and us, so not reading (pause) makes the process wait on its
// writes, where conmon's attach socket would have to be read whatever comes.
import type { Readable, Writable } from 'node:stream';
import type { StdioStream } from '../types.js';

export class PipeStdio implements StdioStream {
  static of(p: { stdin: Writable | null; stdout: Readable; stderr: Readable }): PipeStdio {
    return new PipeStdio(p.stdin, p.stdout, p.stderr);
  }

  private endCbs: Array<() => void> = [];
  private open = 2;
  /** discard() was called: output is read and dropped. */
  private dropping = false;

  constructor(private readonly stdin: Writable | null, private readonly stdout: Readable, private readonly stderr: Readable) {
    stdin?.on('error', () => {});
    const closed = () => { if (--this.open === 0) for (const cb of this.endCbs.splice(0)) cb(); };
    for (const s of [stdout, stderr]) {
      s.on('error', () => s.destroy());
      // a socket reads from its creation: a stream the process never wrote (an exec that
      // exited before its pid came back) may have ended and closed already, its 'close' gone
      if (s.closed) closed(); else s.once('close', closed);
    }
  }

  /** Output waits in the pipes until a callback is there (the streams start paused). */
  onOutput(cb: (stream: 1 | 2, data: Buffer) => void): void {
    this.stdout.on('data', (d: Buffer) => { if (!this.dropping) cb(1, d); });
    this.stderr.on('data', (d: Buffer) => { if (!this.dropping) cb(2, d); });
  }

  /** The reader left: the process' writes are taken and dropped (no SIGPIPE, no blocking) until its output ends or close(). */
  discard(): void {
    this.dropping = true;
    for (const s of [this.stdout, this.stderr]) { if (!s.listenerCount('data')) s.on('data', () => {}); s.resume(); }
  }
  onEnd(cb: () => void): void { if (this.open === 0) cb(); else this.endCbs.push(cb); }
  write(data: Buffer): void { if (this.stdin && !this.stdin.destroyed) this.stdin.write(data); }
  closeStdin(): void { this.stdin?.end(); }
  close(): void { for (const s of [this.stdin, this.stdout, this.stderr]) s?.destroy(); }
  pause(): void { if (!this.dropping) { this.stdout.pause(); this.stderr.pause(); } }
  resume(): void { this.stdout.resume(); this.stderr.resume(); }
}
