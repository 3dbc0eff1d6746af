// The Engine API changes between 1.41 (docker 20.10) and 1.52 (docker 29) of the container,
// exec and system endpoints, sent as raw requests of each version: what a /v1.41/ request
// gets stays docker 20.10's, a newer one gets what dockerd 29 gives that version (create's
// new fields and refusals, stop's signal, ConsoleSize, rro binds, inspect/list/info/events/df
// fields, stream content types). No stock CLI needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('engine-api-versions', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
let host = '';
before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
  host = path.join(d.dir, 'host');
  await fs.mkdir(path.join(host, 'sub'), { recursive: true });
});
after(async () => { await d?.destroy(); });

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A request with its answer's headers (d.api has none). */
function req(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const r = http.request({ socketPath: d.sock, method, path: p, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    r.on('error', reject);
    r.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function json(method: string, p: string, body?: unknown): Promise<Json> {
  const r = await req(method, p, body);
  assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${r.body}`);
  return r.body.trim() ? JSON.parse(r.body) as Json : {};
}

async function refused(v: string, body: Json): Promise<string> {
  const r = await req('POST', `/v${v}/containers/create`, { Image: 'busybox', ...body });
  assert.equal(r.status, 400, r.body);
  return (JSON.parse(r.body) as { message: string }).message;
}

async function create(v: string, body: Json, name?: string): Promise<string> {
  const r = await json('POST', `/v${v}/containers/create${name ? `?name=${name}` : ''}`, { Image: 'busybox', ...body });
  return r.Id as string;
}

/** Run to its end; its exit code and its (tty or framed) output. */
async function runToEnd(v: string, id: string): Promise<{ code: number; out: string }> {
  await json('POST', `/v${v}/containers/${id}/start`);
  const w = await json('POST', `/v${v}/containers/${id}/wait`);
  const logs = await req('GET', `/v${v}/containers/${id}/logs?stdout=1&stderr=1`);
  return { code: w.StatusCode as number, out: logs.body };
}

test('create: mount options of another type are refused in 1.42\'s words; 1.41 keeps docker 20.10\'s', async () => {
  const body = { HostConfig: { Mounts: [{ Type: 'bind', Source: host, Target: '/x', VolumeOptions: {} }] } };
  assert.equal(await refused('1.52', body), 'VolumeOptions must not be specified on mount type "bind"');
  assert.equal(await refused('1.41', body), 'invalid mount config for type "bind": field VolumeOptions must not be specified');
});

test('create: fields newer than the request are refused (ReadOnlyForceRecursive < 1.44, Subpath < 1.45, type=image < 1.48)', async () => {
  const force = { HostConfig: { Mounts: [{ Type: 'bind', Source: host, Target: '/x', ReadOnly: true, BindOptions: { ReadOnlyForceRecursive: true } }] } };
  assert.equal(await refused('1.43', force), 'BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer');
  const sub = { HostConfig: { Mounts: [{ Type: 'volume', Source: 'apiv', Target: '/x', VolumeOptions: { Subpath: 'a' } }] } };
  assert.equal(await refused('1.44', sub), 'VolumeOptions.Subpath needs API v1.45 or newer');
  const img = { HostConfig: { Mounts: [{ Type: 'image', Source: 'busybox', Target: '/x' }] } };
  assert.equal(await refused('1.47', img), 'Mount type "Image" needs API v1.48 or newer');
  const bad = { HostConfig: { Mounts: [{ Type: 'volume', Source: 'apiv', Target: '/x', VolumeOptions: { Subpath: '../a' } }] } };
  assert.equal(await refused('1.45', bad), 'invalid mount config for type "volume": subpath must be a relative path within the volume');
  const tmpfs = { HostConfig: { Mounts: [{ Type: 'tmpfs', Target: '/x', TmpfsOptions: { Options: [['nosuid']] } }] } };
  assert.equal(await refused('1.46', tmpfs), 'invalid mount config for type "tmpfs": invalid option: nosuid');
});

test('create: BindOptions.CreateMountpoint makes the source from 1.42 on, and is ignored before', async () => {
  const mount = (src: string) => ({ HostConfig: { Mounts: [{ Type: 'bind', Source: src, Target: '/x', BindOptions: { CreateMountpoint: true } }] } });
  const old = path.join(host, 'made-141');
  assert.equal(await refused('1.41', mount(old)), `invalid mount config for type "bind": bind source path does not exist: ${old}`);
  const made = path.join(host, 'made-152');
  await create('1.52', { Cmd: ['true'], ...mount(made) });
  assert.ok((await fs.stat(made)).isDirectory());
});

test('create: a volume\'s Subpath (1.45) and tmpfs Options (1.46) reach the container', async () => {
  await json('POST', '/v1.52/volumes/create', { Name: 'subv' });
  const vol = await json('GET', '/v1.52/volumes/subv');
  await fs.mkdir(path.join(vol.Mountpoint as string, 'in'));
  await fs.writeFile(path.join(vol.Mountpoint as string, 'in', 'f'), 'from the subpath\n');
  const id = await create('1.45', {
    Cmd: ['sh', '-c', 'cat /x/f; grep " /t " /proc/mounts'], Tty: true,
    HostConfig: { Mounts: [
      { Type: 'volume', Source: 'subv', Target: '/x', VolumeOptions: { Subpath: 'in' } },
      { Type: 'tmpfs', Target: '/t', TmpfsOptions: { Options: [['exec']] } },
    ] },
  });
  const r = await runToEnd('1.45', id);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /from the subpath/);
  assert.doesNotMatch(r.out.split('\n').find((l) => l.includes(' /t ')) ?? 'none', /noexec/);
  // the start bound it from the object it opened and checked (volumes/subpath-stage.ts): that
  // staging mount is gone once the runtime has its own; a file works as a subpath too
  const mountinfo = await fs.readFile('/proc/self/mountinfo', 'utf8');
  assert.ok(!mountinfo.split('\n').some((l) => l.includes(`${d.state}/`) && l.includes('/subpaths/')), 'no staging mount is left on the host');
  const file = await create('1.45', { Cmd: ['cat', '/y'], Tty: true, HostConfig: { Mounts: [{ Type: 'volume', Source: 'subv', Target: '/y', VolumeOptions: { Subpath: 'in/f' } }] } });
  assert.equal((await runToEnd('1.45', file)).out.trim(), 'from the subpath');
  // a subpath a container made a symlink out of the volume after the create: the start,
  // which resolves it again, refuses it rather than mount the host's directory
  const later = await create('1.45', { Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'volume', Source: 'subv', Target: '/x', VolumeOptions: { Subpath: 'in' } }] } });
  await fs.rm(path.join(vol.Mountpoint as string, 'in'), { recursive: true });
  await fs.symlink('/etc', path.join(vol.Mountpoint as string, 'in'));
  const start = await req('POST', `/v1.45/containers/${later}/start`);
  assert.equal(start.status, 400, start.body);
  assert.match(JSON.parse(start.body).message, /path concatenation escapes the base directory, base: .*, subpath: in/);
  // moby's TestRunMountVolumeSubdir: a missing subpath fails the start, not the create (another
  // container may make it first), and an empty directory there gets the image's files
  const missing = await create('1.45', { Cmd: ['true'], HostConfig: { Mounts: [{ Type: 'volume', Source: 'subv', Target: '/x', VolumeOptions: { Subpath: 'later' } }] } });
  const r2 = await req('POST', `/v1.45/containers/${missing}/start`);
  assert.equal(r2.status, 404, r2.body);
  assert.match(JSON.parse(r2.body).message, /cannot access path .*later/);
  await fs.mkdir(path.join(vol.Mountpoint as string, 'bin'));
  const copied = await create('1.45', { Cmd: ['ls', '/bin/busybox'], Tty: true, HostConfig: { Mounts: [{ Type: 'volume', Source: 'subv', Target: '/bin', VolumeOptions: { Subpath: 'bin' } }] } });
  assert.equal((await runToEnd('1.45', copied)).out.trim(), '/bin/busybox');
});

test('create: type=image mounts an image read-only from 1.48 on (ImageOptions.Subpath too); rm removes its snapshot', async () => {
  const mount = (extra: Json = {}) => ({ HostConfig: { Mounts: [{ Type: 'image', Source: 'busybox', Target: '/img', ...extra }] } });
  const id = await create('1.48', {
    Cmd: ['sh', '-c', 'test -x /img/bin/busybox && ! touch /img/x 2>/dev/null && ls /sub/passwd && grep -q root /pw'], Tty: true,
    HostConfig: { Mounts: [{ Type: 'image', Source: 'busybox', Target: '/img' }, { Type: 'image', Source: 'busybox', Target: '/sub', ImageOptions: { Subpath: 'etc' } },
      { Type: 'image', Source: 'busybox', Target: '/pw', ImageOptions: { Subpath: 'etc/passwd' } }] }, // a file too (moby's TestRunMountImage)
  });
  const r = await runToEnd('1.48', id);
  assert.equal(r.code, 0, r.out);
  const mounts = (await json('GET', `/v1.48/containers/${id}/json`)).Mounts as Json[];
  // dockerd's registerMountPoints: the image as named its Name, its snapshot on the host the Source
  const { Source: source, ...rest } = mounts[0]!;
  assert.deepEqual(rest, { Type: 'image', Name: 'busybox', Destination: '/img', Mode: '', RW: false, Propagation: 'rprivate' });
  assert.ok(String(source).startsWith(d.graph) && String(source).includes(id), String(source));
  // the image is in use: rmi refuses, as for a container made from it
  assert.equal((await req('DELETE', '/v1.48/images/busybox')).status, 409);
  assert.match(await refused('1.48', mount({ ImageOptions: { Subpath: 'nope' } })), /^invalid mount config for type "image": subpath "nope" is not in the image$/);
  await json('DELETE', `/v1.48/containers/${id}`);
  const snaps = await fs.readdir(path.join(d.graph, 'overlay', 'snapshots')).catch(() => [] as string[]);
  assert.deepEqual(snaps.filter((k) => k.startsWith(id)), []);
});

test('create: read-only binds are recursively read-only from 1.44 on (rro), unless ReadOnlyNonRecursive', async (t) => {
  const sub = path.join(host, 'sub');
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', 'apiv-sub', sub]);
  t.after(() => { execFileSync('umount', [sub]); });
  const touch = { Cmd: ['touch', '/s/sub/f'] };
  const ro = (v: string, extra: Json = {}) => create(v, { ...touch, HostConfig: { Binds: [`${host}:/s:ro`], ...extra } });
  assert.notEqual((await runToEnd('1.52', await ro('1.52'))).code, 0, 'a 1.52 ro bind\'s submount is read-only');
  assert.equal((await runToEnd('1.43', await ro('1.43'))).code, 0, 'a 1.43 ro bind\'s submount stays writable');
  const nonRec = await create('1.44', { ...touch, HostConfig: { Mounts: [{ Type: 'bind', Source: host, Target: '/s', ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true } }] } });
  assert.equal((await runToEnd('1.44', nonRec)).code, 0);
});

test('create and inspect: ConsoleSize is the TTY\'s size from 1.42 on, [0, 0] before', async () => {
  const body = { Cmd: ['stty', 'size'], Tty: true, HostConfig: { ConsoleSize: [33, 77] } };
  const now = await create('1.52', body);
  assert.deepEqual((await json('GET', `/v1.52/containers/${now}/json`)).HostConfig.ConsoleSize, [33, 77]);
  assert.match((await runToEnd('1.52', now)).out, /^33 77\r?\n$/);
  const old = await create('1.41', body);
  assert.deepEqual((await json('GET', `/v1.41/containers/${old}/json`)).HostConfig.ConsoleSize, [0, 0]);
});

test('exec: ConsoleSize sizes an exec\'s TTY from 1.42 on', async () => {
  const box = await create('1.52', { Cmd: ['sleep', '300'] }, 'execbox');
  await json('POST', `/v1.52/containers/${box}/start`);
  const size = async (v: string) => {
    const e = await json('POST', `/v${v}/containers/${box}/exec`, { Cmd: ['stty', 'size'], Tty: true, AttachStdout: true, ConsoleSize: [30, 70] });
    const r = await req('POST', `/v${v}/exec/${e.Id as string}/start`, { Tty: true, ConsoleSize: [30, 70] });
    return r.body.trim();
  };
  assert.equal(await size('1.52'), '30 70');
  // a TTY of no size: busybox's stty has nothing to print ("stty: standard input")
  assert.notEqual(await size('1.41'), '30 70');
  await json('DELETE', `/v1.52/containers/${box}?force=1`);
});

test('stop and restart: ?signal= from 1.42 on; 1.41 stops with the container\'s own', async () => {
  const trap = { Cmd: ['sh', '-c', 'trap "exit 7" USR1; while :; do sleep 0.1; done'] };
  const a = await create('1.52', trap);
  await json('POST', `/v1.52/containers/${a}/start`);
  assert.equal((await req('POST', `/v1.52/containers/${a}/stop?signal=SIGUSR1&t=20`)).status, 204);
  assert.equal((await json('GET', `/v1.52/containers/${a}/json`)).State.ExitCode, 7);
  const b = await create('1.41', trap);
  await json('POST', `/v1.41/containers/${b}/start`);
  assert.equal((await req('POST', `/v1.41/containers/${b}/stop?signal=SIGUSR1&t=1`)).status, 204);
  assert.equal((await json('GET', `/v1.41/containers/${b}/json`)).State.ExitCode, 137, 'SIGTERM is ignored by a pid 1 shell: killed');
  assert.equal((await req('POST', `/v1.52/containers/${a}/restart?signal=SIGNOPE`)).status, 400);
});

test('inspect and list: fields by version (KernelMemory*, OnBuild, Annotations, Health, StartInterval)', async () => {
  const body = { Cmd: ['sleep', '300'], Healthcheck: { Test: ['CMD', 'true'], StartInterval: 1e9, StartPeriod: 60e9 }, HostConfig: { Annotations: { 'org.example/x': 'y' } } };
  const id = await create('1.52', body, 'versioned');
  const old = await create('1.43', body);
  await json('POST', `/v1.52/containers/${id}/start`);
  const i41 = await json('GET', `/v1.41/containers/${id}/json`);
  const i52 = await json('GET', `/v1.52/containers/${id}/json`);
  assert.equal(i41.HostConfig.KernelMemoryTCP, 0);
  assert.equal('KernelMemoryTCP' in i52.HostConfig, false);
  assert.equal('KernelMemory' in i52.HostConfig, false);
  assert.equal(i41.Config.OnBuild, null);
  assert.equal('OnBuild' in i52.Config, false);
  assert.equal(i52.Config.Healthcheck.StartInterval, 1e9);
  assert.equal('StartInterval' in (await json('GET', `/v1.52/containers/${old}/json`)).Config.Healthcheck, false, 'a 1.43 create drops StartInterval');
  // the start interval (1s) probes while starting in the start period (60s)
  await waitFor(async () => (await json('GET', `/v1.52/containers/${id}/json`)).State.Health?.Status === 'healthy', 10_000, 'healthy at the start interval');
  const row = async (v: string) => ((await json('GET', `/v${v}/containers/json?filters=${encodeURIComponent('{"name":["versioned"]}')}`)) as unknown as Json[])[0]!;
  assert.deepEqual((await row('1.52')).Health, { Status: 'healthy', FailingStreak: 0 });
  assert.equal('Health' in await row('1.51'), false);
  assert.deepEqual((await row('1.46')).HostConfig.Annotations, { 'org.example/x': 'y' });
  assert.equal('Annotations' in (await row('1.45')).HostConfig, false);
  await json('DELETE', `/v1.52/containers/${id}?force=1`);
});

test('logs: the framed stream is named multiplexed from 1.42 on, raw-stream before; wait\'s null Error left out from 1.42', async () => {
  const id = await create('1.52', { Cmd: ['echo', 'hi'] });
  await runToEnd('1.52', id);
  assert.deepEqual(await json('POST', `/v1.41/containers/${id}/wait`), { StatusCode: 0, Error: null });
  assert.deepEqual(await json('POST', `/v1.42/containers/${id}/wait`), { StatusCode: 0 });
  assert.equal((await req('GET', `/v1.52/containers/${id}/logs?stdout=1`)).headers['content-type'], 'application/vnd.docker.multiplexed-stream');
  assert.equal((await req('GET', `/v1.41/containers/${id}/logs?stdout=1`)).headers['content-type'], 'application/vnd.docker.raw-stream');
});

test('info: fields by version', async () => {
  const i41 = await json('GET', '/v1.41/info');
  const i52 = await json('GET', '/v1.52/info');
  assert.equal('CDISpecDirs' in i41, false);
  assert.deepEqual(i52.CDISpecDirs, []);
  assert.equal('FirewallBackend' in i41, false);
  assert.deepEqual(i52.FirewallBackend, { Driver: 'iptables' });
  assert.equal(typeof i41.BridgeNfIptables, 'boolean');
  assert.equal('BridgeNfIptables' in i52, false);
  assert.equal('KernelMemoryTCP' in i52, false);
  assert.ok('Expected' in i41.RuncCommit);
  assert.equal('Expected' in i52.RuncCommit, false);
  assert.equal('Expected' in (await json('GET', '/v1.48/info')).RuncCommit, true);
  // 1.44: an OCI runtime's status holds its features document (runc features)
  assert.equal('status' in i41.Runtimes.runc, false);
  const features = JSON.parse(i52.Runtimes.runc.status['org.opencontainers.runtime-spec.features'] as string) as Json;
  assert.ok((features.mountOptions as string[]).includes('rbind'));
});

test('events: status, id and from kept at 1.52 too (docker-py and docker-compose 1.29 ask the server\'s version and read them), and 1.52 negotiates the stream\'s type', async () => {
  const id = await create('1.52', { Cmd: ['true'] });
  const now = Math.ceil(Date.now() / 1000) + 1;
  const since = now - 60;
  const first = async (v: string, accept?: string) => {
    const r = await req('GET', `/v${v}/events?since=${since}&until=${now}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`, undefined, accept ? { Accept: accept } : {});
    return { type: r.headers['content-type'], line: r.body.split('\n')[0]! };
  };
  const old = await first('1.41');
  assert.equal(old.type, 'application/json');
  assert.deepEqual(Object.keys(JSON.parse(old.line) as Json).slice(0, 3), ['status', 'id', 'from']);
  const cur = await first('1.52');
  assert.equal(cur.type, 'application/json');
  assert.deepEqual(Object.keys(JSON.parse(cur.line) as Json), ['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
  assert.equal((await first('1.52', 'application/x-ndjson')).type, 'application/x-ndjson');
  const seq = await first('1.52', 'application/json-seq');
  assert.equal(seq.type, 'application/json-seq');
  assert.equal(seq.line[0], '\x1e');
});

test('system df: ?type= from 1.42, VirtualSize gone from 1.44, 1.52\'s usage summaries and ?verbose=', async () => {
  const d41 = await json('GET', '/v1.41/system/df?type=volume');
  assert.deepEqual(Object.keys(d41), ['LayersSize', 'Images', 'Containers', 'Volumes', 'BuildCache']);
  assert.ok('VirtualSize' in d41.Images[0]);
  assert.deepEqual(Object.keys(await json('GET', '/v1.42/system/df?type=volume')), ['Volumes']);
  assert.equal('VirtualSize' in (await json('GET', '/v1.44/system/df')).Images[0], false);
  const d52 = await json('GET', '/v1.52/system/df');
  for (const k of ['LayersSize', 'Images', 'Containers', 'Volumes', 'BuildCache', 'ImagesUsage', 'ContainersUsage', 'VolumesUsage', 'BuildCacheUsage']) assert.ok(k in d52, k);
  assert.equal(d52.ImagesUsage.TotalImages, 1);
  assert.equal('Items' in d52.ImagesUsage, false);
  const verbose = await json('GET', '/v1.52/system/df?verbose=1&type=image');
  assert.deepEqual(Object.keys(verbose), ['ImagesUsage']);
  assert.equal(verbose.ImagesUsage.Items.length, 1);
  assert.deepEqual(Object.keys(await json('GET', '/v1.52/system/df?verbose=0&type=container')), ['ContainersUsage']);
  const bad = await req('GET', '/v1.52/system/df?type=nope');
  assert.equal(bad.status, 400);
  assert.equal((JSON.parse(bad.body) as Json).message, 'unknown object type: nope');
});

test('stats: os_type from 1.52 on', async () => {
  const id = await create('1.52', { Cmd: ['true'] });
  assert.equal((await json('GET', `/v1.52/containers/${id}/stats?stream=0`)).os_type, 'linux');
  assert.equal('os_type' in await json('GET', `/v1.51/containers/${id}/stats?stream=0`), false);
});

test('create below 1.40: an IPC namespace left unset is shareable (dockerd\'s postContainersCreate), from 1.40 private', async () => {
  const old = await create('1.39', { HostConfig: {} });
  const now = await create('1.40', { HostConfig: {} });
  assert.equal((await json('GET', `/v1.39/containers/${old}/json`)).HostConfig.IpcMode, 'shareable');
  assert.equal((await json('GET', `/v1.40/containers/${now}/json`)).HostConfig.IpcMode, 'private');
  await json('DELETE', `/containers/${old}`);
  await json('DELETE', `/containers/${now}`);
});
