// The Task API's cgroups Metrics: what tsula sends decodes back to the same usage, with the
// type URLs containerd registers (containerd's CRI and `ctr task metrics` look them up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { toBinary, create } from '@bufbuild/protobuf';
import { specCgroupPath, type CgroupUsage } from '../../src/cgroups/index.js';
import { METRICS_V1, METRICS_V2, fromMetricsAny, toMetricsAny } from '../../src/cgroups/metrics.js';
import { MetricsSchema as V2 } from '../../src/gen/github.com/containerd/cgroups/v2/stats/metrics_pb.js';

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
