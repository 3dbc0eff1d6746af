// GET /containers/{id}/stats: docker's StatsJSON from the engine's stats service (the
// container's cgroup read with its raw counters, the host's CPU time, the container's
// interfaces). Like dockerd: a sample a second while streaming (precpu_stats is the one
// before); stream=0 waits for a second sample so that the CPU rate means something, unless
// one-shot=1; a container that does not run gets an empty sample.
import * as os from 'node:os';
import { promises as fs } from 'node:fs';
import type { Router } from './http.js';
import { boolParam } from './http.js';
import type { ContainerService } from '../containers/service.js';
import { running, type Container } from '../containers/model.js';
import type { StatsService } from '../stats/service.js';
import { parseNetDev, readNetns, readSystemCpuNs, type InterfaceUsage } from '../stats/proc.js';
import type { CgroupUsage } from '../../cgroups/index.js';
import { ZERO_TIME } from './docker-model.js';
import { versionAtLeast } from './version.js';

const INTERVAL_MS = 1000;

interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage?: number;
  online_cpus?: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface DockerStats {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: Record<string, unknown>;
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; stats?: Record<string, number>; failcnt?: number; limit?: number };
  name: string;
  id: string;
  networks?: Record<string, Record<string, number>>;
}

const n = (v: bigint | undefined): number => (v === undefined ? 0 : Number(v));
const ZERO_CPU: CpuStats = { cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 }, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 } };
const EMPTY_BLKIO = {
  io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null,
  io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
};

/** A sample with nothing in it: what dockerd sends for a container that does not run. */
export function emptyStats(c: Container): DockerStats {
  return {
    read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, blkio_stats: EMPTY_BLKIO, num_procs: 0, storage_stats: {},
    cpu_stats: ZERO_CPU, precpu_stats: ZERO_CPU, memory_stats: {}, name: `/${c.name}`, id: c.id,
  };
}

async function onlineCpus(): Promise<number> {
  // "0-1,4": count the ranges (os.cpus() lists present CPUs, not necessarily online ones)
  const text = await fs.readFile('/sys/devices/system/cpu/online', 'utf8').catch(() => '');
  let count = 0;
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b] = part.split('-').map(Number);
    count += b === undefined ? 1 : b - a! + 1;
  }
  return count || os.cpus().length;
}

/**
 * The container's interfaces but lo, from its init's view of /proc/net/dev (none on the
 * host's network). A container in a VM: its network namespace's (its pid is the guest's; the
 * veth there carries all the VM's traffic).
 */
async function networks(c: Container, inVm: boolean): Promise<DockerStats['networks']> {
  if (c.config.network === 'host' || c.state.pid <= 0) return undefined;
  const netns = c.state.network?.sandboxKey;
  let all: InterfaceUsage[] | null;
  if (inVm) all = netns ? await readNetns(netns).catch(() => null) : null;
  else all = await fs.readFile(`/proc/${c.state.pid}/net/dev`, 'utf8').then(parseNetDev, () => null);
  const ifs = (all ?? []).filter((i) => i.name !== 'lo');
  if (!ifs.length) return undefined;
  return Object.fromEntries(ifs.map((i) => [i.name, {
    rx_bytes: n(i.rxBytes), rx_packets: n(i.rxPackets), rx_errors: n(i.rxErrors), rx_dropped: n(i.rxDropped),
    tx_bytes: n(i.txBytes), tx_packets: n(i.txPackets), tx_errors: n(i.txErrors), tx_dropped: n(i.txDropped),
  }]));
}

/** docker's StatsJSON of one sample (`prev`: the sample before, for precpu_stats). */
export function toDockerStats(c: Container, u: CgroupUsage | null, sys: { cpuNs: bigint; cpus: number; memTotal: number }, read: string, prev: DockerStats | null, nets?: DockerStats['networks']): DockerStats {
  const d = u?.detail;
  const m = u?.memory;
  // dockerd shows the host's memory as the limit of a container that has none (or a bigger one)
  const limit = m?.limit !== undefined && Number(m.limit) < sys.memTotal ? Number(m.limit) : sys.memTotal;
  const stats = d?.memoryStat ? Object.fromEntries(Object.entries(d.memoryStat).map(([k, v]) => [k, Number(v)])) : undefined;
  const cpu: CpuStats = {
    cpu_usage: {
      total_usage: n(u?.cpuNs), ...(d?.perCpuNs ? { percpu_usage: d.perCpuNs.map(Number) } : {}),
      usage_in_kernelmode: n(d?.cpuSystemNs), usage_in_usermode: n(d?.cpuUserNs),
    },
    system_cpu_usage: Number(sys.cpuNs), online_cpus: sys.cpus,
    throttling_data: { periods: n(d?.throttling?.periods), throttled_periods: n(d?.throttling?.throttledPeriods), throttled_time: n(d?.throttling?.throttledNs) },
  };
  const io = d?.io?.map((x) => ({ major: x.major, minor: x.minor, op: x.op, value: Number(x.value) }));
  return {
    read, preread: prev?.read ?? ZERO_TIME,
    pids_stats: u?.pids ? { current: n(u.pids.current), ...(u.pids.limit !== undefined ? { limit: n(u.pids.limit) } : {}) } : {},
    blkio_stats: { ...EMPTY_BLKIO, io_service_bytes_recursive: io?.length ? io : null },
    num_procs: 0, storage_stats: {}, cpu_stats: cpu, precpu_stats: prev?.cpu_stats ?? ZERO_CPU,
    memory_stats: m ? {
      usage: n(m.usage), ...(d?.memoryMaxUsage !== undefined ? { max_usage: n(d.memoryMaxUsage) } : {}),
      ...(stats ? { stats } : {}), ...(d?.memoryFailcnt !== undefined ? { failcnt: n(d.memoryFailcnt) } : {}), limit,
    } : {},
    name: `/${c.name}`, id: c.id, ...(nets ? { networks: nets } : {}),
  };
}

export function statsRoutes(r: Router, cs: ContainerService, stats: StatsService): void {
  const sample = async (c: Container, prev: DockerStats | null): Promise<DockerStats> => {
    if (!running(c.state)) return { ...emptyStats(c), ...(prev ? { precpu_stats: prev.cpu_stats, preread: prev.read } : {}) };
    const rt = cs.runtimeOf(c);
    const [u, cpuNs, cpus, nets, vm] = await Promise.all([
      stats.raw(c), readSystemCpuNs(), onlineCpus(), networks(c, rt.guestKernel === true), rt.machine?.(c.id).catch(() => null),
    ]);
    // a container in a VM has the guest's memory at most: that is its limit when it has none
    // (the CPU figures stay the host's: system_cpu_usage and online_cpus go together)
    return toDockerStats(c, u, { cpuNs, cpus, memTotal: vm?.memoryBytes ?? os.totalmem() }, new Date().toISOString(), prev, nets);
  };

  r.add('GET', '/containers/{id}/stats', async ({ req, res, params, query, version }) => {
    const c = cs.get(params[0]);
    // API 1.52: each sample names the daemon's OS (os_type), for clients that read several
    const os = versionAtLeast(version, '1.52') ? { os_type: 'linux' } : {};
    const json = (s: DockerStats) => JSON.stringify({ ...(versionAtLeast(version, '1.21') ? s : pre121(s)), ...os }) + '\n';
    const stream = query.get('stream') === null || boolParam(query, 'stream');
    let gone = false;
    req.on('close', () => { gone = true; });
    res!.on('close', () => { gone = true; });
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    if (!stream) {
      if (!running(c.state)) { res!.end(json(emptyStats(c))); return; }
      let s = await sample(c, null);
      if (!boolParam(query, 'one-shot')) {
        await sleep(INTERVAL_MS);
        s = await sample(c, s);
      }
      res!.end(json(s));
      return;
    }
    res!.flushHeaders();
    let prev: DockerStats | null = null;
    while (!gone && !res!.writableEnded) {
      prev = await sample(c, prev).catch(() => emptyStats(c));
      if (gone) break;
      res!.write(json(prev));
      await sleep(INTERVAL_MS);
      // a removed container's stream ends, as dockerd's does
      if (!cs.list().some((x) => x.id === c.id)) break;
    }
    if (!res!.writableEnded) res!.end();
  });
}

/** Below API 1.21 (dockerd's v1p20.StatsJSON): one `network`, the interfaces' counters summed. */
export function pre121(s: DockerStats): Omit<DockerStats, 'networks'> & { network?: Record<string, number> } {
  const { networks: nets, ...rest } = s;
  if (!nets) return rest;
  const network: Record<string, number> = {};
  for (const n of Object.values(nets)) for (const [k, v] of Object.entries(n)) network[k] = (network[k] ?? 0) + v;
  return { ...rest, network };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
