// containerd's FIFOs given to a process as its stdio, nobody copying between (conmon's
// passthrough; runtimes with `directStdio`, for a process without a terminal). A reader that
// stops reading stops the writer, as containerd-shim-runc-v2's blocking copy does, instead of
// output being queued in the sandboxer and dropped.
// - stdout/stderr are opened O_RDWR (the open never blocks; the process holding a read end
//   means a client that went away is no EPIPE, as runc-v2 holds one): containerd reads EOF
//   once the process, and whatever inherited its stdio, has exited.
// - stdin: the process gets a read-only end; we keep an O_RDWR end so a client that goes is
//   no EOF: only CloseIO (ours closed) and the client's own close end the process' input, as
//   with runc-v2. Once the process exited, what still comes is read and dropped until the task
//   or exec is deleted (no EPIPE for a client still writing).
import { closeSync, constants, openSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import type { Runtime, StdioFds, StdioStream } from '../../runtime/types.js';
import { FifoPump, type FifoPaths, type TaskIo } from './io.js';
import type { LogOwner } from './log-uri.js';

/**
 * A process' stdio: the FIFOs themselves where the runtime takes them and there is no
 * terminal (direct: give its fds to the runtime, then release()), else a copying pump (and
 * for a log URI, log-uri.ts).
 */
export async function openProcessIo(rt: Runtime, paths: FifoPaths, terminal: boolean, owner: LogOwner): Promise<{ io: TaskIo; direct: FifoPassthrough | null }> {
  const direct = rt.directStdio && !terminal ? await FifoPassthrough.open(paths) : null;
  return { io: direct ?? await FifoPump.open(paths, owner), direct };
}

export class FifoPassthrough implements TaskIo {
  /** What the runtime gives the process; ours to close once it has them (release()). */
  private given: number[] = [];
  private stdinEnd = -1;
  private drain: net.Socket | null = null;

  private constructor(readonly fds: StdioFds) {}

  /**
   * Open the FIFOs for a process; null when a path is not a FIFO (containerd's file:// and
   * binary:// logging go through the copying pump).
   */
  static async open(paths: FifoPaths): Promise<FifoPassthrough | null> {
    for (const p of [paths.stdin, paths.stdout, paths.stderr]) {
      if (p && !(await fs.stat(p).catch(() => null))?.isFIFO()) return null;
    }
    const opened: number[] = [];
    const open = (file: string, flags: number) => { const fd = openSync(file, flags); opened.push(fd); return fd; };
    try {
      // blocking file descriptions: the process' writes wait for its reader
      const devNull = () => open('/dev/null', constants.O_WRONLY);
      const stdout = paths.stdout ? open(paths.stdout, constants.O_RDWR) : devNull();
      const stderr = paths.stderr === paths.stdout ? stdout : paths.stderr ? open(paths.stderr, constants.O_RDWR) : devNull();
      let stdinEnd = -1;
      let stdin: number | undefined;
      if (paths.stdin) {
        // ours first: with a writer there, the read-only open does not wait for one
        stdinEnd = openSync(paths.stdin, constants.O_RDWR | constants.O_NONBLOCK);
        stdin = open(paths.stdin, constants.O_RDONLY);
      }
      const io = new FifoPassthrough({ ...(stdin !== undefined ? { stdin } : {}), stdout, stderr });
      io.given = [...new Set(opened)];
      io.stdinEnd = stdinEnd;
      return io;
    } catch (e) {
      for (const fd of new Set(opened)) closeSync(fd);
      throw e;
    }
  }

  /**
   * After a sandboxer restart: the process kept its stdio; hold the stdin FIFO again so a
   * client that goes is no EOF.
   */
  static async reopen(paths: FifoPaths): Promise<FifoPassthrough> {
    const io = new FifoPassthrough({ stdout: -1, stderr: -1 });
    if (paths.stdin && (await fs.stat(paths.stdin).catch(() => null))?.isFIFO()) {
      io.stdinEnd = openSync(paths.stdin, constants.O_RDWR | constants.O_NONBLOCK);
    }
    return io;
  }

  /** The runtime's process has its copies: ours go, or containerd would never read EOF. */
  release(): void {
    for (const fd of this.given.splice(0)) closeSync(fd);
  }

  connect(_stream: StdioStream): void { /* no stream: the process writes into the FIFOs itself */ }

  async drained(_ms: number): Promise<void> { /* nothing is in flight through us */ }

  closeStdin(): void {
    if (this.stdinEnd >= 0) { closeSync(this.stdinEnd); this.stdinEnd = -1; }
  }

  processExited(): void {
    this.release();
    if (this.stdinEnd < 0 || this.drain) return;
    const s = new net.Socket({ fd: this.stdinEnd, readable: true, writable: false });
    this.stdinEnd = -1; // the socket owns it now
    s.on('error', () => s.destroy());
    s.resume();
    this.drain = s;
  }

  close(): void {
    this.release();
    this.closeStdin();
    this.drain?.destroy();
    this.drain = null;
  }
}
