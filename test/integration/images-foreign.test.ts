// Images built by other tools load, pull and run: an image made with umoci (its first layer
// starts with the entry "/" and has no end-of-archive marker), copied by skopeo to a
// docker-archive (layer.tar symlinked to top-level blobs), an oci-archive and a real registry
// (OCI and docker v2s2 manifests), and a docker-25-style `save` archive (OCI layout plus
// manifest.json). A layer with an escaping entry fails with the layer, the entry and the
// reason, on load and on pull, and so does a cut gzip stream; nothing is left behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { buildUmociImage, CHECK, dockerSave25, EXPECTED, sh } from '../helpers/foreign-images.js';

let work = '';
let image = '';
let reg: TestRegistry;
let d: TestDaemon;

before(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-foreign-'));
  image = await buildUmociImage(work);
  reg = await TestRegistry.start();
  d = await TestDaemon.create();
});

after(async () => {
  await d?.destroy();
  await reg?.stop();
  if (work) await fs.rm(work, { recursive: true, force: true });
});

// no catch: a layers dir that moved must fail the checks that it is empty
const layerDirs = async () => (await fs.readdir(path.join(d.graph, 'overlay', 'layers'))).filter((n) => !n.startsWith('.')).sort();

async function runsAndGoes(ref: string): Promise<void> {
  assert.equal(await d.ok(['run', '--rm', ref, ...CHECK]), EXPECTED);
  assert.notDeepEqual(await layerDirs(), [], 'its layers are where the checks look');
  await d.ok(['rmi', ref]);
  assert.deepEqual(await layerDirs(), [], 'rmi left no layer');
}

test('umoci layout -> skopeo docker-archive: load and run', async () => {
  const archive = path.join(work, 'docker.tar');
  await sh('skopeo', ['copy', '--quiet', `oci:${image}`, `docker-archive:${archive}:umoci/img:docker`]);
  const listing = await sh('tar', ['-tvf', archive]);
  assert.match(listing, /layer\.tar -> \.\.\/[0-9a-f]{64}\.tar/, 'skopeo links <id>/layer.tar to a top-level blob');
  assert.match(await d.ok(['load', '-i', archive]), /Loaded image: umoci\/img:docker/);
  await runsAndGoes('umoci/img:docker');
});

test('umoci layout -> skopeo oci-archive: load and run', async () => {
  const archive = path.join(work, 'oci.tar');
  await sh('skopeo', ['copy', '--quiet', `oci:${image}`, `oci-archive:${archive}:umoci/img:oci`]);
  assert.match(await d.ok(['load', '-i', archive]), /Loaded image: umoci\/img:oci/);
  await runsAndGoes('umoci/img:oci');
});

test('umoci layout -> skopeo to a registry (OCI and v2s2 manifests): pull and run', async () => {
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${image}`, `docker://${reg.host}/umoci/img:oci`]);
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${image}`, `docker://${reg.host}/umoci/img:v2s2`]);
  for (const tag of ['oci', 'v2s2']) {
    const ref = `${reg.host}/umoci/img:${tag}`;
    assert.match(await d.ok(['pull', ref]), /Downloaded newer image/);
    await runsAndGoes(ref);
  }
});

test('a docker-25-style save archive (OCI layout + manifest.json with blobs/ paths) loads and runs', async () => {
  const archive = path.join(work, 'docker25.tar');
  await dockerSave25(path.join(work, 'oci'), 'img', 'umoci/img:d25', archive);
  const listing = await sh('tar', ['-tf', archive]);
  for (const f of ['index.json', 'manifest.json', 'oci-layout', 'repositories']) assert.match(listing, new RegExp(`^${f}$`, 'm'));
  assert.match(await d.ok(['load', '-i', archive]), /Loaded image: umoci\/img:d25/);
  assert.equal(await d.ok(['run', '--rm', 'umoci/img:d25', ...CHECK]), EXPECTED);
  // Its OCI half alone (as containerd reads it): the same image, named by the index.
  const ociOnly = path.join(work, 'docker25-oci.tar');
  await dockerSave25(path.join(work, 'oci'), 'img', 'umoci/img:d25oci', ociOnly, { legacy: false });
  assert.match(await d.ok(['load', '-i', ociOnly]), /Loaded image: umoci\/img:d25oci/);
  assert.equal((await d.ok(['inspect', '-f', '{{.Id}}', 'umoci/img:d25oci'])).trim(), (await d.ok(['inspect', '-f', '{{.Id}}', 'umoci/img:d25'])).trim());
  await d.ok(['rmi', 'umoci/img:d25oci']);
  await runsAndGoes('umoci/img:d25');
});

test('a layer with an escaping entry: load and pull name the layer, the entry and the reason', async () => {
  const bad = path.join(work, 'bad');
  await fs.mkdir(path.join(bad, 'sub'), { recursive: true });
  await fs.writeFile(path.join(bad, 'evil'), 'evil\n');
  // GNU tar -P keeps "../evil" as it is.
  await sh('tar', ['-P', '-cf', path.join(work, 'bad.tar'), '../evil'], { cwd: path.join(bad, 'sub') });
  await fs.cp(path.join(work, 'oci'), path.join(work, 'oci-bad'), { recursive: true });
  const badImage = `${path.join(work, 'oci-bad')}:img`;
  await sh('umoci', ['raw', 'add-layer', '--image', badImage, path.join(work, 'bad.tar')]);
  const archive = path.join(work, 'bad-docker.tar');
  await sh('skopeo', ['copy', '--quiet', `oci:${badImage}`, `docker-archive:${archive}:umoci/bad:1`]);
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${badImage}`, `docker://${reg.host}/umoci/bad:1`]);

  const load = await d.cli(['load', '-i', archive]);
  assert.notEqual(load.code, 0);
  assert.match(load.stderr, /layer sha256:[0-9a-f]{64} \([0-9a-f]{64}\.tar\): layer tar entry "\.\.\/evil" escapes the rootfs \("\.\." leaves the root\)/);
  assert.doesNotMatch(load.stderr, /aborted/i);

  const pull = await d.cli(['pull', `${reg.host}/umoci/bad:1`]);
  assert.notEqual(pull.code, 0);
  assert.match(pull.stderr, /layer sha256:[0-9a-f]{64}: layer tar entry "\.\.\/evil" escapes the rootfs/);
  assert.doesNotMatch(pull.stderr, /aborted/i);

  assert.equal((await d.ok(['images', '-q'])).trim(), '');
  assert.deepEqual(await layerDirs(), [], 'nothing of the failed load and pull stays');
});

test('a layer whose gzip stream is cut (its blob digest matching): pull says it cannot read the layer', async () => {
  const layout = path.join(work, 'oci');
  const index = JSON.parse(await fs.readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
  const blob = (dg: string) => fs.readFile(path.join(layout, 'blobs/sha256', dg.slice('sha256:'.length)));
  const manifest = JSON.parse((await blob(index.manifests[0]!.digest)).toString()) as { config: { digest: string }; layers: Array<{ digest: string }> };
  const config = JSON.parse((await blob(manifest.config.digest)).toString()) as { rootfs: { diff_ids: string[] } };
  const cut = (await blob(manifest.layers[0]!.digest)).subarray(0, -8); // no gzip trailer
  const layer = await reg.pushBlob('umoci/cut', cut);
  const cfg = await reg.pushBlob('umoci/cut', Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [config.rootfs.diff_ids[0]] } })));
  await reg.putManifest('umoci/cut', '1', JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
  }), 'application/vnd.oci.image.manifest.v1+json');
  const r = await d.cli(['pull', `${reg.host}/umoci/cut:1`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`layer ${layer.digest}: cannot read layer: unexpected end of file`));
  assert.deepEqual(await layerDirs(), []);
});
