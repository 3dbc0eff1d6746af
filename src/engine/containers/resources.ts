// HostConfig's resource fields (docker's container.Resources, plus OomScoreAdj): how a create
// or update body spells them, the checks dockerd makes (daemon_unix.go
// verifyPlatformContainerResources, runconfig validateResources) with its messages, the ones
// runc or the kernel would otherwise fail on at start, and their OCI form (linux.resources).
// Nothing is accepted and dropped: a value is refused (400), or discarded with a warning
// where dockerd does so because this kernel cannot apply it, or it reaches the spec.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as z from 'zod';
import { invalidArgument } from '../../common/errors.js';
import type { Zod } from '../../common/lazy-schema.js';
import type { LinuxBlockIO, LinuxCPU, LinuxDeviceCgroup, LinuxMemory, LinuxResources } from '../../oci/types.js';
import { parseUintList, uintListCovers, type SysInfo } from '../../oci/sysinfo.js';

/**
 * The resource fields of a create body's HostConfig and of an update body, for their schemas
 * (built on first use: common/lazy-schema.ts). Go decodes these into int64/uint16/uint64: a
 * JSON number outside that domain (1e20, 1.5) is the client's error there. Here the exact
 * domain is the doubles that are safe integers.
 */
export function resourceShape(z: Zod) {
  const int64 = z.number().refine(Number.isSafeInteger, 'must be an integer between -(2^53-1) and 2^53-1');
  const uint64 = z.number().refine((n) => Number.isSafeInteger(n) && n >= 0, 'must be an integer between 0 and 2^53-1');
  const uint16 = z.number().refine((n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'must be an integer between 0 and 65535');
  const weightDevice = z.object({ Path: z.string(), Weight: uint16 });
  const throttleDevice = z.object({ Path: z.string(), Rate: uint64 });
  return {
    CgroupParent: z.string().nullish(),
    CpuShares: int64.nullish(),
    CpuPeriod: int64.nullish(),
    CpuQuota: int64.nullish(),
    CpuRealtimePeriod: int64.nullish(),
    CpuRealtimeRuntime: int64.nullish(),
    CpusetCpus: z.string().nullish(),
    CpusetMems: z.string().nullish(),
    NanoCpus: int64.nullish(),
    CpuCount: int64.nullish(),
    CpuPercent: int64.nullish(),
    Memory: int64.nullish(),
    MemoryReservation: int64.nullish(),
    MemorySwap: int64.nullish(),
    MemorySwappiness: int64.nullish(),
    KernelMemory: int64.nullish(),
    KernelMemoryTCP: int64.nullish(),
    OomKillDisable: z.boolean().nullish(),
    PidsLimit: int64.nullish(),
    BlkioWeight: uint16.nullish(),
    BlkioWeightDevice: z.array(weightDevice).nullish(),
    BlkioDeviceReadBps: z.array(throttleDevice).nullish(),
    BlkioDeviceWriteBps: z.array(throttleDevice).nullish(),
    BlkioDeviceReadIOps: z.array(throttleDevice).nullish(),
    BlkioDeviceWriteIOps: z.array(throttleDevice).nullish(),
    IOMaximumIOps: uint64.nullish(),
    IOMaximumBandwidth: uint64.nullish(),
    Devices: z.array(z.unknown()).nullish(),
    DeviceCgroupRules: z.array(z.string()).nullish(),
    DeviceRequests: z.array(z.unknown()).nullish(),
  };
}
export type ResourceInput = z.infer<z.ZodObject<ReturnType<typeof resourceShape>>>;

export interface WeightDevice { Path: string; Weight: number }
export interface ThrottleDevice { Path: string; Rate: number }

/** As `docker inspect` shows them under HostConfig (with its zero values). */
export interface ResourceConfig {
  CgroupParent: string;
  CpuShares: number;
  CpuPeriod: number;
  CpuQuota: number;
  CpuRealtimePeriod: number;
  CpuRealtimeRuntime: number;
  CpusetCpus: string;
  CpusetMems: string;
  NanoCpus: number;
  CpuCount: number;
  CpuPercent: number;
  Memory: number;
  MemoryReservation: number;
  MemorySwap: number;
  MemorySwappiness: number | null;
  KernelMemory: number;
  KernelMemoryTCP: number;
  OomKillDisable: boolean;
  PidsLimit: number | null;
  BlkioWeight: number;
  BlkioWeightDevice: WeightDevice[] | null;
  BlkioDeviceReadBps: ThrottleDevice[] | null;
  BlkioDeviceWriteBps: ThrottleDevice[] | null;
  BlkioDeviceReadIOps: ThrottleDevice[] | null;
  BlkioDeviceWriteIOps: ThrottleDevice[] | null;
  IOMaximumIOps: number;
  IOMaximumBandwidth: number;
  Devices: unknown[] | null;
  DeviceCgroupRules: string[] | null;
  DeviceRequests: unknown[] | null;
  OomScoreAdj: number;
}

export const RESOURCE_DEFAULTS: Readonly<ResourceConfig> = {
  CgroupParent: '', CpuShares: 0, CpuPeriod: 0, CpuQuota: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0,
  CpusetCpus: '', CpusetMems: '', NanoCpus: 0, CpuCount: 0, CpuPercent: 0, Memory: 0, MemoryReservation: 0,
  MemorySwap: 0, MemorySwappiness: null, KernelMemory: 0, KernelMemoryTCP: 0, OomKillDisable: false, PidsLimit: null,
  BlkioWeight: 0, BlkioWeightDevice: null, BlkioDeviceReadBps: null, BlkioDeviceWriteBps: null,
  BlkioDeviceReadIOps: null, BlkioDeviceWriteIOps: null, IOMaximumIOps: 0, IOMaximumBandwidth: 0,
  Devices: null, DeviceCgroupRules: null, DeviceRequests: null, OomScoreAdj: 0,
};

const MIN_MEMORY = 6 * 1024 * 1024; // dockerd's linuxMinMemory
const MIN_SHARES = 2; // the kernel's range (cgroup v1 cpu.shares); runc refuses a clamped value
const MAX_SHARES = 262144;
const PIDS_MAX = 4194304; // PID_MAX_LIMIT: pids.max refuses more

/** The fields given, over docker's zero values. */
export function resourcesOf(hc: ResourceInput & { OomScoreAdj?: number | null }): ResourceConfig {
  const r: ResourceConfig = { ...RESOURCE_DEFAULTS };
  for (const k of Object.keys(RESOURCE_DEFAULTS) as Array<keyof ResourceConfig>) {
    const v = (hc as Record<string, unknown>)[k];
    if (v !== undefined && v !== null) (r as unknown as Record<string, unknown>)[k] = v;
  }
  return r;
}

/** A create body's resource fields with docker's defaults filled in (adaptContainerSettings). */
export function resourcesFromBody(hc: ResourceInput & { OomScoreAdj?: number | null }): ResourceConfig {
  const r = resourcesOf(hc);
  // dockerd: the swap limit defaults to twice the memory limit; no PidsLimit at 0 or below
  if (r.Memory > 0 && r.MemorySwap === 0) r.MemorySwap = r.Memory * 2;
  if (r.PidsLimit !== null && r.PidsLimit <= 0) r.PidsLimit = null;
  return r;
}

/**
 * dockerd's checks, in its order, with its messages; plus the ranges runc and the kernel
 * enforce, so that a value is refused at create rather than failing the start. Adjusts r as
 * dockerd does (swappiness -1 is unset; what this kernel cannot do is discarded) and returns
 * the warnings. `update`: the request of POST /update, where Memory may come alone.
 */
export function verifyResources(r: ResourceConfig, sys: SysInfo, o: { update?: boolean; canLowerOomScore?: boolean } = {}): string[] {
  const w: string[] = [];
  const bad = (msg: string): never => { throw invalidArgument(msg); };
  if (r.MemorySwappiness === -1) r.MemorySwappiness = null;
  // memory
  if (r.Memory !== 0 && r.Memory < MIN_MEMORY) bad('Minimum memory limit allowed is 6MB');
  if (r.Memory > 0 && !sys.memoryLimit) {
    w.push('Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.');
    r.Memory = 0;
    r.MemorySwap = -1;
  }
  if (r.Memory > 0 && r.MemorySwap !== -1 && !sys.swapLimit) {
    w.push('Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.');
    r.MemorySwap = -1;
  }
  if (r.Memory > 0 && r.MemorySwap > 0 && r.MemorySwap < r.Memory) bad('Minimum memoryswap limit should be larger than memory limit, see usage');
  if (r.Memory === 0 && r.MemorySwap > 0 && !o.update) bad('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (r.MemorySwap < -1) bad(`Invalid value: ${r.MemorySwap}, MemorySwap must be -1 (unlimited) or a limit in bytes`);
  if (r.MemorySwappiness !== null && !sys.memorySwappiness) {
    w.push('Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.');
    r.MemorySwappiness = null;
  }
  if (r.MemorySwappiness !== null && (r.MemorySwappiness < 0 || r.MemorySwappiness > 100)) {
    bad(`Invalid value: ${r.MemorySwappiness}, valid memory swappiness range is 0-100`);
  }
  if (r.MemoryReservation > 0 && !sys.memoryReservation) {
    w.push('Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.');
    r.MemoryReservation = 0;
  }
  if (r.MemoryReservation !== 0 && r.MemoryReservation < MIN_MEMORY) bad('Minimum memory reservation allowed is 6MB');
  if (r.Memory > 0 && r.MemoryReservation > 0 && r.Memory < r.MemoryReservation) {
    bad('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  for (const [k, v] of [['KernelMemory', r.KernelMemory], ['KernelMemoryTCP', r.KernelMemoryTCP]] as const) {
    if (v === 0) continue;
    if (v < MIN_MEMORY) bad(k === 'KernelMemory' ? 'Minimum kernel memory limit allowed is 6MB' : 'Minimum kernel TCP memory limit allowed is 6MB');
    if (!(k === 'KernelMemory' ? sys.kernelMemory : sys.kernelMemoryTCP)) {
      w.push(`Your kernel does not support ${k === 'KernelMemory' ? 'kernel memory' : 'kernel TCP memory'} limit capabilities or the cgroup is not mounted. Limitation discarded.`);
      r[k] = 0;
    } else {
      w.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
    }
  }
  if (r.OomKillDisable && !sys.oomKillDisable) {
    w.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
    r.OomKillDisable = false;
  }
  if (r.OomKillDisable && r.Memory === 0) {
    w.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  if (r.PidsLimit !== null && r.PidsLimit > 0 && !sys.pidsLimit) {
    w.push('Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.');
    r.PidsLimit = null;
  }
  if (r.PidsLimit !== null && r.PidsLimit > PIDS_MAX) bad(`Invalid value: ${r.PidsLimit}, the PIDs limit (PidsLimit) can not be larger than ${PIDS_MAX}`);
  // cpu
  if (r.NanoCpus > 0 && r.CpuPeriod > 0) bad('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  if (r.NanoCpus > 0 && r.CpuQuota > 0) bad('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  if (r.NanoCpus > 0 && !sys.cpuCfs) bad('NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted');
  if (r.NanoCpus < 0 || r.NanoCpus > sys.numCpu * 1e9) {
    bad(`Range of CPUs is from 0.01 to ${sys.numCpu}.00, as there are only ${sys.numCpu} CPUs available`);
  }
  if (r.CpuShares < 0) bad(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  if (r.CpuShares > 0 && !sys.cpuShares) {
    w.push('Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.');
    r.CpuShares = 0;
  }
  if (r.CpuShares !== 0 && (r.CpuShares < MIN_SHARES || r.CpuShares > MAX_SHARES)) {
    // runc's words, which dockerd passes on (on cgroup v1) and clients match
    bad(r.CpuShares < MIN_SHARES ? `invalid CPU shares (${r.CpuShares}): The minimum allowed cpu-shares is ${MIN_SHARES}`
      : `invalid CPU shares (${r.CpuShares}): The maximum allowed cpu-shares is ${MAX_SHARES}`);
  }
  if ((r.CpuPeriod !== 0 || r.CpuQuota !== 0) && !sys.cpuCfs) {
    w.push('Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.');
    r.CpuPeriod = 0;
    r.CpuQuota = 0;
  }
  if (r.CpuPeriod !== 0 && (r.CpuPeriod < 1000 || r.CpuPeriod > 1000000)) {
    bad('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (r.CpuQuota > 0 && r.CpuQuota < 1000) bad('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (r.CpuQuota < -1) bad(`Invalid value: ${r.CpuQuota}, CPU cfs quota must be -1 (unlimited) or at least 1000`);
  if (r.CpuPercent > 0) {
    w.push('linux does not support CPU percent. Percent discarded.');
    r.CpuPercent = 0;
  }
  if (r.CpuCount > 0) {
    w.push('linux does not support CPU count. Count discarded.');
    r.CpuCount = 0;
  }
  verifyRealtime(r, sys);
  // cpuset
  if ((r.CpusetCpus !== '' || r.CpusetMems !== '') && !sys.cpuset) {
    w.push('Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.');
    r.CpusetCpus = '';
    r.CpusetMems = '';
  }
  for (const [v, what, avail, label] of [[r.CpusetCpus, 'cpus', sys.cpus, 'CPUs'], [r.CpusetMems, 'mems', sys.mems, 'memory nodes']] as const) {
    const list = parseUintList(v);
    if (!list) bad(`Invalid value ${v} for cpuset ${what}: invalid format: ${v}`);
    if (v !== '' && !uintListCovers(avail, list!)) bad(`Requested ${label} are not available - requested ${v}, available: ${avail}`);
  }
  // blkio
  if (r.BlkioWeight > 0 && !sys.blkioWeight) {
    w.push('Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.');
    r.BlkioWeight = 0;
  }
  if (r.BlkioWeight > 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000)) bad('Range of blkio weight is from 10 to 1000');
  if (r.IOMaximumBandwidth !== 0 || r.IOMaximumIOps !== 0) {
    bad('Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps');
  }
  if (r.BlkioWeightDevice?.length && !sys.blkioWeightDevice) {
    w.push('Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.');
    r.BlkioWeightDevice = [];
  }
  for (const d of r.BlkioWeightDevice ?? []) {
    if (d.Weight !== 0 && (d.Weight < 10 || d.Weight > 1000)) bad(`invalid weight for device: ${d.Path}:${d.Weight}: the range of blkio weight is from 10 to 1000`);
  }
  const throttles = ['BlkioDeviceReadBps', 'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps'] as const;
  for (const k of throttles) {
    if (r[k]?.length && !sys.blkioThrottle) {
      w.push(`Your kernel does not support ${k} (blkio throttling) or the cgroup is not mounted. ${k} discarded.`);
      r[k] = [];
    }
  }
  // (HostConfig.Devices are the engine's devices: api/docker-runopts.ts)
  for (const rule of r.DeviceCgroupRules ?? []) if (!DEVICE_RULE.test(rule)) bad(`invalid device cgroup rule format: '${rule}'`);
  if (r.DeviceRequests?.length) bad('HostConfig.DeviceRequests: device requests (--gpus) are not supported by tsula yet');
  if (r.CgroupParent.includes('\0')) bad(`invalid CgroupParent ${JSON.stringify(r.CgroupParent)}`);
  // ".." never leads out of the cgroup root: cleaned from "/" (moby's TestRunInvalidCgroupParent:
  // ../../x is the cgroup /x)
  if (r.CgroupParent.split('/').includes('..')) r.CgroupParent = path.posix.join('/', r.CgroupParent);
  // HostConfig.OomScoreAdj (verifyPlatformContainerSettings)
  if (r.OomScoreAdj < -1000 || r.OomScoreAdj > 1000) bad(`Invalid value ${r.OomScoreAdj}, range for oom score adj is [-1000, 1000]`);
  if (r.OomScoreAdj !== 0 && r.OomScoreAdj < sys.oomScoreAdj && !o.canLowerOomScore) {
    // runc would write it to /proc/self/oom_score_adj and fail with EACCES at start
    bad(`Invalid value ${r.OomScoreAdj} for OomScoreAdj: tsulad runs with oom_score_adj ${sys.oomScoreAdj} and lacks CAP_SYS_RESOURCE, so a container can not go below ${sys.oomScoreAdj}`);
  }
  return w;
}

function verifyRealtime(r: ResourceConfig, sys: SysInfo): void {
  const { CpuRealtimePeriod: period, CpuRealtimeRuntime: runtime } = r;
  if (period === 0 && runtime === 0) return;
  if (!sys.cpuRealtime) throw invalidArgument('Your kernel does not support CPU real-time scheduler');
  if (period !== 0 && runtime !== 0 && runtime > period) throw invalidArgument('cpu real-time runtime cannot be higher than cpu real-time period');
  if (period < 0 || runtime < -1) throw invalidArgument(`Invalid value: CpuRealtimePeriod ${period}, CpuRealtimeRuntime ${runtime}: both must be positive`);
  // a child cgroup may not ask for a larger share of real time than its parent grants (the
  // kernel's EINVAL at start); the parent is created with none unless an admin gives it some.
  // A relative CgroupParent is runc's to resolve: not checked here.
  if (runtime > 0 && (r.CgroupParent === '' || r.CgroupParent.startsWith('/'))) {
    const p = sys.rtParent;
    const childPeriod = period || p?.period || 1000000;
    if (!p || p.runtime === 0 || (p.runtime > 0 && runtime / childPeriod > p.runtime / p.period)) {
      const where = p?.path ?? `the parent cgroup ${r.CgroupParent || '/tsula'}`;
      throw invalidArgument(`Invalid value ${runtime} for CpuRealtimeRuntime: ${where} grants ${p ? p.runtime : 0}µs of real-time runtime per ${p?.period ?? 1000000}µs; raise its cpu.rt_runtime_us first`);
    }
  }
}

/** Host block devices named by the blkio lists must exist and be block devices. */
export async function checkBlkioDevices(r: ResourceConfig): Promise<void> {
  await deviceNumbers(r);
}

async function deviceNumbers(r: ResourceConfig): Promise<Map<string, { major: number; minor: number }>> {
  const out = new Map<string, { major: number; minor: number }>();
  const lists: Array<[string, Array<{ Path: string }> | null]> = [
    ['BlkioWeightDevice', r.BlkioWeightDevice], ['BlkioDeviceReadBps', r.BlkioDeviceReadBps],
    ['BlkioDeviceWriteBps', r.BlkioDeviceWriteBps], ['BlkioDeviceReadIOps', r.BlkioDeviceReadIOps],
    ['BlkioDeviceWriteIOps', r.BlkioDeviceWriteIOps],
  ];
  for (const [field, list] of lists) {
    for (const { Path: p } of list ?? []) {
      if (out.has(p)) continue;
      if (!path.isAbsolute(p)) throw invalidArgument(`${field}: ${p} is not an absolute path`);
      const st = await fs.stat(p, { bigint: true }).catch(() => null);
      if (!st) throw invalidArgument(`${field}: no such device: ${p}`);
      if (!st.isBlockDevice()) throw invalidArgument(`${field}: ${p} is not a block device`);
      // glibc's gnu_dev_major/minor
      const dev = st.rdev;
      const major = Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
      const minor = Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
      out.set(p, { major, minor });
    }
  }
  return out;
}

/** dockerd's deviceCgroupRuleRegex: "c 10:229 rwm", "b *:* m". */
const DEVICE_RULE = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/;

/** --device-cgroup-rule's rules as the spec's device cgroup entries (checked at create). */
export function deviceCgroupRules(rules: string[]): LinuxDeviceCgroup[] {
  return rules.map((rule) => {
    const [, type, major, minor, access] = DEVICE_RULE.exec(rule) ?? [];
    if (!type) throw invalidArgument(`invalid device cgroup rule format: '${rule}'`);
    return { allow: true, type, ...(major !== '*' ? { major: Number(major) } : {}), ...(minor !== '*' ? { minor: Number(minor) } : {}), access };
  });
}

/** The OCI form of the limits (devices rules are the spec builder's). */
export async function ociResources(r: ResourceConfig): Promise<Omit<LinuxResources, 'devices'>> {
  const out: Omit<LinuxResources, 'devices'> = {};
  const cpu: LinuxCPU = {};
  if (r.CpuShares) cpu.shares = r.CpuShares;
  if (r.NanoCpus > 0) {
    // docker's fixed 100 ms period for --cpus
    cpu.period = 100000;
    cpu.quota = Math.floor((r.NanoCpus * cpu.period) / 1e9);
  } else {
    if (r.CpuPeriod) cpu.period = r.CpuPeriod;
    if (r.CpuQuota) cpu.quota = r.CpuQuota;
  }
  if (r.CpuRealtimePeriod) cpu.realtimePeriod = r.CpuRealtimePeriod;
  if (r.CpuRealtimeRuntime) cpu.realtimeRuntime = r.CpuRealtimeRuntime;
  if (r.CpusetCpus) cpu.cpus = r.CpusetCpus;
  if (r.CpusetMems) cpu.mems = r.CpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;
  const mem: LinuxMemory = {};
  if (r.Memory) mem.limit = r.Memory;
  if (r.MemoryReservation) mem.reservation = r.MemoryReservation;
  if (r.MemorySwap && r.Memory) mem.swap = r.MemorySwap;
  if (r.MemorySwappiness !== null) mem.swappiness = r.MemorySwappiness;
  if (r.KernelMemory) mem.kernel = r.KernelMemory;
  if (r.KernelMemoryTCP) mem.kernelTCP = r.KernelMemoryTCP;
  if (r.OomKillDisable) mem.disableOOMKiller = true;
  if (Object.keys(mem).length) out.memory = mem;
  if (r.PidsLimit !== null && r.PidsLimit > 0) out.pids = { limit: r.PidsLimit };
  const devs = await deviceNumbers(r);
  const num = (p: string) => devs.get(p)!;
  const bio: LinuxBlockIO = {};
  if (r.BlkioWeight) bio.weight = r.BlkioWeight;
  if (r.BlkioWeightDevice?.length) bio.weightDevice = r.BlkioWeightDevice.map((d) => ({ ...num(d.Path), weight: d.Weight }));
  const throttle = (l: ThrottleDevice[] | null) => (l?.length ? l.map((d) => ({ ...num(d.Path), rate: d.Rate })) : undefined);
  const t = {
    throttleReadBpsDevice: throttle(r.BlkioDeviceReadBps), throttleWriteBpsDevice: throttle(r.BlkioDeviceWriteBps),
    throttleReadIOPSDevice: throttle(r.BlkioDeviceReadIOps), throttleWriteIOPSDevice: throttle(r.BlkioDeviceWriteIOps),
  };
  for (const [k, v] of Object.entries(t)) if (v) (bio as Record<string, unknown>)[k] = v;
  if (Object.keys(bio).length) out.blockIO = bio;
  return out;
}

/** The containers' cgroup: docker's cgroupfs layout, <parent>/<id>, /tsula by default. */
export function cgroupsPath(r: Pick<ResourceConfig, 'CgroupParent'>, id: string): string {
  return path.posix.join(r.CgroupParent || '/tsula', id);
}
