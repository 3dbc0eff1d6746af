// Pulls that go wrong: a registry serving a corrupted blob (the pull fails with a digest
// error and keeps nothing), and tsulad killed with SIGKILL mid-download and mid-unpack
// (start-up cleans up, no record points at missing data, the next pull completes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { IMAGES, TestDaemon, waitFor } from '../helpers/daemon.js';
import { TestProxy, TestRegistry } from '../helpers/registry.js';
import { ImageService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { grpcClient } from '../../src/common/grpc.js';

let reg: TestRegistry;
const cleanups: Array<() => Promise<void>> = [];

before(async () => {
  reg = await TestRegistry.start();
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
  await reg.push(path.join(IMAGES, 'layered.tar'), 'layered:latest');
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await reg?.stop();
});

// no catch: a dir that moved must fail the checks that it is empty, not pass them
const ls = async (dir: string) => (await fs.readdir(dir)).sort();

/** Everything a pull can leave behind in a daemon's graph. */
async function leftovers(d: TestDaemon): Promise<Record<string, string[]>> {
  const img = path.join(d.graph, 'image');
  return {
    blobs: await ls(path.join(img, 'blobs', 'sha256')),
    ingest: await ls(path.join(img, 'ingest')),
    pulls: await ls(path.join(img, 'pulls')),
    images: await ls(path.join(img, 'images')),
    layers: await ls(path.join(d.graph, 'overlay', 'layers')),
  };
}

const empty = { blobs: [], ingest: [], pulls: [], images: [], layers: [] };

test('a corrupted blob fails the pull with a digest error and keeps nothing', async () => {
  const { json } = await reg.getManifest('layered', 'latest');
  const layers = (json.layers as Array<{ digest: string }>).map((l) => l.digest);
  // The bottom layer is fine, the top one is corrupted: what was unpacked must go too.
  const proxy = await new TestProxy(reg.host, { corrupt: new Set([layers[2]!]) }).start();
  cleanups.push(() => proxy.stop());
  const d = await TestDaemon.create();
  cleanups.push(() => d.destroy());
  const r = await d.cli(['pull', `${proxy.host}/layered`]);
  assert.equal(r.code, 1, r.stdout);
  // dockerd's words: its checksum line, then the verification's failure
  assert.match(r.stderr, new RegExp(`filesystem layer verification failed for digest ${layers[2]}: the registry sent bytes of sha256:[0-9a-f]{64}`));
  assert.match(r.stdout, new RegExp(`${layers[2]!.slice(7, 19)}: Verifying Checksum\n`));
  assert.deepEqual(await leftovers(d), empty);
  assert.equal(await d.ok(['images', '-q']), '');

  // Through the API the error arrives inside the stream, in docker's shape.
  const api = await d.api('POST', `/images/create?fromImage=${encodeURIComponent(`${proxy.host}/layered`)}&tag=latest`);
  assert.equal(api.status, 200);
  const last = JSON.parse(api.body.trim().split('\n').at(-1)!) as { error?: string; errorDetail?: { message?: string } };
  assert.match(last.error ?? '', /filesystem layer verification failed/);
  assert.equal(last.errorDetail?.message, last.error);
  assert.deepEqual(await leftovers(d), empty);

  // The same image from the honest registry is fine afterwards, and lands in the dirs that
  // were checked empty above: they are the ones in use.
  proxy.opts.corrupt!.clear();
  await d.ok(['pull', `${proxy.host}/layered`]);
  assert.equal(await d.ok(['run', '--rm', `${proxy.host}/layered`, 'cat', '/data/keep']), 'keep\n');
  const l = await leftovers(d);
  assert.equal(l.layers.filter((n) => !n.startsWith('.')).length, 3);
  assert.equal(l.images.length, 1);
  assert.ok(l.blobs.length >= 5, `config, manifest and 3 layers: ${l.blobs.join(' ')}`);
});

/** A daemon pulling `layered` through a proxy that sends its top layer half, then holds it. */
async function heldTopLayer(): Promise<{ layers: string[]; proxy: TestProxy; d: TestDaemon; ref: string }> {
  const { json } = await reg.getManifest('layered', 'latest');
  const layers = (json.layers as Array<{ digest: string }>).map((l) => l.digest);
  const proxy = await new TestProxy(reg.host, { hold: new Set([layers[2]!]) }).start();
  cleanups.push(() => proxy.stop());
  const d = await TestDaemon.create();
  cleanups.push(() => d.destroy());
  return { layers, proxy, d, ref: `${proxy.host}/layered` };
}

test('tsulad killed mid-download and mid-unpack: start-up cleans up, the next pull completes', async () => {
  const { layers, proxy, d, ref } = await heldTopLayer();

  const pulling = d.cli(['pull', ref]);
  await waitFor(async () => proxy.held.has(layers[2]!), 20_000, 'the top layer to be half sent');
  // Two layers are unpacked, the third is being unpacked from its half-written download.
  await waitFor(async () => {
    const l = await leftovers(d);
    return l.layers.filter((n) => !n.startsWith('.')).length === 2 && l.layers.some((n) => n.startsWith('.tmp-')) && l.ingest.length > 0;
  }, 20_000, 'two layers done and a third half-unpacked');
  assert.equal((await leftovers(d)).pulls.length, 1, 'the pull journal names its layers');
  await d.stop('SIGKILL');
  const cli = await pulling;
  assert.notEqual(cli.code, 0);

  await d.start();
  assert.deepEqual(await leftovers(d), empty);
  assert.equal(await d.ok(['images', '-q']), '');

  proxy.release();
  const out = await d.ok(['pull', ref]);
  assert.match(out, /Status: Downloaded newer image/);
  const run = await d.ok(['run', '--rm', ref, 'sh', '-c', 'ls /data /opq']);
  assert.equal(run, '/data:\nkeep\n\n/opq:\nb\n');
  const l = await leftovers(d);
  assert.deepEqual([l.ingest, l.pulls], [[], []]);
  assert.equal(l.layers.length, 3);
});

test('tsulad killed while the first layer streams in: nothing half-made survives', async () => {
  const { json } = await reg.getManifest('busybox', 'latest');
  const layer = (json.layers as Array<{ digest: string }>)[0]!.digest;
  const proxy = await new TestProxy(reg.host, { hold: new Set([layer]) }).start();
  cleanups.push(() => proxy.stop());
  const d = await TestDaemon.create();
  cleanups.push(() => d.destroy());
  const pulling = d.cli(['pull', `${proxy.host}/busybox`]);
  await waitFor(async () => proxy.held.has(layer) && (await leftovers(d)).layers.some((n) => n.startsWith('.tmp-')), 20_000, 'the layer to be half unpacked');
  await d.stop('SIGKILL');
  await pulling;
  await d.start();
  assert.deepEqual(await leftovers(d), empty);
  proxy.release();
  await d.ok(['pull', `${proxy.host}/busybox`]);
  assert.equal(await d.ok(['run', '--rm', `${proxy.host}/busybox`, 'echo', 'ok']), 'ok\n');
});

test('a pull whose client goes away stops: docker pull\'s Ctrl-C, and a CRI PullImage past its deadline, keep nothing', async () => {
  const { layers, proxy, d, ref } = await heldTopLayer();
  const gone = async (what: string) => {
    await waitFor(async () => JSON.stringify(await leftovers(d)) === JSON.stringify(empty), 20_000, `${what}: the pull to give back what it made`);
    assert.equal(await d.ok(['images', '-q']), '');
  };

  // the CLI interrupted while the top layer hangs half sent (its connection closes, as docker's)
  const pulling = d.spawnCli(['pull', ref]);
  await waitFor(async () => proxy.held.has(layers[2]!), 20_000, 'the top layer to be half sent');
  pulling.proc.kill('SIGINT');
  await pulling.done;
  await gone('docker pull interrupted');

  // kubelet's deadline: critest's "public image should timeout if requested" then expects no image
  const im = grpcClient(ImageService, d.criSock);
  try {
    await assert.rejects(im.pullImage({ image: { image: ref } }, { timeoutMs: 1500 }), (e: { kind?: string }) => e.kind === 'DeadlineExceeded');
    await gone('PullImage past its deadline');
    proxy.release(); // the held download would have finished now: the pull must not record it
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await im.imageStatus({ image: { image: ref } })).image, undefined);
  } finally {
    im.close();
  }
  await d.ok(['pull', ref]);
});

test('a push whose client goes away breaks off its upload, uploads nothing more and tags nothing (docker push\'s Ctrl-C)', async () => {
  const proxy = await new TestProxy(reg.host, { holdUploads: true }).start();
  cleanups.push(() => proxy.stop());
  const d = await TestDaemon.create();
  cleanups.push(() => d.destroy());
  await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  const target = `${proxy.host}/cancelled/layered:1`;
  await d.ok(['tag', 'layered:latest', target]);
  const pushing = d.spawnCli(['push', target]);
  await waitFor(async () => proxy.heldUploads > 0, 20_000, 'the first layer upload');
  pushing.proc.kill('SIGINT');
  await pushing.done;
  await waitFor(async () => proxy.abortedUploads > 0, 5_000, 'the upload under way broken off');
  proxy.release(); // nothing is held any more: the push must have stopped there
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(proxy.requests.filter((r) => r.startsWith('PUT /v2/cancelled/layered/manifests/')).length, 0, proxy.requests.join('\n'));
  assert.ok(proxy.requests.filter((r) => r.startsWith('POST /v2/cancelled/layered/blobs/uploads')).length < 3, `no further layer was started: ${proxy.requests.join('\n')}`);
});

test('a connection that breaks mid-blob is resumed with a range request, 5 s later as dockerd retries', async () => {
  const { json } = await reg.getManifest('busybox', 'latest');
  const layer = (json.layers as Array<{ digest: string }>)[0]!.digest;
  const proxy = await new TestProxy(reg.host, { cut: new Set([layer]) }).start();
  cleanups.push(() => proxy.stop());
  const d = await TestDaemon.create();
  cleanups.push(() => d.destroy());
  const out = await d.ok(['pull', `${proxy.host}/busybox`]);
  assert.match(out, /Status: Downloaded newer image/);
  // dockerd's wait before the next try, counted down on the layer's line
  assert.match(out, /: Retrying in 5 seconds\n(.*\n)*.*: Retrying in 1 second\n/);
  assert.equal(proxy.blobGets(layer), 2);
  assert.match(proxy.ranges.at(-1)!, /^bytes=[1-9]\d*-$/);
  assert.equal(await d.ok(['run', '--rm', `${proxy.host}/busybox`, 'echo', 'resumed']), 'resumed\n');
  assert.deepEqual((await leftovers(d)).ingest, []);
});
