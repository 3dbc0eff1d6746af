// Every pod's record, in memory and on disk (<graph>/pods/<id>.json, written atomically),
// and the reservation of pod names (CRI: one pod per name, namespace, uid and attempt).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { isAtomicWriteTemp, readJson, writeJsonAtomic } from '../../common/fsutil.js';
import { alreadyExists, invalidArgument, notFound } from '../../common/errors.js';
import { podKey, type PodRecord } from './record.js';

export class PodStore {
  private recs = new Map<string, PodRecord>();
  /** pod key → id, including pods being made (reserved before their record exists) */
  private names = new Map<string, string>();

  constructor(readonly root: string) {}

  async load(onBad: (file: string, err: unknown) => void): Promise<PodRecord[]> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const f of await fs.readdir(this.root)) {
      // a save that a crash cut short left its temp file (the record before it stands)
      if (isAtomicWriteTemp(f)) { await fs.rm(path.join(this.root, f), { force: true }); continue; }
      if (!f.endsWith('.json')) continue;
      try {
        const r = await readJson<PodRecord>(path.join(this.root, f));
        this.recs.set(r.id, r);
        this.names.set(podKey(r.spec), r.id);
      } catch (e) {
        onBad(path.join(this.root, f), e);
      }
    }
    return [...this.recs.values()];
  }

  /** Reserve a pod's name for id; AlreadyExists names the pod that has it. */
  reserve(key: string, id: string): void {
    const other = this.names.get(key);
    if (other && other !== id) throw alreadyExists(`pod sandbox name "${key}" is reserved for ${other}`);
    this.names.set(key, id);
  }

  release(key: string, id: string): void {
    if (this.names.get(key) === id) this.names.delete(key);
  }

  has(id: string): boolean { return this.recs.has(id); }

  list(): PodRecord[] { return [...this.recs.values()]; }

  /** By full id or a unique prefix of one (crictl passes prefixes). */
  get(ref: string): PodRecord {
    const exact = this.recs.get(ref);
    if (exact) return exact;
    if (!ref || !/^[0-9a-f]+$/.test(ref)) throw notFound(`pod sandbox "${ref}" not found`);
    const matches = [...this.recs.keys()].filter((id) => id.startsWith(ref));
    if (matches.length === 1) return this.recs.get(matches[0]!)!;
    if (!matches.length) throw notFound(`pod sandbox "${ref}" not found`);
    throw invalidArgument(`pod sandbox id prefix "${ref}" is ambiguous: ${matches.length} pods match`);
  }

  async save(r: PodRecord): Promise<void> {
    await writeJsonAtomic(path.join(this.root, `${r.id}.json`), r);
    this.recs.set(r.id, r);
  }

  async delete(r: PodRecord): Promise<void> {
    await fs.rm(path.join(this.root, `${r.id}.json`), { force: true });
    this.recs.delete(r.id);
    this.release(podKey(r.spec), r.id);
  }
}
