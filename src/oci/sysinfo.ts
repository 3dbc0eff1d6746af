// What this host's cgroups let runc limit (moby's pkg/sysinfo): which resource files exist,
// the CPUs and memory nodes a cpuset may name, the real-time budget the containers' parent
// cgroup grants, and how low this process may set an oom_score_adj. The engine refuses at
// create what runc would fail on at start, and discards with a warning (as dockerd does)
// what this kernel cannot do at all.
import { promises as fs } from 'node:fs';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';

export interface SysInfo {
  cgroupVersion: 1 | 2;
  memoryLimit: boolean;
  swapLimit: boolean;
  memoryReservation: boolean;
  memorySwappiness: boolean;
  kernelMemory: boolean;
  kernelMemoryTCP: boolean;
  oomKillDisable: boolean;
  cpuShares: boolean;
  cpuCfs: boolean;
  cpuRealtime: boolean;
  cpuset: boolean;
  pidsLimit: boolean;
  blkioWeight: boolean;
  blkioWeightDevice: boolean;
  blkioThrottle: boolean;
  /** CPUs this process may run on (docker's NumCPU: the affinity mask). */
  numCpu: number;
  /** cpuset lists a container may ask for ("0-1"); "" when unknown. */
  cpus: string;
  mems: string;
  /**
   * Real-time runtime and period (µs) of the cgroup the containers go under (cgroup v1);
   * a child may not ask for a larger share. Null when that cgroup does not exist yet: the
   * kernel then creates it with a runtime of 0.
   */
  rtParent: { path: string; runtime: number; period: number } | null;
  /** This process' oom_score_adj; without CAP_SYS_RESOURCE no child may go below it. */
  oomScoreAdj: number;
}

export interface SysInfoOptions {
  /** cgroup mount root. */
  root?: string;
  /** Parent cgroup of containers, from a hierarchy's root ("tsula", "/mine"). */
  parent?: string;
  /** /proc/self/oom_score_adj or a stand-in. */
  oomScoreAdjFile?: string;
}

const has = (p: string) => fs.access(p).then(() => true, () => false);
const readText = (p: string) => fs.readFile(p, 'utf8').then((s) => s.trim(), () => '');

export async function readSysInfo(o: SysInfoOptions = {}): Promise<SysInfo> {
  const root = o.root ?? '/sys/fs/cgroup';
  const parent = (o.parent ?? 'tsula').replace(/^\/+/, '');
  const oomScoreAdj = Number(await readText(o.oomScoreAdjFile ?? '/proc/self/oom_score_adj')) || 0;
  const numCpu = availableParallelism();
  if (await has(path.join(root, 'cgroup.controllers'))) {
    // cgroup v2: what the root delegates (moby's sysinfo/cgroup2_linux.go)
    const ctl = new Set((await readText(path.join(root, 'cgroup.controllers'))).split(/\s+/));
    const mem = ctl.has('memory');
    const cpu = ctl.has('cpu');
    const io = ctl.has('io');
    return {
      cgroupVersion: 2, memoryLimit: mem, swapLimit: mem, memoryReservation: mem, memorySwappiness: false,
      kernelMemory: false, kernelMemoryTCP: false, oomKillDisable: false,
      cpuShares: cpu, cpuCfs: cpu, cpuRealtime: false, cpuset: ctl.has('cpuset'), pidsLimit: ctl.has('pids'),
      blkioWeight: io, blkioWeightDevice: io, blkioThrottle: io, numCpu,
      cpus: await readText(path.join(root, 'cpuset.cpus.effective')),
      mems: await readText(path.join(root, 'cpuset.mems.effective')),
      rtParent: null, oomScoreAdj,
    };
  }
  const v1 = (ctl: string, file: string) => has(path.join(root, ctl, file));
  const [memoryLimit, swapLimit, memoryReservation, memorySwappiness, kernelMemory, kernelMemoryTCP, oomKillDisable,
    cpuShares, cpuCfs, cpuRealtime, pidsLimit, bfqWeight, cfqWeight, bfqWeightDevice, cfqWeightDevice, blkioThrottle] = await Promise.all([
    v1('memory', 'memory.limit_in_bytes'), v1('memory', 'memory.memsw.limit_in_bytes'),
    v1('memory', 'memory.soft_limit_in_bytes'), v1('memory', 'memory.swappiness'),
    v1('memory', 'memory.kmem.limit_in_bytes'), v1('memory', 'memory.kmem.tcp.limit_in_bytes'),
    v1('memory', 'memory.oom_control'),
    v1('cpu', 'cpu.shares'), v1('cpu', 'cpu.cfs_quota_us'), v1('cpu', 'cpu.rt_runtime_us'), v1('pids', 'cgroup.procs'), // the root has no pids.max: mounted is enough
    v1('blkio', 'blkio.bfq.weight'), v1('blkio', 'blkio.weight'),
    v1('blkio', 'blkio.bfq.weight_device'), v1('blkio', 'blkio.weight_device'),
    v1('blkio', 'blkio.throttle.read_bps_device'),
  ]);
  let rtParent: SysInfo['rtParent'] = null;
  const rtDir = path.join(root, 'cpu', parent);
  if (cpuRealtime && await has(rtDir)) {
    rtParent = {
      path: rtDir,
      runtime: Number(await readText(path.join(rtDir, 'cpu.rt_runtime_us'))),
      period: Number(await readText(path.join(rtDir, 'cpu.rt_period_us'))),
    };
  }
  return {
    cgroupVersion: 1, memoryLimit, swapLimit, memoryReservation, memorySwappiness, kernelMemory, kernelMemoryTCP,
    oomKillDisable, cpuShares, cpuCfs, cpuRealtime, cpuset: await has(path.join(root, 'cpuset', 'cpuset.cpus')),
    pidsLimit, blkioWeight: bfqWeight || cfqWeight, blkioWeightDevice: bfqWeightDevice || cfqWeightDevice, blkioThrottle,
    numCpu,
    cpus: await readText(path.join(root, 'cpuset', 'cpuset.cpus')),
    mems: await readText(path.join(root, 'cpuset', 'cpuset.mems')),
    rtParent, oomScoreAdj,
  };
}

/**
 * A cpuset list ("0-3,5") as ranges: docker's parsers.ParseUintList, which refuses empty
 * parts, reversed ranges and anything but digits. Null when malformed.
 */
export function parseUintList(val: string): Array<[number, number]> | null {
  if (val === '') return [];
  const out: Array<[number, number]> = [];
  for (const part of val.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return null;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (!Number.isSafeInteger(hi) || hi < lo) return null;
    out.push([lo, hi]);
  }
  return out;
}

/** Does the list `available` ("0-1") hold every number `requested` names? */
export function uintListCovers(available: string, requested: Array<[number, number]>): boolean {
  const have = parseUintList(available);
  if (!have) return false;
  return requested.every(([lo, hi]) => {
    // walk the requested range from one available range to the next
    for (let i = lo; i <= hi;) {
      const r = have.find(([a, b]) => i >= a && i <= b);
      if (!r) return false;
      i = r[1] + 1;
    }
    return true;
  });
}
