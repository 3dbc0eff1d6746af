// What every tsulad-side client of the shim v2 Task API (containerd.task.v2.Task over ttrpc)
// shares, whoever serves the task: a shim daemon of our own (ShimV2Runtime) or a sandboxer
// (SandboxerRuntime). Per container: a record that outlives tsulad (<stateDir>/tasks), stdio
// FIFOs in the bundle pumped into the k8s-file log (ProcessIO), the exit from Wait. The
// subclass says how a task gets an address, what lets go of it, and what a lost one means.
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { CreateRequest, ExecHandle, ExecRequest, Runtime, RuntimeState, StdioStream } from '../types.js';
import type { LinuxResources, Spec } from '../../oci/types.js';
import type { CgroupStats } from '../../cgroups/index.js';
import { hostOomKilled } from '../host-oom.js';
import { fromMetricsAny } from '../../cgroups/metrics.js';
import { Status } from '../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import { failedPrecondition, isKind, notFound, errorMessage } from '../../common/errors.js';
import { writeJsonAtomic } from '../../common/fsutil.js';
import type { Logger } from '../../common/log.js';
import { readAddress } from './binary.js';
import { ProcessIO, makeFifos } from './io.js';
import { K8sLogWriter } from './klog.js';
import { ShimTask, TaskRecords, type ExecEntry, type TaskRecord } from './task.js';
import { runExec } from './exec.js';
import { statusName, signalNumber, clampDim } from './util.js';
import { SingleFlight } from '../../common/singleflight.js';

export type ExitCb = (id: string, code: number, at: Date) => void;

export interface TaskApiRuntimeOptions {
  /** The runtime's name in tsula */
  name: string;
  /** <state>/runtime/<name>: task records that outlive tsulad */
  stateDir: string;
  /** CreateTaskRequest.options, e.g. containerd.runc.v1.Options */
  taskOptions?: { typeUrl: string; value: Uint8Array };
  log?: Logger;
}

/** What provision() leaves for create: the shim's log FIFO, read from before the shim starts. */
export interface Provisioned {
  shimLog?: net.Socket | null;
}

export const CALL = { timeoutMs: 30_000 };
const LINUX_RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';
/** How long an exit waits for the rest of the output (a grandchild may hold stdout). */
const DRAIN_MS = 2_000;

export abstract class TaskApiRuntime implements Runtime {
  readonly name: string;
  protected readonly records: TaskRecords;
  protected readonly log: Logger | undefined;
  protected tasks = new Map<string, ShimTask>();
  /** One connection attempt per task at a time: concurrent callers share it. */
  private connecting = new SingleFlight<ShimTask | null>();
  private execs = new Map<string, ExecEntry>();
  private exits = new Map<string, { code: number; at: Date; delivered: boolean }>();
  /** Tasks a TaskOOM event was published for since their start (containerd's OOMKilled). */
  private readonly ooms = new Set<string>();
  private readonly oomWatchers = new Map<string, () => void>();
  private cb: ExitCb | null = null;
  protected closing = false;

  constructor(private readonly opts: TaskApiRuntimeOptions) {
    this.name = opts.name;
    this.log = opts.log;
    this.records = new TaskRecords(path.join(opts.stateDir, 'tasks'));
  }

  /** Make way for a new task with req.id (a stale one, one that exists). */
  protected abstract claim(req: CreateRequest): Promise<void>;
  /** Write the bundle and get a task service for it: set rec.address (and any extras to keep). */
  protected abstract provision(req: CreateRequest, rec: TaskRecord): Promise<Provisioned>;
  /** Let go of what served a task, after its Delete or a failed create. */
  protected abstract release(t: ShimTask): Promise<void>;
  /** Drop a task's files and record (and whatever was made for it alone). */
  protected abstract forget(rec: TaskRecord): Promise<void>;
  /** delete() could not reach the task: err is Delete's failure, null when nothing answers. Throw to fail. */
  protected abstract unreachable(id: string, bundle: string, rec: TaskRecord | null, err: unknown): Promise<void>;
  /** The Wait of t failed: its connection is gone. */
  protected abstract waitLost(t: ShimTask, err: unknown): Promise<void> | void;
  /** watchExits found a record whose task nobody answers for. */
  protected abstract orphan(rec: TaskRecord): Promise<void>;
  /** Before tasks a previous tsulad left are adopted (there are some). */
  protected async adopting(): Promise<void> {}

  async create(req: CreateRequest): Promise<number> {
    await this.claim(req);
    this.exits.delete(req.id);
    const ioPaths = ProcessIO.paths(req.bundle, { stdin: req.stdin, output: true, terminal: req.terminal });
    const rec: TaskRecord = {
      id: req.id, bundle: req.bundle, address: '', terminal: req.terminal, stdin: req.stdin,
      stdinOnce: req.stdinOnce, logPath: req.logPath, ...(req.logSizeMax ? { logSizeMax: req.logSizeMax } : {}), io: ioPaths,
    };
    let p: Provisioned | null = null;
    let task: ShimTask | null = null;
    let io: ProcessIO | null = null;
    try {
      p = await this.provision(req, rec);
      await this.records.save(rec);
      task = await ShimTask.connect(rec);
      task.shimLog = p.shimLog ?? null;
      io = await ProcessIO.openNew(ioPaths, req.terminal, new K8sLogWriter(req.logPath, req.logSizeMax));
      task.io = io;
      const res = await task.api.create({
        id: req.id, bundle: req.bundle, terminal: req.terminal,
        stdin: ioPaths.stdin, stdout: ioPaths.stdout, stderr: ioPaths.stderr,
        options: this.opts.taskOptions,
      }, { timeoutMs: 60_000 });
      io.start();
      this.tasks.set(req.id, task);
      return res.pid;
    } catch (e) {
      if (task) await this.release(task).catch(() => {});
      else p?.shimLog?.destroy();
      io?.close();
      await this.forget(rec);
      throw e;
    }
  }

  /** config.json and the FIFOs (extra ones first) a new task's bundle needs. */
  protected async writeBundle(bundle: string, spec: Spec, rec: TaskRecord, extraFifos: string[] = []): Promise<void> {
    await writeJsonAtomic(path.join(bundle, 'config.json'), spec);
    await makeFifos([...extraFifos, rec.io.stdin, rec.io.stdout, rec.io.stderr].filter(Boolean));
  }

  async start(id: string): Promise<void> {
    const t = await this.task(id);
    this.ooms.delete(id);
    this.watch(t); // Start ∥ Wait, as containerd does: no exit can slip between them
    await t.api.start({ id }, CALL);
  }

  /** Wait for the init process' exit in the background and report it once. */
  private watch(t: ShimTask): void {
    if (t.waiting) return;
    t.waiting = true;
    t.api.wait({ id: t.rec.id }).then(async (w) => {
      await t.io?.drain(DRAIN_MS);
      await t.io?.closeLog();
      this.report(t, w.exitStatus, w.exitedAt ? timestampDate(w.exitedAt) : new Date());
    }, (e) => this.waitLost(t, e));
  }

  protected report(t: ShimTask, code: number, at: Date): void {
    if (t.exitReported) return;
    t.exitReported = true;
    // before watchExits the engine isn't listening yet: keep it for watchExits to deliver
    this.exits.set(t.rec.id, { code, at, delivered: !!this.cb });
    this.cb?.(t.rec.id, code, at);
  }

  /** A task event the shim or sandboxer published (TTRPC_ADDRESS): a TaskOOM marks the task. */
  taskEvent(topic: string, containerId: string): void {
    if (topic !== '/tasks/oom' || !this.tasks.has(containerId)) return;
    this.ooms.add(containerId);
    this.oomWatchers.get(containerId)?.();
  }

  /** Each TaskOOM of the task as it arrives (the sandboxer sends one per kill, as runc-v2). */
  watchOom(id: string, _bundle: string, cb: () => void): () => void {
    this.oomWatchers.set(id, cb);
    return () => { if (this.oomWatchers.get(id) === cb) this.oomWatchers.delete(id); };
  }

  /**
   * A TaskOOM came for the task (a sandboxer sends it before the exit; a VM's cgroup is in
   * the guest), or the host cgroup its spec names counted a kill (runc-v2 sends its TaskOOM
   * on its own time, maybe after the exit).
   */
  async oomKilled(id: string, bundle: string): Promise<boolean> {
    return this.ooms.has(id) || hostOomKilled(bundle, id);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await (await this.task(id)).api.kill({ id, signal: signalNumber(signal), all }, CALL);
  }

  async pause(id: string): Promise<void> {
    await (await this.task(id)).api.pause({ id }, CALL);
  }

  async resume(id: string): Promise<void> {
    await (await this.task(id)).api.resume({ id }, CALL);
  }

  async update(id: string, _bundle: string, resources: LinuxResources): Promise<void> {
    // containerd's typeurl for specs.LinuxResources: JSON in an Any
    const value = Buffer.from(JSON.stringify(resources));
    await (await this.task(id)).api.update({ id, resources: { typeUrl: LINUX_RESOURCES_TYPE_URL, value }, annotations: {} }, CALL);
  }

  async delete(id: string, bundle: string, force: boolean): Promise<void> {
    const rec = await this.recordOf(id, bundle);
    const t = await this.tryTask(id, bundle);
    if (t) {
      try {
        if (force) await this.forceStop(t);
        await t.api.delete({ id }, CALL).catch((e) => { if (!isKind(e, 'NotFound')) throw e; });
        await this.release(t);
      } catch (e) {
        await this.unreachable(id, bundle, rec, e);
      }
    } else {
      await this.unreachable(id, bundle, rec, null);
    }
    this.tasks.get(id)?.detach();
    this.tasks.delete(id);
    this.exits.delete(id);
    this.ooms.delete(id);
    for (const [dir, e] of this.execs) if (e.containerId === id) { e.io?.close(); this.execs.delete(dir); }
    if (rec) await this.forget(rec);
  }

  private async forceStop(t: ShimTask): Promise<void> {
    const id = t.rec.id;
    const st = await t.api.state({ id }, CALL).catch(() => null);
    if (!st || st.status === Status.STOPPED) return;
    if (st.status === Status.PAUSED || st.status === Status.PAUSING) await t.api.resume({ id }, CALL).catch(() => {});
    await t.api.kill({ id, signal: os.constants.signals.SIGKILL, all: true }, CALL).catch(() => {});
    await t.api.wait({ id }, { timeoutMs: 10_000 }).catch(() => {});
  }

  async state(id: string): Promise<RuntimeState | null> {
    const t = await this.tryTask(id);
    if (!t) return null;
    try {
      const s = await t.api.state({ id }, CALL);
      return { status: statusName(s.status), pid: s.pid };
    } catch (e) {
      if (isKind(e, 'NotFound') || isKind(e, 'Unavailable') || isKind(e, 'DeadlineExceeded')) return null;
      throw e;
    }
  }

  async pids(id: string): Promise<number[]> {
    const r = await (await this.task(id)).api.pids({ id }, CALL);
    return r.processes.map((p) => p.pid);
  }

  /** The task's Stats: a cgroups Metrics (runc-v2's, the sandboxer's, a guest agent's). */
  async stats(id: string): Promise<CgroupStats | null> {
    const r = await (await this.task(id)).api.stats({ id }, CALL);
    return r.stats ? fromMetricsAny(r.stats) : null;
  }

  async attach(id: string): Promise<StdioStream> {
    const t = await this.task(id);
    if (!t.io) throw failedPrecondition(`container ${id.slice(0, 12)}: its output is not held by this tsulad`);
    return t.io.attach(() => { if (t.rec.stdinOnce) this.closeStdin(t, ''); });
  }

  /**
   * CRI's ReopenContainerLog: tsulad writes the container's log from the task's FIFOs (as
   * containerd does, whatever serves the task), so tsulad reopens it: resolves once a file is
   * at the log path, and later output goes there.
   */
  async reopenLog(id: string): Promise<void> {
    const t = await this.task(id);
    if (!t.io) throw failedPrecondition(`container ${id.slice(0, 12)}: its output is not held by this tsulad`);
    await t.io.reopenLog();
  }

  private closeStdin(t: ShimTask, execId: string, io: ProcessIO | null = t.io): void {
    if (!io?.hasStdin) return;
    // as ctr: CloseIO once our writes are in the FIFO, else the shim may close the process'
    // stdin before it copied them
    void io.closeStdin().then(() => t.api.closeIO({ id: t.rec.id, execId, stdin: true }, CALL)).catch(() => {});
  }

  async resize(id: string, _bundle: string, height: number, width: number): Promise<void> {
    await (await this.task(id)).api.resizePty({ id, width: clampDim(width), height: clampDim(height) }, CALL);
  }

  async exec(req: ExecRequest): Promise<ExecHandle> {
    const t = await this.task(req.containerId);
    const entry: ExecEntry = { containerId: req.containerId, execId: req.execId, io: null };
    this.execs.set(req.dir, entry);
    try {
      return await runExec(t, req, entry, {
        drainMs: DRAIN_MS,
        closeStdin: (io) => this.closeStdin(t, req.execId, io),
        done: () => { this.execs.delete(req.dir); },
      });
    } catch (e) {
      this.execs.delete(req.dir);
      throw e;
    }
  }

  async resizeExec(dir: string, height: number, width: number): Promise<void> {
    const e = this.execs.get(dir);
    if (!e) throw notFound('exec process is not running');
    const t = await this.task(e.containerId);
    await t.api.resizePty({ id: e.containerId, execId: e.execId, width: clampDim(width), height: clampDim(height) }, CALL);
  }

  /** Adopt the tasks of a previous tsulad, then deliver the exits nobody heard yet. */
  async watchExits(cb: ExitCb): Promise<void> {
    this.cb = cb;
    const recs = await this.records.list();
    if (recs.length) await this.adopting();
    for (const rec of recs) {
      const t = await this.tryTask(rec.id, rec.bundle).catch(() => null);
      if (!t) { await this.orphan(rec); continue; }
      await this.adopt(t).catch((e) => this.log?.warn('adopting task failed', { id: rec.id, err: errorMessage(e) }));
    }
    for (const [id, e] of this.exits) {
      if (e.delivered) continue;
      e.delivered = true;
      cb(id, e.code, e.at);
    }
  }

  /** Take over a task a previous tsulad started: output, shim log, exit. */
  private async adopt(t: ShimTask): Promise<void> {
    if (t.waiting) return;
    const st = await t.api.state({ id: t.rec.id }, CALL);
    await this.readOutputAgain(t, st.status);
    t.followShimLog(this.log); // a no-op without a <bundle>/log FIFO (a sandboxer's task)
    this.watch(t);
  }

  /**
   * Connect again to a task whose connection was lost (its sandboxer was restarted): Wait
   * again, and read its output again when our ends of its FIFOs saw EOF with the old writer.
   * False when the task can't be reached.
   */
  protected async reconnect(id: string): Promise<boolean> {
    const t = await this.tryTask(id);
    if (!t) return false;
    if (t.exitReported) return true;
    await this.readOutputAgain(t);
    this.watch(t);
    return true;
  }

  /**
   * Our ends of a task's output FIFOs, opened again into its log when we have none (a task
   * a previous tsulad started) or they saw EOF (their writer restarted), unless it stopped.
   * `status`: the task's, when the caller asked already.
   */
  private async readOutputAgain(t: ShimTask, status?: Status): Promise<void> {
    if ((t.io && !t.io.isEnded) || !t.rec.logPath) return;
    if ((status ?? (await t.api.state({ id: t.rec.id }, CALL)).status) === Status.STOPPED) return;
    t.io = await ProcessIO.reopen(t.rec.io, t.rec.terminal, new K8sLogWriter(t.rec.logPath, t.rec.logSizeMax));
    t.io.start();
  }

  async exitStatus(id: string): Promise<{ code: number; at: Date } | null> {
    const known = this.exits.get(id);
    if (known) return { code: known.code, at: known.at };
    const t = await this.tryTask(id).catch(() => null);
    if (!t) return null;
    const st = await t.api.state({ id }, CALL).catch(() => null);
    if (st?.status !== Status.STOPPED) return null;
    return { code: st.exitStatus, at: st.exitedAt ? timestampDate(st.exitedAt) : new Date() };
  }

  async monitorAlive(id: string, bundle: string): Promise<boolean> {
    const t = await this.tryTask(id, bundle).catch(() => null);
    if (!t) return false;
    return t.api.state({ id }, CALL).then(() => true, () => false);
  }

  close(): void {
    this.closing = true;
    for (const t of this.tasks.values()) t.detach();
    for (const e of this.execs.values()) e.io?.close();
    this.tasks.clear();
    this.execs.clear();
  }

  /** The task, connected; NotFound when this runtime has no such task. */
  protected async task(id: string): Promise<ShimTask> {
    const t = await this.tryTask(id);
    if (!t) throw notFound(`task ${id.slice(0, 12)} not found in runtime ${this.name}`);
    return t;
  }

  /** The task from memory, else from its record (or bundle) by connecting to its address. */
  protected async tryTask(id: string, bundle?: string): Promise<ShimTask | null> {
    const have = this.tasks.get(id);
    if (have && !have.client.closed) return have;
    return this.connecting.do(id, async () => {
      const rec = await this.recordOf(id, bundle);
      if (!rec?.address) return null;
      try {
        const t = await ShimTask.connect(rec, 2_000);
        // a new connection to the same task: our FIFOs and the reported exit stay
        if (have) { t.io = have.io; t.exitReported = have.exitReported; }
        this.tasks.set(id, t);
        // a Wait lost with the old connection (a sandboxer killed and restarted) is made
        // again on this one: an exit that happened meanwhile (a VM that died with it) is
        // reported now, not never
        if (have && !have.exitReported && !have.detached && !this.closing) this.watch(t);
        return t;
      } catch {
        return null;
      }
    });
  }

  /** The task's record, else one made from <bundle>/address (a task started elsewhere). */
  protected async recordOf(id: string, bundle?: string): Promise<TaskRecord | null> {
    const rec = await this.records.load(id);
    if (rec || !bundle) return rec;
    const address = await readAddress(bundle);
    if (!address) return null;
    return { id, bundle, address, terminal: false, stdin: false, stdinOnce: false, logPath: '', io: { stdin: '', stdout: '', stderr: '' } };
  }
}
