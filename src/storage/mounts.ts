// Mount table queries; umount and binds: the syscalls through the native addon, else mount(8).
import { promises as fs, readFileSync, realpathSync } from 'node:fs';
import * as path from 'node:path';
import { run } from './exec.js';
import { internal } from '../common/errors.js';
import { MNT_DETACH, native } from '../common/native.js';
import { DEFAULT_SHM_BYTES } from '../oci/shm.js';

export interface MountEntry {
  mountPoint: string; fsType: string; source: string; options: string;
  /** The mount's own options (ro/rw, nosuid, nodev, noexec, atime): `options` are the filesystem's. */
  mountOptions: string;
  /** mountinfo's optional fields: shared:N, master:N, propagate_from:N, unbindable. */
  optional: string[];
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const f = pre.split(' ');
    const g = (post ?? '').split(' ');
    out.push({ mountPoint: unescape(f[4] ?? ''), fsType: g[0] ?? '', source: unescape(g[1] ?? ''), options: g[2] ?? '', mountOptions: f[5] ?? '', optional: f.slice(6) });
  }
  return out;
}

export async function mounts(): Promise<MountEntry[]> {
  return parseMountinfo(await fs.readFile('/proc/self/mountinfo', 'utf8'));
}

async function real(p: string): Promise<string> {
  try { return await fs.realpath(p); } catch { return path.resolve(p); }
}

export async function isMounted(p: string): Promise<boolean> {
  const rp = await real(p);
  return (await mounts()).some((m) => m.mountPoint === rp);
}

/** Unmount p until nothing is mounted there; not mounted is fine. Falls back to a lazy unmount. */
export async function unmountPath(p: string): Promise<void> {
  const rp = await real(p);
  const addon = native();
  for (let i = 0; i < 16; i++) {
    if (addon) {
      // the syscall says whether something is mounted there (EINVAL: not a mount point): no
      // mount table to read, whose length grows with every container
      const r = await addon.umount(rp, 0).then(() => null, (e: NodeJS.ErrnoException) => e);
      if (!r) continue; // another mount may be under the one that went
      if (r.code === 'EINVAL' || r.code === 'ENOENT') return;
      const l = await addon.umount(rp, MNT_DETACH).then(() => null, (e: NodeJS.ErrnoException) => e);
      if (l && l.code !== 'EINVAL') throw internal(`cannot unmount ${rp}: ${r.message}; lazy: ${l.message}`);
      continue;
    }
    if (!(await mounts()).some((m) => m.mountPoint === rp)) return;
    const r = await run('umount', [rp]);
    if (r.code !== 0) {
      const l = await run('umount', ['-l', rp]);
      if (l.code !== 0 && (await mounts()).some((m) => m.mountPoint === rp)) {
        throw internal(`cannot unmount ${rp}: ${r.stderr || `exit ${r.code}`}; lazy: ${l.stderr || `exit ${l.code}`}`);
      }
    }
  }
  throw internal(`cannot unmount ${rp}: still mounted`);
}

const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_BIND = 0x1000;
const MS_PRIVATE = 0x40000;

/**
 * A /dev/shm to share between containers at dir (made if missing): a tmpfs of `bytes`, mode
 * 1777, unless one is mounted there already. Unmounted with unmountPath.
 */
export async function ensureShm(dir: string, bytes = DEFAULT_SHM_BYTES): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  if (!(await isMounted(dir))) await mountShm(dir, `mode=1777,size=${bytes}`);
  return dir;
}

/**
 * A tmpfs named shm at target, nosuid, nodev and noexec, with `data` its options
 * (mode=1777,size=...). The syscall through the addon, else mount(8).
 */
async function mountShm(target: string, data: string): Promise<void> {
  const addon = native();
  const failed = (why: string) => internal(`cannot mount a tmpfs (a /dev/shm) at ${target}: ${why}`);
  if (addon) {
    await addon.mount('shm', target, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, data).catch((e: Error) => { throw failed(e.message); });
    return;
  }
  const r = await run('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,${data}`, 'shm', target]);
  if (r.code !== 0) throw failed(r.stderr.trim() || `exit ${r.code}`);
}

/**
 * Bind source (not recursively) at target and make that mount private: nothing mounted
 * there later propagates to other namespaces, nor from them. The syscalls through the addon,
 * else mount(8).
 */
export async function bindPrivate(source: string, target: string): Promise<void> {
  const addon = native();
  const failed = (why: string) => internal(`cannot bind ${source} at ${target}: ${why}`);
  if (addon) {
    await addon.mount(source, target, '', MS_BIND, '').catch((e: Error) => { throw failed(e.message); });
    await addon.mount('', target, '', MS_PRIVATE, '').catch(async (e: Error) => {
      await addon.umount(target, MNT_DETACH).catch(() => {});
      throw failed(e.message);
    });
    return;
  }
  // --no-canonicalize: the kernel follows source (a /proc/<pid>/fd link), not a path mount(8) made of it
  const r = await run('mount', ['--no-canonicalize', '--bind', '--make-private', source, target]);
  if (r.code !== 0) throw failed(r.stderr || `exit ${r.code}`);
}

/** Unmount everything mounted at or below dir, deepest first (before deleting dir). */
export async function unmountUnder(dir: string): Promise<void> {
  const rd = await real(dir);
  const inside = (await mounts()).map((m) => m.mountPoint).filter((m) => m === rd || m.startsWith(rd + '/'));
  for (const m of [...new Set(inside)].sort((a, b) => b.length - a.length)) await unmountPath(m);
}

/** The mount holding p (closest existing ancestor, symlinks resolved), or null without /proc. */
export function mountOf(p: string): MountEntry | null {
  let cur = path.resolve(p);
  for (;;) {
    try { cur = realpathSync(cur); break; } catch { const up = path.dirname(cur); if (up === cur) break; cur = up; }
  }
  let best: MountEntry | null = null;
  try {
    // the last of equal mount points is the one on top
    for (const m of parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))) {
      if ((cur === m.mountPoint || cur.startsWith(m.mountPoint === '/' ? '/' : m.mountPoint + '/'))
        && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
    }
  } catch { /* no /proc: unknown */ }
  return best;
}

/** The filesystem type holding p (closest existing ancestor), e.g. "ext4". */
export function backingFs(p: string): string {
  return mountOf(p)?.fsType ?? 'unknown';
}
