// Bytes and inodes used below a directory (du's walk: allocated blocks, hard links once):
// a container's writable layer for CRI's writable_layer, the image and container stores
// for ImageFsInfo. A walk of a big tree costs more than kubelet's polling interval, so
// answers are cached a few seconds, and concurrent askers share one walk.
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
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      const st = await fs.lstat(p).catch(() => null);
      if (!st) continue;
      count(st);
      if (st.isDirectory()) await walk(p);
    }
  };
  const top = await fs.lstat(dir).catch(() => null);
  if (!top) return { bytes, inodes };
  count(top);
  if (top.isDirectory()) await walk(dir);
  return { bytes, inodes };
}

export interface CachedUsage extends DiskUsage {
  /** When the walk started (epoch ns): the figures are as of then. */
  timestamp: bigint;
}

export class DiskUsageCache {
  private readonly entries = new Map<string, { at: number; u: Promise<CachedUsage> }>();

  constructor(private readonly ttlMs = 5_000, private readonly now: () => number = Date.now) {}

  get(dir: string): Promise<CachedUsage> {
    const t = this.now();
    const hit = this.entries.get(dir);
    if (hit && t - hit.at < this.ttlMs) return hit.u;
    const u = diskUsage(dir).then((x) => ({ ...x, timestamp: BigInt(t) * 1_000_000n }));
    // a failed walk is not remembered
    u.catch(() => this.entries.delete(dir));
    this.entries.set(dir, { at: t, u });
    this.prune(t);
    return u;
  }

  /** Drop what nobody asked for since long (removed containers' dirs). */
  private prune(t: number): void {
    for (const [k, v] of this.entries) if (t - v.at > 10 * this.ttlMs) this.entries.delete(k);
  }
}
