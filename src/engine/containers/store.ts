// Container records on disk and in memory, with name and id-prefix lookup. Names live in the
// one NameRegistrar (names.ts), which create, rename and rm all go through.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord } from './record.js';
import { writeJsonAtomic, readJson } from '../../common/fsutil.js';
import { invalidArgument, notFound } from '../../common/errors.js';
import { isFullId, shortId, validateRef } from '../../common/ids.js';
import { NameRegistrar } from './names.js';
import { RESOURCE_DEFAULTS } from './resources.js';

const RECORD = 'config.v2.json';

export class ContainerStore {
  private byId = new Map<string, ContainerRecord>();

  constructor(readonly root: string, readonly names: NameRegistrar = new NameRegistrar()) {}

  dir(id: string): string {
    if (!isFullId(id)) throw invalidArgument(`invalid container id ${id}`);
    return path.join(this.root, id);
  }

  /**
   * Load every record; a directory without a complete record is a half-made create: dropped.
   * Two records claiming one name (hand-edited, or written by a buggy engine) can't both
   * keep it: the later one answers to its short id, as docker names a container it can't name.
   */
  async load(onBroken: (id: string, err: unknown) => void, onRenamed?: (id: string, from: string, to: string) => void): Promise<ContainerRecord[]> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const id of await fs.readdir(this.root)) {
      if (!isFullId(id)) continue;
      let rec: ContainerRecord;
      try {
        rec = await readJson<ContainerRecord>(path.join(this.root, id, RECORD));
      } catch (e) {
        onBroken(id, e);
        continue;
      }
      // records written before every resource field was kept get docker's zero values
      rec.HostConfig = { ...RESOURCE_DEFAULTS, ...rec.HostConfig };
      const name = rec.Name.slice(1);
      const owner = this.names.owner(name);
      if (owner !== undefined && owner !== rec.Id) {
        const alt = this.names.owner(shortId(rec.Id)) === undefined ? shortId(rec.Id) : rec.Id;
        rec.Name = '/' + this.names.reserve(alt, rec.Id);
        onRenamed?.(rec.Id, name, rec.Name.slice(1));
      } else {
        this.names.reserve(name, rec.Id);
      }
      this.byId.set(rec.Id, rec);
    }
    return this.list();
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()].sort((a, b) => b.Created.localeCompare(a.Created));
  }

  /** By full id, unique id prefix or name. */
  get(ref: string): ContainerRecord {
    // a ref no container can have (a path, "..") is simply not found; it never reaches the disk
    try { validateRef(ref); } catch { throw notFound(`No such container: ${ref}`); }
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.byId.get(ref);
    if (byId) return byId;
    // a name reserved by a create still in progress names no container yet
    const byName = this.names.owner(name);
    if (byName !== undefined && this.byId.has(byName)) return this.byId.get(byName)!;
    if (/^[0-9a-f]+$/.test(ref)) {
      const matches = [...this.byId.keys()].filter((id) => id.startsWith(ref));
      if (matches.length === 1) return this.byId.get(matches[0])!;
      if (matches.length > 1) throw invalidArgument(`multiple IDs found with provided prefix: ${ref}`);
    }
    throw notFound(`No such container: ${ref}`);
  }

  has(id: string): boolean {
    return this.byId.has(id);
  }

  async save(rec: ContainerRecord): Promise<void> {
    const dir = this.dir(rec.Id);
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(path.join(dir, RECORD), rec);
    this.byId.set(rec.Id, rec);
  }

  /** The new name is reserved before the record is written; the old one freed after. */
  async rename(rec: ContainerRecord, newName: string): Promise<void> {
    const old = rec.Name.slice(1);
    this.names.reserve(newName, rec.Id);
    rec.Name = '/' + newName;
    try {
      await this.save(rec);
    } catch (e) {
      rec.Name = '/' + old;
      this.names.release(newName, rec.Id);
      throw e;
    }
    this.names.release(old, rec.Id);
  }

  /** The name is freed only once the directory is gone: a create can't reuse a half-removed one. */
  async delete(rec: ContainerRecord): Promise<void> {
    this.byId.delete(rec.Id);
    try {
      await fs.rm(this.dir(rec.Id), { recursive: true, force: true });
    } finally {
      this.names.releaseAll(rec.Id);
    }
  }
}
