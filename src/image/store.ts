// The local image store (docker's image service over a content store and a snapshot driver).
// On disk, under root:
//   blobs/sha256/<hex>        configs, manifests and layer blobs as loaded (verified)
//   images/<config-hex>.json  one StoredImage per image
//   repositories.json         { "name:tag": "sha256:<id>" }, the authority on names
//   ingest/                   work in progress, emptied at init
// Records are written only after their blobs and layers exist; names only after their records.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { failedPrecondition, invalidArgument, notFound } from '../common/errors.js';
import { exists, fsyncDir, mkdirp, writeJsonAtomic } from '../common/fsutil.js';
import { shortId } from '../common/ids.js';
import type { SnapshotDriver } from '../storage/types.js';
import { extractArchive } from './archive-extract.js';
import { planImages } from './archive-load.js';
import { writeDockerArchive, type SaveEntry } from './archive-save.js';
import { ContentStore } from './content.js';
import { unpackImage, type LoadSession } from './load.js';
import { blobsOf, createdTime, hexOf, isStoredImage, toPublic, type StoredImage, type StoredLayer } from './records.js';
import { familiarString, parseReference, parseTagTarget, type ParsedReference } from './reference.js';
import type { ImageRecord, ImageStore, LoadProgress } from './types.js';

type RemoveResult = Array<{ Untagged?: string; Deleted?: string }>;

export class LocalImageStore implements ImageStore {
  private readonly content: ContentStore;
  private readonly imagesDir: string;
  private readonly reposFile: string;
  private images = new Map<string, StoredImage>();
  private repos = new Map<string, string>(); // familiar name:tag -> image id
  private initialized?: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once a mutation touched memory or disk: if it then fails, disk is re-read as the truth. */
  private dirty = false;

  constructor(readonly root: string, private readonly driver: SnapshotDriver) {
    this.content = new ContentStore(root);
    this.imagesDir = path.join(root, 'images');
    this.reposFile = path.join(root, 'repositories.json');
  }

  /** Idempotent; every other method calls it first. */
  init(): Promise<void> {
    this.initialized ??= this.doInit().catch((e: unknown) => { this.initialized = undefined; throw e; });
    return this.initialized;
  }

  async list(): Promise<ImageRecord[]> {
    await this.init();
    return [...this.images.values()].sort((a, b) => createdTime(b) - createdTime(a)).map(toPublic);
  }

  async get(ref: string): Promise<ImageRecord> {
    await this.init();
    return toPublic(this.resolve(ref).image);
  }

  async load(input: Readable, onProgress?: (p: LoadProgress) => void): Promise<string[]> {
    await this.init();
    return this.exclusive(async () => {
      const dir = await this.content.tempDir('load');
      const session: LoadSession = { applied: [], pending: new Map(), fresh: [] };
      let recorded = false;
      try {
        const archive = await extractArchive(input, dir);
        const plans = await planImages(archive);
        const loaded: Array<{ image: Omit<StoredImage, 'repoTags' | 'repoDigests'>; names: string[] }> = [];
        const ctx = { driver: this.driver, content: this.content, knownLayer: (by: { blob?: string; chainId?: string }) => this.knownLayer(by) };
        for (const plan of plans) loaded.push({ image: await unpackImage(ctx, plan, session, onProgress), names: plan.names });
        this.dirty = true;
        for (const [digest, file] of session.pending) await this.content.commit(file, digest);

        const replaced: string[] = [];
        const changed = new Set<string>();
        for (const { image } of loaded) {
          const old = this.images.get(image.id);
          if (old) replaced.push(...blobsOf(old));
          this.images.set(image.id, {
            ...image,
            manifest: image.manifest ?? old?.manifest,
            repoTags: old?.repoTags ?? [],
            repoDigests: old?.repoDigests ?? [],
          });
          changed.add(image.id);
        }
        for (const { image, names } of loaded) for (const n of names) this.setName(n, image.id, changed);
        for (const id of changed) await this.writeRecord(id);
        recorded = true;
        await this.writeRepos();
        await this.collectBlobs(replaced);
        return loaded.flatMap(({ image, names }) => (names.length ? names : [image.id]));
      } catch (e) {
        if (!recorded) {
          // Nothing of a failed load stays: drop the layers it created, newest first.
          for (const chainId of session.applied.reverse()) await this.driver.removeLayer(chainId).catch(() => undefined);
        }
        throw e;
      } finally {
        await fs.rm(dir, { recursive: true, force: true, maxRetries: 3 });
      }
    });
  }

  async save(refs: string[], out: Writable): Promise<void> {
    await this.init();
    if (refs.length === 0) throw invalidArgument('no images to save');
    // Resolve everything first: a bad ref must fail before the first byte is written.
    await this.exclusive(async () => {
      const byId = new Map<string, SaveEntry>();
      for (const ref of refs) {
        const { image, name } = this.resolve(ref);
        const entry = byId.get(image.id) ?? { image, tags: [] };
        if (name && !name.includes('@') && !entry.tags.includes(name)) entry.tags.push(name);
        byId.set(image.id, entry);
      }
      // Held while streaming so that no rmi deletes a blob this archive still has to read.
      await writeDockerArchive([...byId.values()], this.content, out);
    });
  }

  async tag(source: string, target: string): Promise<void> {
    await this.init();
    const parsed = parseTagTarget(target);
    await this.exclusive(async () => {
      const { image } = this.resolve(source);
      const name = familiarString(parsed);
      if (this.repos.get(name) === image.id) return;
      const changed = new Set<string>();
      this.dirty = true;
      this.setName(name, image.id, changed);
      for (const id of changed) await this.writeRecord(id);
      await this.writeRepos();
    });
  }

  async remove(ref: string, opts: { force: boolean; inUse: (id: string) => boolean | string }): Promise<RemoveResult> {
    await this.init();
    return this.exclusive(async () => {
      const { image, name } = this.resolve(ref);
      const id = image.id;
      const used = opts.inUse(id);
      const user = typeof used === 'string' ? `container ${shortId(used)}` : 'a container';
      const out: RemoveResult = [];
      const names = [...image.repoTags];
      if (name) {
        // By name: untag; the image goes only with its last name.
        if (used && !opts.force && names.length <= 1) {
          throw failedPrecondition(`conflict: unable to remove repository reference "${ref}" (must force) - ${user} is using its referenced image ${shortId(hexOf(id))}`);
        }
        await this.untag([name]);
        out.push({ Untagged: name });
        // A used image keeps living, nameless, as docker leaves it for a running container.
        if (image.repoTags.length > 0 || used) return out;
      } else {
        if (names.length > 1 && !opts.force) {
          throw failedPrecondition(`conflict: unable to delete ${shortId(hexOf(id))} (must be forced) - image is referenced in multiple repositories`);
        }
        if (used) {
          if (!opts.force) throw failedPrecondition(`conflict: unable to delete ${shortId(hexOf(id))} (must be forced) - image is being used by ${user}`);
          if (names.length === 0) throw failedPrecondition(`conflict: unable to delete ${shortId(hexOf(id))} (cannot be forced) - image is being used by ${user}`);
          await this.untag(names);
          return names.map((n) => ({ Untagged: n }));
        }
        await this.untag(names);
        out.push(...names.map((n) => ({ Untagged: n })));
      }
      out.push(...(await this.deleteImage(image)));
      return out;
    });
  }

  // ---- internals --------------------------------------------------------------------------

  private async doInit(): Promise<void> {
    await mkdirp(this.root);
    await mkdirp(this.imagesDir);
    await this.content.init();
    // Built aside and swapped in at the end: a get() during a reload sees old or new, not half.
    const images = new Map<string, StoredImage>();
    let unreadable = 0;
    for (const f of await fs.readdir(this.imagesDir)) {
      const file = path.join(this.imagesDir, f);
      // Temp files of an interrupted atomic write are the only other thing that lives here.
      if (f.startsWith('.') && f.endsWith('.tmp')) { await fs.rm(file, { force: true }); continue; }
      const m = /^([0-9a-f]{64})\.json$/.exec(f);
      if (!m) continue;
      try {
        const rec: unknown = JSON.parse(await fs.readFile(file, 'utf8'));
        if (isStoredImage(rec) && rec.id === `sha256:${m[1]}`) images.set(rec.id, rec); else unreadable++;
      } catch {
        unreadable++; // its image is invisible, but its file stays for inspection
      }
    }
    const repos = new Map<string, string>();
    if (await exists(this.reposFile)) {
      try {
        const raw = JSON.parse(await fs.readFile(this.reposFile, 'utf8')) as Record<string, unknown>;
        for (const [name, id] of Object.entries(raw)) if (typeof id === 'string') repos.set(name, id);
      } catch {
        await fs.rename(this.reposFile, `${this.reposFile}.corrupt-${Date.now()}`);
      }
    }
    // repositories.json is the authority on names; records only mirror it.
    for (const img of images.values()) img.repoTags = [];
    for (const [name, id] of [...repos]) {
      const img = images.get(id);
      if (img) img.repoTags.push(name); else repos.delete(name);
    }
    for (const img of images.values()) img.repoTags.sort();
    this.images = images;
    this.repos = repos;
    // Blobs of a load that crashed before writing its record belong to nobody. With a record
    // we could not read, we cannot tell what it needs: then keep everything.
    if (unreadable === 0) await this.collectBlobs(await this.content.list());
  }

  /** Run mutations one at a time: load, tag, remove and save must not interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      this.dirty = false;
      try {
        return await fn();
      } catch (e) {
        if (this.dirty) await this.doInit().catch(() => undefined);
        throw e;
      } finally {
        this.dirty = false;
      }
    };
    const run = this.queue.then(guarded, guarded);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private resolve(ref: string): { image: StoredImage; name?: string } {
    if (typeof ref !== 'string' || ref === '') throw invalidArgument('empty image reference');
    const full = /^(?:sha256:)?([0-9a-f]{64})$/.exec(ref);
    if (full) {
      const image = this.images.get(`sha256:${full[1]}`);
      if (!image) throw notFound(`No such image: ${ref}`);
      return { image };
    }
    let parsed: ParsedReference | undefined;
    try { parsed = parseReference(ref); } catch { parsed = undefined; }
    if (parsed?.digest) {
      // name@digest: the image with that repo digest, or loaded with that manifest. It is
      // treated like an id (no name to untag) until pulls record repo digests as names.
      const key = familiarString(parsed);
      for (const image of this.images.values()) {
        if (image.repoDigests.includes(key) || image.manifest?.digest === parsed.digest) return { image };
      }
    } else if (parsed) {
      const key = familiarString(parsed);
      const id = this.repos.get(key);
      const image = id ? this.images.get(id) : undefined;
      if (image) return { image, name: key };
    }
    const prefix = /^(?:sha256:)?([0-9a-f]{1,63})$/.exec(ref);
    if (prefix) {
      const hits = [...this.images.values()].filter((i) => i.id.startsWith(`sha256:${prefix[1]}`));
      if (hits.length === 1) return { image: hits[0]! };
      if (hits.length > 1) throw invalidArgument(`ambiguous image id prefix "${ref}": it matches ${hits.length} images`);
    }
    throw notFound(`No such image: ${ref}`);
  }

  private knownLayer(by: { blob?: string; chainId?: string }): StoredLayer | undefined {
    for (const img of this.images.values()) {
      for (const l of img.layers) {
        if ((by.blob === undefined || l.blob === by.blob) && (by.chainId === undefined || l.chainId === by.chainId)) return l;
      }
    }
    return undefined;
  }

  /** Point `name` at `id` in memory, taking it from the image that had it. */
  private setName(name: string, id: string, changed: Set<string>): void {
    const prev = this.repos.get(name);
    if (prev === id) return;
    if (prev) {
      const old = this.images.get(prev);
      if (old) { old.repoTags = old.repoTags.filter((t) => t !== name); changed.add(prev); }
    }
    this.repos.set(name, id);
    const img = this.images.get(id)!;
    img.repoTags = [...img.repoTags, name].sort();
    changed.add(id);
  }

  private async untag(names: string[]): Promise<void> {
    this.dirty = true;
    const changed = new Set<string>();
    for (const n of names) {
      const id = this.repos.get(n);
      if (!id) continue;
      this.repos.delete(n);
      const img = this.images.get(id);
      if (img) { img.repoTags = img.repoTags.filter((t) => t !== n); changed.add(id); }
    }
    // Names first: a crash in between leaves a nameless image, never a name without an image.
    await this.writeRepos();
    for (const id of changed) await this.writeRecord(id);
  }

  /** Delete an image that has no names left, then whatever only it used. */
  private async deleteImage(image: StoredImage): Promise<RemoveResult> {
    const out: RemoveResult = [];
    this.dirty = true;
    await fs.rm(this.recordPath(image.id), { force: true });
    await fsyncDir(this.imagesDir);
    this.images.delete(image.id);
    out.push({ Deleted: image.id });
    const stillUsed = new Set<string>();
    for (const img of this.images.values()) for (const c of img.chainIds) stillUsed.add(c);
    // Top layer first: a driver may refuse to remove a layer that still has children.
    for (const chainId of [...image.chainIds].reverse()) {
      if (stillUsed.has(chainId)) continue;
      try {
        await this.driver.removeLayer(chainId);
        out.push({ Deleted: chainId });
      } catch {
        // Left for a later cleanup: the record is gone, so nothing points at it any more.
      }
    }
    await this.collectBlobs(blobsOf(image));
    return out;
  }

  /** Delete those of `candidates` that no image references. */
  private async collectBlobs(candidates: Iterable<string>): Promise<void> {
    const referenced = new Set<string>();
    for (const img of this.images.values()) for (const b of blobsOf(img)) referenced.add(b);
    for (const b of new Set(candidates)) if (!referenced.has(b)) await this.content.delete(b);
  }

  private recordPath(id: string): string {
    return path.join(this.imagesDir, `${hexOf(id)}.json`);
  }

  private async writeRecord(id: string): Promise<void> {
    const img = this.images.get(id);
    if (img) await writeJsonAtomic(this.recordPath(id), img);
  }

  private async writeRepos(): Promise<void> {
    const obj: Record<string, string> = {};
    for (const [k, v] of [...this.repos].sort(([a], [b]) => a.localeCompare(b))) obj[k] = v;
    await writeJsonAtomic(this.reposFile, obj);
  }
}
