// Filesystem helpers: atomic writes (temp, fsync, rename, fsync dir) and friends.
import { promises as fs, constants, type Dirent, type Stats } from 'node:fs';
import * as path from 'node:path';

let tmpCount = 0;
/**
 * A name part no other temp file of this process or another has: pid, a counter and the
 * time (not random bytes: node:crypto would load into an idle daemon for it).
 */
export function tmpSuffix(): string {
  return `${process.pid.toString(36)}-${(tmpCount++).toString(36)}-${Date.now().toString(36)}`;
}

/**
 * How much a write must survive: `full` a power cut (file and directory synced), `file` the
 * data synced but not the name (rewriting a file that already exists: the old name holds), `none` only
 * a crash of this process (atomic, but the page cache may lose it: derived files).
 */

export type Durability = 'full' | 'file' | 'none';

/** A temp file writeFileAtomic left when a crash cut its write short (`.<name>.<suffix>.tmp`). */
export function isAtomicWriteTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

/** Write via a temp file and a rename: readers see the old content or the new, never a part. */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600, durability: Durability = 'full'): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${tmpSuffix()}.tmp`);
  const fh = await fs.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    try {
      await fh.writeFile(data);
      if (durability !== 'none') await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
  } catch (e) {
    // a write cut short by a full disk must not leave its partial temp file holding space
    await fs.rm(tmp, { force: true });
    throw e;
  }
  if (durability === 'full') await fsyncDir(dir);
}

export async function writeJsonAtomic(file: string, value: unknown, mode = 0o600): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode);
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { await fh.sync(); } finally { await fh.close(); }
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await fs.readFile(file, 'utf8')) as T;
}

export async function exists(p: string): Promise<boolean> {
  try { await fs.lstat(p); return true; } catch { return false; }
}

export async function mkdirp(p: string, mode = 0o700): Promise<void> {
  await fs.mkdir(p, { recursive: true, mode });
}

/**
 * rm -rf of a tree a container may have made, of any depth, not across a mount (as GNU rm
 * --one-file-system). A walk of readdir's entry types: one call per file and two per
 * directory, where node's fs.rm stats every entry and tries rmdir first (~2.5x the calls on
 * the create/remove path). Past PATH_MAX (`d=/a; while mkdir $d; do d=$d/a; done` in a
 * container) paths can't be built whole: GNU rm walks from directory fds.
 */
export async function removeTree(dir: string): Promise<void> {
  let top: Stats;
  try {
    top = await fs.lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!top.isDirectory()) return removeFile(dir);
  try {
    await removeDir(dir, top.dev);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw e;
    const { execOk } = await import('./exec.js');
    await execOk('rm', ['-rf', '--one-file-system', '--', dir]);
  }
}

async function removeDir(dir: string, dev: number, tries = 5): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await Promise.all(entries.map(async (ent) => {
    const p = path.join(dir, ent.name);
    if (!ent.isDirectory()) return removeFile(p);
    const st = await fs.lstat(p).catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return null; throw e; });
    if (!st) return;
    if (st.dev !== dev) throw Object.assign(new Error(`cannot remove ${dir}: ${p} is a mount point`), { code: 'EBUSY' });
    await removeDir(p, dev);
  }));
  await fs.rmdir(dir).catch(async (e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return;
    // something wrote into it during the walk (a dying exec's conmon, its exit file; a probe
    // starting as its container goes): walked again, a few times
    if (e.code === 'ENOTEMPTY' && tries > 1) return removeDir(dir, dev, tries - 1);
    throw e;
  });
}

/** rm -f of one file: an unlink, no stat first (fs.rm force stats it twice). */
export async function removeFile(file: string): Promise<void> {
  try {
    await fs.unlink(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}
