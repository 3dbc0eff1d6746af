// The container service: every front end (HTTP API, later CRI) calls these methods; they
// keep the record, the snapshot and the runtime in step, and emit events.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord } from './record.js';
import { ContainerStore } from './store.js';
import { buildRecord, createBodySchema, parseBind } from './create.js';
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
import { failedPrecondition, invalidArgument, notFound, errorMessage, errorKind, TsulaError, isKind } from '../../common/errors.js';
import { newId, validateName } from '../../common/ids.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { parseSignal, signalNumber } from './signals.js';

export interface ServiceDeps {
  store: ContainerStore;
  images: ImageStore;
  driver: SnapshotDriver;
  runtimes: Map<string, Runtime>;
  defaultRuntime: string;
  events: EventBus;
  log: Logger;
  stateDir: string;         // <state>/containers: bundles
  /** Make a runtime that is not configured up front (io.containerd.<name>.v2), or null. */
  resolveRuntime?: (name: string) => Promise<Runtime | null>;
}

/** An attach waiting for a start; its signal aborts when the client leaves. */
type PendingAttach = { resolve: (s: StdioStream | null) => void; signal?: AbortSignal };

type Waiter = { cond: 'next-exit' | 'not-running' | 'removed'; resolve: (code: number) => void };

export class ContainerService {
  private host: HostInfo | null = null;
  private sys: SysInfo | null = null;
  private waiters = new Map<string, Waiter[]>();
  /** Clients attached to a created or exited container, connected to its stdio at start. */
  private pendingAttach = new Map<string, PendingAttach[]>();
  private locks = new Map<string, Promise<unknown>>();

  constructor(readonly d: ServiceDeps) {}

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
      await this.d.driver.prepare(id, image.chainIds);
      prepared = true;
      await this.writeEtcFiles(rec);
      await writeFileAtomic(rec.LogPath, '', 0o600);
      await this.d.store.save(rec);
      this.d.events.emit('container', 'create', id, this.attrs(rec));
      return { Id: id, Warnings: warnings };
    } catch (e) {
      if (prepared) await this.d.driver.remove(id).catch(() => {});
      await fs.rm(dir, { recursive: true, force: true });
      names.release(cname, id); // last: the name is free only once nothing of it is left
      throw e;
    }
  }

  private exitCallback = (id: string, code: number, at: Date) => {
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
  private async ensureRuntime(name: string): Promise<Runtime | null> {
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

  private async writeEtcFiles(rec: ContainerRecord): Promise<void> {
    const h = rec.Config.Hostname;
    await writeFileAtomic(rec.HostnamePath, h + '\n', 0o644);
    const hosts = rec.HostConfig.NetworkMode === 'host'
      ? await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n')
      : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${h}\n`;
    await writeFileAtomic(rec.HostsPath, hosts, 0o644);
    const resolv = await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await writeFileAtomic(rec.ResolvConfPath, resolv, 0o644);
  }

  // ---- start ----------------------------------------------------------------------------

  async start(ref: string): Promise<'started' | 'already'> {
    const rec = this.get(ref);
    return this.locked(rec.Id, async () => {
      if (rec.State.Paused) throw failedPrecondition(`cannot start a paused container ${rec.Name.slice(1)}, try unpause instead`);
      if (rec.State.Running) return 'already';
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
      await this.connectPendingAttach(rec, rt, bundle);
      const startedAt = new Date().toISOString(); // before: the exit may be stamped before start returns
      await rt.start(rec.Id);
      Object.assign(rec.State, {
        Status: 'running', Running: true, Paused: false, Pid: pid, ExitCode: 0, Error: '', StartedAt: startedAt,
      });
      await this.d.store.save(rec);
      this.d.events.emit('container', 'start', rec.Id, this.attrs(rec));
    } catch (e) {
      this.failPendingAttach(rec.Id);
      if (created) await rt.delete(rec.Id, bundle, true).catch(() => {});
      await this.d.driver.unmount(rec.Id).catch(() => {});
      const msg = errorMessage(e);
      rec.State.Error = msg;
      rec.State.ExitCode = /not found|no such file/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 128;
      await this.d.store.save(rec).catch(() => {});
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
    return new Promise((resolve) => {
      const entry: PendingAttach = {
        signal,
        resolve: (st) => { signal?.removeEventListener('abort', onAbort); resolve(st); },
      };
      const onAbort = () => {
        const list = this.pendingAttach.get(rec.Id)?.filter((x) => x !== entry) ?? [];
        if (list.length) this.pendingAttach.set(rec.Id, list); else this.pendingAttach.delete(rec.Id);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const list = this.pendingAttach.get(rec.Id) ?? [];
      list.push(entry);
      this.pendingAttach.set(rec.Id, list);
    });
  }

  private async connectPendingAttach(rec: ContainerRecord, rt: Runtime, bundle: string): Promise<void> {
    const list = this.pendingAttach.get(rec.Id) ?? [];
    this.pendingAttach.delete(rec.Id);
    for (const p of list) {
      if (p.signal?.aborted) continue;
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

  private failPendingAttach(id: string): void {
    for (const p of this.pendingAttach.get(id) ?? []) p.resolve(null);
    this.pendingAttach.delete(id);
  }

  async resize(ref: string, h: number, w: number): Promise<void> {
    const rec = this.get(ref);
    if (!rec.State.Running) throw failedPrecondition(`container ${rec.Name.slice(1)} is not running`);
    if (!rec.Config.Tty) return;
    await this.runtimeOf(rec).resize(rec.Id, this.bundle(rec.Id), h, w);
  }

  // ---- exits, stop, kill, wait ----------------------------------------------------------

  /** Called by the runtime's exit monitor (also for exits that happened while we were down). */
  async onExit(id: string, code: number, at: Date): Promise<void> {
    if (!this.d.store.has(id)) return;
    const rec = this.d.store.get(id);
    await this.locked(id, async () => {
      if (!rec.State.Running && rec.State.Status !== 'removing') return;
      const rt = this.runtimeOf(rec);
      await rt.delete(id, this.bundle(id), true).catch((e) => this.d.log.warn('runtime delete after exit', { id, err: errorMessage(e) }));
      await this.d.driver.unmount(id).catch((e) => this.d.log.warn('unmount after exit', { id, err: errorMessage(e) }));
      Object.assign(rec.State, { Status: 'exited', Running: false, Paused: false, Pid: 0, ExitCode: code, FinishedAt: at.toISOString() });
      await this.d.store.save(rec);
      this.d.events.emit('container', 'die', id, this.attrs(rec, { exitCode: String(code) }));
      this.wake(id, ['next-exit', 'not-running'], code);
    });
    if (rec.HostConfig.AutoRemove) {
      await this.remove(id, { force: true }).catch((e) => this.d.log.warn('auto-remove failed', { id, err: errorMessage(e) }));
    }
  }

  private wake(id: string, conds: Waiter['cond'][], code: number): void {
    const list = this.waiters.get(id) ?? [];
    const keep: Waiter[] = [];
    for (const w of list) (conds.includes(w.cond) ? w.resolve(code) : keep.push(w));
    if (keep.length) this.waiters.set(id, keep); else this.waiters.delete(id);
  }

  wait(ref: string, cond: Waiter['cond'] = 'not-running'): Promise<number> {
    const rec = this.get(ref);
    if (cond === 'not-running' && !rec.State.Running) return Promise.resolve(rec.State.ExitCode);
    return new Promise((resolve) => {
      const list = this.waiters.get(rec.Id) ?? [];
      list.push({ cond, resolve });
      this.waiters.set(rec.Id, list);
    });
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
    await this.d.store.save(rec);
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
      await this.d.store.save(rec);
      this.d.events.emit('container', 'pause', rec.Id, this.attrs(rec));
    });
  }

  async unpause(ref: string): Promise<void> {
    const rec = this.get(ref);
    await this.locked(rec.Id, async () => {
      if (!rec.State.Paused) throw failedPrecondition(`container ${rec.Id} is not paused`);
      await this.runtimeOf(rec).resume(rec.Id);
      Object.assign(rec.State, { Paused: false, Status: 'running' });
      await this.d.store.save(rec);
      this.d.events.emit('container', 'unpause', rec.Id, this.attrs(rec));
    });
  }

  async rename(ref: string, newName: string): Promise<void> {
    const rec = this.get(ref);
    const n = validateName(newName);
    const old = rec.Name.slice(1);
    if (n === old) throw invalidArgument(`Renaming a container with the same name as its current name`);
    await this.d.store.rename(rec, n);
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
      const wasExited = rec.State.Status === 'exited';
      rec.State.Status = 'removing';
      await this.d.store.save(rec);
      // an exited container's runtime state was already deleted when its exit was handled
      if (!wasExited) await this.runtimeOf(rec).delete(rec.Id, this.bundle(rec.Id), true).catch(() => {});
      await this.d.driver.remove(rec.Id);
      await fs.rm(this.bundle(rec.Id), { recursive: true, force: true });
      await this.d.store.delete(rec);
      this.failPendingAttach(rec.Id);
      this.d.events.emit('container', 'destroy', rec.Id, this.attrs(rec));
      this.wake(rec.Id, ['removed', 'next-exit', 'not-running'], rec.State.ExitCode);
    });
  }

  // ---- recovery -------------------------------------------------------------------------

  /** Live restore: adopt what survived us; finish what a crash interrupted. */
  async recover(): Promise<void> {
    const recs = await this.d.store.load((id, err) => {
      this.d.log.warn('dropping half-created container', { id, err: errorMessage(err) });
      void fs.rm(path.join(this.d.store.root, id), { recursive: true, force: true });
      void this.d.driver.remove(id).catch(() => {});
    }, (id, from, to) => this.d.log.warn('container name already taken by another record; renamed', { id, from, to }));
    const known = new Set(recs.map((r) => r.Id));
    for (const name of new Set(recs.map((r) => r.HostConfig.Runtime))) {
      if (!(await this.ensureRuntime(name))) this.d.log.warn(`runtime ${name} of existing containers is not available`);
    }
    for (const key of await this.d.driver.listSnapshots()) {
      if (!known.has(key)) await this.d.driver.remove(key).catch(() => {});
    }
    for (const rec of recs) {
      try {
        await this.recoverOne(rec);
      } catch (e) {
        this.d.log.error('cannot recover container', { id: rec.Id, err: errorMessage(e) });
      }
    }
    this.recovered = true;
    for (const rt of new Set(this.d.runtimes.values())) await this.watchExits(rt);
  }

  private async recoverOne(rec: ContainerRecord): Promise<void> {
    if (rec.State.Status === 'removing') {
      await this.remove(rec.Id, { force: true }).catch((e) => this.d.log.warn('finishing removal', { id: rec.Id, err: errorMessage(e) }));
      return;
    }
    const rt = this.runtimeOf(rec);
    if (!rec.State.Running) {
      // a crash between the runtime's create and our record update leaves a live monitor
      // behind a record that says "created": nobody could ever stop it, so stop it now
      if (await rt.monitorAlive(rec.Id, this.bundle(rec.Id))) {
        this.d.log.warn('stopping a container started by an interrupted start', { id: rec.Id });
        await rt.kill(rec.Id, 'SIGKILL', true).catch(() => {});
        await rt.delete(rec.Id, this.bundle(rec.Id), true).catch(() => {});
        await this.d.driver.unmount(rec.Id).catch(() => {});
      }
      return;
    }
    if (await rt.exitStatus(rec.Id)) return; // the exit watcher reports it below
    if (await rt.monitorAlive(rec.Id, this.bundle(rec.Id))) {
      const st = await rt.state(rec.Id).catch(() => null);
      if (st?.status === 'paused') Object.assign(rec.State, { Paused: true, Status: 'paused' });
      else if (st?.status === 'running') Object.assign(rec.State, { Paused: false, Status: 'running' });
      return;
    }
    // its monitor is gone and left no exit code: nobody can report this container's exit
    this.d.log.warn('container monitor died; marking container exited', { id: rec.Id });
    await rt.kill(rec.Id, 'SIGKILL', true).catch(() => {});
    await this.onExit(rec.Id, 255, new Date());
    rec.State.Error = 'container monitor died';
    await this.d.store.save(rec);
  }

  requireRunning(rec: ContainerRecord): void {
    if (!rec.State.Running) throw failedPrecondition(`Container ${rec.Id} is not running`);
    if (rec.State.Paused) throw failedPrecondition(`Container ${rec.Id} is paused, unpause the container before exec`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
