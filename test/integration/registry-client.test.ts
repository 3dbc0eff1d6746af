// The registry client on its own, against a real docker-registry: which hosts may use plain
// HTTP (insecure-registries by name or CIDR, loopback), the message when one may not, and
// the pure parts: WWW-Authenticate parsing, X-Registry-Auth decoding, credential keys and
// platform matching.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { isKind } from '../../src/common/errors.js';
import { decodeRegistryAuth, encodeRegistryAuth, parseChallenges } from '../../src/image/registry/auth.js';
import { RegistryClient } from '../../src/image/registry/client.js';
import { Repository } from '../../src/image/registry/repository.js';
import { INDEX_SERVER, registryKey } from '../../src/image/registry/credentials.js';
import { choosePlatform, hostPlatform, parseManifest, parsePlatform } from '../../src/image/registry/manifest.js';
import { parseReference } from '../../src/image/reference.js';
import { IMAGES } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';

let reg: TestRegistry;
before(async () => {
  reg = await TestRegistry.start();
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
});
after(async () => { await reg?.stop(); });

async function manifestVia(opts: ConstructorParameters<typeof RegistryClient>[0]): Promise<string> {
  const client = new RegistryClient(opts);
  try {
    const m = await new Repository(client, parseReference(`${reg.host}/busybox:latest`)).manifest('latest');
    return m.digest;
  } finally {
    client.close();
  }
}

describe('which registries may speak plain HTTP', () => {
  test('loopback does by default', async () => {
    assert.match(await manifestVia({}), /^sha256:/);
  });

  test('any other host must be listed: the error names the registry and the fix', async () => {
    await assert.rejects(manifestVia({ secureLoopback: true, configFile: '/etc/tsula/daemon.json' }), (e: Error) => {
      assert.ok(isKind(e, 'Unavailable'));
      assert.equal(e.message, `registry ${reg.host} speaks plain HTTP: add it to "insecure-registries" in /etc/tsula/daemon.json (then restart tsulad) if you trust it`);
      return true;
    });
  });

  test('listed by host:port or by CIDR, it may', async () => {
    assert.match(await manifestVia({ secureLoopback: true, insecureRegistries: [reg.host] }), /^sha256:/);
    assert.match(await manifestVia({ secureLoopback: true, insecureRegistries: ['127.0.0.0/8'] }), /^sha256:/);
    await assert.rejects(manifestVia({ secureLoopback: true, insecureRegistries: ['10.0.0.0/8', '127.0.0.1:1'] }), /speaks plain HTTP/);
  });

  test('an unreachable registry is Unavailable, named', async () => {
    const client = new RegistryClient({});
    await assert.rejects(new Repository(client, parseReference('127.0.0.1:1/x')).manifest('latest'), (e: Error) => {
      assert.ok(isKind(e, 'Unavailable'));
      assert.match(e.message, /^registry 127\.0\.0\.1:1 is unreachable: /);
      return true;
    });
    client.close();
  });
});

describe('auth parsing', () => {
  test('WWW-Authenticate challenges, quoted values with commas, several schemes', () => {
    assert.deepEqual(parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"'), [
      { scheme: 'bearer', params: { realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:a/b:pull,push' } },
    ]);
    assert.deepEqual(parseChallenges('Basic realm="x", Bearer realm=y'), [
      { scheme: 'basic', params: { realm: 'x' } }, { scheme: 'bearer', params: { realm: 'y' } },
    ]);
    assert.deepEqual(parseChallenges(''), []);
  });

  test('X-Registry-Auth: base64url JSON, standard base64 accepted, auth field expanded', () => {
    const a = { username: 'u', password: 'p?>', serveraddress: 'r:5000' };
    assert.deepEqual(decodeRegistryAuth(encodeRegistryAuth(a)), a);
    assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify(a)).toString('base64')), a);
    assert.deepEqual(decodeRegistryAuth(Buffer.from(JSON.stringify({ auth: Buffer.from('x:y:z').toString('base64') })).toString('base64url')),
      { auth: Buffer.from('x:y:z').toString('base64'), username: 'x', password: 'y:z' });
    assert.equal(decodeRegistryAuth('e30='), undefined);
    assert.equal(decodeRegistryAuth(undefined), undefined);
    assert.throws(() => decodeRegistryAuth('!!!'), /invalid X-Registry-Auth/);
  });

  test('credential keys: hosts without scheme, Docker Hub by its index address', () => {
    assert.equal(registryKey('http://127.0.0.1:5000/'), '127.0.0.1:5000');
    assert.equal(registryKey('127.0.0.1:5000'), '127.0.0.1:5000');
    assert.equal(registryKey(undefined), INDEX_SERVER);
    assert.equal(registryKey('docker.io'), INDEX_SERVER);
  });
});

describe('manifests and platforms', () => {
  const index = (entries: Array<{ architecture: string; os: string; variant?: string }>) => parseManifest(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: entries.map((p, i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', size: 1, digest: `sha256:${String(i).repeat(64)}`, platform: p })),
  })), undefined, 'x');

  test('the host platform, arm variants normalised', () => {
    assert.deepEqual(hostPlatform(), { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : 'arm64', ...(process.arch === 'arm64' ? { variant: 'v8' } : {}) });
    assert.deepEqual(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
    assert.deepEqual(parsePlatform('linux/arm/v6'), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.throws(() => parsePlatform('a/b/c/d'), /invalid platform/);
  });

  test('choosing from an index', () => {
    const idx = index([{ architecture: 'arm', os: 'linux', variant: 'v6' }, { architecture: 'arm', os: 'linux', variant: 'v7' }, { architecture: 'amd64', os: 'linux' }]);
    assert.equal(idx.kind, 'index');
    if (idx.kind !== 'index') return;
    assert.equal(choosePlatform(idx, parsePlatform('linux/amd64'), 'x').digest, `sha256:${'2'.repeat(64)}`);
    assert.equal(choosePlatform(idx, parsePlatform('linux/arm'), 'x').digest, `sha256:${'1'.repeat(64)}`);
    assert.throws(() => choosePlatform(idx, parsePlatform('linux/ppc64le'), 'x'), /no matching manifest for linux\/ppc64le/);
  });

  test('schema 1 and unknown layer types are refused clearly', () => {
    assert.throws(() => parseManifest(Buffer.from('{"schemaVersion":1}'), undefined, 'x'), /schema 1 manifests are not supported/);
    const m = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'x', size: 1, digest: `sha256:${'a'.repeat(64)}` } };
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, layers: [{ mediaType: 'application/x-foo', size: 1, digest: `sha256:${'b'.repeat(64)}` }] })), undefined, 'x'), /unsupported media type "application\/x-foo"/);
    assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ ...m, layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 1, digest: 'sha512:abc' }] })), undefined, 'x'), /invalid digest/);
  });
});
