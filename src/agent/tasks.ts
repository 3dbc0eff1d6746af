// The guest's containers: conmon + an OCI runtime (crun, or runc) inside the VM, as the host runs them
// (RuncConmonRuntime), so exit codes, signals, TTYs and exec behave the same in both places.
// What differs is where stdio goes: into queues the host drains with long-polling reads over
// the agent channel (kata's ReadStdout/WriteStdin), since no FIFO crosses the VM boundary;
// without a terminal the process' stdio are pipes to the agent, which stops reading them
// while the host is behind (the process waits, as with a FIFO nobody reads).
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../common/crypto.js';
import type { LinuxResources, Spec, Process } from '../oci/types.js';
import type { ExecHandle, StdioStream } from '../runtime/types.js';
import { detectCgroups, specCgroupPath, type CgroupLayout, type CgroupStats } from '../cgroups/index.js';
import { watchOomKills } from '../cgroups/oom-watch.js';
import { alreadyExists, errorMessage, failedPrecondition, invalidArgument, notFound } from '../common/errors.js';
import { Phases } from '../common/phases.js';
import { removeTree } from '../common/fsutil.js';
import { RuncConmonRuntime, type Logger } from './deps.js';
import { GUEST_TASKS_DIR, GUEST_RUNC_STATE, guestOciRuntime } from './paths.js';
import { PodNamespaces } from './pod-namespaces.js';
import { Backpressure } from '../runtime/backpressure.js';

export type TaskStatus = 'created' | 'running' | 'paused' | 'stopped';

/** One output stream: chunks not yet read, EOF, and who is waiting for either. */
export class OutQueue {
  private chunks: Buffer[] = [];
  private size = 0;
  private eof = false;
  private waiters: Array<() => void> = [];
  // a host that reads slower than the process writes: with a pausable stream the process
  // waits past 64 KiB queued (a pipe's worth: nothing is lost, and little is left in flight
  // when it exits); else the newest 4 MiB are kept, so the guest does not run out of memory
  private static readonly HIGH = 64 << 10;
  private static readonly CAP = 4 << 20;

  /** `flow`: the writer's gate, told when this queue is full and when the host read it. */
  constructor(private readonly flow: Backpressure<OutQueue> | null = null) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    if (this.flow) {
      if (this.size > OutQueue.HIGH && !this.flow.holds(this)) this.flow.hold(this);
    } else {
      while (this.size > OutQueue.CAP && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
    }
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
    this.flow?.release(this);
    return { data, eof: this.eof && !data.length };
  }
}

/** A process' stdio as the host sees it: two queues to drain and a stdin to write. */
export class ProcessIo {
  readonly stdout: OutQueue;
  readonly stderr: OutQueue;
  constructor(private readonly stream: StdioStream | null, readonly withStdin: boolean) {
    const flow = Backpressure.of<OutQueue>(stream);
    this.stdout = new OutQueue(flow);
    this.stderr = new OutQueue(flow);
    if (!stream) { this.stdout.end(); this.stderr.end(); return; }
    stream.onOutput((s, d) => (s === 2 ? this.stderr : this.stdout).push(Buffer.from(d)));
    stream.onEnd(() => { this.stdout.end(); this.stderr.end(); });
  }
  write(d: Buffer): void {
    if (!this.withStdin || !this.stream) throw failedPrecondition('the process was created without stdin');
    this.stream.write(d);
  }
  closeStdin(): void { this.stream?.closeStdin(); }
  close(): void { this.stream?.close(); this.stdout.end(); this.stderr.end(); }
}

interface Exit { status: number; at: Date | null }

class Proc {
  status: TaskStatus = 'created';
  pid = 0;
  exit: Exit = { status: 0, at: null };
  io: ProcessIo | null = null;
  private waiters: Array<() => void> = [];
  finished(status: number, at: Date): void {
    if (this.status === 'stopped') return;
    this.status = 'stopped';
    this.exit = { status, at };
    for (const w of this.waiters.splice(0)) w();
  }
  wait(signal?: AbortSignal): Promise<void> {
    if (this.status === 'stopped') return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

export class GuestExec extends Proc {
  handle: ExecHandle | null = null;
  constructor(readonly execId: string, readonly dir: string, readonly process: Process, readonly stdin: boolean, readonly attach: boolean) { super(); }
}

export class GuestTask extends Proc {
  readonly execs = new Map<string, GuestExec>();
  /** OOM kills heard in the task's cgroup since its create. */
  ooms = 0;
  stopOomWatch: (() => void) | null = null;
  private oomWaiters: Array<() => void> = [];
  constructor(readonly id: string, readonly bundle: string, readonly dir: string) { super(); }
  oomHeard(): void {
    this.ooms++;
    for (const w of this.oomWaiters.splice(0)) w();
  }
  override finished(status: number, at: Date): void {
    super.finished(status, at);
    for (const w of this.oomWaiters.splice(0)) w();
  }
  /** Resolves at the next OOM kill, the task's exit, or the abort. */
  oomOrExit(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.oomWaiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }
}

export interface CreateTaskOptions {
  id: string;
  bundle: string;
  spec: Spec;
  terminal: boolean;
  stdin: boolean;
}

export interface AddExecOptions { process: Process; stdin: boolean; attach: boolean }

export interface TaskTableOptions {
  log?: Logger;
  /** The guest's defaults; tests run the agent on the host with their own dirs. */
  runtime?: RuncConmonRuntime;
  tasksDir?: string;
}

/** conmon + the guest's OCI runtime (crun or runc: paths.ts), chosen when the agent starts. */
function guestRuntime(log?: Logger): RuncConmonRuntime {
  const oci = guestOciRuntime(readFileSync('/proc/cmdline', 'utf8'), existsSync);
  return new RuncConmonRuntime({ name: oci.name, runtimePath: oci.path, conmonPath: '/usr/bin/conmon', stateDir: GUEST_RUNC_STATE, ...(log ? { log } : {}) });
}

export class TaskTable {
  private tasks = new Map<string, GuestTask>();
  readonly runtime: RuncConmonRuntime;
  private readonly log?: Logger;
  private readonly tasksDir: string;
  private readonly podNs: PodNamespaces;
  private layout?: Promise<CgroupLayout>;

  constructor(o: TaskTableOptions = {}) {
    this.log = o.log;
    this.tasksDir = o.tasksDir ?? GUEST_TASKS_DIR;
    this.runtime = o.runtime ?? guestRuntime(this.log);
    this.podNs = new PodNamespaces(this.log);
  }

  /** Exits come from conmon's exit files, as on the host. */
  async init(): Promise<void> {
    // a name no task has (conmon's temporary exit file) is not kept as seen
    await this.runtime.watchExits((id, code, at) => { if (!this.tasks.has(id)) return false; void this.onExit(id, code, at); return true; });
  }

  private async onExit(id: string, code: number, at: Date): Promise<void> {
    const t = this.tasks.get(id);
    if (!t) return;
    t.finished(code, at);
  }

  get(id: string): GuestTask {
    const t = this.tasks.get(id);
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }

  proc(id: string, execId = ''): GuestTask | GuestExec {
    const t = this.get(id);
    if (!execId) return t;
    const e = t.execs.get(execId);
    if (!e) throw notFound(`exec ${execId} of task ${id} not found`);
    return e;
  }

  async create(o: CreateTaskOptions): Promise<GuestTask> {
    // the sandboxer's task keys; conmon's exit files are watched by that shape
    if (!/^[0-9a-f]{64}$/.test(o.id)) throw invalidArgument(`invalid task id "${o.id}": 64 hex digits expected`);
    if (this.tasks.has(o.id)) throw alreadyExists(`task ${o.id} already exists`);
    if (!o.spec.process?.args?.length) throw invalidArgument(`create ${o.id}: the process has no args`);
    const dir = path.join(this.tasksDir, o.id);
    const t = new GuestTask(o.id, o.bundle, dir);
    this.tasks.set(o.id, t);
    const ph = new Phases('create', o.id);
    try {
      await removeTree(dir);
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      ph.mark('prepare');
      // the host keeps the container's log: conmon's own copy in guest RAM would only grow
      const spec = await this.podNs.resolve(o.spec, this.livePids());
      t.pid = await this.runtime.create({
        id: o.id, bundle: dir, spec, logPath: '/dev/null', terminal: o.terminal, stdin: o.stdin, stdinOnce: true,
        passthrough: 'pipes', // (without a terminal: the host's slow reader makes the process wait)
      });
      ph.mark('runtime-create');
      t.io = new ProcessIo(await this.runtime.attach(o.id, dir), o.stdin);
      ph.mark('attach');
      t.stopOomWatch = await this.watchOom(t, spec);
      if (this.log) ph.done(this.log);
    } catch (e) {
      t.io?.close();
      t.stopOomWatch?.();
      await this.runtime.delete(o.id, dir, true).catch(() => {});
      this.tasks.delete(o.id);
      await removeTree(dir).catch(() => {});
      throw e;
    }
    return t;
  }

  /**
   * The task's OOM kills as they happen: its cgroup's memory.events (the guest is cgroup v2,
   * where conmon's `oom` file is not written here), else conmon's file (an agent under test
   * on a v1 host).
   */
  private async watchOom(t: GuestTask, spec: Spec): Promise<() => void> {
    const cg = specCgroupPath(spec.linux?.cgroupsPath, t.id);
    this.layout ??= detectCgroups();
    const layout = await this.layout.catch((e: unknown) => {
      this.layout = undefined; // asked again at the next create
      this.log?.warn('cannot read the guest\'s cgroups: OOM kills are heard through conmon only', { id: t.id, err: errorMessage(e) });
      return null;
    });
    const stop = cg && layout ? await watchOomKills(layout, cg, () => t.oomHeard()).catch(() => null) : null;
    return stop ?? this.runtime.watchOom(t.id, t.dir, () => t.oomHeard());
  }

  /** Pids of the running tasks: the namespace paths a container may name (its pod's pause). */
  private livePids(): Set<number> {
    return new Set([...this.tasks.values()].filter((t) => t.status === 'running' || t.status === 'paused').map((t) => t.pid));
  }

  async start(id: string, execId: string): Promise<number> {
    const t = this.get(id);
    if (execId) return this.startExec(t, this.proc(id, execId) as GuestExec);
    if (t.status !== 'created') throw failedPrecondition(`task ${id} is ${t.status}, not created`);
    await this.runtime.start(id);
    if (t.status === 'created') t.status = 'running';
    return t.pid;
  }

  addExec(id: string, execId: string, o: AddExecOptions): void {
    const t = this.get(id);
    if (!execId || execId.includes('/')) throw invalidArgument(`invalid exec id "${execId}"`);
    if (t.execs.has(execId)) throw alreadyExists(`exec ${execId} of task ${id} already exists`);
    if (t.status === 'stopped') throw failedPrecondition(`task ${id} is stopped`);
    if (!o.process?.args?.length) throw invalidArgument(`exec ${execId}: the process has no args`);
    const dir = path.join(t.dir, 'execs', sha256Hex(execId).slice(0, 16));
    t.execs.set(execId, new GuestExec(execId, dir, o.process, o.stdin, o.attach));
  }

  private async startExec(t: GuestTask, e: GuestExec): Promise<number> {
    if (e.status !== 'created') throw failedPrecondition(`exec ${e.execId} is ${e.status}`);
    if (t.status !== 'running') throw failedPrecondition(`task ${t.id} is ${t.status}, not running`);
    await fs.mkdir(e.dir, { recursive: true, mode: 0o700 });
    e.status = 'running';
    try {
      const h = await this.runtime.exec({ containerId: t.id, execId: e.execId, dir: e.dir, process: e.process, attach: e.attach, stdin: e.stdin, passthrough: 'pipes' });
      e.handle = h;
      e.pid = h.pid;
      e.io = new ProcessIo(h.stdio, e.stdin);
      void h.exited.then((code) => e.finished(code, new Date()));
    } catch (err) {
      e.status = 'created';
      throw err;
    }
    return e.pid;
  }

  async kill(id: string, execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.proc(id, execId);
    if (p.status === 'stopped') throw notFound(`process ${execId || id} already finished`);
    if (execId) {
      try { process.kill(p.pid, signal); } catch (e) { throw notFound(`process ${execId}: ${(e as Error).message}`); }
      return;
    }
    await this.runtime.kill(id, String(signal), all);
  }

  async resize(id: string, execId: string, height: number, width: number): Promise<void> {
    const t = this.get(id);
    const e = execId ? (this.proc(id, execId) as GuestExec) : null;
    try {
      if (e) await this.runtime.resizeExec(e.dir, height, width);
      else await this.runtime.resize(id, t.dir, height, width);
    } catch (err) {
      // a resize racing the process' exit is a no-op
      if ((e ?? t).status === 'running') throw err;
    }
  }

  async pause(id: string, pause: boolean): Promise<void> {
    const t = this.get(id);
    if (pause) await this.runtime.pause(id); else await this.runtime.resume(id);
    if (t.status !== 'stopped') t.status = pause ? 'paused' : 'running';
  }

  async update(id: string, resources: LinuxResources): Promise<void> {
    const t = this.get(id);
    if (t.status === 'stopped') throw failedPrecondition(`task ${id} is stopped: it has no cgroup to update`);
    await this.runtime.update(id, t.dir, resources);
  }

  /** The OOM killer acted in the task's cgroup (conmon's word, or the cgroup's count). */
  async oomKilled(id: string): Promise<boolean> {
    const t = this.get(id);
    return (await this.runtime.oomKilled?.(id, t.dir).catch(() => false)) ?? false;
  }

  /** WaitOom: the task's OOM kills once they pass `seen`, or once it stopped. */
  async waitOom(id: string, seen: number, signal?: AbortSignal): Promise<{ count: number; stopped: boolean }> {
    const t = this.get(id);
    if (t.ooms <= seen && t.status !== 'stopped') await t.oomOrExit(signal);
    return { count: t.ooms, stopped: t.status === 'stopped' };
  }

  async pids(id: string): Promise<number[]> {
    const t = this.get(id);
    return t.status === 'stopped' ? [] : this.runtime.pids(id);
  }

  /** The task's guest cgroup; null once it stopped (its cgroup is gone). */
  async stats(id: string): Promise<CgroupStats | null> {
    const t = this.get(id);
    return t.status === 'stopped' ? null : this.runtime.stats(id, t.dir);
  }

  async delete(id: string, execId: string): Promise<Proc> {
    const t = this.get(id);
    if (execId) {
      const e = this.proc(id, execId) as GuestExec;
      if (e.status === 'running') throw failedPrecondition(`exec ${execId} is still running`);
      e.io?.close();
      t.execs.delete(execId);
      await removeTree(e.dir);
      return e;
    }
    if (t.status === 'running' || t.status === 'paused') throw failedPrecondition(`cannot delete ${t.status} task ${id}: kill it first`);
    t.io?.close();
    t.stopOomWatch?.();
    for (const e of t.execs.values()) e.io?.close();
    await this.runtime.delete(id, t.dir, true);
    await removeTree(t.dir);
    this.tasks.delete(id);
    if (t.status !== 'stopped') t.finished(137, new Date());
    this.log?.debug('task deleted', { id });
    return t;
  }

  all(): GuestTask[] { return [...this.tasks.values()]; }

  close(): void {
    this.runtime.close();
    this.podNs.close();
    for (const t of this.tasks.values()) { t.io?.close(); t.stopOomWatch?.(); }
  }
}
