// What a container changed in its rootfs (docker diff, and the layer docker commit makes):
// overlay from its upper dir (whiteouts are deletions, opaque dirs hide what is below),
// vfs by comparing the snapshot with the image's top layer. A directory counts as changed
// only when its owner or mode changed or something below it did (runc's mountpoints and
// the like, which the caller skips, leave it unreported, as docker's init layer hides them).
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { run } from './exec.js';
import { isOverlayWhiteout } from './tarpack.js';

/** docker's change kinds: 0 modified, 1 added, 2 deleted. */
export type ChangeKind = 0 | 1 | 2;
export interface Change { Path: string; Kind: ChangeKind }

export interface WritableChanges {
  /** Sorted by path; paths absolute in the container. */
  changes: Change[];
  /** Directories whose lower contents are hidden (overlay's opaque dirs). */
  opaque: string[];
  /** Where the added and changed files are on the host (upper dir, or the vfs rootfs). */
  source: string;
}

/** Container paths the caller leaves out (with everything below them). */
export type SkipPath = (containerPath: string) => boolean;

const lstat = (p: string): Promise<Stats | null> => fs.lstat(p).catch(() => null);

const metaDiffers = (a: Stats, b: Stats) => a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid;

async function contentDiffers(newPath: string, a: Stats, b: Stats): Promise<boolean> {
  if (metaDiffers(a, b) || a.rdev !== b.rdev) return true;
  if (a.isDirectory()) return false;
  if (a.size !== b.size || Math.floor(a.mtimeMs) !== Math.floor(b.mtimeMs)) return true;
  return false;
}

interface Walked { changes: Change[]; reported: boolean }

/** Opaque dirs under `upper` (relative paths), from one getfattr over the tree. */
async function opaqueDirs(upper: string): Promise<Set<string>> {
  const r = await run('getfattr', ['-R', '-P', '--absolute-names', '-d', '-m', '^trusted\\.overlay\\.opaque$', upper]);
  const out = new Set<string>();
  let file = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('# file: ')) file = line.slice(8);
    else if (/^trusted\.overlay\.opaque="y"$/.test(line) && file) out.add(path.relative(upper, file));
  }
  return out;
}

/** overlay: the upper dir against the lower layers (`lowers` top first). */
export async function overlayChanges(upper: string, lowers: string[], skip: SkipPath = () => false): Promise<WritableChanges> {
  const opaque = await opaqueDirs(upper);
  const below = async (rel: string): Promise<Stats | null> => {
    for (const l of lowers) {
      const st = await lstat(path.join(l, rel));
      if (st) return isOverlayWhiteout(st) ? null : st;
    }
    return null;
  };
  const walk = async (rel: string): Promise<Walked> => {
    const changes: Change[] = [];
    let any = false;
    for (const n of (await fs.readdir(path.join(upper, rel)).catch(() => [] as string[])).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (skip(`/${r}`)) continue;
      const st = await lstat(path.join(upper, r));
      if (!st) continue;
      if (isOverlayWhiteout(st)) { changes.push({ Path: `/${r}`, Kind: 2 }); any = true; continue; }
      const old = await below(r);
      const sub = st.isDirectory() ? await walk(r) : { changes: [], reported: false };
      if (!old || !st.isDirectory() || !old.isDirectory() || sub.reported || metaDiffers(st, old) || opaque.has(r)) {
        changes.push({ Path: `/${r}`, Kind: old ? 0 : 1 });
        any = true;
      }
      changes.push(...sub.changes);
    }
    return { changes, reported: any };
  };
  const { changes } = await walk('');
  return { changes: sortChanges(changes), opaque: [...opaque].filter((r) => !skip(`/${r}`)).map((r) => `/${r}`), source: upper };
}

/** vfs: the snapshot's tree against the image's (`base`: the top layer's full tree, or none). */
export async function treeChanges(rootfs: string, base: string | null, skip: SkipPath = () => false): Promise<WritableChanges> {
  const walk = async (rel: string): Promise<Walked> => {
    const changes: Change[] = [];
    let any = false;
    const dir = path.join(rootfs, rel);
    const names = new Set(await fs.readdir(dir).catch(() => [] as string[]));
    const oldNames = base ? await fs.readdir(path.join(base, rel)).catch(() => [] as string[]) : [];
    for (const n of oldNames) {
      const r = rel ? `${rel}/${n}` : n;
      if (!names.has(n) && !skip(`/${r}`)) { changes.push({ Path: `/${r}`, Kind: 2 }); any = true; }
    }
    for (const n of [...names].sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (skip(`/${r}`)) continue;
      const st = await lstat(path.join(rootfs, r));
      if (!st) continue;
      const old = base ? await lstat(path.join(base, r)) : null;
      const typeChanged = !!old && (old.isDirectory() !== st.isDirectory() || old.isSymbolicLink() !== st.isSymbolicLink());
      const sub = st.isDirectory() ? await walk(r) : { changes: [], reported: false };
      let changed = !old || typeChanged || sub.reported || await contentDiffers(path.join(rootfs, r), st, old);
      if (!changed && st.isSymbolicLink() && old) changed = (await fs.readlink(path.join(rootfs, r))) !== (await fs.readlink(path.join(base!, r)));
      if (changed) { changes.push({ Path: `/${r}`, Kind: old ? 0 : 1 }); any = true; }
      changes.push(...sub.changes);
    }
    return { changes, reported: any };
  };
  const { changes } = await walk('');
  return { changes: sortChanges(changes), opaque: [], source: rootfs };
}

function sortChanges(c: Change[]): Change[] {
  return c.sort((a, b) => (a.Path < b.Path ? -1 : a.Path > b.Path ? 1 : 0));
}
