// The container service: every front end (HTTP API, later CRI) calls these methods; they
// keep the record, the snapshot and the runtime in step, and emit events.
import { Phases } from '../../common/phases.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { running, type Container, type CreateSpec } from './model.js';
import { ContainerStore } from './store.js';
import { etcFilesIntact, resolveContainer, writeEtcFiles } from './create.js';
import type { ImageStore } from '../../image/types.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { Runtime, StdioStream } from '../../runtime/types.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../../common/log.js';
import { readHostInfo, rlimits, type HostInfo } from '../../oci/spec.js';
import { containerSpec } from './spec.js';
import { cgroupsPath, checkBlkioDevices, verifyResources, type ResourceConfig } from './resources.js';
import { detectCgroups, readOomKills } from '../../cgroups/index.js';
import { readSysInfo, type SysInfo } from '../../oci/sysinfo.js';
import { mergeUpdate, updateBodySchema, updateLimits, updateRequest } from './update.js';
import { psTable } from './top.js';
import { makeWorkingDir } from './rootfs.js';
import { dockerdStartError } from './oci-errors.js';
import type { Spec } from '../../oci/types.js';
import { failedPrecondition, invalidArgument, notFound, errorMessage, errorKind, TsulaError, isKind, isNoSpace, withContext, noSpaceLeft, unimplemented } from '../../common/errors.js';
import { newId, validateName } from '../../common/ids.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { NO_FAULTS, type Faults } from '../../common/faults.js';
import { parseSignal, signalNumber } from './signals.js';
import { recoverContainers, forget } from './recovery.js';
import { ExitWaiters, PendingAttaches, type WaitCondition } from './waiters.js';
import { isEnginePodSandbox, podIdOf } from '../../common/pod-annotations.js';
import { Hooks, type ContainerHooks } from './hooks.js';
import { RestartManager } from './restart.js';

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
}


export class ContainerService {
  private host: HostInfo | null = null;
  private sys: SysInfo | null = null;
  private waiters = new ExitWaiters();
  private pendingAttach = new PendingAttaches();
  private locks = new Map<string, Promise<unknown>>();
  /**
   * Containers whose runtime state and exit file outlive their exit: kept until the record
   * holding the exit code is on disk (a full disk delays that), so a crash before then still
   * finds conmon's exit file. Released under the container's lock.
   */
  private unreleased = new Set<string>();
  readonly faults: Faults;
  readonly hooks: Hooks;
  readonly restarts: RestartManager;

  constructor(readonly d: ServiceDeps) {
    this.faults = d.faults ?? NO_FAULTS;
    this.hooks = new Hooks(d.hooks ?? []);
    this.restarts = new RestartManager({ restartByPolicy: (id) => this.restartByPolicy(id), start: (id) => this.start(id), log: d.log });
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
    await Promise.all(this.ofPod(podId).map((c) => this.stop(c.id, timeoutSecs)));
  }

  /** Remove every container of a pod. */
  async removePod(podId: string): Promise<void> {
    for (const c of this.ofPod(podId)) await this.remove(c.id, { force: true });
  }
  bundle(id: string): string { return path.join(this.d.stateDir, id); }
  runtimeOf(rec: Container): Runtime {
    const rt = this.d.runtimes.get(rec.runtime);
    if (!rt) throw failedPrecondition(`container ${rec.id.slice(0, 12)} uses runtime "${rec.runtime}", which is not configured`);
    return rt;
  }
  /** The id of a container of the image (dockerd names one in its rmi conflicts), or false. */
  imageInUse(imageId: string): string | false { return this.d.store.list().find((c) => c.image === imageId)?.id ?? false; }

  attrs(rec: Container, extra: Record<string, string> = {}): Record<string, string> {
    return { ...rec.config.labels, image: rec.config.imageRef, name: rec.name, ...extra };
  }

  // ---- create ---------------------------------------------------------------------------

  /**
   * Make a container from a front end's spec (the Docker-shaped API's and CRI's translate
   * into it): resources checked, the name reserved before the first await, the image found,
   * the writable layer prepared. On any failure nothing of it is left.
   */
  async create(spec: CreateSpec): Promise<{ Id: string; Warnings: string[] }> {
    // dockerd checks the settings before it looks for the image or takes the name
    const id = newId();
    const ph = new Phases('create', id);
    const warnings = await this.verifyResources(spec.resources);
    // a stop signal dockerd can't parse is refused now, not at the first docker stop
    if (spec.stopSignal) parseSignal(spec.stopSignal);
    ph.mark('verify');
    // the name is taken before the first await: a concurrent create sees it reserved, and a
    // generated name is checked against every reserved name, not only the saved records
    const names = this.d.store.names;
    let cname: string;
    try {
      cname = spec.name ? names.reserve(validateName(spec.name), id) : names.reserveGenerated(id);
    } catch (e) {
      // docker looks the image up first: a missing image is a 404 even when the name is taken
      if (isKind(e, 'AlreadyExists')) await this.d.images.get(spec.image);
      throw e;
    }
    const dir = this.d.store.dir(id);
    let prepared = false;
    let hooked: Container | null = null;
    let mounted = false;
    try {
      const runtime = spec.runtime || this.d.defaultRuntime;
      if (!(await this.ensureRuntime(runtime))) throw invalidArgument(`unknown runtime specified ${runtime} (configured: ${[...this.d.runtimes.keys()].join(', ')})`);
      const image = await this.d.images.get(spec.image);
      ph.mark('image');
      // the spec builder's own check, so a bad --ulimit fails now rather than at start
      rlimits({ ulimits: spec.ulimits }, await this.hostInfo());
      const rec = resolveContainer({ id, name: cname, spec, image, runtime, driver: this.d.driver.name, containerDir: dir });
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      prepared = true; // before: a prepare cut short by a full disk leaves pieces to remove
      ph.mark('resolve');
      await this.d.driver.prepare(id, image.chainIds);
      hooked = rec;
      await this.hooks.create(rec, {
        spec, image, warnings,
        rootfs: async () => { mounted = true; return this.d.driver.mount(id); },
      });
      // dockerd makes the working directory at create (a kubelet's is left to the runtime)
      if (rec.config.workingDir && !spec.cri) {
        mounted = true;
        await makeWorkingDir(await this.d.driver.mount(id), rec.config.workingDir);
      }
      if (mounted) { mounted = false; await this.d.driver.unmount(id); }
      ph.mark('snapshot');
      await writeEtcFiles(rec);
      await fs.mkdir(path.dirname(rec.paths.log), { recursive: true });
      await writeFileAtomic(rec.paths.log, '', 0o600, 'none'); // `logs` before the start reads it
      ph.mark('files');
      this.faults.hit('create:before-save'); // a directory without a record: dropped at start-up
      await this.d.store.save(rec);
      ph.mark('record');
      this.d.events.emit('container', 'create', id, this.attrs(rec));
      ph.done(this.d.log);
      return { Id: id, Warnings: warnings };
    } catch (e) {
      if (hooked) await this.hooks.createFailed(hooked);
      if (mounted) await this.d.driver.unmount(id).catch(() => {});
      if (prepared) await this.d.driver.remove(id).catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
      names.release(cname, id); // last: the name is free only once nothing of it is left
      throw isNoSpace(e) ? noSpaceLeft(this.d.graph, `creating container ${cname}`, e) : e;
    }
  }

  private readonly exitCallback = (id: string, code: number, at: Date) => {
    void this.onExit(id, code, at).catch((e) => this.d.log.error('exit handling failed', { id, err: errorMessage(e) }));
  };
  private watching = new Set<Runtime>();
  /** Exits are watched only once recovery has looked at every record. */
  private recovered = false;

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

  private async hostInfo(): Promise<HostInfo> {
    this.host ??= await readHostInfo();
    return this.host;
  }

  /** dockerd's checks of the resource fields against this host; adjusts r, returns warnings. */
  private async verifyResources(r: ResourceConfig, update = false): Promise<string[]> {
    // the cgroup files don't change; the real-time budget an admin grants may
    if (!this.sys || r.CpuRealtimeRuntime > 0) this.sys = await readSysInfo({ parent: r.CgroupParent || 'tsula' });
    const canLowerOomScore = (await this.hostInfo()).capBounding?.has('CAP_SYS_RESOURCE') ?? false;
    const warnings = verifyResources(r, this.sys, { update, canLowerOomScore });
    await checkBlkioDevices(r);
    return warnings;
  }

  // ---- start ----------------------------------------------------------------------------

  async start(ref: string): Promise<'started' | 'already'> {
    const rec = this.get(ref);
    return this.locked(rec.id, async () => {
      if (rec.state.status === 'paused') throw failedPrecondition(`cannot start a paused container ${rec.name}, try unpause instead`);
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

  private async startLocked(rec: Container): Promise<void> {
    const rt = this.runtimeOf(rec);
    const bundle = this.bundle(rec.id);
    const ph = new Phases('start', rec.id);
    let created = false;
    let hooked = false;
    try {
      // the last run's runtime state, kept while its exit was not on disk: this run replaces it
      if (this.unreleased.has(rec.id)) await this.release(rec);
      await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
      hooked = true;
      await this.hooks.beforeStart(rec);
      if (!(await etcFilesIntact(rec))) await writeEtcFiles(rec); // a power cut emptied them
      const rootfs = await this.d.driver.mount(rec.id);
      ph.mark('mount');
      const spec = await this.specFor(rec, rootfs);
      ph.mark('spec');
      for (const b of rec.config.binds) await fs.mkdir(b.source, { recursive: true }).catch(() => { /* a file, or read-only: runc says */ });
      const pid = await rt.create({
        id: rec.id, bundle, spec, logPath: rec.config.logDriver === 'none' ? '/dev/null' : rec.paths.log, terminal: rec.config.tty,
        // docker closes stdin at the end of an attach's input only without a TTY: with one,
        // Ctrl-P Ctrl-Q (or a dropped client) must leave the shell's input open for the next attach
        stdin: rec.config.openStdin, stdinOnce: rec.config.stdinOnce && !rec.config.tty,
      });
      created = true;
      ph.mark('runtime-create');
      this.faults.hit('start:after-create');
      await this.connectPendingAttach(rec, rt, bundle);
      ph.mark('attach');
      const startedAt = new Date().toISOString(); // before: the exit may be stamped before start returns
      await rt.start(rec.id);
      ph.mark('runtime-start');
      this.faults.hit('start:after-start'); // recovery adopts it from the runtime
      Object.assign(rec.state, { status: 'running', pid, exitCode: 0, error: '', oomKilled: false, startedAt });
      // the record follows the response: a full disk or a crash before the write are caught
      // up by the store's retry and by recovery (a live conmon over a record that says "created")
      void this.d.store.persist(rec).catch((e) => this.d.log.error('cannot write container record', { id: rec.id, err: errorMessage(e) }));
      this.d.events.emit('container', 'start', rec.id, this.attrs(rec));
      await this.hooks.started(rec).catch((e) => this.d.log.warn('after start', { id: rec.id, err: errorMessage(e) }));
      ph.done(this.d.log);
    } catch (e) {
      this.pendingAttach.fail(rec.id);
      if (created) await rt.delete(rec.id, bundle, true).catch(() => {});
      if (hooked) await this.hooks.stopped(rec).catch((u) => this.d.log.warn('releasing after a failed start', { id: rec.id, err: errorMessage(u) }));
      await this.d.driver.unmount(rec.id).catch(() => {});
      const msg = errorMessage(e);
      // a docker container's runtime refusal in dockerd's words and codes (a CRI one's as it is)
      const said = rec.config.pod ? null : dockerdStartError(e, [...rec.config.entrypoint, ...rec.config.cmd][0] ?? '', 'create');
      rec.state.error = said ? said.error.message : msg;
      rec.state.exitCode = said?.exitCode ?? (/not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128);
      await this.d.store.persist(rec).catch(() => {});
      if (said) throw said.error;
      throw e instanceof TsulaError ? e : new TsulaError('Internal', msg);
    }
  }

  async specFor(rec: Container, rootfs: string): Promise<Spec> {
    return containerSpec(rec, rootfs, await this.hostInfo(), { initPath: this.d.initPath });
  }

  // ---- attach ---------------------------------------------------------------------------

  /**
   * dockerd's refusals, made before the API switches protocols so that they are still HTTP
   * errors: a paused or restarting container can't be attached to (409).
   */
  checkAttach(ref: string): Container {
    const rec = this.get(ref);
    if (rec.state.status === 'paused') throw failedPrecondition(`container ${ref} is paused, unpause the container before attach`);
    if (rec.state.status === 'restarting') throw failedPrecondition(`container ${ref} is restarting, wait until the container is running`);
    return rec;
  }

  /**
   * Attach to a container's stdio: now if it runs; at its next start if it is created or
   * exited (docker's `start -a` attaches first, then starts); null once that can't happen
   * (removed, its start failed, `signal` aborted: the client left) or it is being removed.
   */
  async attach(ref: string, signal?: AbortSignal): Promise<StdioStream | null> {
    const rec = this.get(ref);
    if (signal?.aborted) return null;
    if (running(rec.state)) {
      let s: StdioStream;
      try {
        s = await this.runtimeOf(rec).attach(rec.id, this.bundle(rec.id));
      } catch (e) {
        if (!running(rec.state) || !this.d.store.has(rec.id)) return null; // it exited meanwhile
        throw e;
      }
      this.d.events.emit('container', 'attach', rec.id, this.attrs(rec));
      return s;
    }
    if (rec.state.status !== 'created' && rec.state.status !== 'exited') return null;
    // dockerd logs the attach when the streams are registered, before any start
    this.d.events.emit('container', 'attach', rec.id, this.attrs(rec));
    return this.pendingAttach.add(rec.id, signal);
  }

  private async connectPendingAttach(rec: Container, rt: Runtime, bundle: string): Promise<void> {
    for (const p of this.pendingAttach.take(rec.id)) {
      try {
        const st = await rt.attach(rec.id, bundle);
        // the client may have left while the runtime connected: nobody reads this stream
        if (p.signal?.aborted) st.close(); else p.resolve(st);
      } catch (e) {
        this.d.log.warn('attach at start failed', { id: rec.id, err: errorMessage(e) });
        p.resolve(null);
      }
    }
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const rec = this.get(ref);
    if (!running(rec.state)) throw failedPrecondition(`container ${rec.name} is not running`);
    if (rec.config.tty) await this.runtimeOf(rec).resize(rec.id, this.bundle(rec.id), h, w);
    // dockerd logs each resize (an exec's not); SIGWINCH forwarded by a client's signal proxy is a kill
    this.d.events.emit('container', 'resize', rec.id, this.attrs(rec, { height: String(h), width: String(w) }));
  }

  /** CRI's ReopenContainerLog: the runtime writes to a new log file at the same path. */
  async reopenLog(ref: string): Promise<void> {
    const rec = this.get(ref);
    if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
    const rt = this.runtimeOf(rec);
    if (!rt.reopenLog) throw unimplemented(`runtime ${rec.runtime} cannot reopen container logs`);
    await rt.reopenLog(rec.id, this.bundle(rec.id));
  }

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
      const oom = rt.oomKilled ? await rt.oomKilled(id, this.bundle(id)).catch(() => false)
        : ((await readOomKills(await detectCgroups(), cgroupsPath(rec.config.resources, id)).catch(() => null)) ?? 0n) > 0n;
      const ph = new Phases('exit', id);
      ph.mark('oom');
      Object.assign(rec.state, { status: 'exited', pid: 0, exitCode: code, finishedAt: at.toISOString(), oomKilled: oom });
      if (error !== undefined) rec.state.error = error;
      // the restart policy decides now, as docker's monitor: running → restarting, never exited
      // in between (a stop meanwhile cancels it); the restart waits for this lock
      if (this.restarts.exited(rec)) Object.assign(rec.state, { status: 'restarting', restartCount: rec.state.restartCount + 1 });
      // dockerd's `oom` event (from containerd's TaskOOM) comes before the `die`
      if (oom) this.d.events.emit('container', 'oom', id, this.attrs(rec));
      this.d.events.emit('container', 'die', id, this.attrs(rec, { exitCode: String(code) }));
      this.waiters.wake(id, ['next-exit', 'not-running'], code);
      this.faults.hit('exit:before-save');
      // the network's release changes the record (no endpoints): before it is written
      const unmounted = this.d.driver.unmount(id).catch((e) => this.d.log.warn('unmount after exit', { id, err: errorMessage(e) }));
      const forgotten = this.runtimeOf(rec).forgetState?.(id).catch((e) => this.d.log.warn('runtime delete after exit', { id, err: errorMessage(e) }));
      await this.hooks.stopped(rec).catch((e) => this.d.log.warn('releasing after exit', { id, err: errorMessage(e) }));
      this.unreleased.add(id);
      // the rootfs is unmounted and the runtime's state goes while the record is written;
      // the recorded exit (conmon's exit file) goes only once the record holds the code
      if (await this.d.store.persist(rec)) {
        ph.mark('record');
        this.faults.hit('exit:after-save');
        await forgotten;
        await this.release(rec);
        ph.mark('runtime-delete');
      }
      await forgotten;
      await unmounted;
      ph.mark('unmount');
      ph.done(this.d.log);
    });
    if (rec.config.autoRemove) {
      await this.remove(id, { force: true, volumes: true }).catch((e) => this.d.log.warn('auto-remove failed', { id, err: errorMessage(e) }));
    }
  }

  /** Forget the runtime state and exit file of an exit whose record is on disk. */
  private async release(rec: Container): Promise<void> {
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

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = parseSignal(signal);
    if (!running(rec.state)) throw failedPrecondition(`Cannot kill container: ${ref}: Container ${rec.id} is not running`);
    // docker: a kill is a stop by the user; with the stop signal (or SIGKILL) no restart follows
    await this.markManuallyStopped(rec);
    const stopSig = rec.config.stopSignal ? parseSignal(rec.config.stopSignal) : undefined;
    if (!stopSig || sig === 'SIGKILL' || sig === stopSig) this.restarts.disarm(rec.id);
    if (await this.endRestarting(rec)) return;
    await this.runtimeOf(rec).kill(rec.id, sig);
    this.d.events.emit('container', 'kill', rec.id, this.attrs(rec, { signal: String(signalNumber(sig)) }));
  }

  /**
   * The containers of an iSulad-style pod whose sandbox container this is
   * (io.kubernetes.docker.type=podsandbox; members name it in io.kubernetes.sandbox.id, by id
   * or a unique prefix of one, as the seed guides pass `tsula run -d`'s output).
   */
  private podMembers(rec: Container): Container[] {
    if (!isEnginePodSandbox(rec.config.annotations)) return [];
    return this.d.store.list().filter((c) => {
      const pod = podIdOf(c.config.annotations);
      return c.id !== rec.id && pod.length >= 12 && rec.id.startsWith(pod);
    });
  }

  /**
   * A stop or kill by the user: no policy restart follows, not even after tsulad's own
   * restart, so the mark is on disk before the signal (the exit's record may come too late).
   */
  private async markManuallyStopped(rec: Container): Promise<void> {
    if (rec.state.manuallyStopped) return;
    rec.state.manuallyStopped = true;
    if ((rec.config.restartPolicy?.name ?? 'no') !== 'no') await this.d.store.persist(rec);
  }

  /** Docker's stop: the stop signal, then SIGKILL after `timeout` seconds. */
  async stop(ref: string, timeout?: number): Promise<'stopped' | 'already'> {
    const rec = this.get(ref);
    // a pod's sandbox container stops last, as a pod would
    await Promise.all(this.podMembers(rec).map((m) => this.stop(m.id, timeout)));
    if (!running(rec.state)) return 'already';
    await this.markManuallyStopped(rec);
    this.restarts.disarm(rec.id);
    if (await this.endRestarting(rec)) {
      this.d.events.emit('container', 'stop', rec.id, this.attrs(rec));
      return 'stopped';
    }
    const rt = this.runtimeOf(rec);
    const exited = this.wait(rec.id, 'not-running');
    const sig = parseSignal(rec.config.stopSignal || 'SIGTERM');
    // dockerd: the caller's -t, else the container's StopTimeout, else 10; negative waits forever
    const t = timeout ?? rec.config.stopTimeout ?? 10;
    await rt.kill(rec.id, sig).catch(() => {});
    if (rec.state.status === 'paused') await rt.resume(rec.id).catch(() => {});
    const timedOut = t < 0 ? await exited.then(() => false) : await Promise.race([exited.then(() => false), sleep(t * 1000).then(() => true)]);
    if (timedOut && running(rec.state)) {
      await rt.kill(rec.id, 'SIGKILL', true).catch(() => {});
      await exited;
    }
    this.d.events.emit('container', 'stop', rec.id, this.attrs(rec));
    return 'stopped';
  }

  /** docker restart: stop, then a start by the user (RestartCount counts policy restarts only). */
  async restart(ref: string, timeout?: number): Promise<void> {
    const rec = this.get(ref);
    await this.stop(rec.id, timeout);
    // docker's restart is a start by the user: the policy's count starts again
    await this.locked(rec.id, async () => {
      this.restarts.reset(rec.id);
      Object.assign(rec.state, { restartCount: 0, manuallyStopped: false });
      await this.startLocked(rec);
    });
    this.d.events.emit('container', 'restart', rec.id, this.attrs(rec));
  }

  /** The restart manager's start (its delay is over): the count is raised already. */
  private async restartByPolicy(id: string): Promise<void> {
    if (!this.d.store.has(id)) return;
    const rec = this.d.store.get(id);
    await this.locked(id, async () => {
      if (rec.state.status !== 'restarting') return; // stopped, removed or started meanwhile
      try {
        await this.startLocked(rec);
      } catch (e) {
        rec.state.status = 'exited';
        await this.d.store.persist(rec).catch(() => {});
        throw e;
      }
    });
  }

  /** A container waiting for its policy restart is stopped there instead: true if it was. */
  private async endRestarting(rec: Container): Promise<boolean> {
    if (rec.state.status !== 'restarting') return false;
    this.restarts.cancel(rec.id);
    return this.locked(rec.id, async () => {
      if (rec.state.status !== 'restarting') return !running(rec.state);
      rec.state.status = 'exited';
      await this.d.store.persist(rec);
      this.waiters.wake(rec.id, ['not-running'], rec.state.exitCode);
      return true;
    });
  }

  /** docker update: checked, merged into the record; a live container's cgroups follow at once. */
  async update(ref: string, rawBody: unknown): Promise<{ Warnings: string[] }> {
    const parsed = (await updateBodySchema()).safeParse(rawBody);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw invalidArgument(`invalid update config: ${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const req = updateRequest(parsed.data);
    const warnings = await this.verifyResources(req, true);
    const rec = this.get(ref);
    await this.locked(rec.id, async () => {
      if (rec.state.status === 'removing' || rec.state.status === 'dead') {
        throw failedPrecondition(`Cannot update container ${rec.id}: container is marked for removal and cannot be "update"`);
      }
      const merged = mergeUpdate(rec.id, rec.config.resources, req);
      // the merged set must hold together as a create's would (memory ≥ reservation, …)
      verifyResources({ ...merged }, this.sys!, { update: true, canLowerOomScore: true });
      if (running(rec.state)) {
        await this.runtimeOf(rec).update(rec.id, this.bundle(rec.id), await updateLimits(merged, req))
          .catch((e) => { throw new TsulaError(errorKind(e), `Cannot update container ${rec.id}: ${errorMessage(e)}`, { cause: e }); });
      }
      Object.assign(rec.config.resources, merged);
      await this.d.store.save(rec);
    });
    this.d.events.emit('container', 'update', rec.id, this.attrs(rec));
    return { Warnings: warnings };
  }

  async pause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.id, async () => {
      if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
      if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is already paused`);
      await this.runtimeOf(rec).pause(rec.id);
      rec.state.status = 'paused';
      await this.d.store.persist(rec);
      this.d.events.emit('container', 'pause', rec.id, this.attrs(rec));
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.id, async () => {
      if (rec.state.status !== 'paused') throw failedPrecondition(`Container ${rec.id} is not paused`);
      await this.runtimeOf(rec).resume(rec.id);
      rec.state.status = 'running';
      await this.d.store.persist(rec);
      this.d.events.emit('container', 'unpause', rec.id, this.attrs(rec));
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    const old = rec.name;
    // dockerd canonicalizes the new name to "/name" first, and words a name it can't take
    // (invalid, or another container's) as "Error when allocating new name: …"; compose and
    // deploy scripts match on that prefix
    const slashed = newName.startsWith('/') ? newName : `/${newName}`;
    if (slashed === `/${old}`) throw invalidArgument(`Renaming a container with the same name as its current name`);
    const allocating = (e: unknown): never => { throw withContext(e, 'Error when allocating new name'); };
    let n = '';
    try { n = validateName(slashed); } catch (e) { allocating(e); }
    await this.d.store.rename(rec, n).catch((e) => {
      if (isNoSpace(e)) throw noSpaceLeft(this.d.graph, `renaming container ${old}`, e);
      if (isKind(e, 'AlreadyExists')) allocating(e);
      throw e;
    });
    this.d.events.emit('container', 'rename', rec.id, this.attrs(rec, { oldName: '/' + old }));
  }

  async top(ref: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.get(ref);
    if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
    return psTable(await this.runtimeOf(rec).pids(rec.id), psArgs);
  }

  // ---- remove ---------------------------------------------------------------------------

  /** docker rm; `volumes`: rm -v, the container's anonymous volumes go too. */
  async remove(ref: string, opts: { force: boolean; volumes?: boolean }): Promise<void> {
    const rec = this.get(ref);
    if (opts.force) this.restarts.disarm(rec.id); // the kill below is not an exit to restart after
    if (rec.state.status === 'restarting' && opts.force) await this.endRestarting(rec);
    if (running(rec.state)) {
      if (opts.force) await Promise.all(this.podMembers(rec).map((m) => this.stop(m.id, 0)));
      if (!opts.force) {
        throw failedPrecondition(`You cannot remove a ${rec.state.status === 'paused' ? 'paused' : 'running'} container ${rec.id}. Stop the container before attempting removal or force remove`);
      }
      const exited = this.wait(rec.id, 'not-running');
      await this.runtimeOf(rec).kill(rec.id, 'SIGKILL', true).catch(() => {});
      if (rec.state.status === 'paused') await this.runtimeOf(rec).resume(rec.id).catch(() => {});
      await Promise.race([exited, sleep(10_000)]);
    }
    await this.locked(rec.id, async () => {
      if (!this.d.store.has(rec.id)) return;
      const ph = new Phases('remove', rec.id);
      // an exited container's runtime state went when its exit was recorded, unless the disk was full
      const keepsRuntime = rec.state.status !== 'exited' || this.unreleased.has(rec.id);
      rec.state.status = 'removing';
      // rm must work on a full disk, to free it: the mark is a rename (no space needed), and
      // the writable layer goes before anything that could need space
      await this.d.store.markRemoving(rec);
      ph.mark('mark');
      this.faults.hit('rm:after-mark');
      const rt = this.d.runtimes.get(rec.runtime);
      if (keepsRuntime && rt) await forget(rt, rec.id, this.bundle(rec.id)).catch(() => {});
      ph.mark('runtime');
      this.unreleased.delete(rec.id);
      await this.d.driver.remove(rec.id);
      ph.mark('snapshot');
      this.faults.hit('rm:after-snapshot');
      await fs.rm(this.bundle(rec.id), { recursive: true, force: true });
      await this.d.store.delete(rec);
      this.restarts.forget(rec.id);
      await this.hooks.removed(rec, { volumes: !!opts.volumes }).catch((e) => this.d.log.warn('after rm', { id: rec.id, err: errorMessage(e) }));
      ph.mark('record');
      ph.done(this.d.log);
      this.pendingAttach.fail(rec.id);
      this.d.events.emit('container', 'destroy', rec.id, this.attrs(rec));
      this.waiters.wake(rec.id, ['removed', 'next-exit', 'not-running'], rec.state.exitCode);
    });
    void this.d.store.flushPending(); // the space this freed may let pending records be written
  }

  // ---- recovery -------------------------------------------------------------------------

  /** Live restore: adopt what survived us; finish what a crash interrupted (recovery.ts). */
  async recover(): Promise<void> {
    await recoverContainers(this);
    await this.hooks.recovered(this.list()).catch((e) => this.d.log.warn('recovering networks', { err: errorMessage(e) }));
    this.recovered = true;
    for (const rt of new Set(this.d.runtimes.values())) await this.watchExits(rt);
    this.restarts.boot(this.list());
  }

  close(): void {
    this.restarts.close();
  }

  requireRunning(rec: Container): void {
    if (!running(rec.state)) throw failedPrecondition(`Container ${rec.id} is not running`);
    if (rec.state.status === 'restarting') throw failedPrecondition(`Container ${rec.id} is restarting, wait until the container is running`);
    if (rec.state.status === 'paused') throw failedPrecondition(`Container ${rec.id} is paused, unpause the container before exec`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
