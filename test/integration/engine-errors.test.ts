// Bad input gets a clear error and loses nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as fsSync from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { TestDaemon, IMAGES, ROOT } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

test('malformed JSON is a 400 with a message', async () => {
  const r = await d.api('POST', '/v1.41/containers/create', '{"Image": "busybox",');
  assert.equal(r.status, 400);
  assert.match(JSON.parse(r.body).message, /^invalid JSON: /);
  const t = await d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: 'ls', Tty: 'yes' }));
  assert.equal(t.status, 400);
  assert.match(JSON.parse(t.body).message, /Tty/);
});

test("dockerd's middleware: API versions out of range, an unknown route, a body that is not JSON, /_ping", async () => {
  const v = async (ver: string) => { const r = await d.api('GET', `/v${ver}/version`); return [r.status, r.status === 200 ? '' : JSON.parse(r.body).message]; };
  assert.deepEqual(await v('1.41'), [200, '']);
  assert.deepEqual(await v('1.12'), [200, '']);
  assert.deepEqual(await v('1.11'), [400, 'client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a newer version']);
  assert.deepEqual(await v('1.52'), [200, '']);
  assert.deepEqual(await v('1.53'), [400, 'client version 1.53 is too new. Maximum supported API version is 1.52']);
  // a newer client's request does nothing: no container is made under 1.52's rules
  const made = await d.api('POST', '/v1.53/containers/create?name=too-new', JSON.stringify({ Image: 'busybox' }));
  assert.equal(made.status, 400);
  assert.equal((await d.api('GET', '/containers/too-new/json')).status, 404);
  assert.deepEqual([(await d.api('GET', '/v1.41/nothing/here')).status, JSON.parse((await d.api('GET', '/v1.41/nothing/here')).body)], [404, { message: 'page not found' }]);
  // dockerd 25+'s words (CheckForJSON)
  for (const [type, said] of [['text/plain', 'unsupported Content-Type header (text/plain): must be \'application/json\''], ['', 'malformed Content-Type header (): mime: no media type']]) {
    const r = await d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox' }), { 'Content-Type': type });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).message, said);
  }
  const withCharset = await d.api('POST', '/v1.41/volumes/create', JSON.stringify({ Name: 'ct-ok' }), { 'Content-Type': 'application/json; charset=utf-8' });
  assert.equal(withCharset.status, 201);
  await d.api('DELETE', '/v1.41/volumes/ct-ok');
  const ping = await d.api('GET', '/_ping');
  assert.equal(ping.body, 'OK');
  // the classic builder's Builder-Version (dockerd's with BuildKit off): clients open no BuildKit session
  const { request } = await import('node:http');
  const headers = await new Promise<Record<string, unknown>>((resolve, reject) => {
    request({ socketPath: d.sock, path: '/_ping' }, (res) => { res.resume(); resolve(res.headers); }).on('error', reject).end();
  });
  assert.equal(headers['builder-version'], '1');
  const exec = await d.api('GET', '/v1.41/exec/nonexist/json');
  assert.deepEqual([exec.status, JSON.parse(exec.body).message], [404, 'No such exec instance: nonexist']);
  const dangling = await d.api('GET', `/v1.41/volumes?filters=${encodeURIComponent(JSON.stringify({ dangling: ['x'] }))}`);
  assert.deepEqual([dangling.status, JSON.parse(dangling.body).message], [400, "invalid filter 'dangling=[x]'"]);
});

test('unknown container and image are 404', async () => {
  const c = await d.api('GET', '/v1.41/containers/nope/json');
  assert.equal(c.status, 404);
  assert.equal(JSON.parse(c.body).message, 'No such container: nope');
  const i = await d.api('GET', '/v1.41/images/nope:1/json');
  assert.equal(i.status, 404);
  assert.equal(JSON.parse(i.body).message, 'No such image: nope:1');
  const r = await d.cli(['run', 'nosuchimage', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /nosuchimage/);
});

test('ids with / or .. are rejected before touching the filesystem', async () => {
  // encoded, so that the router passes them to the container handlers as ids (a bare .. or
  // %2e%2e segment is resolved by the URL parser before any handler runs); a record at the path an id of
  // ../../canary would name next to the real ones must stay untouched
  const canary = path.join(d.dir, 'canary');
  await fs.mkdir(canary);
  await fs.writeFile(path.join(canary, 'config.v2.json'), '{}');
  for (const bad of ['%2e%2e%2f%2e%2e%2fcanary', '%2e%2e%2f', '..%2F..%2Fcanary', 'a%2Fb', '%2F..%2Fcanary', '%2F%2Fx']) {
    const id = decodeURIComponent(bad);
    for (const [method, p] of [['GET', 'json'], ['POST', 'stop'], ['POST', 'kill'], ['DELETE', '']] as const) {
      const r = await d.api(method, `/v1.41/containers/${bad}${p ? `/${p}` : '?force=1&v=1'}`);
      assert.equal(r.status, 404, `${method} ${bad}/${p}: ${r.status} ${r.body}`);
      assert.equal(JSON.parse(r.body).message, `No such container: ${id}`, `${method} ${bad}/${p}`);
    }
  }
  assert.deepEqual(await fs.readdir(canary), ['config.v2.json']);
  const r = await d.cli(['create', '--name', '../x', 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Invalid container name \(\.\.\/x\)/);
  const slash = await d.cli(['create', '--name', 'a/b', 'busybox', 'true']);
  assert.match(slash.stderr, /Invalid container name \(a\/b\)/);
  // docker's own form of a name, with its leading "/" (inspect's .Name), names the container
  const id = (await d.ok(['create', '--name', 'slashy', 'busybox', 'true'])).trim();
  const byName = await d.api('GET', '/v1.41/containers/%2Fslashy/json');
  assert.equal(byName.status, 200, byName.body);
  assert.equal(JSON.parse(byName.body).Id, id);
  await d.ok(['rm', '/slashy']);
});

test('name conflicts are 409', async () => {
  await d.ok(['create', '--name', 'dup', 'busybox', 'true']);
  const r = await d.api('POST', '/v1.41/containers/create?name=dup', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
  assert.equal(r.status, 409);
  assert.match(JSON.parse(r.body).message, /already in use/);
  await d.ok(['rm', 'dup']);
});

test('second start of a running container; rm of a running one without -f', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const s = await d.api('POST', `/v1.41/containers/${id}/start`);
  assert.equal(s.status, 304);
  // docker's client takes the 304 as done: the name again, exit 0
  const cli = await d.cli(['start', id]);
  assert.deepEqual([cli.code, cli.stdout, cli.stderr], [0, `${id}\n`, '']);
  const rm = await d.cli(['rm', id]);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /You cannot remove a running container/);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true');
  await d.ok(['rm', '-f', id]);
});

test('a missing command fails start with 127 and keeps the container', async () => {
  const r = await d.cli(['run', '--name', 'nocmd', 'busybox', '/no/such/binary']);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /no such file|not found/i);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', 'nocmd'])).trim(), 'created');
  await d.ok(['rm', 'nocmd']);
});

test('load refuses a digest mismatch and a truncated archive, storing nothing', async () => {
  const blobs = path.join(d.graph, 'image', 'blobs', 'sha256');
  const before = (await fs.readdir(blobs)).sort();
  const src = await fs.readFile(path.join(IMAGES, 'busybox.tar'));
  const truncated = path.join(d.dir, 'trunc.tar');
  await fs.writeFile(truncated, src.subarray(0, Math.floor(src.length / 2)));
  const t = await d.cli(['load', '-i', truncated]);
  assert.notEqual(t.code, 0);
  assert.match(t.stderr, /truncated|unexpected end|incomplete/i);
  assert.deepEqual((await fs.readdir(blobs)).sort(), before);
  const bad = path.join(d.dir, 'bad.tar');
  corruptLayer(path.join(IMAGES, 'layered.tar'), bad);
  const b = await d.cli(['load', '-i', bad]);
  assert.notEqual(b.code, 0);
  assert.match(b.stderr, /digest|diff.?id/i);
  assert.deepEqual((await fs.readdir(blobs)).sort(), before);
  assert.equal((await d.cli(['inspect', 'layered'])).code !== 0, true);
});

test('an upload refused before it is read still gets its error, not a broken pipe', async () => {
  // xz fails at its first bytes (a stream header of zeros); the other 32 MiB are still on their way
  const big = path.join(d.dir, 'big.tar.xz');
  const buf = Buffer.alloc(32 << 20);
  Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]).copy(buf);
  await fs.writeFile(big, buf);
  for (const quiet of [true, false]) {
    const r = await d.cli(quiet ? ['load', '-q', '-i', big] : ['load', '-i', big]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /the archive: cannot decompress the xz data: xz: /);
  }
  await fs.rm(big);
  // not a tar at all: the parser gives up at the first header, the daemon answers, then
  // reads the rest of the upload (it used to wait for an end its parser would never read)
  const blobs = path.join(d.graph, 'image', 'blobs', 'sha256');
  const before = (await fs.readdir(blobs)).sort();
  const noise = path.join(d.dir, 'noise.tar');
  await fs.writeFile(noise, randomBytes(4 << 20));
  const gz = path.join(d.dir, 'noise.tar.gz');
  await fs.writeFile(gz, gzipSync(randomBytes(1 << 20)));
  for (const f of [noise, gz]) {
    const r = await d.cli(['load', '-i', f]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /invalid archive/);
  }
  assert.deepEqual((await fs.readdir(blobs)).sort(), before);
  // a layer of noise whose digests all match (a well-formed archive of a bad image)
  const arc = path.join(d.dir, 'noise-img');
  await fs.mkdir(arc);
  const layer = randomBytes(100_000);
  await fs.writeFile(path.join(arc, 'layer.tar'), layer);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] } }));
  await fs.writeFile(path.join(arc, `${sha256(config)}.json`), config);
  await fs.writeFile(path.join(arc, 'manifest.json'), JSON.stringify([{ Config: `${sha256(config)}.json`, RepoTags: ['noise:1'], Layers: ['layer.tar'] }]));
  spawnSync('tar', ['-cf', `${arc}.tar`, '-C', arc, '.']);
  const r = await d.cli(['load', '-i', `${arc}.tar`]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /layer sha256:[0-9a-f]{64} \(layer.tar\): layer tar .*not a tar/);
  assert.doesNotMatch(r.stderr, /[^\x20-\x7e\n]/, 'the header bytes are shown as ASCII');
  assert.deepEqual((await fs.readdir(blobs)).sort(), before);
  assert.notEqual((await d.cli(['inspect', 'noise:1'])).code, 0);
});

test('an invalid daemon.json stops tsulad with a message naming the key', async () => {
  for (const [cfg, re] of [
    [{ 'no-such-key': 1 }, /unknown key "no-such-key"/],
    [{ 'storage-driver': 'zfs' }, /"storage-driver"/],
    [{ graph: 12 }, /"graph"/],
  ] as const) {
    const file = path.join(d.dir, 'bad.json');
    await fs.writeFile(file, JSON.stringify(cfg));
    const r = spawnSync(process.execPath, [path.join(ROOT, 'build/tsulad.mjs'), '--config-file', file, '-H', `unix://${d.dir}/x.sock`, '--cri-socket', `unix://${d.dir}/x-cri.sock`, '--graph', `${d.dir}/g2`, '--state', `${d.dir}/s2`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 1);
    assert.match(r.stderr, re);
  }
  await fs.writeFile(path.join(d.dir, 'bad.json'), '{"graph": ');
  // private paths here too: a tsulad that got past its config must not reach the defaults
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build/tsulad.mjs'), '--config-file', path.join(d.dir, 'bad.json'),
    '-H', `unix://${d.dir}/x.sock`, '--graph', `${d.dir}/g2`, '--state', `${d.dir}/s2`, '--cri-socket', `unix://${d.dir}/x-cri.sock`], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /invalid JSON/);
  for (const p of ['x.sock', 'g2', 's2']) assert.equal(fsSync.existsSync(path.join(d.dir, p)), false, `${p}: it stopped before making anything`);
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Flip a byte inside the first layer of a docker-archive, keeping the tar valid. */
function corruptLayer(src: string, dst: string): void {
  const tmp = dst + '.d';
  spawnSync('mkdir', ['-p', tmp]);
  spawnSync('tar', ['-xf', src, '-C', tmp]);
  const manifest = JSON.parse(fsSync.readFileSync(path.join(tmp, 'manifest.json'), 'utf8')) as Array<{ Layers: string[] }>;
  const layer = path.join(tmp, manifest[0].Layers[0]);
  const buf = fsSync.readFileSync(layer) as Buffer;
  buf[Math.floor(buf.length / 2)] ^= 0xff;
  fsSync.writeFileSync(layer, buf);
  spawnSync('tar', ['-cf', dst, '-C', tmp, '.']);
  spawnSync('rm', ['-rf', tmp]);
}

test('a ulimit above the host hard limit is refused at create, naming it', async () => {
  const limits = fsSync.readFileSync('/proc/self/limits', 'utf8');
  const hard = /Max open files\s+\d+\s+(\d+)/.exec(limits)?.[1];
  assert.ok(hard, 'host nofile hard limit');
  const r = await d.cli(['create', '--name', 'toohigh', '--ulimit', `nofile=1024:${Number(hard) + 1}`, 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ulimit nofile=1024:\d+: above the host hard limit/);
  assert.notEqual((await d.cli(['inspect', 'toohigh'])).code, 0);
});
