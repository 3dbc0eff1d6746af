// A process started ahead, waiting on its stdin, and fed later. A VM template's guest starts
// the programs its clones will need first (clone.ts, network.ts): a clone's guest runs cold
// code under TCG (QEMU's translation cache starts empty), and node's fork of a new process
// there took ~1.3 s; feeding one that already runs costs a fraction.
import { spawn, type ChildProcess } from 'node:child_process';

/** How a fed process ended. */
export interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: Buffer;
  /** It could not be started (ENOENT: missing). */
  error?: NodeJS.ErrnoException;
  /** Killed for running past the timeout. */
  timedOut: boolean;
}

/**
 * Start cmd now, its stdin a pipe it waits on; stdout ignored, stderr kept for feed(). In a
 * process group of its own: a timeout kills what it started too (a shell's children would
 * hold its stderr open).
 */
export function startWaiting(cmd: string, args: string[]): ChildProcess {
  const c = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  c.on('error', () => { /* feed() reports it */ });
  return c;
}

/** Is the process started ahead still there to be fed? */
export function usable(c: ChildProcess | null): c is ChildProcess {
  return !!c && c.exitCode === null && c.signalCode === null && !!c.pid;
}

/** Write input to its stdin and close it; resolve once it has ended (killed after timeoutMs). */
export function feed(c: ChildProcess, input: Buffer | string, timeoutMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const stderr: Buffer[] = [];
    let timedOut = false;
    const t = setTimeout(() => {
      timedOut = true;
      try { process.kill(-c.pid!, 'SIGKILL'); } catch { c.kill('SIGKILL'); }
    }, timeoutMs);
    let settled = false;
    const done = (o: Pick<Outcome, 'code' | 'signal' | 'error'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      resolve({ ...o, stderr: Buffer.concat(stderr), timedOut });
    };
    c.stderr?.on('data', (d: Buffer) => stderr.push(d));
    c.once('error', (error: NodeJS.ErrnoException) => done({ code: null, signal: null, error }));
    c.once('close', (code, signal) => done({ code, signal }));
    c.stdin?.on('error', () => { /* it died: close says how */ });
    c.stdin?.end(input);
  });
}

/** One command's process, started ahead on request and taken once; taken when none waits, one starts then. */
export class StartedAhead {
  private waiting: ChildProcess | null = null;

  constructor(private readonly cmd: string, private readonly args: string[]) {}

  /** Start it now (a template's guest), unless one already waits. */
  start(): void {
    this.waiting ??= startWaiting(this.cmd, this.args);
  }

  /** Let the waiting process go, if one waits (its stdin ends: it exits); it is returned. */
  release(): ChildProcess | null {
    const c = this.waiting;
    this.waiting = null;
    c?.stdin?.end();
    return c;
  }

  /** The waiting process if it still waits, else one started now; the next take starts anew. */
  take(): ChildProcess {
    const c = this.waiting;
    this.waiting = null;
    return usable(c) ? c : startWaiting(this.cmd, this.args);
  }
}
