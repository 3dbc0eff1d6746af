// Cross-repository blob mounts on push, as dockerd's V2MetadataService makes them: a pulled
// image pushed to other repositories of the same registry mounts every layer ("Mounted from
// SRC") and uploads none; a layer pushed once is mounted by the next push elsewhere; an image
// pulled with uncompressed layers keeps its manifest digest; a mount the registry answers
// with an upload (202) falls back to uploading on that session and the source is forgotten;
// with token auth the token asks for pull on the source. The stock docker CLI drives tsulad;
// a proxy in front of Debian's docker-registry logs every request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { req, TestProxy, TestRegistry } from '../helpers/registry.js';

requirePrerequisites('registry-push-mount', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/skopeo': 'skopeo' } });

const execFileP = promisify(execFile);
let reg: TestRegistry;
let proxy: TestProxy;
let P: string;

before(async () => {
  dockerCliPath();
  reg = await TestRegistry.start();
  proxy = await new TestProxy(reg.host).start();
  P = proxy.host;
  await reg.push(path.join(IMAGES, 'layered.tar'), 'src/layered:1');
});
after(async () => {
  await proxy?.stop();
  await reg?.stop();
});

/** A daemon of the test's own (what it has stored decides what a pull records), removed after it. */
async function ownDaemon(t: { after: (fn: () => Promise<void>) => void }): Promise<TestDaemon> {
  const d = await TestDaemon.create();
  t.after(() => d.destroy());
  return d;
}

type Manifest = { config: { digest: string }; layers: Array<{ digest: string; mediaType: string }> };
const manifestOf = async (repo: string, tag: string) => {
  const m = await reg.getManifest(repo, tag);
  return { digest: m.digest, json: m.json as unknown as Manifest };
};

/** The proxy's requests for a repository since `from` (an index into proxy.calls). */
const callsFor = (repo: string, from: number) => proxy.calls.slice(from).filter((c) => c.includes(` /v2/${repo}/`));
/** PUTs that carry a blob's bytes (the end of an upload), by the digest they name. */
const uploadedDigests = (calls: string[]) => calls.filter((c) => /^(PUT|PATCH) .*\/blobs\/uploads\//.test(c)).map((c) => /[?&]digest=([^&]+)/.exec(c)?.[1] ?? '?').map(decodeURIComponent);

const statusLines = (out: string, status: string) => out.split('\n').filter((l) => l.endsWith(`: ${status}`));

test('a pulled image pushed to two other repositories: every layer mounted, no layer uploaded, the same blobs', async (t) => {
  const d = await ownDaemon(t);
  const ok = (args: string[]) => dockerOk(d, args);
  await ok(['pull', `${P}/src/layered:1`]);
  const src = await manifestOf('src/layered', '1');
  // the second push mounts from the first's target: the newest source among equally like ones (dockerd's order)
  for (const [repo, from] of [['a/layered', 'src/layered'], ['b/layered', 'a/layered']] as const) {
    await ok(['tag', `${P}/src/layered:1`, `${P}/${repo}:1`]);
    const mark = proxy.calls.length;
    const out = await ok(['push', `${P}/${repo}:1`]);
    assert.equal(statusLines(out, `Mounted from ${from}`).length, src.json.layers.length, out);
    assert.equal(statusLines(out, 'Pushed').length, 0, out);
    const calls = callsFor(repo, mark);
    assert.equal(calls.filter((c) => c.startsWith('POST ') && c.includes(`from=${encodeURIComponent(from)}`)).length, src.json.layers.length, calls.join('\n'));
    // the config is the only blob uploaded (dockerd uploads it too)
    assert.deepEqual(uploadedDigests(calls), [src.json.config.digest], calls.join('\n'));
    const pushed = await manifestOf(repo, '1');
    assert.deepEqual(pushed.json.layers.map((l) => l.digest), src.json.layers.map((l) => l.digest));
  }
  // pushed again where it is: every layer is there
  const again = await ok(['push', `${P}/a/layered:1`]);
  assert.equal(statusLines(again, 'Layer already exists').length, src.json.layers.length, again);
});

test('a committed image pushed to one repository, then to another: the second push mounts from the first', async (t) => {
  const d = await ownDaemon(t);
  const ok = (args: string[]) => dockerOk(d, args);
  await d.loadBusybox(); // uncompressed layers: no registry knows them yet
  await ok(['run', '--name', 'mk', 'busybox', 'sh', '-c', 'echo committed > /marker']);
  await ok(['commit', 'mk', `${P}/q1/cm:1`]);
  await ok(['rm', 'mk']);
  const first = await ok(['push', `${P}/q1/cm:1`]);
  assert.equal(statusLines(first, 'Pushed').length, 2, first);
  await ok(['tag', `${P}/q1/cm:1`, `${P}/q2/cm:1`]);
  const mark = proxy.calls.length;
  const second = await ok(['push', `${P}/q2/cm:1`]);
  assert.equal(statusLines(second, 'Mounted from q1/cm').length, 2, second);
  assert.equal(statusLines(second, 'Pushed').length, 0, second);
  const q1 = await manifestOf('q1/cm', '1');
  assert.deepEqual(uploadedDigests(callsFor('q2/cm', mark)), [q1.json.config.digest]);
  // nothing re-gzipped: the same blobs, so the same manifest
  assert.equal((await manifestOf('q2/cm', '1')).digest, q1.digest);
  // and a later daemon start keeps what it learnt
  await d.stop('SIGTERM');
  await d.start();
  await ok(['tag', `${P}/q1/cm:1`, `${P}/q3/cm:1`]);
  assert.equal(statusLines(await ok(['push', `${P}/q3/cm:1`]), 'Mounted from q2/cm').length, 2);
});

test('an image pulled with uncompressed layers, pushed elsewhere on the registry: its blobs mounted as they are, the same manifest digest', async (t) => {
  // a docker schema 2 manifest with rootfs.diff.tar layers, written as dockerd writes manifests
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-plain-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  await execFileP('tar', ['-xf', path.join(IMAGES, 'busybox.tar'), '-C', dir]);
  const [entry] = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; Layers: string[] }>;
  const config = await reg.pushBlob('src/plain', await fs.readFile(path.join(dir, entry!.Config)));
  const layers = [];
  for (const l of entry!.Layers) layers.push({ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', ...(await reg.pushBlob('src/plain', await fs.readFile(path.join(dir, l)))) });
  const manifest = {
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.size, digest: config.digest },
    layers: layers.map((l) => ({ mediaType: l.mediaType, size: l.size, digest: l.digest })),
  };
  const srcDigest = await reg.putManifest('src/plain', '1', JSON.stringify(manifest, null, 3), manifest.mediaType);

  const d = await ownDaemon(t);
  const ok = (args: string[]) => dockerOk(d, args);
  await ok(['pull', `${P}/src/plain:1`]);
  await ok(['tag', `${P}/src/plain:1`, `${P}/other/plain:1`]);
  const mark = proxy.calls.length;
  const out = await ok(['push', `${P}/other/plain:1`]);
  assert.equal(statusLines(out, 'Mounted from src/plain').length, layers.length, out);
  assert.deepEqual(uploadedDigests(callsFor('other/plain', mark)), [config.digest]);
  assert.match(out, new RegExp(`1: digest: ${srcDigest} size: \\d+`));
  const pushed = await manifestOf('other/plain', '1');
  assert.equal(pushed.digest, srcDigest);
  assert.deepEqual(pushed.json.layers.map((l) => l.mediaType), layers.map((l) => l.mediaType));
});

test('a mount the registry answers with an upload (202): that upload carries the layer, and the next push mounts from where it went', async (t) => {
  const d = await ownDaemon(t);
  const ok = (args: string[]) => dockerOk(d, args);
  await reg.push(path.join(IMAGES, 'layered.tar'), 'gone/layered:1');
  await ok(['pull', `${P}/gone/layered:1`]);
  const src = await manifestOf('gone/layered', '1');
  // the source repository loses its link to the top layer: a mount from it answers 202
  const top = src.json.layers.at(-1)!.digest;
  const del = await req('DELETE', `${reg.url}/v2/gone/layered/blobs/${top}`);
  assert.equal(del.status, 202, del.body.toString());
  await ok(['tag', `${P}/gone/layered:1`, `${P}/c/layered:1`]);
  const mark = proxy.calls.length;
  const out = await ok(['push', `${P}/c/layered:1`]);
  assert.equal(statusLines(out, 'Mounted from gone/layered').length, src.json.layers.length - 1, out);
  assert.equal(statusLines(out, 'Pushed').length, 1, out);
  const calls = callsFor('c/layered', mark);
  assert.deepEqual(uploadedDigests(calls).sort(), [src.json.config.digest, top].sort(), calls.join('\n'));
  // the top layer's upload went on the session the refused mount opened: one plain POST (the config's)
  assert.equal(calls.filter((c) => c === 'POST /v2/c/layered/blobs/uploads/').length, 1, calls.join('\n'));
  assert.deepEqual((await manifestOf('c/layered', '1')).json.layers.map((l) => l.digest), src.json.layers.map((l) => l.digest));
  // gone/layered is no source of the top layer any more; c/layered is (the newest of every layer)
  const diffIds = JSON.parse(await ok(['image', 'inspect', '-f', '{{json .RootFS.Layers}}', `${P}/gone/layered:1`])) as string[];
  const recorded = JSON.parse(await fs.readFile(path.join(d.graph, 'image', 'layer-sources', `${diffIds.at(-1)!.slice(7)}.json`), 'utf8')) as Array<{ repository: string; digest: string }>;
  assert.deepEqual(recorded.map((s) => s.repository), ['c/layered'], JSON.stringify(recorded));
  await ok(['tag', `${P}/gone/layered:1`, `${P}/e/layered:1`]);
  const next = await ok(['push', `${P}/e/layered:1`]);
  assert.equal(statusLines(next, 'Mounted from c/layered').length, src.json.layers.length, next);
  assert.equal(statusLines(next, 'Pushed').length, 0, next);
});

test('with token auth, a mount\'s token asks for pull on the source repository too', async (t) => {
  const bearer = await new TestProxy(reg.host, { bearer: { service: 'tsula-test' } }).start();
  t.after(() => bearer.stop());
  const B = bearer.host;
  const d = await ownDaemon(t);
  const ok = (args: string[]) => dockerOk(d, args);
  await ok(['pull', `${B}/src/layered:1`]);
  await ok(['tag', `${B}/src/layered:1`, `${B}/tok/layered:1`]);
  const out = await ok(['push', `${B}/tok/layered:1`]);
  const n = (await manifestOf('src/layered', '1')).json.layers.length;
  assert.equal(statusLines(out, 'Mounted from src/layered').length, n, out);
  const scopes = bearer.tokenRequests.map((q) => q.getAll('scope'));
  assert.ok(scopes.some((s) => s.includes('repository:src/layered:pull') && s.includes('repository:tok/layered:pull,push')), JSON.stringify(scopes));
});
