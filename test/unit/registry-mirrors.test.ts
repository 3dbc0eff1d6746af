// registry-mirrors without a registry: daemon.json's two forms (docker's list for docker.io,
// a map registry host → mirror URLs) parsed into one map, the errors that name the bad key,
// the order in which a pull tries endpoints, which credentials a mirror gets, and the
// RegistryConfig view that /info shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDaemonConfig } from '../../src/engine/config.js';
import { registryConfigView } from '../../src/engine/api/system.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { canonicalMirror, mirrorMap, mirrorUrlProblem, registryHostProblem } from '../../src/image/registry/mirrors.js';
import { credentialsFor } from '../../src/image/registry/repository.js';

async function load(cfg: unknown) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-cfg-'));
  const file = path.join(dir, 'daemon.json');
  await fs.writeFile(file, JSON.stringify(cfg));
  try {
    return await loadDaemonConfig({ configFile: file });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('mirror URLs: http(s), a host, an optional path prefix; docker\'s canonical form', () => {
  assert.equal(canonicalMirror('http://127.0.0.1:5000'), 'http://127.0.0.1:5000/');
  assert.equal(canonicalMirror(' https://Mirror.Example.com/ '), 'https://mirror.example.com/');
  assert.equal(canonicalMirror('https://mirror.example.com:443'), 'https://mirror.example.com/');
  assert.equal(canonicalMirror('http://m:5000/cache/k8s//'), 'http://m:5000/cache/k8s/');
  // a prefix ending in /v2 is the /v2 root itself (containerd's hosts.toml), not /v2/v2/
  assert.equal(canonicalMirror('http://m:5000/v2'), 'http://m:5000/');
  assert.equal(canonicalMirror('http://m:5000/cache/v2/'), 'http://m:5000/cache/');
  assert.equal(canonicalMirror('http://[::1]:5000'), 'http://[::1]:5000/');
  for (const [bad, why] of [
    ['127.0.0.1:5000', /not a URL|unsupported scheme/], ['localhost:5000', /unsupported scheme "localhost"/],
    ['ftp://m', /unsupported scheme "ftp"/], ['mirror.example.com', /not a URL/], ['http://', /not a URL|no host/],
    ['https://u:p@m', /user or password/], ['http://m/?ns=x', /query or fragment/], ['http://m/#x', /query or fragment/],
  ] as const) {
    assert.match(mirrorUrlProblem(bad) ?? 'accepted', why, bad);
    assert.throws(() => canonicalMirror(bad), why);
  }
});

test('registry hosts as keys: what references name, nothing else', () => {
  for (const ok of ['registry.k8s.io', 'docker.io', 'index.docker.io', 'quay.io', 'localhost', 'localhost:5000', '127.0.0.1:5000', 'Registry.K8s.IO', '[::1]:5000']) {
    assert.equal(registryHostProblem(ok), undefined, ok);
  }
  assert.match(registryHostProblem('https://registry.k8s.io') ?? '', /not a registry host.*the mirror URLs go in the list/);
  assert.match(registryHostProblem('registry.k8s.io/pause') ?? '', /not a registry host/);
  assert.match(registryHostProblem('myregistry') ?? '', /names docker\.io\/myregistry\/image/);
  assert.match(registryHostProblem('') ?? '', /not a registry host/);
  assert.match(registryHostProblem('bad_host.io') ?? '', /not a registry host/);
});

test('both forms make one map: the list is docker.io\'s; docker.io and index.docker.io are one registry', () => {
  assert.deepEqual(mirrorMap(undefined), {});
  assert.deepEqual(mirrorMap(['http://a:1', 'https://b/']), { 'docker.io': ['http://a:1/', 'https://b/'] });
  assert.deepEqual(mirrorMap({
    'registry.k8s.io': ['http://127.0.0.1:5000', 'http://127.0.0.1:5000/', 'https://k8s-mirror/prefix'],
    'index.docker.io': ['http://hub-a'],
    'docker.io': ['http://hub-b', 'http://hub-a/'],
    'Quay.IO': ['http://q'],
    'gcr.io': [],
  }), {
    'registry.k8s.io': ['http://127.0.0.1:5000/', 'https://k8s-mirror/prefix/'],
    'docker.io': ['http://hub-a/', 'http://hub-b/'],
    'quay.io': ['http://q/'],
  });
});

test('daemon.json: registry-mirrors in either form; a bad entry stops the daemon naming its key', async () => {
  let c = await load({ 'registry-mirrors': ['http://127.0.0.1:5000'] });
  assert.deepEqual(c.registryMirrors, ['http://127.0.0.1:5000/']);
  assert.deepEqual(c.registryMirrorsByHost, { 'docker.io': ['http://127.0.0.1:5000/'] });
  c = await load({ 'registry-mirrors': { 'registry.k8s.io': ['http://127.0.0.1:5000'], 'index.docker.io': ['https://hub.example.com'] } });
  assert.deepEqual(c.registryMirrors, ['https://hub.example.com/']);
  assert.deepEqual(c.registryMirrorsByHost, { 'registry.k8s.io': ['http://127.0.0.1:5000/'], 'docker.io': ['https://hub.example.com/'] });
  c = await load({});
  assert.deepEqual([c.registryMirrors, c.registryMirrorsByHost], [[], {}]);

  const cases: Array<[unknown, RegExp]> = [
    [['ftp://x'], /key "registry-mirrors\.0": invalid mirror "ftp:\/\/x": unsupported scheme "ftp"/],
    [['http://ok', 'nope'], /key "registry-mirrors\.1": invalid mirror "nope": not a URL/],
    [{ 'registry.k8s.io': ['http://ok', 'https://u:pw@m'] }, /key "registry-mirrors\.registry\.k8s\.io\.1": invalid mirror "https:\/\/u:pw@m": a user or password/],
    [{ 'registry.k8s.io': 'http://127.0.0.1:5000' }, /key "registry-mirrors\.registry\.k8s\.io": want a list of mirror URLs/],
    [{ 'https://registry.k8s.io': ['http://m'] }, /key "registry-mirrors\.https:\/\/registry\.k8s\.io": "https:\/\/registry\.k8s\.io" is not a registry host/],
    [{ 'registry.k8s.io': [5000] }, /key "registry-mirrors\.registry\.k8s\.io\.0": want a mirror URL/],
    ['http://m', /key "registry-mirrors": want a list of docker\.io mirror URLs, or an object/],
  ];
  for (const [value, re] of cases) await assert.rejects(load({ 'registry-mirrors': value }), re, JSON.stringify(value));
});

test('endpoints: the registry\'s own mirrors in order, then the registry itself; never another registry\'s', () => {
  const client = new RegistryClient({
    mirrors: mirrorMap({ 'registry.k8s.io': ['http://127.0.0.1:5000', 'https://m2.example.com/k8s/'], 'docker.io': ['http://hub'] }),
  });
  try {
    const eps = (domain: string) => client.endpoints(domain).map((e) => [e.name, e.host, e.mirror, e.base?.toString() ?? null]);
    assert.deepEqual(eps('registry.k8s.io'), [
      ['http://127.0.0.1:5000/', '127.0.0.1:5000', true, 'http://127.0.0.1:5000/'],
      ['https://m2.example.com/k8s/', 'm2.example.com', true, 'https://m2.example.com/k8s'],
      ['registry.k8s.io', 'registry.k8s.io', false, null],
    ]);
    assert.deepEqual(eps('Registry.K8s.io').map((e) => e[0]), ['http://127.0.0.1:5000/', 'https://m2.example.com/k8s/', 'Registry.K8s.io']);
    assert.deepEqual(eps('docker.io'), [['http://hub/', 'hub', true, 'http://hub/'], ['docker.io', 'registry-1.docker.io', false, null]]);
    assert.deepEqual(eps('quay.io'), [['quay.io', 'quay.io', false, null]]);
    assert.deepEqual(eps('127.0.0.1:5000'), [['127.0.0.1:5000', '127.0.0.1:5000', false, null]]);
  } finally {
    client.close();
  }
});

test('a mirror gets the pull\'s credentials only when they name no server or name the mirror', () => {
  const mirror = { name: 'http://m:5000/', host: 'm:5000', mirror: true };
  const upstream = { name: 'registry.k8s.io', host: 'registry.k8s.io', mirror: false };
  const forUpstream = { username: 'u', password: 'p', serveraddress: 'registry.k8s.io' };
  assert.equal(credentialsFor(upstream, forUpstream), forUpstream);
  assert.equal(credentialsFor(mirror, forUpstream), undefined);
  const forMirror = { username: 'u', password: 'p', serveraddress: 'http://m:5000/' };
  assert.equal(credentialsFor(mirror, forMirror), forMirror);
  const unnamed = { username: 'u', password: 'p' };
  assert.equal(credentialsFor(mirror, unnamed), unnamed);
  assert.equal(credentialsFor(mirror, undefined), undefined);
});

test('/info RegistryConfig: docker\'s Mirrors, CIDRs, and every registry\'s mirrors in IndexConfigs', () => {
  const v = registryConfigView({
    insecureRegistries: ['10.0.0.0/8', 'http://my.registry:5000/', 'registry.k8s.io'],
    registryMirrors: ['http://hub/'],
    registryMirrorsByHost: { 'docker.io': ['http://hub/'], 'registry.k8s.io': ['http://127.0.0.1:5000/'], 'quay.io': ['https://q/'] },
  });
  assert.deepEqual(v.Mirrors, ['http://hub/']);
  assert.deepEqual(v.InsecureRegistryCIDRs, ['::1/128', '127.0.0.0/8', '10.0.0.0/8']);
  assert.deepEqual(v.IndexConfigs, {
    'docker.io': { Name: 'docker.io', Mirrors: ['http://hub/'], Secure: true, Official: true },
    'my.registry:5000': { Name: 'my.registry:5000', Mirrors: [], Secure: false, Official: false },
    'registry.k8s.io': { Name: 'registry.k8s.io', Mirrors: ['http://127.0.0.1:5000/'], Secure: false, Official: false },
    'quay.io': { Name: 'quay.io', Mirrors: ['https://q/'], Secure: true, Official: false },
  });
});
