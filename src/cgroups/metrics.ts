// A cgroup's usage as containerd's Task API carries it: io.containerd.cgroups.v1.Metrics or
// .v2.Metrics (github.com/containerd/cgroups) in StatsResponse's Any, with the bare message
// name as type URL, as containerd-shim-runc-v2 sends it and containerd's CRI reads it.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { DescMessage } from '@bufbuild/protobuf';
import { MetricsSchema as V1Schema, MemoryStatSchema as V1MemoryStatSchema } from '../gen/github.com/containerd/cgroups/stats/v1/metrics_pb.js';
import { MetricsSchema as V2Schema, MemoryStatSchema as V2MemoryStatSchema } from '../gen/github.com/containerd/cgroups/v2/stats/metrics_pb.js';
import type { CgroupDetail, CgroupStats, CgroupUsage, CgroupVersion } from './usage.js';

export const METRICS_V1 = 'io.containerd.cgroups.v1.Metrics';
export const METRICS_V2 = 'io.containerd.cgroups.v2.Metrics';

export interface MetricsAny { typeUrl: string; value: Uint8Array }

/** "No limit" as the kernel reports it and containerd passes it on: v1's page-rounded LLONG_MAX, v2's "max" as 2^64−1. */
const NO_LIMIT_V1 = 0x7ffffffffffff000n;
const NO_LIMIT_V2 = (1n << 64n) - 1n;

/**
 * What the reader saw, in the Metrics of the host's cgroup version; with the reader's
 * `detail` also what containerd-shim-runc-v2 fills besides (user/kernel and per-CPU time,
 * throttling, every memory.stat counter: `ctr task metrics` shows some of them).
 */
export function toMetricsAny(version: CgroupVersion, u: CgroupUsage): MetricsAny {
  const m = u.memory;
  const d = u.detail;
  const inactiveFile = m ? m.usage - m.workingSet : 0n;
  if (version === 2) {
    const msg = create(V2Schema, {
      ...(u.cpuNs !== undefined ? {
        cpu: {
          usageUsec: u.cpuNs / 1000n,
          ...(d ? { userUsec: (d.cpuUserNs ?? 0n) / 1000n, systemUsec: (d.cpuSystemNs ?? 0n) / 1000n } : {}),
          ...(d?.throttling ? { nrPeriods: d.throttling.periods, nrThrottled: d.throttling.throttledPeriods, throttledUsec: d.throttling.throttledNs / 1000n } : {}),
        },
      } : {}),
      ...(m ? {
        memory: {
          anon: m.rss, inactiveFile, pgfault: m.pageFaults, pgmajfault: m.majorPageFaults,
          ...statFields(V2MemoryStatSchema, d?.memoryStat, (k) => k),
          usage: m.usage, usageLimit: m.limit ?? NO_LIMIT_V2, swapUsage: m.swapUsage ?? 0n, swapLimit: m.swapLimit ?? NO_LIMIT_V2,
        },
      } : {}),
      ...(u.pids ? { pids: { current: u.pids.current, limit: u.pids.limit ?? 0n } } : {}),
    });
    return { typeUrl: METRICS_V2, value: toBinary(V2Schema, msg) };
  }
  const msg = create(V1Schema, {
    ...(u.cpuNs !== undefined ? {
      cpu: {
        usage: { total: u.cpuNs, ...(d ? { kernel: d.cpuSystemNs ?? 0n, user: d.cpuUserNs ?? 0n, perCpu: d.perCpuNs ?? [] } : {}) },
        ...(d?.throttling ? { throttling: { periods: d.throttling.periods, throttledPeriods: d.throttling.throttledPeriods, throttledTime: d.throttling.throttledNs } } : {}),
      },
    } : {}),
    ...(m ? {
      memory: {
        totalRss: m.rss, rss: m.rss, totalInactiveFile: inactiveFile, totalPgFault: m.pageFaults, totalPgMajFault: m.majorPageFaults,
        ...statFields(V1MemoryStatSchema, d?.memoryStat, v1StatName),
        usage: {
          usage: m.usage, limit: m.limit ?? NO_LIMIT_V1,
          ...(d?.memoryMaxUsage !== undefined ? { max: d.memoryMaxUsage } : {}), ...(d?.memoryFailcnt !== undefined ? { failcnt: d.memoryFailcnt } : {}),
        },
        // with the raw counters, memsw and kmem as containerd's cgroups has them (swap's usage is
        // memory + swap); else swap alone
        ...(d?.memoryV1Entries ? {
          ...(d.memoryV1Entries.swap ? { swap: d.memoryV1Entries.swap } : {}),
          ...(d.memoryV1Entries.kernel ? { kernel: d.memoryV1Entries.kernel } : {}),
          ...(d.memoryV1Entries.kernelTcp ? { kernelTcp: d.memoryV1Entries.kernelTcp } : {}),
        } : m.swapUsage !== undefined ? { swap: { usage: m.swapUsage, limit: m.swapLimit ?? NO_LIMIT_V1 } } : {}),
      },
    } : {}),
    ...(u.pids ? { pids: { current: u.pids.current, limit: u.pids.limit ?? 0n } } : {}),
    // with the raw counters, blkio (bytes per device and op; empty, not absent, when none) and
    // memory.oom_control, as runc-v2's Metrics have them
    ...(d ? { blkio: { ioServiceBytesRecursive: (d.io ?? []).map((x) => ({ op: x.op, major: BigInt(x.major), minor: BigInt(x.minor), value: x.value })) } } : {}),
    ...(d?.memoryOomControl ? { memoryOomControl: d.memoryOomControl } : {}),
  });
  return { typeUrl: METRICS_V1, value: toBinary(V1Schema, msg) };
}

/** v1's memory.stat spells the page counters pgpgin/pgfault, MemoryStat pg_pg_in/pg_fault. */
function v1StatName(key: string): string {
  return key.replace(/pgpg(in|out)$/, 'pg_pg_$1').replace(/pgmajfault$/, 'pg_maj_fault').replace(/pgfault$/, 'pg_fault')
    .replace(/^hierarchical_memsw_limit$/, 'hierarchical_swap_limit');
}

/** memory.stat's counters that MemoryStat has a scalar field for, by the field's name. */
function statFields(schema: DescMessage, stat: CgroupDetail['memoryStat'], name: (k: string) => string): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  if (!stat) return out;
  const fields = new Map(schema.fields.filter((f) => f.fieldKind === 'scalar').map((f) => [f.name, f.localName]));
  for (const [k, v] of Object.entries(stat)) {
    const local = fields.get(name(k));
    if (local) out[local] = v;
  }
  return out;
}

/** Back from either Metrics (a shim's or a guest agent's answer); null for another type. */
export function fromMetricsAny(a: MetricsAny): CgroupStats | null {
  const version: CgroupVersion | null = a.typeUrl.endsWith(METRICS_V2) ? 2 : a.typeUrl.endsWith(METRICS_V1) ? 1 : null;
  if (!version) return null;
  return { version, usage: usageOfMetrics(version, a.value) };
}

function usageOfMetrics(version: CgroupVersion, value: Uint8Array): CgroupUsage {
  const limit = (v: bigint) => (v > 0n && v < 1n << 62n ? v : undefined);
  if (version === 2) {
    const m = fromBinary(V2Schema, value);
    const mem = m.memory;
    return {
      ...(m.cpu ? { cpuNs: m.cpu.usageUsec * 1000n } : {}),
      ...(mem ? {
        memory: {
          usage: mem.usage, workingSet: mem.usage > mem.inactiveFile ? mem.usage - mem.inactiveFile : 0n, rss: mem.anon,
          pageFaults: mem.pgfault, majorPageFaults: mem.pgmajfault,
          ...(limit(mem.usageLimit) !== undefined ? { limit: mem.usageLimit } : {}),
          ...(mem.swapUsage ? { swapUsage: mem.swapUsage } : {}),
        },
      } : {}),
      ...(m.pids ? { pids: { current: m.pids.current, ...(limit(m.pids.limit) !== undefined ? { limit: m.pids.limit } : {}) } } : {}),
    };
  }
  const m = fromBinary(V1Schema, value);
  const mem = m.memory;
  const usage = mem?.usage?.usage ?? 0n;
  return {
    ...(m.cpu?.usage ? { cpuNs: m.cpu.usage.total } : {}),
    ...(mem ? {
      memory: {
        usage, workingSet: usage > mem.totalInactiveFile ? usage - mem.totalInactiveFile : 0n, rss: mem.totalRss,
        pageFaults: mem.totalPgFault, majorPageFaults: mem.totalPgMajFault,
        ...(limit(mem.usage?.limit ?? 0n) !== undefined ? { limit: mem.usage!.limit } : {}),
      },
    } : {}),
    ...(m.pids ? { pids: { current: m.pids.current, ...(limit(m.pids.limit) !== undefined ? { limit: m.pids.limit } : {}) } } : {}),
  };
}
