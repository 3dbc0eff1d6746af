// Runtime "sandboxer" inside tsulad (iSulad's cri-sandboxers): a container runs in a sandbox
// of a sandboxer daemon. create() asks the sandbox Controller (gRPC) for a sandbox (one per
// container, or the pod's when the spec names one that exists), then speaks the shim v2
// Task API (ttrpc) to the address Start returned. stdio: FIFOs in the bundle, pumped into
// the k8s-file log by the shim v2 client's ProcessIO; exits from the Wait RPC.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import type { CreateRequest, ExecHandle, ExecRequest, Runtime, RuntimeState, StdioStream } from '../runtime/types.js';
import { Controller } from '../gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import { Status } from '../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import { ProcessIO, makeFifos } from '../runtime/shimv2/io.js';
import { K8sLogWriter } from '../runtime/shimv2/klog.js';
import { ShimTask, TaskRecords, type ExecEntry, type TaskRecord } from '../runtime/shimv2/task.js';
import { runExec } from '../runtime/shimv2/exec.js';
import { signalNumber } from '../runtime/shimv2/runtime.js';
import { errorMessage, failedPrecondition, isKind, notFound } from '../common/errors.js';
import { writeJsonAtomic } from '../common/fsutil.js';
import type { Logger } from '../common/log.js';
import { socketPath } from '../ttrpc/address.js';
import { grpcClient, type GrpcClient } from './grpc.js';

export interface SandboxerRuntimeOptions {
  /** The runtime's name in tsula (the cri-runtimes value, e.g. io.containerd.tsula.v1). */
  name: string;
  /** The sandboxer's Controller socket (cri-sandboxers.<x>.address). */
  address: string;
  /** The sandboxer's kind name (cri-sandboxers.<x>.name): runc, vmm. */
  sandboxer: string;
  /** <state>/runtime/<name>: task records that outlive tsulad */
  stateDir: string;
  log?: Logger;
}

const CALL = { timeoutMs: 30_000 };
const DRAIN_MS = 2_000;
const POD_ANNOTATIONS = ['io.kubernetes.cri.sandbox-id', 'io.tsula.sandbox-id'];

type ExitCb = (id: string, code: number, at: Date) => void;
type ControllerMethods = typeof Controller extends GenService<infer S extends GenServiceMethods> ? S : never;

export class SandboxerRuntime implements Runtime {
  readonly name: string;
  private ctl: GrpcClient<ControllerMethods>;
  private records: TaskRecords;
  private tasks = new Map<string, ShimTask>();
  private execs = new Map<string, ExecEntry>();
  private exits = new Map<string, { code: number; at: Date }>();
  private cb: ExitCb | null = null;

  constructor(private readonly o: SandboxerRuntimeOptions) {
    this.name = o.name;
    this.ctl = grpcClient(Controller, o.address);
    this.records = new TaskRecords(path.join(o.stateDir, 'tasks'));
  }

  /** The pod's sandbox when the spec names one the sandboxer has, else a new one for id. */
  private async sandboxFor(req: CreateRequest): Promise<{ sandboxId: string; address: string; owned: boolean }> {
    for (const k of POD_ANNOTATIONS) {
      const sb = req.spec.annotations?.[k];
      if (!sb || sb === req.id) continue;
      const st = await this.ctl.status({ sandboxId: sb, sandboxer: this.o.sandboxer }, CALL).catch(() => null);
      if (st?.state === 'SANDBOX_READY') return { sandboxId: sb, address: st.address, owned: false };
    }
    await this.ctl.create({ sandboxId: req.id, sandboxer: this.o.sandboxer, annotations: req.spec.annotations ?? {} }, CALL);
    const st = await this.ctl.start({ sandboxId: req.id, sandboxer: this.o.sandboxer }, CALL);
    if (st.version !== 2) throw failedPrecondition(`sandbox ${req.id}: task API version ${st.version} is not supported`);
    return { sandboxId: req.id, address: st.address, owned: true };
  }

  async create(req: CreateRequest): Promise<number> {
    if (this.tasks.has(req.id)) throw failedPrecondition(`task ${req.id} already exists in runtime ${this.name}`);
    this.exits.delete(req.id);
    const sb = await this.sandboxFor(req);
    const spec = { ...req.spec, annotations: { ...req.spec.annotations, 'io.tsula.sandbox-id': sb.sandboxId } };
    await writeJsonAtomic(path.join(req.bundle, 'config.json'), spec);
    const io = ProcessIO.paths(req.bundle, { stdin: req.stdin, output: true, terminal: req.terminal });
    await makeFifos([io.stdin, io.stdout, io.stderr].filter(Boolean));
    // address: the task address as a shim's (unix:///path); sandboxId: a sandbox we own
    const rec: TaskRecord & { sandboxId?: string } = {
      id: req.id, bundle: req.bundle, address: `unix://${socketPath(sb.address)}`, terminal: req.terminal, stdin: req.stdin,
      stdinOnce: req.stdinOnce, logPath: req.logPath, io, sandboxId: sb.owned ? sb.sandboxId : '',
    };
    await this.records.save(rec);
    let t: ShimTask | null = null;
    try {
      t = await ShimTask.connect(rec);
      t.io = await ProcessIO.openNew(io, req.terminal, new K8sLogWriter(req.logPath));
      const res = await t.api.create({
        id: req.id, bundle: req.bundle, terminal: req.terminal, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr,
      }, { timeoutMs: 60_000 });
      t.io.start();
      this.tasks.set(req.id, t);
      return res.pid;
    } catch (e) {
      t?.detach();
      await this.forget(rec);
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    const t = await this.task(id);
    this.watch(t); // Start ∥ Wait: no exit can slip between them
    await t.api.start({ id }, CALL);
  }

  private watch(t: ShimTask): void {
    if (t.waiting) return;
    t.waiting = true;
    t.api.wait({ id: t.rec.id }).then(async (w) => {
      await t.io?.drain(DRAIN_MS);
      await t.io?.closeLog();
      this.report(t, w.exitStatus, w.exitedAt ? timestampDate(w.exitedAt) : new Date());
    }, (e) => {
      // the sandboxer went away: it keeps the container; the next connection re-waits
      if (!t.detached) this.o.log?.warn('lost the sandboxer while waiting', { id: t.rec.id, err: errorMessage(e) });
      t.waiting = false;
    });
  }

  private report(t: ShimTask, code: number, at: Date): void {
    if (t.exitReported) return;
    t.exitReported = true;
    this.exits.set(t.rec.id, { code, at });
    this.cb?.(t.rec.id, code, at);
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

  async delete(id: string, _bundle: string, force: boolean): Promise<void> {
    const rec = await this.records.load(id);
    const t = await this.tryTask(id);
    if (t) {
      if (force) {
        const st = await t.api.state({ id }, CALL).catch(() => null);
        if (st && st.status !== Status.STOPPED) {
          await t.api.kill({ id, signal: 9, all: true }, CALL).catch(() => {});
          await t.api.wait({ id }, { timeoutMs: 10_000 }).catch(() => {});
        }
      }
      await t.api.delete({ id }, CALL).catch((e) => { if (!isKind(e, 'NotFound')) throw e; });
      t.detach();
    }
    this.tasks.delete(id);
    this.exits.delete(id);
    for (const [dir, e] of this.execs) if (e.containerId === id) { e.io?.close(); this.execs.delete(dir); }
    if (rec) await this.forget(rec);
  }

  /** Drop our files and the sandbox we made for this container. */
  private async forget(rec: TaskRecord & { sandboxId?: string }): Promise<void> {
    if (rec.sandboxId) {
      await this.ctl.stop({ sandboxId: rec.sandboxId, sandboxer: this.o.sandboxer }, CALL).catch(() => {});
      await this.ctl.shutdown({ sandboxId: rec.sandboxId, sandboxer: this.o.sandboxer }, CALL).catch(() => {});
    }
    await Promise.all([rec.io.stdin, rec.io.stdout, rec.io.stderr].filter(Boolean).map((f) => fs.rm(f, { force: true })));
    await this.records.remove(rec.id);
  }

  async state(id: string): Promise<RuntimeState | null> {
    const t = await this.tryTask(id);
    if (!t) return null;
    try {
      const s = await t.api.state({ id }, CALL);
      const status = s.status === Status.CREATED ? 'created' : s.status === Status.RUNNING ? 'running'
        : s.status === Status.STOPPED ? 'stopped' : s.status === Status.PAUSED ? 'paused' : 'unknown';
      return { status, pid: s.pid };
    } catch (e) {
      if (isKind(e, 'NotFound') || isKind(e, 'Unavailable')) return null;
      throw e;
    }
  }

  async pids(id: string): Promise<number[]> {
    return (await (await this.task(id)).api.pids({ id }, CALL)).processes.map((p) => p.pid);
  }

  async attach(id: string): Promise<StdioStream> {
    const t = await this.task(id);
    if (!t.io) throw failedPrecondition(`container ${id.slice(0, 12)}: its output is not held by this tsulad`);
    return t.io.attach(() => { if (t.rec.stdinOnce) this.closeStdin(t, '', t.io); });
  }

  private closeStdin(t: ShimTask, execId: string, io: ProcessIO | null): void {
    if (!io?.hasStdin) return;
    io.closeStdin();
    t.api.closeIO({ id: t.rec.id, execId, stdin: true }, CALL).catch(() => {});
  }

  async resize(id: string, _bundle: string, height: number, width: number): Promise<void> {
    await (await this.task(id)).api.resizePty({ id, width: dim(width), height: dim(height) }, CALL);
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
    await (await this.task(e.containerId)).api.resizePty({ id: e.containerId, execId: e.execId, width: dim(width), height: dim(height) }, CALL);
  }

  /** Adopt the tasks of a previous tsulad: reopen their FIFOs and wait for their exits. */
  async watchExits(cb: ExitCb): Promise<void> {
    this.cb = cb;
    for (const rec of await this.records.list()) {
      const t = await this.tryTask(rec.id);
      if (!t) { this.o.log?.warn('sandboxer task unreachable', { id: rec.id }); continue; }
      try {
        const st = await t.api.state({ id: rec.id }, CALL);
        if (st.status !== Status.STOPPED && !t.io) {
          t.io = await ProcessIO.reopen(rec.io, rec.terminal, new K8sLogWriter(rec.logPath));
          t.io.start();
        }
        this.watch(t);
      } catch (e) {
        this.o.log?.warn('adopting a sandboxer task failed', { id: rec.id, err: errorMessage(e) });
      }
    }
  }

  async exitStatus(id: string): Promise<{ code: number; at: Date } | null> {
    const known = this.exits.get(id);
    if (known) return known;
    const t = await this.tryTask(id);
    const st = t ? await t.api.state({ id }, CALL).catch(() => null) : null;
    if (st?.status !== Status.STOPPED) return null;
    return { code: st.exitStatus, at: st.exitedAt ? timestampDate(st.exitedAt) : new Date() };
  }

  async monitorAlive(id: string): Promise<boolean> {
    const t = await this.tryTask(id);
    return !!t && t.api.state({ id }, CALL).then(() => true, () => false);
  }

  close(): void {
    for (const t of this.tasks.values()) t.detach();
    for (const e of this.execs.values()) e.io?.close();
    this.tasks.clear();
    this.execs.clear();
    this.ctl.close();
  }

  private async task(id: string): Promise<ShimTask> {
    const t = await this.tryTask(id);
    if (!t) throw notFound(`task ${id.slice(0, 12)} not found in runtime ${this.name}`);
    return t;
  }

  private async tryTask(id: string): Promise<ShimTask | null> {
    const have = this.tasks.get(id);
    if (have && !have.client.closed) return have;
    const rec = await this.records.load(id);
    if (!rec?.address) return null;
    try {
      const t = await ShimTask.connect(rec, 2_000);
      if (have) { t.io = have.io; t.exitReported = have.exitReported; }
      this.tasks.set(id, t);
      return t;
    } catch {
      return null;
    }
  }
}

function dim(n: number): number {
  return Math.max(0, Math.min(65_535, Math.trunc(n)));
}
