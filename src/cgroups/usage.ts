// A cgroup's usage as containerd and cadvisor read it, on either cgroup version. Which one
// the host runs is detected from the root, never assumed: these hosts are hybrid (v1
// controllers under /sys/fs/cgroup/<controller>, a bare v2 tree at .../unified that holds no
// controllers, so v1 is what counts), CI machines may be pure v2 (one tree with
// cgroup.controllers at the root). The root is a parameter so tests read fixture trees.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../oci/types.js';

export type CgroupVersion = 1 | 2;

export interface CgroupLayout {
  version: CgroupVersion;
  /** The mount root (/sys/fs/cgroup): v2's tree, or the parent of v1's controller dirs. */
  root: string;
}

export interface MemoryUsage {
  usage: bigint;
  /** usage − inactive file pages, floored at 0: what the kernel cannot reclaim easily (kubelet evicts on it). */
  workingSet: bigint;
  rss: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  /** undefined: no limit. */
  limit?: bigint;
  swapUsage?: bigint;
  swapLimit?: bigint;
}

export interface CgroupUsage {
  /** Total CPU time of the group, ns. */
  cpuNs?: bigint;
  memory?: MemoryUsage;
  pids?: { current: bigint; limit?: bigint };
  /** Only when asked for (readCgroup's `detail`): what `docker stats` shows besides. */
  detail?: CgroupDetail;
}

/** The raw counters docker's stats JSON carries, as the cgroup version has them. */
export interface CgroupDetail {
  /** user and system CPU time, ns; per-CPU totals (v1 only). */
  cpuUserNs?: bigint;
  cpuSystemNs?: bigint;
  perCpuNs?: bigint[];
  throttling?: { periods: bigint; throttledPeriods: bigint; throttledNs: bigint };
  /** memory.stat as it is (v1's cache, rss, total_*; v2's anon, file, inactive_file, …). */
  memoryStat?: Record<string, bigint>;
  memoryMaxUsage?: bigint;
  memoryFailcnt?: bigint;
  /**
   * v1's other memory counters as containerd's cgroups reads them for Metrics: memsw (memory +
   * swap, where swap accounting is on), kmem and kmem.tcp, each as the kernel has it.
   */
  memoryV1Entries?: { swap?: MemoryEntry; kernel?: MemoryEntry; kernelTcp?: MemoryEntry };
  /** v1's memory.oom_control: the OOM killer off, a task waiting under OOM, the kills so far. */
  memoryOomControl?: { oomKillDisable: bigint; underOom: bigint; oomKill: bigint };
  /** Bytes read and written per device. */
  io?: Array<{ major: number; minor: number; op: 'Read' | 'Write'; value: bigint }>;
}

/** memory[.<module>].{usage_in_bytes,max_usage_in_bytes,failcnt,limit_in_bytes} of a v1 cgroup. */
export interface MemoryEntry { usage: bigint; max: bigint; failcnt: bigint; limit: bigint }

/** A cgroup's usage and the cgroup version it was read from (which Metrics carries it). */
export interface CgroupStats { version: CgroupVersion; usage: CgroupUsage }

/** v1 reports "no limit" as a page-rounded LLONG_MAX, v2 as "max": anything past 2^62 is none (containerd's test). */
const UNLIMITED = 1n << 62n;

/** v2 when the root is a cgroup2 tree (it has cgroup.controllers); else v1 controller dirs. */
export async function detectCgroups(root = '/sys/fs/cgroup'): Promise<CgroupLayout> {
  const v2 = await fs.access(path.join(root, 'cgroup.controllers')).then(() => true, () => false);
  return { version: v2 ? 2 : 1, root };
}

/** "key value" lines (memory.stat, cpu.stat) → numbers; lines that are not that are skipped. */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const [k, v, extra] = line.trim().split(/\s+/);
    if (!k || v === undefined || extra !== undefined || !/^\d+$/.test(v)) continue;
    out.set(k, BigInt(v));
  }
  return out;
}

/** A single-value file: a number, or v2's "max" (undefined: no limit). */
export function parseSingle(text: string): bigint | undefined {
  const t = text.trim();
  if (t === 'max') return undefined;
  if (!/^\d+$/.test(t)) throw new Error(`not a cgroup value: ${JSON.stringify(t.slice(0, 40))}`);
  return BigInt(t);
}

const limitOf = (v: bigint | undefined): bigint | undefined => (v === undefined || v > UNLIMITED ? undefined : v);
const sub0 = (a: bigint, b: bigint): bigint => (a > b ? a - b : 0n);

async function readText(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    // gone (the container exited and its cgroup went) or not offered by this kernel
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return undefined;
    throw e;
  }
}

async function readSingle(file: string): Promise<bigint | undefined | null> {
  const t = await readText(file);
  return t === undefined ? null : parseSingle(t);
}

/** v1: cpuacct.usage, memory.usage_in_bytes + memory.stat's total_* (hierarchical) counters. */
export function memoryV1(usage: bigint, stat: Map<string, bigint>, limitInBytes?: bigint, memsw?: { usage: bigint; limit?: bigint }): MemoryUsage {
  const limit = limitOf(limitInBytes);
  const m: MemoryUsage = {
    usage, workingSet: sub0(usage, stat.get('total_inactive_file') ?? 0n), rss: stat.get('total_rss') ?? 0n,
    pageFaults: stat.get('total_pgfault') ?? 0n, majorPageFaults: stat.get('total_pgmajfault') ?? 0n,
    ...(limit !== undefined ? { limit } : {}),
  };
  // memsw counts memory + swap: swap is the difference (only where swap accounting is on)
  if (memsw) {
    m.swapUsage = sub0(memsw.usage, usage);
    const swl = limitOf(memsw.limit);
    if (swl !== undefined && limit !== undefined) m.swapLimit = sub0(swl, limit);
  }
  return m;
}

/** v2: memory.current + memory.stat (anon is v1's rss; pgfault/pgmajfault are cumulative). */
export function memoryV2(current: bigint, stat: Map<string, bigint>, max?: bigint, swap?: { current: bigint; max?: bigint }): MemoryUsage {
  const limit = limitOf(max);
  const swl = limitOf(swap?.max);
  return {
    usage: current, workingSet: sub0(current, stat.get('inactive_file') ?? 0n), rss: stat.get('anon') ?? 0n,
    pageFaults: stat.get('pgfault') ?? 0n, majorPageFaults: stat.get('pgmajfault') ?? 0n,
    ...(limit !== undefined ? { limit } : {}),
    ...(swap ? { swapUsage: swap.current } : {}),
    ...(swl !== undefined ? { swapLimit: swl } : {}),
  };
}

/** v1 blkio "8:0 Read 1234" lines; v2 io.stat "8:0 rbytes=1 wbytes=2 ..." lines. */
export function parseIo(text: string, version: CgroupVersion): NonNullable<CgroupDetail['io']> {
  const out: NonNullable<CgroupDetail['io']> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const dev = /^(\d+):(\d+)$/.exec(f[0] ?? '');
    if (!dev) continue;
    const [major, minor] = [Number(dev[1]), Number(dev[2])];
    if (version === 1) {
      if ((f[1] === 'Read' || f[1] === 'Write') && /^\d+$/.test(f[2] ?? '')) out.push({ major, minor, op: f[1], value: BigInt(f[2]!) });
      continue;
    }
    for (const kv of f.slice(1)) {
      const [k, v] = kv.split('=');
      if ((k === 'rbytes' || k === 'wbytes') && /^\d+$/.test(v ?? '')) out.push({ major, minor, op: k === 'rbytes' ? 'Read' : 'Write', value: BigInt(v!) });
    }
  }
  return out;
}

async function detailV1(dir: (c: string) => string): Promise<CgroupDetail> {
  const d: CgroupDetail = {};
  const stat = parseFlatKeyed(await readText(path.join(dir('cpuacct'), 'cpuacct.stat')) ?? '');
  // cpuacct.stat counts USER_HZ ticks (1/100 s on the ABIs tsula runs on)
  if (stat.has('user')) d.cpuUserNs = stat.get('user')! * 10_000_000n;
  if (stat.has('system')) d.cpuSystemNs = stat.get('system')! * 10_000_000n;
  const percpu = (await readText(path.join(dir('cpuacct'), 'cpuacct.usage_percpu')))?.trim();
  if (percpu) d.perCpuNs = percpu.split(/\s+/).filter((x) => /^\d+$/.test(x)).map(BigInt);
  const cs = parseFlatKeyed(await readText(path.join(dir('cpu'), 'cpu.stat')) ?? '');
  d.throttling = { periods: cs.get('nr_periods') ?? 0n, throttledPeriods: cs.get('nr_throttled') ?? 0n, throttledNs: cs.get('throttled_time') ?? 0n };
  const ms = await readText(path.join(dir('memory'), 'memory.stat'));
  if (ms !== undefined) d.memoryStat = Object.fromEntries(parseFlatKeyed(ms));
  const max = await readSingle(path.join(dir('memory'), 'memory.max_usage_in_bytes'));
  if (max != null) d.memoryMaxUsage = max;
  const fail = await readSingle(path.join(dir('memory'), 'memory.failcnt'));
  if (fail != null) d.memoryFailcnt = fail;
  const [swap, kernel, kernelTcp] = await Promise.all(['memsw', 'kmem', 'kmem.tcp'].map((m) => memoryEntry(dir('memory'), m)));
  d.memoryV1Entries = { ...(swap ? { swap } : {}), ...(kernel ? { kernel } : {}), ...(kernelTcp ? { kernelTcp } : {}) };
  const oc = await readText(path.join(dir('memory'), 'memory.oom_control'));
  if (oc !== undefined) {
    const m = parseFlatKeyed(oc);
    d.memoryOomControl = { oomKillDisable: m.get('oom_kill_disable') ?? 0n, underOom: m.get('under_oom') ?? 0n, oomKill: m.get('oom_kill') ?? 0n };
  }
  const io = await readText(path.join(dir('blkio'), 'blkio.throttle.io_service_bytes_recursive'))
    ?? await readText(path.join(dir('blkio'), 'blkio.throttle.io_service_bytes'));
  if (io !== undefined) d.io = parseIo(io, 1);
  return d;
}

/** One module's four files; null when the kernel has none (memsw without swap accounting). */
async function memoryEntry(dir: string, module: string): Promise<MemoryEntry | null> {
  const read = (f: string) => readSingle(path.join(dir, `memory.${module}.${f}`));
  const [usage, max, failcnt, limit] = await Promise.all([read('usage_in_bytes'), read('max_usage_in_bytes'), read('failcnt'), read('limit_in_bytes')]);
  return usage == null ? null : { usage, max: max ?? 0n, failcnt: failcnt ?? 0n, limit: limit ?? 0n };
}

async function detailV2(file: (n: string) => string): Promise<CgroupDetail> {
  const d: CgroupDetail = {};
  const cs = parseFlatKeyed(await readText(file('cpu.stat')) ?? '');
  if (cs.has('user_usec')) d.cpuUserNs = cs.get('user_usec')! * 1000n;
  if (cs.has('system_usec')) d.cpuSystemNs = cs.get('system_usec')! * 1000n;
  d.throttling = { periods: cs.get('nr_periods') ?? 0n, throttledPeriods: cs.get('nr_throttled') ?? 0n, throttledNs: (cs.get('throttled_usec') ?? 0n) * 1000n };
  const ms = await readText(file('memory.stat'));
  if (ms !== undefined) d.memoryStat = Object.fromEntries(parseFlatKeyed(ms));
  const io = await readText(file('io.stat'));
  if (io !== undefined) d.io = parseIo(io, 2);
  return d;
}

async function readV1(root: string, rel: string | Map<string, string>, detail = false): Promise<CgroupUsage | null> {
  const dir = (controller: string) => path.join(root, controller, typeof rel === 'string' ? rel : rel.get(controller) ?? '/nonexistent');
  const u: CgroupUsage = {};
  // cpuacct may be its own mount or a link to cpu,cpuacct: either way <root>/cpuacct
  const cpu = await readSingle(path.join(dir('cpuacct'), 'cpuacct.usage'));
  if (cpu != null) u.cpuNs = cpu;
  const mem = await readSingle(path.join(dir('memory'), 'memory.usage_in_bytes'));
  if (mem != null) {
    const stat = parseFlatKeyed(await readText(path.join(dir('memory'), 'memory.stat')) ?? '');
    const limit = await readSingle(path.join(dir('memory'), 'memory.limit_in_bytes'));
    const swUsage = await readSingle(path.join(dir('memory'), 'memory.memsw.usage_in_bytes'));
    const swLimit = swUsage != null ? await readSingle(path.join(dir('memory'), 'memory.memsw.limit_in_bytes')) : null;
    u.memory = memoryV1(mem, stat, limit ?? undefined, swUsage != null ? { usage: swUsage, ...(swLimit != null ? { limit: swLimit } : {}) } : undefined);
  }
  const pids = await readSingle(path.join(dir('pids'), 'pids.current'));
  if (pids != null) {
    const max = await readSingle(path.join(dir('pids'), 'pids.max'));
    u.pids = { current: pids, ...(max != null ? { limit: max } : {}) };
  }
  if (u.cpuNs === undefined && !u.memory && !u.pids) return null;
  if (detail) u.detail = await detailV1(dir);
  return u;
}

async function readV2(root: string, rel: string, detail = false): Promise<CgroupUsage | null> {
  const dir = path.join(root, rel);
  const file = (n: string) => path.join(dir, n);
  const cpuStat = await readText(file('cpu.stat'));
  if (cpuStat === undefined && !(await fs.access(dir).then(() => true, () => false))) return null;
  const u: CgroupUsage = {};
  const usec = parseFlatKeyed(cpuStat ?? '').get('usage_usec');
  if (usec !== undefined) u.cpuNs = usec * 1000n;
  const cur = await readSingle(file('memory.current'));
  if (cur != null) {
    const stat = parseFlatKeyed(await readText(file('memory.stat')) ?? '');
    const max = await readSingle(file('memory.max'));
    const sw = await readSingle(file('memory.swap.current'));
    const swMax = sw != null ? await readSingle(file('memory.swap.max')) : null;
    u.memory = memoryV2(cur, stat, max ?? undefined, sw != null ? { current: sw, ...(swMax != null ? { max: swMax } : {}) } : undefined);
  }
  const pids = await readSingle(file('pids.current'));
  if (pids != null) {
    const max = await readSingle(file('pids.max'));
    u.pids = { current: pids, ...(max != null ? { limit: max } : {}) };
  }
  if (detail) u.detail = await detailV2(file);
  return u;
}

/**
 * The usage of the cgroup at `cgPath` (as in the OCI spec's cgroupsPath, e.g. /tsula/<id>),
 * or of a process' cgroups as processCgroups() found them; null when it does not exist (a
 * container that never ran, or has exited). `detail` also reads the raw counters docker's
 * stats show (a few more files).
 */
export async function readCgroup(layout: CgroupLayout, cgPath: string | ProcessCgroups, o: { detail?: boolean } = {}): Promise<CgroupUsage | null> {
  if (typeof cgPath !== 'string') {
    if (layout.version === 2) return cgPath.has('') ? readV2(layout.root, cgPath.get('')!.slice(1), o.detail) : null;
    return readV1(layout.root, cgPath, o.detail);
  }
  const rel = path.posix.normalize(`/${cgPath}`).slice(1);
  if (rel.split('/').includes('..')) return null;
  return layout.version === 2 ? readV2(layout.root, rel, o.detail) : readV1(layout.root, rel, o.detail);
}

/** Where a process is, by controller (v1's names; '' for v2's unified tree). */
export type ProcessCgroups = Map<string, string>;

/**
 * The cgroups of process `pid` from /proc/<pid>/cgroup (as containerd-shim-runc-v2 loads a
 * task's cgroup from its pid): right also where the spec's path was relative and runc put
 * it below another cgroup in each controller. null when the process is gone.
 */
export async function processCgroups(pid: number): Promise<ProcessCgroups | null> {
  const text = await fs.readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => null);
  if (text === null) return null;
  const out: ProcessCgroups = new Map();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(\/.*)$/.exec(line);
    if (!m || m[2]!.split('/').includes('..')) continue;
    for (const c of m[1] ? m[1].split(',') : ['']) if (!c.startsWith('name=')) out.set(c, m[2]!);
  }
  return out;
}

/** Several groups as one (a pod without a cgroup of its own: its containers summed). */
export function sumUsage(list: CgroupUsage[]): CgroupUsage | null {
  if (!list.length) return null;
  const out: CgroupUsage = {};
  const withCpu = list.filter((u) => u.cpuNs !== undefined);
  if (withCpu.length) out.cpuNs = withCpu.reduce((a, u) => a + u.cpuNs!, 0n);
  const mems = list.map((u) => u.memory).filter((m): m is MemoryUsage => !!m);
  if (mems.length) {
    const sum = (f: (m: MemoryUsage) => bigint) => mems.reduce((a, m) => a + f(m), 0n);
    out.memory = {
      usage: sum((m) => m.usage), workingSet: sum((m) => m.workingSet), rss: sum((m) => m.rss),
      pageFaults: sum((m) => m.pageFaults), majorPageFaults: sum((m) => m.majorPageFaults),
      // a limit of the whole only when every part has one
      ...(mems.every((m) => m.limit !== undefined) ? { limit: sum((m) => m.limit!) } : {}),
      ...(mems.some((m) => m.swapUsage !== undefined) ? { swapUsage: sum((m) => m.swapUsage ?? 0n) } : {}),
    };
  }
  const pids = list.map((u) => u.pids).filter((p): p is NonNullable<CgroupUsage['pids']> => !!p);
  if (pids.length) out.pids = { current: pids.reduce((a, p) => a + p.current, 0n) };
  return out;
}

/**
 * The cgroup of an OCI spec's linux.cgroupsPath as runc's cgroupfs driver places it (an
 * empty path is /<id>); null for the systemd driver's "slice:prefix:name" form, which only
 * systemd can resolve.
 */
export function specCgroupPath(cgroupsPath: string | undefined, id: string): string | null {
  if (!cgroupsPath) return `/${id}`;
  if (/^[^/]*:[^/:]*:[^/:]*$/.test(cgroupsPath)) return null;
  return cgroupsPath;
}

/**
 * How many processes the kernel's OOM killer took in the cgroup (v1 memory.oom_control,
 * v2 memory.events' oom_kill); null when the cgroup or the counter is not there.
 */
export async function readOomKills(layout: CgroupLayout, cgPath: string): Promise<bigint | null> {
  const file = oomKillsFile(layout, cgPath);
  const text = file === null ? undefined : await readText(file).catch(() => undefined);
  return text === undefined ? null : parseFlatKeyed(text).get('oom_kill') ?? null;
}

/** The file whose `oom_kill` counts the cgroup's OOM kills; null for a path that climbs out. */
export function oomKillsFile(layout: CgroupLayout, cgPath: string): string | null {
  const rel = path.posix.normalize(`/${cgPath}`).slice(1);
  if (rel.split('/').includes('..')) return null;
  return layout.version === 2 ? path.join(layout.root, rel, 'memory.events') : path.join(layout.root, 'memory', rel, 'memory.oom_control');
}

/**
 * Did the OOM killer act in the host cgroup a bundle's spec names (there until the runtime's
 * delete)? No: a systemd-style path (not resolved here) or a cgroup that isn't there (a VM's).
 */
export async function specOomKilled(layout: CgroupLayout, spec: Spec | null, id: string): Promise<boolean> {
  const cg = spec && specCgroupPath(spec.linux?.cgroupsPath, id);
  if (!cg) return false;
  return ((await readOomKills(layout, cg).catch(() => null)) ?? 0n) > 0n;
}
