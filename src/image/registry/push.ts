// Push an image to its registry, as dockerd's distribution push does: every layer blob the
// registry lacks (HEAD, then POST an upload and PUT it with its digest), the config, then
// the manifest under the tag. Layers kept uncompressed (loaded from a docker-archive, or
// committed) are gzipped into a temporary file first, as docker compresses what it pushes;
// gzip and zstd blobs go as stored. The manifest is docker's schema 2 unless a layer is zstd
// (OCI only). Progress is in docker's vocabulary ("Preparing", "Pushing", "Pushed",
// "Layer already exists").
import { createHash } from '../../common/crypto.js';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { deadlineExceeded, invalidArgument, notFound, unauthenticated, unavailable } from '../../common/errors.js';
import type { ContentStore } from '../content.js';
import { MEDIA_TYPES } from '../layers.js';
import type { StoredLayer } from '../records.js';
import type { ParsedReference } from '../reference.js';
import type { AuthConfig } from './auth.js';
import { registryErrorText, type Body, type Endpoint, type RegistryClient } from './client.js';
import type { PullProgress } from './pull.js';

export interface PushSource {
  /** The image id: its config blob's digest. */
  configDigest: string;
  layers: StoredLayer[];
}

export interface PushResult { tag: string; digest: string; size: number }

interface Blob { digest: string; size: number; mediaType: string; open: () => import('node:stream').Readable }

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

export class Pusher {
  private readonly ep: Endpoint;
  private readonly scope: string;

  constructor(private readonly client: RegistryClient, private readonly content: ContentStore, private readonly ref: ParsedReference,
    private readonly auth: AuthConfig | undefined, private readonly progress: (p: PullProgress) => void, private readonly signal?: AbortSignal) {
    // pushes go to the registry itself: mirrors are pull-only
    this.ep = client.endpoints(ref.domain).at(-1)!;
    this.scope = `repository:${ref.path}:pull,push`;
  }

  async push(src: PushSource, tag: string): Promise<PushResult> {
    const tmp = await this.content.tempDir('push');
    try {
      const layers: Blob[] = [];
      for (const l of src.layers) this.progress({ id: short(l.diffId), status: 'Preparing' });
      for (const l of src.layers) {
        this.check();
        const id = short(l.diffId);
        const reused = await this.remoteBlob(l, id);
        if (reused) { layers.push(reused); continue; }
        const blob = await this.layerBlob(l, tmp);
        if (await this.exists(blob.digest)) {
          this.progress({ id, status: 'Layer already exists' });
        } else {
          await this.upload(blob, id);
          this.progress({ id, status: 'Pushed' });
        }
        layers.push(blob);
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
        layers: layers.map((b) => ({ mediaType: b.mediaType, size: b.size, digest: b.digest })),
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
   * The registry's own blob of a layer pulled from it (StoredLayer.remote), when this
   * repository has it or can mount it from the one it came from (dockerd's v2 metadata):
   * then nothing is uploaded and the manifest names the same blob as the one pulled.
   */
  private async remoteBlob(l: StoredLayer, id: string): Promise<Blob | undefined> {
    const r = l.remote;
    if (!r || !r.from.startsWith(`${this.ref.domain}/`)) return undefined;
    const blob: Blob = { digest: r.digest, size: r.size, mediaType: r.mediaType, open: () => { throw new Error('a remote blob is not uploaded'); } };
    if (await this.exists(r.digest)) {
      this.progress({ id, status: 'Layer already exists' });
      return blob;
    }
    const from = r.from.slice(this.ref.domain.length + 1);
    if (from === this.ref.path) return undefined;
    const res = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/uploads/?mount=${encodeURIComponent(r.digest)}&from=${encodeURIComponent(from)}`, {
      method: 'POST', scope: `${this.scope} repository:${from}:pull`, creds: this.auth, body: '',
    });
    res.resume();
    // 201: mounted; 202: the registry started an upload instead (it cannot mount): ours goes
    if (res.statusCode !== 201) return undefined;
    this.progress({ id, status: `Mounted from ${from}` });
    return blob;
  }

  /** The blob to push for a layer: the stored one when compressed, else a gzip of it in `tmp`. */
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
    await pipeline(createReadStream(stored), createGzip(), count, createWriteStream(file, { mode: 0o600 }));
    return { digest: `sha256:${hash.digest('hex')}`, size, mediaType: MEDIA_TYPES.dockerLayerGzip, open: () => createReadStream(file) };
  }

  private async exists(digest: string): Promise<boolean> {
    const res = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/${digest}`, { method: 'HEAD', scope: this.scope, creds: this.auth });
    res.resume();
    if (res.statusCode === 200) return true;
    if (res.statusCode === 404) return false;
    throw await this.statusError(res, `blob ${digest}`);
  }

  /** A monolithic upload: POST for a location, PUT the bytes there with the digest. */
  private async upload(blob: Blob, id?: string): Promise<void> {
    const start = await this.client.request(this.ep, `/v2/${this.ref.path}/blobs/uploads/`, {
      method: 'POST', scope: this.scope, creds: this.auth, body: '',
    });
    if (start.statusCode !== 202) throw await this.statusError(start, `upload of ${blob.digest}`);
    start.resume();
    const location = start.headers.location;
    if (!location) throw unavailable(`registry ${this.ep.host} started an upload without a Location`);
    const url = new URL(location, `http://${this.ep.host}`);
    url.searchParams.set('digest', blob.digest);
    // a relative Location is a path on the registry itself (its scheme is the client's to pick)
    const target = /^https?:\/\//i.test(location) ? url.toString() : `${url.pathname}${url.search}`;
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
