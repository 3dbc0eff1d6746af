// The documents of a `docker save` as dockerd 25+ writes them (moby's image/tarexport/save.go):
// manifest bytes as Go marshals an ocispec.Manifest, index.json's annotations, manifest.json's
// blob paths and LayerSources, repositories keyed bytewise as Go sorts a map.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { saveLayout, type LayoutImage } from '../../src/image/save-layout.js';

const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const D1 = sha('layer one');
const D2 = sha('layer two');

function image(config: object, tags: string[], diffIds: string[], parent?: string): LayoutImage<string> {
  const buf = Buffer.from(JSON.stringify(config));
  return {
    id: sha(buf), config: buf, created: '2024-01-02T03:04:05.5Z', tags, ...(parent ? { parent } : {}),
    layers: diffIds.map((d, i) => ({ diffId: d, diffSize: 1024 * (i + 1), ref: d })),
  };
}

describe('saveLayout', () => {
  const base = image({ a: 1 }, ['busybox:latest', 'busybox:10', 'busybox:2'], [D1]);
  const child = image({ b: 2 }, ['localhost:5000/x/y:v1'], [D1, D2], base.id);
  const untagged = image({ c: 3 }, [], [D2]);
  const layout = saveLayout([base, child, untagged]);
  const file = (p: string) => layout.files.find((f) => f.path === p)!.data.toString();

  it('writes each OCI manifest as Go marshals it, uncompressed layers named by diff id', () => {
    const data = Buffer.from(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${child.id}","size":${child.config.length}},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${D1}","size":1024},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"${D2}","size":2048}]}`);
    const blob = layout.blobs.find((b) => b.path === `blobs/sha256/${sha(data).slice(7)}`);
    assert.ok(blob?.data?.equals(data), 'the manifest blob is where its digest says');
  });

  it('puts every blob once, sorted by path, layers by reference and configs as stored', () => {
    const paths = layout.blobs.map((b) => b.path);
    assert.deepEqual(paths, [...paths].sort());
    assert.equal(paths.length, 3 + 2 + 3, 'three configs, two distinct layers, three manifests');
    assert.equal(layout.blobs.find((b) => b.path === `blobs/sha256/${D2.slice(7)}`)?.layer?.ref, D2);
    assert.ok(layout.blobs.find((b) => b.path === `blobs/sha256/${base.id.slice(7)}`)?.data?.equals(base.config));
    assert.equal(layout.blobs.find((b) => b.path === `blobs/sha256/${base.id.slice(7)}`)?.mtime.toISOString(), '2024-01-02T03:04:05.500Z');
    assert.deepEqual(layout.files.map((f) => f.path), ['index.json', 'manifest.json', 'oci-layout', 'repositories']);
  });

  it('index.json: one entry per tag with containerd\'s full name and the bare tag, the untagged image bare', () => {
    const index = JSON.parse(file('index.json')) as { schemaVersion: number; mediaType: string; manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.deepEqual(index.manifests.map((m) => m.annotations), [
      { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'latest' },
      { 'io.containerd.image.name': 'docker.io/library/busybox:10', 'org.opencontainers.image.ref.name': '10' },
      { 'io.containerd.image.name': 'docker.io/library/busybox:2', 'org.opencontainers.image.ref.name': '2' },
      { 'io.containerd.image.name': 'localhost:5000/x/y:v1', 'org.opencontainers.image.ref.name': 'v1' },
      undefined,
    ]);
    assert.equal(new Set(index.manifests.slice(0, 3).map((m) => m.digest)).size, 1, 'the tags of one image share its manifest');
  });

  it('manifest.json: blob paths, RepoTags, Parent only within the archive, every layer in LayerSources', () => {
    assert.ok(file('manifest.json').endsWith(']\n'), 'json.Encoder ends it with a newline');
    const m = JSON.parse(file('manifest.json')) as Array<Record<string, unknown>>;
    assert.deepEqual(m[1], {
      Config: `blobs/sha256/${child.id.slice(7)}`, RepoTags: ['localhost:5000/x/y:v1'],
      Layers: [`blobs/sha256/${D1.slice(7)}`, `blobs/sha256/${D2.slice(7)}`], Parent: base.id,
      LayerSources: {
        [D1]: { mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1024, digest: D1 },
        [D2]: { mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 2048, digest: D2 },
      },
    });
    assert.equal(m[2]!.RepoTags, null);
    assert.ok(!JSON.parse(saveLayout([child]).files[1]!.data.toString())[0].Parent, 'no Parent when it is not saved too');
  });

  it('repositories: the top layer\'s diff id, keys sorted bytewise as Go does ("10" before "2")', () => {
    assert.equal(file('repositories'),
      `{"busybox":{"10":"${D1.slice(7)}","2":"${D1.slice(7)}","latest":"${D1.slice(7)}"},"localhost:5000/x/y":{"v1":"${D2.slice(7)}"}}\n`);
    assert.equal(file('oci-layout'), '{"imageLayoutVersion": "1.0.0"}');
    assert.equal(saveLayout([untagged]).files.some((f) => f.path === 'repositories'), false, 'none without a tag');
  });
});
