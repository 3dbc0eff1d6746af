// The guest's tasks, for now plain processes (no runc in the guest yet: the bundle's rootfs
// has no way into the VM before a shared filesystem exists). Create/Start keep their
// meaning: Create spawns a shell that waits on fd 3, so the pid exists at Create and the
// program runs only when Start writes to that pipe; the shell then execs the program
// (same pid). Output is queued for the host's long-polling ReadStdout/ReadStderr.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../common/errors.js';

export type TaskStatus = 'created' | 'running' | 'stopped';

export interface TaskProcess {
  args: string[];
  env?: string[];
  cwd?: string;
}

/** One output stream: chunks not yet read, EOF, and who is waiting for either. */
class OutQueue {
  chunks: Buffer[] = [];
  size = 0;
  eof = false;
  private waiters: Array<() => void> = [];
  // a host that never reads must not make the guest run out of memory: keep the newest 4 MiB
  private static readonly CAP = 4 << 20;

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > OutQueue.CAP && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    this.wake();
  }
  end(): void { this.eof = true; this.wake(); }
  private wake(): void { for (const w of this.waiters.splice(0)) w(); }

  /** Resolve with what is queued, waiting for data or EOF first when nothing is. */
  async read(signal?: AbortSignal): Promise<{ data: Buffer; eof: boolean }> {
    if (!this.chunks.length && !this.eof) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    const data = Buffer.concat(this.chunks.splice(0));
    this.size = 0;
    return { data, eof: this.eof && !data.length };
  }
}

export class Task {
  status: TaskStatus = 'created';
  exitStatus = 0;
  exitedAt: Date | null = null;
  readonly stdout = new OutQueue();
  readonly stderr = new OutQueue();
  stdin: Writable | null = null;
  private startPipe: Writable;
  private exited: Promise<void>;

  constructor(readonly id: string, readonly bundle: string, readonly child: ChildProcess, readonly withStdin: boolean) {
    this.startPipe = child.stdio[3] as Writable;
    this.stdin = withStdin ? child.stdin : null;
    child.stdout!.on('data', (b: Buffer) => this.stdout.push(b)).on('end', () => this.stdout.end());
    child.stderr!.on('data', (b: Buffer) => this.stderr.push(b)).on('end', () => this.stderr.end());
    this.exited = new Promise((resolve) => child.once('exit', (code, sig) => {
      this.status = 'stopped';
      // the shell convention containerd reports too: 128 + signal number
      this.exitStatus = code ?? 128 + (sig ? signalNumber(sig) : 0);
      this.exitedAt = new Date();
      resolve();
    }));
  }

  get pid(): number { return this.child.pid ?? 0; }

  start(): void {
    this.startPipe.end('\n');
    this.status = 'running';
  }

  async wait(): Promise<void> { await this.exited; }
}

function signalNumber(sig: NodeJS.Signals): number {
  const n: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };
  return n[sig] ?? 0;
}

export class TaskTable {
  private tasks = new Map<string, Task>();

  create(id: string, bundle: string, p: TaskProcess, withStdin: boolean): Task {
    if (!id) throw invalidArgument('create: the task id is empty');
    if (this.tasks.has(id)) throw alreadyExists(`task ${id} already exists`);
    if (!Array.isArray(p.args) || !p.args.length) throw invalidArgument(`create ${id}: the process has no args`);
    const env = Object.fromEntries((p.env ?? ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']).map((kv) => {
      const i = kv.indexOf('=');
      return i < 0 ? [kv, ''] : [kv.slice(0, i), kv.slice(i + 1)];
    }));
    const child = spawn('/bin/sh', ['-c', 'read _ <&3; exec 3<&-; exec "$@"', 'sh', ...p.args], {
      cwd: p.cwd || '/', env, stdio: [withStdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    child.on('error', () => { /* reported through exit */ });
    // a process killed with bytes still unread in one of its pipes resets our end
    // (ECONNRESET): that is its exit, reported through 'exit', not a crash of the agent
    for (const s of child.stdio) (s as NodeJS.EventEmitter | null)?.on('error', () => {});
    const t = new Task(id, bundle, child, withStdin);
    this.tasks.set(id, t);
    return t;
  }

  get(id: string): Task {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }

  delete(id: string): Task {
    const t = this.get(id);
    if (t.status !== 'stopped') throw failedPrecondition(`task ${id} is ${t.status}: kill it first`);
    this.tasks.delete(id);
    return t;
  }

  all(): Task[] { return [...this.tasks.values()]; }
}
