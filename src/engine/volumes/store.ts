// Volumes of the local driver (docker's `volume create/ls/inspect/rm/prune`): a directory
// <graph>/volumes/<name>/_data mounted into containers, its metadata beside it in
// <name>/volume.json. A volume with options (type/device/o) has its filesystem mounted on
// _data while in use (mounter.ts). A volume that a container (any, running or not) names is
// in use: rm answers 409 (forced too, as dockerd).
// Crash safety: a volume is made in a `.new-*` dir renamed to its name once complete, and
// removed by renaming it to a `.rm-*` dir first; start-up deletes both kinds (a create or an
// rm cut short), so a volume is there whole, with its metadata, or not at all.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { failedPrecondition, invalidArgument, notFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { fsyncDir, readJson, removeTree, tmpSuffix, writeJsonAtomic } from '../../common/fsutil.js';
import { NO_FAULTS, type Faults } from '../../common/faults.js';
import { newId } from '../../common/ids.js';
import { lazySchema } from '../../common/lazy-schema.js';
import type { EventBus } from '../events.js';
import type { Container } from '../containers/model.js';
import { matchLabels, matchRegexp, type Filters } from '../filters.js';
import { compareStrings } from '../../common/compare.js';
import { VolumeMounter } from './mounter.js';
import { validateVolumeOptions } from './options.js';

/** dockerd's words for a volume driver that is not `local` (it looks it up as a plugin). */
export function noVolumePlugin(driver: string): string {
  return `error looking up volume plugin ${driver}: plugin ${JSON.stringify(driver)} not found (tsulad has the local volume driver only)`;
}

export interface VolumeRecord {
  name: string;
  driver: 'local';
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Made for one container (image VOLUME, -v /path): docker's anonymous volume. */
  anonymous: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
/** Dirs of a create or an rm in progress (no volume name starts with a dot). */
const NEW = '.new-';
const GOING = '.rm-';

export const createVolumeSchema = lazySchema((z) => z.object({
  Name: z.string().nullish(),
  Driver: z.string().nullish(),
  DriverOpts: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
}).passthrough());

export class VolumeStore {
  private recs = new Map<string, VolumeRecord>();
  /** The containers of the engine (given once the container service exists): who uses what. */
  private containers: () => Container[] = () => [];

  /** Mounts of the volumes with options, held by their users. */
  readonly mounter: VolumeMounter;

  constructor(readonly root: string, private readonly events: EventBus, private readonly log: Logger, private readonly faults: Faults = NO_FAULTS) {
    this.mounter = new VolumeMounter({ volume: (n) => ({ options: this.get(n).options, mountpoint: this.mountpoint(n) }), log });
  }

  setContainers(list: () => Container[]): void { this.containers = list; }

  /** dockerd's volume events: create, destroy, mount, unmount. */
  emit(action: string, name: string, attrs: Record<string, string>): void { this.events.emit('volume', action, name, attrs); }

  async load(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o701 });
    for (const n of await fs.readdir(this.root)) {
      if (n.startsWith(NEW) || n.startsWith(GOING)) {
        // a create or an rm a crash cut short: the create did not happen, the rm did
        this.log.warn(n.startsWith(NEW) ? 'discarding a volume whose create was cut short' : 'finishing the removal of a volume', { dir: n });
        await removeTree(path.join(this.root, n));
        continue;
      }
      if (!NAME_RE.test(n)) continue;
      const r = await readJson<VolumeRecord>(path.join(this.root, n, 'volume.json')).catch(() => null);
      // a volume dir without its metadata (made by hand, or a create cut short): still a volume
      this.recs.set(n, r ?? { name: n, driver: 'local', createdAt: new Date().toISOString(), labels: {}, options: {}, anonymous: /^[0-9a-f]{64}$/.test(n) });
    }
  }

  mountpoint(name: string): string { return path.join(this.root, name, '_data'); }

  list(filters: Filters = {}): VolumeRecord[] {
    const f = (k: string) => filters[k] ?? [];
    return [...this.recs.values()].filter((v) =>
      // dockerd's filtersToBy: filter.Match, a regexp
      matchRegexp(f('name'), v.name)
      && (!f('driver').length || f('driver').includes(v.driver))
      && (!f('dangling').length || f('dangling').some((x) => (x === 'true' || x === '1') === !this.users(v.name).length))
      && matchLabels(v.labels, f('label')))
      .sort((a, b) => compareStrings(a.name, b.name));
  }

  get(name: string): VolumeRecord {
    const v = this.recs.get(name);
    if (!v) throw notFound(`get ${name}: no such volume`);
    return v;
  }

  has(name: string): boolean { return this.recs.has(name); }

  /** Made for one container (docker's anonymous volume). */
  isAnonymous(name: string): boolean { return this.recs.get(name)?.anonymous ?? false; }

  /** docker volume create: an existing volume of that name is returned as it is. */
  async create(raw: unknown, o: { anonymous?: boolean } = {}): Promise<VolumeRecord> {
    const p = (await createVolumeSchema()).safeParse(raw ?? {});
    if (!p.success) throw invalidArgument(`invalid volume config: ${p.error.issues[0]!.path.join('.') || 'body'}: ${p.error.issues[0]!.message}`);
    const b = p.data;
    // dockerd looks any other driver up as a plugin: a 404 in its words
    if (b.Driver && b.Driver !== 'local') throw notFound(noVolumePlugin(b.Driver));
    const name = b.Name || newId();
    if (!NAME_RE.test(name)) {
      throw invalidArgument(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
    }
    // as dockerd: an existing volume is returned as it is, whatever options were asked
    const old = this.recs.get(name);
    if (old) return old;
    const options = b.DriverOpts ?? {};
    validateVolumeOptions(name, options);
    const rec: VolumeRecord = {
      name, driver: 'local', createdAt: new Date().toISOString(), labels: b.Labels ?? {}, options, anonymous: !!o.anonymous || !b.Name,
    };
    // made aside and renamed whole: a crash never leaves a volume without its options
    const tmp = path.join(this.root, `${NEW}${name}.${tmpSuffix()}`);
    try {
      await fs.mkdir(path.join(tmp, '_data'), { recursive: true, mode: 0o755 });
      await writeJsonAtomic(path.join(tmp, 'volume.json'), rec);
      await fs.rename(tmp, path.join(this.root, name));
      await fsyncDir(this.root);
    } catch (e) {
      await removeTree(tmp);
      // another create of that name won the race: as dockerd, that volume is the answer
      const c = (e as NodeJS.ErrnoException).code;
      if ((c === 'EEXIST' || c === 'ENOTEMPTY') && this.recs.has(name)) return this.recs.get(name)!;
      throw e;
    }
    this.recs.set(name, rec);
    this.emit('create', name, { driver: 'local' });
    return rec;
  }

  /** Containers that name the volume. */
  users(name: string): Container[] {
    return this.containers().filter((c) => (c.config.volumes ?? []).some((v) => v.name === name));
  }

  async remove(name: string, o: { force?: boolean } = {}): Promise<void> {
    if (!this.recs.has(name)) {
      if (o.force) return;
      throw notFound(`get ${name}: no such volume`);
    }
    const users = this.users(name);
    if (users.length) throw failedPrecondition(`remove ${name}: volume is in use - [${users.map((c) => c.id).join(', ')}]`);
    // a mounted bind volume's files are the host directory's: never deleted through _data
    await this.mounter.unmountForRemoval(name);
    // renamed first: a crash mid-delete leaves a .rm-* dir for the next start, never a
    // volume that comes back with half its files and without its metadata
    const going = path.join(this.root, `${GOING}${name}.${tmpSuffix()}`);
    const moved = await fs.rename(path.join(this.root, name), going).then(() => true, (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return false;
      throw e;
    });
    this.recs.delete(name);
    if (moved) {
      await fsyncDir(this.root);
      this.faults.hit('volume:after-rename');
      await removeTree(going);
    }
    this.emit('destroy', name, { driver: 'local' });
  }

  /**
   * docker volume prune: API 1.41, every unused volume, named ones too; `anonymousOnly` (1.42
   * without the `all` filter), those made without a name; `skipOptions` (1.42), as dockerd,
   * not those with mount options (their files are not the volume's to reclaim); `labels`:
   * what the label filters read (1.42: with the anonymous label).
   */
  async prune(filters: Filters = {}, o: { anonymousOnly?: boolean; skipOptions?: boolean; labels?: (v: VolumeRecord) => Record<string, string> } = {}): Promise<{ VolumesDeleted: string[]; SpaceReclaimed: number }> {
    const deleted: string[] = [];
    let space = 0;
    for (const v of [...this.recs.values()]) {
      if (this.users(v.name).length || !matchLabels(o.labels?.(v) ?? v.labels, filters.label ?? [], filters['label!'] ?? [])) continue;
      if ((o.anonymousOnly && !isAnonymous(v)) || (o.skipOptions && Object.keys(v.options).length)) continue;
      space += await du(this.mountpoint(v.name));
      await this.remove(v.name);
      deleted.push(v.name);
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: space };
  }

  /** docker system df's volume rows: each volume's view with its size and user count. */
  async usage(): Promise<Array<ReturnType<VolumeStore['view']> & { UsageData: { Size: number; RefCount: number } }>> {
    return Promise.all([...this.recs.values()].map(async (v) => ({
      ...this.view(v), UsageData: { Size: await du(this.mountpoint(v.name)), RefCount: this.users(v.name).length },
    })));
  }

  /** `docker volume inspect`'s JSON. */
  view(v: VolumeRecord) {
    return {
      CreatedAt: v.createdAt.replace(/\.\d+Z$/, 'Z'), Driver: v.driver, Labels: v.anonymous && !Object.keys(v.labels).length ? null : v.labels,
      Mountpoint: this.mountpoint(v.name), Name: v.name, Options: Object.keys(v.options).length ? v.options : null, Scope: 'local',
    };
  }
}

/** dockerd's label of a volume made without a name (API 1.42+ shows it, and prune goes by it). */
export const ANONYMOUS_LABEL = 'com.docker.volume.anonymous';

export function isAnonymous(v: VolumeRecord): boolean {
  return v.anonymous || ANONYMOUS_LABEL in v.labels;
}

/** Bytes under a directory (files' allocated size). */
async function du(dir: string): Promise<number> {
  let total = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else total += (await fs.lstat(p).catch(() => null))?.size ?? 0;
    }
  };
  await walk(dir);
  return total;
}
