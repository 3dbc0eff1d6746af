// Bytes and inodes used below a directory (du -x's walk: allocated blocks, hard links once,
// never into another filesystem such as a running container's mounted rootfs): a container's
// writable layer for CRI's writable_layer, the snapshot store for ImageFsInfo. A walk of a big
// tree takes seconds, longer than kubelet's polling interval, so a call that has an answer
// already waits for a new walk only a moment: past that the last figure is answered and the
// walk goes on behind it (containerd's CRI answers from its snapshot syncer the same way),
// concurrent askers share one walk, and a store's layers, which never change, are walked once.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface DiskUsage {
  bytes: bigint;
  inodes: bigint;
}

/** Walk `dir` (itself included); entries that vanish meanwhile are skipped. A missing dir is 0. */
export async function diskUsage(dir: string): Promise<DiskUsage> {
  let bytes = 0n;
  let inodes = 0n;
  const seen = new Set<string>();
  const count = (st: { blocks: number; nlink: number; dev: number; ino: number; isDirectory(): boolean }) => {
    if (!st.isDirectory() && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) return;
      seen.add(key);
    }
    inodes++;
    bytes += BigInt(st.blocks) * 512n;
  };
  const walk = async (d: string, dev: number): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p).catch(() => null);
      if (!st || st.dev !== dev) continue; // a mount point: not this filesystem's
      count(st);
      if (st.isDirectory()) await walk(p, dev);
    }
  };
  const top = await fs.lstat(dir).catch(() => null);
  if (!top) return { bytes, inodes };
  count(top);
  if (top.isDirectory()) await walk(dir, top.dev);
  return { bytes, inodes };
}

export interface CachedUsage extends DiskUsage {
  /** When the walk started (epoch ns): the figures are as of then. */
  timestamp: bigint;
}

/** How long a call waits for a new walk before it takes the last figure. */
const QUICK_WALK_MS = 150;

interface Entry {
  /** When it was last asked for (ms), for pruning. */
  asked: number;
  value?: CachedUsage;
  walking?: Promise<CachedUsage>;
  stable?: boolean;
}

export class DiskUsageCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly ttlMs = 5_000, readonly now: () => number = Date.now) {}

  /**
   * `dir`'s usage: the cached figure (refreshed in the background once older than the TTL),
   * or the first walk's. `stable`: the tree never changes (a store's layer): walked once.
   */
  get(dir: string, o: { stable?: boolean } = {}): Promise<CachedUsage> {
    const t = this.now();
    this.prune(t);
    let e = this.entries.get(dir);
    if (!e) this.entries.set(dir, e = { asked: t, stable: o.stable });
    e.asked = t;
    const stale = !!e.value && !e.stable && t - Number(e.value.timestamp / 1_000_000n) >= this.ttlMs;
    if (!e.value || stale) this.walk(dir, e, t);
    if (!e.value) return e.walking!;
    if (!stale || !e.walking) return Promise.resolve(e.value);
    // a walk that is quick (most trees) answers itself; a long one leaves the last figure
    const last = e.value;
    return Promise.race([e.walking.catch(() => last), new Promise<CachedUsage>((r) => setTimeout(() => r(last), QUICK_WALK_MS).unref())]);
  }

  private walk(dir: string, e: Entry, t: number): void {
    if (e.walking) return;
    e.walking = diskUsage(dir).then((x) => (e.value = { ...x, timestamp: BigInt(t) * 1_000_000n }));
    // a failed walk is not remembered; the next ask tries again
    e.walking.catch(() => {}).finally(() => { e.walking = undefined; });
  }

  /** Drop what nobody asked for since long (removed containers' dirs, removed layers). */
  private prune(t: number): void {
    for (const [k, v] of this.entries) if (t - v.asked > 10 * this.ttlMs) this.entries.delete(k);
  }
}

/**
 * A snapshot store's usage (tsula's overlay and vfs layout: `layers/<chain id>`, never changed
 * once complete, and `snapshots/<key>`, the containers' writable layers): each layer walked
 * once, each snapshot as `cache.get` refreshes it, the rest (a few small dirs) each time.
 */
export async function storeUsage(cache: DiskUsageCache, root: string): Promise<CachedUsage> {
  const top = await fs.lstat(root).catch(() => null);
  const sum: CachedUsage = { bytes: 0n, inodes: 0n, timestamp: BigInt(cache.now()) * 1_000_000n };
  if (!top) return sum;
  // as of the oldest part that can change (a layer's figure is as good now as when walked:
  // kubelet's eviction manager takes only a reading whose time moved on)
  const add = (u: CachedUsage, stable = false) => {
    sum.bytes += u.bytes;
    sum.inodes += u.inodes;
    if (!stable && u.timestamp < sum.timestamp) sum.timestamp = u.timestamp;
  };
  add({ bytes: BigInt(top.blocks) * 512n, inodes: 1n, timestamp: sum.timestamp });
  const parts: Array<Promise<[CachedUsage, boolean]>> = [];
  const part = (dir: string, stable = false) => parts.push(cache.get(dir, { stable }).then((u) => [u, stable]));
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, name);
    if (name !== 'layers' && name !== 'snapshots') {
      part(dir);
      continue;
    }
    const st = await fs.lstat(dir).catch(() => null);
    if (!st?.isDirectory()) continue;
    add({ bytes: BigInt(st.blocks) * 512n, inodes: 1n, timestamp: sum.timestamp });
    for (const child of await fs.readdir(dir).catch(() => [] as string[])) {
      // a layer being unpacked or removed has a .tmp- name (base.ts): only complete ones are stable
      part(path.join(dir, child), name === 'layers' && !child.startsWith('.'));
    }
  }
  for (const r of await Promise.all(parts.map((p) => p.catch(() => null)))) if (r) add(r[0], r[1]);
  return sum;
}
