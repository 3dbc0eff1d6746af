// Pusher against a small fake registry on loopback, for the answers a real one rarely gives:
// a mount refused with an upload (202) whose session carries the upload, two refused mounts
// (the first session given back with DELETE), a mount denied (403: the source forgotten,
// a fresh upload), a 401 without credentials (the source kept), a known blob found in the
// target, and the media type a mounted blob keeps in the manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { ContentStore } from '../../src/image/content.js';
import { withSource, type LayerSource } from '../../src/image/layer-sources.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { Pusher, type PushSources } from '../../src/image/registry/push.js';
import type { PullProgress } from '../../src/image/registry/pull.js';
import type { StoredLayer } from '../../src/image/records.js';
import { parseReference } from '../../src/image/reference.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

type MountAnswer = 'mount' | 'upload' | 403 | 401;

/** Blobs per repository, a log of requests, and how it answers mounts. */
class FakeRegistry {
  readonly blobs = new Map<string, Set<string>>();
  readonly log: string[] = [];
  readonly manifests = new Map<string, Buffer>();
  mountAnswer: MountAnswer = 'mount';
  private server!: http.Server;
  host = '';

  has(repo: string, digest: string): boolean { return this.blobs.get(repo)?.has(digest) ?? false; }
  put(repo: string, digest: string): void { (this.blobs.get(repo) ?? this.blobs.set(repo, new Set()).get(repo)!).add(digest); }

  async start(): Promise<this> {
    this.server = http.createServer((rq, rs) => {
      const chunks: Buffer[] = [];
      rq.on('data', (c: Buffer) => chunks.push(c));
      rq.on('end', () => this.handle(rq, rs, Buffer.concat(chunks)));
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  private handle(rq: http.IncomingMessage, rs: http.ServerResponse, body: Buffer): void {
    const url = new URL(rq.url ?? '/', `http://${this.host}`);
    this.log.push(`${rq.method} ${url.pathname}${url.search}`);
    const end = (status: number, headers: Record<string, string> = {}, text = '') => { rs.writeHead(status, headers); rs.end(text); };
    if (url.pathname === '/v2/') return end(200);
    const blob = /^\/v2\/(.+)\/blobs\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (blob && rq.method === 'HEAD') return end(this.has(blob[1]!, blob[2]!) ? 200 : 404);
    const start = /^\/v2\/(.+)\/blobs\/uploads\/$/.exec(url.pathname);
    if (start && rq.method === 'POST') {
      const repo = start[1]!;
      const mount = url.searchParams.get('mount');
      const from = url.searchParams.get('from');
      if (mount && from) {
        if (this.mountAnswer === 403) return end(403, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'DENIED', message: 'requested access to the resource is denied' }] }));
        if (this.mountAnswer === 401) return end(401, { 'Content-Type': 'application/json' }, JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
        if (this.mountAnswer === 'mount' && this.has(from, mount)) {
          this.put(repo, mount);
          return end(201, { 'Docker-Content-Digest': mount, Location: `/v2/${repo}/blobs/${mount}` });
        }
      }
      return end(202, { Location: `/v2/${repo}/blobs/uploads/${randomUUID()}` });
    }
    const upload = /^\/v2\/(.+)\/blobs\/uploads\/[0-9a-f-]+$/.exec(url.pathname);
    if (upload && rq.method === 'PUT') {
      const digest = url.searchParams.get('digest') ?? '';
      if (sha(body) !== digest) return end(400, {}, 'digest mismatch');
      this.put(upload[1]!, digest);
      return end(201);
    }
    if (upload && rq.method === 'DELETE') return end(204);
    const manifest = /^\/v2\/(.+)\/manifests\/(.+)$/.exec(url.pathname);
    if (manifest && rq.method === 'PUT') {
      this.manifests.set(`${manifest[1]}:${manifest[2]}`, body);
      return end(201);
    }
    end(404);
  }
}

class MemorySources implements PushSources {
  readonly map = new Map<string, LayerSource[]>();
  async get(diffId: string): Promise<LayerSource[]> { return [...(this.map.get(diffId) ?? [])]; }
  async add(entries: Array<{ diffId: string; source: LayerSource }>): Promise<void> {
    for (const e of entries) this.map.set(e.diffId, withSource(this.map.get(e.diffId) ?? [], e.source));
  }
  async remove(diffId: string, s: LayerSource): Promise<void> {
    this.map.set(diffId, (this.map.get(diffId) ?? []).filter((o) => !(o.digest === s.digest && o.repository === s.repository && o.registry === s.registry)));
  }
}

interface Setup {
  reg: FakeRegistry;
  sources: MemorySources;
  layer: StoredLayer;
  /** The gzip blob stored here, and the plain tar under it. */
  gz: { digest: string; size: number };
  plain: { digest: string; size: number };
  configDigest: string;
  push: (repo: string, auth?: { username: string; password: string }) => Promise<{ said: string[]; manifest: { mediaType: string; layers: Array<{ mediaType: string; digest: string }> } }>;
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, opts: { diffSize?: number } = {}): Promise<Setup> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-pushmount-'));
  const reg = await new FakeRegistry().start();
  const client = new RegistryClient();
  t.after(async () => { client.close(); await reg.stop(); await fs.rm(root, { recursive: true, force: true }); });
  const content = new ContentStore(root);
  await content.init();
  const tar = Buffer.alloc(2048, 7);
  const gzBuf = gzipSync(tar);
  const gz = await content.ingest(Readable.from([gzBuf]), 'layer');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(tar)] } }));
  const configDigest = (await content.ingest(Readable.from([config]), 'config')).digest;
  const layer: StoredLayer = {
    diffId: sha(tar), chainId: sha(tar), blob: gz.digest, mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', compression: 'gzip',
    blobSize: gz.size, diffSize: opts.diffSize ?? tar.length, size: tar.length,
  };
  const sources = new MemorySources();
  return {
    reg, sources, layer, gz, plain: { digest: sha(tar), size: tar.length }, configDigest,
    push: async (repo, auth) => {
      const said: string[] = [];
      const ref = parseReference(`${reg.host}/${repo}:1`);
      const p = new Pusher(client, content, ref, auth, (e: PullProgress) => { if (e.id) said.push(e.status); }, undefined, sources);
      await p.push({ configDigest, layers: [layer] }, '1');
      const manifest = JSON.parse(reg.manifests.get(`${repo}:1`)!.toString()) as { mediaType: string; layers: Array<{ mediaType: string; digest: string }> };
      return { said: said.filter((s) => s !== 'Preparing' && s !== 'Pushing'), manifest };
    },
  };
}

const at = (s: Setup, repository: string, blob = s.gz, mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip'): LayerSource =>
  ({ digest: blob.digest, size: blob.size, mediaType, registry: s.reg.host, repository });

test('a source on the same registry is mounted; the target is recorded as a source', async (t) => {
  const s = await setup(t);
  s.reg.put('src/x', s.gz.digest);
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'src/x') }]);
  const { said } = await s.push('dst/x');
  assert.deepEqual(said, ['Mounted from src/x']);
  assert.ok(!s.reg.log.some((l) => l.startsWith('PUT ') && l.includes(encodeURIComponent(s.gz.digest))), s.reg.log.join('\n'));
  assert.deepEqual((await s.sources.get(s.layer.diffId)).map((x) => x.repository), ['src/x', 'dst/x']);
  // and where it is now, one HEAD says so
  const again = await s.push('dst/x');
  assert.deepEqual(again.said, ['Layer already exists']);
});

test('a mount answered with an upload (202): the layer goes up on that session, the source is forgotten', async (t) => {
  const s = await setup(t);
  s.reg.mountAnswer = 'upload';
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'src/x') }]);
  const { said } = await s.push('dst/x');
  assert.deepEqual(said, ['Pushed']);
  const log = s.reg.log;
  const mount = log.findIndex((l) => l.startsWith('POST /v2/dst/x/blobs/uploads/?mount='));
  const put = log.findIndex((l) => l.startsWith('PUT /v2/dst/x/blobs/uploads/') && l.includes(encodeURIComponent(s.gz.digest)));
  assert.ok(mount >= 0 && put > mount, log.join('\n'));
  // no other upload was started for the layer: the plain POST is the config's
  assert.equal(log.filter((l) => l === 'POST /v2/dst/x/blobs/uploads/').length, 1, log.join('\n'));
  assert.deepEqual((await s.sources.get(s.layer.diffId)).map((x) => x.repository), ['dst/x']);
});

test('two refused mounts of a bigger layer: the first session is given back, the second carries the upload', async (t) => {
  const s = await setup(t, { diffSize: 200 * 1024 }); // three mounts are worth it
  s.reg.mountAnswer = 'upload';
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'a/x') }, { diffId: s.layer.diffId, source: at(s, 'b/x') }]);
  const { said } = await s.push('dst/x');
  assert.deepEqual(said, ['Pushed']);
  const log = s.reg.log;
  assert.equal(log.filter((l) => l.startsWith('POST /v2/dst/x/blobs/uploads/?mount=')).length, 2, log.join('\n'));
  assert.equal(log.filter((l) => l.startsWith('DELETE /v2/dst/x/blobs/uploads/')).length, 1, log.join('\n'));
});

test('a denied mount (403) is forgotten and a fresh upload made; a 401 without credentials keeps the source', async (t) => {
  const s = await setup(t);
  s.reg.mountAnswer = 403;
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'src/x') }]);
  assert.deepEqual((await s.push('dst/x')).said, ['Pushed']);
  assert.deepEqual((await s.sources.get(s.layer.diffId)).map((x) => x.repository), ['dst/x']);

  const u = await setup(t);
  u.reg.mountAnswer = 401;
  await u.sources.add([{ diffId: u.layer.diffId, source: at(u, 'src/x') }]);
  assert.deepEqual((await u.push('dst/x')).said, ['Pushed']);
  assert.deepEqual((await u.sources.get(u.layer.diffId)).map((x) => x.repository), ['src/x', 'dst/x']);
});

test('a known blob already in the target is used as it is; a source the target lost is forgotten', async (t) => {
  const s = await setup(t);
  // the registry has the plain tar of the layer in the target: found by HEAD, named as it is
  s.reg.put('dst/x', s.plain.digest);
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'dst/x', s.plain, 'application/vnd.oci.image.layer.v1.tar') }]);
  const { said, manifest } = await s.push('dst/x');
  assert.deepEqual(said, ['Layer already exists']);
  assert.equal(manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
  assert.deepEqual(manifest.layers, [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', size: s.plain.size, digest: s.plain.digest }]);

  const g = await setup(t);
  await g.sources.add([{ diffId: g.layer.diffId, source: at(g, 'dst/x') }]); // recorded, but the registry was reset
  assert.deepEqual((await g.push('dst/x')).said, ['Pushed']);
  assert.deepEqual((await g.sources.get(g.layer.diffId)).map((x) => x.repository), ['dst/x']);
  assert.equal(g.reg.log.filter((l) => l.startsWith(`HEAD /v2/dst/x/blobs/${g.gz.digest}`)).length, 1, 'the same digest is HEADed once');
});

test('a zstd blob mounted keeps its type: the manifest is OCI', async (t) => {
  const s = await setup(t);
  const zstd = { digest: `sha256:${'e'.repeat(64)}`, size: 99 };
  s.reg.put('src/z', zstd.digest);
  await s.sources.add([{ diffId: s.layer.diffId, source: at(s, 'src/z', zstd, 'application/vnd.oci.image.layer.v1.tar+zstd') }]);
  const { said, manifest } = await s.push('dst/z');
  assert.deepEqual(said, ['Mounted from src/z']);
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.deepEqual(manifest.layers, [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', size: 99, digest: zstd.digest }]);
});
