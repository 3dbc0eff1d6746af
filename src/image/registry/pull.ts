// Pull an image: resolve the reference to a manifest (choosing a platform in an index),
// fetch the config, then download the missing layer blobs (at most 3 at a time across the
// daemon) while unpacking them in order, each straight from its growing download file.
// Downloads are shared by blob digest and unpacks by chain id, so concurrent pulls do
// the work once. The store writes the record only when every layer and blob is in place;
// a failed pull gives back what it created, and a journal covers a crash.
import { promises as fs } from 'node:fs';
import { Readable } from 'node:stream';
import { deadlineExceeded, errorMessage, invalidArgument, notFound, withContext } from '../../common/errors.js';
import { throttleProgress } from '../../common/progress.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { ContentStore } from '../content.js';
import type { JournalEntry, PullJournal } from '../journal.js';
import { decompressByContent } from '../decompress.js';
import { legacySource, type LayerSource } from '../layer-sources.js';
import { chainIds, drainLayer, openLayer } from '../layers.js';
import type { NewImage, StoredLayer } from '../records.js';
import { DEFAULT_TAG, familiarString, parseReference, type ParsedReference } from '../reference.js';
import type { ImageConfig } from '../types.js';
import type { AuthConfig } from './auth.js';
import type { RegistryClient } from './client.js';
import { Repository, type Manifest } from './repository.js';
import { BlobDownload, Limiter } from './download.js';
import { countPlain, openBlob } from './blob-streams.js';
import {
  choosePlatform, formatPlatform, hostPlatform, MAX_CONFIG, parseImageConfig, parseManifest, parsePlatform,
  platformMatches, type Descriptor, type ImageManifest,
} from './manifest.js';

/** One progress event, in docker's vocabulary ("Downloading", "Pull complete", …). */
export interface PullProgress { id?: string; status: string; current?: number; total?: number }

export interface PullOptions {
  /** os/arch[/variant]; default: the host's. */
  platform?: string;
  auth?: AuthConfig;
  onProgress?: (p: PullProgress) => void;
  /**
   * The client went away (docker pull's Ctrl-C, a CRI PullImage's deadline): the pull stops
   * at its next step, drops the downloads only it wanted and gives back what it made; an
   * image is never recorded after it fired.
   */
  signal?: AbortSignal;
}

export interface PullResult {
  /** What was pulled, as docker names it: busybox:latest, or name@digest. */
  ref: string;
  id: string;
  digest: string;
  /** Whether anything changed: new layers, a new image, or a name that moved. */
  updated: boolean;
}

/** What the pull needs from the image store. */
export interface PullHost {
  readonly content: ContentStore;
  readonly driver: SnapshotDriver;
  readonly journal: PullJournal;
  /** Layers of a stored image with this id whose layers and blobs are all in place. */
  completeImage(id: string): Promise<StoredLayer[] | undefined>;
  /** A stored layer with this chain id whose blob is in the content store. */
  layerWithBlob(chainId: string): Promise<StoredLayer | undefined>;
  /** Keep these blobs and layers from garbage collection until the release is called. */
  pin(keys: { blobs?: string[]; chainIds?: string[] }): () => void;
  /** Record where layers live on a registry (layer-sources.ts). */
  addSources(entries: Array<{ diffId: string; source: LayerSource }>): Promise<void>;
  /** Write the record and the name, then release. */
  commitPull(image: NewImage, names: { tag?: string; repoDigest: string }, release: () => void): Promise<{ updated: boolean }>;
  /** Release, then delete `created` layers and `blobs` that nothing references. */
  abortPull(created: string[], blobs: string[], release: () => void): Promise<void>;
}

const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);
/** dockerd's last line of a pull: of one reference, or (pull -a) of the repository. */
const finalStatus = (updated: boolean, what: string): PullProgress => ({ status: `Status: ${updated ? 'Downloaded newer image' : 'Image is up to date'} for ${what}` });

interface Job {
  layer: StoredLayer;
  /** Settles when the layer is unpacked (or known to be). */
  done: Promise<void>;
}

export class Puller {
  private readonly downloads = new Map<string, BlobDownload>();
  private readonly applies = new Map<string, Promise<number>>();
  private readonly limiter: Limiter;

  constructor(private readonly host: PullHost, private readonly client: RegistryClient, concurrency = 3) {
    this.limiter = new Limiter(concurrency);
  }

  /** Pull every tag of a repository (docker's --all-tags). */
  async pullAllTags(name: string, opts: PullOptions = {}): Promise<PullResult[]> {
    const parsed = parseReference(name);
    if (parsed.tag || parsed.digest) throw invalidArgument(`tag can't be used with --all-tags/-a`);
    const tags = await new Repository(this.client, parsed, opts.auth).tags();
    if (!tags.length) throw notFound(`repository ${parsed.name} has no tags`);
    const out: PullResult[] = [];
    for (const t of tags) out.push(await this.pullOne(`${parsed.name}:${t}`, opts, false));
    // dockerd's pullV2Repository: one status for the repository, after its last tag
    opts.onProgress?.(finalStatus(out.some((r) => r.updated), parsed.name));
    return out;
  }

  pull(ref: string, opts: PullOptions = {}): Promise<PullResult> {
    return this.pullOne(ref, opts, true);
  }

  private async pullOne(ref: string, opts: PullOptions, status: boolean): Promise<PullResult> {
    const parsed = parseReference(ref);
    const reference = parsed.digest ?? parsed.tag ?? DEFAULT_TAG;
    const tagged: ParsedReference | undefined = parsed.digest ? undefined : { ...parsed, tag: reference };
    const label = tagged ? familiarString(tagged) : familiarString(parsed);
    const emit = opts.onProgress ?? (() => undefined);
    const want = opts.platform ? parsePlatform(opts.platform) : undefined;
    const repo = new Repository(this.client, parsed, opts.auth);
    const signal = opts.signal;
    const cancelled = () => deadlineExceeded(`pull of ${label} cancelled: its client went away`);
    const check = () => { if (signal?.aborted) throw cancelled(); };

    check();
    const top = await this.topManifest(repo, reference, !parsed.digest);
    let raw = top;
    let m = parseManifest(top.body, top.mediaType, label);
    const fromIndex = m.kind === 'index';
    if (m.kind === 'index') {
      const d = choosePlatform(m, want ?? hostPlatform(), label);
      raw = (await this.stored(d.digest, d.mediaType)) ?? await repo.manifest(d.digest);
      m = parseManifest(raw.body, raw.mediaType, `${label} (${d.digest})`);
      if (m.kind !== 'manifest') throw invalidArgument(`${label}: the index entry ${d.digest} is an index itself`);
    }
    const manifest = m;
    check();
    emit({ id: reference, status: `Pulling from ${parsed.path}` });

    const releases = [this.host.pin({ blobs: [raw.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)] })];
    const releaseAll = () => { for (const r of releases.splice(0)) r(); };
    const created: string[] = [];
    const mine: BlobDownload[] = [];
    const journal = await this.host.journal.begin();
    let unpacking: Promise<unknown> | undefined;
    try {
      const config = parseImageConfig(await this.config(repo, manifest.config), manifest.layers.length, label);
      const actual = { os: config.os ?? '', architecture: config.architecture ?? '', variant: config.variant };
      if (want && !fromIndex && !platformMatches(want, actual)) {
        throw notFound(`image with reference ${label} was found but its platform (${formatPlatform(actual)}) does not match the specified platform (${formatPlatform(want)})`);
      }
      const diffIds = config.rootfs.diff_ids;
      const chain = chainIds(diffIds);
      releases.push(this.host.pin({ chainIds: chain }));
      const id = manifest.config.digest;
      let downloaded = false;
      let layers = await this.host.completeImage(id);
      if (!layers) {
        const run = this.layers(repo, manifest, diffIds, chain, journal, created, mine, throttleProgress(emit, (p) => `${p.id}\0${p.status}`, (p) => p.current !== undefined && p.total !== undefined && p.current < p.total));
        unpacking = run;
        const r = await untilAborted(run, signal, cancelled);
        layers = r.layers;
        downloaded = r.downloaded;
      }
      // the manifests are kept (an index too): the next pull of the tag needs only a HEAD
      for (const x of raw === top ? [raw] : [top, raw]) {
        if (!(await this.host.content.has(x.digest))) await this.host.content.ingest(Readable.from([x.body]), `manifest ${x.digest}`, { digest: x.digest, size: x.body.length });
      }
      // Where the layers live: what older records kept of one (StoredLayer.remote) as the oldest
      // source, then this repository, for every layer (moby registers one that "Already exists" too).
      const sources = layers.flatMap((l) => { const s = legacySource(l); return s ? [{ diffId: l.diffId, source: s }] : []; });
      layers = layers.map(ownLayer);
      manifest.layers.forEach((d, i) => sources.push({
        diffId: diffIds[i]!, source: { digest: d.digest, mediaType: d.mediaType, size: d.size, registry: parsed.domain, repository: parsed.path },
      }));
      const image: NewImage = {
        id,
        created: config.created ?? '',
        size: layers.reduce((n, l) => n + l.size, 0),
        architecture: config.architecture ?? '',
        os: config.os ?? '',
        config: (config.config ?? {}) as ImageConfig,
        rootfs: { type: 'layers', diffIds: [...diffIds] },
        chainIds: chain,
        manifest: { digest: raw.digest, mediaType: manifest.mediaType, size: raw.body.length },
        layers,
      };
      const repoDigest = `${parsed.name}@${top.digest}`;
      check();
      const { updated } = await this.host.commitPull(image, { tag: tagged ? familiarString(tagged) : undefined, repoDigest }, releaseAll);
      await journal.end();
      // a lost record costs a push an upload later, not this pull
      await this.host.addSources(sources).catch((e: unknown) => this.client.opts.debug?.(`pull ${label}: could not record where its layers live: ${errorMessage(e)}`));
      const shown = tagged ? familiarString(tagged) : repoDigest;
      emit({ status: `Digest: ${top.digest}` });
      if (status) emit(finalStatus(updated || downloaded, shown));
      return { ref: shown, id, digest: top.digest, updated: updated || downloaded };
    } catch (e) {
      // Stop what only this pull wanted, let the rest settle, then give back what it made.
      for (const dl of mine) dl.drop();
      await Promise.allSettled(mine.map((dl) => dl.done));
      // a cancelled pull's unpacking settles first: what it still creates is given back too
      await unpacking?.catch(() => undefined);
      await this.host.abortPull(created, [raw.digest, manifest.config.digest, ...manifest.layers.map((l) => l.digest)], releaseAll).catch(() => undefined);
      releaseAll();
      await journal.end().catch(() => undefined);
      throw e;
    }
  }

  private async config(repo: Repository, d: Descriptor): Promise<Buffer> {
    if (d.size > MAX_CONFIG) throw invalidArgument(`image config ${d.digest} is ${d.size} bytes: too large`);
    const content = this.host.content;
    if (!(await content.has(d.digest))) {
      await content.ingest(await repo.blob(d.digest), `config ${d.digest}`, { digest: d.digest, size: d.size });
    }
    return fs.readFile(content.blobPath(d.digest));
  }

  /** Plan and run the layers: reuse what exists, download the rest, unpack bottom-up. */
  private async layers(
    repo: Repository, m: ImageManifest, diffIds: string[], chain: string[], journal: JournalEntry,
    created: string[], mine: BlobDownload[], emit: (p: PullProgress) => void,
  ): Promise<{ layers: StoredLayer[]; downloaded: boolean }> {
    const { content, driver } = this.host;
    const jobs: Job[] = [];
    let downloaded = false;
    let parentDone: Promise<void> = Promise.resolve();
    for (let i = 0; i < m.layers.length; i++) {
      const d = m.layers[i]!;
      const chainId = chain[i]!;
      const parent = i === 0 ? null : chain[i - 1]!;
      const id = short(d.digest);
      const label = `layer ${d.digest}`;
      const layer: StoredLayer = {
        diffId: diffIds[i]!, chainId, blob: d.digest, mediaType: d.mediaType, compression: d.compression,
        blobSize: d.size, diffSize: 0, size: 0,
      };
      const haveLayer = await driver.hasLayer(chainId);
      const known = haveLayer ? await this.host.layerWithBlob(chainId) : undefined;
      if (known) {
        emit({ id, status: 'Already exists' });
        jobs.push({ layer: known, done: Promise.resolve() });
        continue;
      }
      await journal.add(chainId);
      const haveBlob = await content.has(d.digest);
      let dl: BlobDownload | undefined;
      let verifying = false;
      if (!haveBlob) {
        dl = this.download(repo, d, label);
        mine.push(dl);
        downloaded = true;
        emit({ id, status: 'Pulling fs layer' });
        if (dl.state === 'waiting' && this.limiter.busy) emit({ id, status: 'Waiting' });
        const unwatch = dl.watch(() => {
          const wait = dl!.retryIn;
          if (wait > 0) emit({ id, status: `Retrying in ${wait} second${wait === 1 ? '' : 's'}` });
          else if (dl!.state !== 'running') unwatch();
          else {
            emit({ id, status: 'Downloading', current: dl!.written, total: d.size });
            // every byte is in: dockerd says so before it checks the digest
            if (dl!.written === d.size && !verifying) { verifying = true; emit({ id, status: 'Verifying Checksum' }); }
          }
        });
      }
      let read = 0;
      const onRead = (n: number) => {
        read += n;
        // While the download runs, its own progress tells the story; then the unpacking's.
        if (!dl || dl.state === 'done') emit({ id, status: 'Extracting', current: read, total: d.size });
      };
      const open = (): Readable => (dl ? dl.follow(onRead) : openBlob(content.blobPath(d.digest), onRead));
      const prev = parentDone;
      const done = (async () => {
        // both lines show without a terminal, as dockerd's
        if (dl) {
          void dl.done.then(() => {
            if (!verifying) emit({ id, status: 'Verifying Checksum' });
            emit({ id, status: 'Download complete' });
          }, () => undefined);
        }
        await prev;
        let size: number;
        let diffSize: number;
        try {
          if (haveLayer) {
            // Unpacked already but its blob is new: check the blob really is this layer.
            if (dl) await dl.done;
            const v = openLayer(content.blobPath(d.digest), d.compression, layer.diffId, label);
            // The driver only drains a layer it has; the stream fails if the diff id is wrong.
            size = (await driver.applyLayer(chainId, parent, v.stream)).size;
            diffSize = (await v.done).diffSize;
          } else {
            const started = !this.applies.has(chainId);
            const counter = { n: 0 };
            size = await this.applyOnce(chainId, parent, () => countPlain(decompressByContent(open(), d.compression, label), counter));
            if (started) created.push(chainId);
            diffSize = counter.n;
          }
        } catch (e) {
          // A digest mismatch explains a broken gzip or tar better than the unpacker can.
          const dlErr = dl ? await dl.done.then(() => undefined, (x: unknown) => x) : undefined;
          if (dlErr && !/cancelled/.test(errorMessage(dlErr))) throw withContext(dlErr, label);
          throw withContext(e, label); // a refused tar entry names the entry; this names the layer
        }
        if (dl) await dl.done;
        layer.size = size;
        layer.diffSize = diffSize || layer.diffSize;
        emit({ id, status: 'Pull complete' });
      })();
      done.catch(() => undefined);
      parentDone = done;
      jobs.push({ layer, done });
    }
    // The first failure wins; the others are waited for so nothing runs on after we return.
    const results = await Promise.allSettled(jobs.map((j) => j.done));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    // A layer shared with a running unpack of another pull reports its diff size as 0:
    // take it from the record that unpack leaves, or count it now.
    for (const j of jobs) {
      if (j.layer.diffSize === 0 && j.layer.blobSize > 0) {
        const known = await this.host.layerWithBlob(j.layer.chainId);
        if (known) j.layer.diffSize = known.diffSize;
        else j.layer.diffSize = (await drainLayer(openLayer(content.blobPath(j.layer.blob), j.layer.compression, j.layer.diffId, `layer ${j.layer.blob}`))).diffSize;
      }
    }
    return { layers: jobs.map((j) => j.layer), downloaded };
  }

  /**
   * The manifest a reference names. A tag is HEADed first, as dockerd does: a manifest this
   * host keeps by that digest is read here, else it is fetched by digest (or by tag, when the
   * registry's HEAD names none).
   */
  private async topManifest(repo: Repository, reference: string, isTag: boolean): Promise<Manifest> {
    const d = isTag ? await repo.head(reference) : undefined;
    if (!d) return repo.manifest(reference);
    return (await this.stored(d.digest, d.mediaType)) ?? repo.manifest(d.digest);
  }

  /** A manifest kept in the content store, read back (undefined when it is not there). */
  private async stored(digest: string, mediaType: string): Promise<Manifest | undefined> {
    if (!mediaType || !(await this.host.content.has(digest))) return undefined;
    const body = await fs.readFile(this.host.content.blobPath(digest)).catch(() => null);
    return body ? { body, mediaType, digest } : undefined;
  }

  /** The running download of a blob, or a new one (queued behind the limiter). */
  private download(repo: Repository, d: Descriptor, label: string): BlobDownload {
    let dl = this.downloads.get(d.digest);
    if (!dl || dl.state === 'failed') {
      const job = new BlobDownload(this.host.content, d.digest, d.size, label);
      job.onRetry = (e, n) => this.client.opts.debug?.(`${label}: download broke, resuming (attempt ${n}): ${e.message}`);
      this.downloads.set(d.digest, job);
      void this.limiter.run(() => job.run((offset) => repo.blob(d.digest, offset))).catch(() => undefined)
        .finally(() => { if (this.downloads.get(d.digest) === job) this.downloads.delete(d.digest); });
      dl = job;
    }
    dl.acquire();
    return dl;
  }

  /** Unpack a layer once, however many pulls want it at the same time. Resolves to its size. */
  private applyOnce(chainId: string, parent: string | null, open: () => Readable): Promise<number> {
    let p = this.applies.get(chainId);
    if (!p) {
      p = (async () => (await this.host.driver.applyLayer(chainId, parent, open())).size)();
      this.applies.set(chainId, p);
      const cleanup = () => { if (this.applies.get(chainId) === p) this.applies.delete(chainId); };
      p.then(cleanup, cleanup);
    }
    return p;
  }
}

/** A layer for this image's record: what older records kept of its registry blob (`remote`) is a source now. */
function ownLayer(l: StoredLayer): StoredLayer {
  const { remote: _legacy, ...own } = l;
  return own;
}

/** `p`, or the error `cancelled()` makes as soon as `signal` fires (p runs on: the caller settles it). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, cancelled: () => Error): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(cancelled());
  let onAbort!: () => void;
  const aborted = new Promise<never>((_, reject) => { onAbort = () => reject(cancelled()); });
  signal.addEventListener('abort', onAbort, { once: true });
  return Promise.race([p, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}
