// A container's files as the host reaches them, for docker cp, diff, export and commit.
// A running container is read through /proc/<pid>/root (its own view: binds, tmpfs); a
// stopped one through its snapshot, mounted for the while and unmounted after (counted, so
// two copies share one mount, and never unmounted under a container that started
// meanwhile), with its binds and volumes mapped onto their sources (volumes with options
// mounted for the while, as dockerd's cp mounts them). Paths are resolved the way the
// container would resolve them: symlinks followed inside its root, never out of it.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument, notFound } from '../../common/errors.js';
import type { MountGuard } from '../../storage/mountguard.js';
import { running, type Container } from './model.js';

/** Linux's limit on symlinks followed in one lookup. */
const MAX_LINKS = 40;

/**
 * docker's absolute container path: "/" joined and cleaned ("/a/../b" is "/b", never above
 * "/"), keeping a trailing "/" or "/." (cp gives them meaning: a directory's contents).
 */
export function containerAbsPath(p: string): string {
  if (p.includes('\0')) throw invalidArgument('path contains a NUL byte');
  const clean = path.posix.normalize(`/${p}`);
  // Go's filepath.Base(p) == "." (trailing separators dropped first): ".", "x/.", "./", "/./"
  const currentDir = /(^|\/)\.$/.test(p.replace(/\/+$/, ''));
  if (clean === '/') return currentDir ? '/.' : '/';
  const base = clean.replace(/\/+$/, '');
  if (currentDir) return `${base}/.`;
  if (p.endsWith('/')) return `${base}/`;
  return base;
}

/**
 * The host path of container path `p` under `root`, every symlink followed as the container
 * would follow it (an absolute target starts again at `root`, ".." stops at it). With
 * `followLast: false` the last component is not followed (lstat semantics). Components that
 * do not exist are appended as they are. Never returns a path outside `root`.
 */
export async function resolveInRoot(root: string, p: string, followLast = true): Promise<string> {
  return path.join(root, await resolveInner((inner) => path.join(root, inner), p, followLast));
}

/**
 * The container path `p` resolves to, as resolveInRoot, in the filesystem `hostOf` maps
 * container paths onto (a stopped container's rootfs with its binds and volumes mapped: a
 * link in a bind to "/etc/x" is the container's /etc/x, not the bind's).
 */
async function resolveInner(hostOf: (inner: string) => string, p: string, followLast: boolean): Promise<string> {
  const todo = p.split('/').filter((c) => c !== '' && c !== '.');
  const done: string[] = [];
  let links = 0;
  let missing = false;
  while (todo.length) {
    const c = todo.shift()!;
    if (c === '..') { done.pop(); continue; }
    if (c === '.') continue;
    if (missing) { done.push(c); continue; }
    const last = todo.length === 0;
    const host = hostOf(`/${[...done, c].join('/')}`);
    const st = await fs.lstat(host).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
      throw e;
    });
    if (!st) { missing = true; done.push(c); continue; }
    if (st.isSymbolicLink() && (!last || followLast)) {
      if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links resolving ${p}`);
      const target = await fs.readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/').filter((x) => x !== '' && x !== '.'));
      continue;
    }
    done.push(c);
  }
  return `/${done.join('/')}`;
}

/**
 * `sub` under `root` with every symlink followed as the host follows them (realpath: what a
 * bind mount of it would mount): null when it does not exist; `inside` false when it leads
 * out of `root`. A mount's subpath must be inside, where resolveInRoot would clamp it.
 */
export async function realpathUnder(root: string, sub: string): Promise<{ real: string; inside: boolean } | null> {
  const base = await fs.realpath(root);
  const real = await fs.realpath(path.join(base, sub)).catch(() => null);
  return real === null ? null : { real, inside: real === base || real.startsWith(base + '/') };
}

/** The same inode: /proc/<pid>/root of a container is its rootfs, not the host's or a VM's. */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([fs.stat(a).catch(() => null), fs.stat(b).catch(() => null)]);
  return !!x && !!y && x.dev === y.dev && x.ino === y.ino;
}

/** A host directory the container sees at `destination`: a bind or a volume. */
export interface HostMount { source: string; destination: string; readonly: boolean }

/**
 * The container's binds and volumes, then the /etc files the engine writes for it (a bind
 * of the user's on one of them wins, as in its spec), the deepest destination first (the
 * one a path is under).
 */
export function hostMounts(c: Container): HostMount[] {
  const ro = c.config.security.readonlyRootfs;
  const etc = [['/etc/resolv.conf', c.paths.resolvConf], ['/etc/hostname', c.paths.hostname], ['/etc/hosts', c.paths.hosts]]
    .filter(([, source]) => source).map(([destination, source]) => ({ source: source!, destination: destination!, readonly: ro }));
  const all: HostMount[] = [...c.config.binds, ...(c.config.volumes ?? []).filter((v) => v.source)]
    .map((m) => ({ source: m.source, destination: path.posix.normalize(m.destination), readonly: m.readonly }));
  // stable: an equal destination keeps the user's first
  return [...all, ...etc].sort((a, b) => b.destination.length - a.destination.length);
}

/** The bind or volume container path `inner` is in, if any. */
export function mountAt(mounts: HostMount[], inner: string): HostMount | undefined {
  return mounts.find((m) => inner === m.destination || inner.startsWith(m.destination === '/' ? '/' : `${m.destination}/`));
}

export interface RootfsView {
  /** The host path of the container's "/". */
  root: string;
  /** Whether `root` is the container's live view (binds and tmpfs in place). */
  live: boolean;
  /** The host path of container path `p` (see resolveInRoot), binds and volumes mapped when not live. */
  resolve(p: string, followLast?: boolean): Promise<string>;
  /** The same, with the container path it resolved to and the bind or volume that holds it. */
  locate(p: string, followLast?: boolean): Promise<{ host: string; inner: string; mount: HostMount | undefined }>;
  /** The host source of what is mounted at container path `inner` when the view is not live. */
  mountedAt(inner: string): string | undefined;
  release(): Promise<void>;
}

/** Mount a stopped container's volumes that need it (options) for a while; the result lets go. */
export type HoldVolumes = (c: Container) => Promise<() => Promise<void>>;

export class ContainerRootfs {
  constructor(private readonly driver: MountGuard, private readonly holdVolumes?: HoldVolumes) {}

  /**
   * The container's files until release(). A running container's /proc/<pid>/root when it
   * is the snapshot the host mounted (a container in a VM has none: the host's mount is the
   * VM's shared rootfs then); else, or with `snapshot` (export: the rootfs alone, without
   * the container's /proc, /sys and binds), the snapshot, mounted now if it was not. `mapped`:
   * the snapshot with the binds, volumes and /etc files mapped, even while it runs (a copy
   * of "/" must not walk the live view's /proc and /sys).
   */
  async open(c: Container, o: { snapshot?: boolean; mapped?: boolean } = {}): Promise<RootfsView> {
    const id = c.id;
    const mounted = await this.driver.hold(id);
    let released = false;
    let letGoVolumes = async () => {};
    const release = async () => {
      if (released) return;
      released = true;
      await letGoVolumes();
      // a container that started meanwhile keeps the mount its start made
      await this.driver.release(id, !running(c.state));
    };
    const proc = `/proc/${c.state.pid}/root`;
    const live = !o.snapshot && !o.mapped && running(c.state) && c.state.pid > 0 && await sameFile(proc, mounted);
    // not live: its volumes are read through their sources, mounted for the while if they need it
    if (!live && !o.snapshot && this.holdVolumes) {
      try { letGoVolumes = await this.holdVolumes(c); } catch (e) { await release(); throw e; }
    }
    const root = live ? proc : mounted;
    const mounts = o.snapshot ? [] : hostMounts(c);
    // a stopped container's bind and volume destinations are empty dirs in its snapshot:
    // their files are the sources' (what the container sees when it runs), and a path is
    // resolved through them as the container resolves it (links followed across them)
    const hostOf = (inner: string) => {
      const m = live ? undefined : mountAt(mounts, inner);
      return m ? path.join(m.source, inner.slice(m.destination.length)) : path.join(root, inner);
    };
    const locate = async (p: string, followLast = true) => {
      const inner = await resolveInner(hostOf, p, followLast);
      return { host: hostOf(inner), inner, mount: mountAt(mounts, inner) };
    };
    return {
      root, live, release, locate,
      resolve: async (p, followLast = true) => (await locate(p, followLast)).host,
      mountedAt: (inner) => (live ? undefined : mounts.find((m) => m.destination === inner)?.source),
    };
  }
}

/** Go's os.FileMode bits, which docker's path stat carries (not the unix st_mode). */
export function goFileMode(st: { mode: number; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): number {
  // added, not or'ed: bit 31 would make a JS bitwise result negative
  const bits = [
    [st.isDirectory(), 31], [st.isSymbolicLink(), 27], [st.isBlockDevice() || st.isCharacterDevice(), 26],
    [st.isCharacterDevice(), 21], [st.isFIFO(), 25], [st.isSocket(), 24],
    [(st.mode & 0o4000) !== 0, 23], [(st.mode & 0o2000) !== 0, 22], [(st.mode & 0o1000) !== 0, 20],
  ] as const;
  return bits.reduce((m, [on, bit]) => (on ? m + 2 ** bit : m), st.mode & 0o777);
}

/** docker's "Could not find the file" for a path that is not there, the container as the client named it. */
export function noSuchPath(p: string, ref: string): Error {
  return notFound(`Could not find the file ${p} in container ${ref}`);
}

/**
 * dockerd's SetupWorkingDirectory, at create: the working directory made (as root, 0755) in
 * the rootfs mounted at `root`, symlinks followed inside it; one that names a file fails the
 * create then, not the start.
 */
export async function makeWorkingDir(root: string, dir: string): Promise<'there' | 'made'> {
  const host = await resolveInRoot(root, containerAbsPath(dir));
  const st = await fs.stat(host).catch(() => null);
  if (st?.isDirectory()) return 'there';
  if (st) throw invalidArgument(`Cannot mkdir: ${dir} is not a directory`);
  await fs.mkdir(host, { recursive: true, mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    // a component above it is a file (-w /etc/passwd/x)
    if (e.code === 'ENOTDIR' || e.code === 'EEXIST') throw invalidArgument(`Cannot mkdir: ${dir}: a component of the path is not a directory`);
    throw e;
  });
  return 'made';
}

/**
 * Images whose working directory is a directory of the image itself (a Dockerfile's WORKDIR
 * makes it): a create from them has nothing to make, and so no rootfs to mount and unmount
 * (two spawns). Images are immutable: what one create saw holds for the next. Bounded.
 */
export class WorkingDirsInImages {
  private seen = new Set<string>();
  constructor(private readonly max = 512) {}
  has(imageId: string, dir: string): boolean { return this.seen.has(`${imageId}\0${dir}`); }
  add(imageId: string, dir: string): void {
    if (this.seen.size >= this.max) this.seen.clear();
    this.seen.add(`${imageId}\0${dir}`);
  }
}
