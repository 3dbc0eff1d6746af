// Pods: run, stop, remove, status, recovery. A host pod (runc, shim v2) is a set of
// namespaces on the host (network from CNI, UTS and IPC pinned as files, a PID namespace
// holder when asked) and its containers join them; a sandboxer pod (a VM) is a sandbox of a
// sandboxer, created in the pod's network namespace, and its containers run in it. Either
// way the record is the truth after a restart, and a run that fails, or that a crash cuts
// short, leaves nothing behind.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { failedPrecondition, invalidArgument, errorMessage, isKind, notFound } from '../../common/errors.js';
import { isFullId, newId } from '../../common/ids.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import type { Logger } from '../../common/log.js';
import type { Faults } from '../../common/faults.js';
import type { NetnsManager, PodNetwork } from '../../network/index.js';
import { podKey, type PodRecord, type PodSpec, type SandboxerRef } from './record.js';
import type { PodStore } from './store.js';
import { findPidHolders, holderAlive, mountPodShm, pinNamespaces, startPidHolder, stopPidHolder, unmountPodShm, unpinNamespaces } from './namespaces.js';
import { applySysctls, checkSysctls } from './sysctls.js';
import { podBandwidth } from './bandwidth.js';

/** What the pod service needs from the container side (stop and remove a pod's containers). */
export interface PodContainers {
  stopAll(podId: string, timeoutSecs: number): Promise<void>;
  removeAll(podId: string): Promise<void>;
}

/** The sandboxers that hold pods of some runtime handlers (a VM per pod). */
export interface PodSandboxes {
  start(pod: PodRecord, signal?: AbortSignal): Promise<void>;
  stop(pod: PodRecord): Promise<void>;
  remove(pod: PodRecord): Promise<void>;
  /** The sandbox's process on the host (a VM's hypervisor) as its sandboxer reports it; 0: none. */
  status(pod: PodRecord): Promise<{ pid: number; ready: boolean }>;
}

/** A runtime handler resolved: the engine runtime of its containers, and its sandboxer if any. */
export interface HandlerInfo {
  runtime: string;
  sandboxer?: SandboxerRef;
}

export interface PodServiceDeps {
  store: PodStore;
  /** <state>/pods: each pod's dir (namespace files, /etc files). */
  stateDir: string;
  netns: NetnsManager;
  /** null: no network plugin (pods get a namespace with lo only). */
  network: PodNetwork | null;
  containers: PodContainers;
  sandboxes: PodSandboxes;
  handler(runtimeHandler: string): Promise<HandlerInfo>;
  log: Logger;
  faults?: Faults;
}

/** How often ready pods are checked for a VM or PID holder that died on its own. */
const WATCH_MS = 2000;

export class PodService {
  private chains = new Map<string, Promise<unknown>>();
  private lostListeners = new Set<(rec: PodRecord) => void>();
  private watchTimer?: NodeJS.Timeout;

  constructor(private readonly d: PodServiceDeps) {}

  /** One operation at a time per pod (kubelet may stop a pod while it removes it). */
  private locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.chains.set(id, settled);
    // the last operation of a pod takes its entry along (a removed pod keeps nothing here)
    void settled.then(() => { if (this.chains.get(id) === settled) this.chains.delete(id); });
    return next;
  }

  /** cb(pod) when a ready pod lost what held it and is not ready now (see watch). */
  onLost(cb: (rec: PodRecord) => void): void {
    this.lostListeners.add(cb);
  }

  /**
   * Check ready pods every few seconds for what holds them dying on its own (a VM's qemu
   * killed, a PID holder OOM-killed): such a pod is not ready any more, as containerd's
   * sandbox exit monitor makes it, so that kubelet stops it and makes a new one instead of
   * starting containers in a dead pod. A sandboxer that can't be reached says nothing.
   */
  watch(everyMs = WATCH_MS): void {
    if (this.watchTimer) return;
    let busy = false;
    this.watchTimer = setInterval(() => {
      if (busy) return;
      busy = true;
      void this.checkReady().finally(() => { busy = false; });
    }, everyMs);
    this.watchTimer.unref();
  }

  private async checkReady(): Promise<void> {
    for (const rec of this.d.store.list()) {
      if (rec.state !== 'ready' || rec.startingAt || this.chains.has(rec.id) || !(await this.lostWhy(rec))) continue;
      await this.locked(rec.id, async () => {
        if (!this.d.store.has(rec.id) || rec.state !== 'ready') return;
        const why = await this.lostWhy(rec);
        if (!why) return;
        this.d.log.warn(`pod sandbox ${rec.id} is not ready: ${why}`);
        rec.state = 'notready';
        await this.d.store.save(rec);
        for (const l of this.lostListeners) l(rec);
      }).catch((e) => this.d.log.warn('cannot mark a pod not ready', { id: rec.id, err: errorMessage(e) }));
    }
  }

  /** What a ready pod lost ('' when nothing). */
  private async lostWhy(rec: PodRecord): Promise<string> {
    if (rec.pidHolder && !(await holderAlive(rec.pidHolder))) return `its PID namespace holder ${rec.pidHolder.pid} is gone`;
    if (rec.sandbox) {
      try {
        if (!(await this.d.sandboxes.status(rec)).ready) return 'its sandbox stopped';
      } catch (e) {
        if (isKind(e, 'NotFound')) return 'its sandboxer no longer knows it';
      }
    }
    return '';
  }

  /**
   * The pods clients see: not one whose run is still under way. containerd adds a sandbox
   * to the store it lists only once it is ready; a half-made pod listed NOTREADY would be
   * fair game for kubelet's sandbox GC (it stops and removes NOTREADY sandboxes).
   */
  list(): PodRecord[] { return this.d.store.list().filter((r) => !r.startingAt); }
  get(ref: string): PodRecord {
    const rec = this.d.store.get(ref);
    if (rec.startingAt) throw notFound(`pod sandbox "${ref}" not found`);
    return rec;
  }

  async run(spec: PodSpec, signal?: AbortSignal): Promise<PodRecord> {
    if (!spec.name) throw invalidArgument('pod sandbox config: metadata.name is required');
    const handler = await this.d.handler(spec.runtimeHandler);
    const id = newId();
    const key = podKey(spec);
    this.d.store.reserve(key, id);
    const dir = path.join(this.d.stateDir, id);
    const rec: PodRecord = {
      id, spec, createdAt: new Date().toISOString(), state: 'notready', runtime: handler.runtime,
      ...(handler.sandboxer ? { sandbox: { ...handler.sandboxer, sandboxId: id } } : {}),
      netnsPath: '', ip: '', ips: [], utsPath: '', ipcPath: '',
      hostsPath: path.join(dir, 'hosts'), resolvConfPath: path.join(dir, 'resolv.conf'), hostnamePath: path.join(dir, 'hostname'),
      startingAt: new Date().toISOString(),
    };
    return this.locked(id, async () => {
      try {
        await this.d.store.save(rec);
        await fs.mkdir(dir, { recursive: true, mode: 0o711 });
        await this.writeEtc(rec);
        await this.setUp(rec, dir, signal);
        rec.state = 'ready';
        delete rec.startingAt;
        await this.d.store.save(rec);
        return rec;
      } catch (e) {
        await this.discard(rec, errorMessage(e));
        throw e;
      }
    });
  }

  private async setUp(rec: PodRecord, dir: string, signal?: AbortSignal): Promise<void> {
    const s = rec.spec;
    // a sysctl runc would refuse fails the pod before anything is made (a VM's guest has
    // every namespace of its own)
    const ownNet = s.namespaces.network === 'pod' || !!rec.sandbox;
    checkSysctls(s.sysctls ?? {}, { net: ownNet, uts: ownNet, ipc: s.namespaces.ipc === 'pod' || !!rec.sandbox });
    if (s.namespaces.network === 'pod') {
      if (this.d.network) {
        const bandwidth = podBandwidth(s.annotations ?? {});
        const net = await this.d.network.setup({
          id: rec.id, namespace: s.namespace, name: s.name, uid: s.uid,
          portMappings: s.portMappings.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIp })),
          ...(s.dns ? { dns: { servers: s.dns.servers, searches: s.dns.searches, options: s.dns.options } } : {}),
          ...(bandwidth ? { bandwidth } : {}),
          // every pod annotation, as containerd passes them (null when there are none: its nil map)
          podAnnotations: Object.keys(s.annotations ?? {}).length ? { ...s.annotations } : null,
        }, signal);
        Object.assign(rec, { netnsPath: net.netnsPath, ip: net.ip ?? '', ips: net.ips });
      } else {
        rec.netnsPath = await this.d.netns.create(rec.id, signal);
      }
      await this.d.store.save(rec);
    }
    // kubelet: a pod on the node's network has the node's hostname (UTS) too
    const pin = [...(s.namespaces.network === 'pod' ? ['uts' as const] : []), ...(s.namespaces.ipc === 'pod' ? ['ipc' as const] : [])];
    const pinned = await pinNamespaces(path.join(dir, 'ns'), pin, s.hostname, signal);
    rec.utsPath = pinned.uts ?? '';
    rec.ipcPath = pinned.ipc ?? '';
    // one /dev/shm for the pod, as its IPC namespace is one (containerd's sandbox shm): POSIX
    // shared memory is shared between its containers as System V IPC is; IPC 'node': the node's
    if (!rec.sandbox) rec.shmPath = s.namespaces.ipc === 'node' ? '/dev/shm' : await mountPodShm(dir);
    // written once here, as runc writes the pause container's (a VM pod's are the guest's)
    if (!rec.sandbox) await applySysctls(s.sysctls ?? {}, { net: rec.netnsPath || undefined, ipc: rec.ipcPath || undefined, uts: rec.utsPath || undefined }, signal);
    if (s.namespaces.pid === 'pod' && !rec.sandbox) {
      rec.pidHolder = await startPidHolder({ net: rec.netnsPath || undefined, uts: rec.utsPath || undefined, ipc: rec.ipcPath || undefined }, dir, this.d.log);
      this.d.faults?.hit('pod:after-holder');
    }
    await this.d.store.save(rec);
    if (rec.sandbox) await this.d.sandboxes.start(rec, signal);
  }

  /** The pod's /etc/hostname, hosts and resolv.conf, mounted into each of its containers. */
  private async writeEtc(rec: PodRecord): Promise<void> {
    const s = rec.spec;
    // containerd's setupSandboxFiles: the pod's hostname, else the node's (a host-network pod's too)
    const hostname = s.hostname || (await fs.readFile('/proc/sys/kernel/hostname', 'utf8')).trim();
    await writeFileAtomic(rec.hostnamePath, `${hostname}\n`, 0o644);
    // and the node's /etc/hosts for every pod, as containerd copies it (kubelet mounts its own
    // over it in a pod that has a network of its own)
    const hosts = await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
    await writeFileAtomic(rec.hostsPath, hosts, 0o644);
    let resolv: string;
    if (s.dns && (s.dns.servers.length || s.dns.searches.length || s.dns.options.length)) {
      resolv = [...s.dns.searches.length ? [`search ${s.dns.searches.join(' ')}`] : [], ...s.dns.servers.map((x) => `nameserver ${x}`),
        ...s.dns.options.length ? [`options ${s.dns.options.join(' ')}`] : []].join('\n') + '\n';
    } else {
      resolv = await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    }
    await writeFileAtomic(rec.resolvConfPath, resolv, 0o644);
  }

  /** Release what the pod holds; its containers are stopped first. Idempotent. */
  async stop(ref: string, timeoutSecs = 10): Promise<void> {
    const rec = this.d.store.get(ref);
    await this.locked(rec.id, async () => {
      await this.d.containers.stopAll(rec.id, timeoutSecs);
      await this.release(rec);
      if (rec.state !== 'notready') {
        rec.state = 'notready';
        await this.d.store.save(rec);
      }
    });
  }

  /** What a pod holds goes, in reverse order of making; each step may have run before. */
  private async release(rec: PodRecord): Promise<void> {
    if (rec.sandbox) await this.d.sandboxes.stop(rec);
    if (rec.pidHolder) await stopPidHolder(rec.pidHolder);
    if (rec.netnsPath || await this.d.netns.exists(rec.id)) {
      if (this.d.network) await this.d.network.teardown(rec.id); else await this.d.netns.remove(rec.id);
    }
    await unpinNamespaces(path.join(this.d.stateDir, rec.id, 'ns'));
    // where mountPodShm puts it, whether or not the record got to say so (a crash in between)
    if (!rec.sandbox) await unmountPodShm(path.join(this.d.stateDir, rec.id));
  }

  /** Remove a pod and its containers; a pod that is gone already is no error (CRI). */
  async remove(ref: string): Promise<void> {
    let rec: PodRecord;
    try {
      rec = this.d.store.get(ref);
    } catch (e) {
      if ((e as { kind?: string }).kind === 'NotFound') return;
      throw e;
    }
    await this.locked(rec.id, async () => {
      if (!this.d.store.has(rec.id)) return;
      await this.d.containers.stopAll(rec.id, 0);
      await this.d.containers.removeAll(rec.id);
      await this.release(rec);
      if (rec.sandbox) await this.d.sandboxes.remove(rec);
      await fs.rm(path.join(this.d.stateDir, rec.id), { recursive: true, force: true });
      await this.d.store.delete(rec);
    });
  }

  /** A pod whose run failed (or was cut short): everything it made goes, then its record. */
  private async discard(rec: PodRecord, why: string): Promise<void> {
    this.d.log.warn('pod sandbox start failed: removing it', { id: rec.id, why });
    try {
      await this.release(rec);
    } catch (e) {
      // what could not be released (a CNI DEL that failed) must not be forgotten: as
      // containerd does, the pod stays, NOTREADY and with its name, for kubelet to stop and
      // remove (each of which tries the release again); a new attempt gets a new name
      this.d.log.warn('cannot clean a failed pod: it stays, not ready, to be removed', { id: rec.id, err: errorMessage(e) });
      delete rec.startingAt;
      rec.state = 'notready';
      await this.d.store.save(rec).catch(() => {});
      return;
    }
    if (rec.sandbox) await this.d.sandboxes.remove(rec).catch(() => {});
    await fs.rm(path.join(this.d.stateDir, rec.id), { recursive: true, force: true }).catch(() => {});
    await this.d.store.delete(rec).catch(() => {});
  }

  /** Is what the pod holds still there (after a restart, or when asked)? */
  async healthy(rec: PodRecord): Promise<boolean> {
    if (rec.state !== 'ready') return false;
    if (rec.netnsPath && !(await this.d.netns.exists(rec.id))) return false;
    if (rec.pidHolder && !(await holderAlive(rec.pidHolder))) return false;
    return true;
  }

  /** Is the pod's network namespace still there (a stopped pod's is gone, and its IP with it)? */
  async networkOpen(rec: PodRecord): Promise<boolean> {
    return !!rec.netnsPath && await this.d.netns.exists(rec.id);
  }

  /** After a restart: finish what a crash interrupted; release networks nobody owns. */
  async recover(): Promise<void> {
    const recs = await this.d.store.load((file, err) => this.d.log.warn('unreadable pod record', { file, err: errorMessage(err) }));
    for (const rec of recs) {
      if (rec.startingAt) { await this.discard(rec, 'its start was cut short by a restart'); continue; }
      if (rec.state === 'ready' && !(await this.healthy(rec))) {
        this.d.log.warn('pod lost what it held while tsulad was down: not ready', { id: rec.id });
        await this.release(rec).catch((e) => this.d.log.warn('cannot release a broken pod', { id: rec.id, err: errorMessage(e) }));
        rec.state = 'notready';
        await this.d.store.save(rec);
      }
    }
    await this.reapLost();
    if (this.d.network) {
      const ready = this.d.store.list().filter((r) => r.state === 'ready').map((r) => r.id);
      const report = await this.d.network.recover(ready);
      if (report.released.length) this.d.log.info('released the networks of pods gone while tsulad was down', { pods: report.released });
      for (const f of report.failed) this.d.log.warn('cannot release a pod network', f);
    }
  }

  /**
   * What pods without a record left (a crash mid-removal, or before the record named them):
   * their PID holders (found by the owner in their environment: they keep the pod's network
   * namespace and its veth alive) and their dirs (pinned UTS/IPC namespaces, /dev/shm). The network
   * namespaces go after, with the networks nobody owns.
   */
  private async reapLost(): Promise<void> {
    const owned = new Set(this.d.store.list().filter((r) => r.state === 'ready').map((r) => path.join(this.d.stateDir, r.id)));
    const lost = (await findPidHolders(this.d.stateDir)).filter((h) => !owned.has(h.owner));
    for (const h of lost) { try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ } }
    if (lost.length) this.d.log.info('stopped the PID namespace holders of pods gone while tsulad was down', { pids: lost.map((h) => h.pid) });
    const known = new Set(this.d.store.list().map((r) => r.id));
    for (const e of await fs.readdir(this.d.stateDir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory() || known.has(e.name) || !isFullId(e.name)) continue;
      const dir = path.join(this.d.stateDir, e.name);
      try {
        await unpinNamespaces(path.join(dir, 'ns'));
        await unmountPodShm(dir);
        await fs.rm(dir, { recursive: true, force: true });
      } catch (err) {
        this.d.log.warn('cannot remove what a pod gone while tsulad was down left', { dir, err: errorMessage(err) });
      }
    }
  }

  /** A sandboxer pod's process (its VM) as the sandboxer reports it (stats read it). */
  async sandboxStatus(ref: string): Promise<{ pid: number; ready: boolean }> {
    const rec = this.d.store.get(ref);
    if (!rec.sandbox) throw failedPrecondition(`pod ${rec.id} is not a sandbox of a sandboxer`);
    return this.d.sandboxes.status(rec);
  }

  /**
   * fn while the pod is ready, under its lock: a StopPodSandbox sent meanwhile waits for it
   * and then stops what it started (CRI: a stopped pod's containers are terminated), and one
   * that came first leaves it "not ready" to refuse. Nothing fn calls may take the pod's lock.
   */
  whileReady<T>(ref: string, fn: () => Promise<T>): Promise<T> {
    const rec = this.d.store.get(ref);
    return this.locked(rec.id, async () => {
      if (rec.state !== 'ready' || !this.d.store.has(rec.id)) throw failedPrecondition(`pod sandbox ${rec.id} is not ready`);
      return fn();
    });
  }

  /** A container may join only a ready pod. */
  requireReady(ref: string): PodRecord {
    const rec = this.d.store.get(ref);
    if (rec.state !== 'ready') throw failedPrecondition(`pod sandbox ${rec.id} is not ready`);
    return rec;
  }
}

