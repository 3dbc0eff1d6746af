// The mounts of volumes with options (type/device/o), dockerd's local driver Mount/Unmount:
// a volume is mounted on its _data directory when its first holder (a starting container, a
// copy-up, a docker cp) takes it, shared by every later one, and unmounted when the last lets
// go. The holders live in memory only: after a restart, restore() rebuilds them from the
// containers that still run and unmounts what nobody holds (a crash between a mount and the
// container's start). One volume's steps run one at a time.
import { promises as dns } from 'node:dns';
import { promises as fs } from 'node:fs';
import { errorMessage, internal } from '../../common/errors.js';
import { exec, type ExecResult } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import { isMounted, unmountPath } from '../../storage/mounts.js';
import { addressToResolve, errnoText, mountCall, mountFailure, needsMount, withAddress } from './options.js';

/** An nfs mount may wait long on its server; dockerd waits for ever, we for this long. */
const MOUNT_TIMEOUT_MS = 120_000;

export interface VolumeMounterDeps {
  /** The volume's options and its _data directory. */
  volume(name: string): { options: Record<string, string>; mountpoint: string };
  log: Logger;
  /** mount(8) (tests pass a fake). */
  run?: (args: string[]) => Promise<ExecResult>;
  /** A host name's address, IPv4 first (Go's ResolveIPAddr("ip", ...)). */
  resolve?: (host: string) => Promise<string>;
}

export class VolumeMounter {
  private readonly holders = new Map<string, Set<string>>();
  private readonly queue = new Map<string, Promise<unknown>>();

  constructor(private readonly d: VolumeMounterDeps) {}

  /** Whether the volume is mounted while in use at all. */
  mounts(name: string): boolean { return needsMount(this.d.volume(name).options); }

  /** How many hold the volume now (dockerd's active count). */
  active(name: string): number { return this.holders.get(name)?.size ?? 0; }

  /** Mount the volume unless it is (a no-op for a volume without options); `holder` holds it. */
  acquire(name: string, holder: string): Promise<void> {
    if (!this.mounts(name)) return Promise.resolve();
    return this.serial(name, async () => {
      const set = this.holders.get(name) ?? new Set<string>();
      if (!set.size && !(await isMounted(this.d.volume(name).mountpoint))) await this.mount(name);
      set.add(holder);
      this.holders.set(name, set);
    });
  }

  /** `holder` lets go; the last one unmounts. A holder it never had changes nothing. */
  release(name: string, holder: string): Promise<void> {
    return this.serial(name, async () => {
      const set = this.holders.get(name);
      if (!set?.delete(holder)) return;
      if (set.size) return;
      this.holders.delete(name);
      await unmountPath(this.d.volume(name).mountpoint);
    });
  }

  /** After a restart: `users` (volume → holders still running) hold again; the rest is unmounted. */
  async restore(names: string[], users: Map<string, string[]>): Promise<void> {
    for (const name of names) {
      if (!this.mounts(name)) continue;
      await this.serial(name, async () => {
        const held = users.get(name) ?? [];
        if (held.length) { this.holders.set(name, new Set(held)); return; }
        const mp = this.d.volume(name).mountpoint;
        if (!(await isMounted(mp))) return;
        this.d.log.warn('unmounting a volume no running container uses', { volume: name });
        await unmountPath(mp).catch((e) => this.d.log.warn('unmounting an unused volume', { volume: name, err: errorMessage(e) }));
      });
    }
  }

  /** Before a volume's removal: refused while held (dockerd's words), else nothing stays mounted. */
  unmountForRemoval(name: string): Promise<void> {
    return this.serial(name, async () => {
      if (this.active(name)) throw internal(`remove ${name}: volume has active mounts`);
      await unmountPath(this.d.volume(name).mountpoint);
    });
  }

  private async mount(name: string): Promise<void> {
    const v = this.d.volume(name);
    let opts = v.options;
    if (!opts.device) throw internal('missing device in volume options');
    const addr = addressToResolve(opts);
    if (addr) {
      const ip = await (this.d.resolve ?? resolveIPv4First)(addr).catch(() => {
        throw internal(`error resolving passed in network volume address: lookup ${addr}: no such host`);
      });
      opts = withAddress(opts, addr, ip);
    }
    const call = mountCall(opts);
    if (!call) return; // dockerd's remount request without data: nothing to mount
    await fs.mkdir(v.mountpoint, { recursive: true, mode: 0o755 });
    // -i: no /sbin/mount.<type> helper (dockerd calls mount(2) itself); -n: no mtab
    const args = ['-i', '-n', ...(call.type ? ['-t', call.type] : []), ...(opts.o ? ['-o', opts.o] : []), '--', call.device, v.mountpoint];
    const r = await (this.d.run ?? ((a: string[]) => exec('mount', a, { timeoutMs: MOUNT_TIMEOUT_MS })))(args);
    if (r.code !== 0) throw internal(mountFailure(call, v.mountpoint, errnoText(r.stderr), opts.o));
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queue.get(name) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.queue.set(name, next);
    void next.catch(() => {}).finally(() => { if (this.queue.get(name) === next) this.queue.delete(name); });
    return next;
  }
}

async function resolveIPv4First(host: string): Promise<string> {
  try {
    return (await dns.lookup(host, { family: 4 })).address;
  } catch {
    return (await dns.lookup(host)).address;
  }
}
