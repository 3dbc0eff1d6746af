// Pulls from a real docker-registry on loopback: progress as docker shows it, the API's
// JSON stream, layer reuse, whiteouts, digests, platforms, run's implicit pull, concurrent
// pulls sharing their downloads, mirrors, prune and the store size in info (zstd layers:
// images-compression.test.ts).
// Each test sets up what it needs (a daemon of its own where the layers present matter).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { IMAGES, TestDaemon, waitFor } from '../helpers/daemon.js';
import { TestProxy, TestRegistry } from '../helpers/registry.js';

let reg: TestRegistry;
let d: TestDaemon;
let R: string;
const busyboxTar = path.join(IMAGES, 'busybox.tar');
const layeredTar = path.join(IMAGES, 'layered.tar');

before(async () => {
  reg = await TestRegistry.start();
  R = reg.host;
  await reg.push(busyboxTar, 'busybox:latest');
  await reg.push(layeredTar, 'layered:latest', 'oci');
  d = await TestDaemon.create();
});

after(async () => {
  await d?.destroy();
  await reg?.stop();
});

const lines = (s: string) => s.trim().split('\n');
// no catch: a layers dir that moved must fail the checks that it is empty
const layerDirs = async (dd: TestDaemon) => (await fs.readdir(path.join(dd.graph, 'overlay', 'layers'))).filter((n) => !n.startsWith('.')).sort();
const short = (digest: string) => digest.slice('sha256:'.length, 'sha256:'.length + 12);

/** Whether a JSON progress stream (so far) has this status for this layer. */
function apiSaid(stream: string, status: string, id: string): boolean {
  return stream.split('\n').some((l) => { try { const m = JSON.parse(l) as { status?: string; id?: string }; return m.status === status && m.id === id; } catch { return false; } });
}

/** A daemon of the test's own, removed when the test ends (also when it fails). */
async function ownDaemon(t: { after: (fn: () => Promise<void>) => void }, opts: Parameters<typeof TestDaemon.create>[0] = {}): Promise<TestDaemon> {
  const dd = await TestDaemon.create(opts);
  t.after(() => dd.destroy());
  return dd;
}

test('pull shows docker-style progress; the image runs; a second pull is up to date', async () => {
  const out = await d.ok(['pull', `${R}/busybox`]);
  const l = lines(out);
  // docker 20.10's pull: the default tag it chose first, the reference it pulled last
  assert.equal(l[0], 'Using default tag: latest');
  assert.equal(l[1], 'latest: Pulling from busybox');
  assert.ok(l.some((x) => /^[0-9a-f]{12}: Pulling fs layer$/.test(x)), out);
  assert.ok(l.some((x) => /^[0-9a-f]{12}: Pull complete$/.test(x)), out);
  assert.match(out, /^Digest: sha256:[0-9a-f]{64}$/m);
  assert.equal(l.at(-2), `Status: Downloaded newer image for ${R}/busybox:latest`);
  assert.equal(l.at(-1), `${R}/busybox:latest`);
  assert.match(await d.ok(['images']), new RegExp(`${R.replace(/\./g, '\\.')}/busybox\\s+latest`));
  assert.equal(await d.ok(['run', '--rm', `${R}/busybox`, 'echo', 'hello from the registry']), 'hello from the registry\n');

  const again = await d.ok(['pull', `${R}/busybox:latest`]);
  assert.doesNotMatch(again, /Pulling fs layer|Download/);
  assert.equal(lines(again).at(-2), `Status: Image is up to date for ${R}/busybox:latest`);
  const digest = /Digest: (sha256:[0-9a-f]{64})/.exec(out)![1]!;
  const inspect = JSON.parse(await d.ok(['image', 'inspect', `${R}/busybox`])) as Array<{ RepoDigests: string[] }>;
  assert.deepEqual(inspect[0]!.RepoDigests, [`${R}/busybox@${digest}`]);
});

test('layers already present are not downloaded again; whiteouts of an OCI image apply', async (t) => {
  const d = await ownDaemon(t);
  await d.ok(['pull', '-q', `${R}/busybox`]); // layered's bottom layer
  const out = await d.ok(['pull', `${R}/layered`]);
  assert.equal(lines(out).filter((x) => x.endsWith(': Already exists')).length, 1, out);
  assert.equal(lines(out).filter((x) => x.endsWith(': Pull complete')).length, 2, out);
  const ls = await d.ok(['run', '--rm', `${R}/layered`, 'sh', '-c', 'ls /data; echo --; ls /opq; cat /data/keep; test -e /data/gone && echo GONE-EXISTS; test -e /opq/a && echo A-EXISTS; true']);
  assert.equal(ls, 'keep\n--\nb\nkeep\n');
});

test('POST /images/create streams JSON progress in docker\'s shape', async (t) => {
  await reg.push(layeredTar, 'apistream:v1');
  // busybox's layer is there, the layered image's own two are new
  const d = await ownDaemon(t);
  await d.ok(['pull', '-q', `${R}/busybox`]);
  const res = await d.api('POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${R}/apistream`)}&tag=v1`);
  assert.equal(res.status, 200);
  const msgs = lines(res.body).map((x) => JSON.parse(x) as { status?: string; id?: string; progressDetail?: { current?: number; total?: number }; error?: string });
  assert.deepEqual(msgs[0], { status: 'Pulling from apistream', id: 'v1' });
  assert.ok(msgs.some((m) => m.status === 'Already exists' && /^[0-9a-f]{12}$/.test(m.id ?? '')));
  assert.ok(msgs.some((m) => m.status === 'Pulling fs layer' && JSON.stringify(m.progressDetail) === '{}'));
  const dl = msgs.find((m) => m.status === 'Downloading');
  assert.ok(dl && typeof dl.progressDetail?.current === 'number' && typeof dl.progressDetail?.total === 'number', res.body);
  for (const s of ['Download complete', 'Pull complete']) assert.ok(msgs.some((m) => m.status === s), s);
  assert.match(msgs.at(-2)!.status!, /^Digest: sha256:[0-9a-f]{64}$/);
  assert.deepEqual(msgs.at(-1), { status: `Status: Downloaded newer image for ${R}/apistream:v1` });

  const missing = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(`${R}/apistream`)}&tag=nope`);
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.body).message, /manifest for .*apistream:nope not found: manifest unknown/);
});

test('pull by digest, -q, and errors for missing tags and unreachable registries', async () => {
  const { digest } = await reg.getManifest('busybox', 'latest');
  await d.ok(['pull', '-q', `${R}/busybox`]);
  const byDigest = await d.ok(['pull', `${R}/busybox@${digest}`]);
  assert.equal(lines(byDigest).at(-2), `Status: Image is up to date for ${R}/busybox@${digest}`);
  assert.equal(lines(byDigest).at(-1), `${R}/busybox@${digest}`);
  assert.equal(await d.ok(['pull', '-q', `${R}/busybox`]), `${R}/busybox:latest\n`);
  const miss = await d.cli(['pull', `${R}/busybox:nope`]);
  assert.equal(miss.code, 1);
  assert.match(miss.stderr, /Error response from daemon: manifest for .*busybox:nope not found/);
  const down = await d.cli(['pull', '127.0.0.1:1/busybox']);
  assert.equal(down.code, 1);
  // Go's words for the dial, as dockerd's error carries them
  assert.match(down.stderr, /registry 127\.0\.0\.1:1 is unreachable: dial tcp 127\.0\.0\.1:1: connect: connection refused/);
  const bad = await d.cli(['pull', `${R}/Busybox`]);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /must be lowercase|invalid reference/);
});

test('a manifest list gives the host platform; --platform picks another or fails clearly', async () => {
  const amd = await reg.getManifest('busybox', 'latest');
  const m = amd.json as { config: { digest: string; size: number; mediaType: string }; layers: unknown[] };
  const cfg = JSON.parse((await reg.getBlob('busybox', m.config.digest)).toString()) as Record<string, unknown>;
  const armCfg = Buffer.from(JSON.stringify({ ...cfg, architecture: 'arm64', variant: 'v8' }));
  const armBlob = await reg.pushBlob('multi', armCfg);
  await reg.pushBlob('multi', await reg.getBlob('busybox', m.config.digest));
  for (const l of m.layers as Array<{ digest: string }>) await reg.pushBlob('multi', await reg.getBlob('busybox', l.digest));
  const v2 = 'application/vnd.docker.distribution.manifest.v2+json';
  const armManifest = JSON.stringify({ ...m, config: { ...m.config, digest: armBlob.digest, size: armBlob.size } });
  const armDigest = await reg.putManifest('multi', 'arm', armManifest, v2);
  const amdDigest = await reg.putManifest('multi', 'amd', amd.body, v2);
  const list = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: [
      { mediaType: v2, digest: armDigest, size: Buffer.byteLength(armManifest), platform: { architecture: 'arm64', os: 'linux', variant: 'v8' } },
      { mediaType: v2, digest: amdDigest, size: amd.body.length, platform: { architecture: 'amd64', os: 'linux' } },
    ],
  });
  const listDigest = await reg.putManifest('multi', 'latest', list, 'application/vnd.docker.distribution.manifest.list.v2+json');

  const out = await d.ok(['pull', `${R}/multi`]);
  assert.match(out, new RegExp(`Digest: ${listDigest}`));
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Architecture}}', `${R}/multi`])).trim(), 'amd64');
  const amdId = (await d.ok(['image', 'inspect', '-f', '{{.Id}}', `${R}/multi`])).trim();
  await d.ok(['pull', '--platform', 'linux/arm64', `${R}/multi`]);
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Architecture}}', `${R}/multi`])).trim(), 'arm64');
  const armId = (await d.ok(['image', 'inspect', '-f', '{{.Id}}', `${R}/multi`])).trim();
  assert.notEqual(armId, amdId);
  assert.ok(!JSON.parse(await d.ok(['image', 'inspect', '-f', '{{json .RepoTags}}', amdId])).includes(`${R}/multi:latest`));
  // name@digest is one image's: the first pulled keeps it (dockerd's addDigestReference)
  const digests = async (id: string) => JSON.parse(await d.ok(['image', 'inspect', '-f', '{{json .RepoDigests}}', id])) as string[];
  assert.ok((await digests(amdId)).includes(`${R}/multi@${listDigest}`));
  assert.deepEqual((await digests(armId)).filter((x) => x.startsWith(`${R}/multi@`)), []);
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Id}}', `${R}/multi@${listDigest}`])).trim(), amdId);
  const s390 = await d.cli(['pull', '--platform', 'linux/s390x', `${R}/multi`]);
  assert.equal(s390.code, 1);
  assert.match(s390.stderr, /no matching manifest for linux\/s390x in the manifest list entries.*linux\/arm64\/v8, linux\/amd64/);
  const single = await d.cli(['pull', '--platform', 'linux/arm64', `${R}/busybox`]);
  assert.equal(single.code, 1);
  assert.match(single.stderr, /its platform \(linux\/amd64\) does not match the specified platform \(linux\/arm64\/v8\)/);
  // Back to the host's platform: the arm64 image loses its tag and is dangling now.
  await d.ok(['pull', `${R}/multi`]);
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Id}}', `${R}/multi`])).trim(), amdId);
  assert.deepEqual(JSON.parse(await d.ok(['image', 'inspect', '-f', '{{json .RepoTags}}', armId])), []);
});

test('run pulls a missing image, docker-style', async () => {
  await reg.push(busyboxTar, 'auto:latest');
  const r = await d.cli(['run', '--rm', `${R}/auto`, 'echo', 'ran']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'ran\n');
  assert.match(r.stderr, new RegExp(`Unable to find image '${R.replace(/\./g, '\\.')}/auto:latest' locally`));
  assert.match(r.stderr, /Status: Downloaded newer image/);
});

test('create pulls a missing image too (quiet on stdout: just the id); --pull never does not', async () => {
  await reg.push(busyboxTar, 'oncreate:latest');
  const esc = R.replace(/\./g, '\\.');
  const never = await d.cli(['create', '--pull', 'never', `${R}/oncreate`, 'true']);
  assert.notEqual(never.code, 0);
  assert.match(never.stderr, /No such image: .*\/oncreate/);
  assert.doesNotMatch(never.stderr, /Unable to find image/);
  const r = await d.cli(['create', '--name', 'pulled-on-create', `${R}/oncreate`, 'echo', 'created']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
  assert.match(r.stderr, new RegExp(`Unable to find image '${esc}/oncreate:latest' locally`));
  assert.match(r.stderr, new RegExp(`Status: Downloaded newer image for ${esc}/oncreate:latest`));
  assert.match(await d.ok(['images']), new RegExp(`${esc}/oncreate\\s+latest`));
  assert.equal(await d.ok(['start', '-a', 'pulled-on-create']), 'created\n');
  await d.ok(['rm', 'pulled-on-create']);
});

test('concurrent pulls of one image download each blob once', async () => {
  const { json } = await reg.getManifest('layered', 'latest');
  const layers = (json.layers as Array<{ digest: string }>).map((l) => l.digest);
  const proxy = await new TestProxy(R, { hold: new Set([layers[2]!]) }).start();
  const d = await TestDaemon.create(); // none of the layers yet
  try {
    const ref = `${proxy.host}/layered`;
    const a = d.cli(['pull', ref]);
    await waitFor(async () => proxy.held.has(layers[2]!), 20_000, 'the first pull to be mid-download');
    // the other two reach the held layer while its download runs: they join it
    const b = d.spawnCli(['pull', ref]);
    const c = d.apiStream('POST', `/images/create?fromImage=${encodeURIComponent(ref)}&tag=latest`);
    const top = short(layers[2]!);
    await waitFor(async () => b.stdout().includes(`${top}: Pulling fs layer`) && apiSaid(c.text(), 'Pulling fs layer', top), 20_000, 'the other pulls to wait on the held download')
      .catch((e: Error) => { throw new Error(`${e.message}\npull: ${b.stdout()}\nAPI: ${c.text()}`); });
    assert.ok(proxy.held.has(layers[2]!) && proxy.blobGets(layers[2]!) === 1, 'still one request for it, still held');
    proxy.release();
    const [ra, rb, body] = await Promise.all([a, b.done, c.body]);
    assert.equal(ra.code, 0, ra.stderr);
    assert.equal(rb.code, 0, rb.stderr);
    assert.equal(await c.head, 200);
    assert.doesNotMatch(body, /"error"/);
    for (const l of layers) assert.equal(proxy.blobGets(l), 1, `${l} fetched ${proxy.blobGets(l)} times`);
    assert.equal(proxy.blobGets(layers[2]!), 1);
    assert.equal((await d.ok(['images', '-q'])).trim().split('\n').length, 1);
  } finally {
    await d.destroy();
    await proxy.stop();
  }
});

test('registry-mirrors are tried first for Docker Hub images', async () => {
  await reg.push(busyboxTar, 'library/busybox:latest');
  const dm = await TestDaemon.create({ configJson: { 'registry-mirrors': ['http://127.0.0.1:1', `http://${R}`] } });
  try {
    const out = await dm.ok(['pull', 'busybox']);
    assert.equal(lines(out).at(-2), 'Status: Downloaded newer image for busybox:latest');
    assert.equal(lines(out).at(-1), 'docker.io/library/busybox:latest');
    assert.equal(await dm.ok(['run', '--rm', 'busybox', 'echo', 'mirrored']), 'mirrored\n');
    assert.match(await dm.ok(['images', 'busybox']), /^busybox\s+latest/m);
  } finally {
    await dm.destroy();
  }
});

test('image prune removes dangling images, -a every unused one; info reports the store size', async (t) => {
  const d = await ownDaemon(t);
  // a dangling image: pulled as prune-me, then prune-me moves to another image
  await reg.push(layeredTar, 'prune-me:latest');
  await d.ok(['pull', '-q', `${R}/busybox`]);
  await d.ok(['pull', '-q', `${R}/prune-me`]);
  const dangling = (await d.ok(['image', 'inspect', '-f', '{{.Id}}', `${R}/prune-me`])).trim();
  await reg.push(busyboxTar, 'prune-me:latest');
  await d.ok(['pull', '-q', `${R}/prune-me`]);
  assert.deepEqual(JSON.parse(await d.ok(['image', 'inspect', '-f', '{{json .RepoTags}}', dangling])), []);
  await d.ok(['pull', '-q', `${R}/layered`]); // unused but tagged

  const info0 = JSON.parse((await d.api('GET', '/info')).body) as { StoreSize: { Layers: number; Total: number; Blobs: number } };
  assert.ok(info0.StoreSize.Layers >= 3 && info0.StoreSize.Total > 1_000_000, JSON.stringify(info0.StoreSize));
  assert.match(await d.ok(['info']), /Layers Size: \d/);
  assert.equal((await layerDirs(d)).length, 3, 'the layers dir checked below is the one in use');
  const keep = (await d.ok(['run', '-d', `${R}/busybox`, 'sleep', '300'])).trim();
  const p1 = await d.cli(['image', 'prune', '-f']);
  assert.equal(p1.code, 0, p1.stderr);
  assert.match(p1.stdout, new RegExp(`^Deleted Images:\n(untagged: .*\n)*deleted: ${dangling}\n`));
  assert.match(p1.stdout, /\n\nTotal reclaimed space: \d/);
  assert.equal((await d.cli(['image', 'inspect', dangling])).code, 1);
  const all = await d.cli(['image', 'prune', '-a', '-f']);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /untagged: .*layered:latest/);
  const left = await d.ok(['images', '--format', '{{.Repository}}:{{.Tag}}']);
  // the used image keeps the last of its names in lexical order (busybox and prune-me name it:
  // dockerd deletes them one by one and the last one's delete fails, it is in use)
  assert.equal(left.trim(), `${R}/prune-me:latest`, left);
  assert.ok(!left.includes('layered'), left);
  await d.ok(['rm', '-f', keep]);
  await d.ok(['image', 'prune', '-a', '-f']);
  assert.equal(await d.ok(['images', '-q']), '');
  assert.deepEqual(await layerDirs(d), []);
  const blobs = await fs.readdir(path.join(d.graph, 'image', 'blobs', 'sha256'));
  assert.deepEqual(blobs, []);
  const info1 = JSON.parse((await d.api('GET', '/info')).body) as { StoreSize: { Total: number; Layers: number } };
  assert.deepEqual([info1.StoreSize.Total, info1.StoreSize.Layers], [0, 0]);
});
