// containerd's side of a process' stdio: FIFO paths from CreateTaskRequest / ExecProcessRequest.
// FifoPump copies, for a process with a terminal or in a VM (io-direct.ts gives the others the
// FIFOs themselves): output comes from the runtime's attach stream (conmon's attach socket, the
// agent's ReadStdout) and goes into the stdout/stderr FIFOs; stdin goes from the stdin FIFO
// into the attach stream.
// - Output FIFOs are opened O_RDWR: the open never blocks (containerd may not have its end
//   open yet, or may be gone after a restart). We are their only writer, so closing our fd
//   is containerd's EOF.
// - stdin is opened O_RDWR|O_NONBLOCK, as containerd-shim-runc-v2 keeps a write end of its
//   own: a client that goes (an attach killed, ctr's end closed) is no EOF; only CloseIO ends
//   the process' stdin, after what is still in the FIFO went to it. A CloseIO that comes
//   before the process is connected (ctr sends it while Start runs) waits for the connect.
// - When the process exits, its output FIFOs close (containerd's EOF) once the output still
//   coming has gone into them, as runc-v2's copy ends (a slow reader gets it all; a paused
//   stream waits for it), or at Delete. The stdin FIFO stays open, read and dropped, until
//   the task or exec is deleted, as containerd-shim-runc-v2 holds it until Delete: a client
//   still writing input gets no EPIPE, which containerd's CRI answers, for a TTY exec, by
//   closing the exec's output before it read it all.
import { constants, openSync, readSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import type { Writable } from 'node:stream';
import type { StdioStream } from '../../runtime/types.js';
import { Backpressure } from '../../runtime/backpressure.js';
import { isLogUri, openLogUri, type LogOwner } from './log-uri.js';

/** Output queued for a FIFO nobody reads, per stream, before we start dropping it (a stream we cannot pause). */
const MAX_QUEUED = 4 << 20;
/**
 * Output queued for a FIFO before a pausable stream is paused until the FIFO drains: about a
 * pipe's worth, so that, as under runc-v2, a process whose reader is slow exits only once
 * nearly all its output was read (ctr stops reading soon after the exit it is told of).
 */
const HIGH_WATER = 64 << 10;
/** How long an exit (or a Delete) waits for the rest of the output (a grandchild may hold stdout). */
export const DRAIN_MS = 2000;

export interface FifoPaths {
  stdin: string;
  stdout: string;
  stderr: string;
}

/** A task's or exec's stdio as the task service drives it: copied (FifoPump) or given (FifoPassthrough). */
export interface TaskIo {
  /** Start serving a process' attach stream (nothing to do where the process has the FIFOs). */
  connect(stream: StdioStream): void;
  /** Resolves when the process' output ended (or after ms). */
  drained(ms: number): Promise<void>;
  /** containerd's CloseIO(stdin). */
  closeStdin(): void;
  /**
   * The process exited: containerd reads EOF once the output still coming is in the FIFOs
   * (as runc-v2 ends them when its copy ends, whatever the reader's pace); close() ends them
   * at once.
   */
  processExited(): void;
  /** The task or exec is deleted (or the sandboxer goes). */
  close(): void;
}

export class FifoPump implements TaskIo {
  private out: Writable | null = null;
  private err: Writable | null = null;
  /** A log URI's logger (log-uri.ts), ended at close(). */
  private sinkClose: (() => void) | null = null;
  private in: net.Socket | null = null;
  private inFd = -1;
  private stream: StdioStream | null = null;
  /** CloseIO came before connect(): stdin ends once connected. */
  private stdinClosing = false;
  private ended = false;
  private exited = false;
  private endCbs: Array<() => void> = [];

  private constructor(readonly paths: FifoPaths) {}

  /** `owner`: whose output, for a log URI's logging binary. */
  static async open(paths: FifoPaths, owner: LogOwner): Promise<FifoPump> {
    const p = new FifoPump(paths);
    const open = async (file: string, readable: boolean): Promise<net.Socket | null> => {
      if (!file) return null;
      const st = await fs.stat(file).catch(() => null);
      if (!st?.isFIFO()) return null; // file:// or a vanished FIFO: nothing to copy to
      const fd = openSync(file, constants.O_RDWR | constants.O_NONBLOCK);
      if (readable) p.inFd = fd;
      const s = new net.Socket({ fd, readable, writable: !readable });
      s.on('error', () => s.destroy());
      return s;
    };
    try {
      if (isLogUri(paths.stdout)) {
        // containerd gives the same URI for both streams
        const sink = await openLogUri(paths.stdout, owner);
        [p.out, p.err, p.sinkClose] = [sink.out, sink.err, sink.close];
      } else {
        p.out = await open(paths.stdout, false);
        p.err = paths.stderr === paths.stdout ? p.out : await open(paths.stderr, false);
      }
      p.in = await open(paths.stdin, true);
    } catch (e) {
      p.close();
      throw e;
    }
    return p;
  }

  /** Start copying between the FIFOs and a process' attach stream. */
  connect(stream: StdioStream): void {
    this.stream = stream;
    const gate = Backpressure.of<Writable>(stream);
    stream.onOutput((s, d) => {
      const dst = s === 2 ? (this.err ?? this.out) : this.out;
      if (!dst || dst.destroyed) return;
      if (gate) {
        // a slow reader: the stream waits (the process with it) until the FIFO drains
        dst.write(d);
        if (dst.writableLength > HIGH_WATER && !gate.holds(dst)) {
          gate.hold(dst);
          const go = () => {
            dst.off('drain', go);
            dst.off('close', go);
            gate.release(dst);
          };
          dst.once('drain', go);
          dst.once('close', go);
        }
        return;
      }
      // nobody reading (containerd gone): drop rather than queue without bound; conmon's
      // own log keeps the last MiB
      if (dst.writableLength < MAX_QUEUED) dst.write(d);
    });
    stream.onEnd(() => this.finish());
    this.in?.on('data', (d: Buffer) => { if (!this.exited) this.stream?.write(d); });
    if (this.stdinClosing) this.closeStdin();
  }

  /** Resolves when the process' output ended (or after ms). */
  async drained(ms: number): Promise<void> {
    if (this.ended || !this.stream) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((r) => this.endCbs.push(r)), new Promise<void>((r) => { t = setTimeout(r, ms); })]);
    clearTimeout(t);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    for (const cb of this.endCbs.splice(0)) cb();
  }

  /** containerd's CloseIO(stdin): the process gets what is left in the FIFO, then EOF. */
  closeStdin(): void {
    const stream = this.stream;
    if (!stream) { this.stdinClosing = true; return; }
    const s = this.in;
    this.in = null;
    if (s) {
      const give = (d: Buffer) => { if (!this.exited) stream.write(d); };
      // (read() also emits 'data': its listener goes first, so no chunk is given twice)
      s.pause();
      s.removeAllListeners('data');
      for (let c = s.read() as Buffer | null; c !== null; c = s.read() as Buffer | null) give(c);
      // and what the pipe still holds (the writer's last bytes, not read yet)
      const buf = Buffer.alloc(64 << 10);
      for (;;) {
        let n = 0;
        try { n = readSync(this.inFd, buf, 0, buf.length, null); } catch { break; } // EAGAIN: empty
        if (n <= 0) break;
        give(Buffer.from(buf.subarray(0, n)));
      }
      s.destroy();
    }
    stream.closeStdin();
  }

  /** Stdin's input is dropped from now on (until close()); the FIFOs end with the stream. */
  processExited(): void {
    this.exited = true;
    if (this.ended || !this.stream) this.endOutput(); else this.endCbs.push(() => this.endOutput());
  }

  /** The FIFOs end (containerd reads EOF once what was written drained) and the stream goes. */
  private endOutput(): void {
    this.finish();
    this.exited = true;
    for (const s of new Set([this.out, this.err])) if (s && !s.destroyed) s.end(() => s.destroy());
    this.stream?.close();
    this.stream = null;
    this.out = this.err = null;
  }

  /** Close everything (the task or exec is deleted, or the sandboxer goes). */
  close(): void {
    this.endOutput();
    this.in?.destroy();
    this.in = null;
    this.sinkClose?.();
    this.sinkClose = null;
  }
}

/** A FIFO-less way to hold nothing: for detached execs. */
export function noStdio(p: FifoPaths): boolean {
  return !p.stdin && !p.stdout && !p.stderr;
}

