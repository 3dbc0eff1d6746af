// The image store over the real vfs snapshot driver (src/storage): layers really unpacked,
// whiteouts of the layered image applied, shared layers kept on rmi.
import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { LocalImageStore } from '../../src/image/store.js';
import { createDriver } from '../../src/storage/index.js';
import { buildFixtures, tempDir, type Fixtures } from './image-fixtures.test.js';

let fx: Fixtures;
let work: string;
before(async () => { fx = buildFixtures(); work = await tempDir(); });
after(async () => { await fs.rm(work, { recursive: true, force: true }); });

describe('with the vfs driver', () => {
  it('unpacks layered:latest with its whiteouts and keeps busybox\'s layer on rmi', async () => {
    const driver = await createDriver('vfs', path.join(work, 'vfs'));
    const store = new LocalImageStore(path.join(work, 'image'), driver);
    await store.init();
    assert.deepEqual(await store.load(Readable.from(readFileSync(fx.busybox))), ['busybox:latest']);
    assert.deepEqual(await store.load(Readable.from(readFileSync(fx.layered))), ['layered:latest']);
    const bb = await store.get('busybox');
    const img = await store.get('layered');
    for (const c of img.chainIds) assert.ok(await driver.hasLayer(c), c);
    assert.ok(img.size > 1_000_000);

    await driver.prepare('image-test', img.chainIds);
    try {
      const rootfs = await driver.mount('image-test');
      const p = (x: string) => path.join(rootfs, x);
      assert.equal(readFileSync(p('data/keep'), 'utf8'), 'keep\n');
      assert.equal(existsSync(p('data/gone')), false, 'whiteout applied');
      assert.deepEqual((await fs.readdir(p('opq'))).sort(), ['b'], 'opaque dir hides the lower /opq/a');
      assert.equal(await fs.readlink(p('bin/sh')), 'busybox');
      assert.equal(((await fs.stat(p('tmp'))).mode & 0o7777), 0o1777);
      assert.match(readFileSync(p('etc/passwd'), 'utf8'), /^nobody:x:65534:65534:/m);
    } finally {
      await driver.remove('image-test');
    }

    const out = await store.remove('layered', { force: false, inUse: () => false });
    assert.deepEqual(out.map((o) => Object.keys(o)[0]), ['Untagged', 'Deleted', 'Deleted', 'Deleted']);
    assert.equal(await driver.hasLayer(img.chainIds[2]!), false);
    assert.equal(await driver.hasLayer(img.chainIds[1]!), false);
    assert.ok(await driver.hasLayer(bb.chainIds[0]!), 'shared base layer kept');
    await store.remove('busybox', { force: false, inUse: () => false });
    assert.equal(await driver.hasLayer(bb.chainIds[0]!), false);
  });
});
