// Samples of containers and pods, as typed engine values (CRI's ContainerStats and
// PodSandboxStats are views of them; `docker stats` will be another). A host container is
// its cgroup, a container in a VM its guest cgroup (its runtime's Task Stats); a host pod is
// its cgroup_parent's cgroup when that exists, else the sum of its containers (containerd's
// way when there is no pod cgroup); a VM pod is its
// hypervisor's process. CPU rates (nano cores) are computed against the previous sample of
// the same container or pod, as containerd and cadvisor do, so the first sample says 0.
import type { Container } from '../containers/model.js';
import { running } from '../containers/model.js';
import { cgroupsPath } from '../containers/resources.js';
import type { PodRecord } from '../pods/record.js';
import { processCgroups, readCgroup, sumUsage, type CgroupLayout, type CgroupUsage, type MemoryUsage, type ProcessCgroups } from '../../cgroups/index.js';
import { DiskUsageCache, type CachedUsage } from './fsusage.js';
import { readNetns, readProcess, type InterfaceUsage } from './proc.js';

export interface CpuSample {
  timestamp: bigint;
  /** Cumulative CPU time, ns. */
  usageNs: bigint;
  /** The rate since the previous sample, in billionths of a core (0 for a first sample). */
  nanoCores: bigint;
}

export interface MemorySample extends MemoryUsage {
  timestamp: bigint;
  /** limit − working set, when there is a limit. */
  available?: bigint;
}

export interface ContainerSample {
  id: string;
  /** Absent: no cgroup to read (not running, or inside a VM). */
  cpu?: CpuSample;
  memory?: MemorySample;
  pids?: { timestamp: bigint; current: bigint; limit?: bigint };
  /** The container's own changes to its rootfs (the snapshot's writable dir). */
  writableLayer?: CachedUsage & { dir: string };
}

export interface PodSample {
  id: string;
  cpu?: CpuSample;
  memory?: MemorySample;
  processes?: { timestamp: bigint; count: bigint };
  /** The pod's network namespace: eth0 (CNI's interface) and every interface but lo. */
  network?: { timestamp: bigint; defaultInterface?: InterfaceUsage; interfaces: InterfaceUsage[] };
  containers: ContainerSample[];
}

export interface StatsDeps {
  /** The host's cgroups (detectCgroups), resolved when first needed. */
  cgroups: () => Promise<CgroupLayout>;
  /** A container's writable dir in the snapshot driver (SnapshotDriver.writableDir). */
  writableDir(containerId: string): string;
  /**
   * A container's usage as its runtime reports it (Task API Stats: a VM's guest cgroup),
   * for containers with no cgroup on the host; null when the runtime cannot say.
   */
  runtimeUsage?(c: Container): Promise<CgroupUsage | null>;
  /** A sandboxer pod's process on the host (its VM), 0 when there is none. */
  sandboxPid(pod: PodRecord): Promise<number>;
  disk?: DiskUsageCache;
  /** Epoch ns. */
  now?: () => bigint;
}

/** Epoch ns with sub-ms precision (rates over short intervals need more than Date.now). */
export function epochNanos(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/** Samples older than this are dropped from the rate cache (containers that went). */
const RATE_MAX_AGE_NS = 10n * 60n * 1_000_000_000n;

export class StatsService {
  private readonly disk: DiskUsageCache;
  private readonly now: () => bigint;
  private readonly last = new Map<string, { usageNs: bigint; timestamp: bigint }>();
  private layout: Promise<CgroupLayout> | undefined;

  constructor(private readonly d: StatsDeps) {
    this.disk = d.disk ?? new DiskUsageCache();
    this.now = d.now ?? epochNanos;
  }

  private cgroups(): Promise<CgroupLayout> {
    this.layout ??= this.d.cgroups();
    return this.layout;
  }

  /** The rate since the previous sample under `key`; this sample becomes the previous one. */
  private cpu(key: string, usageNs: bigint, timestamp: bigint): CpuSample {
    const prev = this.last.get(key);
    this.last.set(key, { usageNs, timestamp });
    let nanoCores = 0n;
    // a counter that went back is a new container or process under the same key: start again
    if (prev && timestamp > prev.timestamp && usageNs >= prev.usageNs) {
      nanoCores = ((usageNs - prev.usageNs) * 1_000_000_000n) / (timestamp - prev.timestamp);
    }
    if (this.last.size > 64) {
      for (const [k, v] of this.last) if (timestamp - v.timestamp > RATE_MAX_AGE_NS) this.last.delete(k);
    }
    return { timestamp, usageNs, nanoCores };
  }

  private memory(m: MemoryUsage, timestamp: bigint): MemorySample {
    return { ...m, timestamp, ...(m.limit !== undefined ? { available: m.limit > m.workingSet ? m.limit - m.workingSet : 0n } : {}) };
  }

  /**
   * Where a running container's cgroup is: its process' own, as the kernel says (a relative
   * cgroup_parent lands below tsulad's cgroup in each controller), else where its spec puts it.
   */
  private async where(c: Container): Promise<string | ProcessCgroups> {
    const spec = cgroupsPath(c.config.resources, c.id);
    const procs = c.state.pid > 0 ? await processCgroups(c.state.pid) : null;
    // the pid is the container's only if its cgroup is named after it (a VM container's pid is
    // the guest's: the host process of that number is someone else)
    const mine = (p: string | undefined) => !!p && p.endsWith(`/${c.id}`);
    return procs && (mine(procs.get('memory')) || mine(procs.get(''))) ? procs : spec;
  }

  /** The host cgroup's usage, else the runtime's word (a container in a VM). */
  private async usageOf(c: Container): Promise<{ usage: CgroupUsage | null; onHost: boolean }> {
    if (!running(c.state)) return { usage: null, onHost: false };
    const host = await readCgroup(await this.cgroups(), await this.where(c));
    if (host || !this.d.runtimeUsage) return { usage: host, onHost: !!host };
    return { usage: await this.d.runtimeUsage(c).catch(() => null), onHost: false };
  }

  private fromUsage(key: string, u: CgroupUsage | null, timestamp: bigint): Pick<ContainerSample, 'cpu' | 'memory' | 'pids'> {
    if (!u) return {};
    return {
      ...(u.cpuNs !== undefined ? { cpu: this.cpu(key, u.cpuNs, timestamp) } : {}),
      ...(u.memory ? { memory: this.memory(u.memory, timestamp) } : {}),
      ...(u.pids ? { pids: { timestamp, ...u.pids } } : {}),
    };
  }

  /**
   * A running container's cgroup as it is, with the raw counters (`docker stats` computes its
   * own rates from them); its runtime's word for a container in a VM; null when neither.
   */
  async raw(c: Container): Promise<CgroupUsage | null> {
    if (!running(c.state)) return null;
    const host = await readCgroup(await this.cgroups(), await this.where(c), { detail: true });
    if (host || !this.d.runtimeUsage) return host;
    return this.d.runtimeUsage(c).catch(() => null);
  }

  async container(c: Container): Promise<ContainerSample> {
    return (await this.containerWithUsage(c)).sample;
  }

  private async containerWithUsage(c: Container): Promise<{ sample: ContainerSample; hostUsage: CgroupUsage | null }> {
    const dir = this.d.writableDir(c.id);
    const [{ usage, onHost }, layer] = await Promise.all([this.usageOf(c), this.disk.get(dir)]);
    const sample: ContainerSample = { id: c.id, ...this.fromUsage(c.id, usage, this.now()), writableLayer: { ...layer, dir } };
    return { sample, hostUsage: onHost ? usage : null };
  }

  /** `containers`: the pod's own (the caller knows which are its). */
  async pod(pod: PodRecord, containers: Container[]): Promise<PodSample> {
    const parts = await Promise.all(containers.map((c) => this.containerWithUsage(c)));
    const timestamp = this.now();
    const out: PodSample = { id: pod.id, containers: parts.map((p) => p.sample) };
    const pids = containers.filter((c) => running(c.state) && c.state.pid > 0).map((c) => c.state.pid);
    if (pod.pidHolder) pids.push(pod.pidHolder.pid);
    const usages = parts.map((p) => p.hostUsage).filter((x): x is CgroupUsage => !!x);
    // a VM's containers have no cgroup on the host: the VM's process is the pod's usage, what
    // the node pays for it (a runc-kind sandboxer's containers have cgroups, summed as a host pod's)
    if (pod.sandbox && !usages.length) {
      const pid = await this.d.sandboxPid(pod).catch(() => 0);
      const p = pid > 0 ? await readProcess(pid) : null;
      if (p) {
        pids.push(pid);
        out.cpu = this.cpu(`pod:${pod.id}`, p.cpuNs, timestamp);
        // the guest's memory as the host sees it: what the hypervisor has touched
        out.memory = this.memory({ usage: p.rss, workingSet: p.rss, rss: p.rss, pageFaults: p.minorFaults + p.majorFaults, majorPageFaults: p.majorFaults }, timestamp);
      }
      // its processes are the guest's: its containers' (their guest cgroups' pids.current), as
      // containerd sums its running tasks'
      const inGuest = out.containers.filter((c) => c.pids);
      if (inGuest.length) out.processes = { timestamp, count: inGuest.reduce((n, c) => n + c.pids!.current, 0n) };
    } else {
      const own = pod.spec.cgroupParent && !pod.sandbox ? await readCgroup(await this.cgroups(), pod.spec.cgroupParent) : null;
      const { pids: procs, ...rest } = this.fromUsage(`pod:${pod.id}`, own ?? sumUsage(usages), timestamp);
      Object.assign(out, rest);
      if (procs) out.processes = { timestamp, count: procs.current };
    }
    if (pod.netnsPath && pod.state === 'ready') {
      const ifs = await readNetns(pod.netnsPath, pids).catch(() => null);
      if (ifs) {
        const eth0 = ifs.find((i) => i.name === 'eth0');
        out.network = { timestamp, ...(eth0 ? { defaultInterface: eth0 } : {}), interfaces: ifs.filter((i) => i.name !== 'lo') };
      }
    }
    return out;
  }
}
