// HostConfig resource fields: dockerd's checks and messages, what this kernel can't do
// discarded with a warning, and the OCI form, without a daemon (a made-up host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBodySchema as lazyCreateBody } from '../../src/engine/api/docker-model.js';
import { ociResources, resourcesFromBody, verifyResources, cgroupsPath, type ResourceConfig } from '../../src/engine/containers/resources.js';
import { parseUintList, uintListCovers, type SysInfo } from '../../src/oci/sysinfo.js';

const createBody = await lazyCreateBody();

const SYS: SysInfo = {
  cgroupVersion: 1, memoryLimit: true, swapLimit: true, memoryReservation: true, memorySwappiness: true,
  kernelMemory: true, kernelMemoryTCP: true, oomKillDisable: true, cpuShares: true, cpuCfs: true, cpuRealtime: true,
  cpuset: true, pidsLimit: true, blkioWeight: false, blkioWeightDevice: false, blkioThrottle: true,
  numCpu: 2, cpus: '0-1', mems: '0', rtParent: { path: '/sys/fs/cgroup/cpu/tsula', runtime: 0, period: 1000000 }, oomScoreAdj: 0,
};

function checked(hc: Record<string, unknown>, sys: Partial<SysInfo> = {}, o: { update?: boolean; canLowerOomScore?: boolean } = {}): { r: ResourceConfig; w: string[] } {
  const body = createBody.parse({ Image: 'busybox', HostConfig: hc });
  const r = resourcesFromBody(body.HostConfig ?? {});
  return { r, w: verifyResources(r, { ...SYS, ...sys }, o) };
}
const refused = (hc: Record<string, unknown>, re: RegExp, sys: Partial<SysInfo> = {}) =>
  assert.throws(() => checked(hc, sys), (e: Error) => re.test(e.message) && (e as { kind?: string }).kind === 'InvalidArgument', JSON.stringify(hc));

test('numbers outside the JSON integer domain are refused with the field named', () => {
  for (const [field, v] of [['CpuShares', 1e20], ['Memory', 1.5], ['BlkioWeight', 70000], ['BlkioWeight', -1], ['CpuShares', '512']] as const) {
    const p = createBody.safeParse({ Image: 'busybox', HostConfig: { [field]: v } });
    assert.equal(p.success, false, `${field}=${v}`);
    assert.deepEqual(p.error!.issues[0]!.path, ['HostConfig', field]);
  }
  for (const body of [[], 'x', 42, null, { Image: 'busybox', HostConfig: 'x' }]) assert.equal(createBody.safeParse(body).success, false);
});

test("dockerd's messages for out-of-range values", () => {
  refused({ CpuShares: 1000000 }, /invalid CPU shares \(1000000\): The maximum allowed cpu-shares is 262144/);
  refused({ CpuShares: 1 }, /The minimum allowed cpu-shares is 2/);
  refused({ CpuShares: -1 }, /invalid CPU shares \(-1\): value must be a positive integer/);
  refused({ CpuPeriod: 999 }, /CPU cfs period can not be less than 1ms/);
  refused({ CpuQuota: 500 }, /CPU cfs quota can not be less than 1ms/);
  refused({ NanoCpus: 3e9 }, /Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available/);
  refused({ NanoCpus: 1e9, CpuPeriod: 100000 }, /Nano CPUs and CPU Period cannot both be set/);
  refused({ NanoCpus: 1e9, CpuQuota: 50000 }, /Nano CPUs and CPU Quota cannot both be set/);
  refused({ CpusetCpus: '0-x' }, /Invalid value 0-x for cpuset cpus/);
  refused({ CpusetCpus: '3' }, /Requested CPUs are not available - requested 3, available: 0-1/);
  refused({ CpusetMems: '1' }, /Requested memory nodes are not available - requested 1, available: 0/);
  refused({ Memory: 1024 }, /Minimum memory limit allowed is 6MB/);
  refused({ Memory: -5 }, /Minimum memory limit allowed is 6MB/);
  refused({ Memory: 64 << 20, MemorySwap: 32 << 20 }, /Minimum memoryswap limit should be larger than memory limit/);
  refused({ MemorySwap: 64 << 20 }, /You should always set the Memory limit when using Memoryswap limit/);
  refused({ MemorySwappiness: 101 }, /Invalid value: 101, valid memory swappiness range is 0-100/);
  refused({ MemoryReservation: 1024 }, /Minimum memory reservation allowed is 6MB/);
  refused({ Memory: 64 << 20, MemoryReservation: 128 << 20 }, /can not be less than memory reservation limit/);
  refused({ KernelMemory: 1024 }, /Minimum kernel memory limit allowed is 6MB/);
  refused({ OomScoreAdj: 1001 }, /Invalid value 1001, range for oom score adj is \[-1000, 1000\]/);
  refused({ OomScoreAdj: -10 }, /tsulad runs with oom_score_adj 0 and lacks CAP_SYS_RESOURCE/);
  refused({ BlkioWeight: 5 }, /Range of blkio weight is from 10 to 1000/, { blkioWeight: true });
  refused({ IOMaximumIOps: 10 }, /linux does not support Maximum IO Bandwidth or Maximum IO IOps/);
  refused({ CpuRealtimePeriod: 1000, CpuRealtimeRuntime: 2000 }, /cpu real-time runtime cannot be higher than cpu real-time period/);
  refused({ CpuRealtimeRuntime: 1000 }, /\/sys\/fs\/cgroup\/cpu\/tsula grants 0µs of real-time runtime/);
  refused({ CpuRealtimeRuntime: 500000 }, /grants 100000µs/, { rtParent: { path: '/p', runtime: 100000, period: 1000000 } });
  assert.equal(checked({ CpuRealtimeRuntime: 10000 }, { rtParent: { path: '/p', runtime: 100000, period: 1000000 } }).r.CpuRealtimeRuntime, 10000);
  refused({ CpuRealtimeRuntime: 1000 }, /does not support CPU real-time scheduler/, { cpuRealtime: false });
  refused({ PidsLimit: 5000000 }, /PIDs limit/);
  // HostConfig.Devices are run options now (api/docker-runopts.ts): not a resource check
  // ".." is cleaned from "/" (moby's TestRunInvalidCgroupParent), never a way out of the cgroup root
  assert.equal(checked({ CgroupParent: '../../../x' }).r.CgroupParent, '/x');
  refused({ CgroupParent: 'a\0b' }, /CgroupParent/);
});

test('accepted values keep docker defaults and reach the OCI resources', async () => {
  const { r, w } = checked({
    CpuShares: 512, CpuPeriod: 50000, CpuQuota: 25000, CpusetCpus: '0-1', CpusetMems: '0', Memory: 64 << 20,
    MemoryReservation: 32 << 20, MemorySwappiness: 10, OomKillDisable: true, PidsLimit: 50, OomScoreAdj: 300,
  });
  assert.deepEqual(w, []);
  assert.equal(r.MemorySwap, 128 << 20, 'MemorySwap defaults to twice Memory');
  assert.deepEqual(await ociResources(r), {
    cpu: { shares: 512, period: 50000, quota: 25000, cpus: '0-1', mems: '0' },
    memory: { limit: 64 << 20, reservation: 32 << 20, swap: 128 << 20, swappiness: 10, disableOOMKiller: true },
    pids: { limit: 50 },
  });
  const n = checked({ NanoCpus: 1.5e9, MemorySwappiness: -1, PidsLimit: 0 }).r;
  assert.equal(n.MemorySwappiness, null, '-1 is unset');
  assert.equal(n.PidsLimit, null);
  assert.deepEqual(await ociResources(n), { cpu: { period: 100000, quota: 150000 } });
  assert.equal(checked({ OomScoreAdj: -10 }, {}, { canLowerOomScore: true }).r.OomScoreAdj, -10);
  assert.equal(cgroupsPath({ CgroupParent: '' }, 'abc'), '/tsula/abc');
  assert.equal(cgroupsPath({ CgroupParent: '/mine' }, 'abc'), '/mine/abc');
});

test('what this kernel cannot do is discarded with a warning, as dockerd does', () => {
  const { r, w } = checked({ BlkioWeight: 500, Memory: 64 << 20 }, { swapLimit: false });
  assert.equal(r.BlkioWeight, 0);
  assert.equal(r.MemorySwap, -1);
  assert.match(w.join('\n'), /Block I\/O weight/);
  assert.match(w.join('\n'), /swap limit/);
});

test('cpuset lists', () => {
  assert.deepEqual(parseUintList('0-2,5'), [[0, 2], [5, 5]]);
  for (const bad of ['1-0', 'a', '1,,2', '-1', '0-']) assert.equal(parseUintList(bad), null, bad);
  assert.equal(uintListCovers('0-1', parseUintList('0,1')!), true);
  assert.equal(uintListCovers('0-1', parseUintList('0-4294967295')!), false);
  assert.equal(uintListCovers('0-3,8-9', parseUintList('2-3,8')!), true);
});
