// The stats parsers and the sampling logic on fixture trees: a cgroup v1 (hybrid host) and a
// pure v2 layout written into a temp dir, /proc files as strings, the CPU rate against the
// previous sample with a fake clock, a host pod summed from its containers or read from its
// cgroup parent, and the writable-layer walk with its cache.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { detectCgroups, readCgroup, parseFlatKeyed, parseSingle, processCgroups, sumUsage, memoryV1 } from '../../src/cgroups/usage.js';
import { parseNetDev, parsePidStat, parseStatusKb, readProcess } from '../../src/engine/stats/proc.js';
import { DiskUsageCache, diskUsage, storeUsage } from '../../src/engine/stats/fsusage.js';
import { StatsService } from '../../src/engine/stats/service.js';
import { pre121 } from '../../src/engine/api/stats.js';
import type { Container } from '../../src/engine/containers/model.js';
import type { PodRecord } from '../../src/engine/pods/record.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-stats-unit-'));
after(() => fs.rm(tmp, { recursive: true, force: true }));

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [f, text] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(root, f)), { recursive: true });
    await fs.writeFile(path.join(root, f), text);
  }
}

const V1_UNLIMITED = '9223372036854771712\n';

/** A v1 hybrid layout: controller dirs, the unified tree beside without controllers. */
async function v1Fixture(root: string, rel: string, o: { cpu: string; usage: string; limit?: string; memsw?: [string, string]; pids?: string }): Promise<void> {
  await writeTree(root, {
    'unified/cgroup.procs': '',
    [`cpuacct/${rel}/cpuacct.usage`]: `${o.cpu}\n`,
    [`memory/${rel}/memory.usage_in_bytes`]: `${o.usage}\n`,
    [`memory/${rel}/memory.limit_in_bytes`]: o.limit ?? V1_UNLIMITED,
    [`memory/${rel}/memory.stat`]: 'cache 100\nrss 5\ntotal_cache 4096000\ntotal_rss 20480000\ntotal_inactive_file 1024000\ntotal_pgfault 900\ntotal_pgmajfault 3\nhierarchical_memory_limit 9223372036854771712\n',
    ...(o.memsw ? { [`memory/${rel}/memory.memsw.usage_in_bytes`]: `${o.memsw[0]}\n`, [`memory/${rel}/memory.memsw.limit_in_bytes`]: `${o.memsw[1]}\n` } : {}),
    ...(o.pids ? { [`pids/${rel}/pids.current`]: `${o.pids}\n`, [`pids/${rel}/pids.max`]: 'max\n' } : {}),
  });
}

async function v2Fixture(root: string, rel: string, o: { usec: string; current: string; max?: string; swap?: [string, string] }): Promise<void> {
  await writeTree(root, {
    'cgroup.controllers': 'cpuset cpu io memory pids\n',
    [`${rel}/cpu.stat`]: `usage_usec ${o.usec}\nuser_usec 1\nsystem_usec 2\nnr_periods 0\n`,
    [`${rel}/memory.current`]: `${o.current}\n`,
    [`${rel}/memory.max`]: `${o.max ?? 'max'}\n`,
    [`${rel}/memory.stat`]: 'anon 8192000\nfile 4096000\ninactive_file 2048000\nactive_file 2048000\npgfault 1200\npgmajfault 7\n',
    ...(o.swap ? { [`${rel}/memory.swap.current`]: `${o.swap[0]}\n`, [`${rel}/memory.swap.max`]: `${o.swap[1]}\n` } : {}),
    [`${rel}/pids.current`]: '4\n',
    [`${rel}/pids.max`]: '100\n',
  });
}

test('flat keyed and single-value files: numbers, "max", junk lines skipped', () => {
  assert.deepEqual([...parseFlatKeyed('a 1\nb 22\n\nbad line here\nc x\nd 3\n')], [['a', 1n], ['b', 22n], ['d', 3n]]);
  assert.equal(parseSingle('123\n'), 123n);
  assert.equal(parseSingle('max\n'), undefined);
  assert.throws(() => parseSingle('nope'));
});

test('detect: v2 where the root has cgroup.controllers; a hybrid root (v1 dirs + unified/) is v1', async () => {
  const v1 = path.join(tmp, 'detect-v1');
  const v2 = path.join(tmp, 'detect-v2');
  await writeTree(v1, { 'unified/cgroup.controllers': '', 'memory/cgroup.procs': '' });
  await writeTree(v2, { 'cgroup.controllers': 'memory\n' });
  assert.deepEqual(await detectCgroups(v1), { version: 1, root: v1 });
  assert.deepEqual(await detectCgroups(v2), { version: 2, root: v2 });
  // this host, whatever it is, detects without error
  assert.ok([1, 2].includes((await detectCgroups()).version));
});

test('v1: cpuacct.usage in ns, hierarchical memory.stat, working set = usage − inactive_file, no limit, memsw swap, pids', async () => {
  const root = path.join(tmp, 'v1');
  await v1Fixture(root, 'tsula/abc', { cpu: '123456789', usage: '30000000', memsw: ['30500000', V1_UNLIMITED.trim()], pids: '3' });
  const u = await readCgroup({ version: 1, root }, '/tsula/abc');
  assert.deepEqual(u, {
    cpuNs: 123456789n,
    memory: { usage: 30000000n, workingSet: 28976000n, rss: 20480000n, pageFaults: 900n, majorPageFaults: 3n, swapUsage: 500000n },
    pids: { current: 3n },
  });
  // a limit: kept (available is computed from it by the sampler), swap limit = memsw − memory
  await v1Fixture(root, 'kube/pod1/c1', { cpu: '1', usage: '500000', limit: '67108864', memsw: ['600000', '134217728'] });
  const l = await readCgroup({ version: 1, root }, 'kube/pod1/c1');
  // inactive_file above usage: the working set floors at 0
  assert.equal(l?.memory?.workingSet, 0n);
  assert.equal(l?.memory?.limit, 67108864n);
  assert.equal(l?.memory?.swapLimit, 67108864n);
  assert.equal(await readCgroup({ version: 1, root }, '/tsula/gone'), null, 'a cgroup that is not there');
  assert.equal(await readCgroup({ version: 1, root }, '/tsula/../../etc'), null, 'no way out of the root');
});

test('v1 detail: memsw, kmem and kmem.tcp as containerd\'s cgroups reads them; a module the kernel lacks is left out', async () => {
  const root = path.join(tmp, 'v1-entries');
  await v1Fixture(root, 'tsula/e', { cpu: '1', usage: '30000000', memsw: ['30500000', V1_UNLIMITED.trim()] });
  const files = (m: string, u: string, max: string, f: string, l: string) => ({
    [`memory/tsula/e/memory.${m}.usage_in_bytes`]: `${u}\n`, [`memory/tsula/e/memory.${m}.max_usage_in_bytes`]: `${max}\n`,
    [`memory/tsula/e/memory.${m}.failcnt`]: `${f}\n`, [`memory/tsula/e/memory.${m}.limit_in_bytes`]: `${l}\n`,
  });
  await writeTree(root, { ...files('memsw', '30500000', '31000000', '0', V1_UNLIMITED.trim()), ...files('kmem', '2000000', '2500000', '1', V1_UNLIMITED.trim()) });
  const d = (await readCgroup({ version: 1, root }, '/tsula/e', { detail: true }))?.detail;
  assert.deepEqual(d?.memoryV1Entries, {
    swap: { usage: 30500000n, max: 31000000n, failcnt: 0n, limit: 9223372036854771712n },
    kernel: { usage: 2000000n, max: 2500000n, failcnt: 1n, limit: 9223372036854771712n },
  });
});

test('v2: cpu.stat usage_usec → ns, memory.current/stat (anon as rss), memory.max, swap, pids', async () => {
  const root = path.join(tmp, 'v2');
  await v2Fixture(root, 'tsula/abc', { usec: '1500', current: '10000000', max: '20000000', swap: ['4096', 'max'] });
  assert.deepEqual(await readCgroup(await detectCgroups(root), '/tsula/abc'), {
    cpuNs: 1500000n,
    memory: { usage: 10000000n, workingSet: 7952000n, rss: 8192000n, pageFaults: 1200n, majorPageFaults: 7n, limit: 20000000n, swapUsage: 4096n },
    pids: { current: 4n, limit: 100n },
  });
  assert.equal(await readCgroup({ version: 2, root }, '/tsula/gone'), null);
});

test('a pod without a cgroup of its own: its containers summed (a limit only when all have one)', () => {
  const m = (usage: bigint, limit?: bigint) => memoryV1(usage, new Map([['total_rss', usage / 2n]]), limit);
  const s = sumUsage([{ cpuNs: 10n, memory: m(100n, 1000n), pids: { current: 2n } }, { cpuNs: 5n, memory: m(50n), pids: { current: 1n } }]);
  assert.equal(s?.cpuNs, 15n);
  assert.equal(s?.memory?.usage, 150n);
  assert.equal(s?.memory?.rss, 75n);
  assert.equal(s?.memory?.limit, undefined);
  assert.equal(s?.pids?.current, 3n);
  assert.equal(sumUsage([]), null);
});

test('/proc: a process\' CPU ticks → ns and faults, VmRSS, /proc/net/dev counters', async () => {
  // utime 150 + stime 50 ticks of 10 ms; minflt 1000, majflt 2; the name holds ") ("
  const stat = '77 (qemu) (x) S 1 77 77 0 -1 4194560 1000 0 2 0 150 50 0 0 20 0 3 0 123456 1000 50';
  assert.deepEqual(parsePidStat(stat), { cpuNs: 2_000_000_000n, minorFaults: 1000n, majorFaults: 2n });
  assert.equal(parseStatusKb('Name:\tqemu\nVmRSS:\t  524288 kB\nRssAnon:\t 1 kB\n', 'VmRSS'), 536870912n);
  assert.equal(parseStatusKb('Name:\tzombie\n', 'VmRSS'), undefined);
  const self = await readProcess(process.pid);
  assert.ok(self && self.rss > 0n && self.cpuNs > 0n);
  assert.equal(await readProcess(2 ** 22 + 1), null, 'a pid that cannot exist');
  const dev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0
  eth0:    5000      40    2    0    0     0          0         0     3000      30    1    0    0     0       0          0
`;
  assert.deepEqual(parseNetDev(dev), [
    { name: 'lo', rxBytes: 100n, rxErrors: 0n, txBytes: 100n, txErrors: 0n, rxPackets: 1n, rxDropped: 0n, txPackets: 1n, txDropped: 0n },
    { name: 'eth0', rxBytes: 5000n, rxErrors: 2n, txBytes: 3000n, txErrors: 1n, rxPackets: 40n, rxDropped: 0n, txPackets: 30n, txDropped: 0n },
  ]);
});

test('a process\' cgroups from /proc/<pid>/cgroup, and a cgroup read where each controller has its own path (a relative cgroup_parent)', async () => {
  const mine = await processCgroups(process.pid);
  assert.ok(mine && mine.size > 0);
  for (const [c, p] of mine!) assert.ok(!c.startsWith('name=') && p.startsWith('/'), `${c}:${p}`);
  assert.equal(await processCgroups(2 ** 22 + 1), null, 'a pid that is no process');
  const root = path.join(tmp, 'split');
  await v1Fixture(root, 'x/c1', { cpu: '123', usage: '1000' });
  await fs.rename(path.join(root, 'memory/x'), path.join(root, 'memory/y'));
  const u = await readCgroup({ version: 1, root }, new Map([['cpu', '/x/c1'], ['cpuacct', '/x/c1'], ['memory', '/y/c1']]));
  assert.equal(u?.cpuNs, 123n);
  assert.equal(u?.memory?.usage, 1000n, 'memory read at its own path');
});

test('disk usage: allocated blocks and inodes, hard links once, a missing dir is 0; the cache answers within its TTL', async () => {
  const dir = path.join(tmp, 'upper');
  await fs.mkdir(path.join(dir, 'sub'), { recursive: true });
  await fs.writeFile(path.join(dir, 'sub', 'f'), Buffer.alloc(100_000, 1));
  await fs.link(path.join(dir, 'sub', 'f'), path.join(dir, 'hard'));
  const u = await diskUsage(dir);
  assert.equal(u.inodes, 3n, 'the dir, sub and f (its hard link counted once)');
  assert.ok(u.bytes >= 100_000n && u.bytes < 200_000n, String(u.bytes));
  assert.deepEqual(await diskUsage(path.join(tmp, 'nope')), { bytes: 0n, inodes: 0n });
  let t = 1_000;
  const cache = new DiskUsageCache(5_000, () => t);
  const first = await cache.get(dir);
  await fs.writeFile(path.join(dir, 'more'), Buffer.alloc(50_000, 1));
  assert.equal((await cache.get(dir)).bytes, first.bytes, 'cached');
  t += 5_000;
  // stale: a new walk, whose figure comes when it is quick (a long one leaves the last figure)
  assert.ok((await cache.get(dir)).bytes > first.bytes, 'the new walk\'s');
  // a stable tree (a store's layer) is walked once
  const layer = path.join(tmp, 'layer');
  await fs.mkdir(layer);
  const l0 = await cache.get(layer, { stable: true });
  await fs.writeFile(path.join(layer, 'f'), Buffer.alloc(50_000, 1));
  t += 50_000;
  await cache.get(layer, { stable: true });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal((await cache.get(layer, { stable: true })).bytes, l0.bytes);
});

test('disk usage stays on its filesystem (du -x): a mount below the dir is not counted; a store sums its layers and snapshots', async () => {
  const dir = path.join(tmp, 'store');
  await fs.mkdir(path.join(dir, 'layers', 'a'), { recursive: true });
  await fs.mkdir(path.join(dir, 'snapshots', 'c1', 'merged'), { recursive: true });
  await fs.writeFile(path.join(dir, 'layers', 'a', 'f'), Buffer.alloc(40_000, 1));
  await fs.writeFile(path.join(dir, 'snapshots', 'c1', 'g'), Buffer.alloc(40_000, 1));
  const before = await diskUsage(dir);
  const cache = new DiskUsageCache(5_000);
  const sum = await storeUsage(cache, dir);
  assert.deepEqual([sum.bytes, sum.inodes], [before.bytes, before.inodes], 'the store\'s parts add up to one walk of it');
  // its time moves on (kubelet takes only a reading whose time did): layers walked once count as now
  let t = 1_000_000;
  const clocked = new DiskUsageCache(5_000, () => t);
  const s1 = await storeUsage(clocked, dir);
  t += 60_000;
  await storeUsage(clocked, dir); // starts the snapshots' walk again
  await new Promise((r) => setTimeout(r, 50));
  const s2 = await storeUsage(clocked, dir);
  assert.ok(s2.timestamp > s1.timestamp, `${s1.timestamp} → ${s2.timestamp}`);
  const merged = path.join(dir, 'snapshots', 'c1', 'merged');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', merged]);
  try {
    await fs.writeFile(path.join(merged, 'big'), Buffer.alloc(1_000_000, 1));
    const u = await diskUsage(dir);
    // du -x: the mount point is the tmpfs' root, so it goes too
    assert.equal(u.inodes, before.inodes - 1n, 'the tmpfs below is another filesystem');
    assert.ok(u.bytes < before.bytes, String(u.bytes));
  } finally {
    execFileSync('umount', [merged]);
  }
});

function container(id: string, o: { pid?: number; parent?: string; status?: 'running' | 'exited' } = {}): Container {
  return {
    id, name: id, createdAt: '', image: '', runtime: 'runc', driver: 'overlay',
    config: { resources: { CgroupParent: o.parent ?? '' }, pod: { id: 'pod1' } },
    state: { status: o.status ?? 'running', pid: o.pid ?? 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '', restartCount: 0 },
  } as unknown as Container;
}

function pod(o: Partial<PodRecord> & { cgroupParent?: string } = {}): PodRecord {
  return { id: 'pod1', state: 'ready', netnsPath: '', spec: { cgroupParent: o.cgroupParent ?? '' }, ...o } as unknown as PodRecord;
}

test('sampler: nano cores from the previous sample of the same container; a host pod summed, or its cgroup parent; a VM pod from its process', async () => {
  const root = path.join(tmp, 'svc');
  await v1Fixture(root, 'tsula/c1', { cpu: '1000000000', usage: '30000000', limit: '40000000' });
  await v1Fixture(root, 'tsula/c2', { cpu: '500000000', usage: '10000000', pids: '2' });
  let now = 1_000_000_000_000n;
  const svc = new StatsService({
    cgroups: async () => ({ version: 1, root }), writableDir: (id) => path.join(tmp, 'layers', id),
    sandboxPid: async () => process.pid, now: () => now,
  });
  const s1 = await svc.container(container('c1'));
  assert.deepEqual(s1.cpu, { timestamp: now, usageNs: 1_000_000_000n, nanoCores: 0n });
  assert.equal(s1.memory?.available, 40000000n - 28976000n);
  assert.deepEqual({ bytes: s1.writableLayer?.bytes, inodes: s1.writableLayer?.inodes }, { bytes: 0n, inodes: 0n });
  // half a core over the next 2 s
  now += 2_000_000_000n;
  await fs.writeFile(path.join(root, 'cpuacct/tsula/c1/cpuacct.usage'), '2000000000\n');
  assert.equal((await svc.container(container('c1'))).cpu?.nanoCores, 500_000_000n);
  // a counter that went back (a new container under the id): 0, not a wrap-around
  now += 1_000_000_000n;
  await fs.writeFile(path.join(root, 'cpuacct/tsula/c1/cpuacct.usage'), '10\n');
  assert.equal((await svc.container(container('c1'))).cpu?.nanoCores, 0n);
  // not running: no cgroup read at all
  const ex = await svc.container(container('c2', { status: 'exited' }));
  assert.equal(ex.cpu, undefined);
  assert.equal(ex.memory, undefined);

  const summed = await svc.pod(pod(), [container('c1'), container('c2')]);
  assert.equal(summed.cpu?.usageNs, 500_000_010n);
  assert.equal(summed.memory?.usage, 40_000_000n);
  assert.equal(summed.memory?.available, undefined, 'c2 has no limit');
  assert.equal(summed.processes?.count, 2n);
  assert.equal(summed.containers.length, 2);
  assert.equal(summed.network, undefined, 'no netns');

  await v1Fixture(root, 'kubepods/podX', { cpu: '7', usage: '99', pids: '5' });
  const own = await svc.pod(pod({ cgroupParent: '/kubepods/podX' }), [container('c1', { parent: '/kubepods/podX' })]);
  assert.equal(own.cpu?.usageNs, 7n);
  assert.equal(own.processes?.count, 5n);

  // a VM pod: its containers have no host cgroup; the hypervisor (here: this process) is the pod
  const vm = await svc.pod(pod({ sandbox: { kind: 'vmm', address: '', sandboxId: 'pod1' } }), [container('inside')]);
  assert.ok(vm.cpu && vm.cpu.usageNs > 0n);
  assert.ok(vm.memory && vm.memory.workingSet > 0n && vm.memory.workingSet === vm.memory.rss);
  assert.equal(vm.containers[0]?.cpu, undefined);
  assert.equal(vm.processes, undefined, 'no word from the guest');
  // its processes: its containers' in the guest (the agent's pids.current), as containerd sums its tasks'
  const guest = new StatsService({
    cgroups: async () => ({ version: 1, root }), writableDir: (id) => path.join(tmp, 'layers', id),
    sandboxPid: async () => process.pid, now: () => now,
    runtimeUsage: async (c) => ({ cpuNs: 1n, pids: { current: c.id === 'a' ? 3n : 4n } }),
  });
  const vm2 = await guest.pod(pod({ sandbox: { kind: 'vmm', address: '', sandboxId: 'pod1' } }), [container('a'), container('b')]);
  assert.equal(vm2.processes?.count, 7n);
});

test('stats below API 1.21: one network object, the interfaces summed (dockerd\'s v1p20, moby\'s TestAPIStatsNetworkStatsVersioning)', () => {
  const s = { read: 'x', networks: { eth0: { rx_bytes: 10, tx_bytes: 1 }, eth1: { rx_bytes: 5, tx_bytes: 2 } } } as unknown as Parameters<typeof pre121>[0];
  const old = pre121(s) as Record<string, unknown>;
  assert.equal(old.networks, undefined);
  assert.deepEqual(old.network, { rx_bytes: 15, tx_bytes: 3 });
  assert.equal((pre121({ read: 'x' } as unknown as Parameters<typeof pre121>[0]) as Record<string, unknown>).network, undefined);
});
