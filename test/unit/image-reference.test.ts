// Reference parsing (docker's normalisation), chain ids, and the content store's ingest.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { isKind } from '../../src/common/errors.js';
import { ContentStore } from '../../src/image/content.js';
import { namesFromAnnotations } from '../../src/image/archive-load.js';
import { chainIds } from '../../src/image/layers.js';
import { normalizeName, parseReference } from '../../src/image/reference.js';
import { tempDir } from './image-fixtures.test.js';

const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('parseReference / normalizeName', () => {
  it('normalises names the way docker displays them', () => {
    const cases: Array<[string, string]> = [
      ['busybox', 'busybox:latest'],
      ['busybox:1.36', 'busybox:1.36'],
      ['library/busybox', 'busybox:latest'],
      ['docker.io/library/busybox:latest', 'busybox:latest'],
      ['index.docker.io/library/busybox', 'busybox:latest'],
      ['docker.io/myuser/app:v1', 'myuser/app:v1'],
      ['localhost/app', 'localhost/app:latest'],
      ['localhost:5000/team/app:v2', 'localhost:5000/team/app:v2'],
      ['127.0.0.1:5000/busybox', '127.0.0.1:5000/busybox:latest'],
      ['quay.io/a/b/c:1', 'quay.io/a/b/c:1'],
      ['my_app.name-x:tag_1.0-rc', 'my_app.name-x:tag_1.0-rc'],
      [`busybox@sha256:${'a'.repeat(64)}`, `busybox@sha256:${'a'.repeat(64)}`],
    ];
    for (const [input, want] of cases) assert.equal(normalizeName(input), want, input);
    const p = parseReference('busybox');
    assert.equal(p.domain, 'docker.io');
    assert.equal(p.path, 'library/busybox');
    assert.equal(p.fullName, 'docker.io/library/busybox');
    assert.equal(p.name, 'busybox');
    assert.equal(p.tag, undefined);
  });

  it('refuses what docker refuses', () => {
    const bad = ['', 'Busybox', 'busybox:', 'busybox:-tag', ':tag', 'a//b', 'a/', '/a', 'a b', 'a:b:c', 'x@sha256:12',
      'a'.repeat(64), `x:${'t'.repeat(129)}`, 'bad..name', 'a\0b'];
    for (const ref of bad) {
      assert.throws(() => parseReference(ref), (e: unknown) => isKind(e, 'InvalidArgument'), JSON.stringify(ref));
    }
    // As in docker, an uppercase first component can only be a registry host.
    assert.equal(parseReference('Registry/x').domain, 'Registry');
    assert.throws(() => parseReference('docker.io/Library/x'), /must be lowercase/);
    assert.throws(() => parseReference('a'.repeat(64)), /cannot specify 64-byte hexadecimal strings/);
  });

  it('says what docker says: case first, then the digest algorithm and length', () => {
    const msg = (ref: string) => { try { parseReference(ref); return ''; } catch (e) { return (e as Error).message; } };
    assert.equal(msg('BusyBox'), 'invalid reference format: repository name must be lowercase');
    assert.equal(msg('BusyBox:Latest'), 'invalid reference format: repository name must be lowercase');
    assert.match(msg('busybox@sha256:abc'), /^invalid reference format/);
    assert.match(msg(`busybox@sha256:${'a'.repeat(32)}`), /^invalid checksum digest length/);
    assert.match(msg(`busybox@md5:${'a'.repeat(32)}`), /^unsupported digest algorithm/);
    assert.match(msg(`busybox@sha256:${'A'.repeat(64)}`), /^invalid checksum digest format/);
    assert.equal(msg(`busybox@sha512:${'a'.repeat(128)}`), '');
  });
});

describe('oci annotations', () => {
  it('a full ref names the image, a bare tag (umoci) does not', () => {
    assert.deepEqual(namesFromAnnotations({ 'org.opencontainers.image.ref.name': 'busybox:latest' }), ['busybox:latest']);
    assert.deepEqual(namesFromAnnotations({ 'org.opencontainers.image.ref.name': 'latest' }), []);
    assert.deepEqual(namesFromAnnotations({
      'org.opencontainers.image.ref.name': 'latest', 'io.containerd.image.name': 'docker.io/library/busybox:1.36',
    }), ['busybox:1.36']);
    assert.deepEqual(namesFromAnnotations({ 'org.opencontainers.image.ref.name': 'localhost:5000/x' }), ['localhost:5000/x:latest']);
    assert.deepEqual(namesFromAnnotations(undefined), []);
  });
});

describe('chainIds', () => {
  it('follows the OCI definition', () => {
    const d = [sha('a'), sha('b'), sha('c')];
    const c = chainIds(d);
    assert.equal(c[0], d[0]);
    assert.equal(c[1], sha(`${d[0]} ${d[1]}`));
    assert.equal(c[2], sha(`${c[1]} ${d[2]}`));
    assert.deepEqual(chainIds([]), []);
  });
});

describe('ContentStore', () => {
  it('stores verified blobs and nothing on a mismatch', async () => {
    const root = await tempDir();
    try {
      const cs = new ContentStore(root);
      await fs.mkdir(path.join(root, 'ingest'), { recursive: true });
      await fs.writeFile(path.join(root, 'ingest', 'left-over'), 'x');
      await cs.init();
      assert.deepEqual(await fs.readdir(path.join(root, 'ingest')), [], 'init drops partial ingests');
      const info = await cs.ingest(Readable.from([Buffer.from('hello')]), 'greeting', { digest: sha('hello'), size: 5 });
      assert.deepEqual(info, { digest: sha('hello'), size: 5 });
      assert.equal(await fs.readFile(cs.blobPath(info.digest), 'utf8'), 'hello');
      assert.ok(await cs.has(info.digest));
      await assert.rejects(cs.ingest(Readable.from([Buffer.from('evil')]), 'greeting', { digest: sha('good') }),
        (e: unknown) => isKind(e, 'InvalidArgument')
          && (e as Error).message === `digest mismatch for greeting: expected ${sha('good')}, got ${sha('evil')}`);
      await assert.rejects(cs.ingest(Readable.from([Buffer.from('toolong')]), 'sized', { size: 3 }), /size mismatch for sized/);
      assert.deepEqual(await cs.list(), [sha('hello')]);
      assert.deepEqual(await fs.readdir(path.join(root, 'ingest')), []);
      assert.throws(() => cs.blobPath('sha256:../../etc'), (e: unknown) => isKind(e, 'InvalidArgument'));
      await cs.delete(info.digest);
      assert.equal(await cs.has(info.digest), false);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
