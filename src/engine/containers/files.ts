// A container's files for the front ends: docker cp both ways (path stat, a tar of a path,
// a tar extracted into a directory), docker diff (what the writable layer changed, without
// what the runtime itself put there), docker export (the whole rootfs) and the layer docker
// commit stores. Running and stopped containers alike (rootfs.ts picks the view).
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { errorMessage, failedPrecondition, invalidArgument, TsulaError, errorKind } from '../../common/errors.js';
import type { MountGuard } from '../../storage/mountguard.js';
import { packItems, walkTree, type PackItem } from '../../storage/tarpack.js';
import type { Change, WritableChanges } from '../../storage/changes.js';
import { unpackLayer } from '../../storage/unpack.js';
import { decompressedByHead } from '../../image/stream-head.js';
import { resolveUser } from '../../oci/user.js';
import type { Container } from './model.js';
import { ContainerRootfs, containerAbsPath, goFileMode, hostMounts, mountAt, noSuchPath, type HoldVolumes, type RootfsView } from './rootfs.js';
import { goTimeJson } from '../../common/go-time.js';

/** docker's ContainerPathStat (the X-Docker-Container-Path-Stat header, base64 JSON). */
export interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

/** `ref`: the container as the client named it (its "not found" names that). */
export interface ExtractOptions { noOverwriteDirNonDir: boolean; copyUIDGID: boolean; ref?: string }

/**
 * What the runtime puts in a rootfs, not the container's own changes (dockerd keeps them in
 * its init layer, so docker diff and commit never show them): kernel filesystems' and the
 * /etc files' mountpoints.
 */
const RUNTIME_PATHS = ['/proc', '/sys', '/dev', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/etc/mtab', '/.dockerenv'];

/**
 * The path's own stat (a symlink as such), except the container's root: a running
 * container's is /proc/<pid>/root, a link the kernel follows into its mount namespace (as a
 * directory, which `docker cp x ctr:/y` extracts into).
 */
const lstat = (p: string, root?: string): Promise<Stats | null> => (p === root ? fs.stat(p) : fs.lstat(p)).catch((e: NodeJS.ErrnoException) => {
  if (e.code === 'ENOENT') return null;
  if (e.code === 'ENOTDIR') throw invalidArgument(`not a directory: ${e.path ?? ''}`);
  throw e;
});

/**
 * A path in the running container's /proc, /sys or /dev (outside its binds and volumes): dockerd
 * reads and writes it in a view of the rootfs with only the mounts it made (openContainerFS),
 * where those are the image's empty directories; the live kernel files (empty procfs files,
 * device nodes, /proc/self of another pid namespace) are never what cp gives or takes.
 */
function underKernelFs(c: Container, abs: string): boolean {
  const p = path.posix.normalize(abs).replace(/\/+$/, '') || '/';
  if (!/^\/(proc|sys|dev)(\/|$)/.test(p)) return false;
  // a bind or volume there (or under it) is in dockerd's view: the live one has it in place
  const mounts = hostMounts(c);
  return !mountAt(mounts, p) && !mounts.some((m) => m.destination.startsWith(`${p}/`));
}

export class ContainerFiles {
  readonly rootfs: ContainerRootfs;

  constructor(private readonly driver: MountGuard, holdVolumes?: HoldVolumes) {
    this.rootfs = new ContainerRootfs(driver, holdVolumes);
  }

  /**
   * Where docker reads the path from: the last component is not followed, except "x/" and
   * "x/.". `ref`: the container as the client named it (dockerd's "not found" names that).
   */
  private async locate(c: Container, p: string, ref: string) {
    if (!p) throw invalidArgument('Path cannot be empty');
    const abs = containerAbsPath(p);
    // the whole root, as dockerd's cp reads it: the rootfs with its binds and volumes, not
    // the running container's kernel filesystems
    const view = await this.rootfs.open(c, { mapped: abs === '/' || abs === '/.' || underKernelFs(c, abs) });
    try {
      const trailing = abs.endsWith('/') || abs.endsWith('/.');
      const { host, inner } = await view.locate(abs, trailing);
      const st = await lstat(host, view.root);
      if (!st) throw noSuchPath(abs, ref);
      // dockerd lstat()s the path with its trailing separator: a file there is ENOTDIR (so
      // `docker cp f ctr:/file/` says no such directory instead of overwriting /file)
      if (trailing && !st.isDirectory()) throw invalidArgument(`lstat ${abs}: not a directory`);
      return { abs, view, host, inner, st };
    } catch (e) {
      await view.release();
      throw e;
    }
  }

  private async statOf(abs: string, host: string, st: Stats, view: RootfsView): Promise<PathStat> {
    const root = view.root;
    let linkTarget = '';
    // docker gives the link's target as a path in the container, resolved as far as it goes
    // (FollowSymlinkInScope), through a stopped container's binds and volumes too
    if (st.isSymbolicLink()) linkTarget = (await view.locate(abs, true)).inner;
    // Go's time.Time in JSON, to the nanosecond as dockerd's ContainerPathStat
    const exact = await (host === root ? fs.stat(host, { bigint: true }) : fs.lstat(host, { bigint: true })).catch(() => null);
    const mtime = goTimeJson(exact?.mtimeNs ?? BigInt(Math.round(st.mtimeMs)) * 1_000_000n);
    return { name: abs === '/' ? '/' : path.posix.basename(abs), size: st.size, mode: goFileMode(st), mtime, linkTarget };
  }

  async statPath(c: Container, p: string, ref = c.name): Promise<PathStat> {
    const { abs, view, host, st } = await this.locate(c, p, ref);
    try {
      return await this.statOf(abs, host, st, view);
    } finally {
      await view.release();
    }
  }

  /** The tar docker cp reads: the path itself named by its base name, and what is below it. */
  async archive(c: Container, p: string, ref = c.name): Promise<{ stat: PathStat; tar: AsyncGenerator<Buffer> }> {
    const { abs, view, host, inner, st } = await this.locate(c, p, ref);
    let stat: PathStat;
    try {
      stat = await this.statOf(abs, host, st, view);
    } catch (e) {
      await view.release();
      throw e;
    }
    // dockerd rebases the entries on filepath.Base(path): `/` keeps `/foo` (moby's TestCopyFromContainer)
    const base = abs === '/' ? '/' : path.posix.basename(abs);
    async function* tar(): AsyncGenerator<Buffer> {
      try {
        // a stopped (or VM) container's binds, volumes and /etc files below the path
        yield* packItems(walkTree(host, base, undefined, (rel) => view.mountedAt(path.posix.join(inner, rel))));
      } finally {
        await view.release();
      }
    }
    return { stat, tar: tar() };
  }

  /** docker cp into the container: `input` (a tar, maybe gzipped) extracted into directory `p`. */
  async extract(c: Container, p: string, input: Readable, o: ExtractOptions): Promise<void> {
    if (!p) throw invalidArgument('Path cannot be empty');
    const abs = containerAbsPath(p);
    const view = await this.rootfs.open(c, { mapped: underKernelFs(c, abs) });
    try {
      const { host, mount } = await view.locate(abs, true);
      const st = await lstat(host, view.root);
      if (!st) throw noSuchPath(abs, o.ref ?? c.name);
      if (!st.isDirectory()) throw invalidArgument('extraction point is not a directory');
      // dockerd's checks: a read-only bind or volume, else a read-only rootfs outside them
      if (mount?.readonly) throw failedPrecondition('mounted volume is marked read-only');
      if (!mount && c.config.security.readonlyRootfs) throw failedPrecondition('container rootfs is marked read-only');
      // the archive's owners (dockerd's defaultTarCopyOptions has no ChownOpts); -a: the
      // container's user when it has one (tarCopyOptions, the user resolved as a process' is)
      let owner: { uid: number; gid: number } | undefined;
      if (o.copyUIDGID) {
        if (c.config.user) {
          const u = await resolveUser(view.root, c.config.user, []).catch((e: unknown) => { throw invalidArgument(`copying into ${c.name}: ${errorMessage(e)}`); });
          owner = { uid: u.uid, gid: u.gid };
        }
      }
      // a compressed upload as dockerd's cp untars it (DecompressStream)
      await unpackLayer(await decompressedByHead(input, 'the archive'), host, {
        mode: 'copy', resolvedRoot: true, noOverwriteDirNonDir: o.noOverwriteDirNonDir, ...(owner ? { owner } : {}),
      }).catch((e) => { throw new TsulaError(errorKind(e), `copying into ${c.name}:${abs}: ${errorMessage(e)}`, { cause: e }); });
    } finally {
      await view.release();
    }
  }

  /** What the container changed (docker diff), the runtime's mountpoints and the binds' left out. */
  async writableChanges(c: Container): Promise<WritableChanges> {
    const binds = c.config.binds.map((b) => path.posix.normalize(b.destination));
    const skip = (p: string) => binds.includes(p) || RUNTIME_PATHS.some((r) => p === r || p.startsWith(`${r}/`));
    return this.driver.changes(c.id, skip);
  }

  async changes(c: Container): Promise<Change[]> {
    return (await this.writableChanges(c)).changes;
  }

  /** The layer docker commit makes: changed files as they are, deletions as `.wh.` files. */
  async diffTar(c: Container): Promise<AsyncGenerator<Buffer>> {
    return changesTar(await this.writableChanges(c));
  }

  /** docker export: the whole rootfs as the snapshot holds it (no binds, no /proc contents). */
  async export(c: Container): Promise<AsyncGenerator<Buffer>> {
    const view = await this.rootfs.open(c, { snapshot: true });
    async function* tar(): AsyncGenerator<Buffer> {
      try {
        async function* below(): AsyncGenerator<PackItem> {
          let first = true;
          for await (const it of walkTree(view.root, '')) {
            if (first) { first = false; continue; } // the root itself has no entry
            yield it;
          }
        }
        yield* packItems(below());
      } finally {
        await view.release();
      }
    }
    return tar();
  }
}

/** A snapshot's changes as a layer tar: changed files as they are, deletions as `.wh.` files. */
export function changesTar(wc: WritableChanges): AsyncGenerator<Buffer> {
  const opaque = new Set(wc.opaque);
  function* items(): Generator<PackItem> {
    for (const ch of wc.changes) {
      const rel = ch.Path.slice(1);
      if (ch.Kind === 2) {
        const dir = path.posix.dirname(rel);
        yield { name: `${dir === '.' ? '' : `${dir}/`}.wh.${path.posix.basename(rel)}`, whiteout: true };
        continue;
      }
      yield { abs: path.join(wc.source, rel), name: rel };
      if (opaque.has(ch.Path)) yield { name: `${rel}/.wh..wh..opq`, whiteout: true };
    }
  }
  return packItems(items());
}
