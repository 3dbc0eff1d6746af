// registry-mirrors for any registry, against real docker-registry instances standing in as
// mirrors of an upstream that does not exist (registry.example.invalid: no DNS, no network):
// a pull goes through the registry's mirrors in order and keeps the upstream's name; a mirror
// that is down, answers 5xx, or lacks the image falls through to the next; a blob the chosen
// mirror lacks comes from the next endpoint; with every mirror failing, the error names each
// one and the upstream's error. docker's list form still serves docker.io, a mirror may sit
// under a path prefix with its own token auth, CRI pulls take the same way, `tsula info`
// shows the mirrors, and an https mirror is trusted through certs.d or insecure-registries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { TestProxy, TestRegistry } from '../helpers/registry.js';
import { issue, makeCa } from '../helpers/certs.js';
import { crictl } from '../helpers/crictl.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('registry-mirrors', { root: true, files: { '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/skopeo': 'skopeo', '/usr/bin/openssl': 'openssl' } });

const UPSTREAM = 'registry.example.invalid';
const IMAGE = `${UPSTREAM}/pause:3.9`;
const busyboxTar = path.join(IMAGES, 'busybox.tar');

let mirror: TestRegistry;   // holds pause:3.9 and library/busybox, as the upstreams would serve them
let empty: TestRegistry;    // a mirror that has nothing: 404 for every manifest
let failing: http.Server;   // a mirror that answers 503 to everything
let failingHits = 0;
let digest = '';
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  mirror = await TestRegistry.start();
  // the mirror serves the repository path the upstream would: registry.k8s.io/pause → /v2/pause/
  await mirror.push(busyboxTar, 'pause:3.9');
  await mirror.push(busyboxTar, 'library/busybox:latest');
  digest = (await mirror.getManifest('pause', '3.9')).digest;
  empty = await TestRegistry.start();
  failing = http.createServer((rq, rs) => {
    failingHits++;
    rs.writeHead(503, { 'Content-Type': 'application/json' });
    rs.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'mirror overloaded' }] }));
  });
  await new Promise<void>((r) => failing.listen(0, '127.0.0.1', r));
});

after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await new Promise((r) => failing?.close(r));
  await mirror?.stop();
  await empty?.stop();
});

/** A daemon with this daemon.json, destroyed when the file's tests end. */
async function daemon(configJson: unknown): Promise<TestDaemon> {
  const d = await TestDaemon.create({ configJson });
  cleanups.push(() => d.destroy());
  return d;
}

async function proxy(opts: ConstructorParameters<typeof TestProxy>[1] = {}): Promise<TestProxy> {
  const p = await new TestProxy(mirror.host, opts).start();
  cleanups.push(() => p.stop());
  return p;
}

const failingUrl = () => `http://127.0.0.1:${(failing.address() as AddressInfo).port}`;
/** A pull's Status: line (docker prints the reference it pulled after it). */
const statusLine = (s: string) => s.trim().split('\n').filter((l) => l.startsWith('Status: ')).at(-1);
const layerOf = async (repo: string, tag: string) => ((await mirror.getManifest(repo, tag)).json.layers as Array<{ digest: string }>)[0]!.digest;

test('a registry of any name pulls through its mirror; the image keeps the upstream name; CRI too', async () => {
  const m = await proxy();
  const d = await daemon({ 'registry-mirrors': { [UPSTREAM]: [`http://${m.host}`] } });
  const out = await d.ok(['pull', IMAGE]);
  assert.equal(statusLine(out), `Status: Downloaded newer image for ${IMAGE}`);
  assert.match(out, new RegExp(`^Digest: ${digest}$`, 'm'));
  assert.ok(m.requests.includes('HEAD /v2/pause/manifests/3.9'), m.requests.join('\n'));
  const inspect = JSON.parse(await d.ok(['image', 'inspect', IMAGE])) as Array<{ RepoTags: string[]; RepoDigests: string[] }>;
  assert.deepEqual(inspect[0]!.RepoTags, [IMAGE]);
  assert.deepEqual(inspect[0]!.RepoDigests, [`${UPSTREAM}/pause@${digest}`]);
  assert.equal(await d.ok(['run', '--rm', IMAGE, 'echo', 'via the mirror']), 'via the mirror\n');
  // pulled again: a HEAD of the tag, and the manifest it names is read here (dockerd's manifest
  // store: no GET, which Docker Hub's pull limit counts)
  const seen = m.requests.length;
  assert.equal(statusLine(await d.ok(['pull', IMAGE])), `Status: Image is up to date for ${IMAGE}`);
  assert.deepEqual(m.requests.slice(seen).filter((r) => r.includes('/manifests/')), ['HEAD /v2/pause/manifests/3.9']);

  // kubelet's way in: CRI PullImage takes the same endpoints
  await d.ok(['rmi', '-f', IMAGE]);
  const cri = await crictl(d.criSock, ['pull', IMAGE]);
  assert.equal(cri.code, 0, cri.stderr);
  assert.match((await crictl(d.criSock, ['images'])).stdout, new RegExp(`${UPSTREAM.replace(/\./g, '\\.')}/pause\\s+3\\.9`));

  // mirrors are per registry: another registry's image does not go to them
  const other = await d.cli(['pull', 'other.example.invalid/pause:3.9']);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /registry other\.example\.invalid is unreachable: dial tcp: lookup other\.example\.invalid: no such host/);
  assert.doesNotMatch(other.stderr, /mirror/);

  // tsula info: docker's list (docker.io's, empty here) and each registry's mirrors
  const info = await d.ok(['info']);
  assert.match(info, new RegExp(`^ Registry Mirrors \\(${UPSTREAM.replace(/\./g, '\\.')}\\):\n  http://${m.host}/$`, 'm'));
  assert.doesNotMatch(info, /^ Registry Mirrors:/m);
  const reg = (JSON.parse((await d.api('GET', '/info')).body) as { RegistryConfig: { Mirrors: string[]; IndexConfigs: Record<string, unknown> } }).RegistryConfig;
  assert.deepEqual(reg.Mirrors, []);
  assert.deepEqual(reg.IndexConfigs[UPSTREAM], { Name: UPSTREAM, Mirrors: [`http://${m.host}/`], Secure: true, Official: false });
});

test('a mirror that is down, answers 503 or lacks the image falls through to the next', async () => {
  const m = await proxy();
  const tried = ['http://127.0.0.1:1', failingUrl(), `http://${empty.host}`];
  const d = await daemon({ 'registry-mirrors': { [UPSTREAM]: [...tried, `http://${m.host}`] } });
  const before503 = failingHits;
  const out = await d.ok(['pull', IMAGE]);
  assert.equal(statusLine(out), `Status: Downloaded newer image for ${IMAGE}`);
  assert.ok(failingHits > before503, 'the 503 mirror was asked');
  const log = await d.log();
  for (const t of tried) assert.ok(log.includes(`mirror ${t}/ failed for manifest pause:3.9 of ${UPSTREAM}`), `${t} in the log:\n${log}`);
  // the layers came from the mirror that served the manifest
  assert.equal(m.blobGets(await layerOf('pause', '3.9')), 1);
  assert.equal(await d.ok(['run', '--rm', IMAGE, 'echo', 'fell through']), 'fell through\n');
});

test('a blob the serving mirror lacks comes from the next endpoint', async () => {
  const layer = await layerOf('pause', '3.9');
  const partial = await proxy({ missing: new Set([layer]) });
  const full = await proxy();
  const d = await daemon({ 'registry-mirrors': { [UPSTREAM]: [`http://${partial.host}`, `http://${full.host}`] } });
  await d.ok(['pull', IMAGE]);
  assert.ok(partial.requests.includes('HEAD /v2/pause/manifests/3.9'));
  assert.equal(partial.blobGets(layer), 1);
  assert.equal(full.blobGets(layer), 1);
  assert.ok(!full.requests.some((r) => r.includes('/manifests/')), 'the manifest came from the first mirror only');
  assert.equal(await d.ok(['run', '--rm', IMAGE, 'true']), '');
});

test('every mirror failing: the error names each mirror and the upstream\'s error; nothing is kept', async () => {
  const d = await daemon({ 'registry-mirrors': { [UPSTREAM]: ['http://127.0.0.1:1', `http://${empty.host}`, failingUrl()] } });
  const r = await d.cli(['pull', IMAGE]);
  assert.equal(r.code, 1, r.stdout);
  const err = r.stderr;
  assert.match(err, new RegExp(`registry ${UPSTREAM.replace(/\./g, '\\.')} is unreachable: dial tcp: lookup ${UPSTREAM.replace(/\./g, '\\.')}: no such host`));
  assert.match(err, /; mirrors tried first: http:\/\/127\.0\.0\.1:1\/: /);
  assert.match(err, /http:\/\/127\.0\.0\.1:1\/: registry 127\.0\.0\.1:1 is unreachable: /);
  assert.ok(err.includes(`http://${empty.host}/: manifest for ${IMAGE} not found: manifest unknown`), err);
  assert.ok(err.includes(`${failingUrl()}/: registry 127.0.0.1:${(failing.address() as AddressInfo).port} answered 503 for manifest for ${IMAGE}: unavailable: mirror overloaded`), err);
  assert.equal(await d.ok(['images', '-q']), '');
});

test('docker.io: the list form, and the map\'s docker.io / index.docker.io keys (Docker Hub never reached)', async () => {
  const m = await proxy();
  const list = await daemon({ 'registry-mirrors': ['http://127.0.0.1:1', `http://${m.host}`] });
  const out = await list.ok(['pull', 'docker.io/library/busybox']);
  assert.equal(statusLine(out), 'Status: Downloaded newer image for busybox:latest');
  assert.ok(m.requests.includes('HEAD /v2/library/busybox/manifests/latest'));
  assert.match(await list.ok(['images', 'busybox']), /^busybox\s+latest/m);
  const info = await list.ok(['info']);
  assert.match(info, new RegExp(`^ Registry Mirrors:\n  http://127\\.0\\.0\\.1:1/\n  http://${m.host}/$`, 'm'));

  const map = await daemon({ 'registry-mirrors': { 'index.docker.io': ['http://127.0.0.1:1'], 'docker.io': [`http://${m.host}`] } });
  assert.equal(statusLine(await map.ok(['pull', 'busybox'])), 'Status: Downloaded newer image for busybox:latest');
  const reg = (JSON.parse((await map.api('GET', '/info')).body) as { RegistryConfig: { Mirrors: string[] } }).RegistryConfig;
  assert.deepEqual(reg.Mirrors, ['http://127.0.0.1:1/', `http://${m.host}/`]);
});

test('a mirror under a path prefix, with its own token server', async () => {
  const m = await proxy({ prefix: '/cache/k8s', bearer: { service: 'mirror-token-service' } });
  const d = await daemon({ 'registry-mirrors': { [UPSTREAM]: [`http://${m.host}/cache/k8s/`] } });
  await d.ok(['pull', IMAGE]);
  assert.ok(m.requests.includes('HEAD /v2/pause/manifests/3.9'), m.requests.join('\n'));
  assert.ok(!m.requests.some((r) => r.includes('outside')), m.requests.join('\n'));
  assert.ok(m.tokenRequests.length >= 1);
  assert.deepEqual(m.tokenRequests.map((q) => [q.get('service'), q.getAll('scope').includes('repository:pause:pull')])[0], ['mirror-token-service', true]);
  assert.equal(await d.ok(['run', '--rm', IMAGE, 'echo', 'prefixed']), 'prefixed\n');
});

test('a bad registry-mirrors entry stops the daemon, naming the key', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  await assert.rejects(TestDaemon.create({ dir, configJson: { 'registry-mirrors': { [UPSTREAM]: ['127.0.0.1:5000'] } } }),
    /key "registry-mirrors\.registry\.example\.invalid\.0": invalid mirror "127\.0\.0\.1:5000"/);
});

/** An IPv4 address of this host that is not loopback (loopback registries are insecure by default). */
function hostAddress(): string {
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('registry-mirrors needs a non-loopback IPv4 address on this host for its https mirror');
}

test('an https mirror with a private CA: refused until certs.d has the CA, or it is in insecure-registries', async () => {
  const ip = hostAddress();
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-mirror-tls-'));
  cleanups.push(() => fs.rm(dir, { recursive: true, force: true }));
  const ca = await makeCa(path.join(dir, 'pki'), 'tsula-mirror-ca');
  const tlsMirror = await TestRegistry.start({ addr: ip, tls: await issue(ca, path.join(dir, 'pki'), 'mirror', { server: { ips: [ip] } }) });
  cleanups.push(() => tlsMirror.stop());
  await tlsMirror.push(busyboxTar, 'pause:3.9');
  const certs = path.join(dir, 'certs.d');
  await fs.mkdir(certs);

  const d = await daemon({ 'registry-certs-dirs': [certs], 'registry-mirrors': { [UPSTREAM]: [tlsMirror.url] } });
  const r = await d.cli(['pull', IMAGE]);
  assert.equal(r.code, 1);
  assert.ok(r.stderr.includes(`${tlsMirror.url}/: registry ${tlsMirror.host}: TLS certificate not trusted`), r.stderr);
  assert.ok(r.stderr.includes(path.join(certs, tlsMirror.host, 'ca.crt')), r.stderr);
  // the CA where the message said: the next pull trusts the mirror, no restart
  await fs.mkdir(path.join(certs, tlsMirror.host));
  await fs.copyFile(ca.cert, path.join(certs, tlsMirror.host, 'ca.crt'));
  assert.equal(statusLine(await d.ok(['pull', IMAGE])), `Status: Downloaded newer image for ${IMAGE}`);

  const insecure = await daemon({ 'insecure-registries': [tlsMirror.host], 'registry-mirrors': { [UPSTREAM]: [tlsMirror.url] } });
  assert.equal(statusLine(await insecure.ok(['pull', IMAGE])), `Status: Downloaded newer image for ${IMAGE}`);
});
