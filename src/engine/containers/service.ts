// The container service: every front end (HTTP API, later CRI) calls these methods; they
// keep the record, the snapshot and the runtime in step, and emit events.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord } from './record.js';
import { ContainerStore } from './store.js';
import { buildRecord, createBodySchema, parseBind, writeEtcFiles } from './create.js';
import type { ImageStore } from '../../image/types.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { Runtime, StdioStream } from '../../runtime/types.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../../common/log.js';
import { readHostInfo, rlimits, type HostInfo } from '../../oci/spec.js';
import { containerSpec } from './spec.js';
import { checkBlkioDevices, resourcesFromBody, verifyResources, type ResourceConfig } from './resources.js';
import { readSysInfo, type SysInfo } from '../../oci/sysinfo.js';
import { mergeUpdate, updateBodySchema, updateLimits, updateRequest } from './update.js';
import { psTable } from './top.js';
import type { Spec } from '../../oci/types.js';
import { failedPrecondition, invalidArgument, notFound, errorMessage, errorKind, TsulaError, isKind, isNoSpace, noSpaceLeft } from '../../common/errors.js';
import { newId, validateName } from '../../common/ids.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { NO_FAULTS, type Faults } from '../../common/faults.js';
import { parseSignal, signalNumber } from './signals.js';
import { recoverContainers, forget } from './recovery.js';
import { ExitWaiters, PendingAttaches, type WaitCondition } from './waiters.js';

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

  constructor(readonly d: ServiceDeps) {
    this.faults = d.faults ?? NO_FAULTS;
    d.store.onPersisted = (id) => { void this.releaseLater(id); };
  }

  /** Serialise lifecycle operations per container. */
  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.locks.set(id, run);
    try { return await run; } finally { if (this.locks.get(id) === run) this.locks.delete(id); }
  }

  get(ref: string): ContainerRecord { return this.d.store.get(ref); }
  list(): ContainerRecord[] { return this.d.store.list(); }

  /** The containers of a pod. */
  ofPod(podId: string): ContainerRecord[] { return this.d.store.list().filter((c) => c.PodId === podId); }

  /** Stop every container of a pod (its stop signal, then SIGKILL after the timeout). */
  async stopPod(podId: string, timeoutSecs: number): Promise<void> {
    await Promise.all(this.ofPod(podId).map((c) => this.stop(c.Id, timeoutSecs)));
  }

  /** Remove every container of a pod. */
  async removePod(podId: string): Promise<void> {
    for (const c of this.ofPod(podId)) await this.remove(c.Id, { force: true });
  }
  bundle(id: string): string { return path.join(this.d.stateDir, id); }
  runtimeOf(rec: ContainerRecord): Runtime {
    const rt = this.d.runtimes.get(rec.HostConfig.Runtime);
    if (!rt) throw failedPrecondition(`container ${rec.Id.slice(0, 12)} uses runtime "${rec.HostConfig.Runtime}", which is not configured`);
    return rt;
  }
  imageInUse(imageId: string): boolean { return this.d.store.list().some((c) => c.Image === imageId); }

  private attrs(rec: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...rec.Config.Labels, image: rec.Config.Image, name: rec.Name.slice(1), ...extra };
  }

  // ---- create ---------------------------------------------------------------------------

  async create(rawBody: unknown, name?: string): Promise<{ Id: string; Warnings: string[] }> {
    const parsed = createBodySchema.safeParse(rawBody);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw invalidArgument(`invalid container config: ${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const body = parsed.data;
    // dockerd checks the settings before it looks for the image or takes the name
    const resources = resourcesFromBody(body.HostConfig ?? {});
    const warnings = await this.verifyResources(resources);
    const id = newId();
    // the name is taken before the first await: a concurrent create sees it reserved, and a
    // generated name is checked against every reserved name, not only the saved records
    const names = this.d.store.names;
    let cname: string;
    try {
      cname = name ? names.reserve(validateName(name), id) : names.reserveGenerated(id);
    } catch (e) {
      // docker looks the image up first: a missing image is a 404 even when the name is taken
      if (isKind(e, 'AlreadyExists')) await this.d.images.get(body.Image);
      throw e;
    }
    const dir = this.d.store.dir(id);
    let prepared = false;
    try {
      const runtime = body.HostConfig?.Runtime || this.d.defaultRuntime;
      if (!(await this.ensureRuntime(runtime))) throw invalidArgument(`unknown runtime specified ${runtime} (configured: ${[...this.d.runtimes.keys()].join(', ')})`);
      for (const b of body.HostConfig?.Binds ?? []) parseBind(b);
      const image = await this.d.images.get(body.Image);
      const host = await this.hostInfo();
      // the spec builder's own check, so a bad --ulimit fails now rather than at start
      rlimits({ ulimits: (body.HostConfig?.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })) }, host);

      const rec = buildRecord({ id, name: cname, body, image, imageRef: body.Image, runtime, driver: this.d.driver.name, containerDir: dir, resources });
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      prepared = true; // before: a prepare cut short by a full disk leaves pieces to remove
      await this.d.driver.prepare(id, image.chainIds);
      await writeEtcFiles(rec);
      await writeFileAtomic(rec.LogPath, '', 0o600);
      this.faults.hit('create:before-save'); // a directory without a record: dropped at start-up
      await this.d.store.save(rec);
      this.d.events.emit('container', 'create', id, this.attrs(rec));
      return { Id: id, Warnings: warnings };
    } catch (e) {
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
    return this.locked(rec.Id, async () => {
      if (rec.State.Paused) throw failedPrecondition(`cannot start a paused container ${rec.Name.slice(1)}, try unpause instead`);
      if (rec.State.Running) return 'already';
      if (rec.State.Status === 'removing') throw failedPrecondition(`cannot start container ${rec.Name.slice(1)}: it is being removed`);
      await this.startLocked(rec);
      return 'started';
    }).catch(async (e) => {
      // docker removes an --rm container whose start failed
      if (rec.HostConfig.AutoRemove && !rec.State.Running) await this.remove(rec.Id, { force: true }).catch(() => {});
      throw e;
    });
  }

  private async startLocked(rec: ContainerRecord): Promise<void> {
    const rt = this.runtimeOf(rec);
    const bundle = this.bundle(rec.Id);
    let created = false;
    try {
      // the last run's runtime state, kept while its exit was not on disk: this run replaces it
      if (this.unreleased.has(rec.Id)) await this.release(rec);
      await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
      const rootfs = await this.d.driver.mount(rec.Id);
      const spec = await this.specFor(rec, rootfs);
      for (const m of rec.Mounts) await fs.mkdir(m.Source, { recursive: true });
      const pid = await rt.create({
        id: rec.Id, bundle, spec, logPath: rec.LogPath, terminal: rec.Config.Tty,
        // docker closes stdin at the end of an attach's input only without a TTY: with one,
        // Ctrl-P Ctrl-Q (or a dropped client) must leave the shell's input open for the next attach
        stdin: rec.Config.OpenStdin, stdinOnce: rec.Config.StdinOnce && !rec.Config.Tty,
      });
      created = true;
      this.faults.hit('start:after-create');
      await this.connectPendingAttach(rec, rt, bundle);
      const startedAt = new Date().toISOString(); // before: the exit may be stamped before start returns
      await rt.start(rec.Id);
      this.faults.hit('start:after-start'); // recovery adopts it from the runtime
      Object.assign(rec.State, {
        Status: 'running', Running: true, Paused: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: startedAt,
      });
      // a full disk delays only the record: the container runs, and a crash before the write
      // is caught up by recovery (a live conmon over a record that says "created")
      await this.d.store.persist(rec);
      this.d.events.emit('container', 'start', rec.Id, this.attrs(rec));
    } catch (e) {
      this.pendingAttach.fail(rec.Id);
      if (created) await rt.delete(rec.Id, bundle, true).catch(() => {});
      await this.d.driver.unmount(rec.Id).catch(() => {});
      const msg = errorMessage(e);
      rec.State.Error = msg;
      rec.State.ExitCode = /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128;
      await this.d.store.persist(rec).catch(() => {});
      throw e instanceof TsulaError ? e : new TsulaError('Internal', msg);
    }
  }

  async specFor(rec: ContainerRecord, rootfs: string): Promise<Spec> {
    return containerSpec(rec, rootfs, await this.hostInfo());
  }

  // ---- attach ---------------------------------------------------------------------------

  /**
   * dockerd's refusals, made before the API switches protocols so that they are still HTTP
   * errors: a paused or restarting container can't be attached to (409).
   */
  checkAttach(ref: string): ContainerRecord {
    const rec = this.get(ref);
    if (rec.State.Paused) throw failedPrecondition(`container ${ref} is paused, unpause the container before attach`);
    if (rec.State.Restarting) throw failedPrecondition(`container ${ref} is restarting, wait until the container is running`);
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
    if (rec.State.Running) {
      let s: StdioStream;
      try {
        s = await this.runtimeOf(rec).attach(rec.Id, this.bundle(rec.Id));
      } catch (e) {
        if (!rec.State.Running || !this.d.store.has(rec.Id)) return null; // it exited meanwhile
        throw e;
      }
      this.d.events.emit('container', 'attach', rec.Id, this.attrs(rec));
      return s;
    }
    if (rec.State.Status !== 'created' && rec.State.Status !== 'exited') return null;
    // dockerd logs the attach when the streams are registered, before any start
    this.d.events.emit('container', 'attach', rec.Id, this.attrs(rec));
    return this.pendingAttach.add(rec.Id, signal);
  }

  private async connectPendingAttach(rec: ContainerRecord, rt: Runtime, bundle: string): Promise<void> {
    for (const p of this.pendingAttach.take(rec.Id)) {
      try {
        const st = await rt.attach(rec.Id, bundle);
        // the client may have left while the runtime connected: nobody reads this stream
        if (p.signal?.aborted) st.close(); else p.resolve(st);
      } catch (e) {
        this.d.log.warn('attach at start failed', { id: rec.Id, err: errorMessage(e) });
        p.resolve(null);
      }
    }
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const rec = this.get(ref);
    if (!rec.State.Running) throw failedPrecondition(`container ${rec.Name.slice(1)} is not running`);
    if (!rec.Config.Tty) return;
    await this.runtimeOf(rec).resize(rec.Id, this.bundle(rec.Id), h, w);
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
      if (!this.d.store.has(id) || (!rec.State.Running && rec.State.Status !== 'removing')) return;
      Object.assign(rec.State, { Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: code, FinishedAt: at.toISOString() });
      if (error !== undefined) rec.State.Error = error;
      this.d.events.emit('container', 'die', id, this.attrs(rec, { exitCode: String(code) }));
      this.waiters.wake(id, ['next-exit', 'not-running'], code);
      this.faults.hit('exit:before-save');
      await this.d.driver.unmount(id).catch((e) => this.d.log.warn('unmount after exit', { id, err: errorMessage(e) }));
      this.unreleased.add(id);
      if (await this.d.store.persist(rec)) {
        this.faults.hit('exit:after-save');
        await this.release(rec);
      }
    });
    if (rec.HostConfig.AutoRemove) {
      await this.remove(id, { force: true }).catch((e) => this.d.log.warn('auto-remove failed', { id, err: errorMessage(e) }));
    }
  }

  /** Forget the runtime state and exit file of an exit whose record is on disk. */
  private async release(rec: ContainerRecord): Promise<void> {
    await this.runtimeOf(rec).delete(rec.Id, this.bundle(rec.Id), true)
      .catch((e) => this.d.log.warn('runtime delete after exit', { id: rec.Id, err: errorMessage(e) }));
    this.unreleased.delete(rec.Id);
  }

  /** A record pending for lack of space reached the disk: what its exit kept may go now. */
  private releaseLater(id: string): Promise<void> {
    return this.locked(id, async () => {
      if (!this.unreleased.has(id) || !this.d.store.has(id)) return;
      const rec = this.d.store.get(id);
      if (!rec.State.Running && !this.d.store.isPending(id)) await this.release(rec);
    }).catch((e) => this.d.log.warn('releasing runtime state', { id, err: errorMessage(e) }));
  }

  wait(ref: string, cond: WaitCondition = 'not-running'): Promise<number> {
    const rec = this.get(ref);
    if (cond === 'not-running' && !rec.State.Running) return Promise.resolve(rec.State.ExitCode);
    return this.waiters.add(rec.Id, cond);
  }

  async kill(ref: string, signal = 'SIGKILL'): Promise<void> {
    const rec = this.get(ref);
    const sig = parseSignal(signal);
    if (!rec.State.Running) throw failedPrecondition(`cannot kill container ${rec.Name.slice(1)}: container ${rec.Id} is not running`);
    await this.runtimeOf(rec).kill(rec.Id, sig);
    this.d.events.emit('container', 'kill', rec.Id, this.attrs(rec, { signal: String(signalNumber(sig)) }));
  }

  /** Docker's stop: the stop signal, then SIGKILL after `timeout` seconds. */
  async stop(ref: string, timeout?: number): Promise<'stopped' | 'already'> {
    const rec = this.get(ref);
    if (!rec.State.Running) return 'already';
    const rt = this.runtimeOf(rec);
    const exited = this.wait(rec.Id, 'not-running');
    const sig = parseSignal(rec.Config.StopSignal || 'SIGTERM');
    const t = timeout ?? 10;
    await rt.kill(rec.Id, sig).catch(() => {});
    if (rec.State.Paused) await rt.resume(rec.Id).catch(() => {});
    const timedOut = await Promise.race([exited.then(() => false), sleep(t * 1000).then(() => true)]);
    if (timedOut && rec.State.Running) {
      await rt.kill(rec.Id, 'SIGKILL', true).catch(() => {});
      await exited;
    }
    this.d.events.emit('container', 'stop', rec.Id, this.attrs(rec));
    return 'stopped';
  }

  async restart(ref: string, timeout?: number): Promise<void> {
    const rec = this.get(ref);
    await this.stop(rec.Id, timeout);
    await this.locked(rec.Id, () => this.startLocked(rec));
    rec.RestartCount++;
    await this.d.store.persist(rec);
    this.d.events.emit('container', 'restart', rec.Id, this.attrs(rec));
  }

  /** docker update: checked, merged into the record; a live container's cgroups follow at once. */
  async update(ref: string, rawBody: unknown): Promise<{ Warnings: string[] }> {
    const parsed = updateBodySchema.safeParse(rawBody);
    if (!parsed.success) {
      const i = parsed.error.issues[0];
      throw invalidArgument(`invalid update config: ${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const req = updateRequest(parsed.data);
    const warnings = await this.verifyResources(req, true);
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (rec.State.Status === 'removing' || rec.State.Dead) {
        throw failedPrecondition(`Cannot update container ${rec.Id}: container is marked for removal and cannot be "update"`);
      }
      const merged = mergeUpdate(rec.Id, rec.HostConfig, req);
      // the merged set must hold together as a create's would (memory ≥ reservation, …)
      verifyResources({ ...merged }, this.sys!, { update: true, canLowerOomScore: true });
      if (rec.State.Running) {
        await this.runtimeOf(rec).update(rec.Id, this.bundle(rec.Id), await updateLimits(merged, req))
          .catch((e) => { throw new TsulaError(errorKind(e), `Cannot update container ${rec.Id}: ${errorMessage(e)}`, { cause: e }); });
      }
      Object.assign(rec.HostConfig, merged);
      await this.d.store.save(rec);
    });
    this.d.events.emit('container', 'update', rec.Id, this.attrs(rec));
    return { Warnings: warnings };
  }

  async pause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (!rec.State.Running) throw failedPrecondition(`container ${rec.Id} is not running`);
      if (rec.State.Paused) throw failedPrecondition(`container ${rec.Id} is already paused`);
      await this.runtimeOf(rec).pause(rec.Id);
      Object.assign(rec.State, { Paused: true, Status: 'paused' });
      await this.d.store.persist(rec);
      this.d.events.emit('container', 'pause', rec.Id, this.attrs(rec));
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (!rec.State.Paused) throw failedPrecondition(`container ${rec.Id} is not paused`);
      await this.runtimeOf(rec).resume(rec.Id);
      Object.assign(rec.State, { Paused: false, Status: 'running' });
      await this.d.store.persist(rec);
      this.d.events.emit('container', 'unpause', rec.Id, this.attrs(rec));
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    const n = validateName(newName);
    const old = rec.Name.slice(1);
    if (n === old) throw invalidArgument(`Renaming a container with the same name as its current name`);
    await this.d.store.rename(rec, n).catch((e) => {
      throw isNoSpace(e) ? noSpaceLeft(this.d.graph, `renaming container ${old}`, e) : e;
    });
    this.d.events.emit('container', 'rename', rec.Id, this.attrs(rec, { oldName: '/' + old }));
  }

  async top(ref: string, psArgs = '-ef'): Promise<{ Titles: string[]; Processes: string[][] }> {
    const rec = this.get(ref);
    if (!rec.State.Running) throw failedPrecondition(`container ${rec.Id} is not running`);
    return psTable(await this.runtimeOf(rec).pids(rec.Id), psArgs);
  }

  // ---- remove ---------------------------------------------------------------------------

  async remove(ref: string, opts: { force: boolean }): Promise<void> {
    const rec = this.get(ref);
    if (rec.State.Running) {
      if (!opts.force) {
        throw failedPrecondition(`You cannot remove a ${rec.State.Paused ? 'paused' : 'running'} container ${rec.Id}. Stop the container before attempting removal or force remove`);
      }
      const exited = this.wait(rec.Id, 'not-running');
      await this.runtimeOf(rec).kill(rec.Id, 'SIGKILL', true).catch(() => {});
      if (rec.State.Paused) await this.runtimeOf(rec).resume(rec.Id).catch(() => {});
      await Promise.race([exited, sleep(10_000)]);
    }
    await this.locked(rec.Id, async () => {
      if (!this.d.store.has(rec.Id)) return;
      // an exited container's runtime state went when its exit was recorded, unless the disk was full
      const keepsRuntime = rec.State.Status !== 'exited' || this.unreleased.has(rec.Id);
      rec.State.Status = 'removing';
      // rm must work on a full disk, to free it: the mark is a rename (no space needed), and
      // the writable layer goes before anything that could need space
      await this.d.store.markRemoving(rec);
      this.faults.hit('rm:after-mark');
      const rt = this.d.runtimes.get(rec.HostConfig.Runtime);
      if (keepsRuntime && rt) await forget(rt, rec.Id, this.bundle(rec.Id)).catch(() => {});
      this.unreleased.delete(rec.Id);
      await this.d.driver.remove(rec.Id);
      this.faults.hit('rm:after-snapshot');
      await fs.rm(this.bundle(rec.Id), { recursive: true, force: true });
      await this.d.store.delete(rec);
      this.pendingAttach.fail(rec.Id);
      this.d.events.emit('container', 'destroy', rec.Id, this.attrs(rec));
      this.waiters.wake(rec.Id, ['removed', 'next-exit', 'not-running'], rec.State.ExitCode);
    });
    void this.d.store.flushPending(); // the space this freed may let pending records be written
  }

  // ---- recovery -------------------------------------------------------------------------

  /** Live restore: adopt what survived us; finish what a crash interrupted (recovery.ts). */
  async recover(): Promise<void> {
    await recoverContainers(this);
    this.recovered = true;
    for (const rt of new Set(this.d.runtimes.values())) await this.watchExits(rt);
  }

  requireRunning(rec: ContainerRecord): void {
    if (!rec.State.Running) throw failedPrecondition(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw failedPrecondition(`Container ${rec.Id} is paused, unpause the container before exec`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
