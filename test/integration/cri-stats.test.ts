// Stats through tsulad's CRI with the real crictl on a private CNI network: a container that
// burns CPU and holds 20 MB shows growing CPU time, a working set above that and a writable
// layer that grows when a file is written; crictl stats (table and JSON, filters by id, pod
// and label), crictl statsp (pod CPU, memory, eth0 counters that grow with a ping), crictl
// metricsp (UNIMPLEMENTED), and crictl events (GetContainerEvents, server streaming).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { createTestNet, ping, type TestNet } from '../helpers/network.js';
import { grpcClient } from '../../src/common/grpc.js';
import { RuntimeService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';

let net: TestNet;
let d: TestDaemon;

before(async () => {
  crictlPath();
  net = await createTestNet('stats');
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': net.confDir } });
  await d.loadBusybox();
});
after(async () => {
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force']).catch(() => {});
  await d?.destroy();
  await net?.destroy();
});

const cri = (args: string[]) => crictl(d.criSock, args);
const ok = async (args: string[]) => {
  const r = await cri(args);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

type U64 = { value: string } | undefined;
const num = (v: U64) => Number(v?.value ?? 0);
interface CStats {
  attributes: { id: string; metadata: { name: string }; labels: Record<string, string> };
  cpu?: { timestamp: string; usageCoreNanoSeconds: U64; usageNanoCores: U64 };
  memory?: { workingSetBytes: U64; usageBytes: U64; rssBytes: U64; availableBytes: U64; pageFaults: U64 };
  writableLayer?: { usedBytes: U64; inodesUsed: U64; fsId: { mountpoint: string } };
}
interface PStats {
  attributes: { id: string; metadata: { name: string } };
  linux: {
    cpu?: CStats['cpu']; memory?: CStats['memory'];
    network?: { defaultInterface?: { name: string; rxBytes: U64; txBytes: U64 } };
    process?: { processCount: U64 };
    containers?: CStats[];
  };
}
const stats = async (args: string[] = []) => (JSON.parse(await ok(['stats', '-o', 'json', ...args])) as { stats?: CStats[] }).stats ?? [];
const statsp = async (args: string[] = []) => (JSON.parse(await ok(['statsp', '-o', 'json', ...args])) as { stats?: PStats[] }).stats ?? [];

async function files(uid = 'stats'): Promise<{ pod: string; burn: string; idle: string }> {
  const f = (n: string) => path.join(d.dir, n);
  await fs.writeFile(f(`pod-${uid}.json`), JSON.stringify({
    metadata: { name: `${uid}pod`, namespace: 'default', uid: `uid-${uid}`, attempt: 0 }, hostname: 'statspod',
    log_directory: f('logs'), labels: { app: 'stats' }, linux: {},
  }));
  // 20 MB held in a shell variable (anonymous memory), then a busy loop
  await fs.writeFile(f('burn.json'), JSON.stringify({
    metadata: { name: 'burn' }, image: { image: 'busybox' }, log_path: 'burn.log', labels: { tier: 'burn' },
    command: ['sh', '-c', 'x=$(head -c 20000000 /dev/zero | tr "\\0" a); touch /tmp/ready; while :; do :; done'], linux: {},
  }));
  await fs.writeFile(f('idle.json'), JSON.stringify({
    metadata: { name: 'idle' }, image: { image: 'busybox' }, log_path: 'idle.log', labels: { tier: 'idle' },
    command: ['sleep', '1d'], linux: {},
  }));
  return { pod: f(`pod-${uid}.json`), burn: f('burn.json'), idle: f('idle.json') };
}

test('crictl stats / statsp: CPU grows, the working set holds the 20 MB, the writable layer grows, pod network counts a ping', async () => {
  const f = await files();
  const pod = await ok(['runp', f.pod]);
  const burn = await ok(['create', pod, f.burn, f.pod]);
  const idle = await ok(['create', pod, f.idle, f.pod]);
  await ok(['start', burn]);
  await ok(['start', idle]);
  await waitFor(async () => (await cri(['exec', burn, 'test', '-f', '/tmp/ready'])).code === 0, 60_000, 'the burner to hold its 20 MB');

  // JSON: two samples; the CPU counter grows, the rate is computed against the previous sample
  const [s1] = await stats(['--id', burn]);
  await new Promise((r) => setTimeout(r, 1000));
  const [s2] = await stats(['--id', burn]);
  assert.equal(s2!.attributes.id, burn);
  assert.equal(s2!.attributes.metadata.name, 'burn');
  assert.ok(num(s2!.cpu!.usageCoreNanoSeconds) > num(s1!.cpu!.usageCoreNanoSeconds), 'cpu usage grows');
  assert.ok(BigInt(s2!.cpu!.timestamp) > BigInt(s1!.cpu!.timestamp));
  // a busy loop: most of a core (2 cores here, other tests may run beside)
  assert.ok(num(s2!.cpu!.usageNanoCores) > 200_000_000, `usageNanoCores ${num(s2!.cpu!.usageNanoCores)}`);
  assert.ok(num(s2!.memory!.workingSetBytes) > 15_000_000, `workingSetBytes ${num(s2!.memory!.workingSetBytes)}`);
  assert.ok(num(s2!.memory!.usageBytes) >= num(s2!.memory!.workingSetBytes));
  assert.ok(num(s2!.memory!.rssBytes) > 15_000_000, `rssBytes ${num(s2!.memory!.rssBytes)}`);
  assert.ok(num(s2!.memory!.pageFaults) > 0);
  assert.equal(s2!.memory!.availableBytes ?? null, null, 'no limit: no available bytes');
  assert.equal(s2!.writableLayer!.fsId.mountpoint, path.join(d.graph, 'overlay'));

  // the writable layer: a 3 MB file written in the container shows (the walk is cached a few seconds)
  const before = num(s2!.writableLayer!.usedBytes);
  await ok(['exec', burn, 'sh', '-c', 'head -c 3000000 /dev/urandom > /data.bin']);
  const grown = await waitFor(async () => {
    const [s] = await stats(['--id', burn]);
    return num(s!.writableLayer!.usedBytes) >= before + 3_000_000 ? s : null;
  }, 20_000, 'the writable layer to count /data.bin');
  assert.ok(num(grown.writableLayer!.inodesUsed) > 0);

  // the table: the burner near a core, its memory; the header crictl prints
  // crictl clears the screen first (it redraws in --watch mode)
  const plain = async (args: string[]) => (await ok(args)).replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
  const table = await plain(['stats']);
  assert.match(table, /^CONTAINER\s+(NAME\s+)?CPU %\s+MEM\s+DISK\s+INODES/);
  const row = table.split('\n').find((l) => l.startsWith(burn.slice(0, 13)));
  assert.ok(row, table);
  const cpuPerc = Number(row.split(/\s+/).find((x) => /^\d+\.\d\d$/.test(x)));
  assert.ok(cpuPerc > 20, `CPU % of the burner: ${row}`);
  assert.match(row, /\d+(\.\d+)?MB/);

  // filters: pod, label, id prefix; a container of no pod of ours: nothing
  assert.deepEqual((await stats(['-p', pod])).map((s) => s.attributes.id).sort(), [burn, idle].sort());
  assert.deepEqual((await stats(['--label', 'tier=idle'])).map((s) => s.attributes.id), [idle]);
  assert.deepEqual((await stats(['--id', idle.slice(0, 12)])).map((s) => s.attributes.id), [idle]);
  assert.deepEqual(await stats(['--label', 'tier=none']), []);
  assert.deepEqual(await stats(['-p', 'f'.repeat(64)]), [], 'an unknown pod matches nothing');

  // the pod: CPU and memory summed over its containers (no cgroup_parent), eth0 counts a ping
  const [p1] = await statsp(['--id', pod]);
  assert.equal(p1!.attributes.id, pod);
  assert.equal(p1!.attributes.metadata.name, 'statspod');
  assert.ok(num(p1!.linux.cpu!.usageCoreNanoSeconds) >= num(grown.cpu!.usageCoreNanoSeconds));
  assert.ok(num(p1!.linux.memory!.workingSetBytes) > 15_000_000);
  assert.ok(num(p1!.linux.process!.processCount) >= 2, 'sh and sleep');
  assert.equal(p1!.linux.network!.defaultInterface!.name, 'eth0');
  assert.deepEqual(p1!.linux.containers!.map((c) => c.attributes.id).sort(), [burn, idle].sort());
  const netnsPath = (JSON.parse(await ok(['inspectp', pod])) as { info: { netnsPath: string } }).info.netnsPath;
  assert.ok(ping(netnsPath, net.gateway), 'the pod pings its gateway');
  const [p2] = await statsp(['--label', 'app=stats']);
  const rx = (p: PStats) => num(p.linux.network!.defaultInterface!.rxBytes);
  const tx = (p: PStats) => num(p.linux.network!.defaultInterface!.txBytes);
  assert.ok(rx(p2!) > rx(p1!) && tx(p2!) > tx(p1!), `eth0 rx ${rx(p1!)} → ${rx(p2!)}, tx ${tx(p1!)} → ${tx(p2!)}`);
  assert.ok(num(p2!.linux.cpu!.usageNanoCores) > 200_000_000, 'the pod rate, against its previous sample');
  assert.match(await plain(['statsp']), new RegExp(`statspod\\s+${pod.slice(0, 13)}\\s+\\d+\\.\\d\\d\\s+\\d`));

  // a stopped container: no CPU or memory (crictl stats leaves it out unless -a), still its layer
  await ok(['stop', '-t', '0', burn]);
  const [stopped] = await stats(['--id', burn]);
  assert.equal(stopped!.cpu ?? null, null);
  assert.equal(stopped!.memory ?? null, null);
  assert.ok(num(stopped!.writableLayer!.usedBytes) >= 3_000_000);
  assert.ok(!(await plain(['stats'])).includes(burn.slice(0, 13)));
  assert.ok((await plain(['stats', '-a'])).includes(burn.slice(0, 13)));

  // the unary RPCs crictl does not call, straight over gRPC
  const rt = grpcClient(RuntimeService, d.criSock);
  try {
    const one = await rt.containerStats({ containerId: idle.slice(0, 12) });
    assert.equal(one.stats?.attributes?.id, idle);
    assert.ok((one.stats?.memory?.workingSetBytes?.value ?? 0n) > 0n);
    const ps = await rt.podSandboxStats({ podSandboxId: pod });
    assert.deepEqual(ps.stats?.linux?.containers.map((c) => c.attributes?.id).sort(), [burn, idle].sort());
    await assert.rejects(rt.containerStats({ containerId: 'f'.repeat(64) }), (e: Error & { kind?: string }) => e.kind === 'NotFound');
    await assert.rejects(rt.podSandboxStats({ podSandboxId: 'f'.repeat(64) }), (e: Error & { kind?: string }) => e.kind === 'NotFound');
  } finally {
    rt.close();
  }
  assert.deepEqual(await statsp(['--id', 'f'.repeat(64)]), []);
  await ok(['rmp', '-f', pod]);
  assert.deepEqual(await statsp(), []);
});

test('a pod with a memory limit: available bytes = limit − working set', async () => {
  const f = await files('limit');
  const limited = path.join(d.dir, 'limited.json');
  await fs.writeFile(limited, JSON.stringify({
    metadata: { name: 'limited' }, image: { image: 'busybox' }, log_path: 'limited.log',
    command: ['sleep', '1d'], linux: { resources: { memory_limit_in_bytes: 64 * 1024 * 1024 } },
  }));
  const pod = await ok(['runp', f.pod]);
  try {
    const id = await ok(['create', pod, limited, f.pod]);
    await ok(['start', id]);
    const [s] = await stats(['--id', id]);
    const ws = num(s!.memory!.workingSetBytes);
    assert.ok(ws > 0);
    assert.equal(num(s!.memory!.availableBytes), 64 * 1024 * 1024 - ws);
    // ContainerStats of one that does not run: containerd's task has no metrics, its error (TestTruncIndex)
    const { criCall } = await import('../helpers/cri-grpc.js');
    assert.ok(await criCall(d.criSock, 'containerStats', { containerId: id }));
    await ok(['stop', '--timeout', '0', id]);
    await assert.rejects(criCall(d.criSock, 'containerStats', { containerId: id }), /unexpected metrics response: \[\]/);
  } finally {
    await ok(['rmp', '-f', pod]);
  }
});

test('metricsp and the metric descriptors: UNIMPLEMENTED (critest then skips, as it must); the unary neighbours of a stream keep working', async () => {
  // an answer, even an empty one, would say the runtime has cadvisor's metrics: critest's
  // "metrics operations" then require them all
  assert.match((await cri(['metricsp', '-o', 'json'])).stderr, /code = Unimplemented desc = ListPodSandboxMetrics is not implemented/);
  const rt = grpcClient(RuntimeService, d.criSock);
  try {
    await assert.rejects(rt.checkpointContainer({ containerId: 'x' }), (e: Error & { kind?: string }) => e.kind === 'Unimplemented');
    await assert.rejects(rt.listMetricDescriptors({}), (e: Error & { kind?: string }) => e.kind === 'Unimplemented' && /ListMetricDescriptors/.test(e.message));
    assert.equal((await rt.version({})).runtimeApiVersion, 'v1');
  } finally {
    rt.close();
  }
});

test('crictl events (GetContainerEvents): the pod\'s and its container\'s CREATED, STARTED, STOPPED, DELETED in order, each with the pod\'s status and its containers\'', async () => {
  // the stock client, as a user runs it, and a second subscriber of our own for the fields
  const watcher = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  watcher.stdout!.on('data', (b: Buffer) => { out += b; });
  watcher.stderr!.on('data', (b: Buffer) => { out += b; });
  const rt = grpcClient(RuntimeService, d.criSock);
  const ac = new AbortController();
  const got: Array<{ id: string; type: number; uid: string; statuses: string[]; createdAt: bigint }> = [];
  const reading = (async () => {
    for await (const e of rt.getContainerEvents({}, { signal: ac.signal })) {
      got.push({ id: e.containerId, type: e.containerEventType, uid: e.podSandboxStatus?.metadata?.uid ?? '', statuses: e.containersStatuses.map((c) => c.id), createdAt: e.createdAt });
    }
  })().catch(() => {});
  try {
    await new Promise((r) => setTimeout(r, 1000)); // both subscribed
    const podFile = path.join(d.dir, 'ev-pod.json');
    await fs.writeFile(podFile, JSON.stringify({ metadata: { name: 'ev', namespace: 'default', uid: 'ev-uid' }, log_directory: path.join(d.dir, 'ev-logs'), linux: {} }));
    const ctrFile = path.join(d.dir, 'ev-ctr.json');
    await fs.writeFile(ctrFile, JSON.stringify({ metadata: { name: 'c' }, image: { image: 'busybox' }, command: ['sh', '-c', 'exit 3'], log_path: 'c.log' }));
    const t0 = BigInt(Date.now()) * 1_000_000n;
    const pod = await ok(['runp', podFile]);
    const ctr = await ok(['create', pod, ctrFile, podFile]);
    await ok(['start', ctr]);
    await waitFor(async () => JSON.parse(await ok(['inspect', ctr])).status.state === 'CONTAINER_EXITED', 20_000, 'the container exited');
    await ok(['rm', ctr]);
    await ok(['stopp', pod]);
    await ok(['rmp', pod]);
    const C = { created: 0, started: 1, stopped: 2, deleted: 3 };
    const want = [[pod, C.created], [pod, C.started], [ctr, C.created], [ctr, C.started], [ctr, C.stopped], [ctr, C.deleted], [pod, C.stopped], [pod, C.deleted]];
    await waitFor(async () => got.length >= want.length, 10_000, `${want.length} events (have ${got.length})`);
    assert.deepEqual(got.map((e) => [e.id, e.type]), want);
    assert.ok(got.every((e) => e.uid === 'ev-uid'), 'every event has the pod\'s status');
    assert.ok(got.every((e) => e.createdAt >= t0 && e.createdAt < t0 + 120_000_000_000n), 'created_at in ns');
    // the container's own events list it among the pod's containers; after its removal, not
    assert.deepEqual(got[3]!.statuses, [ctr]);
    assert.deepEqual(got[5]!.statuses, []);
    // crictl printed the same, in its JSON
    await waitFor(async () => (out.match(/"containerEventType"/g) ?? []).length >= want.length, 10_000, `crictl events printed ${want.length} events: ${out}`);
    const printed = [...out.matchAll(/"containerId": "([0-9a-f]+)",\s*"containerEventType": "(\w+)"/g)].map((m) => [m[1], m[2]]);
    const NAMES = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
    assert.deepEqual(printed, want.map(([id, t]) => [id, NAMES[t as number]]), out);
  } finally {
    ac.abort();
    rt.close();
    watcher.kill('SIGKILL');
    await reading;
  }
});

test('tsulad stopping ends crictl events with the end of the stream, at once', async () => {
  const watcher = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'events'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  watcher.stderr!.on('data', (b: Buffer) => { err += b; });
  const exited = new Promise<number | null>((r) => watcher.once('exit', (code) => r(code)));
  try {
    await new Promise((r) => setTimeout(r, 1000)); // subscribed
    const t0 = Date.now();
    await d.stop('SIGTERM');
    assert.equal(await exited, 0, err);
    assert.ok(Date.now() - t0 < 1500, `tsulad took ${Date.now() - t0} ms to stop with a stream open`);
  } finally {
    watcher.kill('SIGKILL');
    if (!d.proc) await d.start();
  }
});
