// Load errors through a REAL snapshot driver (vfs): what reaches the user names the layer
// (its digest), the tar entry and the reason, never "The operation was aborted", and a
// failed load leaves nothing behind. Also: layers as umoci writes them ("/" first, no
// end-of-archive marker) load. Archives are crafted here from tars written by tarwrite.ts.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { TsulaError } from '../../src/common/errors.js';
import { LocalImageStore } from '../../src/image/store.js';
import { buildTar, type TarWriteEntry } from '../../src/storage/tarwrite.js';
import { VfsDriver } from '../../src/storage/vfs.js';
import { listTree, makeTar, tempDir } from './image-fixtures.test.js';

let work: string;
before(async () => { work = await tempDir('tsula-load-errors-'); });
after(async () => { await fs.rm(work, { recursive: true, force: true }); });

const digest = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);

function config(diffIds: string[]): string {
  return JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } });
}

/** A docker-archive as skopeo writes it: <hex>.tar blobs at the top, <id>/layer.tar symlinks to them. */
function dockerArchive(layers: Buffer[], diffIds = layers.map(digest)): Buffer {
  const cfg = config(diffIds);
  const entries: Parameters<typeof makeTar>[0] = [{ path: `${hex(digest(cfg))}.json`, data: cfg }];
  const paths: string[] = [];
  layers.forEach((l, i) => {
    const blob = `${hex(digest(l))}.tar`;
    entries.push({ path: blob, data: l }, { path: `id${i}/layer.tar`, type: 'SymbolicLink', linkpath: `../${blob}` });
    paths.push(`id${i}/layer.tar`);
  });
  entries.push({ path: 'manifest.json', data: JSON.stringify([{ Config: `${hex(digest(cfg))}.json`, RepoTags: ['t/img:1'], Layers: paths }]) });
  return makeTar(entries);
}

/** An oci-archive with gzip layers. */
function ociArchive(layers: Buffer[], diffIds = layers.map(digest)): { archive: Buffer; blobs: string[] } {
  const gz = layers.map((l) => gzipSync(l));
  const cfg = config(diffIds);
  const manifest = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digest(cfg), size: cfg.length },
    layers: gz.map((g) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digest(g), size: g.length })),
  });
  const index = JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digest(manifest), size: manifest.length, annotations: { 'io.containerd.image.name': 't/img:1' } }] });
  const archive = makeTar([
    { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { path: 'index.json', data: index },
    ...[cfg, manifest, ...gz].map((b) => ({ path: `blobs/sha256/${hex(digest(b))}`, data: b })),
  ]);
  return { archive, blobs: gz.map(digest) };
}

async function freshStore(): Promise<{ store: LocalImageStore; driver: VfsDriver; root: string }> {
  const root = await fs.mkdtemp(path.join(work, 'store-'));
  const driver = new VfsDriver(path.join(root, 'driver'));
  await driver.init();
  const store = new LocalImageStore(path.join(root, 'images'), driver);
  await store.init();
  return { store, driver, root };
}

/** Load must fail with InvalidArgument matching every pattern, and leave no layer or blob. */
async function refused(archive: Buffer, ...patterns: RegExp[]): Promise<string> {
  const { store, root } = await freshStore();
  let message = '';
  await assert.rejects(store.load(Readable.from(archive)), (e: unknown) => {
    assert.ok(e instanceof TsulaError && e.kind === 'InvalidArgument', `want InvalidArgument, got ${String(e)}`);
    message = e.message;
    for (const p of patterns) assert.match(e.message, p);
    assert.doesNotMatch(e.message, /aborted/i);
    return true;
  });
  assert.deepEqual(await listTree(path.join(root, 'driver/layers')), [], 'no layer left');
  assert.deepEqual(await listTree(path.join(root, 'images/blobs/sha256')), [], 'no blob left');
  assert.equal((await store.list()).length, 0);
  return message;
}

const base: TarWriteEntry[] = [{ name: 'bin/', type: 'dir' }, { name: 'bin/sh', data: 'not really a shell' }];
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

describe('a refused tar entry names the layer digest, the entry and the reason', () => {
  const cases: Array<{ what: string; entries: TarWriteEntry[]; entry: string; reason: RegExp }> = [
    { what: '".." escape', entries: [...base, { name: '../evil', data: 'x' }], entry: '../evil', reason: /escapes the rootfs \("\.\." leaves the root\)/ },
    { what: 'symlink parent', entries: [...base, { name: 'l', type: 'symlink', linkname: '/' }, { name: 'l/etc/passwd', data: 'x' }], entry: 'l/etc/passwd', reason: /escapes the rootfs \(parent "l" is a symlink\)/ },
    { what: 'hard link outside', entries: [...base, { name: 'hl', type: 'link', linkname: '../../etc/shadow' }], entry: 'hl', reason: /escapes the rootfs \(hard link to "\.\.\/\.\.\/etc\/shadow"\)/ },
  ];
  for (const c of cases) {
    it(`docker-archive: ${c.what}`, async () => {
      const layer = buildTar(c.entries);
      const msg = await refused(dockerArchive([buildTar(base), layer]),
        new RegExp(`^layer ${digest(layer)} \\(id1/layer\\.tar\\): layer tar entry "${esc(c.entry)}"`), c.reason);
      assert.doesNotMatch(msg, /The operation was aborted/);
    });
    it(`oci-archive (gzip): ${c.what}`, async () => {
      const { archive, blobs } = ociArchive([buildTar(c.entries)]);
      await refused(archive, new RegExp(`^layer ${blobs[0]}: layer tar entry "${esc(c.entry)}"`), c.reason);
    });
  }
});

describe('damaged layers give a clear message', () => {
  it('a digest mismatch names the layer, the expected and the actual diff id', async () => {
    const layer = buildTar(base);
    const wrong = `sha256:${'a'.repeat(64)}`;
    await refused(dockerArchive([layer], [wrong]), new RegExp(`digest mismatch for layer ${digest(layer)} .*: expected ${wrong}, got ${digest(layer)}`));
  });

  it('a tar cut inside a file (its diff id promised as cut) is truncated', async () => {
    const whole = buildTar([...base, { name: 'big', data: Buffer.alloc(5000, 1) }]);
    const cut = whole.subarray(0, 2048);
    await refused(dockerArchive([cut]), new RegExp(`^layer ${digest(cut)} .*: layer tar is truncated or corrupt: file body ends \\d+ bytes early`));
    const { archive, blobs } = ociArchive([cut]);
    await refused(archive, new RegExp(`^layer ${blobs[0]}: layer tar is truncated or corrupt`));
  });

  it('a corrupt gzip stream (its blob digest matching) cannot be read', async () => {
    const gz = gzipSync(buildTar(base));
    gz[gz.length - 20] ^= 0xff; // inside the deflate data / trailer
    const bad = dockerArchive([gz], [digest(buildTar(base))]);
    await refused(bad, new RegExp(`^layer ${digest(gz)} .*: cannot read layer: `));
  });

  it('a malformed manifest.json and a missing layer blob say so', async () => {
    await refused(makeTar([{ path: 'manifest.json', data: '[{"Config": "c.json", "Layers": "x"}]' }]), /malformed manifest\.json at 0\.Layers/);
    await refused(makeTar([{ path: 'manifest.json', data: '{' }]), /malformed manifest\.json in archive/);
    const cfg = config([digest('x')]);
    await refused(makeTar([{ path: 'c.json', data: cfg }, { path: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', Layers: ['nope/layer.tar'] }]) }]),
      /archive is missing layer nope\/layer\.tar/);
  });
});

describe('a docker-archive that leaves out layers (iSulad\'s multiplex archive, a hand-trimmed save)', () => {
  /** dockerArchive's, without the files of the layers at `drop`. */
  function trimmed(layers: Buffer[], drop: number[]): Buffer {
    const cfg = config(layers.map(digest));
    const entries: Parameters<typeof makeTar>[0] = [{ path: `${hex(digest(cfg))}.json`, data: cfg }];
    layers.forEach((l, i) => { if (!drop.includes(i)) entries.push({ path: `id${i}/layer.tar`, data: l }); });
    entries.push({ path: 'manifest.json', data: JSON.stringify([{ Config: `${hex(digest(cfg))}.json`, RepoTags: ['t/top:1'], Layers: layers.map((_, i) => `id${i}/layer.tar`) }]) });
    return makeTar(entries);
  }
  const lower = buildTar(base);
  const upper = buildTar([{ name: 'gao', data: 'gao\n' }]);

  it('loads where the store has those layers already (dockerd\'s loader looks the chain up first)', async () => {
    const { store, driver } = await freshStore();
    assert.deepEqual(await store.load(Readable.from(dockerArchive([lower]))), ['t/img:1']);
    assert.deepEqual(await store.load(Readable.from(trimmed([lower, upper], [0]))), ['t/top:1']);
    const img = await store.get('t/top:1');
    assert.equal(img.chainIds[0], (await store.get('t/img:1')).chainIds[0]);
    assert.equal(await fs.readFile(path.join(driver.layerDir(img.chainIds[1]!), 'diff/gao'), 'utf8'), 'gao\n');
  });

  it('is refused, naming the file, where the store lacks one; nothing is left', async () => {
    await refused(trimmed([lower, upper], [0]), /^archive is missing layer id0\/layer\.tar \(truncated or incomplete archive\?\)$/);
  });
});

describe('layers as other builders write them', () => {
  it('a layer starting with "/" and without end-of-archive marker (umoci) loads through the real driver', async () => {
    const { store, driver } = await freshStore();
    const tar = buildTar([{ name: '/', type: 'dir', mode: 0o755 }, ...base, { name: 'etc/', type: 'dir' }, { name: 'etc/hello', data: 'hello\n' }], { end: false });
    const umoci = tar.subarray(0, tar.length - (512 - 6)); // no padding after the last file either
    const { archive } = ociArchive([umoci]);
    assert.deepEqual(await store.load(Readable.from(archive)), ['t/img:1']);
    const img = await store.get('t/img:1');
    const diff = path.join(driver.layerDir(img.chainIds[0]!), 'diff');
    assert.equal(await fs.readFile(path.join(diff, 'etc/hello'), 'utf8'), 'hello\n');
    // The same layer from a skopeo docker-archive (symlinked layer.tar) is the same image.
    const again = await freshStore();
    assert.deepEqual(await again.store.load(Readable.from(dockerArchive([umoci]))), ['t/img:1']);
    assert.equal((await again.store.get('t/img:1')).id, img.id);
  });
});
