// No store lock is held while a client stream is waited on: a save whose reader stalls and
// a load whose sender stalls must not hold up load, tag, rmi (the `tsula save | tsula load`
// deadlock). What a save still has to read stays on disk until it is done, then goes.
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LocalImageStore } from '../../src/image/store.js';
import { buildFixtures, FakeDriver, fileStream, tempDir, type Fixtures } from './image-fixtures.test.js';

let fx: Fixtures;
let work: string;
before(async () => { fx = buildFixtures(); work = await tempDir('tsula-store-locking-'); });
after(async () => { await fs.rm(work, { recursive: true, force: true }); });

async function freshStore(): Promise<{ store: LocalImageStore; root: string; driver: FakeDriver }> {
  const root = await fs.mkdtemp(path.join(work, 'root-'));
  const driver = new FakeDriver();
  const store = new LocalImageStore(root, driver);
  await store.init();
  return { store, root, driver };
}

/** `p`, or a failure naming `what` if it does not settle in time (instead of a hung test). */
async function soon<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} hung`)), ms); });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

const notUsed = () => false;

async function collect(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('store locking', () => {
  it('a save whose reader stalls holds no lock: load, tag and rmi go on; the archive still completes', async () => {
    const { store, root } = await freshStore();
    const [name] = await store.load(fileStream(fx.busybox));
    const id = (await store.get(name!)).id;
    const out = new PassThrough({ highWaterMark: 4096 });
    const saving = store.save([name!], out);
    // Wait until the save is blocked on its reader (its buffer is full).
    while (out.readableLength < 4096) await new Promise((r) => setTimeout(r, 5));

    assert.deepEqual(await soon(store.load(fileStream(fx.layered)), 'load during a stalled save'), ['layered:latest']);
    await soon(store.tag(name!, 'other:1'), 'tag during a stalled save');
    await soon(store.remove('other:1', { force: false, inUse: notUsed }), 'rmi during a stalled save');
    const removed = await soon(store.remove(name!, { force: false, inUse: notUsed }), 'rmi during a stalled save');
    assert.ok(removed.some((r) => r.Deleted === id), 'the image is gone from the store');
    assert.equal(await fs.stat(path.join(root, 'blobs/sha256', id.slice(7))).then(() => true, () => false), true,
      'its config stays while the save still needs it');

    const archive = await soon(collect(out), 'reading the save');
    await soon(saving, 'the save');
    assert.equal(await fs.stat(path.join(root, 'blobs/sha256', id.slice(7))).then(() => true, () => false), false,
      'collected once the save is done');
    const other = await freshStore();
    const [again] = await other.store.load(Readable.from(archive));
    assert.equal((await other.store.get(again!)).id, id, 'the archive is whole');
  });

  it('a load whose sender stalls holds no lock until its archive is in', async () => {
    const { store } = await freshStore();
    const [name] = await store.load(fileStream(fx.busybox));
    const bytes = readFileSync(fx.layered);
    const input = new PassThrough();
    const loading = store.load(input);
    input.write(bytes.subarray(0, bytes.length >> 1));
    await soon(store.tag(name!, 'other:1'), 'tag during a stalled load');
    await soon(store.remove('other:1', { force: false, inUse: notUsed }), 'rmi during a stalled load');
    assert.deepEqual(await soon(store.load(fileStream(fx.busybox)), 'another load during a stalled load'), ['busybox:latest']);
    input.end(bytes.subarray(bytes.length >> 1));
    assert.deepEqual(await soon(loading, 'the stalled load'), ['layered:latest']);
  });

  it('a save pins blobs, not layers: an rmi meanwhile removes the layers at once', async () => {
    // busybox.tar's layer is uncompressed: its blob digest is also its chain id.
    const { store, driver } = await freshStore();
    const [name] = await store.load(fileStream(fx.busybox));
    const img = await store.get(name!);
    assert.equal(driver.layers.has(img.chainIds[0]!), true);
    const out = new PassThrough({ highWaterMark: 4096 });
    const saving = store.save([name!], out);
    while (out.readableLength < 4096) await new Promise((r) => setTimeout(r, 5));
    await store.remove(name!, { force: false, inUse: notUsed });
    assert.equal(driver.layers.size, 0, 'the layer went with the image');
    await soon(collect(out), 'reading the save');
    await saving;
  });

  it('a save whose reader goes away releases what it pinned', async () => {
    const { store, root } = await freshStore();
    const [name] = await store.load(fileStream(fx.busybox));
    const id = (await store.get(name!)).id;
    const out = new PassThrough({ highWaterMark: 4096 });
    const saving = store.save([name!], out);
    while (out.readableLength < 4096) await new Promise((r) => setTimeout(r, 5));
    await store.remove(name!, { force: false, inUse: notUsed });
    out.destroy(); // the client hung up
    await assert.rejects(soon(saving, 'the abandoned save'));
    assert.equal(await fs.stat(path.join(root, 'blobs/sha256', id.slice(7))).then(() => true, () => false), false);
  });
});
