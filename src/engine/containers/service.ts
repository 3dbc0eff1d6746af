// The container service: every front end (the Docker-shaped API, CRI, the CLI's) calls these
// methods; they keep the record, the snapshot and the runtime in step, and emit events. It
// holds the state (per-container locks, waiters, pending attaches, what an exit kept) and
// the exit path; create, start, attach, stop/kill/restart, remove and the settings commands
// are in service-*.ts, functions of the service.
import { Phases } from '../../common/phases.js';
import * as path from 'node:path';
import { running, type Container, type CreateSpec } from './model.js';
import { ContainerStore } from './store.js';
import type { ImageStore } from '../../image/types.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { Runtime, StdioStream } from '../../runtime/types.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../../common/log.js';
import { readHostInfo, type HostInfo } from '../../oci/spec.js';
import { containerSpec } from './spec.js';
import { cgroupsPath, checkBlkioDevices, verifyResources, type ResourceConfig } from './resources.js';
import { detectCgroups, readOomKills } from '../../cgroups/index.js';
import { readSysInfo, type SysInfo } from '../../oci/sysinfo.js';
import type { Spec } from '../../oci/types.js';
import { failedPrecondition, errorMessage } from '../../common/errors.js';
import { NO_FAULTS, type Faults } from '../../common/faults.js';
import { recoverContainers, removeAutoRemoved } from './recovery.js';
import { ExitWaiters, PendingAttaches, type WaitCondition } from './waiters.js';
import { Hooks, type ContainerHooks } from './hooks.js';
import { OomEvents } from './oom-events.js';
import { RestartManager } from './restart.js';
import { create } from './service-create.js';
import { attach, checkAttach, reopenLog, resize } from './service-attach.js';
import { kill, restart, restartByPolicy, stop } from './service-stop.js';
import { pause, rename, top, unpause, update } from './service-settings.js';
import { remove } from './service-remove.js';
import { startLocked } from './service-start.js';
import { WorkingDirsInImages } from './rootfs.js';
import { pollMonitors } from './monitors.js';
import { initRealtimeBudget, type RealtimeBudget } from '../../cgroups/realtime.js';

export interface ServiceDeps {
  store: ContainerStore;
  images: ImageStore;
  driver: SnapshotDriver;
  runtimes: Map<string, Runtime>;
  defaultRuntime: string;
  events: EventBus;
  log: Logger;
  stateDir: string;         // <state>/containers: bundles
  graph: string;            // the graph root, named when it is full
  faults?: Faults;          // crash tests: TSULA_FAULT
  /** Make a runtime that is not configured up front (io.containerd.<name>.v2), or null. */
  resolveRuntime?: (name: string) => Promise<Runtime | null>;
  /** Networks, volumes, run options (hooks.ts), in this order. */
  hooks?: ContainerHooks[];
  /** daemon.json "init-path": the docker-init of --init. */
  initPath?: string;
  /** The containers' umask (daemon.json's native.umask); unset: the runtime's. */
  umask?: number;
  /** daemon.json's cpu-rt-period / cpu-rt-runtime, for the containers' cgroup parent. */
  realtime?: RealtimeBudget;
  /** daemon.json's hook-spec (iSulad's): the hooks of every container without its own. */
  hookSpec?: string;
  /** daemon.json's default-ulimits. */
  defaultUlimits?: ReadonlyArray<{ name: string; soft: number; hard: number }>;
}


export class ContainerService {
  private host: HostInfo | null = null;
  /** The host's cgroup features (service-settings.ts checks an update's merged set with them). */
  sys: SysInfo | null = null;
  readonly waiters = new ExitWaiters();
  readonly pendingAttach = new PendingAttaches();
  private locks = new Map<string, Promise<unknown>>();
  /**
   * Containers whose runtime state and exit file outlive their exit: kept until the record
   * holding the exit code is on disk (a full disk delays that), so a crash before then still
   * finds conmon's exit file. Released under the container's lock.
   */
  readonly unreleased = new Set<string>();
  /** Removals asked for and not yet done, per container: an exit meanwhile writes no record. */
  readonly removalsDue = new Map<string, number>();
  /** Exits left unrecorded for a removal due (or --rm): written if that removal fails. */
  readonly exitUnrecorded = new Set<string>();
  /** Containers being restarted by `docker restart`: an --rm one's exit then removes nothing (dockerd's HasBeenManuallyRestarted). */
  readonly manualRestarts = new Set<string>();
  readonly faults: Faults;
  /** Working directories found in images (service-create.ts mounts no rootfs for them). */
  readonly workingDirs = new WorkingDirsInImages();
  readonly hooks: Hooks;
  readonly restarts: RestartManager;

  constructor(readonly d: ServiceDeps) {
    this.faults = d.faults ?? NO_FAULTS;
    this.hooks = new Hooks(d.hooks ?? []);
    this.restarts = new RestartManager({
      restartByPolicy: (id) => restartByPolicy(this, id), start: (id) => this.start(id), log: d.log,
      isRunning: (id) => !this.d.store.has(id) || running(this.d.store.get(id).state),
    });
    d.store.onPersisted = (id) => { void this.releaseLater(id); };
  }

  /** Serialise lifecycle operations per container. */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.locks.set(id, run);
    try { return await run; } finally { if (this.locks.get(id) === run) this.locks.delete(id); }
  }

  get(ref: string): Container { return this.d.store.get(ref); }
  list(): Container[] { return this.d.store.list(); }

  /** The containers of a pod. */
  ofPod(podId: string): Container[] { return this.d.store.list().filter((c) => c.config.pod?.id === podId); }

  /** Stop every container of a pod (its stop signal, then SIGKILL after the timeout). */
  async stopPod(podId: string, timeoutSecs: number): Promise<void> {
    await Promise.all(this.ofPod(podId).map((c) => this.stopCri(c.id, timeoutSecs)));
  }

  /** CRI's StopContainer: the stop signal only with a timeout above 0, else SIGKILL at once (containerd's). */
  stopCri(id: string, timeoutSecs: number, abort?: AbortSignal): Promise<'stopped' | 'already'> {
    return this.stop(id, timeoutSecs, timeoutSecs > 0 ? undefined : 'SIGKILL', abort);
  }

  /** Remove every container of a pod, with its anonymous volumes (its image's VOLUMEs: containerd's go with the container's root dir). */
  async removePod(podId: string): Promise<void> {
    for (const c of this.ofPod(podId)) await this.remove(c.id, { force: true, volumes: true });
  }
  bundle(id: string): string { return path.join(this.d.stateDir, id); }
  runtimeOf(rec: Container): Runtime {
    const rt = this.d.runtimes.get(rec.runtime);
    if (!rt) throw failedPrecondition(`container ${rec.id.slice(0, 12)} uses runtime "${rec.runtime}", which is not configured`);
    return rt;
  }
  /** The id of a container of the image (dockerd names one in its rmi conflicts), or false. */
  imageInUse(imageId: string): string | false {
    return this.d.store.list().find((c) => c.image === imageId || c.config.imageMounts?.some((m) => m.imageId === imageId))?.id ?? false;
  }
  /** The id of a running container of the image (dockerd's hard rmi conflict), or false. */
  imageRunning(imageId: string): string | false { return this.d.store.list().find((c) => c.image === imageId && running(c.state))?.id ?? false; }

  attrs(rec: Container, extra: Record<string, string> = {}): Record<string, string> {
    return { ...rec.config.labels, image: rec.config.imageRef, name: rec.name, ...extra };
  }

  // ---- create ---------------------------------------------------------------------------

  /** Make a container from a front end's spec (service-create.ts). */
  create(spec: CreateSpec): Promise<{ Id: string; Warnings: string[] }> { return create(this, spec); }

  /** An exit file of one of ours (else false: conmon's temporary names, strays, are not kept as seen). */
  private readonly exitCallback = (id: string, code: number, at: Date): boolean => {
    if (!this.d.store.has(id)) return false;
    void this.onExit(id, code, at).catch((e) => this.d.log.error('exit handling failed', { id, err: errorMessage(e) }));
    return true;
  };
  private watching = new Set<Runtime>();
  /** Exits are watched only once recovery has looked at every record. */
  private recovered = false;
  readonly ooms = new OomEvents({
    runtimeOf: (rec) => this.runtimeOf(rec),
    bundle: (id) => this.bundle(id),
    heard: (rec) => {
      if (!running(rec.state) || !this.d.store.has(rec.id)) return false;
      // dockerd's EventOOM: OOMKilled from the kill on (a child's too), until the next start
      rec.state.oomKilled = true;
      void this.d.store.persist(rec).catch(() => { /* the exit writes it again */ });
      this.d.events.emit('container', 'oom', rec.id, this.attrs(rec));
      return true;
    },
  });

  private async watchExits(rt: Runtime): Promise<void> {
    if (!this.recovered || this.watching.has(rt)) return;
    this.watching.add(rt);
    await rt.watchExits(this.exitCallback);
  }

  /** The runtime of that name, made on first use where the deps can; exits are watched. */
  async ensureRuntime(name: string): Promise<Runtime | null> {
    let rt = this.d.runtimes.get(name) ?? null;
    if (!rt && this.d.resolveRuntime) rt = await this.d.resolveRuntime(name);
    if (rt) await this.watchExits(rt);
    return rt;
  }

  async hostInfo(): Promise<HostInfo> {
    this.host ??= await readHostInfo();
    return this.host;
  }

  /** dockerd's checks of the resource fields against this host; adjusts r, returns warnings. */
  async verifyResources(r: ResourceConfig, update = false): Promise<string[]> {
    // the cgroup files don't change; the real-time budget an admin grants may (the daemon's
    // own is given to the parent first, as dockerd's initCPURtController)
    const realtime = await this.realtimeBudget(r);
    if (!this.sys || realtime) this.sys = await readSysInfo({ parent: r.CgroupParent || 'tsula' });
    const canLowerOomScore = (await this.hostInfo()).capBounding?.has('CAP_SYS_RESOURCE') ?? false;
    const warnings = verifyResources(r, this.sys, { update, canLowerOomScore });
    await checkBlkioDevices(r);
    return warnings;
  }

  /** Asks r for real time? Then the daemon's budget (if any) is its cgroup parent's first. */
  async realtimeBudget(r: ResourceConfig): Promise<boolean> {
    const asked = r.CpuRealtimeRuntime > 0 || r.CpuRealtimePeriod > 0;
    if (asked && this.d.realtime) await initRealtimeBudget(r.CgroupParent || 'tsula', this.d.realtime);
    return asked;
  }

  // ---- start ----------------------------------------------------------------------------

  async start(ref: string): Promise<'started' | 'already'> {
    const rec = this.get(ref);
    return this.locked(rec.id, async () => {
      if (rec.state.status === 'paused') throw failedPrecondition('cannot start a paused container, try unpause instead'); // dockerd's words, which clients match
      if (running(rec.state)) return 'already';
      if (rec.state.status === 'removing') throw failedPrecondition(`cannot start container ${rec.name}: it is being removed`);
      // a start by the user (or tsulad's at boot): a fresh restart policy
      this.restarts.reset(rec.id);
      Object.assign(rec.state, { restartCount: 0, manuallyStopped: false });
      await this.startLocked(rec);
      return 'started';
    }).catch(async (e) => {
      // docker removes an --rm container whose start failed
      if (rec.config.autoRemove && !running(rec.state)) await this.remove(rec.id, { force: true }).catch(() => {});
      throw e;
    });
  }

  /** Start under the container's lock (start, restart, a policy's restart): service-start.ts. */
  startLocked(rec: Container): Promise<void> { return startLocked(this, rec); }

  async specFor(rec: Container, rootfs: string, volumeSources?: ReadonlyMap<number, string>): Promise<Spec> {
    return containerSpec(rec, rootfs, await this.hostInfo(), { initPath: this.d.initPath, umask: this.d.umask, defaultUlimits: this.d.defaultUlimits, guestKernel: this.runtimeOf(rec).guestKernel === true, volumeSources });
  }

  // ---- attach (service-attach.ts) -------------------------------------------------------

  /** dockerd's refusals of an attach, made while they can still be HTTP errors. */
  checkAttach(ref: string): Container { return checkAttach(this, ref); }
  /** A container's stdio: now if it runs, at its next start if created or exited, else null. */
  attach(ref: string, signal?: AbortSignal): Promise<StdioStream | null> { return attach(this, ref, signal); }
  resize(ref: string, h: number, w: number): Promise<void> { return resize(this, ref, h, w); }
  /** CRI's ReopenContainerLog. */
  reopenLog(ref: string): Promise<void> { return reopenLog(this, ref); }

  // ---- exits, stop, kill, wait ----------------------------------------------------------

  /**
   * Called by the runtime's exit monitor (also for exits that happened while we were down).
   * The exit is delivered from memory first (waiters, attached clients, `die`: none of them
   * needs the disk); then the record is persisted, and only once it holds the code do the
   * runtime's state and conmon's exit file go. A full disk keeps them until a retry writes it.
   */
  async onExit(id: string, code: number, at: Date, error?: string): Promise<void> {
    if (!this.d.store.has(id)) return;
    const rec = this.d.store.get(id);
    await this.locked(id, async () => {
      // an rm that finished while we waited for the lock: nothing to record (or to write back)
      if (!this.d.store.has(id) || (!running(rec.state) && rec.state.status !== 'removing')) return;
      // the runtime's word (conmon's oom file and its cgroup's count); a runtime that cannot
      // say: the host cgroup, still there until the runtime's delete, counts the kills
      const rt = this.runtimeOf(rec);
      const heard = this.ooms.ended(id);
      const oom = heard || (rt.oomKilled ? await rt.oomKilled(id, this.bundle(id)).catch(() => false)
        : ((await readOomKills(await detectCgroups(), cgroupsPath(rec.config.resources, id)).catch(() => null)) ?? 0n) > 0n);
      const ph = new Phases('exit', id);
      ph.mark('oom');
      Object.assign(rec.state, { status: 'exited', pid: 0, exitCode: code, finishedAt: at.toISOString(), oomKilled: oom });
      delete rec.state.pausedBy;
      if (error !== undefined) rec.state.error = error;
      // the restart policy decides now, as docker's monitor: running → restarting, never exited
      // in between (a stop meanwhile cancels it); the restart waits for this lock
      const restart = this.restarts.exited(rec);
      if (restart) Object.assign(rec.state, { status: 'restarting', restartCount: restart === 'boot' ? 0 : rec.state.restartCount + 1 });
      this.hooks.exited(rec);
      const unmounted = this.d.driver.unmount(id).catch((e) => this.d.log.warn('unmount after exit', { id, err: errorMessage(e) }));
      const forgotten = this.runtimeOf(rec).forgetState?.(id).catch((e) => this.d.log.warn('runtime delete after exit', { id, err: errorMessage(e) }));
      // the network's release changes the record (no endpoints): before it is written; and
      // before the `die` and the waiters, as dockerd's Cleanup before SetStopped: a `docker
      // stop` or `wait` returns with the address free (compose's recreate takes it next)
      await this.hooks.stopped(rec).catch((e) => this.d.log.warn('releasing after exit', { id, err: errorMessage(e) }));
      ph.mark('release');
      // dockerd's `oom` event (from containerd's TaskOOM) comes before the `die`: when it was
      // not heard while the container ran (a runtime that can only tell at the exit)
      if (oom && !heard) this.d.events.emit('container', 'oom', id, this.attrs(rec));
      this.d.events.emit('container', 'die', id, this.attrs(rec, { exitCode: String(code) }));
      this.waiters.wake(id, ['next-exit', 'not-running'], code);
      await this.hooks.settled(rec).catch((e) => this.d.log.warn('tidying after exit', { id, err: errorMessage(e) }));
      this.faults.hit('exit:before-save');
      this.unreleased.add(id);
      // the rootfs and the runtime's state go before the record is written: by then a client
      // that waited for the exit has asked for the removal, if it does (docker wait, then rm)
      await forgotten;
      await unmounted;
      ph.mark('runtime-delete');
      // an --rm container's removal follows at once, as does one asked for meanwhile: its
      // exit gets no record of its own (an fsync). Until the removal's tombstone is on disk,
      // conmon's exit file stays: a crash in between finds a record that says running and
      // that file, and recovery finishes it; a removal that fails writes the record then.
      const autoRemove = rec.config.autoRemove && !this.manualRestarts.has(id);
      const removedNext = rec.state.status === 'exited' && (autoRemove || this.removalsDue.has(id));
      if (removedNext) this.exitUnrecorded.add(id);
      // the recorded exit (conmon's exit file) goes only once the record holds the code
      else if (await this.d.store.persist(rec)) {
        ph.mark('record');
        this.faults.hit('exit:after-save');
        await this.release(rec);
      }
      ph.done(this.d.log);
    });
    if (rec.config.autoRemove && !this.manualRestarts.has(id)) {
      await this.remove(id, { force: true, volumes: true }).catch((e) => this.d.log.warn('auto-remove failed', { id, err: errorMessage(e) }));
    }
  }

  /** Forget the runtime state and exit file of an exit whose record is on disk. */
  async release(rec: Container): Promise<void> {
    await this.runtimeOf(rec).delete(rec.id, this.bundle(rec.id), true)
      .catch((e) => this.d.log.warn('runtime delete after exit', { id: rec.id, err: errorMessage(e) }));
    this.unreleased.delete(rec.id);
  }

  /** A record pending for lack of space reached the disk: what its exit kept may go now. */
  private releaseLater(id: string): Promise<void> {
    return this.locked(id, async () => {
      if (!this.unreleased.has(id) || !this.d.store.has(id)) return;
      const rec = this.d.store.get(id);
      if (!running(rec.state) && !this.d.store.isPending(id)) await this.release(rec);
    }).catch((e) => this.d.log.warn('releasing runtime state', { id, err: errorMessage(e) }));
  }

  wait(ref: string, cond: WaitCondition = 'not-running'): Promise<number> {
    const rec = this.get(ref);
    if (cond === 'not-running' && !running(rec.state)) return Promise.resolve(rec.state.exitCode);
    return this.waiters.add(rec.id, cond);
  }

  // ---- kill, stop, restart (service-stop.ts) ----------------------------------------------

  kill(ref: string, signal = 'SIGKILL'): Promise<void> { return kill(this, ref, signal); }
  /** Docker's stop: the stop signal, then SIGKILL after `timeout` seconds. */
  stop(ref: string, timeout?: number, signal?: string, abort?: AbortSignal): Promise<'stopped' | 'already'> { return stop(this, ref, timeout, signal, abort); }
  /** docker restart: stop, then a start by the user. */
  restart(ref: string, timeout?: number, signal?: string): Promise<void> { return restart(this, ref, timeout, signal); }

  // ---- settings (service-settings.ts) ----------------------------------------------------

  update(ref: string, rawBody: unknown): Promise<{ Warnings: string[] }> { return update(this, ref, rawBody); }
  pause(ref: string, by?: 'commit'): Promise<void> { return pause(this, ref, by); }
  unpause(ref: string): Promise<void> { return unpause(this, ref); }
  rename(ref: string, newName: string): Promise<void> { return rename(this, ref, newName); }
  top(ref: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> { return top(this, ref, psArgs); }

  // ---- remove ---------------------------------------------------------------------------

  /** docker rm; `volumes`: rm -v, the container's anonymous volumes go too (service-remove.ts). */
  remove(ref: string, opts: { force: boolean; volumes?: boolean }): Promise<void> { return remove(this, ref, opts); }

  // ---- recovery -------------------------------------------------------------------------

  /** Live restore: adopt what survived us; finish what a crash interrupted (recovery.ts). */
  async recover(): Promise<void> {
    await recoverContainers(this);
    await this.hooks.recovered(this.list()).catch((e) => this.d.log.warn('recovering networks', { err: errorMessage(e) }));
    this.recovered = true;
    await removeAutoRemoved(this);
    for (const c of this.list()) if (running(c.state) && c.state.status !== 'restarting') this.ooms.watch(c);
    for (const rt of new Set(this.d.runtimes.values())) await this.watchExits(rt);
    this.restarts.boot(this.list());
    this.stopMonitorPoll = pollMonitors(this);
  }

  private stopMonitorPoll?: () => void;

  close(): void {
    this.restarts.close();
    this.stopMonitorPoll?.();
  }

  requireRunning(rec: Container): void {
    if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
    if (rec.state.status === 'restarting') throw failedPrecondition(`Container ${rec.id} is restarting, wait until the container is running`);
    if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is paused, unpause the container before exec`);
  }
}
