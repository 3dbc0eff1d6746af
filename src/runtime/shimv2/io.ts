// A task's stdio as a shim v2 sees it: FIFOs in the bundle (or the exec's dir) that tsulad
// holds open. The shim opens stdout/stderr O_WRONLY in Create (blocking until a reader
// exists), so our read ends are opened (non-blocking) before Create; reading starts after
// Create, when the shim's write ends exist, so EOF means the process' output is complete.
// stdin is held O_RDWR: opening never blocks, and closing our fd is the shim's EOF.
//
// Output goes to the k8s-file log (containers) and to attached clients. While tsulad is
// down nothing reads the FIFOs: the shim's copy blocks once the pipe buffers (64 KiB each)
// fill, and so does the container's next write; the next tsulad reopens the FIFOs and
// resumes. stdin does not survive: our write end closes with us, and the shim sees EOF.
import { execFile } from 'node:child_process';
import { promises as fs, constants, openSync, closeSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { StdioStream } from '../types.js';
import type { K8sLogWriter } from './klog.js';
import { failedPrecondition, internal } from '../../common/errors.js';

const execFileP = promisify(execFile);

/** What an attach keeps for a client that has not registered onOutput yet. */
const EARLY_MAX = 1 << 20;

export interface IOPaths {
  stdin: string;   // '' = none (the shim's convention)
  stdout: string;
  stderr: string;
}

/** mkfifo(1): Node has no mkfifo; one process for all of a task's FIFOs. */
export async function makeFifos(paths: string[]): Promise<void> {
  if (!paths.length) return;
  await Promise.all(paths.map((p) => fs.rm(p, { force: true })));
  try {
    await execFileP('mkfifo', ['-m', '0600', ...paths]);
  } catch (e) {
    throw internal(`mkfifo ${paths.join(' ')}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
  }
}

/** A FIFO read end that never sees EOF (we are a writer too): for the shim's log. */
export function openFifoKeepalive(file: string): net.Socket {
  return new net.Socket({ fd: openSync(file, constants.O_RDWR), readable: true, writable: false });
}

export class ProcessIO {
  private readFds: Array<{ fd: number; stream: 1 | 2 }> = [];
  private sockets: net.Socket[] = [];
  private stdinSock: net.Socket | null = null;
  private outputCbs = new Set<(s: 1 | 2, d: Buffer) => void>();
  private endCbs = new Set<() => void>();
  private ended = false;
  private closed = false;
  private resolveDrained!: () => void;
  /** Whether stdout and stderr reached EOF (their writer, a shim or a sandboxer, went). */
  get isEnded(): boolean { return this.ended; }
  /** Resolves when stdout and stderr reached EOF (or the IO was closed). */
  readonly drained = new Promise<void>((r) => { this.resolveDrained = r; });

  private constructor(readonly paths: IOPaths, readonly terminal: boolean, private log: K8sLogWriter | null) {}

  /** Where a process' FIFOs go in dir. With a terminal everything comes on stdout. */
  static paths(dir: string, want: { stdin: boolean; output: boolean; terminal: boolean }): IOPaths {
    return {
      stdin: want.stdin ? path.join(dir, 'stdin') : '',
      stdout: want.output ? path.join(dir, 'stdout') : '',
      stderr: want.output && !want.terminal ? path.join(dir, 'stderr') : '',
    };
  }

  /** Open our ends of freshly made FIFOs (makeFifos), before the shim's Create / Exec. */
  static async openNew(p: IOPaths, terminal: boolean, log: K8sLogWriter | null): Promise<ProcessIO> {
    return ProcessIO.open(p, terminal, log, false);
  }

  /** Reopen the FIFOs of a task that outlived the previous tsulad. */
  static async reopen(p: IOPaths, terminal: boolean, log: K8sLogWriter | null): Promise<ProcessIO> {
    return ProcessIO.open(p, terminal, log, true);
  }

  private static async open(p: IOPaths, terminal: boolean, log: K8sLogWriter | null, adopting: boolean): Promise<ProcessIO> {
    const io = new ProcessIO(p, terminal, log);
    try {
      for (const [file, stream] of [[p.stdout, 1], [p.stderr, 2]] as const) {
        if (!file) continue;
        if (adopting && !(await isFifo(file))) continue;
        io.readFds.push({ fd: openSync(file, constants.O_RDONLY | constants.O_NONBLOCK), stream });
      }
      // a new stdin is ours alone; an adopted one already saw EOF when our old fd closed
      if (p.stdin && !adopting) io.stdinSock = new net.Socket({ fd: openSync(p.stdin, constants.O_RDWR), readable: false, writable: true });
      io.stdinSock?.on('error', () => { void io.closeStdin(); });
    } catch (e) {
      io.close();
      throw internal(`open stdio FIFOs: ${(e as Error).message}`);
    }
    return io;
  }

  /** Start reading: call once the shim holds the write ends (after Create / Exec). */
  start(): void {
    let open = this.readFds.length;
    if (!open) this.finish();
    for (const { fd, stream } of this.readFds) {
      const s = new net.Socket({ fd, readable: true, writable: false });
      this.sockets.push(s);
      const name = stream === 1 ? 'stdout' : 'stderr';
      s.on('data', (d: Buffer) => {
        this.log?.write(name, d);
        for (const cb of this.outputCbs) cb(stream, d);
      });
      let done = false;
      const eof = () => { if (!done) { done = true; if (--open === 0) this.finish(); } };
      s.on('end', eof);
      s.on('close', eof);
      s.on('error', () => s.destroy());
    }
    this.readFds = [];
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    for (const cb of this.endCbs) cb();
    this.endCbs.clear();
    this.outputCbs.clear();
    this.resolveDrained();
  }

  /** Wait for EOF at most ms (a grandchild holding stdout open must not stall the exit). */
  async drain(ms: number): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    await Promise.race([this.drained, new Promise<void>((r) => { t = setTimeout(r, ms); })]);
    clearTimeout(t);
  }

  /** Flush and close the log file: every byte read so far is in it when this resolves. */
  async closeLog(): Promise<void> {
    await this.log?.close();
  }

  /** CRI's ReopenContainerLog: the log goes on in a file at its path (klog.ts reopen). */
  async reopenLog(): Promise<void> {
    if (!this.log) throw failedPrecondition(`${this.paths.stdout || 'the process'}: its output goes to no log file`);
    await this.log.reopen();
  }

  get hasStdin(): boolean {
    return this.stdinSock !== null;
  }

  /**
   * A client's view. onStdinDone runs when this client is done with stdin (half-close
   * or detach): the owner decides whether that closes the process' stdin (stdinOnce).
   */
  attach(onStdinDone: () => void): StdioStream {
    let detached = false;
    let stdinDone = false;
    // output that comes before the client registers onOutput (an exec's first line is
    // written right after Start, before the caller has the handle) is kept, up to a bound
    let early: Array<[1 | 2, Buffer]> | null = [];
    let earlyBytes = 0;
    const buffer = (s: 1 | 2, d: Buffer) => {
      if (early && earlyBytes + d.length <= EARLY_MAX) { early.push([s, d]); earlyBytes += d.length; }
    };
    this.outputCbs.add(buffer);
    const cbs = new Set<(s: 1 | 2, d: Buffer) => void>([buffer]);
    const doneWithStdin = () => { if (!stdinDone) { stdinDone = true; onStdinDone(); } };
    return {
      onOutput: (cb) => {
        if (detached) return;
        if (early) {
          for (const [s, d] of early) cb(s, d);
          early = null;
          this.outputCbs.delete(buffer);
          cbs.delete(buffer);
        }
        if (this.ended) return;
        cbs.add(cb);
        this.outputCbs.add(cb);
      },
      onEnd: (cb) => { if (this.ended) cb(); else this.endCbs.add(cb); },
      write: (data) => { if (!detached && data.length && this.stdinSock && !this.stdinSock.destroyed) this.stdinSock.write(data); },
      closeStdin: doneWithStdin,
      close: () => {
        if (detached) return;
        detached = true;
        early = null;
        for (const cb of cbs) this.outputCbs.delete(cb);
        doneWithStdin();
      },
    };
  }

  /** No more stdin for the process (our write end is the only one: the shim sees EOF). */
  closeStdin(): Promise<void> {
    const s = this.stdinSock;
    this.stdinSock = null;
    if (!s || s.destroyed) return Promise.resolve();
    // resolves once what was written is in the FIFO and our end is closed
    return new Promise((resolve) => {
      s.once('close', () => resolve());
      s.end(() => s.destroy());
    });
  }

  /** Stop everything now (tsulad exits, or the task is gone). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const { fd } of this.readFds) { try { closeSync(fd); } catch { /* already closed */ } }
    this.readFds = [];
    for (const s of this.sockets) s.destroy();
    this.stdinSock?.destroy();
    this.stdinSock = null;
    this.finish();
    void this.log?.close();
  }

  /** Remove the FIFOs (after Delete). */
  async remove(): Promise<void> {
    await Promise.all([this.paths.stdin, this.paths.stdout, this.paths.stderr].filter(Boolean).map((p) => fs.rm(p, { force: true })));
  }
}

async function isFifo(p: string): Promise<boolean> {
  const st = await fs.lstat(p).catch(() => null);
  return !!st?.isFIFO();
}
