// Volumes at the points of a container's life (containers/hooks.ts), in dockerd's order of
// registerMountPoints: --volumes-from first (the other container's binds and volumes, their
// mode forced by :ro/:rw), the container's own binds, volumes and tmpfs over them, then an
// anonymous volume for each VOLUME of the image nothing else is mounted on; named volumes
// are made on first use; new volumes get the image's files (copy-up) unless nocopy. rm -v
// (and --rm) removes the container's anonymous volumes that no other container uses. A
// volume with options is mounted for each start (and for its copy-up) and held by the
// container until it stops (mounter.ts); at tsulad's start, running containers hold theirs.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorMessage, invalidArgument, notFound, TsulaError, errorKind } from '../../common/errors.js';
import { newId } from '../../common/ids.js';
import type { Logger } from '../../common/log.js';
import type { ContainerHooks, CreateContext } from '../containers/hooks.js';
import { running, type Bind, type Container, type VolumeMount } from '../containers/model.js';
import { copyUp, hasImagePath } from './copyup.js';
import { realpathUnder } from '../containers/rootfs.js';
import type { VolumeStore } from './store.js';

export interface VolumeHooksDeps {
  store: VolumeStore;
  containers: { get(ref: string): Container };
  log: Logger;
}

/**
 * A --volumes-from entry, "ID[:MODE]", as dockerd's ParseVolumesFrom takes it: MODE is rw or
 * ro, with a SELinux label (z, Z) or not; no propagation, no nocopy ("invalid mode: MODE").
 */
export function parseVolumesFrom(spec: string): { ref: string; readonly: boolean } {
  if (!spec) throw invalidArgument('volumes-from specification cannot be an empty string');
  const i = spec.indexOf(':');
  const mode = i < 0 ? '' : spec.slice(i + 1);
  if (!mode) return { ref: i < 0 ? spec : spec.slice(0, i), readonly: false };
  const opts = mode.split(',');
  const count = (set: string[]) => opts.filter((o) => set.includes(o)).length;
  if (!opts.every((o) => ['rw', 'ro', 'z', 'Z'].includes(o)) || count(['rw', 'ro']) > 1 || count(['z', 'Z']) > 1) {
    throw invalidArgument(`invalid mode: ${mode}`);
  }
  return { ref: spec.slice(0, i), readonly: opts.includes('ro') };
}

export class VolumeHooks implements ContainerHooks {
  constructor(private readonly d: VolumeHooksDeps) {}

  async create(rec: Container, ctx: CreateContext): Promise<void> {
    const k = rec.config;
    const from: Array<Bind | VolumeMount> = [];
    for (const entry of k.mountRequest?.volumesFrom ?? []) {
      const { ref, readonly } = parseVolumesFrom(entry);
      let other: Container;
      try { other = this.d.containers.get(ref); } catch { throw invalidArgument(`No such container: ${ref}`); }
      // the mode only narrows: a read-only mount of the other stays so (dockerd's m.RW && ReadWrite(mode))
      for (const b of other.config.binds) from.push({ ...b, readonly: b.readonly || readonly, origin: 'volumes-from', spec: undefined });
      for (const v of other.config.volumes ?? []) from.push({ ...v, readonly: v.readonly || readonly, anonymous: false, origin: 'volumes-from', spec: undefined });
    }
    // Config.Volumes (-v /path) come after --volumes-from, and only where nothing is mounted
    // (dockerd's createContainerVolumesOS); binds, named volumes, --mount and tmpfs before
    const configVolume = (v: VolumeMount) => v.anonymous && !v.origin && !v.spec;
    const own = [...k.binds, ...(k.volumes ?? []).filter((v) => !configVolume(v)), ...(k.tmpfs ?? [])].map((m) => m.destination);
    const taken = new Set(own);
    // two of them on one path: the later --volumes-from wins (dockerd's mountPoints map)
    const last = new Map<string, Bind | VolumeMount>();
    for (const m of from) last.set(m.destination, m);
    const kept = (m: Bind | VolumeMount) => last.get(m.destination) === m && !taken.has(m.destination);
    const fromBinds = from.filter((m): m is Bind => !('name' in m) && kept(m));
    const fromVolumes = from.filter((m): m is VolumeMount => 'name' in m && kept(m));
    for (const m of [...fromBinds, ...fromVolumes]) taken.add(m.destination);
    k.binds = [...fromBinds, ...k.binds];
    const volumes = [...fromVolumes,
      ...(k.volumes ?? []).filter((v) => !configVolume(v) || (!taken.has(v.destination) && taken.add(v.destination)))];
    for (const b of k.binds) {
      if (b.origin === 'mount' && !(await fs.stat(b.source).catch(() => null))) {
        // --mount bind-create-src (API 1.42): dockerd makes the missing source a directory
        if (b.createMountpoint) await fs.mkdir(b.source, { recursive: true, mode: 0o755 });
        else throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${b.source}`);
      }
    }
    for (const d of Object.keys(ctx.image.config.Volumes ?? {})) {
      const dest = path.posix.normalize(d).replace(/(.)\/+$/, '$1');
      if (!taken.has(dest) && dest !== '/') {
        taken.add(dest);
        volumes.push({ name: '', destination: dest, readonly: false, anonymous: true, noCopy: false, source: '' });
      }
    }
    k.volumes = volumes;
    for (const v of volumes) {
      if (v.origin === 'volumes-from') continue;
      if (!v.name || !this.d.store.has(v.name)) {
        const labels = v.name ? k.mountRequest?.volumeLabels?.[v.name] : undefined;
        const opts = v.name ? k.mountRequest?.volumeOptions?.[v.name] : undefined;
        v.name = (await this.d.store.create({ Name: v.name || undefined, Labels: labels, DriverOpts: opts }, { anonymous: v.anonymous })).name;
      }
      v.source = this.d.store.mountpoint(v.name);
      if (v.subpath) {
        // dockerd looks the subpath up at each start (its safepath errors then: another
        // container may make it first); an empty directory there gets the image's files now
        const sub = await volumeSubpath(v.source, v.subpath).catch(() => null);
        if (sub && !v.noCopy && (await fs.stat(sub).catch(() => null))?.isDirectory()) await this.copyUp(await ctx.rootfs(), v, sub);
        continue;
      }
      if (!v.noCopy) await this.copyUp(await ctx.rootfs(), v);
    }
  }

  /**
   * dockerd's CopyImagePathContent: into the volume as mounted, held for the copy alone, and
   * only when the image has the path (a failed mount fails the create in its own words then).
   */
  private async copyUp(rootfs: string, v: VolumeMount, into = v.source): Promise<void> {
    if (!(await hasImagePath(rootfs, v.destination))) return;
    const holder = `copy-up:${newId()}`;
    await this.d.store.mounter.acquire(v.name, holder);
    try {
      await copyUp(rootfs, v.destination, into);
    } finally {
      await this.d.store.mounter.release(v.name, holder).catch((e) => this.d.log.warn('unmounting a volume after its copy-up', { volume: v.name, err: errorMessage(e) }));
    }
  }

  /** dockerd's MountPoint.Setup: a failed mount names the volume's directory. */
  private async acquire(name: string, holder: string): Promise<void> {
    await this.d.store.mounter.acquire(name, holder).catch((e) => {
      throw new TsulaError(errorKind(e), `error while mounting volume '${this.d.store.mountpoint(name)}': ${errorMessage(e)}`, { cause: e });
    });
  }

  /** Each start mounts the volumes with options it does not hold yet (stopped() lets them go). */
  async beforeStart(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) if (v.name && this.d.store.has(v.name)) await this.acquire(v.name, rec.id);
  }

  /** docker cp with a stopped container: its volumes mounted for the copy; the result lets go. */
  async holdForCopy(rec: Container): Promise<() => Promise<void>> {
    const holder = `cp:${rec.id}:${newId()}`;
    const held: string[] = [];
    const letGo = async () => {
      for (const n of held.splice(0)) await this.d.store.mounter.release(n, holder).catch((e) => this.d.log.warn('unmounting a volume after a copy', { volume: n, err: errorMessage(e) }));
    };
    try {
      for (const v of rec.config.volumes ?? []) {
        if (!v.name || !this.d.store.has(v.name) || held.includes(v.name)) continue;
        await this.acquire(v.name, holder);
        held.push(v.name);
      }
    } catch (e) {
      await letGo();
      throw e;
    }
    return letGo;
  }

  /** Live restore: running containers hold their volumes again; nothing else stays mounted. */
  async recovered(list: Container[]): Promise<void> {
    const users = new Map<string, string[]>();
    for (const c of list) {
      if (!running(c.state)) continue;
      for (const v of c.config.volumes ?? []) if (v.name) users.set(v.name, [...(users.get(v.name) ?? []), c.id]);
    }
    await this.d.store.mounter.restore(this.d.store.list().map((v) => v.name), users);
  }

  /** dockerd's mount and unmount events, one per volume, at each start and exit. */
  async started(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) {
      if (!v.name) continue;
      this.d.store.emit('mount', v.name, { container: rec.id, destination: v.destination, driver: 'local', propagation: '', 'read/write': String(!v.readonly) });
    }
  }

  async stopped(rec: Container): Promise<void> {
    let err: unknown;
    for (const v of rec.config.volumes ?? []) {
      if (!v.name) continue;
      this.d.store.emit('unmount', v.name, { container: rec.id, driver: 'local' });
      // every volume is let go even if one's unmount fails; the first failure is reported
      await this.d.store.mounter.release(v.name, rec.id).catch((e) => { err ??= e; });
    }
    if (err) throw err;
  }

  async createFailed(rec: Container): Promise<void> {
    await this.dropAnonymous(rec);
  }

  async removed(rec: Container, o: { volumes: boolean }): Promise<void> {
    if (o.volumes) await this.dropAnonymous(rec);
  }

  /**
   * rm -v: the container's anonymous volumes that nothing else uses, those it had through
   * --volumes-from too (dockerd's removeMountPoints: a volume's own kind decides).
   */
  private async dropAnonymous(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) {
      const anonymous = v.anonymous || (v.origin === 'volumes-from' && !!v.name && this.d.store.isAnonymous(v.name));
      if (!anonymous || !v.name || this.d.store.users(v.name).some((c) => c.id !== rec.id)) continue;
      await this.d.store.remove(v.name, { force: true }).catch((e) => this.d.log.warn('removing an anonymous volume', { volume: v.name, err: errorMessage(e) }));
    }
  }
}

/**
 * A volume's subpath (API 1.45) on the host: it must be there already, and inside the volume
 * once its symlinks are followed (dockerd resolves it in the volume's root too). Checked at
 * create and again at each start, whose bind mounts the path resolved then: a container may
 * have made it a symlink meanwhile.
 */
/** A volume's subpath, resolved in it; moby's safepath.Join errors (NotFound, InvalidParameter). */
export async function volumeSubpath(root: string, subpath: string): Promise<string> {
  const p = await realpathUnder(root, subpath);
  if (!p) throw notFound(`cannot access path ${path.join(root, subpath)}: no such file or directory`);
  if (!p.inside) throw invalidArgument(`path concatenation escapes the base directory, base: ${root}, subpath: ${subpath}`);
  return p.real;
}
