// Bad archives get a clear error and leave nothing behind: tampered layers (digest mismatch),
// truncation, escaping entries, unsupported compression, malformed JSON.
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { isKind } from '../../src/common/errors.js';
import { LocalImageStore } from '../../src/image/store.js';
import { peek } from '../../src/image/stream-head.js';
import {
  buildFixtures, FakeDriver, listTree, makeTar, readTar, rewriteTar, tarIndex, tempDir, type Fixtures,
} from './image-fixtures.test.js';

let fx: Fixtures;
let work: string;
before(async () => { fx = buildFixtures(); work = await tempDir(); });
after(async () => { await fs.rm(work, { recursive: true, force: true }); });

/** A store that already holds busybox, so "nothing new" is checked against a non-empty state. */
async function seeded(): Promise<{ store: LocalImageStore; driver: FakeDriver; root: string; snapshot: () => Promise<string[]> }> {
  const root = await fs.mkdtemp(path.join(work, 'root-'));
  const driver = new FakeDriver();
  const store = new LocalImageStore(root, driver);
  await store.load(Readable.from(readFileSync(fx.busybox)));
  const snapshot = async () => [
    ...(await listTree(path.join(root, 'blobs'))), ...(await listTree(path.join(root, 'images'))),
    ...(await listTree(path.join(root, 'ingest'))), readFileSync(path.join(root, 'repositories.json'), 'utf8'),
    ...[...driver.layers.keys()].sort(),
  ];
  return { store, driver, root, snapshot };
}

async function refused(buf: Buffer, pattern: RegExp): Promise<void> {
  const { store, snapshot } = await seeded();
  const before = await snapshot();
  await assert.rejects(store.load(Readable.from(buf)), (e: unknown) => {
    assert.ok(isKind(e, 'InvalidArgument'), `want InvalidArgument, got ${String(e)}`);
    assert.match((e as Error).message, pattern);
    return true;
  });
  assert.deepEqual(await snapshot(), before, 'nothing new stored');
}

/** Flip one byte inside the data of the archive entry `name`, at `at` bytes into it. */
function tamper(archive: Buffer, name: (p: string) => boolean, at: (size: number) => number): Buffer {
  const copy = Buffer.from(archive);
  const e = tarIndex(copy).find((x) => name(x.path));
  assert.ok(e, 'entry to tamper with');
  const off = e.dataOffset + at(e.size);
  copy[off] = copy[off]! ^ 0xff;
  return copy;
}

/**
 * An oci-archive whose (one) layer blob is `make(plain tar)` under `mediaType`: descriptor,
 * manifest and index rewritten to match (the config's diff id stays the plain tar's).
 */
function ociWithLayer(archive: Buffer, make: (plain: Buffer) => Buffer, mediaType: string): { archive: Buffer; digest: string } {
  const files = readTar(archive);
  const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
  const index = JSON.parse(files.get('index.json')!.toString());
  const oldManifest: string = index.manifests[0].digest;
  const manifest = JSON.parse(files.get(`blobs/sha256/${oldManifest.slice(7)}`)!.toString());
  const oldLayer: string = manifest.layers[0].digest;
  let plain = files.get(`blobs/sha256/${oldLayer.slice(7)}`)!;
  if (plain[0] === 0x1f && plain[1] === 0x8b) plain = gunzipSync(plain);
  const blob = make(plain);
  manifest.layers[0] = { ...manifest.layers[0], mediaType, digest: sha(blob), size: blob.length };
  const text = JSON.stringify(manifest);
  index.manifests[0] = { ...index.manifests[0], digest: sha(text), size: Buffer.byteLength(text) };
  const gone = new Set([`blobs/sha256/${oldManifest.slice(7)}`, `blobs/sha256/${oldLayer.slice(7)}`, 'index.json']);
  const entries = [...files].filter(([p]) => !gone.has(p) && !p.endsWith('/')).map(([p, data]) => ({ path: p, data }));
  entries.push({ path: 'index.json', data: Buffer.from(JSON.stringify(index)) });
  entries.push({ path: `blobs/sha256/${sha(text).slice(7)}`, data: Buffer.from(text) });
  entries.push({ path: `blobs/sha256/${sha(blob).slice(7)}`, data: blob });
  return { archive: makeTar(entries), digest: sha(blob) };
}

const zstd = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 1 << 30 });
const xz = (b: Buffer) => execFileSync('xz', ['-c', '-0'], { input: b, maxBuffer: 1 << 30 });
const bzip2 = (b: Buffer) => execFileSync('bzip2', ['-c'], { input: b, maxBuffer: 1 << 30 });

describe('digest verification', () => {
  it('a tampered docker-archive layer fails with the layer named, nothing stored', async () => {
    // layered's second layer is new to the seeded store, so it really gets unpacked.
    const archive = readFileSync(fx.layered);
    const manifest = JSON.parse(readTar(archive).get('manifest.json')!.toString());
    // skopeo lists the layers as top-level <hex>.tar files; flip a byte in the content of
    // the first file inside that layer tar (past its 512-byte tar header).
    const victim: string = manifest[0].Layers[1];
    assert.ok(tarIndex(archive).some((e) => e.path === victim));
    const bad = tamper(archive, (p) => p === victim, () => 512);
    await refused(bad, /digest mismatch for layer .*expected sha256:[0-9a-f]{64}, got sha256:[0-9a-f]{64}/);
  });

  it('a tampered oci-archive blob fails before anything is unpacked', async () => {
    const bad = tamper(readFileSync(fx.busyboxOci), (p) => p.startsWith('blobs/sha256/') && !p.endsWith('/'), (n) => Math.floor(n / 2));
    await refused(bad, /digest mismatch for .*blobs\/sha256\/[0-9a-f]{64}: expected sha256:[0-9a-f]{64}, got sha256:/);
  });

  it('a config whose diff ids do not match the layers fails', async () => {
    const archive = readFileSync(fx.layered);
    const files = readTar(archive);
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    const config = JSON.parse(files.get(manifest[0].Config)!.toString());
    config.rootfs.diff_ids[2] = `sha256:${'0'.repeat(64)}`;
    const bad = rewriteTar(archive, { [manifest[0].Config]: JSON.stringify(config) });
    await refused(bad, /digest mismatch for layer .*expected sha256:0{64}/);
  });
});

describe('damaged archives', () => {
  it('a truncated archive is refused', async () => {
    const archive = readFileSync(fx.layered);
    await refused(archive.subarray(0, Math.floor(archive.length / 2) + 100), /truncated archive/);
    // Cut at a block boundary between entries: no end-of-archive marker.
    const idx = tarIndex(archive);
    await refused(archive.subarray(0, idx[idx.length - 1]!.offset), /truncated|missing/);
  });

  it('a truncated gzip archive is refused', async () => {
    const gz = gzipSync(readFileSync(fx.busybox));
    await refused(gz.subarray(0, Math.floor(gz.length * 0.7)), /truncated archive/);
  });

  it('entries that escape the archive are refused', async () => {
    await refused(makeTar([{ path: '../evil', data: 'x' }, { path: 'manifest.json', data: '[]' }]), /archive entry "\.\.\/evil" escapes/);
    await refused(makeTar([{ path: 'a/../../evil', data: 'x' }]), /escapes/);
    await refused(makeTar([{ path: '/etc/evil', data: 'x' }]), /escapes the archive: absolute path/);
    // A layer symlinked out of the archive.
    const manifest = [{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['l/layer.tar'] }];
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'1'.repeat(64)}`] } };
    await refused(makeTar([
      { path: 'manifest.json', data: JSON.stringify(manifest) }, { path: 'c.json', data: JSON.stringify(config) },
      { path: 'l/layer.tar', type: 'SymbolicLink', linkpath: '../../etc/shadow' },
    ]), /symlink out of the archive/);
  });

  it('peek gives back the bytes it read, also from a stream that ended meanwhile', async () => {
    const drain = async (r: Readable) => { const cs: Buffer[] = []; for await (const c of r) cs.push(c as Buffer); return Buffer.concat(cs).toString(); };
    const short = new PassThrough();
    short.end(Buffer.from('abc')); // its 'end' comes while peek waits for more
    const a = await peek(short, 6);
    assert.equal(a.head.toString(), 'abc');
    assert.equal(await drain(a.stream), 'abc');
    const long = new PassThrough();
    long.end(Buffer.from('abcdefgh'));
    const b = await peek(long, 6);
    assert.equal(b.head.toString().slice(0, 6), 'abcdef');
    assert.equal(b.stream, long);
    assert.equal(await drain(b.stream), 'abcdefgh');
  });

  it('compressed data that does not decompress and unknown formats get a clear error', async () => {
    await refused(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(600)]), /the archive: cannot decompress the zstd data: zstd: /);
    await refused(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 1, 2]), /the archive: cannot decompress the xz data: xz: /);
    await refused(Buffer.concat([Buffer.from('BZh9'), Buffer.alloc(600, 1)]), /the archive: cannot decompress the bzip2 data: bzip2: /);
    await refused(Buffer.alloc(0), /empty archive/);
    // shorter than the bytes read to tell the format: replayed whole, not lost (not "empty")
    await refused(Buffer.from('abc'), /invalid archive: .*Unrecognized archive format/);
    await refused(Buffer.from([0x1f, 0x8b]), /truncated|unexpected end/);
    await refused(Buffer.from('hello, this is not a tar'.repeat(40)), /invalid archive|truncated/);
    await refused(makeTar([{ path: 'README', data: 'hi' }]), /not an image archive/);
  });

  it('a zstd layer in an oci-archive that does not decompress fails with the layer named, nothing stored', async () => {
    // the right digest for wrong bytes: only decompressing finds it out
    const bad = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(4000, 0x41)]);
    const { archive, digest } = ociWithLayer(readFileSync(fx.busyboxOci), () => bad, 'application/vnd.oci.image.layer.v1.tar+zstd');
    await refused(archive, new RegExp(`layer ${digest}: cannot decompress the zstd data: zstd: `));
  });

  it('malformed JSON is refused', async () => {
    const archive = readFileSync(fx.busybox);
    await refused(rewriteTar(archive, { 'manifest.json': '[{"Config": ' }), /malformed manifest\.json/);
    await refused(rewriteTar(archive, { 'manifest.json': '[{"Config": 1}]' }), /malformed manifest\.json at 0\.Config/);
    const oci = readFileSync(fx.busyboxOci);
    await refused(rewriteTar(oci, { 'index.json': '{"schemaVersion": 2}' }), /malformed index\.json at manifests/);
  });
});

describe('archive variants', () => {
  const hex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

  async function loadsAs(buf: Buffer, want: string[] | ((id: string) => string[])): Promise<void> {
    const root = await fs.mkdtemp(path.join(work, 'root-'));
    const store = new LocalImageStore(root, new FakeDriver());
    const names = await store.load(Readable.from(buf));
    const img = await store.get(names[0]!);
    assert.deepEqual(names, typeof want === 'function' ? want(img.id) : want);
    const ref = new LocalImageStore(await fs.mkdtemp(path.join(work, 'ref-')), new FakeDriver());
    const [n] = await ref.load(Readable.from(readFileSync(fx.busybox)));
    assert.equal(img.id, (await ref.get(n!)).id, 'same image as busybox.tar');
  }

  it('docker >= 25 layout: blobs/sha256 paths in manifest.json next to an OCI index', async () => {
    const files = readTar(readFileSync(fx.busybox));
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    const config = files.get(manifest[0].Config)!;
    const layer = files.get(manifest[0].Layers[0])!;
    const blob = (b: Buffer) => `blobs/sha256/${hex(b)}`;
    const m2 = [{ Config: blob(config), RepoTags: ['busybox:latest'], Layers: [blob(layer)] }];
    await loadsAs(makeTar([
      { path: 'blobs/sha256/', type: 'Directory' },
      { path: blob(config), data: config }, { path: blob(layer), data: layer },
      { path: 'index.json', data: '{"schemaVersion":2,"manifests":[]}' },
      { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
      { path: 'manifest.json', data: JSON.stringify(m2) },
    ]), ['busybox:latest']);
  });

  it('a gzip-compressed layer inside a docker-archive', async () => {
    const archive = readFileSync(fx.busybox);
    const files = readTar(archive);
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    await loadsAs(rewriteTar(archive, { [manifest[0].Layers[0]]: gzipSync(files.get(manifest[0].Layers[0])!) }), ['busybox:latest']);
  });

  it('xz, bzip2 and zstd layers inside a docker-archive (dockerd decompresses any layer.tar)', async () => {
    const archive = readFileSync(fx.busybox);
    const files = readTar(archive);
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    for (const pack of [xz, bzip2, zstd]) {
      await loadsAs(rewriteTar(archive, { [manifest[0].Layers[0]]: pack(files.get(manifest[0].Layers[0])!) }), ['busybox:latest']);
    }
  });

  it('a whole archive compressed with xz, bzip2 or zstd (as docker load reads it)', async () => {
    for (const pack of [xz, bzip2, zstd]) {
      await loadsAs(pack(readFileSync(fx.busybox)), ['busybox:latest']);
      await loadsAs(pack(readFileSync(fx.busyboxOci)), ['busybox:latest']);
    }
  });

  it('an oci-archive with a zstd layer (skopeo --dest-compress-format zstd) loads', async () => {
    const { archive } = ociWithLayer(readFileSync(fx.busyboxOci), zstd, 'application/vnd.oci.image.layer.v1.tar+zstd');
    await loadsAs(archive, ['busybox:latest']);
  });

  it('an oci-archive whose index names only a tag (as umoci writes) loads untagged', async () => {
    const archive = readFileSync(fx.busyboxOci);
    const index = JSON.parse(readTar(archive).get('index.json')!.toString());
    index.manifests[0].annotations = { 'org.opencontainers.image.ref.name': 'latest' };
    await loadsAs(rewriteTar(archive, { 'index.json': JSON.stringify(index) }), (id) => [id]);
    index.manifests[0].annotations['io.containerd.image.name'] = 'docker.io/library/busybox:1.36';
    await loadsAs(rewriteTar(archive, { 'index.json': JSON.stringify(index) }), ['busybox:1.36']);
  });

  it('a multi-platform index resolves to this platform', { skip: process.arch !== 'x64' && 'the test image is amd64' }, async () => {
    const archive = readFileSync(fx.busyboxOci);
    const files = readTar(archive);
    const top = JSON.parse(files.get('index.json')!.toString());
    const desc = { ...top.manifests[0], annotations: undefined, platform: { os: 'linux', architecture: 'amd64' } };
    const other = { ...desc, digest: `sha256:${'e'.repeat(64)}`, platform: { os: 'linux', architecture: 's390x' } };
    const nested = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [other, desc] });
    const outer = {
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: `sha256:${hex(nested)}`, size: Buffer.byteLength(nested),
        annotations: { 'org.opencontainers.image.ref.name': 'busybox:multi' } }],
    };
    const entries = [...files].filter(([p]) => !p.endsWith('/') && p !== 'index.json').map(([p, data]) => ({ path: p, data }));
    await loadsAs(makeTar([...entries, { path: `blobs/sha256/${hex(nested)}`, data: nested }, { path: 'index.json', data: JSON.stringify(outer) }]),
      ['busybox:multi']);
  });
});
