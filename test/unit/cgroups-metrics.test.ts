// The Task API's cgroups Metrics: what tsula sends decodes back to the same usage, with the
// type URLs containerd registers (containerd's CRI and `ctr task metrics` look them up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary, create } from '@bufbuild/protobuf';
import { specCgroupPath, type CgroupUsage } from '../../src/cgroups/index.js';
import { METRICS_V1, METRICS_V2, fromMetricsAny, toMetricsAny } from '../../src/cgroups/metrics.js';
import { MetricsSchema as V2 } from '../../src/gen/github.com/containerd/cgroups/v2/stats/metrics_pb.js';
import { MetricsSchema as V1 } from '../../src/gen/github.com/containerd/cgroups/stats/v1/metrics_pb.js';
import { fromBinary } from '@bufbuild/protobuf';

const usage: CgroupUsage = {
  cpuNs: 1_234_567_000n,
  memory: { usage: 10_000_000n, workingSet: 8_000_000n, rss: 6_000_000n, pageFaults: 50n, majorPageFaults: 2n, limit: 64n << 20n },
  pids: { current: 3n, limit: 100n },
};

for (const version of [1, 2] as const) {
  test(`cgroup v${version}: usage → Metrics → usage`, () => {
    const a = toMetricsAny(version, usage);
    assert.equal(a.typeUrl, version === 2 ? METRICS_V2 : METRICS_V1);
    const back = fromMetricsAny(a);
    assert.equal(back?.version, version);
    assert.deepEqual(back?.usage, usage);
  });
}

test('v2 Metrics as containerd-shim-runc-v2 fills them: working set = usage − inactive_file, "max" is no limit', () => {
  const value = toBinary(V2, create(V2, {
    cpu: { usageUsec: 2000n },
    memory: { usage: 5000n, inactiveFile: 1000n, anon: 3000n, usageLimit: 0x7ffffffffffff000n },
    pids: { current: 1n, limit: 0n },
  }));
  const m = fromMetricsAny({ typeUrl: METRICS_V2, value });
  assert.equal(m?.usage.cpuNs, 2_000_000n);
  assert.equal(m?.usage.memory?.workingSet, 4000n);
  assert.equal(m?.usage.memory?.limit, undefined);
  assert.deepEqual(m?.usage.pids, { current: 1n });
});

test('another type in the Any is not read as Metrics', () => {
  assert.equal(fromMetricsAny({ typeUrl: 'types.containerd.io/whatever', value: new Uint8Array() }), null);
});

test("a spec's cgroupsPath as runc's cgroupfs driver places it", () => {
  assert.equal(specCgroupPath('/tsula/abc', 'abc'), '/tsula/abc');
  assert.equal(specCgroupPath(undefined, 'abc'), '/abc');
  assert.equal(specCgroupPath('system.slice:tsula:abc', 'abc'), null);
});

test('with the detail counters, Metrics carry what containerd-shim-runc-v2 fills: per-CPU and user/kernel time, throttling, memory.stat', () => {
  const detail = {
    cpuUserNs: 7_000_000n, cpuSystemNs: 3_000_000n, perCpuNs: [600n, 400n], throttling: { periods: 9n, throttledPeriods: 2n, throttledNs: 5000n },
    memoryStat: { cache: 4096n, rss: 8192n, total_rss: 9000n, pgpgin: 11n, total_pgmajfault: 3n, hierarchical_memsw_limit: 77n, anon: 5n, unknown_counter: 1n },
    memoryMaxUsage: 123n, memoryFailcnt: 4n,
  };
  const v1 = fromBinary(V1, toMetricsAny(1, { ...usage, detail }).value);
  assert.deepEqual([v1.cpu?.usage?.total, v1.cpu?.usage?.user, v1.cpu?.usage?.kernel, v1.cpu?.usage?.perCpu], [1_234_567_000n, 7_000_000n, 3_000_000n, [600n, 400n]]);
  assert.deepEqual([v1.cpu?.throttling?.periods, v1.cpu?.throttling?.throttledPeriods, v1.cpu?.throttling?.throttledTime], [9n, 2n, 5000n]);
  const m = v1.memory!;
  assert.deepEqual([m.cache, m.rss, m.totalRss, m.pgPgIn, m.totalPgMajFault, m.hierarchicalSwapLimit], [4096n, 8192n, 9000n, 11n, 3n, 77n]);
  assert.deepEqual([m.usage?.usage, m.usage?.limit, m.usage?.max, m.usage?.failcnt], [10_000_000n, 64n << 20n, 123n, 4n]);
  const v2 = fromBinary(V2, toMetricsAny(2, { ...usage, detail: { ...detail, memoryStat: { anon: 5n, file: 6n, pgfault: 7n, workingset_refault: 8n } } }).value);
  assert.deepEqual([v2.cpu?.usageUsec, v2.cpu?.userUsec, v2.cpu?.systemUsec, v2.cpu?.nrThrottled], [1_234_567n, 7000n, 3000n, 2n]);
  assert.deepEqual([v2.memory?.anon, v2.memory?.file, v2.memory?.pgfault, v2.memory?.workingsetRefault, v2.memory?.usage], [5n, 6n, 7n, 8n, 10_000_000n]);
  // v1's memsw and kmem entries go as they are (swap's usage is memory + swap, as runc-v2's)
  const entries = { swap: { usage: 5n, max: 6n, failcnt: 0n, limit: 7n }, kernel: { usage: 1n, max: 2n, failcnt: 3n, limit: 4n }, kernelTcp: { usage: 0n, max: 0n, failcnt: 0n, limit: 9n } };
  const e = fromBinary(V1, toMetricsAny(1, { ...usage, detail: { ...detail, memoryV1Entries: entries } }).value).memory!;
  assert.deepEqual([e.swap?.usage, e.swap?.max, e.swap?.limit, e.kernel?.usage, e.kernel?.failcnt, e.kernelTcp?.limit], [5n, 6n, 7n, 1n, 3n, 9n]);
  // and back: the same usage (the detail is not part of the round trip)
  assert.deepEqual(fromMetricsAny(toMetricsAny(1, { ...usage, detail }))?.usage.cpuNs, usage.cpuNs);
});

