// The resource flags of `run`/`create` and `update` (docker's cli/command/container opts) and
// the HostConfig resource fields they become. The CLI checks syntax as docker's does; ranges
// are the daemon's to judge, so a raw API client gets the same answers.
import type { FlagSpec, Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { ramInBytes } from '../units.js';

const I = (long: string, desc: string, short?: string, dflt?: number): FlagSpec => ({ long, short, kind: 'int', desc, meta: 'int', dflt });
const B = (long: string, desc: string, short?: string): FlagSpec => ({ long, short, kind: 'string', desc, meta: 'bytes' });
const L = (long: string, desc: string): FlagSpec => ({ long, kind: 'list', desc, meta: 'list' });

/** Flags `docker update` has too. */
export const UPDATE_RESOURCE_FLAGS: FlagSpec[] = [
  { long: 'blkio-weight', kind: 'int', desc: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)', meta: 'uint16' },
  I('cpu-period', 'Limit CPU CFS (Completely Fair Scheduler) period'),
  I('cpu-quota', 'Limit CPU CFS (Completely Fair Scheduler) quota'),
  I('cpu-rt-period', 'Limit CPU real-time period in microseconds'),
  I('cpu-rt-runtime', 'Limit CPU real-time runtime in microseconds'),
  I('cpu-shares', 'CPU shares (relative weight)', 'c'),
  { long: 'cpus', kind: 'string', desc: 'Number of CPUs', meta: 'decimal' },
  { long: 'cpuset-cpus', kind: 'string', desc: 'CPUs in which to allow execution (0-3, 0,1)', meta: 'string' },
  { long: 'cpuset-mems', kind: 'string', desc: 'MEMs in which to allow execution (0-3, 0,1)', meta: 'string' },
  B('kernel-memory', 'Kernel memory limit'),
  B('memory', 'Memory limit', 'm'),
  B('memory-reservation', 'Memory soft limit'),
  B('memory-swap', "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
  I('pids-limit', 'Tune container pids limit (set -1 for unlimited)'),
];

/** run/create: the update flags and those only a new container takes. */
export const RESOURCE_FLAGS: FlagSpec[] = [
  ...UPDATE_RESOURCE_FLAGS,
  L('blkio-weight-device', 'Block IO weight (relative device weight)'),
  L('device-read-bps', 'Limit read rate (bytes per second) from a device'),
  L('device-read-iops', 'Limit read rate (IO per second) from a device'),
  L('device-write-bps', 'Limit write rate (bytes per second) to a device'),
  L('device-write-iops', 'Limit write rate (IO per second) to a device'),
  I('memory-swappiness', 'Tune container memory swappiness (0 to 100)', undefined, -1),
  { long: 'oom-kill-disable', kind: 'bool', desc: 'Disable OOM Killer' },
  I('oom-score-adj', "Tune host's OOM preferences (-1000 to 1000)"),
];

/** A size flag as docker's opts.MemBytes reads it (0 when not given; memory-swap's -1 kept). */
export function bytes(p: Parsed, flag: string, cmd: string): number {
  const v = p.str(flag);
  if (v === undefined || v === '') return 0;
  if (flag === 'memory-swap' && v === '-1') return -1;
  try {
    return ramInBytes(v);
  } catch {
    // pflag names a flag with a shorthand as "-m, --memory"
    throw new UsageError(`invalid argument "${v}" for "${flag === 'memory' ? '-m, --memory' : `--${flag}`}" flag: invalid size: '${v}'`, cmd);
  }
}

/**
 * docker's opts.ParseCPUs: --cpus is a big.Rat ("1.5", "3/2", "2e-1"), in nanoCPUs exactly
 * (a value finer than a nanoCPU is refused, not rounded).
 */
export function nanoCpus(v: string | undefined, cmd: string): number {
  if (v === undefined || v === '') return 0;
  const refuse = (why: string) => new UsageError(`invalid argument "${v}" for "--cpus" flag: ${why}`, cmd);
  let num: bigint;
  let den = 1n;
  const frac = /^([+-]?\d+)\/(\d+)$/.exec(v);
  if (frac) {
    num = BigInt(frac[1]!);
    den = BigInt(frac[2]!);
    if (den === 0n) throw refuse(`failed to parse ${v} as a rational number`);
  } else {
    const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(v);
    if (!m || (!m[2] && !m[3])) throw refuse(`failed to parse ${v} as a rational number`);
    const decimals = m[3] ?? '';
    const exp = Number(m[4] ?? 0) - decimals.length;
    num = BigInt(`${m[1]}${m[2] || '0'}${decimals}`);
    if (exp >= 0) num *= 10n ** BigInt(exp); else den = 10n ** BigInt(-exp);
  }
  const nano = num * 1_000_000_000n;
  if (nano % den !== 0n) throw refuse('value is too precise');
  return Number(nano / den);
}

/** DEVICE:VALUE lists, checked as docker's opts.Validate{WeightDevice,Throttle*Device} do. */
function devices<T>(p: Parsed, flag: string, cmd: string, value: (v: string, spec: string) => T): Array<{ Path: string } & T> {
  return p.list(flag).map((spec) => {
    const fail = (msg: string): never => { throw new UsageError(`invalid argument "${spec}" for "--${flag}" flag: ${msg}`, cmd); };
    const parts = spec.split(':');
    if (parts.length !== 2) fail(`bad format: ${spec}`);
    if (!parts[0]!.startsWith('/dev/')) fail(`bad format for device path: ${spec}`);
    try {
      return { Path: parts[0]!, ...value(parts[1]!, spec) };
    } catch (e) {
      return fail((e as Error).message);
    }
  });
}

function uint(s: string, max: number): number | null {
  if (!/^\d+$/.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= max ? n : null;
}

/** The HostConfig (create) or UpdateConfig (update) resource fields, as docker's CLI sends them. */
export function resourceFields(p: Parsed, cmd: string, forUpdate = false): Record<string, unknown> {
  const weight = p.num('blkio-weight') ?? 0;
  if (weight < 0 || weight > 65535) {
    throw new UsageError(`invalid argument "${weight}" for "--blkio-weight" flag: strconv.ParseUint: parsing "${weight}": value out of range`, cmd);
  }
  const out: Record<string, unknown> = {
    BlkioWeight: weight,
    CpuPeriod: p.num('cpu-period') ?? 0,
    CpuQuota: p.num('cpu-quota') ?? 0,
    CpuRealtimePeriod: p.num('cpu-rt-period') ?? 0,
    CpuRealtimeRuntime: p.num('cpu-rt-runtime') ?? 0,
    CpuShares: p.num('cpu-shares') ?? 0,
    NanoCpus: nanoCpus(p.str('cpus'), cmd),
    CpusetCpus: p.str('cpuset-cpus') ?? '',
    CpusetMems: p.str('cpuset-mems') ?? '',
    KernelMemory: bytes(p, 'kernel-memory', cmd),
    Memory: bytes(p, 'memory', cmd),
    MemoryReservation: bytes(p, 'memory-reservation', cmd),
    MemorySwap: bytes(p, 'memory-swap', cmd),
    // null when not given: 0 would mean "no limit" (and, to update, "remove the limit")
    PidsLimit: p.has('pids-limit') ? p.num('pids-limit') : null,
  };
  if (forUpdate) return out;
  const rateMsg = (spec: string, unit: boolean) => `invalid rate for device: ${spec}. The correct format is <device-path>:<number>${unit ? '[<unit>]' : ''}. Number must be a positive integer${unit ? '. Unit is optional and can be kb, mb, or gb' : ''}`;
  const bps = (v: string, spec: string) => {
    try { return { Rate: ramInBytes(v) }; } catch { throw new Error(rateMsg(spec, true)); }
  };
  const iops = (v: string, spec: string) => {
    const n = uint(v, Number.MAX_SAFE_INTEGER);
    if (n === null) throw new Error(rateMsg(spec, false));
    return { Rate: n };
  };
  return {
    ...out,
    BlkioWeightDevice: devices(p, 'blkio-weight-device', cmd, (v, spec) => {
      const w = uint(v, 65535);
      if (w === null || (w > 0 && (w < 10 || w > 1000))) throw new Error(`invalid weight for device: ${spec}`);
      return { Weight: w };
    }),
    BlkioDeviceReadBps: devices(p, 'device-read-bps', cmd, bps),
    BlkioDeviceWriteBps: devices(p, 'device-write-bps', cmd, bps),
    BlkioDeviceReadIOps: devices(p, 'device-read-iops', cmd, iops),
    BlkioDeviceWriteIOps: devices(p, 'device-write-iops', cmd, iops),
    MemorySwappiness: p.num('memory-swappiness') ?? -1,
    OomKillDisable: p.bool('oom-kill-disable'),
    OomScoreAdj: p.num('oom-score-adj') ?? 0,
  };
}
