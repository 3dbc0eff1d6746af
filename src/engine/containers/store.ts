// Container records on disk and in memory, with name and id-prefix lookup. Names live in the
// one NameRegistrar (names.ts), which create, rename and rm all go through.
//
// While the daemon runs, the in-memory record is the truth; lifecycle changes (start, exit,
// pause) are persisted when the disk lets us: a full graph must not lose or delay an exit
// code, so such a write is kept pending and retried (see persist). Removal marks a record by
// renaming its directory (a tombstone; a rename needs no free space), so a crash mid-removal
// is finished at the next start instead of leaving a record without its writable layer.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './model.js';
import { fromLegacy, type LegacyRecord } from './legacy.js';
import { writeFileAtomic, readJson, fsyncDir, isAtomicWriteTemp, removeTree } from '../../common/fsutil.js';
import { FREE_SPACE_HINT, errorMessage, invalidArgument, isNoSpace, notFound } from '../../common/errors.js';
import { isFullId, shortId, validateRef } from '../../common/ids.js';
import { NameRegistrar } from './names.js';
import { RESOURCE_DEFAULTS } from './resources.js';
import type { Logger } from '../../common/log.js';
import { compareStrings } from '../../common/compare.js';

const RECORD = 'container.json';
/** The inspect-shaped record of tsula before its model was typed: read, never written. */
const LEGACY = 'config.v2.json';
const TOMBSTONE = '.removing-';
/** How often pending writes are retried while the disk is full (and after every removal). */
const RETRY_MS = 5_000;

export interface StoreOptions {
  log?: Logger;
  retryMs?: number;
}

export class ContainerStore {
  private byId = new Map<string, Container>();
  /** Records whose last change is only in memory: the disk was full. */
  private pending = new Set<string>();
  /** Per id, the write in flight: writes of one record never overtake each other. */
  private writes = new Map<string, Promise<unknown>>();
  /** Records whose file exists: a rewrite need not sync the directory (the name is there). */
  private onDisk = new Set<string>();
  /** Ids being removed: nothing may write their record again. */
  private removing = new Set<string>();
  private retryTimer: NodeJS.Timeout | null = null;
  private warned = false;
  /** A pending record reached the disk (by a retry): what waited for that may go now. */
  onPersisted: ((id: string) => void) | null = null;

  constructor(readonly root: string, readonly names: NameRegistrar = new NameRegistrar(), private readonly o: StoreOptions = {}) {}

  dir(id: string): string {
    if (!isFullId(id)) throw invalidArgument(`invalid container id ${id}`);
    return path.join(this.root, id);
  }

  /**
   * Load every record; a directory without a complete record is a half-made create: dropped.
   * Two records claiming one name (hand-edited, or written by a buggy engine) can't both
   * keep it: the later one answers to its short id, as docker names a container it can't name.
   */
  async load(onBroken: (id: string, err: unknown) => void, onRenamed?: (id: string, from: string, to: string) => void): Promise<Container[]> {
    await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
    for (const id of await fs.readdir(this.root)) {
      if (!isFullId(id)) continue;
      // writes a crash cut short (the record, hosts, resolv.conf, hostname): only the old or
      // the new file counts, the temp file is nobody's
      for (const f of await fs.readdir(path.join(this.root, id)).catch(() => [] as string[])) {
        if (isAtomicWriteTemp(f)) await fs.rm(path.join(this.root, id, f), { force: true });
      }
      let rec: Container;
      try {
        rec = await readRecord(path.join(this.root, id));
      } catch (e) {
        onBroken(id, e);
        continue;
      }
      const name = rec.name;
      const owner = this.names.owner(name);
      if (owner !== undefined && owner !== rec.id) {
        const alt = this.names.owner(shortId(rec.id)) === undefined ? shortId(rec.id) : rec.id;
        rec.name = this.names.reserve(alt, rec.id);
        onRenamed?.(rec.id, name, rec.name);
      } else {
        this.names.reserve(name, rec.id);
      }
      this.byId.set(rec.id, rec);
      this.onDisk.add(rec.id);
    }
    // legacy links are names of their child ("<parent>/<alias>"): once every record is known
    for (const rec of this.byId.values()) {
      this.relinkGone(rec);
      this.linkNames(rec, rec.name, 'reserve');
    }
    return this.list();
  }

  /**
   * A link whose child was removed goes to the container that has its name now, or is dropped
   * (dockerd's registerLinks at restore: it logs that it cannot register it). In memory: the
   * parent's next save keeps it, and the next start does the same again meanwhile.
   */
  private relinkGone(rec: Container): void {
    const n = rec.config?.networking;
    if (!n?.legacyLinks?.some((l) => l.gone)) return;
    n.legacyLinks = n.legacyLinks.flatMap((l) => {
      if (!l.gone) return [l];
      const id = this.names.owner(l.gone);
      if (!id || id === rec.id || !this.byId.has(id)) {
        this.o.log?.warn('failed to register link for container: no container has its name', { id: rec.id, link: l.gone, alias: l.alias });
        return [];
      }
      return [{ child: id, alias: l.alias }];
    });
    if (!n.legacyLinks.length) delete n.legacyLinks;
  }

  /** A parent's legacy link names: reserved for their children (a name taken meanwhile: skipped, as dockerd) or released. */
  private linkNames(rec: Container, parent: string, op: 'reserve' | 'release'): void {
    for (const l of rec.config?.networking?.legacyLinks ?? []) { // (unit tests' records may have no config)
      const name = `${parent}/${l.alias}`;
      if (op === 'release') this.names.release(name, l.child);
      else if (this.byId.has(l.child)) try { this.names.reserve(name, l.child); } catch { /* another's */ }
    }
  }

  list(): Container[] {
    return [...this.byId.values()].sort((a, b) => compareStrings(b.createdAt, a.createdAt));
  }

  /** By full id, unique id prefix or name. */
  get(ref: string): Container {
    // a ref no container can have (a path, "..") is simply not found; it never reaches the disk
    // docker's names carry a leading "/" (inspect shows "/web"): "/web" names web
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    // a legacy link's name, "<parent>/<alias>", names its child
    const linked = name.includes('/') ? this.names.owner(name) : undefined;
    if (linked !== undefined && this.byId.has(linked)) return this.byId.get(linked)!;
    try { validateRef(name); } catch { throw notFound(`No such container: ${ref}`); }
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

  file(id: string): string {
    return path.join(this.dir(id), RECORD);
  }

  /** Write the record now; any error (a full disk too) is the caller's. */
  async save(rec: Container): Promise<void> {
    await this.write(rec);
    this.byId.set(rec.id, rec);
  }

  private write(rec: Container): Promise<void> {
    const id = rec.id;
    const data = JSON.stringify(rec, null, 2) + '\n'; // the record as it is now, not when the write runs
    const run = (this.writes.get(id) ?? Promise.resolve()).catch(() => {}).then(async () => {
      if (this.removing.has(id)) return; // a late write must not bring a removed record back
      const dir = this.dir(id);
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(path.join(dir, RECORD), data, 0o600, this.onDisk.has(id) ? 'file' : 'full');
      this.onDisk.add(id);
    });
    this.writes.set(id, run);
    void run.finally(() => { if (this.writes.get(id) === run) this.writes.delete(id); }).catch(() => {});
    return run;
  }

  /**
   * Persist a lifecycle change of a record already in memory. Where the disk is full the
   * change stays in memory (what every reader sees), the write is retried every few seconds
   * and after each removal, and the first failure is logged once with the file and the fix.
   * Returns whether the record is on disk now. Other errors are thrown.
   */
  async persist(rec: Container): Promise<boolean> {
    this.byId.set(rec.id, rec);
    try {
      await this.write(rec);
    } catch (e) {
      if (!isNoSpace(e)) throw e;
      this.pending.add(rec.id);
      if (!this.warned) {
        this.warned = true;
        this.o.log?.warn(`cannot write container record ${this.file(rec.id)}: ${errorMessage(e)}; the container's state is kept in memory and written once there is space: ${FREE_SPACE_HINT}`);
      }
      this.scheduleRetry();
      return false;
    }
    this.pending.delete(rec.id);
    return true;
  }

  /** Is the latest change of this record only in memory? */
  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  /** Try every pending write again (space may have been freed). */
  async flushPending(): Promise<void> {
    for (const id of [...this.pending]) {
      const rec = this.byId.get(id);
      if (!rec || this.removing.has(id)) { this.pending.delete(id); continue; }
      try {
        await this.write(rec);
      } catch (e) {
        if (isNoSpace(e)) { this.scheduleRetry(); return; }
        this.o.log?.error('cannot write container record', { file: this.file(id), err: errorMessage(e) });
        continue; // kept pending: retried with the others
      }
      this.pending.delete(id);
      this.onPersisted?.(id);
    }
    if (!this.pending.size && this.warned) {
      this.warned = false;
      this.o.log?.info('container records written: the disk has space again');
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.flushPending();
    }, this.o.retryMs ?? RETRY_MS);
    this.retryTimer.unref();
  }

  close(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  /** The new name is reserved before the record is written; the old one freed after. */
  async rename(rec: Container, newName: string): Promise<void> {
    const old = rec.name;
    this.names.reserve(newName, rec.id);
    rec.name = newName;
    try {
      await this.save(rec);
    } catch (e) {
      rec.name = old;
      this.names.release(newName, rec.id);
      throw e;
    }
    this.names.release(old, rec.id);
    // its links' names follow it (dockerd's rename moves "/old/alias" to "/new/alias")
    this.linkNames(rec, old, 'release');
    this.linkNames(rec, newName, 'reserve');
  }

  /**
   * The first step of a removal, before anything is deleted: the record's directory becomes a
   * tombstone (a rename: no free space needed), which the next start finishes removing if we
   * crash first. The record stays in memory until delete().
   */
  async markRemoving(rec: Container): Promise<void> {
    this.removing.add(rec.id);
    this.pending.delete(rec.id);
    await this.writes.get(rec.id)?.catch(() => {});
    try {
      await fs.rename(this.dir(rec.id), path.join(this.root, TOMBSTONE + rec.id));
      await fsyncDir(this.root);
    } catch (e) {
      // ENOENT: marked already (a second rm). No space: a rename that needs a new directory
      // block (ext4 at 100%); removing unmarked beats not freeing space at all
      if (isNoSpace(e)) this.o.log?.warn('cannot mark the removal: a crash now leaves a record without its layer', { id: rec.id, err: errorMessage(e) });
      else if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { this.removing.delete(rec.id); throw e; }
    }
  }

  /** Records whose removal a crash interrupted (their tombstones), for recovery to finish. */
  async tombstones(): Promise<Array<{ id: string; rec: Container | null }>> {
    const out: Array<{ id: string; rec: Container | null }> = [];
    for (const name of await fs.readdir(this.root).catch(() => [] as string[])) {
      const id = name.slice(TOMBSTONE.length);
      if (!name.startsWith(TOMBSTONE) || !isFullId(id)) continue;
      out.push({ id, rec: await readRecord(path.join(this.root, name)).catch(() => null) });
    }
    return out;
  }

  /** Delete a tombstone left by an interrupted removal. */
  async dropTombstone(id: string): Promise<void> {
    if (!isFullId(id)) throw invalidArgument(`invalid container id ${id}`);
    await removeTree(path.join(this.root, TOMBSTONE + id));
  }

  /** The name is freed only once the directory is gone: a create can't reuse a half-removed one. */
  async delete(rec: Container): Promise<void> {
    this.byId.delete(rec.id);
    this.pending.delete(rec.id);
    this.onDisk.delete(rec.id);
    this.removing.add(rec.id);
    await this.writes.get(rec.id)?.catch(() => {});
    try {
      await removeTree(path.join(this.root, TOMBSTONE + rec.id));
      await removeTree(this.dir(rec.id));
    } finally {
      this.removing.delete(rec.id);
      this.names.releaseAll(rec.id);
      this.linkNames(rec, rec.name, 'release');
    }
  }
}

/** A container's record: container.json, or the inspect-shaped one of older tsulas. */
async function readRecord(dir: string): Promise<Container> {
  try {
    return await readJson<Container>(path.join(dir, RECORD));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const legacy = await readJson<LegacyRecord>(path.join(dir, LEGACY));
  // records written before every resource field was kept get docker's zero values
  legacy.HostConfig = { ...RESOURCE_DEFAULTS, ...legacy.HostConfig };
  return fromLegacy(legacy);
}
