// `docker save` writes what dockerd 25+ writes (moby's image/tarexport/save.go): an OCI image
// layout (oci-layout, index.json, blobs/sha256/<hex>) with manifest.json and repositories
// pointing at the same blobs, at every API version. Checked with the stock docker 20.10 CLI,
// skopeo's oci-archive transport, umoci, a load into a second daemon that runs the images,
// and docker 28's CLI where it is installed (it is no project dependency).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { IMAGES, TestDaemon, type RunResult } from '../helpers/daemon.js';
import { dockerCliPath, dockerEnv, dockerOk } from '../helpers/docker-cli.js';
import { deriveBusybox } from '../helpers/docker-images.js';
import { sh } from '../helpers/foreign-images.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-save-oci', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/skopeo': 'skopeo', '/usr/bin/umoci': 'umoci' } });

// docker 28 is not installed by scripts/: used where it is, named by TSULA_DOCKER_CLI_28
const DOCKER28 = process.env.TSULA_DOCKER_CLI_28 ?? '/usr/local/bin/docker';

let d: TestDaemon;
let d2: TestDaemon;
let dir = '';
before(async () => {
  dockerCliPath();
  [d, d2] = await Promise.all([TestDaemon.create(), TestDaemon.create()]);
  dir = path.join(d.dir, 'saves');
  await fs.mkdir(dir);
  await d.loadBusybox();
  await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  // an image of its own on busybox's layer: a second layer and its own config
  await deriveBusybox({ tag: 'derived:v1', config: { Env: ['X=1'] }, files: { '/etc/derived': 'derived file\n' } }, path.join(dir, 'derived-in.tar'));
  await d.ok(['load', '-i', path.join(dir, 'derived-in.tar')]);
  for (const t of ['bb:one', 'bb:two']) await d.ok(['tag', 'busybox', t]);
});
after(async () => {
  await d?.destroy();
  await d2?.destroy();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const idOf = async (t: TestDaemon, ref: string) => (await t.ok(['image', 'inspect', '-f', '{{.Id}}', ref])).trim();

function run(cli: string, t: TestDaemon, args: string[]): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cli, args, { env: dockerEnv(t), timeout: 60_000, maxBuffer: 64 << 20 },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
  });
}

/** GET path on the daemon's socket: the body. */
function apiGet(t: TestDaemon, p: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: t.sock, path: p, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${p}: ${res.statusCode} ${Buffer.concat(chunks)}`))));
    }).on('error', reject);
  });
}

interface OciDescriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

test('docker save (20.10 CLI) of several images and tags: the OCI layout, manifest.json and repositories as dockerd 25+', async () => {
  const tar = path.join(dir, 'multi.tar');
  await dockerOk(d, ['save', '-o', tar, 'bb', 'layered', 'derived:v1']);
  const listing = (await sh('tar', ['-tf', tar])).trim().split('\n');
  assert.deepEqual(listing.filter((n) => !/^blobs\/sha256\/[0-9a-f]{64}$/.test(n)),
    ['blobs/', 'blobs/sha256/', 'index.json', 'manifest.json', 'oci-layout', 'repositories'], 'no legacy <id>/layer.tar nor <id>.json');
  const out = path.join(dir, 'multi');
  await fs.mkdir(out);
  await sh('tar', ['-xf', tar, '-C', out]);
  const read = (p: string) => fs.readFile(path.join(out, p));
  const json = async <T>(p: string) => JSON.parse((await read(p)).toString()) as T;
  for (const n of listing.filter((x) => /^blobs\/sha256\/./.test(x))) assert.equal(sha256(await read(n)), n.slice(13), `${n} holds what its name says`);
  assert.equal((await read('oci-layout')).toString(), '{"imageLayoutVersion": "1.0.0"}');

  const [bb, layered, derived] = await Promise.all(['bb:one', 'layered', 'derived:v1'].map((r) => idOf(d, r)));
  const index = await json<{ schemaVersion: number; mediaType: string; manifests: OciDescriptor[] }>('index.json');
  assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
  const names = index.manifests.map((m) => m.annotations!['io.containerd.image.name']).sort();
  assert.deepEqual(names, ['docker.io/library/bb:one', 'docker.io/library/bb:two', 'docker.io/library/derived:v1', 'docker.io/library/layered:latest']);
  for (const m of index.manifests) {
    assert.equal(m.annotations!['org.opencontainers.image.ref.name'], m.annotations!['io.containerd.image.name']!.split(':').pop());
    const manifest = await json<{ mediaType: string; config: OciDescriptor; layers: OciDescriptor[] }>(`blobs/sha256/${m.digest.slice(7)}`);
    assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
    assert.equal(manifest.config.mediaType, 'application/vnd.oci.image.config.v1+json');
    const config = await json<{ rootfs: { diff_ids: string[] } }>(`blobs/sha256/${manifest.config.digest.slice(7)}`);
    // each layer blob is the uncompressed tar whose sha256 is its diff id
    assert.deepEqual(manifest.layers.map((l) => l.digest), config.rootfs.diff_ids);
    for (const l of manifest.layers) assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar');
  }
  const docker = await json<Array<{ Config: string; RepoTags: string[]; Layers: string[]; LayerSources: Record<string, OciDescriptor> }>>('manifest.json');
  assert.deepEqual(docker.map((e) => [e.Config, e.RepoTags.sort()]), [
    [`blobs/sha256/${bb.slice(7)}`, ['bb:one', 'bb:two']], [`blobs/sha256/${layered.slice(7)}`, ['layered:latest']], [`blobs/sha256/${derived.slice(7)}`, ['derived:v1']],
  ]);
  for (const e of docker) {
    assert.deepEqual(Object.keys(e.LayerSources).map((k) => `blobs/sha256/${k.slice(7)}`).sort(), [...new Set(e.Layers)].sort());
  }
  // the top layer's diff id, as dockerd 25+ writes it: bb and derived differ, their tags too
  const top = (e: { Layers: string[] }) => e.Layers[e.Layers.length - 1]!.slice(13);
  assert.deepEqual(await json('repositories'), { bb: { one: top(docker[0]!), two: top(docker[0]!) }, layered: { latest: top(docker[1]!) }, derived: { v1: top(docker[2]!) } });

  // skopeo reads it as an oci-archive: by ref name, the image's config and layers
  const inspect = JSON.parse(await sh('skopeo', ['inspect', '--config', `oci-archive:${tar}:v1`])) as { rootfs: { diff_ids: string[] } };
  assert.equal(`sha256:${sha256(Buffer.from(await sh('skopeo', ['inspect', '--config', '--raw', `oci-archive:${tar}:v1`])))}`, derived);
  assert.equal(inspect.rootfs.diff_ids.length, 2);
  // copied out (skopeo checks every digest) and unpacked by umoci: the derived layer's file is there
  await sh('skopeo', ['copy', '-q', `oci-archive:${tar}:v1`, `oci:${path.join(dir, 'layout')}:v1`]);
  await sh('umoci', ['unpack', '--image', `${path.join(dir, 'layout')}:v1`, path.join(dir, 'bundle')]);
  assert.equal(await fs.readFile(path.join(dir, 'bundle/rootfs/etc/derived'), 'utf8'), 'derived file\n');
  assert.ok(existsSync(path.join(dir, 'bundle/rootfs/bin/busybox')));

  // round trip: load into a second daemon, same ids, and the images run
  const loaded = await dockerOk(d2, ['load', '-i', tar]);
  assert.deepEqual(loaded.trim().split('\n').sort(), ['Loaded image: bb:one', 'Loaded image: bb:two', 'Loaded image: derived:v1', 'Loaded image: layered:latest']);
  assert.deepEqual(await Promise.all(['bb:two', 'layered', 'derived:v1'].map((r) => idOf(d2, r))), [bb, layered, derived]);
  assert.equal(await dockerOk(d2, ['run', '--rm', 'derived:v1', 'sh', '-c', 'cat /etc/derived; echo $X']), 'derived file\n1\n');
});

test('the layout is the daemon\'s: the same bytes at API 1.41, 1.44 and 1.50; an image without layers is refused as dockerd does', async () => {
  const q = '/images/get?names=bb%3Aone&names=derived%3Av1';
  const [v41, v44, v50] = await Promise.all(['/v1.41', '/v1.44', '/v1.50'].map((v) => apiGet(d, v + q)));
  assert.equal(sha256(v44!), sha256(v41!));
  assert.equal(sha256(v50!), sha256(v41!));
  assert.ok(v41!.includes('oci-layout'));
  // FROM scratch with only metadata: dockerd's tarexport has no export for it (a 500, before any byte)
  const meta = path.join(dir, 'meta');
  await fs.mkdir(meta);
  await fs.writeFile(path.join(meta, 'c.json'), JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { x: '1' } }, rootfs: { type: 'layers', diff_ids: [] } }));
  await fs.writeFile(path.join(meta, 'manifest.json'), JSON.stringify([{ Config: 'c.json', RepoTags: ['meta:1'], Layers: [] }]));
  await sh('tar', ['-cf', `${meta}.tar`, '-C', meta, 'c.json', 'manifest.json']);
  await d.ok(['load', '-i', `${meta}.tar`]);
  await assert.rejects(apiGet(d, '/v1.41/images/meta:1/get'), /: 500 .*empty export - not implemented/);
  await d.ok(['rmi', 'meta:1']);
});

test('docker 28\'s CLI: save writes the same archive, and load takes the new and the old (20.10) layouts', async (t) => {
  if (!existsSync(DOCKER28)) { t.skip(`no docker 28 CLI at ${DOCKER28} (TSULA_DOCKER_CLI_28)`); return; }
  const version = (await run(DOCKER28, d, ['version', '-f', '{{.Client.Version}}'])).stdout.trim();
  assert.match(version, /^(2[5-9]|[3-9]\d)\./, `${DOCKER28} is docker ${version}`);
  const tar = path.join(dir, 'd28.tar');
  const save = await run(DOCKER28, d, ['save', '-o', tar, 'bb:one', 'derived:v1']);
  assert.equal(save.code, 0, save.stderr);
  assert.equal(sha256(await fs.readFile(tar)), sha256(await apiGet(d, '/v1.41/images/get?names=bb%3Aone&names=derived%3Av1')));
  for (const ref of ['bb:one', 'bb:two', 'derived:v1', 'busybox:latest']) await d2.ok(['rmi', '-f', ref]).catch(() => undefined);
  const load = await run(DOCKER28, d2, ['load', '-i', tar]);
  assert.equal(load.code, 0, load.stderr);
  assert.match(load.stdout, /Loaded image: derived:v1/);
  const old = await run(DOCKER28, d2, ['load', '-i', path.join(IMAGES, 'busybox.tar')]);
  assert.equal(old.code, 0, old.stderr);
  assert.match(old.stdout, /Loaded image: busybox:latest/);
  const r = await run(DOCKER28, d2, ['run', '--rm', 'derived:v1', 'cat', '/etc/derived']);
  assert.equal(r.stdout, 'derived file\n', r.stderr);
});

test('load keeps parents: a child saved with its parent gets it back (manifest.json Parent, checked as dockerd\'s checkValidParent); an image there already keeps its own', async () => {
  const commit = async (from: string, file: string, tag?: string) => {
    const c = (await d.ok(['run', '-d', from, 'touch', `/${file}`])).trim();
    await d.ok(['wait', c]);
    const id = (await d.ok(['commit', c, ...(tag ? [tag] : [])])).trim();
    await d.ok(['rm', c]);
    return id;
  };
  const parentOf = async (ref: string) => (await d.ok(['image', 'inspect', '-f', '{{.Parent}}', ref])).trim();
  const foo = await commit('busybox', 'foo');
  const bar = await commit(foo, 'bar');
  assert.equal(await parentOf(bar), foo);
  const out = path.join(dir, 'parents.tar');
  await d.ok(['save', '-o', out, bar, foo]);
  await d.ok(['rmi', bar]); // foo too: a nameless parent goes with its last child
  await d.ok(['load', '-i', out]);
  assert.equal(await parentOf(bar), foo, 'the child is linked again');
  assert.equal(await parentOf(foo), '', 'its own parent (busybox) is not in the archive');
  await d.ok(['rmi', bar]);
  // an image that is there already keeps its parent when loaded again (dockerd's store.Create)
  const kept = await commit('busybox', 'kept', 'keptparent:1');
  const bb = await idOf(d, 'busybox');
  assert.equal(await parentOf(kept), bb);
  const out2 = path.join(dir, 'kept.tar');
  await d.ok(['save', '-o', out2, 'keptparent:1']);
  await d.ok(['load', '-i', out2]);
  assert.equal(await parentOf('keptparent:1'), bb);
  await d.ok(['rmi', 'keptparent:1']);
});
