// Resource limits and image references through the API of a private tsulad: out-of-range
// values are 400s naming the field and create nothing; accepted ones reach inspect, the
// bundle's config.json and the container's cgroup; update changes a live container.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon;
const V1 = existsSync('/sys/fs/cgroup/cpu/cpu.shares');

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

const create = (hostConfig: unknown, extra: Record<string, unknown> = {}) =>
  d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: ['sleep', '300'], HostConfig: hostConfig, ...extra }));
const message = (r: { body: string }) => (JSON.parse(r.body) as { message: string }).message;
const cgroup = (ctl: string, id: string, file: string) => fs.readFile(`/sys/fs/cgroup/${ctl}/tsula/${id}/${file}`, 'utf8').then((s) => s.trim());
const specOf = async (id: string) => JSON.parse(await fs.readFile(path.join(d.state, 'containers', id, 'config.json'), 'utf8'));
const hostConfig = async (id: string) => (JSON.parse((await d.api('GET', `/v1.41/containers/${id}/json`)).body) as { HostConfig: Record<string, unknown> }).HostConfig;

test('out-of-range and undecodable values are 400s naming the field; nothing is created', async () => {
  const before = (await d.ok(['ps', '-aq'])).trim();
  const cases: Array<[unknown, RegExp]> = [
    [{ CpuShares: 1e20 }, /HostConfig\.CpuShares/],
    [{ Memory: 1.5 }, /HostConfig\.Memory/],
    [{ BlkioWeight: 70000 }, /HostConfig\.BlkioWeight/],
    [{ CpuShares: 1000000 }, /CPU shares/],
    [{ CpuShares: -1 }, /CPU shares/],
    [{ CpuPeriod: 100 }, /CPU cfs period/],
    [{ CpuQuota: 10 }, /CPU cfs quota/],
    [{ NanoCpus: 1e12 }, /Range of CPUs/],
    [{ NanoCpus: 1e9, CpuQuota: 50000 }, /Nano CPUs and CPU Quota/],
    [{ CpusetCpus: 'zero' }, /cpuset cpus/],
    [{ CpusetCpus: '4095' }, /Requested CPUs are not available/],
    [{ CpusetMems: '63' }, /Requested memory nodes are not available/],
    [{ Memory: 1024 }, /Minimum memory limit allowed is 6MB/],
    [{ Memory: 64 << 20, MemorySwap: 1 << 20 }, /memoryswap/],
    [{ MemorySwap: 64 << 20 }, /always set the Memory limit/],
    [{ MemorySwappiness: 200 }, /swappiness/],
    [{ MemoryReservation: 100 }, /memory reservation/],
    [{ OomScoreAdj: 5000 }, /oom score adj/],
    [{ PidsLimit: 1e9 }, /PIDs limit/],
    [{ BlkioWeight: 5000 }, /blkio weight|Block I\/O weight/],
    [{ IOMaximumBandwidth: 1 }, /Maximum IO/],
    [{ Devices: [{ PathOnHost: '/dev/nonexistent-tsula', PathInContainer: '/dev/x', CgroupPermissions: 'rwm' }] }, /nonexistent-tsula/],
    [{ Devices: [{ PathOnHost: '/dev/null', CgroupPermissions: 'rwx' }] }, /invalid device mode: rwx/],
    [{ BlkioDeviceReadBps: [{ Path: '/dev/nope', Rate: 1 }] }, /\/dev\/nope/],
  ];
  for (const [hc, re] of cases) {
    const r = await create(hc);
    // BlkioWeight is discarded with a warning where the kernel has no weight file: only the
    // values every kernel refuses must be 400 here
    if (JSON.stringify(hc) === '{"BlkioWeight":5000}' && r.status === 201) {
      const c = JSON.parse(r.body) as { Id: string; Warnings: string[] };
      assert.match(c.Warnings.join('\n'), /Block I\/O weight/);
      await d.ok(['rm', c.Id]);
      continue;
    }
    assert.equal(r.status, 400, `${JSON.stringify(hc)}: ${r.status} ${r.body}`);
    assert.match(message(r), re, JSON.stringify(hc));
  }
  for (const body of ['[]', '"x"', '42', 'null', '{"Image":"busybox","HostConfig":"x"}']) {
    const r = await d.api('POST', '/v1.41/containers/create', body);
    assert.equal(r.status, 400, body);
  }
  assert.equal((await d.ok(['ps', '-aq'])).trim(), before, 'a refused create left a container');
});

test("a bare create shows docker's zero values under HostConfig", async () => {
  const r = await create({});
  assert.equal(r.status, 201, r.body);
  const { Id } = JSON.parse(r.body) as { Id: string };
  const hc = await hostConfig(Id);
  for (const [k, v] of Object.entries({
    CpuShares: 0, CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: '', CpusetMems: '',
    NanoCpus: 0, Memory: 0, MemoryReservation: 0, MemorySwap: 0, MemorySwappiness: null, KernelMemory: 0,
    OomKillDisable: false, PidsLimit: null, BlkioWeight: 0, OomScoreAdj: 0, CgroupParent: '', IOMaximumIOps: 0,
  })) assert.deepEqual(hc[k], v, k);
  await d.ok(['rm', Id]);
});

test('accepted values reach inspect, config.json and the cgroup (CLI flags)', { skip: !V1 && 'needs cgroup v1 files' }, async () => {
  const id = (await d.ok(['run', '-d', '--cpu-shares', '512', '--cpu-period', '50000', '--cpu-quota', '25000',
    '--cpuset-cpus', '0', '-m', '64m', '--memory-reservation', '32m', '--memory-swappiness', '10',
    '--oom-kill-disable', '--pids-limit', '50', '--oom-score-adj', '300', 'busybox', 'sleep', '300'])).trim();
  const hc = await hostConfig(id);
  assert.equal(hc.CpuShares, 512);
  assert.equal(hc.CpuPeriod, 50000);
  assert.equal(hc.CpuQuota, 25000);
  assert.equal(hc.CpusetCpus, '0');
  assert.equal(hc.Memory, 64 << 20);
  assert.equal(hc.MemorySwap, 128 << 20, 'docker: swap defaults to twice the memory');
  assert.equal(hc.MemoryReservation, 32 << 20);
  assert.equal(hc.MemorySwappiness, 10);
  assert.equal(hc.OomKillDisable, true);
  assert.equal(hc.PidsLimit, 50);
  assert.equal(hc.OomScoreAdj, 300);
  const spec = await specOf(id);
  assert.deepEqual(spec.linux.resources.cpu, { shares: 512, period: 50000, quota: 25000, cpus: '0' });
  assert.deepEqual(spec.linux.resources.memory, { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20, swappiness: 10, disableOOMKiller: true });
  assert.deepEqual(spec.linux.resources.pids, { limit: 50 });
  assert.equal(spec.process.oomScoreAdj, 300);
  assert.equal(await cgroup('cpu', id, 'cpu.shares'), '512');
  assert.equal(await cgroup('cpu', id, 'cpu.cfs_quota_us'), '25000');
  assert.equal(await cgroup('cpuset', id, 'cpuset.cpus'), '0');
  assert.equal(await cgroup('memory', id, 'memory.soft_limit_in_bytes'), String(32 << 20));
  assert.equal(await cgroup('pids', id, 'pids.max'), '50');
  const pid = (await d.ok(['inspect', '-f', '{{.State.Pid}}', id])).trim();
  assert.equal((await fs.readFile(`/proc/${pid}/oom_score_adj`, 'utf8')).trim(), '300');

  // update: the live cgroup follows, conflicts are dockerd's 409s, a refused value changes nothing
  await d.ok(['update', '--cpu-shares', '300', '--pids-limit', '0', '-m', '96m', '--memory-swap', '192m', id]);
  assert.equal(await cgroup('cpu', id, 'cpu.shares'), '300');
  assert.equal(await cgroup('pids', id, 'pids.max'), 'max');
  assert.equal(await cgroup('memory', id, 'memory.limit_in_bytes'), String(96 << 20));
  const after = await hostConfig(id);
  assert.equal(after.CpuShares, 300);
  // dockerd's update: 0 or below lifts the limit and shows 0 (a create's shows null)
  assert.equal(after.PidsLimit, 0);
  assert.equal(after.Memory, 96 << 20);
  const conflict = await d.api('POST', `/v1.41/containers/${id}/update`, JSON.stringify({ Memory: 512 << 20 }));
  assert.equal(conflict.status, 409);
  assert.match(message(conflict), /update the memoryswap at the same time/);
  const nano = await d.api('POST', `/v1.41/containers/${id}/update`, JSON.stringify({ NanoCpus: 5e8 }));
  assert.equal(nano.status, 409);
  const bad = await d.api('POST', `/v1.41/containers/${id}/update`, JSON.stringify({ CpuShares: 1e20 }));
  assert.equal(bad.status, 400);
  assert.match(message(bad), /CpuShares/);
  assert.equal(await cgroup('cpu', id, 'cpu.shares'), '300');
  await d.ok(['rm', '-f', id]);
});

test('an oom_score_adj below the daemon\'s own is refused at create, not by runc at start', async () => {
  const status = await fs.readFile(`/proc/${d.proc!.pid}/status`, 'utf8');
  const capEff = BigInt('0x' + /^CapEff:\s*([0-9a-f]+)$/m.exec(status)![1]);
  if (capEff & (1n << 24n)) return; // CAP_SYS_RESOURCE: it may go lower
  const r = await create({ OomScoreAdj: -500 });
  assert.equal(r.status, 400);
  assert.match(message(r), /OomScoreAdj.*CAP_SYS_RESOURCE/);
});

test('invalid references are 400 "invalid reference format" everywhere; a valid missing one is 404', async () => {
  for (const ref of ['BusyBox', 'busybox@sha256:abc', `busybox@sha256:${'a'.repeat(32)}`, 'busybox:la$t']) {
    const e = encodeURIComponent(ref);
    const calls = [
      await d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: ref, Cmd: ['true'] })),
      await d.api('GET', `/v1.41/images/${e}/json`),
      await d.api('DELETE', `/v1.41/images/${e}`),
      await d.api('POST', `/v1.41/images/${e}/tag?repo=x&tag=y`),
      await d.api('POST', `/v1.41/images/busybox/tag?repo=${e}`),
      await d.api('POST', `/v1.41/images/create?fromImage=${e}`),
      await d.api('GET', `/v1.41/images/get?names=${e}`),
    ];
    for (const [i, r] of calls.entries()) {
      assert.equal(r.status, 400, `${ref} #${i}: ${r.status} ${r.body}`);
      assert.match(message(r), /invalid reference format|invalid checksum digest/, `${ref} #${i}`);
    }
  }
  assert.equal(message(await d.api('GET', '/v1.41/images/BusyBox/json')), 'invalid reference format: repository name must be lowercase');
  for (const ref of ['nosuch', 'nosuch:1', `busybox@sha256:${'a'.repeat(64)}`]) {
    const r = await d.api('GET', `/v1.41/images/${encodeURIComponent(ref)}/json`);
    assert.equal(r.status, 404, ref);
  }
  const cli = await d.cli(['run', '--rm', 'BusyBox', 'true']);
  assert.equal(cli.code, 125);
  assert.match(cli.stderr, /invalid reference format: repository name must be lowercase/);
});

test('daemon.json cpu-rt-period/cpu-rt-runtime give the containers\' cgroup parent its real-time budget (dockerd\'s, iSulad\'s cpu_rt.sh); update checks its own parent\'s', { skip: !existsSync('/sys/fs/cgroup/cpu/cpu.rt_runtime_us') && 'needs cgroup v1 real-time files' }, async () => {
  const parent = `tsula-rt-${process.pid}`;
  const rt = await TestDaemon.create({ configJson: { 'cpu-rt-period': 1000000, 'cpu-rt-runtime': 950000 } });
  try {
    await rt.loadBusybox();
    // without the daemon's budget a fresh parent grants none: refused at create
    const bare = await d.cli(['run', '-d', '--cgroup-parent', `/${parent}-none`, '--cpu-rt-runtime', '10000', 'busybox', 'true']);
    assert.notEqual(bare.code, 0);
    assert.match(bare.stderr, /grants 0µs of real-time runtime/);
    const id = (await rt.ok(['run', '-d', '--cgroup-parent', `/${parent}`, '--cpu-rt-period', '1000000', '--cpu-rt-runtime', '900000', 'busybox', 'sleep', '300'])).trim();
    const dir = `/sys/fs/cgroup/cpu/${parent}`;
    assert.equal((await fs.readFile(`${dir}/cpu.rt_runtime_us`, 'utf8')).trim(), '950000');
    await rt.ok(['update', '--cpu-rt-runtime', '800000', id]);
    assert.equal((await fs.readFile(`${dir}/${id}/cpu.rt_runtime_us`, 'utf8')).trim(), '800000');
    assert.equal((await fs.readFile(`${dir}/${id}/cpu.rt_period_us`, 'utf8')).trim(), '1000000');
    await rt.ok(['rm', '-f', id]);
  } finally {
    await rt.destroy();
    // runc made the parent in every hierarchy
    for (const ctl of await fs.readdir('/sys/fs/cgroup')) {
      for (const p of [`${parent}-none`, parent]) await fs.rmdir(`/sys/fs/cgroup/${ctl}/${p}`).catch(() => undefined);
    }
  }
});
