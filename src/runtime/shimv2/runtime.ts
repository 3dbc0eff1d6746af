// Runtime io.containerd.<name>.v2: tsulad as a shim v2 client (iSulad's lib-shim-v2 role).
// Per container: `containerd-shim-<name>-v2 start` leaves a shim daemon that owns the
// container; we speak containerd.task.v2.Task to it over ttrpc, hold the stdio FIFOs, copy
// output into the k8s-file log, and learn the exit from Wait. The shim survives tsulad;
// the next tsulad reconnects through <bundle>/address and reopens the FIFOs.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { CreateRequest, ExecHandle, ExecRequest, Runtime, RuntimeState, StdioStream } from '../types.js';
import { Status } from '../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import { failedPrecondition, isKind, notFound, errorMessage } from '../../common/errors.js';
import { writeJsonAtomic } from '../../common/fsutil.js';
import type { Logger } from '../../common/log.js';
import { startShim, deleteShim, readAddress, type ShimArgs } from './binary.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { shimSocketPath } from '../../ttrpc/address.js';
import type { DeleteResponse } from '../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { ProcessIO, makeFifos } from './io.js';
import { K8sLogWriter } from './klog.js';
import { ShimTask, TaskRecords, followShimLog, type ExecEntry, type TaskRecord } from './task.js';
import { runExec } from './exec.js';
import { statusName, signalNumber, clampDim } from './util.js';

export { signalNumber }; // the sandboxer's client imports it from here

export interface ShimV2RuntimeOptions {
  /** The runtime's name in tsula: io.containerd.runc.v2 */
  name: string;
  /** containerd-shim-<name>-v2, resolved (findShimBinary) */
  binary: string;
  /** <state>/runtime/<name>: task records that outlive tsulad */
  stateDir: string;
  /** -address for the shim (containerd's socket; the runc shim hashes it into its socket name) */
  engineAddress: string;
  /** TTRPC_ADDRESS: the engine's Events/Forward socket (startEventsServer) */
  eventsAddress: string;
  /** -publish-binary: tsulad's own path */
  publishBinary: string;
  /** containerd namespace the shim works in (runc state: /run/containerd/runc/<ns>) */
  namespace?: string;
  /** CreateTaskRequest.options, e.g. containerd.runc.v1.Options */
  taskOptions?: { typeUrl: string; value: Uint8Array };
  log?: Logger;
  debug?: boolean;
}

type ExitCb = (id: string, code: number, at: Date) => void;

const CALL = { timeoutMs: 30_000 };
/** How long an exit waits for the rest of the output (a grandchild may hold stdout). */
const DRAIN_MS = 2_000;

export class ShimV2Runtime implements Runtime {
  readonly name: string;
  private records: TaskRecords;
  private tasks = new Map<string, ShimTask>();
  private connecting = new Map<string, Promise<ShimTask | null>>();
  private execs = new Map<string, ExecEntry>();
  private exits = new Map<string, { code: number; at: Date; delivered: boolean }>();
  private cb: ExitCb | null = null;
  /** Tasks whose dead shim was already cleaned up (delete action run once). */
  private cleaned = new Set<string>();
  private closing = false;

  constructor(private readonly o: ShimV2RuntimeOptions) {
    this.name = o.name;
    this.records = new TaskRecords(path.join(o.stateDir, 'tasks'));
  }

  private shimArgs(id: string, bundle: string): ShimArgs {
    return {
      binary: this.o.binary, id, bundle, namespace: this.o.namespace ?? 'tsula', address: this.o.engineAddress,
      ttrpcAddress: this.o.eventsAddress, publishBinary: this.o.publishBinary, debug: this.o.debug,
    };
  }

  async create(req: CreateRequest): Promise<number> {
    // the engine creates only what is not running: a task left from before is stale
    if (this.tasks.has(req.id) || await this.records.load(req.id)) await this.delete(req.id, req.bundle, true);
    this.exits.delete(req.id);
    this.cleaned.delete(req.id);
    await writeJsonAtomic(path.join(req.bundle, 'config.json'), req.spec);
    const ioPaths = ProcessIO.paths(req.bundle, { stdin: req.stdin, output: true, terminal: req.terminal });
    // the log FIFO must have a reader before `start`, or the shim daemon dies opening it
    await makeFifos([path.join(req.bundle, 'log'), ioPaths.stdin, ioPaths.stdout, ioPaths.stderr].filter(Boolean));
    const rec: TaskRecord = {
      id: req.id, bundle: req.bundle, address: '', terminal: req.terminal, stdin: req.stdin,
      stdinOnce: req.stdinOnce, logPath: req.logPath, io: ioPaths,
    };
    const shimLog = followShimLog(req.bundle, req.id, this.o.log);
    let task: ShimTask | null = null;
    let io: ProcessIO | null = null;
    try {
      rec.address = await startShim(this.shimArgs(req.id, req.bundle));
      await this.records.save(rec);
      task = await ShimTask.connect(rec);
      task.shimLog = shimLog;
      io = await ProcessIO.openNew(ioPaths, req.terminal, new K8sLogWriter(req.logPath));
      task.io = io;
      const res = await task.api.create({
        id: req.id, bundle: req.bundle, terminal: req.terminal,
        stdin: ioPaths.stdin, stdout: ioPaths.stdout, stderr: ioPaths.stderr,
        options: this.o.taskOptions,
      }, { timeoutMs: 60_000 });
      io.start();
      this.tasks.set(req.id, task);
      return res.pid;
    } catch (e) {
      if (task) await this.shutdown(task).catch(() => {});
      else shimLog?.destroy();
      io?.close();
      await this.cleanupFiles(rec);
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    const t = await this.task(id);
    this.watch(t); // Start ∥ Wait, as containerd does: no exit can slip between them
    await t.api.start({ id }, CALL);
  }

  /** Wait for the init process' exit in the background and report it once. */
  private watch(t: ShimTask): void {
    if (t.waiting) return;
    t.waiting = true;
    const id = t.rec.id;
    t.api.wait({ id }).then(async (w) => {
      await t.io?.drain(DRAIN_MS);
      await t.io?.closeLog();
      this.report(t, w.exitStatus, w.exitedAt ? timestampDate(w.exitedAt) : new Date());
    }, async (e) => {
      if (t.detached || this.closing) return;
      // the shim died under us: clean up as containerd does, with the binary's delete
      this.o.log?.warn('shim connection lost; cleaning up', { id, err: errorMessage(e) });
      const r = await this.deadShim(id, t.rec.bundle);
      t.detach();
      this.report(t, r?.exitStatus ?? 255, r?.exitedAt ? timestampDate(r.exitedAt) : new Date());
    });
  }

  private report(t: ShimTask, code: number, at: Date): void {
    if (t.exitReported) return;
    t.exitReported = true;
    // before watchExits the engine isn't listening yet: keep it for watchExits to deliver
    this.exits.set(t.rec.id, { code, at, delivered: !!this.cb });
    this.cb?.(t.rec.id, code, at);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    const t = await this.task(id);
    await t.api.kill({ id, signal: signalNumber(signal), all }, CALL);
  }

  async pause(id: string): Promise<void> {
    await (await this.task(id)).api.pause({ id }, CALL);
  }

  async resume(id: string): Promise<void> {
    await (await this.task(id)).api.resume({ id }, CALL);
  }

  async delete(id: string, bundle: string, force: boolean): Promise<void> {
    const rec = (await this.records.load(id)) ?? await this.recordFromBundle(id, bundle);
    const t = await this.tryTask(id, bundle);
    if (t) {
      try {
        if (force) await this.forceStop(t);
        await t.api.delete({ id }, CALL).catch((e) => { if (!isKind(e, 'NotFound')) throw e; });
        await this.shutdown(t);
      } catch (e) {
        if (!isKind(e, 'Unavailable')) throw e;
        await this.deadShim(id, bundle); // it died while we deleted
      }
    } else if (rec && await fs.stat(bundle).catch(() => null)) {
      await this.deadShim(id, bundle);
    }
    this.tasks.get(id)?.detach();
    this.tasks.delete(id);
    this.exits.delete(id);
    this.cleaned.delete(id);
    for (const [dir, e] of this.execs) if (e.containerId === id) { e.io?.close(); this.execs.delete(dir); }
    if (rec) await this.cleanupFiles(rec);
  }

  private async forceStop(t: ShimTask): Promise<void> {
    const id = t.rec.id;
    const st = await t.api.state({ id }, CALL).catch(() => null);
    if (!st || st.status === Status.STOPPED) return;
    if (st.status === Status.PAUSED || st.status === Status.PAUSING) await t.api.resume({ id }, CALL).catch(() => {});
    await t.api.kill({ id, signal: os.constants.signals.SIGKILL, all: true }, CALL).catch(() => {});
    await t.api.wait({ id }, { timeoutMs: 10_000 }).catch(() => {});
  }

  /** Shutdown, then wait for the shim to go (its socket path is reused by the next start). */
  private async shutdown(t: ShimTask): Promise<void> {
    t.detached = true;
    const gone = new Promise<void>((r) => t.client.onClose(() => r()));
    await t.api.shutdown({ id: t.rec.id }, { timeoutMs: 5_000 }).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    // a shim that still serves other tasks (grouping) stays; don't wait on it forever
    await Promise.race([gone, new Promise<void>((r) => { timer = setTimeout(r, 3_000); })]);
    clearTimeout(timer);
    t.detach();
  }

  /**
   * Clean up after a shim that is gone, as containerd does: the binary's `delete` action
   * (runc delete -f, unmount), then the socket a SIGKILLed shim could not remove.
   */
  private async deadShim(id: string, bundle: string): Promise<DeleteResponse | null> {
    if (this.cleaned.has(id)) return null;
    this.cleaned.add(id);
    const r = await deleteShim(this.shimArgs(id, bundle)).catch((e) => {
      this.o.log?.warn('shim delete action failed', { id, err: errorMessage(e) });
      return null;
    });
    const address = await readAddress(bundle);
    if (address?.startsWith('unix://')) {
      const alive = await TtrpcClient.connect(shimSocketPath(address), { timeoutMs: 1_000 }).then((c) => { c.close(); return true; }, () => false);
      if (!alive) await fs.rm(shimSocketPath(address), { force: true });
    }
    return r;
  }

  private async cleanupFiles(rec: TaskRecord): Promise<void> {
    const files = ['log', 'address', 'stdin', 'stdout', 'stderr'];
    await Promise.all(files.map((f) => fs.rm(path.join(rec.bundle, f), { force: true })));
    await this.records.remove(rec.id);
  }

  private async recordFromBundle(id: string, bundle: string): Promise<TaskRecord | null> {
    const address = await readAddress(bundle);
    if (!address) return null;
    return { id, bundle, address, terminal: false, stdin: false, stdinOnce: false, logPath: '', io: { stdin: '', stdout: '', stderr: '' } };
  }

  async state(id: string): Promise<RuntimeState | null> {
    const t = await this.tryTask(id);
    if (!t) return null;
    try {
      const s = await t.api.state({ id }, CALL);
      return { status: statusName(s.status), pid: s.pid };
    } catch (e) {
      if (isKind(e, 'NotFound') || isKind(e, 'Unavailable')) return null;
      throw e;
    }
  }

  async pids(id: string): Promise<number[]> {
    const r = await (await this.task(id)).api.pids({ id }, CALL);
    return r.processes.map((p) => p.pid);
  }

  async attach(id: string): Promise<StdioStream> {
    const t = await this.task(id);
    if (!t.io) throw failedPrecondition(`container ${id.slice(0, 12)}: its output is not held by this tsulad`);
    return t.io.attach(() => { if (t.rec.stdinOnce) this.closeStdin(t, ''); });
  }

  private closeStdin(t: ShimTask, execId: string, io: ProcessIO | null = t.io): void {
    if (!io?.hasStdin) return;
    io.closeStdin();
    t.api.closeIO({ id: t.rec.id, execId, stdin: true }, CALL).catch(() => {});
  }

  async resize(id: string, _bundle: string, height: number, width: number): Promise<void> {
    const t = await this.task(id);
    await t.api.resizePty({ id, width: clampDim(width), height: clampDim(height) }, CALL);
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

  async watchExits(cb: ExitCb): Promise<void> {
    this.cb = cb;
    for (const rec of await this.records.list()) {
      const t = await this.tryTask(rec.id, rec.bundle).catch(() => null);
      if (!t) {
        // nobody can report this one any more: its shim is gone; clean what is left
        this.o.log?.warn('shim of a task is gone; cleaning up', { id: rec.id });
        await this.deadShim(rec.id, rec.bundle);
        await this.cleanupFiles(rec);
        continue;
      }
      await this.adopt(t).catch((e) => this.o.log?.warn('adopting task failed', { id: rec.id, err: errorMessage(e) }));
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
    if (st.status !== Status.STOPPED && !t.io && t.rec.logPath) {
      t.io = await ProcessIO.reopen(t.rec.io, t.rec.terminal, new K8sLogWriter(t.rec.logPath));
      t.io.start();
    }
    t.followShimLog(this.o.log);
    this.watch(t);
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
  private async task(id: string): Promise<ShimTask> {
    const t = await this.tryTask(id);
    if (!t) throw notFound(`task ${id.slice(0, 12)} not found in runtime ${this.name}`);
    return t;
  }

  /** The task from memory, else from its record (or bundle) by connecting to its shim. */
  private async tryTask(id: string, bundle?: string): Promise<ShimTask | null> {
    const have = this.tasks.get(id);
    if (have && !have.client.closed) return have;
    let p = this.connecting.get(id);
    if (!p) {
      p = (async () => {
        const rec = (await this.records.load(id)) ?? (bundle ? await this.recordFromBundle(id, bundle) : null);
        if (!rec?.address) return null;
        try {
          const t = await ShimTask.connect(rec, 2_000);
          this.tasks.set(id, t);
          return t;
        } catch {
          return null;
        }
      })().finally(() => this.connecting.delete(id));
      this.connecting.set(id, p);
    }
    return p;
  }
}
