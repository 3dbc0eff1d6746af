// zstd, xz and bzip2 as dockerd 28 and containerd take them, node 20 having no zstd of its
// own: a skopeo-made zstd image pulled from a real registry runs and pushes back with its own
// blobs; a zstd oci-archive loads and runs; a docker-archive's xz layer loads and pushes as
// gzip; `docker import` takes .tar.xz, .tar.zst and .tar.bz2; a build context, ADD and `cp`
// take them too; a zstd layer that does not decompress (the right digest for bad bytes) or
// does not hash to its digest fails the pull clearly, with nothing kept. Driven with the
// stock docker 20.10 CLI and skopeo.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { sh } from '../helpers/foreign-images.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { sha256, TestProxy, TestRegistry } from '../helpers/registry.js';

requirePrerequisites('images-compression', {
  root: true,
  files: {
    '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/skopeo': 'skopeo', '/usr/bin/docker-registry': 'docker-registry',
    '/usr/bin/zstd': 'zstd', '/usr/bin/xz': 'xz-utils', '/usr/bin/bzip2': 'bzip2', '/bin/busybox': 'busybox-static',
  },
});

const ZSTD_LAYER = 'application/vnd.oci.image.layer.v1.tar+zstd';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const busyboxTar = path.join(IMAGES, 'busybox.tar');

let reg: TestRegistry;
let d: TestDaemon;
let R = '';
let work = '';

before(async () => {
  dockerCliPath();
  reg = await TestRegistry.start();
  R = reg.host;
  d = await TestDaemon.create();
  work = path.join(d.dir, 'compression');
  await fs.mkdir(work);
});

after(async () => {
  await d?.destroy();
  await reg?.stop();
});

type Manifest = { mediaType: string; layers: Array<{ mediaType: string; digest: string; size: number }>; config: { digest: string } };

// no catch: a layers dir that moved must fail the checks that it is empty
const layerDirs = async () => (await fs.readdir(path.join(d.graph, 'overlay', 'layers'))).filter((n) => !n.startsWith('.')).sort();
const blobFiles = async () => (await fs.readdir(path.join(d.graph, 'image', 'blobs', 'sha256'))).sort();
const imageIds = async () => (await d.ok(['images', '-a', '-q', '--no-trunc'])).split('\n').filter(Boolean).sort();

/** What the store holds, to check that a failure kept nothing. */
async function state(): Promise<string[]> {
  return [...await layerDirs(), '--', ...await blobFiles(), '--', ...await imageIds()];
}

/** A root filesystem tarball: the static busybox and a marker file, compressed by `tool`. */
async function rootfsTarball(tool: string[] | null, name: string): Promise<string> {
  const dir = path.join(work, `rootfs-${name}`);
  await fs.mkdir(path.join(dir, 'bin'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(dir, 'bin', 'busybox'));
  await fs.chmod(path.join(dir, 'bin', 'busybox'), 0o755);
  await fs.symlink('busybox', path.join(dir, 'bin', 'sh'));
  await fs.writeFile(path.join(dir, 'hello'), `hello from ${name}\n`);
  const plain = execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 1 << 30 });
  const out = path.join(work, `${name}`);
  await fs.writeFile(out, tool ? execFileSync(tool[0]!, tool.slice(1), { input: plain, maxBuffer: 1 << 30 }) : plain);
  return out;
}

test('a skopeo-made zstd image: pulled from a registry, run, and pushed back with the same zstd blobs', async () => {
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'oci', '--dest-compress-format', 'zstd',
    `docker-archive:${busyboxTar}`, `docker://${R}/zstd/busybox:latest`]);
  const src = (await reg.getManifest('zstd/busybox', 'latest')).json as unknown as Manifest;
  assert.deepEqual(src.layers.map((l) => l.mediaType), [ZSTD_LAYER], 'skopeo wrote a zstd layer');
  const pulled = await dockerOk(d, ['pull', `${R}/zstd/busybox`]);
  assert.match(pulled, /Pull complete/);
  assert.match(pulled, new RegExp(`Downloaded newer image for ${R.replace(/\./g, '\\.')}/zstd/busybox:latest`));
  assert.equal(await dockerOk(d, ['run', '--rm', `${R}/zstd/busybox`, 'echo', 'ran from zstd']), 'ran from zstd\n');
  // the same layer as the gzip original: a diff id is the plain tar's
  await d.loadBusybox();
  const diffIds = (ref: string) => d.ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', ref]);
  assert.equal(await diffIds(`${R}/zstd/busybox`), await diffIds('busybox'));
  // push (to another repository, so no blob is mounted or found there): the layer goes as pulled
  await dockerOk(d, ['tag', `${R}/zstd/busybox`, `${R}/zstd/again:v1`]);
  assert.match(await dockerOk(d, ['push', `${R}/zstd/again:v1`]), /Pushed|Mounted from|Layer already exists/);
  const back = (await reg.getManifest('zstd/again', 'v1')).json as unknown as Manifest;
  assert.equal(back.mediaType, OCI_MANIFEST, 'zstd layers need an OCI manifest');
  assert.deepEqual(back.layers, src.layers, 'the zstd blob, not a recompression of it');
  assert.equal(back.config.digest, src.config.digest);
  await dockerOk(d, ['rmi', `${R}/zstd/busybox`, `${R}/zstd/again:v1`]);
});

test('docker load of an oci-archive with zstd layers (skopeo), then run and save back plain', async () => {
  const archive = path.join(work, 'zstd-oci.tar');
  await sh('skopeo', ['copy', '--quiet', '--format', 'oci', '--dest-compress-format', 'zstd', `docker-archive:${busyboxTar}`, `oci-archive:${archive}:zstd/loaded:v1`]);
  assert.match(await dockerOk(d, ['load', '-i', archive]), /Loaded image: zstd\/loaded:v1/);
  assert.equal(await dockerOk(d, ['run', '--rm', 'zstd/loaded:v1', 'echo', 'loaded from zstd']), 'loaded from zstd\n');
  // save writes the layer as the plain tar its diff id names: a plain load takes it
  const saved = path.join(work, 'zstd-saved.tar');
  await dockerOk(d, ['save', '-o', saved, 'zstd/loaded:v1']);
  const listing = execFileSync('tar', ['-xOf', saved, 'index.json']).toString();
  assert.match(listing, /zstd\/loaded:v1/);
  await dockerOk(d, ['rmi', 'zstd/loaded:v1']);
  assert.match(await dockerOk(d, ['load', '-i', saved]), /Loaded image: zstd\/loaded:v1/);
  await dockerOk(d, ['rmi', 'zstd/loaded:v1']);
  // the whole archive compressed, as docker load reads it (DecompressStream)
  const whole = path.join(work, 'busybox.tar.zst');
  await fs.writeFile(whole, execFileSync('zstd', ['-q', '-c', busyboxTar], { maxBuffer: 1 << 30 }));
  assert.match(await dockerOk(d, ['load', '-i', whole]), /Loaded image: busybox:latest/);
});

test('a docker-archive whose layer is xz loads, and pushes as gzip (registries take gzip or zstd)', async () => {
  const dir = path.join(work, 'xz-archive');
  await fs.mkdir(dir);
  execFileSync('tar', ['-C', dir, '-xf', busyboxTar]);
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Array<{ Layers: string[]; RepoTags: string[] }>;
  // the layer file may be a symlink to a blob: write the xz over what it points at
  const layer = await fs.realpath(path.join(dir, manifest[0]!.Layers[0]!));
  await fs.writeFile(layer, execFileSync('xz', ['-c', '-0', layer], { maxBuffer: 1 << 30 }));
  manifest[0]!.RepoTags = ['xz/busybox:v1'];
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
  const archive = path.join(work, 'xz-layer.tar');
  execFileSync('tar', ['-C', dir, '-cf', archive, '.']);
  assert.match(await dockerOk(d, ['load', '-i', archive]), /Loaded image: xz\/busybox:v1/);
  assert.equal(await dockerOk(d, ['run', '--rm', 'xz/busybox:v1', 'echo', 'xz layer']), 'xz layer\n');
  // a registry this daemon never pulled from: nothing to mount there (the shared registry has
  // this layer as zstd from the first test, which a push would mount, as dockerd does)
  const fresh = await TestRegistry.start();
  try {
    await dockerOk(d, ['tag', 'xz/busybox:v1', `${fresh.host}/xz/busybox:v1`]);
    await dockerOk(d, ['push', `${fresh.host}/xz/busybox:v1`]);
    const pushed = (await fresh.getManifest('xz/busybox', 'v1')).json as unknown as Manifest;
    assert.deepEqual(pushed.layers.map((l) => l.mediaType), ['application/vnd.docker.image.rootfs.diff.tar.gzip']);
    const blob = await fresh.getBlob('xz/busybox', pushed.layers[0]!.digest);
    assert.equal(blob[0], 0x1f, 'a gzip blob');
    assert.equal(sha256(gunzipSync(blob)), JSON.parse(await d.ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'xz/busybox:v1']))[0], 'of the plain diff');
    await dockerOk(d, ['rmi', 'xz/busybox:v1', `${fresh.host}/xz/busybox:v1`]);
  } finally {
    await fresh.stop();
  }
});

test('docker import of a .tar.xz, .tar.zst and .tar.bz2 (and a corrupt .tar.zst refused)', async () => {
  for (const [ext, tool] of [['xz', ['xz', '-c']], ['zst', ['zstd', '-q', '-c']], ['bz2', ['bzip2', '-c']]] as const) {
    const file = await rootfsTarball([...tool], `rootfs.tar.${ext}`);
    const id = (await dockerOk(d, ['import', file, `imported:${ext}`])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(await dockerOk(d, ['run', '--rm', `imported:${ext}`, '/bin/busybox', 'cat', '/hello']), `hello from rootfs.tar.${ext}\n`);
    await dockerOk(d, ['rmi', `imported:${ext}`]);
  }
  const before = await state();
  const good = await fs.readFile(await rootfsTarball(['zstd', '-q', '-c'], 'rootfs-bad.tar.zst'));
  const bad = Buffer.from(good);
  for (let i = 64; i < bad.length - 64; i += 101) bad[i] ^= 0x5a;
  await fs.writeFile(path.join(work, 'bad.tar.zst'), bad);
  const r = await docker(d, ['import', path.join(work, 'bad.tar.zst'), 'imported:bad']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /docker import: cannot decompress the zstd data: zstd: /);
  assert.deepEqual(await state(), before, 'nothing kept');
});

test('a zstd build context, ADD of local .tar.xz/.tar.zst/.tar.bz2, and cp of an xz archive', async () => {
  await d.loadBusybox();
  const ctx = path.join(work, 'ctx');
  await fs.mkdir(ctx);
  for (const [ext, tool] of [['xz', ['xz', '-c']], ['zst', ['zstd', '-q', '-c']], ['bz2', ['bzip2', '-c']]] as const) {
    await fs.copyFile(await rootfsTarball([...tool], `add.tar.${ext}`), path.join(ctx, `add.tar.${ext}`));
  }
  await fs.writeFile(path.join(ctx, 'Dockerfile'), [
    'FROM busybox',
    'ADD add.tar.xz /xz/',
    'ADD add.tar.zst /zst/',
    'ADD add.tar.bz2 /bz2/',
    'RUN cat /xz/hello /zst/hello /bz2/hello > /all',
  ].join('\n'));
  const context = execFileSync('sh', ['-c', `tar -C ${ctx} -cf - . | zstd -q -c`], { maxBuffer: 1 << 30 });
  // straight to the API: the 20.10 CLI does not know zstd, and would send it as a Dockerfile
  const built = await d.api('POST', '/v1.41/build?t=ctx:zstd&q=1', context, { 'Content-Type': 'application/x-tar' });
  assert.equal(built.status, 200, built.body);
  assert.doesNotMatch(built.body, /errorDetail/, built.body);
  assert.equal(await dockerOk(d, ['run', '--rm', 'ctx:zstd', 'cat', '/all']), 'hello from add.tar.xz\nhello from add.tar.zst\nhello from add.tar.bz2\n');
  // cp: dockerd untars an upload through DecompressStream
  const cid = (await dockerOk(d, ['create', 'busybox', 'true'])).trim();
  const xz = await fs.readFile(path.join(ctx, 'add.tar.xz'));
  const put = await d.api('PUT', `/containers/${cid}/archive?path=/tmp`, xz, { 'Content-Type': 'application/x-tar' });
  assert.equal(put.status, 200, put.body);
  const got = execFileSync(dockerCliPath(), ['cp', `${cid}:/tmp/hello`, '-'], { env: { ...process.env, DOCKER_HOST: `unix://${d.sock}`, DOCKER_CONFIG: path.join(d.dir, 'docker-config') } });
  assert.match(got.toString('latin1'), /hello from add\.tar\.xz/);
  await dockerOk(d, ['rm', cid]);
  await dockerOk(d, ['rmi', 'ctx:zstd']);
});

test('a zstd layer that does not decompress, or not to its digest: the pull fails clearly, nothing kept', async () => {
  // the right digest for bytes that are no zstd frame past its magic
  const garbage = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(64 << 10, 0x41)]);
  const layer = await reg.pushBlob('zstd/broken', garbage);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [sha256('whatever')] } }));
  const cfg = await reg.pushBlob('zstd/broken', config);
  const manifest = {
    schemaVersion: 2, mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
    layers: [{ mediaType: ZSTD_LAYER, ...layer }],
  };
  await reg.putManifest('zstd/broken', 'latest', JSON.stringify(manifest), OCI_MANIFEST);
  const before = await state();
  const r = await docker(d, ['pull', `${R}/zstd/broken`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`layer ${layer.digest}: cannot decompress the zstd data: zstd: `));
  assert.deepEqual(await state(), before, 'nothing kept');

  // a real zstd layer (one this daemon lacks) whose bytes change on the way: it fails
  await sh('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'oci', '--dest-compress-format', 'zstd',
    `docker-archive:${path.join(IMAGES, 'layered.tar')}`, `docker://${R}/zstd/tampered:latest`]);
  const m = (await reg.getManifest('zstd/tampered', 'latest')).json as unknown as Manifest;
  const proxy = await new TestProxy(R, { corrupt: new Set([m.layers.at(-1)!.digest]) }).start();
  try {
    const before2 = await state();
    const t = await docker(d, ['pull', `${proxy.host}/zstd/tampered`]);
    assert.equal(t.code, 1);
    // the download's digest check, or the decompression if it reads the bad bytes first
    const bad = m.layers.at(-1)!.digest;
    assert.match(t.stderr, new RegExp(`filesystem layer verification failed for digest ${bad}|layer ${bad}: cannot decompress the zstd data`));
    assert.deepEqual(await state(), before2, 'nothing kept');
  } finally {
    await proxy.stop();
  }
});
