// Safe extraction of an uncompressed OCI/docker layer tar into a directory.
//
// Every path is resolved by us, component by component with lstat, from the root: a parent
// that is a symlink (or missing from the root via "..") refuses the entry, so no fs call ever
// follows a link out of the root. Files are opened O_EXCL|O_NOFOLLOW after the old path is
// removed. Device nodes and xattrs need mknod/setfattr, which Node lacks: they are batched
// into a few child processes (see special.ts).
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import { TsulaError, internal, invalidArgument } from '../common/errors.js';
import { readTar, type TarEntry } from './tarstream.js';
import { makeNodes, setXattrs, type NodeSpec, type XattrSpec } from './special.js';

export type UnpackMode = 'overlay' | 'apply' | 'copy';

export interface UnpackOptions {
  /**
   * 'overlay': write whiteouts in overlayfs' native form (char 0:0, trusted.overlay.opaque).
   * 'apply': the root already holds the parent's full tree; whiteouts delete from it (vfs).
   * 'copy': docker cp into a directory: `.wh.` names are plain files, an entry for the
   * root itself is skipped (the target directory keeps its owner and mode).
   */
  mode: UnpackMode;
  /** Every entry owned by this uid/gid instead of the archive's (docker cp without -a). */
  owner?: { uid: number; gid: number };
  /** Refuse to replace a directory with a non-directory or the other way round (docker cp). */
  noOverwriteDirNonDir?: boolean;
  /** `root` is resolved already and must not be realpath'ed (a /proc/<pid>/root path). */
  resolvedRoot?: boolean;
}

export interface UnpackResult {
  size: number;         // bytes of regular files written
  warnings: string[];   // xattrs the filesystem refused (docker ignores those too)
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
const NODE_BATCH = 256;

interface DirMeta { mode: number; uid: number; gid: number; mtime: number }

export function escapes(name: string, why: string) {
  return invalidArgument(`layer tar entry "${name}" escapes the rootfs (${why})`);
}

/**
 * Lexically clean a tar path into root-relative components; refuse what leaves the root.
 * Like docker (which joins every name onto the root), leading slashes are dropped first:
 * "/etc/x" is "etc/x", and "/", "./" and "." name the root itself (umoci and other image
 * tools start a layer with "/"). ".." is checked after that, so "/../x" is still refused.
 */
export function cleanPath(raw: string, entry: string): string[] {
  if (raw.includes('\0')) throw invalidArgument(`layer tar entry "${entry.replace(/\0/g, '\\0')}": NUL in path`);
  const out: string[] = [];
  for (const c of raw.replace(/^\/+/, '').split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) throw escapes(entry, '".." leaves the root');
      out.pop();
    } else out.push(c);
  }
  return out;
}

const under = (rel: string, p: string) => p === rel || rel === '' || p.startsWith(rel + '/');
const join = (a: string, b: string) => (a ? `${a}/${b}` : b);
const code = (e: unknown) => (e as NodeJS.ErrnoException).code;

async function lstatOrNull(p: string) {
  try { return await fs.lstat(p); } catch (e) { if (code(e) === 'ENOENT') return null; throw e; }
}

class Unpacker {
  size = 0;
  warnings: string[] = [];
  private readonly verified = new Set<string>();        // rel dirs known to be real directories
  private readonly touched = new Set<string>();         // rel paths this layer wrote (apply mode)
  private readonly dirs = new Map<string, DirMeta>();   // applied last: children change mtimes
  private readonly xattrs = new Map<string, Map<string, Buffer>>();
  private readonly opaque = new Set<string>();
  private pending = new Map<string, NodeSpec>();

  constructor(private readonly root: string, private readonly mode: UnpackMode, private readonly o: Omit<UnpackOptions, 'mode'> = {}) {}

  private abs(rel: string): string { return rel ? path.join(this.root, rel) : this.root; }

  /** Make sure every parent of comps is a real directory (creating missing ones); returns its rel path. */
  private async parentOf(comps: string[], entry: string, create: boolean, touch = true): Promise<string | null> {
    let rel = '';
    for (let i = 0; i < comps.length - 1; i++) {
      rel = join(rel, comps[i]);
      if (touch && this.mode === 'apply') this.touched.add(rel); // in overlay terms: present in this layer
      if (this.verified.has(rel)) continue;
      if (this.pending.has(rel)) await this.flushNodes();
      const st = await lstatOrNull(this.abs(rel));
      if (!st) {
        if (!create) return null;
        await fs.mkdir(this.abs(rel));
        await fs.chmod(this.abs(rel), 0o755); // not subject to the daemon's umask
      } else if (st.isSymbolicLink()) {
        throw escapes(entry, `parent "${rel}" is a symlink`);
      } else if (!st.isDirectory()) {
        throw invalidArgument(`layer tar entry "${entry}": parent "${rel}" is not a directory`);
      }
      this.verified.add(rel);
    }
    return rel;
  }

  /** Forget state recorded at or below rel (it is being deleted), then delete it. */
  private async remove(rel: string, isDir: boolean): Promise<void> {
    const drop = <T>(m: Map<string, T> | Set<string>) => {
      if (!isDir) { m.delete(rel); return; }
      for (const k of [...m.keys()]) if (under(rel, k)) m.delete(k);
    };
    if (rel === '') throw invalidArgument('layer tar: refusing to remove the layer root');
    drop(this.verified); drop(this.dirs); drop(this.xattrs); drop(this.opaque); drop(this.pending);
    await fs.rm(this.abs(rel), { recursive: true, force: true });
  }

  async entry(e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const comps = cleanPath(e.name, e.name);
    if (this.o.owner) { e.uid = this.o.owner.uid; e.gid = this.o.owner.gid; }
    if (comps.length === 0 && this.mode === 'copy') return;
    if (comps.length === 0) {
      // The layer's root: its metadata applies to the root, as docker applies it.
      if (e.type !== 'dir') throw invalidArgument(`layer tar entry "${e.name}": the root must be a directory`);
      this.dirs.set('', e);
      if (e.xattrs.size) this.xattrs.set('', e.xattrs);
      return;
    }
    const base = comps[comps.length - 1];
    if (base.startsWith(WH) && this.mode !== 'copy') return this.whiteout(comps, e);

    // Validate a hard link's target before touching anything at the entry's own path.
    let target: string | null = null;
    if (e.type === 'link') target = await this.linkTarget(e);

    const parent = (await this.parentOf(comps, e.name, true)) as string;
    const rel = join(parent, base);
    const abs = this.abs(rel);
    if (target !== null && (target === rel || target.startsWith(rel + '/'))) {
      throw invalidArgument(`layer tar entry "${e.name}": hard link to itself or below itself`);
    }
    if (this.pending.has(rel)) this.pending.delete(rel);
    const st = await lstatOrNull(abs);
    if (st && this.o.noOverwriteDirNonDir && st.isDirectory() !== (e.type === 'dir')) {
      throw invalidArgument(st.isDirectory()
        ? `cannot overwrite directory "${rel}" with non-directory "${e.name}"`
        : `cannot overwrite non-directory "${rel}" with directory "${e.name}"`);
    }
    if (st && !(st.isDirectory() && e.type === 'dir')) await this.remove(rel, st.isDirectory());
    if (this.mode !== 'overlay') this.touched.add(rel);

    switch (e.type) {
      case 'dir':
        if (!st || !st.isDirectory()) await fs.mkdir(abs, 0o700);
        this.verified.add(rel);
        this.dirs.set(rel, e);
        break;
      case 'file':
        await this.writeFile(abs, e, body);
        break;
      case 'symlink':
        if (!e.linkname) throw invalidArgument(`layer tar entry "${e.name}": empty symlink target`);
        await fs.symlink(e.linkname, abs);
        await fs.lchown(abs, e.uid, e.gid);
        await fs.lutimes(abs, e.mtime, e.mtime);
        break;
      case 'link':
        await fs.link(this.abs(target as string), abs); // link(2) never follows a symlink target
        return; // shares the target's inode and metadata
      case 'char': case 'block': case 'fifo':
        this.pending.set(rel, { rel, kind: e.type, major: e.devmajor, minor: e.devminor, mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime });
        if (this.pending.size >= NODE_BATCH) await this.flushNodes();
        break;
    }
    if (e.xattrs.size) this.xattrs.set(rel, e.xattrs);
  }

  private async linkTarget(e: TarEntry): Promise<string> {
    if (e.linkname.includes('\0')) throw invalidArgument(`layer tar entry "${e.name}": NUL in hard link target`);
    let comps: string[];
    try {
      comps = cleanPath(e.linkname, e.name);
    } catch {
      throw escapes(e.name, `hard link to "${e.linkname}"`);
    }
    if (comps.length === 0) throw invalidArgument(`layer tar entry "${e.name}": hard link to the root directory ("${e.linkname}")`);
    const parent = await this.parentOf(comps, e.name, false, false);
    const rel = parent === null ? null : join(parent, comps[comps.length - 1]);
    if (rel !== null && this.pending.has(rel)) await this.flushNodes();
    const st = rel === null ? null : await lstatOrNull(this.abs(rel));
    if (!st || rel === null) throw invalidArgument(`layer tar entry "${e.name}": hard link target "${e.linkname}" does not exist`);
    if (st.isDirectory()) throw invalidArgument(`layer tar entry "${e.name}": hard link to a directory`);
    return rel;
  }

  private async writeFile(abs: string, e: TarEntry, body: AsyncIterable<Buffer>): Promise<void> {
    const fh = await fs.open(abs, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      }
      await fh.chown(e.uid, e.gid); // before chmod: chown clears setuid/setgid
      await fh.chmod(e.mode);
      await fh.utimes(e.mtime, e.mtime);
    } finally {
      await fh.close();
    }
    this.size += e.size;
  }

  private async whiteout(comps: string[], e: TarEntry): Promise<void> {
    const base = comps[comps.length - 1];
    if (base !== OPAQUE && base.startsWith(WH + WH)) return; // aufs internals (.wh..wh.plnk, ...)
    const parent = await this.parentOf(comps, e.name, this.mode === 'overlay' || base === OPAQUE);
    if (parent === null) return; // apply: deleting below a missing dir deletes nothing
    if (base === OPAQUE) {
      if (this.mode === 'overlay') this.opaque.add(parent);
      else await this.purge(parent);
      return;
    }
    const name = base.slice(WH.length);
    if (name === '' || name === '.' || name === '..') throw invalidArgument(`layer tar entry "${e.name}": invalid whiteout name`);
    const rel = join(parent, name);
    const st = await lstatOrNull(this.abs(rel));
    if (st) await this.remove(rel, st.isDirectory());
    else this.pending.delete(rel);
    if (this.mode === 'overlay') {
      this.pending.set(rel, { rel, kind: 'char', major: 0, minor: 0, mode: 0, uid: e.uid, gid: e.gid, mtime: e.mtime });
      if (this.pending.size >= NODE_BATCH) await this.flushNodes();
    }
  }

  /** apply-mode opaque dir: drop what lower layers put under rel, keep what this layer wrote. */
  private async purge(rel: string): Promise<void> {
    await this.flushNodes();
    for (const name of await fs.readdir(this.abs(rel))) {
      const child = join(rel, name);
      if (!this.touched.has(child)) {
        const st = await fs.lstat(this.abs(child));
        await this.remove(child, st.isDirectory());
      } else if ((await fs.lstat(this.abs(child))).isDirectory()) {
        await this.purge(child);
      }
    }
  }

  private async flushNodes(): Promise<void> {
    if (this.pending.size === 0) return;
    const nodes = [...this.pending.values()];
    this.pending = new Map();
    await makeNodes(this.root, nodes);
    for (const n of nodes) {
      const abs = this.abs(n.rel);
      await fs.lchown(abs, n.uid, n.gid);
      await fs.chmod(abs, n.mode); // a node just made by us, not a symlink
      await fs.lutimes(abs, n.mtime, n.mtime);
    }
  }

  /** True when rel still exists under a chain of real directories (state may be stale). */
  private async stillSafe(rel: string, wantDir: boolean): Promise<boolean> {
    const comps = rel ? rel.split('/') : [];
    let cur = '';
    for (let i = 0; i < comps.length; i++) {
      cur = join(cur, comps[i]);
      const st = await lstatOrNull(this.abs(cur));
      if (!st) return false;
      const last = i === comps.length - 1;
      if (!last && !st.isDirectory()) return false;
      if (last && wantDir && !st.isDirectory()) return false;
    }
    return true;
  }

  async finish(): Promise<void> {
    await this.flushNodes();
    const xs: XattrSpec[] = [];
    for (const [rel, attrs] of this.xattrs) {
      if (!(await this.stillSafe(rel, false))) continue;
      for (const [name, value] of attrs) {
        if (name.startsWith('trusted.overlay.')) { // would steer overlayfs itself
          this.warnings.push(`${rel}: ignored xattr ${name}`);
          continue;
        }
        xs.push({ rel, name, value });
      }
    }
    this.warnings.push(...(await setXattrs(this.root, xs, false)));
    const op: XattrSpec[] = [];
    for (const rel of this.opaque) {
      if (await this.stillSafe(rel, true)) op.push({ rel, name: 'trusted.overlay.opaque', value: Buffer.from('y') });
    }
    await setXattrs(this.root, op, true);
    for (const [rel, d] of this.dirs) {
      if (!(await this.stillSafe(rel, true))) continue;
      const abs = this.abs(rel);
      await fs.lchown(abs, d.uid, d.gid);
      await fs.chmod(abs, d.mode);
      await fs.lutimes(abs, d.mtime, d.mtime);
    }
  }
}

/** Name the entry in filesystem errors; what a bad tar can provoke is an invalid argument. */
function entryError(name: string, err: unknown): unknown {
  if (err instanceof TsulaError) return err;
  const c = code(err);
  const msg = `layer tar entry "${name}": ${(err as Error).message ?? String(err)}`;
  if (c && ['ENAMETOOLONG', 'ENOTDIR', 'EEXIST', 'ENOENT', 'EINVAL', 'EISDIR', 'ELOOP', 'EMLINK', 'ERR_INVALID_ARG_VALUE'].includes(c)) {
    return invalidArgument(msg);
  }
  return internal(msg, err);
}

/**
 * Extract `tar` (an uncompressed layer) into `root`, which must exist. On error the root is
 * left half-written: callers unpack into a temp dir and delete it on failure.
 */
export async function unpackLayer(tar: AsyncIterable<Buffer | string>, root: string, opts: UnpackOptions): Promise<UnpackResult> {
  // a resolved root is taken as the caller gives it: a running container's /proc/<pid>/root
  // is a link the kernel follows into the container's mount namespace
  const st = await (opts.resolvedRoot ? fs.stat(root) : fs.lstat(root));
  if (!st.isDirectory()) throw invalidArgument(`unpack target ${root} is not a directory`);
  const { mode, ...rest } = opts;
  const u = new Unpacker(opts.resolvedRoot ? root : await fs.realpath(root), mode, rest);
  await readTar(tar, async (e, body) => {
    try {
      await u.entry(e, body);
    } catch (err) {
      throw entryError(e.name, err);
    }
  });
  await u.finish();
  return { size: u.size, warnings: u.warnings };
}
