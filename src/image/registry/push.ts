// Push an image to its registry, as dockerd's distribution push does: for each layer, a blob
// the registry holds already or can mount from another repository (what pulls and pushes
// recorded of it, layer-sources.ts; the order is mount-plan.ts's), else the layer's own blob
// (HEAD, then POST an upload and PUT it with its digest); then the config, then the
// manifest under the tag. Every blob the target ends up holding is recorded as a source of
// its layer. Layers kept uncompressed (loaded from a docker-archive, or committed) are
// gzipped into a temporary file first, as docker compresses what it pushes (xz and bzip2
// ones from a docker-archive too, decompressed on the way); gzip and zstd blobs go as
// stored, and a mounted or found blob keeps its own media type. The manifest is docker's
// schema 2 unless a layer is zstd (OCI only). Progress is in docker's vocabulary
// ("Preparing", "Pushing", "Pushed", "Layer already exists", "Mounted from REPO").
import { createHash } from '../../common/crypto.js';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { deadlineExceeded, errorMessage, invalidArgument, notFound, unauthenticated, unavailable } from '../../common/errors.js';
import type { ContentStore } from '../content.js';
import { legacySource, type LayerSource } from '../layer-sources.js';
import { decompress } from '../decompress.js';
import { MEDIA_TYPES } from '../layers.js';
import type { StoredLayer } from '../records.js';
import type { ParsedReference } from '../reference.js';
import { RegistryAuthError, type AuthConfig } from './auth.js';
import { registryErrorText, type Body, type Endpoint, type RegistryClient } from './client.js';
import { attempts, existenceChecks, isTarget, layerTypeIn, mountCandidates, type PushTarget } from './mount-plan.js';
import type { PullProgress } from './pull.js';

/** Where layers live on registries, as the store keeps it (LayerSources). */
export interface PushSources {
  /** Oldest first. */
  get(diffId: string): Promise<LayerSource[]>;
  add(entries: Array<{ diffId: string; source: LayerSource }>): Promise<void>;
  remove(diffId: string, s: LayerSource): Promise<void>;
}

export interface PushSource {
  /** The image id: its config blob's digest. */
  configDigest: string;
  layers: StoredLayer[];
}

export interface PushResult { tag: string; digest: string; size: number }

interface Blob { digest: string; size: number; mediaType: string; open: () => import('node:stream').Readable }

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** A blob the registry has already: nothing of it is uploaded. */
const remote = (s: { digest: string; size: number; mediaType: string }): Blob => ({
  digest: s.digest, size: s.size, mediaType: s.mediaType, open: () => { throw new Error('a remote blob is not uploaded'); },
});

export class Pusher {
  private readonly ep: Endpoint;
  private readonly scope: string;
  private readonly target: PushTarget;
  /** Layers this push has settled, by diff id (an image may hold one layer twice). */
  private readonly settled = new Map<string, Blob>();

  constructor(private readonly client: RegistryClient, private readonly content: ContentStore, private readonly ref: ParsedReference,
    private readonly auth: AuthConfig | undefined, private readonly progress: (p: PullProgress) => void, private readonly signal?: AbortSignal,
    private readonly sources?: PushSources) {
    // pushes go to the registry itself: mirrors are pull-only
    this.ep = client.endpoints(ref.domain).at(-1)!;
    this.scope = `repository:${ref.path}:pull,push`;
    this.target = { registry: ref.domain, repository: ref.path };
  }

  async push(src: PushSource, tag: string): Promise<PushResult> {
    const tmp = await this.content.tempDir('push');
    try {
      const layers: Blob[] = [];
      for (const l of src.layers) this.progress({ id: short(l.diffId), status: 'Preparing' });
      for (const l of src.layers) {
        this.check();
        layers.push(await this.layer(l, tmp));
      }
      const oci = layers.some((b) => b.mediaType === MEDIA_TYPES.ociLayerZstd);
      const configPath = this.content.blobPath(src.configDigest);
      const config: Blob = {
        digest: src.configDigest, size: (await fs.stat(configPath)).size,
        mediaType: oci ? MEDIA_TYPES.ociConfig : MEDIA_TYPES.dockerConfig, open: () => createReadStream(configPath),
      };
      if (!(await this.exists(config.digest))) await this.upload(config);
      const manifest = {
        schemaVersion: 2,
        mediaType: oci ? MEDIA_TYPES.ociManifest : MEDIA_TYPES.dockerManifest,
        config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
        layers: layers.map((b) => ({ mediaType: layerTypeIn(b.mediaType, oci), size: b.size, digest: b.digest })),
      };
      // docker's own indentation, so the same image pushed by docker gets the same digest
      const body = Buffer.from(JSON.stringify(manifest, null, 3));
      this.check(); // a cancelled push tags nothing
      const res = await this.client.request(this.ep, `/v2/${this.ref.path}/manifests/${tag}`, {
        method: 'PUT', scope: this.scope, creds: this.auth, headers: { 'Content-Type': manifest.mediaType }, body,
      });
      if (res.statusCode !== 201 && res.statusCode !== 200) throw await this.statusError(res, `manifest ${this.ref.name}:${tag}`);
      res.resume();
      const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
      return { tag, digest, size: body.length };
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }

  private check(): void {
    if (this.signal?.aborted) throw deadlineExceeded(`push of ${this.ref.name} cancelled: its client went away`);
  }

  /**
   * One layer, as dockerd's pushDescriptor.Upload: a known blob the target holds (one HEAD
   * first), a mount from another repository of the registry, more HEADs for a big layer,
   * then the layer's own blob (HEAD, upload). A mount the registry answers with an upload
   * (202) leaves that upload for ours; a failed mount is forgotten as a source.
   */
  private async layer(l: StoredLayer, tmp: string): Promise<Blob> {
    const id = short(l.diffId);
    const done = this.settled.get(l.diffId);
    if (done) {
      this.progress({ id, status: 'Layer already exists' });
      return done;
    }
    const legacy = legacySource(l);
    const known = [...(legacy ? [legacy] : []), ...((await this.sources?.get(l.diffId)) ?? [])];
    const budget = attempts(l.diffSize || l.size);
    const checked = new Set<string>();
    let found = await this.knownExisting(l, known, true, 1, checked);
    if (found) return this.settle(l, found, 'Layer already exists');
    let session: string | undefined;
    try {
      for (const c of mountCandidates(known, this.target, budget.mounts, l.blob)) {
        this.check();
        const r = await this.mount(c);
        if (r.mounted) return this.settle(l, remote(c), `Mounted from ${c.repository}`);
        if (r.location) {
          if (session) await this.cancel(session);
          session = r.location;
        }
        // moby keeps a source only when the refusal may be for want of a login
        if (!(r.status === 401 && !this.hasCredentials())) await this.forget(l, c);
      }
      if (budget.checks > checked.size) {
        found = await this.knownExisting(l, known, budget.checkOther, budget.checks - checked.size, checked);
        if (found) return this.settle(l, found, 'Layer already exists');
      }
      const blob = await this.layerBlob(l, tmp);
      if (!checked.has(blob.digest) && (await this.exists(blob.digest))) return this.settle(l, blob, 'Layer already exists');
      const location = session;
      session = undefined; // the upload uses it (and a failed one is the registry's to expire)
      await this.upload(blob, id, location);
      return this.settle(l, blob, 'Pushed');
    } finally {
      if (session) await this.cancel(session);
    }
  }

  /** A known blob of the layer the target repository holds, HEADing at most `max` digests. */
  private async knownExisting(l: StoredLayer, known: LayerSource[], checkOther: boolean, max: number, checked: Set<string>): Promise<Blob | undefined> {
    for (const c of existenceChecks(known, this.target, checkOther, max, checked, l.blob)) {
      this.check();
      checked.add(c.digest);
      if (await this.exists(c.digest)) return remote(c);
      if (isTarget(c, this.target)) await this.forget(l, c); // gone from there (deleted, or the registry was reset)
    }
    return undefined;
  }

  /** The layer's blob is in the target now: say so, remember it for this push and for later ones. */
  private async settle(l: StoredLayer, blob: Blob, status: string): Promise<Blob> {
    this.progress({ id: short(l.diffId), status });
    this.settled.set(l.diffId, blob);
    const source: LayerSource = { digest: blob.digest, mediaType: blob.mediaType, size: blob.size, ...this.target };
    // a lost record costs a later upload, not this push (dockerd fails the push on it)
    await this.sources?.add([{ diffId: l.diffId, source }]).catch((e: unknown) =>
      this.client.opts.debug?.(`push ${this.ref.name}: could not record layer ${l.diffId} at ${blob.digest}: ${errorMessage(e)}`));
    return blob;
  }

  private async forget(l: StoredLayer, s: LayerSource): Promise<void> {
    await this.sources?.remove(l.diffId, s).catch(() => undefined);
  }

  private hasCredentials(): boolean {
    const a = this.auth;
    return !!(a && (a.username || a.password || a.auth || a.identitytoken || a.registrytoken));
  }

  /**
   * POST /v2/<target>/blobs/uploads/?mount=<digest>&from=<source>. The token asks for pull on
   * the source too (a mount reads it). 201: mounted; 202: the registry started an upload
   * instead (its Location); anything else, or no answer: not mounted.
   */
  private async mount(c: LayerSource): Promise<{ mounted: boolean; status: number; location?: string }> {
    try {
      const res = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/uploads/?mount=${encodeURIComponent(c.digest)}&from=${encodeURIComponent(c.repository)}`, {
        method: 'POST', scope: `${this.scope} repository:${c.repository}:pull`, creds: this.auth, body: '',
      });
      const status = res.statusCode ?? 0;
      if (status !== 201 && status !== 202) {
        this.client.opts.debug?.(`push ${this.ref.name}: mounting ${c.digest} from ${c.repository} failed: ${status} ${await registryErrorText(res)}`);
        return { mounted: false, status };
      }
      res.resume();
      return { mounted: status === 201, status, ...(status === 202 && res.headers.location ? { location: res.headers.location } : {}) };
    } catch (e) {
      this.check();
      this.client.opts.debug?.(`push ${this.ref.name}: mounting ${c.digest} from ${c.repository} failed: ${errorMessage(e)}`);
      // credentials the registry wants and we lack: a 401 as far as the source is concerned
      return { mounted: false, status: e instanceof RegistryAuthError ? 401 : 0 };
    }
  }

  /** Give an upload session back (moby's cancelLayerUpload); the registry expires it anyway. */
  private async cancel(location: string): Promise<void> {
    const res = await this.client.request(this.ep, this.uploadTarget(location), { method: 'DELETE', scope: this.scope, creds: this.auth }).catch(() => undefined);
    res?.resume();
  }

  /** An upload's Location as a request path: absolute, or a path on the registry itself (its scheme is the client's to pick). */
  private uploadTarget(location: string, digest?: string): string {
    const url = new URL(location, `http://${this.ep.host}`);
    if (digest) url.searchParams.set('digest', digest);
    return /^https?:\/\//i.test(location) ? url.toString() : `${url.pathname}${url.search}`;
  }

  /** The blob to push for a layer: the stored one when gzip or zstd, else a gzip of it in `tmp`. */
  private async layerBlob(l: StoredLayer, tmp: string): Promise<Blob> {
    const stored = this.content.blobPath(l.blob);
    if (l.compression === 'gzip' || l.compression === 'zstd') {
      const mediaType = l.compression === 'zstd' ? MEDIA_TYPES.ociLayerZstd : MEDIA_TYPES.dockerLayerGzip;
      return { digest: l.blob, size: l.blobSize || (await fs.stat(stored)).size, mediaType, open: () => createReadStream(stored) };
    }
    const file = path.join(tmp, l.blob.replace(/^sha256:/, ''));
    const hash = createHash('sha256');
    let size = 0;
    const count = new Transform({ transform(chunk: Buffer, _e, cb) { hash.update(chunk); size += chunk.length; cb(null, chunk); } });
    // (a layer loaded xz or bzip2-compressed is decompressed first: registries take gzip or zstd)
    await pipeline(decompress(createReadStream(stored), l.compression, `layer ${l.diffId}`, this.signal), createGzip(), count,
      createWriteStream(file, { mode: 0o600 }));
    return { digest: `sha256:${hash.digest('hex')}`, size, mediaType: MEDIA_TYPES.dockerLayerGzip, open: () => createReadStream(file) };
  }

  private async exists(digest: string): Promise<boolean> {
    const res = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/${digest}`, { method: 'HEAD', scope: this.scope, creds: this.auth });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.statusError(res, `blob ${digest}`);
  }

  /** A monolithic upload: POST for a location (unless one is open already), PUT the bytes there with the digest. */
  private async upload(blob: Blob, id?: string, location?: string): Promise<void> {
    if (!location) {
      const start = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/uploads/`, {
        method: 'POST', scope: this.scope, creds: this.auth, body: '',
      });
      if (start.statusCode !== 202) throw await this.statusError(start, `upload of ${blob.digest}`);
      start.resume();
      location = start.headers.location;
      if (!location) throw unavailable(`registry ${this.ep.host} started an upload without a Location`);
    }
    const target = this.uploadTarget(location, blob.digest);
    let sent = 0;
    const body: Body = {
      length: blob.size,
      open: () => {
        sent = 0;
        const s = blob.open();
        if (id) {
          let last = 0;
          s.on('data', (c: Buffer) => {
            sent += c.length;
            const now = Date.now();
            if (now - last >= 100 || sent === blob.size) { last = now; this.progress({ id, status: 'Pushing', current: sent, total: blob.size }); }
          });
        }
        return s;
      },
    };
    // the client going away stops the bytes under way too, not only the blobs after them
    const res = await this.client.request(this.ep, target, {
      method: 'PUT', scope: this.scope, creds: this.auth, headers: { 'Content-Type': 'application/octet-stream' }, body, ...(this.signal ? { signal: this.signal } : {}),
    }).catch((e: unknown) => { this.check(); throw e; });
    if (res.statusCode !== 201) throw await this.statusError(res, `blob ${blob.digest}`);
    res.resume();
  }

  private async statusError(res: import('node:http').IncomingMessage, what: string): Promise<Error> {
    const status = res.statusCode ?? 0;
    const text = await registryErrorText(res);
    // dockerd prints the registry's own words: "denied: requested access to the resource is denied"
    if (status === 401 || status === 403) return unauthenticated(text);
    if (status === 404) return notFound(`${what}: ${text}`);
    if (status === 400) return invalidArgument(`registry ${this.ep.host} refused ${what}: ${text}`);
    return unavailable(`registry ${this.ep.host} answered ${status} for ${what}: ${text}`);
  }
}
