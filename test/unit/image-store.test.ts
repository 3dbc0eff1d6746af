// LocalImageStore against a fake snapshot driver: load (docker-archive, oci-archive, gzip),
// get/tag/list/remove with docker's semantics, save -> load round trips, persistence.
import assert from 'node:assert/strict';
import { promises as fs, readFileSync, createReadStream, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { createHash } from 'node:crypto';
import { before, after, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isKind } from '../../src/common/errors.js';
import { LocalImageStore } from '../../src/image/store.js';
import type { LoadProgress } from '../../src/image/types.js';
import { buildFixtures, FakeDriver, fileStream, listTree, readTar, rewriteTar, tempDir, type Fixtures } from './image-fixtures.test.js';

let fx: Fixtures;
let work: string;
before(async () => { fx = buildFixtures(); work = await tempDir(); });
after(async () => { await fs.rm(work, { recursive: true, force: true }); });

async function freshStore(): Promise<{ store: LocalImageStore; driver: FakeDriver; root: string }> {
  const root = await fs.mkdtemp(path.join(work, 'root-'));
  const driver = new FakeDriver();
  const store = new LocalImageStore(root, driver);
  await store.init();
  return { store, driver, root };
}

const notUsed = () => false;

describe('load', () => {
  it('loads a docker-archive and finds it by every kind of reference', async () => {
    const { store, driver, root } = await freshStore();
    const events: LoadProgress[] = [];
    assert.deepEqual(await store.load(fileStream(fx.busybox), (p) => events.push(p)), ['busybox:latest']);
    const img = await store.get('busybox');
    assert.match(img.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(img.repoTags, ['busybox:latest']);
    assert.deepEqual(img.config.Cmd, ['sh']);
    assert.ok(img.config.Env?.some((e) => e.startsWith('PATH=') && e.includes('/bin')));
    assert.equal(img.architecture, 'amd64');
    assert.equal(img.os, 'linux');
    assert.equal(img.rootfs.diffIds.length, 1);
    assert.deepEqual(img.chainIds, img.rootfs.diffIds, 'ChainID(L0) = DiffID(L0)');
    assert.ok(img.size > 1_000_000);
    const hex = img.id.slice(7);
    for (const ref of ['busybox:latest', 'docker.io/library/busybox:latest', 'docker.io/library/busybox', img.id, hex, hex.slice(0, 12), `sha256:${hex.slice(0, 5)}`, hex[0]!]) {
      assert.equal((await store.get(ref)).id, img.id, ref);
    }
    assert.ok(driver.layers.has(img.chainIds[0]!));
    assert.ok(events.some((e) => e.status === 'Loading layer' && e.current > 0));
    // dockerd's progress reader: "Loading layer" to the end, the last one full
    const last = events.at(-1)!;
    assert.equal(last.status, 'Loading layer');
    assert.ok(last.total > 1_000_000, `the layer's size: ${JSON.stringify(last)}`);
    assert.equal(last.current, last.total);
    // The content store holds the config and the layer; nothing is left in ingest/.
    const blobs = await fs.readdir(path.join(root, 'blobs', 'sha256'));
    assert.ok(blobs.includes(hex));
    assert.equal(blobs.length, 2);
    assert.deepEqual(await fs.readdir(path.join(root, 'ingest')), []);
    assert.deepEqual(JSON.parse(readFileSync(path.join(root, 'repositories.json'), 'utf8')), { 'busybox:latest': img.id });
    const rec = JSON.parse(readFileSync(path.join(root, 'images', `${hex}.json`), 'utf8'));
    assert.equal(rec.id, img.id);
  });

  it('loads the oci-archive to the same image, reusing the unpacked layer', async () => {
    const { store, driver } = await freshStore();
    const [name] = await store.load(fileStream(fx.busybox));
    const id = (await store.get(name!)).id;
    const applies = driver.calls.length;
    const events: LoadProgress[] = [];
    assert.deepEqual(await store.load(fileStream(fx.busyboxOci), (p) => events.push(p)), ['busybox:latest']);
    assert.equal((await store.get('busybox')).id, id);
    assert.equal(driver.calls.length, applies, 'no layer unpacked twice');
    assert.deepEqual(events, [], 'a layer it has is loaded silently, as dockerd\'s loader does');
    // Loading it again reads nothing new at all.
    await store.load(fileStream(fx.busyboxOci));
    assert.equal((await store.list()).length, 1);
  });

  it('loads an oci-archive into an empty store', async () => {
    const { store, driver } = await freshStore();
    assert.deepEqual(await store.load(fileStream(fx.busyboxOci)), ['busybox:latest']);
    const img = await store.get('busybox:latest');
    assert.ok(driver.layers.has(img.chainIds[0]!));
    assert.equal(driver.layers.get(img.chainIds[0]!)!.diffId, img.rootfs.diffIds[0]);
  });

  it('loads gzip-compressed archives of both formats', async () => {
    const { store } = await freshStore();
    const gz = (f: string) => Readable.from(gzipSync(readFileSync(f)));
    assert.deepEqual(await store.load(gz(fx.busybox)), ['busybox:latest']);
    const id = (await store.get('busybox')).id;
    const other = await freshStore();
    assert.deepEqual(await other.store.load(gz(fx.busyboxOci)), ['busybox:latest']);
    assert.equal((await other.store.get('busybox')).id, id);
    // A stream that trickles in: the gzip magic arrives one byte at a time.
    const bytes = gzipSync(readFileSync(fx.busybox));
    const trickle = Readable.from((function* () {
      for (let i = 0; i < 8; i++) yield bytes.subarray(i, i + 1);
      yield bytes.subarray(8);
    })());
    const third = await freshStore();
    assert.deepEqual(await third.store.load(trickle), ['busybox:latest']);
    assert.deepEqual(await third.store.load(createReadStream(fx.busybox)), ['busybox:latest']);
  });

  it('computes chain ids of a multi-layer image and shares the base layer', async () => {
    const { store, driver } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const calls = driver.calls.length;
    assert.deepEqual(await store.load(fileStream(fx.layered)), ['layered:latest']);
    const bb = await store.get('busybox');
    const img = await store.get('layered');
    assert.equal(img.chainIds.length, 3);
    assert.equal(img.chainIds[0], bb.chainIds[0]);
    assert.equal(driver.calls.length, calls + 2, 'only the two new layers are unpacked');
    for (const c of img.chainIds) assert.ok(driver.layers.has(c));
    assert.equal(driver.layers.get(img.chainIds[2]!)!.parent, img.chainIds[1]);
  });

  it('an untagged image loads as its id, and a moved tag leaves the old image dangling', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const bb = await store.get('busybox');
    // Re-tag layered's archive as busybox:latest: the name moves, the old image stays nameless.
    const files = readTar(readFileSync(fx.layered));
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    manifest[0].RepoTags = ['busybox:latest'];
    const moved = rewriteTar(readFileSync(fx.layered), { 'manifest.json': JSON.stringify(manifest) });
    await store.load(Readable.from(moved));
    assert.notEqual((await store.get('busybox')).id, bb.id);
    assert.deepEqual((await store.get(bb.id)).repoTags, []);
    const bbManifest = JSON.parse(readTar(readFileSync(fx.busybox)).get('manifest.json')!.toString());
    bbManifest[0].RepoTags = null;
    const untagged = rewriteTar(readFileSync(fx.busybox), { 'manifest.json': JSON.stringify(bbManifest) });
    assert.deepEqual(await store.load(Readable.from(untagged)), [bb.id]);
  });
});

describe('tag, get and list', () => {
  it('tags with validation and lists every name', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const id = (await store.get('busybox')).id;
    await store.tag('busybox', 'myrepo/bb:v1');
    await store.tag(id.slice(7, 19), 'localhost:5000/team/bb');
    await store.tag('busybox:latest', 'docker.io/library/alias:1.0');
    assert.equal((await store.get('myrepo/bb:v1')).id, id);
    assert.equal((await store.get('localhost:5000/team/bb:latest')).id, id);
    assert.equal((await store.get('alias:1.0')).id, id);
    const [img] = await store.list();
    assert.deepEqual(img!.repoTags, ['alias:1.0', 'busybox:latest', 'localhost:5000/team/bb:latest', 'myrepo/bb:v1']);
    for (const bad of ['Busybox', 'a b', 'foo:bad:tag', 'foo@sha256:' + 'a'.repeat(64), 'a'.repeat(64), '-lead', 'x:' + 't'.repeat(129), '']) {
      await assert.rejects(store.tag('busybox', bad), (e: unknown) => isKind(e, 'InvalidArgument'), bad);
    }
    await assert.rejects(store.tag('nosuch', 'x'), (e: unknown) => isKind(e, 'NotFound') && /No such image: nosuch/.test((e as Error).message));
  });

  it('refuses missing and ambiguous references', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const bbHex = (await store.get('busybox')).id.slice(7);
    // A twin of busybox whose id shares its first hex digit: its config differs by a label,
    // chosen until the digests agree (1 in 16), so the ambiguous prefix always exists.
    const archive = readFileSync(fx.busybox);
    const files = readTar(archive);
    const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; RepoTags: string[] }>;
    const cfg = JSON.parse(files.get(manifest[0]!.Config)!.toString()) as { config: { Labels?: Record<string, string> } };
    let twin = '';
    for (let n = 0; !twin || createHash('sha256').update(twin).digest('hex')[0] !== bbHex[0]; n++) {
      cfg.config.Labels = { twin: String(n) };
      twin = JSON.stringify(cfg);
    }
    manifest[0]!.RepoTags = ['twin:latest'];
    await store.load(Readable.from(rewriteTar(archive, { 'manifest.json': JSON.stringify(manifest), [manifest[0]!.Config]: twin })));
    await assert.rejects(store.get('nosuch:1'), (e: unknown) => isKind(e, 'NotFound') && (e as Error).message === 'No such image: nosuch:1');
    const ids = (await store.list()).map((i) => i.id.slice(7));
    assert.equal(ids.length, 2);
    let common = '';
    while (ids[0]![common.length] === ids[1]![common.length]) common += ids[0]![common.length];
    assert.ok(common.length > 0, `the ids share a prefix: ${ids.join(' ')}`);
    for (const ref of [common, `sha256:${common}`]) {
      await assert.rejects(store.get(ref), (e: unknown) => isKind(e, 'InvalidArgument') && /ambiguous/.test((e as Error).message), ref);
    }
    assert.equal((await store.get(ids[0]!.slice(0, common.length + 1))).id, `sha256:${ids[0]}`);
    assert.equal((await store.get(ids[1]!.slice(0, common.length + 1))).id, `sha256:${ids[1]}`);
    const list = await store.list();
    assert.equal(list.length, 2);
    list[0]!.repoTags.push('tampered');
    assert.ok(!(await store.list()).some((i) => i.repoTags.includes('tampered')), 'list returns copies');
  });
});

describe('remove', () => {
  it('untags a name while others remain, refuses an id with several names unless forced', async () => {
    const { store, driver, root } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const id = (await store.get('busybox')).id;
    await store.tag('busybox', 'other:1');
    await store.tag('busybox', 'third:1');
    assert.deepEqual(await store.remove('other:1', { force: false, inUse: notUsed }), [{ Untagged: 'other:1' }]);
    await assert.rejects(store.remove(id, { force: false, inUse: notUsed }),
      (e: unknown) => isKind(e, 'FailedPrecondition') && /image is referenced in multiple repositories/.test((e as Error).message));
    const out = await store.remove(id.slice(7, 15), { force: true, inUse: notUsed });
    assert.deepEqual(out.slice(0, 3), [{ Untagged: 'busybox:latest' }, { Untagged: 'third:1' }, { Deleted: id }]);
    assert.equal(out.length, 4, 'and its layer');
    assert.deepEqual(await store.list(), []);
    assert.equal(driver.layers.size, 0);
    assert.deepEqual(await fs.readdir(path.join(root, 'blobs', 'sha256')), []);
    assert.deepEqual(await fs.readdir(path.join(root, 'images')), []);
    assert.deepEqual(JSON.parse(readFileSync(path.join(root, 'repositories.json'), 'utf8')), {});
  });

  it('keeps layers and blobs another image still uses', async () => {
    const { store, driver, root } = await freshStore();
    await store.load(fileStream(fx.busybox));
    await store.load(fileStream(fx.layered));
    const bb = await store.get('busybox');
    const layered = await store.get('layered');
    const before = await listTree(path.join(root, 'blobs'));
    const out = await store.remove('layered', { force: false, inUse: notUsed });
    assert.deepEqual(out, [
      { Untagged: 'layered:latest' }, { Deleted: layered.id },
      { Deleted: layered.chainIds[2] }, { Deleted: layered.chainIds[1] },
    ]);
    assert.ok(driver.layers.has(bb.chainIds[0]!));
    assert.equal(driver.layers.size, 1);
    const afterBlobs = await listTree(path.join(root, 'blobs'));
    assert.ok(afterBlobs.includes(path.join('sha256', bb.id.slice(7))));
    assert.ok(afterBlobs.includes(path.join('sha256', bb.rootfs.diffIds[0]!.slice(7))), 'the shared layer blob stays');
    assert.equal(before.length - afterBlobs.length, 3, 'layered config and its 2 own layer blobs went');
    assert.equal((await store.get('busybox')).id, bb.id);
  });

  it('refuses an image a container uses, and with force only untags it', async () => {
    const { store, driver } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const id = (await store.get('busybox')).id;
    const inUse = (i: string) => (i === id ? 'abc123def4567890' : false);
    await assert.rejects(store.remove('busybox', { force: false, inUse }), (e: unknown) => isKind(e, 'FailedPrecondition')
      && (e as Error).message === `conflict: unable to remove repository reference "busybox" (must force) - container abc123def456 is using its referenced image ${id.slice(7, 19)}`);
    await assert.rejects(store.remove(id, { force: false, inUse }), (e: unknown) => isKind(e, 'FailedPrecondition') && /must be forced/.test((e as Error).message));
    assert.deepEqual(await store.remove('busybox', { force: true, inUse }), [{ Untagged: 'busybox:latest' }]);
    assert.deepEqual((await store.get(id)).repoTags, []);
    assert.equal(driver.layers.size, 1);
    await assert.rejects(store.remove(id, { force: true, inUse: () => true }), (e: unknown) => isKind(e, 'FailedPrecondition') && /cannot be forced/.test((e as Error).message));
    // Once the container is gone the dangling image can go.
    const out = await store.remove(id, { force: false, inUse: notUsed });
    assert.deepEqual(out[0], { Deleted: id });
    await assert.rejects(store.remove(id, { force: false, inUse: notUsed }), (e: unknown) => isKind(e, 'NotFound'));
  });

  it('keeps the image record gone even when the driver refuses a layer', async () => {
    const { store, driver } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const img = await store.get('busybox');
    driver.pinned.add(img.chainIds[0]!);
    assert.deepEqual(await store.remove('busybox', { force: false, inUse: notUsed }), [{ Untagged: 'busybox:latest' }, { Deleted: img.id }]);
    assert.deepEqual(await store.list(), []);
  });
});

describe('save', () => {
  async function saveTo(store: LocalImageStore, refs: string[], file: string): Promise<Buffer> {
    await store.save(refs, createWriteStream(file));
    return readFileSync(file);
  }

  it('round-trips through a docker-archive to the same image', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busybox));
    await store.load(fileStream(fx.layered));
    const bb = await store.get('busybox');
    const layered = await store.get('layered');
    const file = path.join(work, 'saved.tar');
    const buf = await saveTo(store, ['busybox', 'layered:latest'], file);
    const files = readTar(buf);
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    assert.deepEqual(manifest.map((m: { RepoTags: string[] }) => m.RepoTags), [['busybox:latest'], ['layered:latest']]);
    // dockerd 25+'s layout: blobs/sha256/<hex> for configs, layers (by diff id) and manifests
    assert.deepEqual(manifest[0].Config, `blobs/sha256/${bb.id.slice(7)}`);
    assert.ok(files.has(`blobs/sha256/${bb.id.slice(7)}`));
    assert.ok(files.has(`blobs/sha256/${bb.rootfs.diffIds[0]!.slice(7)}`));
    assert.deepEqual(manifest[1].Layers, layered.rootfs.diffIds.map((d) => `blobs/sha256/${d.slice(7)}`));
    assert.equal([...files.keys()].filter((k) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(k)).length, 2 + 3 + 2, 'configs, layers (the shared one once), manifests');
    assert.ok(files.has('oci-layout') && files.has('index.json'));
    assert.deepEqual(JSON.parse(files.get('repositories')!.toString()), {
      busybox: { latest: bb.rootfs.diffIds[0]!.slice(7) }, layered: { latest: layered.rootfs.diffIds[2]!.slice(7) },
    });
    const other = await freshStore();
    assert.deepEqual(await other.store.load(fileStream(file)), ['busybox:latest', 'layered:latest']);
    assert.equal((await other.store.get('busybox')).id, bb.id);
    const again = await other.store.get('layered');
    assert.equal(again.id, layered.id);
    assert.deepEqual(again.chainIds, layered.chainIds);
  });

  it('saves an image loaded from an oci-archive with uncompressed layers', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busyboxOci));
    const img = await store.get('busybox');
    const file = path.join(work, 'from-oci.tar');
    const files = readTar(await saveTo(store, [img.id], file));
    const layer = files.get(`blobs/sha256/${img.rootfs.diffIds[0]!.slice(7)}`)!;
    const { createHash } = await import('node:crypto');
    assert.equal(`sha256:${createHash('sha256').update(layer).digest('hex')}`, img.rootfs.diffIds[0]);
    assert.equal(JSON.parse(files.get('manifest.json')!.toString())[0].RepoTags, null, 'saved by id: untagged');
    const other = await freshStore();
    assert.deepEqual(await other.store.load(fileStream(file)), [img.id]);
  });

  it('fails before writing anything for a missing image', async () => {
    const { store } = await freshStore();
    await store.load(fileStream(fx.busybox));
    const written: Buffer[] = [];
    const out = new Writable({ write(chunk: Buffer, _enc, cb) { written.push(chunk); cb(); } });
    await assert.rejects(store.save(['busybox', 'nosuch'], out), (e: unknown) => isKind(e, 'NotFound') && /No such image: nosuch/.test((e as Error).message));
    assert.equal(Buffer.concat(written).length, 0, 'not a byte of the archive was written');
    // the same stream takes a save of what exists: it was not spent by the failure
    await store.save(['busybox'], out);
    assert.ok(readTar(Buffer.concat(written)).has('manifest.json'));
  });
});

describe('persistence', () => {
  it('a new store over the same root sees the same images and names', async () => {
    const { store, driver, root } = await freshStore();
    await store.load(fileStream(fx.layered));
    await store.tag('layered', 'kept:v2');
    // Leftovers of a crash: a half-ingested file and an orphan blob.
    await fs.writeFile(path.join(root, 'ingest', 'partial'), 'x');
    const orphan = path.join(root, 'blobs', 'sha256', 'f'.repeat(64));
    await fs.writeFile(orphan, 'orphan');
    const again = new LocalImageStore(root, driver);
    await again.init();
    const imgs = await again.list();
    assert.equal(imgs.length, 1);
    assert.deepEqual(imgs[0]!.repoTags, ['kept:v2', 'layered:latest']);
    assert.deepEqual(await fs.readdir(path.join(root, 'ingest')), []);
    await assert.rejects(fs.stat(orphan));
  });
});
