// The image endpoints across Engine API versions, sent as raw HTTP with each version's prefix
// (so they run where no newer docker CLI is installed): what /v1.41/ answers stays API 1.41's
// (docker 20.10, docker-py 5, compose 1.29), and newer versions get what dockerd 29 gates on
// them, with its graphdriver store's answers for a platform an image does not have.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';

let d: TestDaemon;
let registry: TestRegistry;
before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
  registry = await TestRegistry.start();
});
after(async () => {
  await d?.destroy();
  await registry?.stop();
});

const ARM64 = encodeURIComponent(JSON.stringify({ os: 'linux', architecture: 'arm64' }));
const AMD64 = encodeURIComponent(JSON.stringify({ os: 'linux', architecture: 'amd64' }));
const json = async (method: string, p: string, body?: string) => {
  const r = await d.api(method, p, body);
  return { status: r.status, json: r.body ? JSON.parse(r.body) : undefined, body: r.body };
};
type Summary = Record<string, unknown>;
const byId = (list: Summary[], id: string) => list.find((x) => x.Id === id)!;

test('GET /images/json: <none> below 1.43, VirtualSize below 1.44, shared-size from 1.42, the container count from 1.51', async () => {
  const c = JSON.parse((await d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }))).body).Id as string;
  // a commit without a name: an image with neither tag nor digest
  const untagged = JSON.parse((await d.api('POST', `/v1.41/commit?container=${c}`, '{}')).body).Id as string;
  const busybox = JSON.parse((await d.api('GET', '/v1.41/images/busybox/json')).body).Id as string;

  const v141 = (await json('GET', '/v1.41/images/json')).json as Summary[];
  assert.deepEqual(byId(v141, untagged).RepoTags, ['<none>:<none>']);
  assert.deepEqual(byId(v141, untagged).RepoDigests, ['<none>@<none>']);
  // dockerd 20.10's null for an empty list beside a full one
  assert.equal(byId(v141, busybox).RepoDigests, null);
  assert.equal(byId(v141, busybox).VirtualSize, byId(v141, busybox).Size);
  assert.equal(byId(v141, busybox).Containers, -1);
  // shared-size is API 1.42's: 1.41 does not compute it
  assert.equal(byId((await json('GET', '/v1.41/images/json?shared-size=1')).json, busybox).SharedSize, -1);

  const v142 = (await json('GET', '/v1.42/images/json?shared-size=1')).json as Summary[];
  assert.deepEqual(byId(v142, untagged).RepoTags, ['<none>:<none>']);
  // the commit's image has busybox's layer under its own
  assert.equal(byId(v142, busybox).SharedSize, byId(v142, busybox).Size);
  assert.equal(byId((await json('GET', '/v1.42/images/json')).json, busybox).SharedSize, -1);

  const v143 = (await json('GET', '/v1.43/images/json')).json as Summary[];
  assert.deepEqual([byId(v143, untagged).RepoTags, byId(v143, untagged).RepoDigests, byId(v143, busybox).RepoDigests], [[], [], []]);
  assert.ok('VirtualSize' in byId(v143, busybox));

  const v144 = (await json('GET', '/v1.44/images/json')).json as Summary[];
  assert.ok(!('VirtualSize' in byId(v144, busybox)));
  assert.equal(byId(v144, busybox).Containers, -1);
  const v150 = (await json('GET', '/v1.50/images/json?manifests=1')).json as Summary[];
  assert.equal(byId(v150, busybox).Containers, -1);
  // the graphdriver store has no manifests or descriptors to show
  assert.ok(!('Manifests' in byId(v150, busybox)) && !('Descriptor' in byId(v150, busybox)));
  const v151 = (await json('GET', '/v1.51/images/json')).json as Summary[];
  assert.equal(byId(v151, busybox).Containers, 1);
  assert.equal(byId(v151, untagged).Containers, 0);
  const unversioned = (await json('GET', '/images/json')).json as Summary[];
  assert.equal(byId(unversioned, busybox).Containers, 1);

  await d.api('DELETE', `/v1.41/containers/${c}`);
  await d.api('DELETE', `/v1.41/images/${untagged}`);
});

test('GET /images/json: until (unversioned in dockerd 25) filters at every version', async () => {
  for (const v of ['1.41', '1.52']) {
    const old = (await json('GET', `/v${v}/images/json?filters=${encodeURIComponent(JSON.stringify({ until: ['2000-01-01T00:00:00Z'] }))}`)).json;
    assert.deepEqual(old, [], `v${v}: busybox (2024) is not older than 2000`);
    const now = (await json('GET', `/v${v}/images/json?filters=${encodeURIComponent(JSON.stringify({ until: ['1s'] }))}`)).json as Summary[];
    assert.equal(now.length, 1);
    const bad = await json('GET', `/v${v}/images/json?filters=${encodeURIComponent(JSON.stringify({ until: ['xyz'] }))}`);
    assert.equal(bad.json.message, 'failed to parse value as time or duration: "xyz"');
  }
});

test('GET /images/{name}/json: VirtualSize until 1.43, legacy Config fields until 1.51; Container/ContainerConfig at every version (dockerd: until 1.44; docker-compose 1.29 reads them)', async () => {
  const v141 = (await json('GET', '/v1.41/images/busybox/json')).json;
  // API 1.41's shape, in its field order
  assert.deepEqual(Object.keys(v141), ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Container', 'ContainerConfig',
    'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'VirtualSize', 'GraphDriver', 'RootFS', 'Metadata']);
  assert.equal(v141.Config.Hostname, '');
  const v143 = (await json('GET', '/v1.43/images/busybox/json')).json;
  assert.ok('VirtualSize' in v143 && 'ContainerConfig' in v143);
  assert.equal(v143.Config.AttachStdin, false);
  const v144 = (await json('GET', '/v1.44/images/busybox/json')).json;
  assert.ok(!('VirtualSize' in v144) && 'Container' in v144 && 'ContainerConfig' in v144);
  const v145 = (await json('GET', '/v1.45/images/busybox/json')).json;
  assert.ok('Container' in v145 && 'ContainerConfig' in v145);
  assert.deepEqual([v145.Comment, v145.Author, v145.DockerVersion, v145.Parent], ['', '', '', '']);
  assert.ok('Hostname' in v145.Config && 'Volumes' in v145.Config);
  const v150 = (await json('GET', '/v1.50/images/busybox/json')).json;
  assert.ok(!('Hostname' in v150.Config) && !('AttachStdin' in v150.Config));
  assert.deepEqual([v150.Config.User, v150.Config.Volumes, v150.Config.Entrypoint], ['', null, null]);
  const v152 = (await json('GET', '/v1.52/images/busybox/json')).json;
  assert.deepEqual(Object.keys(v152.Config).sort(), ['Cmd', 'Env']);
  for (const k of ['Comment', 'Author', 'DockerVersion', 'Parent', 'VirtualSize', 'Descriptor', 'Manifests']) assert.ok(!(k in v152), k);
  assert.deepEqual(v152.RepoDigests, []);
  assert.equal(v152.Id, v141.Id);
});

test('GET /images/{name}/json: platform from 1.49 (404 for another platform), never with manifests (1.48)', async () => {
  assert.equal((await d.api('GET', `/v1.48/images/busybox/json?platform=${ARM64}`)).status, 200, 'platform is 1.49\'s');
  const other = await json('GET', `/v1.49/images/busybox/json?platform=${ARM64}`);
  assert.equal(other.status, 404);
  assert.equal(other.json.message, 'image with reference busybox was found but its platform (linux/amd64) does not match the specified platform (linux/arm64)');
  assert.equal((await d.api('GET', `/v1.49/images/busybox/json?platform=${AMD64}`)).status, 200);
  const both = await json('GET', `/v1.49/images/busybox/json?platform=${AMD64}&manifests=1`);
  assert.equal(both.status, 400);
  assert.equal(both.json.message, 'conflicting options: manifests and platform options cannot both be set');
  const bad = await json('GET', '/v1.49/images/busybox/json?platform=linux%2Farm64');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, "failed to parse platform: invalid character 'l' looking for beginning of value");
  assert.equal((await d.api('GET', '/v1.48/images/busybox/json?manifests=1')).status, 200);
});

test('GET /images/{name}/history: platform from 1.48', async () => {
  assert.equal((await d.api('GET', `/v1.47/images/busybox/history?platform=${ARM64}`)).status, 200);
  const other = await json('GET', `/v1.48/images/busybox/history?platform=${ARM64}`);
  assert.equal(other.status, 404);
  assert.match(other.json.message, /its platform \(linux\/amd64\) does not match the specified platform \(linux\/arm64\)$/);
  assert.equal((await json('GET', `/v1.48/images/busybox/history?platform=${AMD64}`)).json.length, 1);
});

test('GET /images/get and POST /images/load: platform from 1.48, repeated from 1.52 (which the graphdriver store refuses)', async () => {
  assert.equal((await d.api('GET', `/v1.47/images/busybox/get?platform=${ARM64}`)).status, 200);
  const other = await json('GET', `/v1.48/images/get?names=busybox&platform=${ARM64}`);
  assert.equal(other.status, 500);
  assert.equal(other.json.message, 'no suitable export target found for platform linux/arm64');
  const two = `platform=${ARM64}&platform=${AMD64}`;
  const old = await json('GET', `/v1.51/images/get?names=busybox&${two}`);
  assert.deepEqual([old.status, old.json.message], [400, 'multiple platform parameters are not supported in this API version; use API version 1.52 or later']);
  const many = await json('GET', `/v1.52/images/get?names=busybox&${two}`);
  assert.deepEqual([many.status, many.json.message],
    [400, 'multiple platforms not supported for this image store; use a multi-platform image store such as containerd-snapshotter']);
  const saved = await d.api('GET', `/v1.48/images/busybox/get?platform=${AMD64}`);
  assert.equal(saved.status, 200);

  // load: the archive's images of another platform are passed over
  const tar = path.join(d.dir, 'bb.tar');
  await d.ok(['save', '-o', tar, 'busybox']);
  const body = await fs.readFile(tar);
  await d.api('POST', '/v1.41/images/busybox/tag?repo=keep&tag=1');
  await d.api('DELETE', '/v1.41/images/busybox');
  const skipped = await d.api('POST', `/v1.48/images/load?quiet=1&platform=${ARM64}`, body);
  assert.equal(skipped.status, 200);
  assert.doesNotMatch(skipped.body, /Loaded image/);
  assert.equal((await d.api('GET', '/v1.41/images/busybox/json')).status, 404);
  const oldLoad = await d.api('POST', `/v1.51/images/load?quiet=1&${two}`, body);
  assert.deepEqual([oldLoad.status, JSON.parse(oldLoad.body).message],
    [400, 'multiple platform parameters are not supported in this API version; use API version 1.52 or later']);
  // dockerd's store refuses in the stream, after its 200
  const manyLoad = await d.api('POST', `/v1.52/images/load?quiet=1&${two}`, body);
  assert.equal(manyLoad.status, 200);
  assert.match(manyLoad.body, /"error":"multiple platforms not supported for this image store/);
  const loaded = await d.api('POST', `/v1.48/images/load?quiet=1&platform=${AMD64}`, body);
  assert.match(loaded.body, /Loaded image: busybox:latest/);
  // quiet defaults to true (dockerd's, at every version): progress only with quiet=0
  await d.api('DELETE', '/v1.41/images/busybox');
  const plain = await d.api('POST', '/v1.41/images/load', body);
  assert.doesNotMatch(plain.body, /Loading layer|progressDetail/);
  assert.match(plain.body, /Loaded image: busybox:latest/);
  // 1.47 knows no platform: loads all
  await d.api('DELETE', '/v1.41/images/busybox');
  assert.match((await d.api('POST', `/v1.47/images/load?quiet=1&platform=${ARM64}`, body)).body, /Loaded image: busybox:latest/);
  await d.api('DELETE', '/v1.41/images/keep:1');
});

test('DELETE /images/{name}: platforms (1.50) decoded, then unused by the graphdriver store', async () => {
  await d.api('POST', '/v1.41/images/busybox/tag?repo=gone&tag=1');
  const bad = await json('DELETE', '/v1.50/images/gone:1?platforms=nope');
  assert.equal(bad.status, 400);
  assert.equal(bad.json.message, "failed to parse platform: invalid character 'o' in literal null (expecting 'u')");
  assert.equal((await d.api('DELETE', `/v1.50/images/gone:1?platforms=${AMD64}`)).status, 200);
  await d.api('POST', '/v1.41/images/busybox/tag?repo=gone&tag=2');
  assert.equal((await d.api('DELETE', '/v1.49/images/gone:2?platforms=nope')).status, 200, '1.49 knows no platforms');
});

test('POST /images/{name}/push: platform from 1.46; clientAuth (1.48) is refused by the graphdriver store, for pull too', async () => {
  const name = `${registry.host}/versions/bb`;
  await d.api('POST', `/v1.41/images/busybox/tag?repo=${encodeURIComponent(name)}&tag=1`);
  const auth = { 'X-Registry-Auth': Buffer.from('{}').toString('base64') };
  const other = await d.api('POST', `/v1.46/images/${name}/push?tag=1&platform=${ARM64}`, undefined, auth);
  assert.equal(other.status, 404);
  assert.match(JSON.parse(other.body).message, /was found but its platform \(linux\/amd64\) does not match the specified platform \(linux\/arm64\)$/);
  // older clients sent PullOptions' platform along: ignored
  const ignored = await d.api('POST', `/v1.45/images/${name}/push?tag=1&platform=${ARM64}`, undefined, auth);
  assert.equal(ignored.status, 200);
  assert.match(ignored.body, /"aux":\{"Tag":"1","Digest":"sha256:/);
  const same = await d.api('POST', `/v1.46/images/${name}/push?tag=1&platform=${AMD64}`, undefined, auth);
  assert.match(same.body, /"aux":\{"Tag":"1"/);

  const msg = 'engine is using the graphdriver image store, which does not support client auth handling';
  const push = await json('POST', `/v1.48/images/${name}/push?tag=1&clientAuth=1`);
  assert.deepEqual([push.status, push.json.message], [501, msg]);
  const pull = await json('POST', `/v1.48/images/create?fromImage=${encodeURIComponent(name)}&tag=1&clientAuth=true`);
  assert.deepEqual([pull.status, pull.json.message], [501, msg]);
  const oldPull = await d.api('POST', `/v1.47/images/create?fromImage=${encodeURIComponent(name)}&tag=1&clientAuth=true`);
  assert.equal(oldPull.status, 200);
});

test('GET /distribution/{name}/json: the descriptor a registry serves under a name, and its platforms', async () => {
  const name = `${registry.host}/versions/dist`;
  await d.api('POST', `/v1.41/images/busybox/tag?repo=${encodeURIComponent(name)}&tag=1`);
  const auth = { 'X-Registry-Auth': Buffer.from('{}').toString('base64') };
  assert.equal((await d.api('POST', `/v1.41/images/${name}/push?tag=1`, undefined, auth)).status, 200);
  const single = await registry.getManifest('versions/dist', '1');
  const r = await json('GET', `/v1.52/distribution/${name}:1/json`);
  assert.equal(r.status, 200);
  assert.deepEqual(r.json, {
    Descriptor: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: single.digest, size: single.body.length },
    Platforms: [{ architecture: 'amd64', os: 'linux' }],
  });
  // an index: its entries' platforms, as listed
  const list = JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json',
    manifests: [
      { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: single.digest, size: single.body.length, platform: { architecture: 'amd64', os: 'linux' } },
      { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', digest: single.digest, size: single.body.length, platform: { architecture: 'arm', os: 'linux', variant: 'v7' } },
    ],
  });
  const listDigest = await registry.putManifest('versions/dist', 'multi', list, 'application/vnd.docker.distribution.manifest.list.v2+json');
  const idx = await json('GET', `/v1.41/distribution/${name}:multi/json`);
  assert.deepEqual(idx.json.Descriptor, { mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', digest: listDigest, size: Buffer.byteLength(list) });
  assert.deepEqual(idx.json.Platforms, [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm', os: 'linux', variant: 'v7' }]);
  assert.equal((await json('GET', `/v1.52/distribution/${name}@${listDigest}/json`)).json.Descriptor.digest, listDigest);

  const missing = await json('GET', `/v1.52/distribution/${name}:nope/json`);
  assert.equal(missing.status, 404);
  const id = await json('GET', `/v1.52/distribution/${'0'.repeat(64)}/json`);
  assert.deepEqual([id.status, id.json.message], [500, 'no manifest found for full image ID']);
});

test('POST /images/{name}/tag: a repository named sha256 is refused at every version (dockerd 25, unversioned)', async () => {
  for (const v of ['1.41', '1.52']) {
    const r = await json('POST', `/v${v}/images/busybox/tag?repo=sha256&tag=x`);
    assert.deepEqual([r.status, r.json.message], [400, 'refusing to create an ambiguous tag using digest algorithm as name']);
  }
  assert.equal((await d.api('POST', '/v1.52/images/busybox/tag?repo=sha256x&tag=x')).status, 201);
  await d.api('DELETE', '/v1.52/images/sha256x:x');
});

test('POST /images/create: scratch is a reserved name, 403 at every version (dockerd 25, unversioned)', async () => {
  for (const v of ['1.41', '1.52']) {
    const r = await json('POST', `/v${v}/images/create?fromImage=scratch&tag=latest`);
    assert.deepEqual([r.status, r.json.message], [403, "'scratch' is a reserved name"]);
  }
});
