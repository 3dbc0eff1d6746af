// Pure logic of the engine: daemon.json validation, create-request merging, signals,
// k8s-file log parsing, status strings, event filters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDaemonConfig } from '../../src/engine/config.js';
import { mergeEnv, resolveContainer } from '../../src/engine/containers/create.js';
import { parseBind } from '../../src/engine/containers/binds.js';
import { createBodySchema as lazyCreateBody, createSpecFromDocker, inspectView } from '../../src/engine/api/docker-model.js';
import { runOptionsFromDocker } from '../../src/engine/api/docker-runopts.js';
import { RESOURCE_DEFAULTS } from '../../src/engine/containers/resources.js';
import { parseKillSignal, parseSignal, signalNumber, stopSignalOf } from '../../src/engine/containers/signals.js';
import { parseLine } from '../../src/engine/containers/logs.js';
import { humanStatus } from '../../src/engine/api/format.js';
import { EventBus, type EngineEvent } from '../../src/engine/events.js';
import type { ImageRecord } from '../../src/image/types.js';

const createBody = await lazyCreateBody();

async function withConfig(obj: unknown | string, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-cfg-'));
  const file = path.join(dir, 'daemon.json');
  await fs.writeFile(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  try { await fn(file); } finally { await fs.rm(dir, { recursive: true, force: true }); }
}

test('daemon.json: defaults, keys, and errors naming the key', async () => {
  await withConfig({}, async (f) => {
    const c = await loadDaemonConfig({ configFile: f });
    assert.equal(c.host, '/run/tsula/tsulad.sock');
    assert.equal(c.graph, '/var/lib/tsula');
    assert.equal(c.storageDriver, 'overlay');
    assert.equal(c.defaultRuntime, 'runc');
  });
  await withConfig({ hosts: ['unix:///x/y.sock'], graph: '/g', 'storage-driver': 'vfs', runtimes: { r2: { path: '/bin/true', 'runtime-args': ['--a'] } }, 'default-runtime': 'r2' }, async (f) => {
    const c = await loadDaemonConfig({ configFile: f, graph: '/flag-wins' });
    assert.equal(c.host, '/x/y.sock');
    assert.equal(c.graph, '/flag-wins');
    assert.equal(c.storageDriver, 'vfs');
    assert.deepEqual(c.runtimes.r2, { path: '/bin/true', runtimeArgs: ['--a'] });
  });
  const cases: Array<[unknown, RegExp]> = [
    [{ bogus: 1 }, /unknown key "bogus"/],
    [{ graph: 'relative' }, /key "graph": must be an absolute path/],
    [{ 'storage-driver': 'zfs' }, /key "storage-driver"/],
    [{ runtimes: { x: { path: 1 } } }, /key "runtimes\.x\.path"/],
    [{ 'default-runtime': 'nope' }, /default-runtime "nope" is not a configured runtime/],
    ['{"graph": ', /invalid JSON/],
  ];
  for (const [cfg, re] of cases) {
    await withConfig(cfg, async (f) => { await assert.rejects(loadDaemonConfig({ configFile: f }), re); });
  }
  await assert.rejects(loadDaemonConfig({ configFile: '/nonexistent/daemon.json' }), /cannot read config file/);
  await assert.rejects(loadDaemonConfig({ configFile: '/dev/null', storageDriver: 'btrfs' }), /--storage-driver/);
});

test('daemon.json: the storage driver whose layers the graph holds when none is asked (dockerd\'s prior driver), several refused; storage-opts and several hosts refused by name', async () => {
  const graph = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-graph-'));
  try {
    await withConfig({ graph }, async (f) => { assert.equal((await loadDaemonConfig({ configFile: f })).storageDriver, 'overlay'); });
    await fs.mkdir(path.join(graph, 'vfs', 'layers', 'sha256-x'), { recursive: true });
    await fs.mkdir(path.join(graph, 'overlay', 'layers'), { recursive: true }); // probed once, no layers
    await withConfig({ graph }, async (f) => {
      const c = await loadDaemonConfig({ configFile: f });
      assert.equal(c.storageDriver, 'vfs');
      assert.ok(c.notes.includes('using prior storage driver: vfs'), c.notes.join('; '));
      assert.equal((await loadDaemonConfig({ configFile: f, storageDriver: 'overlay2' })).storageDriver, 'overlay', 'asked for: that one');
    });
    await fs.mkdir(path.join(graph, 'overlay', 'layers', 'sha256-y'));
    await withConfig({ graph }, async (f) => {
      await assert.rejects(loadDaemonConfig({ configFile: f }), /contains several valid graphdrivers: overlay, vfs; cleanup or explicitly choose storage driver/);
    });
  } finally {
    await fs.rm(graph, { recursive: true, force: true });
  }
  await withConfig({ 'storage-opts': ['overlay2.bogus=1'] }, async (f) => { await assert.rejects(loadDaemonConfig({ configFile: f }), /storage-opts: unknown option overlay2\.bogus/); });
  await withConfig({ 'storage-opts': ['overlay2.size=10G'] }, async (f) => { await assert.rejects(loadDaemonConfig({ configFile: f }), /storage option overlay2\.size not supported/); });
  await withConfig({ 'insecure-registries': ['10.0.0.0/8', 'http://r.example.com:5000', 'localhost:5000', '[fd00::1]:5000', 'fd00::1', '192.168.1.2'] }, async (f) => {
    assert.equal((await loadDaemonConfig({ configFile: f })).insecureRegistries.length, 6);
  });
  for (const [bad, re] of [['not a host!', /insecure registry not a host! is not valid: invalid host "not a host!"/], ['ftp://r:1', /should not contain ':\/\/'/], ['r.example.com:99999', /invalid port "99999"/]] as const) {
    await withConfig({ 'insecure-registries': [bad] }, async (f) => { await assert.rejects(loadDaemonConfig({ configFile: f }), re); });
  }
  await withConfig({ group: 'no-such-group-here' }, async (f) => { await assert.rejects(loadDaemonConfig({ configFile: f }), /key "group": group no-such-group-here not found/); });
  await withConfig({ hosts: ['unix:///a.sock', 'unix:///b.sock'] }, async (f) => {
    await assert.rejects(loadDaemonConfig({ configFile: f }), /key "hosts" lists 2 sockets: tsulad serves one API socket/);
    assert.equal((await loadDaemonConfig({ configFile: f, host: 'unix:///c.sock' })).host, '/c.sock', 'the flag wins');
  });
});

test('daemon flags: good values pass without the schema, a bad one gets its message from it', async () => {
  const flags = (f: Record<string, string>) => loadDaemonConfig({ configFile: '/dev/null', ...f });
  const c = await flags({ host: 'unix:///h.sock', graph: '/g', state: '/s', storageDriver: 'overlay2', logLevel: 'warn', criSocket: '' });
  assert.deepEqual([c.host, c.graph, c.state, c.storageDriver, c.logLevel, c.criSocket], ['/h.sock', '/g', '/s', 'overlay', 'warn', '']);
  assert.equal((await flags({ criSocket: '/c.sock' })).criSocket, '/c.sock');
  assert.equal((await flags({ criSocket: 'unix:///c.sock' })).criSocket, '/c.sock');
  const cases: Array<[Record<string, string>, string]> = [
    [{ graph: 'rel' }, 'flags: --graph: must be an absolute path'],
    [{ state: '' }, 'flags: --state: must be an absolute path'],
    [{ host: 'unix:///' }, 'flags: --hosts.0: must be unix:///absolute/path'],
    [{ logLevel: 'loud' }, 'flags: --log-level: want one of debug, info, warn, error (or iSulad\'s FATAL, ALERT, CRIT, ERROR, WARN, NOTICE, INFO, DEBUG, TRACE)'],
    [{ storageDriver: 'zfs' }, 'flags: --storage-driver: Invalid option: expected one of "overlay"|"overlay2"|"vfs"'],
    [{ criSocket: 'unix://' }, 'flags: --cri-socket: must be unix:///absolute/path or an absolute path'],
  ];
  for (const [f, msg] of cases) await assert.rejects(flags(f), (e: Error) => e.message === msg, JSON.stringify(f));
});

test('create: env merge, binds, network modes', () => {
  assert.deepEqual(mergeEnv(['PATH=/bin', 'A=1'], ['A=2', 'B=3']), ['PATH=/bin', 'A=2', 'B=3']);
  assert.deepEqual(parseBind('/h:/c:ro'), { source: '/h', destination: '/c', readonly: true, propagation: 'rprivate', spec: '/h:/c:ro' });
  assert.equal(parseBind('/h/../h2:/c').source, '/h2');
  assert.throws(() => parseBind('vol:/c'), /host path must be absolute/);
  assert.throws(() => parseBind('/h:rel'), /container path must be absolute/);
  assert.throws(() => parseBind('/h:/c:xx'), /invalid mode/);
  const mode = (m?: string) => runOptionsFromDocker({}, { NetworkMode: m }, []).network;
  assert.equal(mode(undefined), 'cni');
  assert.equal(mode('default'), 'cni');
  assert.equal(mode('host'), 'host');
  assert.equal(mode('none'), 'none');
  assert.equal(mode('container:x'), 'container');
  assert.throws(() => mode('container:'), /invalid container format/);
  const devices = (d: unknown[]) => runOptionsFromDocker({}, { NetworkMode: 'none', Devices: d }, []).devices;
  assert.deepEqual(devices([{ PathOnHost: '/dev/null', PathInContainer: null, CgroupPermissions: 'rw', Other: 1 }]),
    [{ hostPath: '/dev/null', containerPath: '/dev/null', permissions: 'rw' }]);
  for (const d of [null, [], 'x', {}, { PathOnHost: 1 }, { PathOnHost: '/dev/null', PathInContainer: 2 }, { PathOnHost: '/dev/null', CgroupPermissions: false }]) {
    assert.throws(() => devices([d]), (e: Error) => e.message === `invalid device mapping ${JSON.stringify(d)}: want PathOnHost, PathInContainer, CgroupPermissions`, JSON.stringify(d));
  }
});

const image: ImageRecord = {
  id: 'sha256:' + 'a'.repeat(64), repoTags: ['busybox:latest'], repoDigests: [], created: '2024-01-01T00:00:00Z',
  size: 1, architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diffIds: [] }, chainIds: [],
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, WorkingDir: '', User: '' },
};

/** A docker create body through the API's translation and the engine's resolution, as inspect shows it. */
function record(body: unknown) {
  const spec = createSpecFromDocker(createBody.parse(body), { ...RESOURCE_DEFAULTS });
  return inspectView(resolveContainer({ id: 'b'.repeat(64), name: 'n', spec, image, runtime: 'runc', driver: 'overlay', containerDir: '/d' }));
}

test('create: command resolution follows docker (entrypoint drops the image cmd)', () => {
  let r = record({ Image: 'busybox' });
  assert.equal(r.Path, 'sh');
  r = record({ Image: 'busybox', Cmd: ['echo', 'hi'] });
  assert.deepEqual([r.Path, ...r.Args], ['echo', 'hi']);
  r = record({ Image: 'busybox', Entrypoint: ['/bin/ls'] });
  assert.deepEqual([r.Path, ...r.Args], ['/bin/ls']);
  r = record({ Image: 'busybox', Entrypoint: ['/bin/ls'], Cmd: ['-l'] });
  assert.deepEqual([r.Path, ...r.Args], ['/bin/ls', '-l']);
  assert.throws(() => record({ Image: 'busybox', Entrypoint: [''] }), /no command specified/);
  assert.equal(r.Config.Hostname, 'b'.repeat(12));
  assert.equal(r.Name, '/n');
  assert.throws(() => record({ Image: 'busybox', WorkingDir: 'rel' }), /the working directory 'rel' is invalid, it needs to be an absolute path$/);
  // kept cleaned, as dockerd's SetupWorkingDirectory does
  assert.equal(record({ Image: 'busybox', WorkingDir: '/bin/sh/..' }).Config.WorkingDir, '/bin');
  assert.equal(record({ Image: 'busybox', WorkingDir: '//a/./b/' }).Config.WorkingDir, '/a/b');
  assert.equal(createBody.safeParse({ Image: 'busybox', Tty: 'yes' }).success, false);
});

test('create: the healthcheck merges the image\'s field by field (dockerd); CRI containers ignore the image\'s', () => {
  const hcImage: ImageRecord = { ...image, config: { ...image.config, Healthcheck: { Test: ['CMD-SHELL', 'probe'], Interval: 5e9, Retries: 4 } } };
  const resolve = (body: unknown, cri = false) => {
    const spec = createSpecFromDocker(createBody.parse(body), { ...RESOURCE_DEFAULTS });
    if (cri) spec.cri = {} as NonNullable<typeof spec.cri>;
    return resolveContainer({ id: 'c'.repeat(64), name: 'h', spec, image: hcImage, runtime: 'runc', driver: 'overlay', containerDir: '/d' });
  };
  assert.deepEqual(resolve({ Image: 'busybox' }).config.healthcheck, { test: ['CMD-SHELL', 'probe'], interval: 5e9, timeout: 0, startPeriod: 0, retries: 4 });
  assert.deepEqual(resolve({ Image: 'busybox', Healthcheck: { Interval: 2e9 } }).config.healthcheck,
    { test: ['CMD-SHELL', 'probe'], interval: 2e9, timeout: 0, startPeriod: 0, retries: 4 });
  assert.deepEqual(resolve({ Image: 'busybox', Healthcheck: { Test: ['NONE'] } }).config.healthcheck?.test, ['NONE']);
  assert.equal(resolve({ Image: 'busybox' }, true).config.healthcheck, undefined);
  assert.throws(() => resolve({ Image: 'busybox', Healthcheck: { Test: ['CMD', 'x'], Timeout: 10 } }), /Timeout in Healthcheck cannot be less than 1ms/);
});

test('signals: names, numbers, errors', () => {
  assert.equal(parseSignal('kill'), 'SIGKILL');
  assert.equal(parseSignal('SIGTERM'), 'SIGTERM');
  assert.equal(parseSignal('9'), 'SIGKILL');
  assert.equal(signalNumber('SIGTERM'), 15);
  // the real-time ones, as moby/sys's map names them (node's constants lack them); runtimes get their number
  assert.deepEqual(['SIGRTMIN+3', 'rtmin', 'RTMAX-1', 'SIGRTMAX', '37', '64'].map(parseSignal), ['37', '34', '63', '64', '37', '64']);
  assert.equal(signalNumber(parseSignal('SIGRTMIN+3')), 37);
  for (const bad of ['NOPE', '0', 'RTMIN+16', 'RTMAX-15', 'RTMIN-1', 'RTMAX+1']) assert.throws(() => parseSignal(bad), new RegExp(`^InvalidArgument: invalid signal: ${bad.replace('+', '\\+')}$`));
  // numbers moby/sys parses that Linux's SignalMap lacks: daemon/kill.go's ValidSignalForPlatform
  for (const n of ['32', '33', '65']) assert.throws(() => parseKillSignal(n), new RegExp(`^InvalidArgument: the linux daemon does not support signal ${n}$`));
  assert.equal(parseSignal('32'), '32', 'a stop signal of 32 is taken (only kill checks the platform)');
  assert.throws(() => parseSignal('65'), /^InvalidArgument: invalid signal: 65$/);
  // a stop signal that does not parse (an image's) stops with SIGTERM, as dockerd's Container.StopSignal
  assert.deepEqual([stopSignalOf('FOO'), stopSignalOf(undefined), stopSignalOf('SIGUSR1')], ['SIGTERM', 'SIGTERM', 'SIGUSR1']);
});

test('k8s-file log lines: full and partial records', () => {
  const a = parseLine('2026-01-01T00:00:00.000000001Z stdout F hello world');
  assert.deepEqual([a?.time, a?.stream, a?.data.toString()], ['2026-01-01T00:00:00.000000001Z', 1, 'hello world\n']);
  const b = parseLine('2026-01-01T00:00:00Z stderr P part');
  assert.deepEqual([b?.stream, b?.data.toString()], [2, 'part']);
  assert.equal(parseLine('garbage'), null);
});

test('status strings as docker prints them', () => {
  const s = { Status: 'created' as const, StartedAt: '', FinishedAt: '', ExitCode: 0 };
  assert.equal(humanStatus(s), 'Created');
  const now = Date.parse('2026-01-01T00:10:00Z');
  assert.equal(humanStatus({ ...s, Status: 'running', StartedAt: '2026-01-01T00:09:57Z' }, now), 'Up 3 seconds');
  assert.equal(humanStatus({ ...s, Status: 'exited', ExitCode: 2, FinishedAt: '2026-01-01T00:08:00Z' }, now), 'Exited (2) 2 minutes ago');
});

test('event filters and replay', () => {
  const bus = new EventBus();
  bus.emit('container', 'start', 'c1', { name: 'web', image: 'busybox' });
  bus.emit('image', 'tag', 'sha256:x', { name: 'busybox:v1' });
  const seen: EngineEvent[] = [];
  const stop = bus.subscribe({ since: 0n, filters: { type: ['container'], container: ['web'] } }, (e) => seen.push(e));
  bus.emit('container', 'die', 'c1', { name: 'web', image: 'busybox', exitCode: '0' });
  bus.emit('container', 'die', 'c2', { name: 'db', image: 'busybox' });
  stop();
  bus.emit('container', 'destroy', 'c1', { name: 'web' });
  assert.deepEqual(seen.map((e) => e.Action), ['start', 'die']);
  assert.equal(seen[0].status, 'start');
  assert.equal(seen[0].from, 'busybox');
});

test('events: no replay without a time window; since/until bound it; timeNano exact and increasing', () => {
  const bus = new EventBus();
  for (let i = 0; i < 5; i++) bus.emit('container', `a${i}`, 'c1');
  const json: string[] = [];
  const live: string[] = [];
  const stop = bus.subscribe({}, (e, j) => { live.push(e.Action); json.push(j); });
  assert.deepEqual(live, [], 'a plain subscriber gets only new events');
  bus.emit('container', 'a5', 'c1');
  stop();
  assert.deepEqual(live, ['a5']);
  const ns = (j: string) => BigInt(/"timeNano":(\d+)/.exec(j)![1]!);
  const all: bigint[] = [];
  bus.subscribe({ since: 0n }, (_e, j) => all.push(ns(j)), false);
  assert.equal(all.length, 6);
  for (let i = 1; i < all.length; i++) assert.ok(all[i]! > all[i - 1]!, 'increasing');
  assert.equal(JSON.parse(json[0]!).Action, 'a5');
  const window: string[] = [];
  bus.subscribe({ since: all[1], until: all[3] }, (e) => window.push(e.Action), false);
  assert.deepEqual(window, ['a1', 'a2', 'a3'], 'inclusive at both ends');
  const untilOnly: string[] = [];
  bus.subscribe({ until: all[1] }, (e) => untilOnly.push(e.Action), false);
  assert.deepEqual(untilOnly, ['a0', 'a1']);
});

test('create: a variable without a name and an empty annotation key are dockerd\'s 400s (validateContainerConfig, validateHostConfig)', () => {
  const spec = (b: Record<string, unknown>) => createSpecFromDocker(createBody.parse({ Image: 'busybox', ...b }), { ...RESOURCE_DEFAULTS });
  for (const e of ['', '=', '=foo']) assert.throws(() => spec({ Env: [e] }), new RegExp(`invalid environment variable: ${e}$`));
  assert.doesNotThrow(() => spec({ Env: ['A=', 'B', 'C=d=e'] }));
  assert.throws(() => spec({ HostConfig: { Annotations: { '': 'x' } } }), /invalid Annotations: the empty string is not permitted as an annotation key/);
});

test('create: an unknown cgroup namespace mode is dockerd\'s 400', () => {
  assert.throws(() => runOptionsFromDocker({}, { NetworkMode: 'none', CgroupnsMode: 'invalid' }, []), /invalid cgroup namespace mode: invalid/);
});
