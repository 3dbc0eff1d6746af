// Stream a tar of files on the host (docker cp's and export's archives, a committed layer):
// entries are lstat'ed, never followed, files opened O_NOFOLLOW, hard links kept as links,
// sockets skipped (as docker's archive package does). Overlay whiteouts (char 0:0) can be
// written as docker's `.wh.` files for layer tars. Bodies keep the size their header said
// even when a file changes meanwhile (a tar whose bodies disagree with headers is corrupt).
import { promises as fs, constants, type Stats } from 'node:fs';
import * as path from 'node:path';
import { bodyPadding, entryHeader, type TarWriteEntry } from './tarwrite.js';
import type { EntryType } from './tarstream.js';

export interface PackItem {
  /** The file on the host (absent for a synthetic whiteout). */
  abs?: string;
  /** Its name in the archive (a directory's is given without the trailing slash). */
  name: string;
  /** A docker whiteout: an empty file named `name` (already `.wh.`-prefixed). */
  whiteout?: boolean;
}

const CHUNK = 256 * 1024;

/** Linux's dev_t → major/minor (glibc's gnu_dev_major/minor). */
export function devMajor(rdev: number): number { return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn)); }
export function devMinor(rdev: number): number { return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn)); }

/** overlayfs' whiteout: a character device 0:0. */
export function isOverlayWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function typeOf(st: Stats): EntryType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return null; // sockets: not archivable
}

/**
 * The tar of `items`, in the order given, with the end-of-archive blocks; `owner`: every
 * entry's uid/gid (a build context's 0:0, docker's ChownOpts), else each file's own.
 */
export async function* packItems(items: AsyncIterable<PackItem> | Iterable<PackItem>, owner?: { uid: number; gid: number }): AsyncGenerator<Buffer> {
  const links = new Map<string, string>(); // dev:ino of files with nlink > 1 → first name
  for await (const it of items) {
    if (it.whiteout || !it.abs) {
      yield entryHeader({ name: it.name, type: 'file', mode: 0, mtime: 0 }, 0);
      continue;
    }
    const st = await fs.lstat(it.abs).catch(() => null);
    if (!st) continue; // gone meanwhile
    const type = typeOf(st);
    if (!type) continue;
    const e: TarWriteEntry = {
      name: type === 'dir' ? `${it.name.replace(/\/+$/, '')}/` : it.name,
      type, mode: st.mode & 0o7777, uid: owner?.uid ?? st.uid, gid: owner?.gid ?? st.gid, mtime: Math.floor(st.mtimeMs / 1000),
    };
    if (type === 'symlink') e.linkname = await fs.readlink(it.abs);
    if (type === 'char' || type === 'block') { e.devmajor = devMajor(st.rdev); e.devminor = devMinor(st.rdev); }
    if (type === 'file' && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = links.get(key);
      if (first !== undefined) {
        yield entryHeader({ ...e, type: 'link', linkname: first }, 0);
        continue;
      }
      links.set(key, it.name);
    }
    if (type !== 'file') {
      yield entryHeader(e, 0);
      continue;
    }
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(it.abs, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch {
      continue; // replaced or removed since the lstat
    }
    try {
      const size = st.size;
      yield entryHeader(e, size);
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(CHUNK, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) { yield Buffer.alloc(left); left = 0; break; } // shrank: zeros
        left -= bytesRead;
        yield buf.subarray(0, bytesRead);
      }
      yield bodyPadding(size);
    } finally {
      await fh.close();
    }
  }
  yield Buffer.alloc(1024);
}

/**
 * `abs` and, when it is a directory, everything below it (lexical order, as Go's
 * filepath.Walk), named `name` and `name/<rel>`. `skip(rel)` leaves a subtree out;
 * `mountAt(rel)` names the host path mounted at rel, read in its place.
 */
export async function* walkTree(abs: string, name: string, skip?: (rel: string) => boolean, mountAt?: (rel: string) => string | undefined): AsyncGenerator<PackItem & { rel: string; st: Stats }> {
  const st = await fs.lstat(abs);
  yield { abs, name, rel: '', st };
  if (!st.isDirectory()) return;
  const join = (a: string, b: string) => (a === '' ? b : a === '.' ? `./${b}` : a.endsWith('/') ? `${a}${b}` : `${a}/${b}`);
  async function* below(dir: string, arcDir: string, relDir: string): AsyncGenerator<PackItem & { rel: string; st: Stats }> {
    const names = (await fs.readdir(dir).catch(() => [] as string[])).sort();
    for (const n of names) {
      const rel = relDir ? `${relDir}/${n}` : n;
      if (skip?.(rel)) continue;
      // what is mounted there when the container runs (its snapshot has an empty mountpoint);
      // a bind follows a symlinked source
      const m = mountAt?.(rel);
      const p = m ?? path.join(dir, n);
      const s = await (m ? fs.stat(p) : fs.lstat(p)).catch(() => null);
      if (!s) continue;
      yield { abs: p, name: join(arcDir, n), rel, st: s };
      if (s.isDirectory()) yield* below(p, join(arcDir, n), rel);
    }
  }
  yield* below(abs, name, '');
}
