// The VM cache (vm_cache_number: kata's cache factory over its template base): clones of the
// VM template restored ahead and waiting, so a pod takes one instead of waiting for QEMU's
// start-up and the restore. The sandboxer keeps them itself: it is the one long-lived process
// for every pod, so there is no `kata-runtime factory init` server to run.
//
// A cached clone has its own dir below the cache's (QEMU's sockets, console log and pid file),
// its own virtiofsd and share, mounted in the guest, and its agent answering; it has run a
// throwaway container (warm-container.ts: under TCG its QEMU then holds the create path
// translated, and the pod's first container starts ~3x faster). Nothing of a pod yet: its
// clock, CRNG and hostname are set again by the pod's CloneSetup, and it has no NIC (its QEMU
// runs in an empty netns of its own; the pod's tap is hot-plugged there and moved into the
// pod's netns, network.ts adopt()). A pod that takes one (index.ts) gets its dir renamed to
// the pod's VM dir (its sockets move with it; cache-origin keeps the dir QEMU's and
// virtiofsd's command lines name), its NIC plugged and its CloneSetup sent; the cache is
// refilled behind it. Cached clones are not pods: they go with the sandboxer (close), and
// those of a sandboxer killed meanwhile go at the next one's start (reapVmCache).
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AccelChoice, HypervisorConfig, RunningVm, VmPaths } from '../../../hypervisor/index.js';
import { pidAlive, pidFileProcess, stopVirtiofsd, stopVmm, vmPathsIn, QmpClient, SHARED_FS_TAG } from '../../../hypervisor/index.js';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { hotplugCommands, startClone, type Clone } from './clone.js';
import { GuestTasks } from './tasks.js';
import type { PlannedNic, VmNetworks } from './network.js';
import { SharedDir, removeUnmounted } from './shared.js';
import { fsSocketIn, startPodFs, VIRTIOFSD_PID } from './podfs.js';
import type { Template } from './templates.js';
import { warmUp } from './warm-container.js';

/** In a taken clone's dir: the dir it was made in, which its processes' command lines name. */
export const ORIGIN_FILE = 'cache-origin';
/**
 * A clone is restored at this niceness, and waits at it: on a busy host (TCG above all) the
 * refill that follows a pod's start must not take the CPU from that pod's first container.
 * The pod that takes it puts its threads back to 0 (claimClone).
 */
const CACHE_NICE = 10;
/** After a clone failed to restore, the cache waits this long before trying again (pods restore meanwhile). */
const RETRY_MS = 60_000;

export interface CachedVm {
  /** The template's key (a pod takes only a clone of its own config's template). */
  key: string;
  dir: string;
  vm: RunningVm;
  virtiofsdPid: number;
  /** The restore, as a pod restored directly reports it (clone.ts). */
  timing: Clone['timing'];
}

/** Restore a clone of `template` into `dir`, for the cache (tests: a fake). */
export type CacheRestorer = (cfg: HypervisorConfig, accel: AccelChoice, template: Template, dir: string, log?: Logger) => Promise<Pick<CachedVm, 'vm' | 'virtiofsdPid' | 'timing'>>;

export interface VmCacheDeps {
  /** Where cached clones' dirs are made (short: their sockets are in them). */
  workDir: string;
  log?: Logger;
  restore?: CacheRestorer;
}

export class VmCache {
  private entries: CachedVm[] = [];
  private filling: Promise<void> | null = null;
  private again: (() => void) | null = null;
  private closing = false;
  private reaped = false;
  private failedAt = 0;

  constructor(private readonly d: VmCacheDeps) {}

  /** Clones waiting (of any key). */
  get size(): number {
    return this.entries.length;
  }

  /**
   * A waiting clone of `key`, its dir renamed to `into` (the pod's VM dir, which must not
   * exist or be empty); null when none is ready.
   */
  async take(key: string, into: string): Promise<CachedVm | null> {
    for (;;) {
      const i = this.entries.findIndex((e) => e.key === key);
      if (i < 0) return null;
      const e = this.entries.splice(i, 1)[0]!;
      if (!pidAlive(e.vm.pid)) {
        // dead, its exit not yet seen (vm.exited leaves an entry no longer listed to us)
        void this.discard(e);
        continue;
      }
      try {
        await fs.writeFile(path.join(e.dir, ORIGIN_FILE), e.dir);
        await fs.rename(e.dir, into);
      } catch (err) {
        // (not the next one: what fails here is likely `into`, the same for every clone)
        this.d.log?.warn('cannot move a cached VM to its pod: it is dropped, and the pod restored from the template', { dir: e.dir, into, err: errorMessage(err) });
        await this.discard(e);
        return null;
      }
      return { ...e, dir: into };
    }
  }

  /**
   * Restore clones in the background until `vm_cache_number` of this template wait; clones of
   * another template (an older config) and any above that number go first. A restore that
   * fails stops the filling for a minute (said in the log): pods restore from the template
   * meanwhile.
   */
  fill(cfg: HypervisorConfig, accel: AccelChoice, template: Template): void {
    if (this.closing || (cfg.vmCacheNumber === 0 && this.entries.length === 0)) return;
    if (this.filling) {
      this.again = () => this.fill(cfg, accel, template);
      return;
    }
    this.filling = this.fillUntil(cfg, accel, template)
      .catch((e: unknown) => this.d.log?.warn('the VM cache is not filled', { err: errorMessage(e) }))
      .finally(() => {
        this.filling = null;
        const next = this.again;
        this.again = null;
        next?.();
      });
  }

  /** Resolves when no filling runs (tests). */
  async idle(): Promise<void> {
    while (this.filling) await this.filling;
  }

  /** Every cached clone goes (the sandboxer is closing). */
  async close(): Promise<void> {
    this.closing = true;
    this.again = null;
    await this.idle();
    const all = this.entries.splice(0);
    await Promise.all(all.map((e) => this.discard(e)));
  }

  private async fillUntil(cfg: HypervisorConfig, accel: AccelChoice, template: Template): Promise<void> {
    const key = template.manifest.key;
    // one template's clones, as many as asked (vm_cache_number may have been lowered)
    const keep = this.entries.filter((e) => e.key === key).slice(0, cfg.vmCacheNumber);
    const stale = this.entries.filter((e) => !keep.includes(e));
    this.entries = keep;
    await Promise.all(stale.map((e) => this.discard(e)));
    if (!this.reaped) {
      this.reaped = true;
      await reapVmCache(this.d.workDir, this.d.log);
    }
    while (!this.closing && this.entries.filter((e) => e.key === key).length < cfg.vmCacheNumber) {
      if (Date.now() - this.failedAt < RETRY_MS) return;
      try {
        await this.addOne(cfg, accel, template);
      } catch (e) {
        this.failedAt = Date.now();
        this.d.log?.warn('cannot restore a VM for the VM cache: pods restore from the template; the cache tries again in a minute', { key, err: errorMessage(e) });
        return;
      }
    }
  }

  private async addOne(cfg: HypervisorConfig, accel: AccelChoice, template: Template): Promise<void> {
    await fs.mkdir(this.d.workDir, { recursive: true, mode: 0o700 });
    const dir = await fs.mkdtemp(path.join(this.d.workDir, 'c-'));
    let r: Awaited<ReturnType<CacheRestorer>>;
    try {
      r = await (this.d.restore ?? restoreForCache)(cfg, accel, template, dir, this.d.log);
    } catch (e) {
      await reapCacheDir(dir);
      throw e;
    }
    const e: CachedVm = { key: template.manifest.key, dir, ...r };
    if (this.closing) return this.discard(e);
    this.entries.push(e);
    this.d.log?.info('VM cached', { key: e.key, dir, pid: e.vm.pid, cached: this.entries.length, ...e.timing });
    void e.vm.exited.then((status) => {
      const i = this.entries.indexOf(e);
      if (i < 0) return; // taken by a pod, or discarded
      this.entries.splice(i, 1);
      this.d.log?.warn('a cached VM exited', { dir, status });
      void this.discard(e);
    });
  }

  private async discard(e: CachedVm): Promise<void> {
    e.vm.client.close();
    await stopVmm(e.vm.pid, async () => {}, 0);
    stopVirtiofsd(e.virtiofsdPid);
    await removeUnmounted(e.dir).catch((err) => this.d.log?.warn('cannot remove a cached VM\'s dir', { dir: e.dir, err: errorMessage(err) }));
  }
}

/**
 * A cached clone made the pod's: its threads back to niceness 0, its NIC hot-plugged (QEMU
 * makes the tap in its own netns; it is moved into the pod's and joined to its interface
 * there), then the agent's CloneSetup (clock, CRNG reseed, hostname; the share is mounted
 * already). The caller configures the NIC, as for any pod.
 */
export async function claimClone(c: {
  id: string; cfg: HypervisorConfig; vm: RunningVm; paths: VmPaths; net: PlannedNic | null; networks: VmNetworks; hostname: string;
}): Promise<{ tasks: GuestTasks; timing: { claimMs: number; hotplugMs: number; setupMs: number } }> {
  const t0 = Date.now();
  await renice(c.vm.pid, 0);
  if (c.net) {
    const qmp = await QmpClient.connect(c.paths.qmpSocket, `sandbox-${c.id}`, 5000);
    try {
      for (const [cmd, args] of hotplugCommands(c.cfg, { nic: { tap: c.net.nic.tap, mac: c.net.nic.mac } })) await qmp.execute(cmd, args);
    } finally {
      qmp.close();
    }
    await c.networks.adopt(c.net, `/proc/${c.vm.pid}/ns/net`);
  }
  const t1 = Date.now();
  const tasks = new GuestTasks(c.vm.client);
  // (the share was mounted when the clone was cached)
  await tasks.cloneSetup({ hostname: c.hostname, mountShared: false, network: !!c.net });
  const t2 = Date.now();
  return { tasks, timing: { claimMs: t2 - t0, hotplugMs: t1 - t0, setupMs: t2 - t1 } };
}

/** Every thread of `pid` to `nice` (setpriority(2) acts on one thread, and QEMU's were made at the process's niceness). */
async function renice(pid: number, nice: number): Promise<void> {
  for (const tid of await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    try { os.setPriority(Number(tid), nice); } catch { /* a thread that ended meanwhile */ }
  }
}

/**
 * The real restore: the clone's share and virtiofsd in `dir`, QEMU in a netns of its own; a
 * first CloneSetup mounts the share, and a throwaway container warms QEMU's translations of
 * the create path (warm-container.ts). The pod's CloneSetup comes with its claim.
 */
async function restoreForCache(cfg: HypervisorConfig, accel: AccelChoice, template: Template, dir: string, log?: Logger): Promise<Pick<CachedVm, 'vm' | 'virtiofsdPid' | 'timing'>> {
  const useFs = cfg.sharedFs === 'virtio-fs';
  const shared = new SharedDir(path.join(dir, 'shared'));
  let virtiofsdPid = 0;
  let vm: RunningVm | undefined;
  try {
    if (useFs) {
      await shared.setup();
      virtiofsdPid = await startPodFs(cfg, dir, shared);
    }
    const clone = await startClone({
      id: `cache-${path.basename(dir)}`, cfg, accel, template, paths: vmPathsIn(dir), hostname: 'tsula-guest', ownNetns: true, deferSetup: true, nice: CACHE_NICE,
      ...(useFs ? { sharedFs: { socket: fsSocketIn(dir), tag: SHARED_FS_TAG } } : {}),
    }, cfg.bootTimeout * 1000);
    vm = clone.vm;
    const tasks = new GuestTasks(vm.client);
    await tasks.cloneSetup({ hostname: 'tsula-cache', mountShared: useFs });
    const warmUpMs = useFs ? await warmUp(tasks, shared, dir, { noSeccomp: cfg.disableGuestSeccomp, log }).catch((e: unknown) => {
      log?.warn('the warm-up container of a cached VM failed: the VM is cached cold', { dir, err: errorMessage(e) });
      return null;
    }) : null;
    return { vm, virtiofsdPid, timing: { ...clone.timing, ...(warmUpMs !== null ? { warmUpMs } : {}) } };
  } catch (e) {
    if (vm) {
      vm.client.close();
      await stopVmm(vm.pid, async () => {}, 0);
    }
    stopVirtiofsd(virtiofsdPid);
    throw e;
  }
}

/** A cached clone's dir and its processes (by their pid files, checked against their command lines). */
async function reapCacheDir(dir: string): Promise<void> {
  const qemu = await pidFileProcess(vmPathsIn(dir).pidFile, dir);
  if (qemu) await stopVmm(qemu, async () => {}, 0);
  const fsd = await pidFileProcess(path.join(dir, VIRTIOFSD_PID), dir);
  if (fsd) stopVirtiofsd(fsd);
  await removeUnmounted(dir);
}

/**
 * The cached clones a sandboxer killed meanwhile left in `workDir` (idle QEMUs no pod will
 * take): stopped and removed. At a sandboxer's start, and before a cache's first filling.
 */
export async function reapVmCache(workDir: string, log?: Logger): Promise<void> {
  const names = (await fs.readdir(workDir).catch(() => [] as string[])).filter((f) => f.startsWith('c-'));
  for (const n of names) {
    const dir = path.join(workDir, n);
    await reapCacheDir(dir).catch((e) => log?.warn('cannot remove a cached VM a former sandboxer left', { dir, err: errorMessage(e) }));
  }
  if (names.length) log?.info('cached VMs of a former sandboxer removed', { dir: workDir, count: names.length });
}
