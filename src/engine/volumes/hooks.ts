// Volumes at the points of a container's life (containers/hooks.ts), in dockerd's order of
// registerMountPoints: --volumes-from first (the other container's binds and volumes, their
// mode forced by :ro/:rw), the container's own binds, volumes and tmpfs over them, then an
// anonymous volume for each VOLUME of the image nothing else is mounted on; named volumes
// are made on first use; new volumes get the image's files (copy-up) unless nocopy. rm -v
// (and --rm) removes the container's anonymous volumes that no other container uses.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { errorMessage, invalidArgument, notFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ContainerHooks, CreateContext } from '../containers/hooks.js';
import type { Bind, Container, VolumeMount } from '../containers/model.js';
import { copyUp } from './copyup.js';
import type { VolumeStore } from './store.js';

export interface VolumeHooksDeps {
  store: VolumeStore;
  containers: { get(ref: string): Container };
  log: Logger;
}

export class VolumeHooks implements ContainerHooks {
  constructor(private readonly d: VolumeHooksDeps) {}

  async create(rec: Container, ctx: CreateContext): Promise<void> {
    const k = rec.config;
    const fromBinds: Bind[] = [];
    const fromVolumes: VolumeMount[] = [];
    for (const entry of k.mountRequest?.volumesFrom ?? []) {
      const [ref = '', mode = '', ...rest] = entry.split(':');
      if (rest.length || (mode && mode !== 'ro' && mode !== 'rw')) throw invalidArgument(`invalid mode for volumes-from: ${entry}`);
      let other: Container;
      try { other = this.d.containers.get(ref); } catch { throw notFound(`No such container: ${ref}`); }
      const ro = (own: boolean) => (mode ? mode === 'ro' : own);
      for (const b of other.config.binds) fromBinds.push({ ...b, readonly: ro(b.readonly), origin: 'volumes-from', spec: undefined });
      for (const v of other.config.volumes ?? []) fromVolumes.push({ ...v, readonly: ro(v.readonly), anonymous: false, origin: 'volumes-from', spec: undefined });
    }
    const own = [...k.binds, ...(k.volumes ?? []), ...(k.tmpfs ?? [])].map((m) => m.destination);
    const taken = new Set(own);
    k.binds = [...fromBinds.filter((b) => !taken.has(b.destination) && taken.add(b.destination)), ...k.binds];
    const volumes = [...fromVolumes.filter((v) => !taken.has(v.destination) && taken.add(v.destination)), ...(k.volumes ?? [])];
    for (const b of k.binds) {
      if (b.origin === 'mount' && !(await fs.stat(b.source).catch(() => null))) {
        throw invalidArgument(`invalid mount config for type "bind": bind source path does not exist: ${b.source}`);
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
        v.name = (await this.d.store.create({ Name: v.name || undefined, Labels: labels }, { anonymous: v.anonymous })).name;
      }
      v.source = this.d.store.mountpoint(v.name);
      if (!v.noCopy) await copyUp(await ctx.rootfs(), v.destination, v.source);
    }
  }

  /** dockerd's mount and unmount events, one per volume, at each start and exit. */
  async started(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) {
      if (!v.name) continue;
      this.d.store.emit('mount', v.name, { container: rec.id, destination: v.destination, driver: 'local', propagation: '', 'read/write': String(!v.readonly) });
    }
  }

  async stopped(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) if (v.name) this.d.store.emit('unmount', v.name, { container: rec.id, driver: 'local' });
  }

  async createFailed(rec: Container): Promise<void> {
    await this.dropAnonymous(rec);
  }

  async removed(rec: Container, o: { volumes: boolean }): Promise<void> {
    if (o.volumes) await this.dropAnonymous(rec);
  }

  private async dropAnonymous(rec: Container): Promise<void> {
    for (const v of rec.config.volumes ?? []) {
      if (!v.anonymous || !v.name || this.d.store.users(v.name).some((c) => c.id !== rec.id)) continue;
      await this.d.store.remove(v.name, { force: true }).catch((e) => this.d.log.warn('removing an anonymous volume', { volume: v.name, err: errorMessage(e) }));
    }
  }
}
