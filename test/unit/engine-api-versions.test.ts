// The Engine API version gates of the container and system endpoints as pure functions:
// what a create body keeps or is refused per version, the inspect/list/info views per
// version, /system/df's kinds and shape, events' content negotiation, the health monitor's
// start interval and a subpath's check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gateCreateBody, dropRemovedResources } from '../../src/engine/api/compat-create.js';
import { inspectForVersion, summaryForVersion } from '../../src/engine/api/compat-views.js';
import { infoForVersion } from '../../src/engine/api/compat-system.js';
import { dfBody, dfImageRow, dfKinds, dfShape } from '../../src/engine/api/system-df.js';
import { eventsContentType } from '../../src/engine/api/system.js';
import { isLocalPath, parseMounts } from '../../src/engine/api/docker-mounts.js';
import { probeIntervalMs } from '../../src/engine/containers/health.js';
import { kernelHasRecursiveReadonly } from '../../src/oci/host.js';
import type { CreateBody } from '../../src/engine/api/docker-model.js';
import type { Container } from '../../src/engine/containers/model.js';

const body = (b: Record<string, unknown>) => ({ Image: 'busybox', ...b }) as unknown as CreateBody;

test('create gate: 1.41 drops CreateMountpoint and ConsoleSize; 1.42 refuses another type\'s options', () => {
  const b = body({ HostConfig: { ConsoleSize: [3, 4], Mounts: [{ Type: 'bind', Source: '/a', Target: '/b', BindOptions: { CreateMountpoint: true } }] } });
  gateCreateBody(b, '1.41');
  assert.equal(b.HostConfig!.ConsoleSize, undefined);
  assert.equal(b.HostConfig!.Mounts![0]!.BindOptions!.CreateMountpoint, undefined);
  const c = body({ HostConfig: { ConsoleSize: [3, 4], Mounts: [{ Type: 'bind', Source: '/a', Target: '/b', BindOptions: { CreateMountpoint: true } }] } });
  gateCreateBody(c, '1.42');
  assert.deepEqual(c.HostConfig!.ConsoleSize, [3, 4]);
  assert.equal(c.HostConfig!.Mounts![0]!.BindOptions!.CreateMountpoint, true);
  assert.throws(() => gateCreateBody(body({ HostConfig: { Mounts: [{ Type: 'volume', Target: '/b', TmpfsOptions: {} }] } }), '1.42'),
    /: TmpfsOptions must not be specified on mount type "volume"$/);
});

test('create gate: StartInterval before 1.44, Subpath before 1.45, image before 1.48; the VolumeDriver warning from 1.48', () => {
  const h = body({ Healthcheck: { Test: ['CMD', 'true'], StartInterval: 1e9 } });
  gateCreateBody(h, '1.43');
  assert.equal(h.Healthcheck!.StartInterval, undefined);
  const h44 = body({ Healthcheck: { StartInterval: 1e9 } });
  gateCreateBody(h44, '1.44');
  assert.equal(h44.Healthcheck!.StartInterval, 1e9);
  assert.throws(() => gateCreateBody(body({ HostConfig: { Mounts: [{ Type: 'volume', Source: 'v', Target: '/b', VolumeOptions: { Subpath: 'x' } }] } }), '1.44'), /Subpath needs API v1.45/);
  assert.throws(() => gateCreateBody(body({ HostConfig: { Mounts: [{ Type: 'image', Source: 'i', Target: '/b' }] } }), '1.47'), /needs API v1.48/);
  const vd = () => body({ HostConfig: { VolumeDriver: 'local', Mounts: [{ Type: 'volume', Source: 'v', Target: '/b' }] } });
  assert.deepEqual(gateCreateBody(vd(), '1.47'), []);
  assert.match(gateCreateBody(vd(), '1.48')[0]!, /container-wide volume-driver configuration is ignored/);
});

test('KernelMemory is dropped from 1.42, KernelMemoryTCP from 1.52', () => {
  const r = (v: string) => { const o: Record<string, unknown> = { KernelMemory: 1, KernelMemoryTCP: 2 }; dropRemovedResources(o, v); return o; };
  assert.deepEqual(r('1.41'), { KernelMemory: 1, KernelMemoryTCP: 2 });
  assert.deepEqual(r('1.42'), { KernelMemoryTCP: 2 });
  assert.deepEqual(r('1.52'), {});
});

test('read-only binds: recursive from 1.44 (Binds and Mounts), never before; ReadOnlyNonRecursive opts out', () => {
  const m = (rro: boolean) => parseMounts({
    binds: ['/h:/a:ro', '/h:/w'], volumes: [], tmpfs: {},
    mounts: [{ Type: 'bind', Source: '/h', Target: '/b', ReadOnly: true, BindOptions: { ReadOnlyNonRecursive: true } }],
  }, { recursiveReadonly: rro }).binds.map((b) => b.recursiveReadonly);
  assert.deepEqual(m(true), ['enabled', undefined, 'disabled']);
  assert.deepEqual(m(false), [undefined, undefined, undefined]);
  const nonRec = parseMounts({ binds: [], volumes: [], tmpfs: {}, mounts: [{ Type: 'bind', Source: '/h', Target: '/b', ReadOnly: true, BindOptions: { NonRecursive: true } }] }, { recursiveReadonly: true });
  assert.deepEqual([nonRec.binds[0]!.nonRecursive, nonRec.binds[0]!.recursiveReadonly], [true, undefined]);
  assert.throws(() => parseMounts({ binds: [], volumes: [], tmpfs: {}, mounts: [{ Type: 'bind', Source: '/h', Target: '/b', BindOptions: { ReadOnlyForceRecursive: true } }] }),
    /ReadOnlyForceRecursive requires ReadOnly/);
});

test('type=image mounts: the image, its target and subpath; a subpath outside is refused', () => {
  const m = (o: Record<string, unknown>) => parseMounts({ binds: [], volumes: [], tmpfs: {}, mounts: [{ Type: 'image', Source: 'busybox', Target: '/i/', ...o }] });
  assert.deepEqual(m({}).images, [{ image: 'busybox', destination: '/i' }]);
  assert.deepEqual(m({ ImageOptions: { Subpath: 'etc' } }).images, [{ image: 'busybox', destination: '/i', subpath: 'etc' }]);
  assert.throws(() => m({ ImageOptions: { Subpath: '/etc' } }), /subpath must be a relative path/);
  assert.throws(() => m({ BindOptions: {} }), /field BindOptions must not be specified/);
});

test('rro needs Linux 5.12', () => {
  for (const [r, ok] of [['5.11.0', false], ['5.12.1-x', true], ['6.1.0-18-cloud-amd64', true], ['4.19.0', false], ['junk', false]] as const) {
    assert.equal(kernelHasRecursiveReadonly(r), ok, r);
  }
});

test('a subpath is local: relative and inside', () => {
  for (const ok of ['a', 'a/b', './a', 'a/../b']) assert.ok(isLocalPath(ok), ok);
  for (const bad of ['', '/a', '..', '../a', 'a/../../b']) assert.ok(!isLocalPath(bad), bad);
});

test('inspect view per version', () => {
  const view = () => ({ HostConfig: { KernelMemory: 0, KernelMemoryTCP: 0, Annotations: null }, Config: { OnBuild: null } });
  // Annotations are omitempty at every version (no dockerd shows them null)
  assert.deepEqual(inspectForVersion(view(), '1.41'), { HostConfig: { KernelMemory: 0, KernelMemoryTCP: 0 }, Config: { OnBuild: null } });
  assert.deepEqual(inspectForVersion(view(), '1.42'), { HostConfig: {}, Config: { OnBuild: null } });
  assert.deepEqual(inspectForVersion(view(), '1.52'), { HostConfig: {}, Config: {} });
  assert.deepEqual(inspectForVersion({ HostConfig: { KernelMemoryTCP: 5 } }, '1.51'), { HostConfig: { KernelMemoryTCP: 5 } });
});

test('list entry per version: Annotations from 1.46, Health from 1.52', () => {
  const c = { config: { annotations: { a: 'b' } }, state: { status: 'running', health: { status: 'healthy', failingStreak: 0, log: [] } } } as unknown as Container;
  const row = (v: string) => summaryForVersion({ HostConfig: { NetworkMode: 'bridge' } } as Record<string, unknown>, c, v);
  assert.deepEqual(row('1.45'), { HostConfig: { NetworkMode: 'bridge' } });
  assert.deepEqual(row('1.46'), { HostConfig: { NetworkMode: 'bridge', Annotations: { a: 'b' } } });
  assert.deepEqual(row('1.52').Health, { Status: 'healthy', FailingStreak: 0 });
  const none = { config: { annotations: {} }, state: { status: 'exited' } } as unknown as Container;
  assert.deepEqual(summaryForVersion({} as Record<string, unknown>, none, '1.52'), { Health: { Status: 'none', FailingStreak: 0 } });
});

test('info per version', () => {
  const info = () => ({
    KernelMemory: true, KernelMemoryTCP: true, BridgeNfIptables: true, BridgeNfIp6tables: false,
    RuncCommit: { ID: 'x', Expected: 'x' }, Warnings: ['WARNING: bridge-nf-call-iptables is disabled', 'WARNING: No swap limit support'],
  });
  assert.deepEqual(infoForVersion(info(), '1.41'), info());
  const i48 = infoForVersion(info(), '1.48');
  assert.equal('KernelMemory' in i48, false);
  assert.deepEqual(i48.CDISpecDirs, []);
  assert.deepEqual(i48.Warnings, ['WARNING: No swap limit support']);
  assert.deepEqual(i48.RuncCommit, { ID: 'x', Expected: 'x' });
  const i52 = infoForVersion(info(), '1.52');
  assert.deepEqual(i52.RuncCommit, { ID: 'x' });
  assert.deepEqual(i52.FirewallBackend, { Driver: 'iptables' });
  for (const k of ['BridgeNfIptables', 'BridgeNfIp6tables', 'KernelMemoryTCP']) assert.equal(k in i52, false, k);
});

test('system df: kinds, shape and body per version', () => {
  const q = (s: string) => new URLSearchParams(s);
  assert.equal(dfKinds(q('type=image'), '1.41').size, 4);
  assert.deepEqual([...dfKinds(q('type=image&type=volume'), '1.42')], ['image', 'volume']);
  assert.throws(() => dfKinds(q('type=x'), '1.42'), /unknown object type: x/);
  assert.deepEqual(dfShape(q(''), '1.51'), { legacy: true, summaries: false, items: false });
  assert.deepEqual(dfShape(q(''), '1.52'), { legacy: true, summaries: true, items: false });
  assert.deepEqual(dfShape(q('verbose=1'), '1.52'), { legacy: false, summaries: true, items: true });
  assert.deepEqual(dfShape(q('verbose=false'), '1.52'), { legacy: false, summaries: true, items: false });
  assert.throws(() => dfShape(q('verbose=yes'), '1.52'), /invalid value for verbose: yes/);
  const img = { Size: 10, SharedSize: 4, Containers: 0 };
  const parts = { layersSize: 10, images: [img], containers: [{ SizeRw: 3, State: 'running' }, { SizeRw: 2, State: 'exited' }], volumes: [{ UsageData: { Size: 7, RefCount: 0 } }], buildCache: [] };
  const b = dfBody(parts, dfShape(q(''), '1.52'), '1.52');
  assert.deepEqual(b.ImagesUsage, { TotalImages: 1, TotalSize: 10, Reclaimable: 6 });
  assert.deepEqual(b.ContainersUsage, { ActiveContainers: 1, TotalContainers: 2, TotalSize: 5, Reclaimable: 2 });
  assert.deepEqual(b.VolumesUsage, { TotalVolumes: 1, TotalSize: 7, Reclaimable: 7 });
  assert.deepEqual(b.BuildCacheUsage, {});
  assert.deepEqual(Object.keys(dfBody(parts, dfShape(q(''), '1.41'), '1.41')), ['LayersSize', 'Images', 'Containers', 'Volumes', 'BuildCache']);
  const row = () => ({ RepoTags: ['<none>:<none>'], RepoDigests: ['<none>@<none>'], VirtualSize: 1 });
  assert.deepEqual(dfImageRow(row(), '1.42'), row());
  assert.deepEqual(dfImageRow(row(), '1.44'), { RepoTags: [], RepoDigests: [] });
});

test('events: gddo\'s content negotiation over x-ndjson and json-seq', () => {
  assert.equal(eventsContentType(undefined), 'application/json');
  assert.equal(eventsContentType('text/html'), 'application/json');
  assert.equal(eventsContentType('*/*'), 'application/x-ndjson');
  assert.equal(eventsContentType('application/json-seq'), 'application/json-seq');
  assert.equal(eventsContentType('application/x-ndjson;q=0.5, application/json-seq'), 'application/json-seq');
  assert.equal(eventsContentType('*/*;q=0.9, application/json-seq;q=0.9'), 'application/json-seq');
  assert.equal(eventsContentType('application/x-ndjson;q=0'), 'application/json');
});

test('health: the start interval (5s by default) while starting inside the start period', () => {
  const startedAt = '2026-01-01T00:00:00.000Z';
  const t0 = Date.parse(startedAt);
  const rec = (h: Record<string, number>, status = 'starting') => ({
    config: { healthcheck: { test: ['CMD', 'true'], interval: 0, timeout: 0, startPeriod: 0, retries: 0, ...h } },
    state: { startedAt, health: { status, failingStreak: 0, log: [] } },
  }) as unknown as Container;
  assert.equal(probeIntervalMs(rec({}), t0 + 1000), 30_000);
  assert.equal(probeIntervalMs(rec({ startPeriod: 60e9 }), t0 + 1000), 5000);
  assert.equal(probeIntervalMs(rec({ startPeriod: 60e9, startInterval: 1e9 }), t0 + 1000), 1000);
  assert.equal(probeIntervalMs(rec({ startPeriod: 60e9, startInterval: 1e9 }, 'healthy'), t0 + 1000), 30_000);
  assert.equal(probeIntervalMs(rec({ startPeriod: 60e9, interval: 2e9 }), t0 + 61_000), 2000);
});
