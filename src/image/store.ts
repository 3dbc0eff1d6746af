// The local image store (docker's image service over a content store and a snapshot driver).
// On disk, under root:
//   blobs/sha256/<hex>        configs, manifests and layer blobs as loaded (verified)
//   images/, repositories.json  records and names (see catalog.ts)
//   ingest/                   work in progress, emptied at init
//   pulls/<random>.json       layers a pull in progress may create (see journal.ts)
//   layer-sources/<hex>.json  registry blobs of each layer, by diff id (see layer-sources.ts)
// Records are written only after their blobs and layers exist; names only after their records.
// Mutations run one at a time (exclusive()), and none of them ever waits on a client: loads,
// saves, pulls and pushes do their slow part outside the queue, with what they need pinned
// (store-archive.ts, store-registry.ts).
// The registry client (https, tls, dns) and the archive reader and writer (tar, zlib) load
// on first use: a daemon that only runs containers never holds them (~3 MB of RSS). Those two
// modules import them lazily; the store lends them its internals (store-ops.ts).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { isKind } from '../common/errors.js';
import { mkdirp } from '../common/fsutil.js';
import { NO_FAULTS, type Faults } from '../common/faults.js';
import { removeUnusedLayers, undoCrashedPulls } from './sweep.js';
import type { SnapshotDriver } from '../storage/types.js';
import { ImageCatalog } from './catalog.js';
import { ContentStore } from './content.js';
import { PullJournal } from './journal.js';
import { LayerSources } from './layer-sources.js';
import { Pins } from './pins.js';
import { pruneParents, removeImage, untagName, type RemovalOps, type RemoveResult } from './removal.js';
import type { CommitSpec, HistoryItem, ImportSpec, LayerFiles } from './commit.js';
import { blobsOf, createdTime, toPublic, type NewImage, type StoredImage } from './records.js';
import { familiarString, parseTagTarget } from './reference.js';
import { compareStrings } from '../common/compare.js';
import type { ImageRecord, ImageStore, LoadOptions, LoadProgress, PruneOptions, PruneResult, PushOptions, PushResult, RemoveOptions, StoreUsage } from './types.js';
import type { AuthConfig } from './registry/auth.js';
import type { DistributionInspect } from './registry/inspect.js';
import type { RegistryOptions } from './registry/client.js';
import type { PullOptions, PullProgress, PullResult } from './registry/pull.js';
import { loadImages, saveImages } from './store-archive.js';
import type { StoreOps } from './store-ops.js';
import { StoreRegistry } from './store-registry.js';

export interface StoreOptions {
  /** insecure-registries, registry-mirrors and friends (daemon.json). */
  registry?: RegistryOptions;
  /** crash tests: TSULA_FAULT */
  faults?: Faults;
}

export class LocalImageStore implements ImageStore {
  private readonly content: ContentStore;
  private readonly catalog: ImageCatalog;
  private initialized?: Promise<void>;
  private queue: Promise<unknown> = Promise.resolve();
  /** Set once a mutation touched memory or disk: if it then fails, disk is re-read as the truth. */
  private dirty = false;
  private readonly journal: PullJournal;
  /**
   * Blobs that pulls and saves in progress need, and layers (chain ids) that pulls need. Two
   * sets: an uncompressed first layer's blob digest IS its chain id, and a save that pins
   * the blob must not keep an rmi from removing the layer.
   */
  private readonly blobPins = new Pins();
  private readonly layerPins = new Pins();
  private readonly faults: Faults;
  /** What store-archive.ts and store-registry.ts work with: the store's parts and mutations. */
  private readonly ops: StoreOps;
  /** The registry client and puller, made on first use. */
  private readonly registry: StoreRegistry;

  constructor(readonly root: string, private readonly driver: SnapshotDriver, opts: StoreOptions = {}) {
    this.content = new ContentStore(root);
    this.catalog = new ImageCatalog(root);
    this.journal = new PullJournal(path.join(root, 'pulls'));
    this.faults = opts.faults ?? NO_FAULTS;
    this.ops = {
      catalog: this.catalog, content: this.content, driver, journal: this.journal, sources: new LayerSources(root),
      blobPins: this.blobPins, layerPins: this.layerPins,
      faults: this.faults,
      exclusive: (fn) => this.exclusive(fn),
      markDirty: () => { this.dirty = true; },
      collectBlobs: (c) => this.collectBlobs(c),
      usedChainIds: () => this.usedChainIds(),
    };
    this.registry = new StoreRegistry(this.ops, opts.registry);
  }

  /** Idempotent; every other method calls it first. */
  init(): Promise<void> {
    this.initialized ??= this.doInit(true).catch((e: unknown) => { this.initialized = undefined; throw e; });
    return this.initialized;
  }

  /** Pull from a registry (see registry/pull.ts); resolves once the image is recorded. */
  async pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    await this.init();
    return this.registry.pull(ref, opts);
  }

  /** Pull every tag of a repository. */
  async pullAllTags(name: string, opts: PullOptions = {}): Promise<PullResult[]> {
    await this.init();
    return this.registry.pullAllTags(name, opts);
  }

  /**
   * Push name:tag (every local tag of name when tag is empty) to its registry; each pushed
   * image gets name@digest among its RepoDigests, as dockerd records it.
   */
  async push(name: string, tag: string, opts: PushOptions): Promise<PushResult[]> {
    await this.init();
    return this.registry.push(name, tag, opts);
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

  /** What a registry serves under a name (GET /distribution/{name}/json); nothing is pulled. */
  async inspectRemote(ref: string, auth?: AuthConfig): Promise<DistributionInspect> {
    return this.registry.inspect(ref, auth);
  }

  /** Check credentials against a registry (POST /auth). */
  async checkLogin(auth: AuthConfig): Promise<void> {
    return this.registry.checkLogin(auth);
  }

  /** Remove dangling images (no tag), or with `all` every image no container uses. */
  async prune(opts: PruneOptions): Promise<PruneResult> {
    await this.init();
    return this.exclusive(async () => {
      const before = this.layersSize();
      const deleted: RemoveResult = [];
      // what the filters let through (until, label, label!)
      const selected = (img: ImageRecord) => (opts.until === undefined || createdTime(img) < opts.until)
        && Object.entries(opts.labels ?? {}).every(([k, v]) => {
          const have = img.config.Labels?.[k];
          return v === undefined ? have !== undefined : have === v;
        })
        && (!opts.labelsOk || opts.labelsOk(img.config.Labels));
      const victims = [...this.images.values()].filter((img) =>
        // an image a commit was made from is no dangling image (dockerd's intermediate)
        (opts.all || img.repoTags.length === 0) && !opts.inUse(img.id) && !this.catalog.hasChildren(img.id) && selected(img));
      // -a and an image a container uses: dockerd deletes its references one by one in lexical
      // order, and the delete of the last fails (the image is in use): all tags but that one go
      if (opts.all) {
        for (const img of this.images.values()) {
          if (!opts.inUse(img.id) || img.repoTags.length < 2 || !selected(img)) continue;
          // (each as its rmi: a repository left without a tag loses its digest references)
          for (const t of [...img.repoTags].sort(compareStrings).slice(0, -1)) deleted.push(...(await untagName(this.removal, img, t)));
        }
      }
      for (const img of victims.sort((a, b) => createdTime(b) - createdTime(a))) {
        const tags = [...img.repoTags];
        if (tags.length) await this.untag(tags);
        deleted.push(...tags.map((n) => ({ Untagged: n })));
        deleted.push(...img.repoDigests.map((n) => ({ Untagged: n })));
        deleted.push(...(await this.deleteImage(img)), ...(await pruneParents(this.removal, img, opts.inUse)));
      }
      // dockerd's ImagesPrune sums the DiffSize of the layers it deleted: an image that adds no
      // layer (a LABEL) reclaims 0B, whatever its config and kept blobs weigh (so no blob is stat'ed)
      return { deleted, reclaimed: Math.max(0, before - this.layersSize()) };
    });
  }

  /** docker commit: see ImageStore.commit (the layer is written out before the lock). */
  commit(layer: AsyncIterable<Buffer>, spec: CommitSpec, tag?: string): Promise<string> {
    return this.addMade(layer, tag, async (files) => {
      const { commitImage } = await import('./commit.js');
      return commitImage({ driver: this.driver, content: this.content }, spec.parent ? this.catalog.resolve(spec.parent).image : null, files, spec);
    });
  }

  /** docker import: see ImageStore.import. */
  import(layer: AsyncIterable<Buffer>, spec: ImportSpec, tag?: string): Promise<string> {
    return this.addMade(layer, tag, async (files) => {
      const { importImage } = await import('./commit.js');
      return importImage({ driver: this.driver, content: this.content }, files, spec);
    });
  }

  /** An image made here from `layer`: written out first, then made and recorded under the lock. */
  private async addMade(layer: AsyncIterable<Buffer>, tag: string | undefined,
    make: (files: LayerFiles) => Promise<{ image: NewImage; created: string | null }>): Promise<string> {
    await this.init();
    const name = tag ? familiarString(parseTagTarget(tag)) : undefined;
    const dir = await this.content.tempDir('commit');
    try {
      const { writeLayer } = await import('./commit.js');
      const files = await writeLayer(layer, dir);
      return await this.exclusive(async () => {
        const { image, created } = await make(files);
        try {
          this.dirty = true;
          if (name) image.lastTagTime = new Date().toISOString(); // dockerd tags it: LastTagTime
          await this.catalog.record([{ image, names: name ? [name] : [] }]);
          await this.catalog.writeRepos();
        } catch (e) {
          if (created) await this.driver.removeLayer(created).catch(() => undefined);
          throw e;
        }
        return image.id;
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async configBlob(ref: string): Promise<Record<string, unknown> | null> {
    await this.init();
    const { image } = this.catalog.resolve(ref);
    return this.content.readJson<Record<string, unknown>>(image.id).catch(() => null);
  }

  async history(ref: string): Promise<HistoryItem[]> {
    await this.init();
    const { imageHistory } = await import('./commit.js');
    return imageHistory(this.content, this.catalog.resolve(ref).image, (id) => this.images.get(id));
  }

  /** What the store holds and the space it takes (layers as unpacked, blobs as stored). */
  async usage(): Promise<StoreUsage> {
    await this.init();
    return this.usageNow();
  }

  /** Drop idle registry connections (at daemon shutdown). */
  close(): void {
    this.registry.close();
  }

  async list(): Promise<ImageRecord[]> {
    await this.init();
    return [...this.images.values()].sort((a, b) => createdTime(b) - createdTime(a)).map(toPublic);
  }

  async get(ref: string): Promise<ImageRecord> {
    await this.init();
    return toPublic(this.catalog.resolve(ref).image);
  }

  async load(input: Readable, onProgress?: (p: LoadProgress) => void, onRename?: (name: string, oldId: string) => void, opts: LoadOptions = {}): Promise<string[]> {
    await this.init();
    return loadImages(this.ops, input, onProgress, onRename, opts);
  }

  async save(refs: string[], out: Writable): Promise<void> {
    await this.init();
    return saveImages(this.ops, refs, out);
  }

  async tag(source: string, target: string): Promise<string> {
    await this.init();
    const parsed = parseTagTarget(target);
    return this.exclusive(async () => {
      const { image } = this.catalog.resolve(source);
      const name = familiarString(parsed);
      const changed = new Set<string>([image.id]);
      this.dirty = true;
      // dockerd stamps the image at every tag, one it had already included
      image.lastTagTime = new Date().toISOString();
      this.catalog.setName(name, image.id, changed);
      for (const id of changed) await this.catalog.writeRecord(id);
      await this.catalog.writeRepos();
      return image.id;
    });
  }

  async remove(ref: string, opts: RemoveOptions): Promise<RemoveResult> {
    await this.init();
    return this.exclusive(() => removeImage(this.removal, ref, opts));
  }

  /** What removal.ts works with: the catalog and the store's own mutations. */
  private get removal(): RemovalOps {
    return {
      catalog: this.catalog, untag: (n) => this.untag(n), deleteImage: (i) => this.deleteImage(i),
      dropDigests: async (id, d) => { this.dirty = true; await this.catalog.dropDigests(id, d); },
    };
  }

  // ---- internals --------------------------------------------------------------------------

  private get images(): Map<string, StoredImage> { return this.catalog.images; }

  /**
   * Read records and names from disk. At start-up (`first`) also empty ingest/ and undo
   * crashed pulls; a re-read after a failed mutation must not: pulls may be running.
   */
  private async doInit(first = false): Promise<void> {
    await mkdirp(this.root);
    if (first) await this.content.init();
    const unreadable = await this.catalog.read();
    // Blobs of a load that crashed before writing its record belong to nobody. With a record
    // we could not read, we cannot tell what it needs: then keep everything.
    if (unreadable === 0 && first) {
      // what crashes left (sweep.ts): none of it is any record's
      await undoCrashedPulls(this.journal, this.catalog.chainIdsInUse(), this.driver);
      await removeUnusedLayers(this.catalog.chainIdsInUse(), this.driver);
      await this.ops.sources.prune(new Set([...this.images.values()].flatMap((i) => i.layers.map((l) => l.diffId))));
    }
    if (unreadable === 0) await this.collectBlobs(await this.content.list());
  }

  /** Chain ids some image records or some pull in progress need. */
  private usedChainIds(): Set<string> {
    const used = this.catalog.chainIdsInUse();
    for (const k of this.layerPins.keys()) used.add(k);
    return used;
  }

  private async usageNow(): Promise<StoreUsage> {
    let blobsSize = 0;
    const blobs = await this.content.list();
    for (const b of blobs) blobsSize += await this.content.size(b).catch(() => 0);
    const layers = this.layerSizes();
    return { images: this.images.size, layers: layers.size, layersSize: this.layersSize(layers), blobs: blobs.length, blobsSize };
  }

  /** Each layer once (images share them), by chain id: its size. */
  private layerSizes(): Map<string, number> {
    const layers = new Map<string, number>();
    for (const img of this.images.values()) for (const l of img.layers) layers.set(l.chainId, l.size);
    return layers;
  }

  private layersSize(layers = this.layerSizes()): number {
    return [...layers.values()].reduce((a, b) => a + b, 0);
  }

  /** Run mutations one at a time (never around a wait on a client: see the top of the file). */
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

  private async untag(names: string[]): Promise<void> {
    this.dirty = true;
    await this.catalog.untag(names);
  }

  /** Delete an image that has no names left, then whatever only it used. */
  private async deleteImage(image: StoredImage): Promise<RemoveResult> {
    const out: RemoveResult = [];
    this.dirty = true;
    await this.catalog.deleteRecord(image.id);
    this.faults.hit('rmi:after-record');
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
    const referenced = this.catalog.blobsInUse();
    for (const b of new Set(candidates)) if (!referenced.has(b) && !this.blobPins.has(b)) await this.content.delete(b);
  }
}
