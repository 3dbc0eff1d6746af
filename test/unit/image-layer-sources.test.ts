// Where layers live on registries (layer-sources.ts) and which of those blobs a push tries
// (mount-plan.ts), without a registry: moby's cap of 50 per layer, the newest last, removal,
// pruning at start-up, a torn file read as nothing; the order of candidates (registry and path
// likeness, then the stored blob, then age), the size budgets, and media types in a manifest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { legacySource, LayerSources, MAX_SOURCES, withSource, type LayerSource } from '../../src/image/layer-sources.js';
import { attempts, byLikeness, existenceChecks, layerTypeIn, mountCandidates } from '../../src/image/registry/mount-plan.js';
import type { StoredLayer } from '../../src/image/records.js';

const D = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const src = (n: number, repository: string, registry = 'r:5000', mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip'): LayerSource =>
  ({ digest: D(n), mediaType, size: n, registry, repository });

test('withSource: the newest last, an equal one moved rather than doubled, at most MAX_SOURCES (the oldest go)', () => {
  let list: LayerSource[] = [];
  list = withSource(list, src(1, 'a'));
  list = withSource(list, src(2, 'b'));
  list = withSource(list, src(1, 'a'));
  assert.deepEqual(list.map((s) => s.repository), ['b', 'a']);
  // the same digest in another repository or registry is another source
  list = withSource(list, src(1, 'a', 'other:5000'));
  assert.equal(list.length, 3);
  for (let i = 0; i < 60; i++) list = withSource(list, src(100 + i, `n${i}`));
  assert.equal(list.length, MAX_SOURCES);
  assert.equal(list[0]!.repository, 'n10');
  assert.equal(list.at(-1)!.repository, 'n59');
});

test('LayerSources: add, get, remove, a torn file is no source, prune keeps the layers images have', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-sources-'));
  t.after(() => fs.rm(root, { recursive: true, force: true }));
  const s = new LayerSources(root);
  assert.deepEqual(await s.get(D(7)), []);
  // concurrent adds all land (one file each time, edited in turn)
  await Promise.all([s.add([{ diffId: D(7), source: src(1, 'a') }]), s.add([{ diffId: D(7), source: src(2, 'b') }, { diffId: D(8), source: src(3, 'c') }])]);
  assert.deepEqual((await s.get(D(7))).map((x) => x.repository), ['a', 'b']);
  assert.deepEqual((await s.get(D(8))).map((x) => x.repository), ['c']);
  await s.remove(D(7), src(1, 'a'));
  assert.deepEqual((await s.get(D(7))).map((x) => x.repository), ['b']);
  await s.remove(D(8), src(3, 'c'));
  await assert.rejects(fs.stat(path.join(s.dir, `${D(8).slice(7)}.json`)), /ENOENT/); // an empty list is no file
  // entries that are not whole are dropped; a file that is not JSON is nothing
  await fs.writeFile(path.join(s.dir, `${D(9).slice(7)}.json`), JSON.stringify([src(4, 'd'), { digest: 'x' }, { ...src(5, 'e'), size: 'big' }]));
  assert.deepEqual((await s.get(D(9))).map((x) => x.repository), ['d']);
  await fs.writeFile(path.join(s.dir, `${D(9).slice(7)}.json`), '[{"dig');
  assert.deepEqual(await s.get(D(9)), []);
  await fs.writeFile(path.join(s.dir, `.${D(7).slice(7)}.json.x.tmp`), '');
  await s.prune(new Set([D(7)]));
  assert.deepEqual(await fs.readdir(s.dir), [`${D(7).slice(7)}.json`]);
});

test('legacySource: the one remote a record of older tsula kept, split into registry and repository', () => {
  const l = { diffId: D(1), remote: { digest: D(2), size: 5, mediaType: 'm', from: '127.0.0.1:5000/ns/bb' } } as StoredLayer;
  assert.deepEqual(legacySource(l), { digest: D(2), size: 5, mediaType: 'm', registry: '127.0.0.1:5000', repository: 'ns/bb' });
  assert.equal(legacySource({ diffId: D(1) } as StoredLayer), undefined);
});

test('byLikeness: more path components in common first (registry first), then the stored blob, then the newest', () => {
  const target = { registry: 'r:5000', repository: 'team/app' };
  const sources = [src(1, 'team/app'), src(2, 'other/x'), src(3, 'team/lib'), src(4, 'team/app', 'elsewhere:5000'), src(5, 'other/y'), src(6, 'other/z')];
  assert.deepEqual(byLikeness(sources, target).map((s) => s.digest), [D(1), D(3), D(6), D(5), D(2), D(4)]);
  // among equals the blob stored here wins over a newer one
  assert.deepEqual(byLikeness(sources, target, D(2)).map((s) => s.digest), [D(1), D(3), D(2), D(6), D(5), D(4)]);
});

test('mountCandidates: the same registry, never the target, best first, as many as asked', () => {
  const target = { registry: 'r:5000', repository: 'team/app' };
  const sources = [src(1, 'team/app'), src(2, 'other/x'), src(3, 'team/lib'), src(4, 'team/lib', 'elsewhere:5000'), src(5, 'other/y')];
  assert.deepEqual(mountCandidates(sources, target, 4).map((s) => s.digest), [D(3), D(5), D(2)]);
  assert.deepEqual(mountCandidates(sources, target, 1).map((s) => s.digest), [D(3)]);
  assert.deepEqual(mountCandidates([], target, 4), []);
});

test('existenceChecks: one HEAD per digest, none twice; only the target\'s own sources unless checkOther', () => {
  const target = { registry: 'r:5000', repository: 'team/app' };
  const sources = [src(1, 'other/x'), src(2, 'team/app'), { ...src(2, 'other/y') }, src(3, 'x', 'elsewhere:5000')];
  assert.deepEqual(existenceChecks(sources, target, true, 5, new Set()).map((s) => s.digest), [D(2), D(1), D(3)]);
  assert.deepEqual(existenceChecks(sources, target, true, 1, new Set()).map((s) => s.digest), [D(2)]);
  assert.deepEqual(existenceChecks(sources, target, true, 5, new Set([D(2)])).map((s) => s.digest), [D(1), D(3)]);
  assert.deepEqual(existenceChecks(sources, target, false, 5, new Set()).map((s) => s.digest), [D(2)]);
});

test('attempts: moby\'s budgets by layer size', () => {
  assert.deepEqual(attempts(0), { mounts: 1, checks: 1, checkOther: false });
  assert.deepEqual(attempts(100 * 1024), { mounts: 1, checks: 1, checkOther: false });
  assert.deepEqual(attempts(100 * 1024 + 1), { mounts: 3, checks: 1, checkOther: false });
  assert.deepEqual(attempts(10 * 1024 * 1024 + 1), { mounts: 4, checks: 3, checkOther: true });
});

test('layerTypeIn: a layer named as the manifest\'s kind names it', () => {
  assert.equal(layerTypeIn('application/vnd.oci.image.layer.v1.tar+gzip', false), 'application/vnd.docker.image.rootfs.diff.tar.gzip');
  assert.equal(layerTypeIn('application/vnd.oci.image.layer.v1.tar', false), 'application/vnd.docker.image.rootfs.diff.tar');
  assert.equal(layerTypeIn('application/vnd.docker.image.rootfs.diff.tar', false), 'application/vnd.docker.image.rootfs.diff.tar');
  assert.equal(layerTypeIn('application/vnd.docker.image.rootfs.diff.tar.gzip', true), 'application/vnd.oci.image.layer.v1.tar+gzip');
  assert.equal(layerTypeIn('application/vnd.oci.image.layer.v1.tar+zstd', true), 'application/vnd.oci.image.layer.v1.tar+zstd');
  assert.equal(layerTypeIn('application/x-unknown', false), 'application/x-unknown');
});
