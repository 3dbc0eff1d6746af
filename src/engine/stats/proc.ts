// Usage read from /proc: a single process' CPU time and memory (a VM pod's hypervisor,
// which has no cgroup of tsula's), and a network namespace's interface counters
// (/proc/net/dev as seen from inside it).
import { promises as fs } from 'node:fs';
import { exec } from '../../common/exec.js';
import { internal } from '../../common/errors.js';

/**
 * USER_HZ: /proc/<pid>/stat counts CPU time in clock ticks of 1/100 s on every Linux ABI
 * tsula runs on (x86_64, arm64); Node has no sysconf(_SC_CLK_TCK) to ask.
 */
const NS_PER_TICK = 10_000_000n;

export interface ProcessUsage {
  /** user + system time, ns. */
  cpuNs: bigint;
  minorFaults: bigint;
  majorFaults: bigint;
}

/** /proc/<pid>/stat: fields are counted after the last ')' (the command name may hold spaces and parentheses). */
export function parsePidStat(text: string): ProcessUsage {
  const f = text.slice(text.lastIndexOf(')') + 2).trim().split(/\s+/);
  // f[0] is field 3 (state): field n is f[n - 3]
  const num = (n: number) => {
    const v = f[n - 3];
    if (v === undefined || !/^\d+$/.test(v)) throw internal(`unexpected /proc/<pid>/stat: field ${n} is ${JSON.stringify(v)}`);
    return BigInt(v);
  };
  return { cpuNs: (num(14) + num(15)) * NS_PER_TICK, minorFaults: num(10), majorFaults: num(12) };
}

/** /proc/<pid>/status' "VmRSS:  1234 kB" lines → bytes (undefined when absent, as in a zombie). */
export function parseStatusKb(text: string, key: string): bigint | undefined {
  const m = new RegExp(`^${key}:\\s+(\\d+)\\s+kB$`, 'm').exec(text);
  return m ? BigInt(m[1]!) * 1024n : undefined;
}

export interface ProcessSample extends ProcessUsage {
  rss: bigint;
}

/** null: the process is gone. */
export async function readProcess(pid: number, proc = '/proc'): Promise<ProcessSample | null> {
  try {
    const [stat, status] = await Promise.all([fs.readFile(`${proc}/${pid}/stat`, 'utf8'), fs.readFile(`${proc}/${pid}/status`, 'utf8')]);
    return { ...parsePidStat(stat), rss: parseStatusKb(status, 'VmRSS') ?? 0n };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw e;
  }
}

export interface InterfaceUsage {
  name: string;
  rxBytes: bigint;
  rxErrors: bigint;
  txBytes: bigint;
  txErrors: bigint;
  rxPackets?: bigint;
  rxDropped?: bigint;
  txPackets?: bigint;
  txDropped?: bigint;
}

/** /proc/net/dev: two header lines, then "name: rx(bytes packets errs drop fifo frame compressed multicast) tx(bytes packets errs ...)". */
export function parseNetDev(text: string): InterfaceUsage[] {
  const out: InterfaceUsage[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (!name || f.length < 16 || !f.every((x) => /^\d+$/.test(x))) continue;
    out.push({
      name, rxBytes: BigInt(f[0]!), rxErrors: BigInt(f[2]!), txBytes: BigInt(f[8]!), txErrors: BigInt(f[10]!),
      rxPackets: BigInt(f[1]!), rxDropped: BigInt(f[3]!), txPackets: BigInt(f[9]!), txDropped: BigInt(f[11]!),
    });
  }
  return out;
}

/**
 * The host's CPU time since boot, ns: the first line of /proc/stat (user nice system idle
 * iowait irq softirq steal, in USER_HZ ticks), what docker's system_cpu_usage is.
 */
export function parseSystemCpu(text: string): bigint {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) throw internal('unexpected /proc/stat: no "cpu" line');
  const f = line.trim().split(/\s+/).slice(1, 9).map((x) => BigInt(/^\d+$/.test(x) ? x : '0'));
  return f.reduce((a, b) => a + b, 0n) * NS_PER_TICK;
}

export async function readSystemCpuNs(proc = '/proc'): Promise<bigint> {
  return parseSystemCpu(await fs.readFile(`${proc}/stat`, 'utf8'));
}

/** Is `pid` in the network namespace pinned at `netnsPath`? (the same nsfs inode) */
async function inNetns(pid: number, netnsPath: string): Promise<boolean> {
  const [a, b] = await Promise.all([fs.stat(`/proc/${pid}/ns/net`).catch(() => null), fs.stat(netnsPath).catch(() => null)]);
  return !!a && !!b && a.dev === b.dev && a.ino === b.ino;
}

/**
 * The interfaces of a pinned netns. A process known to be in it (a container's) is read
 * through /proc/<pid>/net/dev, which costs no process; otherwise nsenter runs cat in it.
 * null: the namespace is gone.
 */
export async function readNetns(netnsPath: string, pids: number[] = []): Promise<InterfaceUsage[] | null> {
  for (const pid of pids) {
    if (pid > 0 && await inNetns(pid, netnsPath)) {
      const text = await fs.readFile(`/proc/${pid}/net/dev`, 'utf8').catch(() => null);
      if (text !== null) return parseNetDev(text);
    }
  }
  if (!(await fs.access(netnsPath).then(() => true, () => false))) return null;
  const r = await exec('nsenter', [`--net=${netnsPath}`, 'cat', '/proc/net/dev'], { timeoutMs: 10_000 });
  if (r.code !== 0) throw internal(`reading the interfaces of ${netnsPath}: ${r.stderr.trim() || `nsenter exit ${r.code}`}`);
  return parseNetDev(r.stdout);
}
