// Snapshot drivers end to end on the real filesystem: layers applied atomically, container
// snapshots prepared and (for overlay) really mounted, whiteouts honoured, failures leave
// nothing behind. Runs as root.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createDriver, checkOverlaySupported, chainIdOf } from '../../src/storage/index.js';
import type { SnapshotDriver } from '../../src/storage/types.js';
import { OverlayDriver } from '../../src/storage/overlay.js';
import { buildTar, type TarWriteEntry } from '../../src/storage/tarwrite.js';
import { isMounted, unmountUnder } from '../../src/storage/mounts.js';
import { TsulaError } from '../../src/common/errors.js';

let base = '';
before(async () => { base = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-driver-')); });
after(async () => {
  if (!base) return;
  await unmountUnder(base); // even when a test failed half-way through
  await fs.rm(base, { recursive: true, force: true });
});

interface Layer { chainId: string; parent: string | null; tar: Buffer }

/** Layers with correct OCI chain ids, bottom first. */
function chainOf(...layers: TarWriteEntry[][]): Layer[] {
  const out: Layer[] = [];
  let parent: string | null = null;
  for (const entries of layers) {
    const tar = buildTar(entries);
    const diffId = `sha256:${createHash('sha256').update(tar).digest('hex')}`;
    const chainId = chainIdOf(parent, diffId);
    out.push({ chainId, parent, tar });
    parent = chainId;
  }
  return out;
}

const stream = (b: Buffer) => Readable.from([b.subarray(0, 1000), b.subarray(1000)]);

async function applyAll(d: SnapshotDriver, layers: Layer[]): Promise<void> {
  for (const l of layers) await d.applyLayer(l.chainId, l.parent, stream(l.tar));
}

const isKind = (kind: string, re?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof TsulaError, String(e));
  assert.equal(e.kind, kind, e.message);
  if (re) assert.match(e.message, re);
  return true;
};

const image = chainOf(
  [
    { name: 'bin/', type: 'dir' }, { name: 'bin/sh', data: '#!sh', mode: 0o755 },
    { name: 'etc/', type: 'dir' }, { name: 'etc/gone', data: 'delete me' }, { name: 'etc/keep', data: 'keep' },
    { name: 'opq/', type: 'dir' }, { name: 'opq/old', data: 'old' },
  ],
  [
    { name: 'etc/.wh.gone' }, { name: 'etc/new', data: 'new' },
    { name: 'opq/.wh..wh..opq' }, { name: 'opq/fresh', data: 'fresh' },
  ],
);

it('overlay is supported on this host (real mount probe)', async () => {
  const r = await checkOverlaySupported(path.join(base, 'probe'));
  assert.equal(r.supported, true, r.reason);
  assert.ok(r.backingFs.length > 0);
  // nothing but the note that lets the next start skip the probe
  assert.deepEqual(await fs.readdir(path.join(base, 'probe')), ['.overlay-probed'], 'probe leaves nothing else');
  // a probe writes the note again when it ends: an old mtime that stays says none ran
  const note = path.join(base, 'probe', '.overlay-probed');
  await fs.utimes(note, new Date(1_000_000), new Date(1_000_000));
  assert.equal((await checkOverlaySupported(path.join(base, 'probe'))).supported, true);
  assert.equal((await fs.stat(note)).mtimeMs, 1_000_000, 'a second check reads the note instead of mounting again');
  // a note of another kernel or filesystem: probed again
  await fs.writeFile(path.join(base, 'probe', '.overlay-probed'), 'ext4 0.0.0\n');
  assert.equal((await checkOverlaySupported(path.join(base, 'probe'))).supported, true);
  assert.notEqual(await fs.readFile(path.join(base, 'probe', '.overlay-probed'), 'utf8'), 'ext4 0.0.0\n');
});

for (const name of ['overlay', 'vfs'] as const) {
  describe(`${name} driver`, () => {
    let d: SnapshotDriver;
    let root = '';
    before(async () => {
      root = path.join(base, name);
      d = await createDriver(name, root);
    });

    it('applies two layers; the second deletes a file of the first and makes a dir opaque', async () => {
      await applyAll(d, image);
      const info = await d.applyLayer(image[1].chainId, image[1].parent, stream(image[1].tar)); // idempotent
      assert.equal(info.chainId, image[1].chainId);
      assert.equal(info.parent, image[0].chainId);
      assert.equal(info.diffId, `sha256:${createHash('sha256').update(image[1].tar).digest('hex')}`);
      assert.equal(info.size, 3 + 5); // 'new' + 'fresh'
      assert.ok(await d.hasLayer(image[0].chainId));
      assert.deepEqual(await fs.readdir(path.join(root, 'layers')).then((l) => l.filter((n) => n.startsWith('.'))), []);
    });

    it('prepares and mounts a snapshot showing the merged tree', async () => {
      await d.prepare('c1', image.map((l) => l.chainId));
      const rootfs = await d.mount('c1');
      assert.equal(await d.mount('c1'), rootfs, 'mount is idempotent');
      if (name === 'overlay') assert.ok(await isMounted(rootfs));
      assert.equal(await fs.readFile(path.join(rootfs, 'bin/sh'), 'utf8'), '#!sh');
      assert.deepEqual((await fs.readdir(path.join(rootfs, 'etc'))).sort(), ['keep', 'new']);
      assert.deepEqual(await fs.readdir(path.join(rootfs, 'opq')), ['fresh']);
      await fs.writeFile(path.join(rootfs, 'etc/written'), 'by container');
      await d.unmount('c1');
      await d.unmount('c1'); // not mounted: fine
      const again = await d.mount('c1');
      assert.equal(await fs.readFile(path.join(again, 'etc/written'), 'utf8'), 'by container');
      assert.deepEqual(await d.listSnapshots(), ['c1']);
    });

    it('keeps snapshots apart and leaves the layers untouched', async () => {
      await d.prepare('c2', image.map((l) => l.chainId));
      const r2 = await d.mount('c2');
      assert.equal(await fs.readFile(path.join(r2, 'etc/written')).catch(() => null), null);
      await fs.rm(path.join(r2, 'bin/sh'));
      const r1 = await d.mount('c1');
      assert.equal(await fs.readFile(path.join(r1, 'bin/sh'), 'utf8'), '#!sh');
    });

    it('remove() unmounts a mounted snapshot and is idempotent', async () => {
      const r2 = await d.mount('c2');
      await d.remove('c2');
      assert.equal(await isMounted(r2), false);
      await assert.rejects(fs.lstat(path.join(root, 'snapshots/c2')), /ENOENT/);
      await d.remove('c2');
      await assert.rejects(d.mount('c2'), isKind('NotFound'));
      assert.deepEqual(await d.listSnapshots(), ['c1']);
    });

    it('checks snapshot keys and chains', async () => {
      await assert.rejects(d.prepare('c1', []), isKind('AlreadyExists'));
      await assert.rejects(d.prepare('../x', []), isKind('InvalidArgument'));
      await assert.rejects(d.prepare('x', [image[1].chainId]), isKind('InvalidArgument', /not on top of/));
      await assert.rejects(d.prepare('x', [`sha256:${'0'.repeat(64)}`]), isKind('NotFound'));
      await d.prepare('scratch', []);
      assert.deepEqual(await fs.readdir(await d.mount('scratch')), []);
      await d.remove('scratch');
    });

    it('refuses escaping layers and leaves nothing on disk', async () => {
      const bads: TarWriteEntry[][] = [
        [{ name: 'ok', data: 'x' }, { name: '../x', data: 'pwned' }],
        [{ name: 'link', type: 'symlink', linkname: '/' }, { name: 'link/etc/passwd', data: 'pwned' }],
        [{ name: 'link', type: 'symlink', linkname: '..' }, { name: 'link/x', data: 'pwned' }],
        [{ name: 'hl', type: 'link', linkname: '../../etc/passwd' }],
      ];
      for (const entries of bads) {
        const [l] = chainOf(entries);
        await assert.rejects(d.applyLayer(l.chainId, null, stream(l.tar)), isKind('InvalidArgument', /escapes the rootfs/));
        assert.equal(await d.hasLayer(l.chainId), false);
        await assert.rejects(fs.lstat(path.join(root, 'layers', l.chainId.slice(7))), /ENOENT/);
      }
      const left = (await fs.readdir(path.join(root, 'layers'))).filter((n) => n.startsWith('.'));
      assert.deepEqual(left, []);
      assert.deepEqual(await fs.readdir(root).then((l) => l.filter((n) => n.startsWith('.'))), []);
      if (name === 'overlay') assert.equal((await fs.readdir(path.join(root, 'l'))).length, 2, 'no stray short links');
    });

    it('refuses a truncated layer and a layer whose content does not match its chain id', async () => {
      const [l] = chainOf([{ name: 'big', data: Buffer.alloc(10_000, 1) }]);
      await assert.rejects(d.applyLayer(l.chainId, null, stream(l.tar.subarray(0, 4000))), isKind('InvalidArgument', /truncated/));
      assert.equal(await d.hasLayer(l.chainId), false);
      const [other] = chainOf([{ name: 'other', data: 'o' }]);
      await assert.rejects(d.applyLayer(l.chainId, null, stream(other.tar)), isKind('InvalidArgument', /does not match/));
      await assert.rejects(d.applyLayer(l.chainId, `sha256:${'1'.repeat(64)}`, stream(l.tar)), isKind('NotFound'));
      assert.deepEqual((await fs.readdir(path.join(root, 'layers'))).filter((n) => n.startsWith('.')), []);
    });

    it('removeLayer and cleanup', async () => {
      if (name === 'overlay') {
        await assert.rejects(d.removeLayer(image[0].chainId), isKind('FailedPrecondition'));
      }
      await d.remove('c1');
      await d.removeLayer(image[1].chainId);
      await d.removeLayer(image[1].chainId);
      assert.equal(await d.hasLayer(image[1].chainId), false);
      assert.ok(await d.hasLayer(image[0].chainId));
      // Crash leftovers: temp dirs and an unfinished snapshot (even with a mount inside).
      await fs.mkdir(path.join(root, 'layers/.tmp-dead/diff'), { recursive: true });
      await fs.mkdir(path.join(root, 'snapshots/.tmp-dead'), { recursive: true });
      await fs.mkdir(path.join(root, 'snapshots/half/merged'), { recursive: true });
      await fs.mkdir(path.join(root, 'layers', 'f'.repeat(64), 'diff'), { recursive: true });
      await import('node:child_process').then((cp) => cp.execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', path.join(root, 'snapshots/half/merged')]));
      if (name === 'overlay') await fs.symlink('../layers/nope/diff', path.join(root, 'l/0123456789abcdef'));
      await d.cleanup();
      if (name === 'overlay') assert.equal((await fs.readdir(path.join(root, 'l'))).length, 1, 'dangling short link removed');
      assert.deepEqual(await fs.readdir(path.join(root, 'snapshots')), []);
      assert.deepEqual(await fs.readdir(path.join(root, 'layers')), [image[0].chainId.slice(7)]);
      assert.ok(await d.hasLayer(image[0].chainId));
      assert.deepEqual(d.status()[0][0], 'Backing Filesystem');
    });
  });
}

describe('overlay lowerdir length', () => {
  it('mounts 150 layers through short links, and refuses too many with a clear error', async () => {
    const d = await createDriver('overlay', path.join(base, 'many')) as OverlayDriver;
    const layers = chainOf(...Array.from({ length: 230 }, (_, i) => [{ name: `f${i}`, data: String(i) }]));
    await applyAll(d, layers);
    await d.prepare('s150', layers.slice(0, 150).map((l) => l.chainId));
    const r = await d.mount('s150');
    assert.equal((await fs.readdir(r)).length, 150);
    assert.equal(await fs.readFile(path.join(r, 'f149'), 'utf8'), '149');
    await d.remove('s150');
    await d.prepare('s230', layers.map((l) => l.chainId));
    await assert.rejects(d.mount('s230'), isKind('FailedPrecondition', /230 layers/));
    await d.remove('s230');
  });
});
