// Every container (task) of every sandbox: lifecycle on top of a Runtime — the host's
// conmon + runc (exits and logs survive us), or the one a sandbox kind brings (a VM's
// guest) —, containerd's FIFOs given to the process or pumped from its attach stream, exits
// from the runtime, task events to containerd, and re-adoption of every task from its record
// after a sandboxer restart. A task's creation is create.ts's, its execs are execs.ts's: both
// work through what the manager lends them (TaskOps, task-ops.ts); what a restart finds in a
// record is recover.ts's.
import * as path from 'node:path';
import type { LinuxResources, Process } from '../../oci/types.js';
import type { Runtime } from '../../runtime/types.js';
import { alreadyExists, failedPrecondition, invalidArgument, isKind, notFound, unimplemented } from '../../common/errors.js';
import type { CgroupStats } from '../../cgroups/index.js';
import { readProcesses, type PsProcess } from '../../common/ps.js';
import type { Logger } from '../../common/log.js';
import type { Sandboxes } from '../sandboxes.js';
import { runId, type TaskRecords, type TaskRecord } from './records.js';
import { DRAIN_MS, type FifoPaths } from './io.js';
import { dropOrphanSandboxes, readopt } from './recover.js';
import { Task, exitOf, wake, type CreateTask, type ExecEntry, type ExitInfo } from './task.js';
import { unmountRootfs } from './mounts.js';
import type { EventPublisher } from './events.js';
import { ts, type EventInit, type EventKind } from './topics.js';
import { stateError } from './state-errors.js';
import type { TaskOps } from './task-ops.js';
import { createTask, dropOwnSandbox, shimInfo, taskNamespace } from './create.js';
import type { ShimInfo } from '../admin.js';
import { addExec, deleteExec, findExec, killExec, startExec, waitExec } from './execs.js';

export { SANDBOX_KIND_ANNOTATION } from './create.js';

/** How long an exit waits for its TaskOOM to be taken (a gone receiver does not hold exits up). */
const OOM_EVENT_MS = 2000;

export class TaskManager {
  /** By namespace and id (scopedId): containerd's ids are unique within a namespace. */
  private tasks = new Map<string, Task>();
  /** Tasks by key and by runtime id (the exits' and errors' names for them). */
  private byKey = new Map<string, Task>();
  /** Runtime ids claimed by creates not yet indexed. */
  private readonly runtimeIds = new Set<string>();
  private creating = new Set<string>();
  private watched = new WeakSet<Runtime>();
  /** Lent to create.ts and execs.ts. */
  private readonly ops: TaskOps;

  constructor(
    private readonly runtime: Runtime,
    private readonly records: TaskRecords,
    private readonly sandboxes: Sandboxes,
    private readonly events: EventPublisher,
    private readonly log?: Logger,
    /** The kind of a pod's sandbox that names none. */
    defaultKind = 'runc',
  ) {
    this.ops = {
      runtime, records, sandboxes, defaultKind,
      rt: (rec) => this.rt(rec),
      claimRuntimeId: (id) => {
        if (this.byKey.has(id) || this.runtimeIds.has(id)) return false;
        this.runtimeIds.add(id);
        return true;
      },
      releaseRuntimeId: (id) => { this.runtimeIds.delete(id); },
      publish: (t, topic, kind, msg) => this.publish(t, topic, kind, msg),
    };
  }

  /**
   * The task `id` of namespace `ns`; without one (the sandboxer's own task socket: tsulad, the
   * sandbox API's clients), the one task of that id in any namespace.
   */
  get(id: string, ns?: string): Task {
    const t = this.find(id, ns);
    if (!t) throw notFound(`task ${id} not found`);
    return t;
  }

  find(id: string, ns?: string): Task | undefined {
    if (ns !== undefined) return this.tasks.get(scopedId(ns, id));
    let found: Task | undefined;
    for (const t of this.tasks.values()) {
      if (t.rec.id !== id) continue;
      if (found) throw failedPrecondition(`task ${id} exists in namespaces ${found.rec.namespace} and ${t.rec.namespace}: ask through the task socket of one`);
      found = t;
    }
    return found;
  }

  /** The containerd id of the task whose runc id is `key`. */
  byKeyId(key: string): string | undefined {
    return this.byKey.get(key)?.rec.id;
  }

  private index(rec: TaskRecord, t: Task): void {
    this.byKey.set(rec.key, t);
    this.byKey.set(runId(rec), t);
    this.runtimeIds.delete(runId(rec));
  }

  private forget(rec: TaskRecord): void {
    this.byKey.delete(rec.key);
    this.byKey.delete(runId(rec));
  }

  list(): Task[] {
    return [...this.tasks.values()];
  }

  exec(t: Task, execId: string): ExecEntry {
    return findExec(t, execId);
  }

  /** The task's runtime: its sandbox's own (exits then wired to us), else the host's. */
  private async rt(rec: TaskRecord): Promise<Runtime> {
    if (!rec.sandboxId || !this.sandboxes.hasOwnRuntime(rec.sandboxId)) return this.runtime;
    const r = await this.sandboxes.runtimeFor(rec.sandboxId);
    if (!r) return this.runtime;
    if (!this.watched.has(r)) {
      this.watched.add(r);
      await r.watchExits((rid, code, at) => this.exitHeard(rid, code, at));
    }
    return r;
  }

  private publish<K extends EventKind>(t: Task, topic: string, kind: K, msg: EventInit<K>): Promise<void> {
    return this.events.publish(t.rec.eventsAddress, t.rec.namespace, topic, kind, msg);
  }

  /** Create the task `c` in namespace `ns` (a namespace's task socket), else in its bundle's. */
  async create(c: CreateTask, ns?: string): Promise<number> {
    if (!c.id || c.id.includes('/') || c.id.includes('..') || c.id.length > 256) throw invalidArgument(`invalid task id "${c.id}"`);
    if (!c.bundle || !path.isAbsolute(c.bundle)) throw invalidArgument(`task ${c.id}: bundle must be an absolute path`);
    const reg = await shimInfo(c);
    const namespace = ns ?? taskNamespace(c, reg);
    const sid = scopedId(namespace, c.id);
    const had = this.tasks.get(sid);
    if (had && !(await this.records.present(had.rec))) await this.drop(had);
    if (this.tasks.has(sid) || this.creating.has(sid)) throw alreadyExists(`task ${c.id} already exists`);
    this.creating.add(sid);
    try {
      return await this.doCreate(c, namespace, reg);
    } finally {
      this.creating.delete(sid);
    }
  }

  private async doCreate(c: CreateTask, namespace: string, reg: ShimInfo | null): Promise<number> {
    const t = await createTask(this.ops, c, namespace, reg);
    const rec = t.rec;
    this.tasks.set(scopedId(namespace, c.id), t);
    this.index(rec, t);
    await this.watchOom(t);
    this.publish(t, '/tasks/create', 'create', {
      containerId: c.id, bundle: c.bundle, rootfs: c.rootfs,
      io: { stdin: c.stdin, stdout: c.stdout, stderr: c.stderr, terminal: c.terminal }, pid: rec.pid,
    });
    return rec.pid;
  }

  async start(t: Task, execId: string): Promise<number> {
    if (execId) return startExec(this.ops, t, this.exec(t, execId));
    if (t.rec.status !== 'created' || t.starting) throw stateError('start', t.starting ? 'running' : t.rec.status);
    let started!: () => void;
    t.starting = new Promise<void>((r) => { started = r; });
    try {
      await (await this.rt(t.rec)).start(runId(t.rec));
      // the exit may already have been seen (a `true` that ends at once)
      if (t.rec.status === 'created') t.rec.status = 'running';
      await this.records.update(t.rec);
      this.publish(t, '/tasks/start', 'start', { containerId: t.rec.id, pid: t.rec.pid });
    } finally {
      t.starting = undefined;
      started();
    }
    return t.rec.pid;
  }

  async addExec(t: Task, execId: string, process: Process, paths: FifoPaths): Promise<void> {
    await addExec(this.ops, t, execId, process, paths);
  }

  async kill(t: Task, execId: string, signal: number, all: boolean): Promise<void> {
    if (execId) return killExec(this.exec(t, execId), signal);
    if (t.rec.status === 'stopped') {
      // runc-v2's stoppedState.Kill runs `runc kill --all`, which a stopped container takes
      // (what is left in its cgroup, if anything); without --all: runc's "not running"
      if (!all) throw notFound(`process already finished`);
      await (await this.rt(t.rec)).kill(runId(t.rec), String(signal), true).catch(() => {});
      return;
    }
    await (await this.rt(t.rec)).kill(runId(t.rec), String(signal), all);
  }

  async pids(t: Task): Promise<number[]> {
    return (await this.rt(t.rec)).pids(runId(t.rec));
  }

  /** The task's processes as its kernel tells them: a VM task's guest's, else the host's own /proc. */
  async processes(t: Task): Promise<PsProcess[]> {
    if (t.rec.status === 'stopped') return [];
    const rt = await this.rt(t.rec);
    return rt.processes ? rt.processes(runId(t.rec)) : readProcesses(await rt.pids(runId(t.rec)));
  }

  /** The task's cgroup now (a VM task's from its guest); null when it has none. */
  async stats(t: Task): Promise<CgroupStats | null> {
    const rt = await this.rt(t.rec);
    if (!rt.stats) throw unimplemented(`runtime ${rt.name} cannot read a task's usage`);
    // an exited task keeps its cgroup until Delete (runc's until runc delete), and
    // containerd-shim-runc-v2 reports it: `ctr t metrics` of a STOPPED task shows the last usage
    const st = await rt.stats(runId(t.rec), t.rec.dir).catch((e: unknown) => { if (t.rec.status !== 'stopped') throw e; return null; });
    if (!st && t.rec.status === 'stopped') throw notFound(`task ${t.rec.id} is stopped: it has no cgroup`);
    return st;
  }

  /** New cgroup limits for a live task (CRI's UpdateContainerResources); unset fields stay. */
  async update(t: Task, resources: LinuxResources): Promise<void> {
    if (t.rec.status === 'stopped') throw stateError('update', 'stopped');
    await (await this.rt(t.rec)).update(runId(t.rec), t.rec.dir, resources);
  }

  /** A resize that races the process' exit (ctr resizes right after Start) is a no-op. */
  async resize(t: Task, execId: string, height: number, width: number): Promise<void> {
    const e = execId ? this.exec(t, execId) : null;
    const rt = await this.rt(t.rec);
    try {
      if (e) await rt.resizeExec(e.dir, height, width);
      else await rt.resize(runId(t.rec), t.rec.dir, height, width);
    } catch (err) {
      // an exec whose monitor is gone has exited, though its exit may not be recorded yet
      // (output still draining): ctr's resize right after a short exec raced it
      if (e && isKind(err, 'FailedPrecondition')) return;
      if ((e ? e.status : t.rec.status) === 'running' && await rt.monitorAlive(runId(t.rec), t.rec.dir)) throw err;
    }
  }

  async pause(t: Task, pause: boolean): Promise<void> {
    if (t.rec.status !== (pause ? 'running' : 'paused')) throw stateError(pause ? 'pause' : 'resume', t.rec.status);
    const rt = await this.rt(t.rec);
    if (pause) await rt.pause(runId(t.rec)); else await rt.resume(runId(t.rec));
    // the exit may have come while we waited for the runtime
    if ((t.rec.status as TaskRecord['status']) !== 'stopped') {
      t.rec.status = pause ? 'paused' : 'running';
      await this.records.update(t.rec);
    }
    if (pause) this.publish(t, '/tasks/paused', 'paused', { containerId: t.rec.id });
    else this.publish(t, '/tasks/resumed', 'resumed', { containerId: t.rec.id });
  }

  /** Resolves once the process exited. */
  async wait(t: Task, execId: string): Promise<ExitInfo> {
    if (execId) return waitExec(this.exec(t, execId));
    if (t.rec.status !== 'stopped') await new Promise<void>((r) => t.waiters.push(r));
    return exitOf(t.rec);
  }

  async delete(t: Task, execId: string): Promise<ExitInfo> {
    if (execId) return deleteExec(t, this.exec(t, execId));
    if (t.rec.status === 'running' || t.rec.status === 'paused') throw stateError('delete', t.rec.status);
    // a second Delete racing the first (containerd's CRI and `ctr task delete -f`): as
    // runc-v2's, it waits for the first (its container lock) and then meets the deleted
    // state's NotFound, which containerd tolerates
    if (t.removing) {
      // (a first one that failed leaves the task: this one tries in its turn)
      const ok = await t.removing.then(() => true, () => false);
      if (ok || !this.tasks.has(scopedId(t.rec.namespace, t.rec.id))) throw notFound('cannot delete a deleted process');
      return this.delete(t, execId);
    }
    const p = this.remove(t);
    t.removing = p;
    try {
      return await p;
    } finally {
      t.removing = undefined;
    }
  }

  /**
   * TaskOOM as containerd-shim-runc-v2 sends it: at each OOM kill in the task's cgroup, while
   * it runs (an exec or a child of it too), where its runtime can tell.
   */
  private async watchOom(t: Task): Promise<void> {
    const rt = await this.rt(t.rec).catch(() => null);
    t.stopOomWatch = rt?.watchOom?.(runId(t.rec), t.rec.dir, () => {
      if (t.rec.status === 'stopped' && t.oomPublished) return;
      t.oomPublished = true;
      const send = () => void this.publish(t, '/tasks/oom', 'oom', { containerId: t.rec.id });
      if (t.starting) void t.starting.then(send); else send();
    });
  }

  /** Forget a task for good: its runc state, conmon files, rootfs mount and record. */
  private async remove(t: Task): Promise<ExitInfo> {
    const r = t.rec;
    t.stopOomWatch?.();
    // the output still coming after the exit goes on into the FIFOs (processExited) while
    // the client reads: as runc-v2's delete, wait for it a while before closing them
    if (r.status === 'stopped') await t.io?.drained(DRAIN_MS);
    t.letGo();
    // a sandbox that is gone (its VM died) has nothing left to delete in it
    const rt = await this.rt(r).catch(() => null);
    await rt?.delete(runId(r), r.dir, true);
    if (r.rootfsMounted) await unmountRootfs(path.join(r.bundle, 'rootfs'));
    await dropOwnSandbox(this.sandboxes, r);
    if (r.status !== 'stopped') {
      r.status = 'stopped';
      r.exitStatus = 137;
      r.exitedAt = new Date().toISOString();
    }
    this.tasks.delete(scopedId(r.namespace, r.id));
    this.forget(r);
    await this.records.remove(r);
    wake(t.waiters);
    const x = exitOf(r);
    // no id: containerd-shim-runc-v2 leaves TaskDelete.id unset for a task's own delete
    this.publish(t, '/tasks/delete', 'delete', { containerId: r.id, pid: r.pid, exitStatus: x.exitStatus, exitedAt: ts(x.exitedAt) });
    return x;
  }

  /**
   * A task whose record a launcher's `delete` removed while no sandboxer answered (after a
   * crash, as this one was starting: it had read the record already): containerd forgot it,
   * so do we, quietly. Its process got runc's delete --force then.
   */
  private async drop(t: Task): Promise<void> {
    this.log?.info('forgetting a task containerd cleaned up while no sandboxer answered', { id: t.rec.id, namespace: t.rec.namespace });
    t.letGo();
    if (t.rec.status !== 'stopped') await (await this.rt(t.rec).catch(() => null))?.kill(runId(t.rec), 'KILL', true).catch(() => {});
    this.tasks.delete(scopedId(t.rec.namespace, t.rec.id));
    this.forget(t.rec);
    wake(t.waiters);
  }

  /**
   * The shim's `delete` action (containerd's cleanup after a lost connection): kill and
   * forget the task if we still have it; null when we don't know it.
   */
  async cleanup(id: string, ns: string, bundle: string): Promise<ExitInfo | null> {
    // the task of that namespace and bundle only: a shim run with another -namespace touches nothing
    const t = this.tasks.get(scopedId(ns || 'default', id));
    if (!t || (bundle && t.rec.bundle !== bundle)) return null;
    if (t.rec.status !== 'stopped') {
      // a frozen process can't die: thaw it first
      const rt = await this.rt(t.rec).catch(() => null);
      if (t.rec.status === 'paused') await rt?.resume(runId(t.rec)).catch(() => {});
      await rt?.kill(runId(t.rec), 'KILL', true).catch(() => {});
      await atMost(this.wait(t, ''), 5000);
    }
    return this.remove(t);
  }

  /** An exit file of a task this sandboxer knows (by its runtime id), else false. */
  private exitHeard(rid: string, code: number, at: Date): boolean {
    if (!this.byKey.has(rid)) return false;
    void this.onExit(rid, code, at);
    return true;
  }

  private async onExit(key: string, code: number, at: Date): Promise<void> {
    const t = this.byKey.get(key);
    if (!t || t.rec.status === 'stopped') return;
    const rid = runId(t.rec);
    // what its init leaves in a PID namespace it shares holds its stdio: killed first, as
    // runc-v2 does, so the output ends and containerd's FIFO readers see EOF before the exit
    if (t.rec.killAllOnExit) await (await this.rt(t.rec).catch(() => null))?.kill(rid, 'KILL', true).catch(() => {});
    await t.io?.drained(DRAIN_MS);
    t.io?.processExited();
    t.rec.status = 'stopped';
    t.rec.exitStatus = code;
    t.rec.exitedAt = at.toISOString();
    await this.records.update(t.rec).catch((e: Error) => this.log?.warn('cannot save task record', { id: t.rec.id, err: e.message }));
    // containerd's CRI gives an exited container the reason OOMKilled on a TaskOOM event
    // (containerd-shim-runc-v2 sends one per OOM kill in the cgroup): ours comes before the
    // exit, and has arrived before Wait answers (tsulad reads OOMKilled when Wait returns)
    const rt = await this.rt(t.rec).catch(() => null);
    // a process that died during its Start: its TaskStart goes first (and a TaskOOM heard then)
    await t.starting;
    if (!t.oomPublished && await rt?.oomKilled?.(rid, t.rec.dir).catch(() => false)) {
      t.oomPublished = true;
      await atMost(this.publish(t, '/tasks/oom', 'oom', { containerId: t.rec.id }), OOM_EVENT_MS);
    }
    wake(t.waiters);
    this.publish(t, '/tasks/exit', 'exit', { containerId: t.rec.id, id: t.rec.id, pid: t.rec.pid, exitStatus: code, exitedAt: ts(at) });
  }

  /** Re-adopt every task from its record; exits that happened while we were down arrive now. */
  async recover(): Promise<void> {
    for (const rec of await this.records.list()) {
      const t = new Task(rec);
      this.tasks.set(scopedId(rec.namespace, rec.id), t);
      this.index(rec, t);
      if (rec.status === 'stopped') continue;
      await this.watchOom(t);
      await readopt(t, { rt: (r) => this.rt(r), exited: (key, code) => this.onExit(key, code, new Date()), log: this.log });
    }
    await this.runtime.watchExits((rid, code, at) => this.exitHeard(rid, code, at));
  }

  /** After recover(): the sandboxes made for a task that is gone (recover.ts). */
  dropOrphanSandboxes(): Promise<void> {
    return dropOrphanSandboxes(this.sandboxes, (key) => this.byKey.has(key), this.log);
  }

  close(): void {
    this.runtime.close();
    // drop our ends only: conmon keeps the containers and their exits
    for (const t of this.tasks.values()) t.letGo();
  }
}

/** A task's name in `tasks`: containerd namespaces have no '/' (nor have ids, checked at Create). */
function scopedId(ns: string, id: string): string {
  return `${ns}/${id}`;
}

/** Wait for `p`, but no longer than `ms` (its timer cleared either way). */
async function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise((r) => { timer = setTimeout(r, ms); })]);
  clearTimeout(timer);
}
