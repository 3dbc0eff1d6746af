// The local image store (docker's image service over a content store and a snapshot driver).
// On disk, under root:
//   blobs/sha256/<hex>        configs, manifests and layer blobs as loaded (verified)
//   images/<config-hex>.json  one StoredImage per image
//   repositories.json         { "name:tag": "sha256:<id>" }, the authority on names
//   ingest/                   work in progress, emptied at init
//   pulls/<random>.json       layers a pull in progress may create (see journal.ts)
// Records are written only after their blobs and layers exist; names only after their records.
// Pulls download and unpack outside the mutation queue; what they need is pinned meanwhile,
// so that no rmi or garbage collection takes it away before their record is written.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { failedPrecondition, internal, invalidArgument, isKind, notFound } from '../common/errors.js';
import { exists, fsyncDir, mkdirp, writeJsonAtomic } from '../common/fsutil.js';
import { shortId } from '../common/ids.js';
import type { SnapshotDriver } from '../storage/types.js';
import { extractArchive } from './archive-extract.js';
import { planImages } from './archive-load.js';
import { writeDockerArchive, type SaveEntry } from './archive-save.js';
import { ContentStore } from './content.js';
import { PullJournal } from './journal.js';
import { unpackImage, type LoadSession } from './load.js';
import { blobsOf, createdTime, hexOf, isStoredImage, toPublic, type StoredImage, type StoredLayer } from './records.js';
import { familiarString, parseReference, parseTagTarget, type ParsedReference } from './reference.js';
import type { ImageRecord, ImageStore, LoadProgress, PruneOptions, PruneResult, StoreUsage } from './types.js';
import type { AuthConfig } from './registry/auth.js';
import { RegistryClient, type RegistryOptions } from './registry/client.js';
import { registryHost, registryKey } from './registry/credentials.js';
import { Puller, type NewImage, type PullHost, type PullOptions, type PullProgress, type PullResult } from './registry/pull.js';

type RemoveResult = Array<{ Untagged?: string; Deleted?: string }>;

export interface StoreOptions {
  /** insecure-registries, registry-mirrors and friends (daemon.json). */
  registry?: RegistryOptions;
}

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
  private readonly journal: PullJournal;
  /** Blobs and chain ids that pulls in progress need (reference counts). */
  private readonly pins = new Map<string, number>();
  private client?: RegistryClient;
  private puller?: Puller;

  constructor(readonly root: string, private readonly driver: SnapshotDriver, private readonly opts: StoreOptions = {}) {
    this.content = new ContentStore(root);
    this.imagesDir = path.join(root, 'images');
    this.reposFile = path.join(root, 'repositories.json');
    this.journal = new PullJournal(path.join(root, 'pulls'));
  }

  /** Idempotent; every other method calls it first. */
  init(): Promise<void> {
    this.initialized ??= this.doInit(true).catch((e: unknown) => { this.initialized = undefined; throw e; });
    return this.initialized;
  }

  /** Pull from a registry (see registry/pull.ts); resolves once the image is recorded. */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    await this.init();
    return this.getPuller().pull(ref, opts);
  }

  /** Pull every tag of a repository. */
  async pullAllTags(name: string, opts: PullOptions = {}): Promise<PullResult[]> {
    await this.init();
    return this.getPuller().pullAllTags(name, opts);
  }

  /** get(), pulling the image first when a name (not an id) is missing. */
  async ensureImage(ref: string, onProgress?: (p: PullProgress) => void, opts: Omit<PullOptions, 'onProgress'> = {}): Promise<ImageRecord> {
    try {
      return await this.get(ref);
    } catch (e) {
      if (!isKind(e, 'NotFound') || /^sha256:|^[0-9a-f]{64}$/.test(ref)) throw e;
    }
    await this.pull(ref, { ...opts, onProgress });
    return this.get(ref);
  }

  /** Check credentials against a registry (POST /auth). */
  async checkLogin(auth: AuthConfig): Promise<void> {
    await this.getClient().login(registryHost(registryKey(auth.serveraddress)), auth);
  }

  /** Remove dangling images (no tag), or with `all` every image no container uses. */
  async prune(opts: PruneOptions): Promise<PruneResult> {
    await this.init();
    return this.exclusive(async () => {
      const before = await this.usageNow();
      const deleted: RemoveResult = [];
      const victims = [...this.images.values()].filter((img) =>
        (opts.all || img.repoTags.length === 0) && !opts.inUse(img.id)
        && (opts.until === undefined || createdTime(img) < opts.until * 1000)
        && Object.entries(opts.labels ?? {}).every(([k, v]) => {
          const have = img.config.Labels?.[k];
          return v === undefined ? have !== undefined : have === v;
        }));
      for (const img of victims.sort((a, b) => createdTime(b) - createdTime(a))) {
        const tags = [...img.repoTags];
        if (tags.length) await this.untag(tags);
        deleted.push(...tags.map((n) => ({ Untagged: n })));
        deleted.push(...img.repoDigests.map((n) => ({ Untagged: n })));
        deleted.push(...(await this.deleteImage(img)));
      }
      const after = await this.usageNow();
      return { deleted, reclaimed: Math.max(0, before.layersSize + before.blobsSize - after.layersSize - after.blobsSize) };
    });
  }

  /** What the store holds and the space it takes (layers as unpacked, blobs as stored). */
  async usage(): Promise<StoreUsage> {
    await this.init();
    return this.usageNow();
  }

  /** Drop idle registry connections (at daemon shutdown). */
  close(): void {
    this.client?.close();
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
          // (Not those a pull in progress counts on.)
          for (const chainId of session.applied.reverse()) {
            if (!this.pins.has(chainId)) await this.driver.removeLayer(chainId).catch(() => undefined);
          }
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

  /**
   * Read records and names from disk. At start-up (`first`) also empty ingest/ and undo
   * crashed pulls; a re-read after a failed mutation must not: pulls may be running.
   */
  private async doInit(first = false): Promise<void> {
    await mkdirp(this.root);
    await mkdirp(this.imagesDir);
    if (first) await this.content.init();
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
    if (unreadable === 0 && first) await this.undoCrashedPulls();
    if (unreadable === 0) await this.collectBlobs(await this.content.list());
  }

  /** Remove the layers that pulls killed mid-way created and no record uses (start-up only). */
  private async undoCrashedPulls(): Promise<void> {
    const { files, chainIds } = await this.journal.leftovers();
    const used = new Set<string>();
    for (const img of this.images.values()) for (const c of img.chainIds) used.add(c);
    let orphans = [...new Set(chainIds)].filter((c) => !used.has(c)).reverse();
    // Children before parents; a driver refuses to remove a layer that still has children.
    for (let pass = 0; pass < 4 && orphans.length; pass++) {
      const left: string[] = [];
      for (const c of orphans) await this.driver.removeLayer(c).catch(() => left.push(c));
      orphans = left;
    }
    for (const f of files) await fs.rm(f, { force: true });
  }

  private getClient(): RegistryClient {
    this.client ??= new RegistryClient(this.opts.registry);
    return this.client;
  }

  private getPuller(): Puller {
    this.puller ??= new Puller(this.pullHost(), this.getClient());
    return this.puller;
  }

  private pullHost(): PullHost {
    const layersOk = async (layers: StoredLayer[]) => {
      for (const l of layers) if (!(await this.driver.hasLayer(l.chainId)) || !(await this.content.has(l.blob))) return false;
      return true;
    };
    return {
      content: this.content,
      driver: this.driver,
      journal: this.journal,
      completeImage: async (id) => {
        const img = this.images.get(id);
        return img && (await layersOk(img.layers)) ? img.layers.map((l) => ({ ...l })) : undefined;
      },
      layerWithBlob: async (chainId) => {
        for (const img of this.images.values()) {
          for (const l of img.layers) if (l.chainId === chainId && (await this.content.has(l.blob))) return { ...l };
        }
        return undefined;
      },
      pin: (keys) => this.pin(keys),
      commitPull: (image, names, release) => this.commitPull(image, names, release),
      abortPull: (created, blobs, release) => this.exclusive(async () => {
        release();
        const used = this.usedChainIds();
        for (const c of [...created].reverse()) if (!used.has(c)) await this.driver.removeLayer(c).catch(() => undefined);
        await this.collectBlobs(blobs);
      }),
    };
  }

  private pin(keys: string[]): () => void {
    for (const k of keys) this.pins.set(k, (this.pins.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const k of keys) {
        const n = (this.pins.get(k) ?? 1) - 1;
        if (n > 0) this.pins.set(k, n); else this.pins.delete(k);
      }
    };
  }

  /** Chain ids some image records or some pull in progress need. */
  private usedChainIds(): Set<string> {
    const used = new Set<string>(this.pins.keys());
    for (const img of this.images.values()) for (const c of img.chainIds) used.add(c);
    return used;
  }

  private async commitPull(image: NewImage, names: { tag?: string; repoDigest: string }, release: () => void): Promise<{ updated: boolean }> {
    return this.exclusive(async () => {
      try {
        for (const c of image.chainIds) if (!(await this.driver.hasLayer(c))) throw internal(`layer ${c} vanished during the pull; pull again`);
        for (const b of blobsOf({ ...image, repoTags: [], repoDigests: [] })) {
          if (!(await this.content.has(b))) throw internal(`blob ${b} vanished during the pull; pull again`);
        }
        const old = this.images.get(image.id);
        const replaced = old ? blobsOf(old) : [];
        const repoDigests = [...new Set([...(old?.repoDigests ?? []), names.repoDigest])].sort();
        const moved = names.tag !== undefined && this.repos.get(names.tag) !== image.id;
        this.dirty = true;
        this.images.set(image.id, { ...image, repoTags: old?.repoTags ?? [], repoDigests });
        const changed = new Set<string>([image.id]);
        if (names.tag) this.setName(names.tag, image.id, changed);
        for (const id of changed) await this.writeRecord(id);
        await this.writeRepos();
        release();
        await this.collectBlobs(replaced);
        return { updated: !old || moved || !old.repoDigests.includes(names.repoDigest) };
      } finally {
        release();
      }
    });
  }

  private async usageNow(): Promise<StoreUsage> {
    const layers = new Map<string, number>();
    for (const img of this.images.values()) for (const l of img.layers) layers.set(l.chainId, l.size);
    let blobsSize = 0;
    const blobs = await this.content.list();
    for (const b of blobs) blobsSize += await this.content.size(b).catch(() => 0);
    return {
      images: this.images.size, layers: layers.size, layersSize: [...layers.values()].reduce((a, b) => a + b, 0),
      blobs: blobs.length, blobsSize,
    };
  }

  /** Run mutations one at a time: load, tag, remove and save must not interleave. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      this.dirty = false;
      try {
        return await fn();
      } catch (e) {
        if (this.dirty) await this.doInit(false).catch(() => undefined);
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
    const stillUsed = this.usedChainIds();
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
    for (const b of new Set(candidates)) if (!referenced.has(b) && !this.pins.has(b)) await this.content.delete(b);
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
