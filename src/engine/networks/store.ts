// Network records in memory and on disk (<graph>/networks/<id>.json, written atomically), and
// dockerd's lookup: a full id, then a name, then a unique id prefix.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isAtomicWriteTemp, readJson, writeJsonAtomic } from '../../common/fsutil.js';
import { invalidArgument, notFound } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { NetworkRecord } from './model.js';
import { compareStrings } from '../../common/compare.js';

export class NetworkStore {
  private recs = new Map<string, NetworkRecord>();

  constructor(readonly root: string) {}

  async load(log: Logger): Promise<void> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const f of await fs.readdir(this.root)) {
      // a record write a crash cut short
      if (isAtomicWriteTemp(f)) { await fs.rm(path.join(this.root, f), { force: true }); continue; }
      if (!/^[0-9a-f]{64}\.json$/.test(f)) continue;
      try {
        const r = await readJson<NetworkRecord>(path.join(this.root, f));
        this.recs.set(r.id, r);
      } catch (e) {
        log.warn('network record unreadable: skipped', { file: f, err: (e as Error).message });
      }
    }
  }

  list(): NetworkRecord[] {
    return [...this.recs.values()].sort((a, b) => compareStrings(a.created, b.created) || compareStrings(a.name, b.name));
  }

  byName(name: string): NetworkRecord | undefined {
    return [...this.recs.values()].find((n) => n.name === name);
  }

  /** dockerd's FindNetwork: full id, name, then a unique id prefix. */
  get(ref: string): NetworkRecord {
    const exact = this.recs.get(ref) ?? this.byName(ref);
    if (exact) return exact;
    const matches = /^[0-9a-f]+$/.test(ref) ? [...this.recs.keys()].filter((id) => id.startsWith(ref)) : [];
    if (matches.length === 1) return this.recs.get(matches[0]!)!;
    if (matches.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  has(id: string): boolean { return this.recs.has(id); }

  async save(r: NetworkRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.root, `${r.id}.json`), r);
    this.recs.set(r.id, r);
  }

  async delete(id: string): Promise<void> {
    await fs.rm(path.join(this.root, `${id}.json`), { force: true });
    this.recs.delete(id);
  }
}
