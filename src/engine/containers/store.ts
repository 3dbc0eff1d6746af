// Container records on disk and in memory, with name and id-prefix lookup.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ContainerRecord } from './record.js';
import { writeJsonAtomic, readJson } from '../../common/fsutil.js';
import { alreadyExists, invalidArgument, notFound } from '../../common/errors.js';
import { isFullId, validateRef } from '../../common/ids.js';

const RECORD = 'config.v2.json';

export class ContainerStore {
  private byId = new Map<string, ContainerRecord>();
  private byName = new Map<string, string>();

  constructor(readonly root: string) {}

  dir(id: string): string {
    if (!isFullId(id)) throw invalidArgument(`invalid container id ${id}`);
    return path.join(this.root, id);
  }

  /** Load every record; a directory without a complete record is a half-made create: dropped. */
  async load(onBroken: (id: string, err: unknown) => void): Promise<ContainerRecord[]> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const id of await fs.readdir(this.root)) {
      if (!isFullId(id)) continue;
      try {
        const rec = await readJson<ContainerRecord>(path.join(this.root, id, RECORD));
        this.index(rec);
      } catch (e) {
        onBroken(id, e);
      }
    }
    return this.list();
  }

  private index(rec: ContainerRecord): void {
    this.byId.set(rec.Id, rec);
    this.byName.set(rec.Name.slice(1), rec.Id);
  }

  list(): ContainerRecord[] {
    return [...this.byId.values()].sort((a, b) => b.Created.localeCompare(a.Created));
  }

  /** Reserve a name before anything is written, so two creates can't both take it. */
  reserveName(name: string, id: string): void {
    const owner = this.byName.get(name);
    if (owner && owner !== id) {
      throw alreadyExists(`Conflict. The container name "/${name}" is already in use by container "${owner}". You have to remove (or rename) that container to be able to reuse that name.`);
    }
    this.byName.set(name, id);
  }

  releaseName(name: string, id: string): void {
    if (this.byName.get(name) === id) this.byName.delete(name);
  }

  /** By full id, unique id prefix or name. */
  get(ref: string): ContainerRecord {
    // a ref no container can have (a path, "..") is simply not found; it never reaches the disk
    try { validateRef(ref); } catch { throw notFound(`No such container: ${ref}`); }
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const byId = this.byId.get(ref);
    if (byId) return byId;
    const byName = this.byName.get(name);
    if (byName && this.byId.has(byName)) return this.byId.get(byName)!;
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
    this.index(rec);
  }

  async rename(rec: ContainerRecord, newName: string): Promise<void> {
    const old = rec.Name.slice(1);
    this.reserveName(newName, rec.Id);
    rec.Name = '/' + newName;
    try {
      await this.save(rec);
    } catch (e) {
      rec.Name = '/' + old;
      this.releaseName(newName, rec.Id);
      throw e;
    }
    this.releaseName(old, rec.Id);
  }

  async delete(rec: ContainerRecord): Promise<void> {
    this.byId.delete(rec.Id);
    this.releaseName(rec.Name.slice(1), rec.Id);
    await fs.rm(this.dir(rec.Id), { recursive: true, force: true });
  }
}
