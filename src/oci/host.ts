// What the spec builder needs to know about the host the engine runs on: its current
// rlimits (runc inherits them and, without CAP_SYS_RESOURCE, cannot raise a hard limit)
// and the capabilities the engine itself holds (runc cannot grant more than it has).
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import { native } from '../common/native.js';
import { capsFromMask } from './caps.js';

export interface HostRlimit { soft: number; hard: number }

export interface HostInfo {
  /** Keyed by "RLIMIT_NOFILE", …; values in the limit's own unit. */
  rlimits: Map<string, HostRlimit>;
  /** Capabilities runc may grant (bounding ∩ permitted); absent = don't filter. */
  capBounding?: ReadonlySet<string>;
  /** Kernel release for seccomp minKernel rules; absent = os.release(). */
  kernel?: string;
  /**
   * false: this kernel refuses x32 system calls (ENOSYS), so the default seccomp profile
   * leaves SCMP_ARCH_X32 out; absent: unknown (no native addon, a guest's kernel), kept.
   */
  x32Abi?: boolean;
}

/**
 * RLIM_INFINITY is 2^64-1, which a JS number cannot hold exactly: JSON.stringify would
 * write 18446744073709552000, which overflows Go's uint64 and makes runc reject config.json.
 * So "unlimited" is carried as 2^53-1: exact, accepted by runc, and in practice unlimited
 * (no resource comes near 9e15). The price: a container's hard limit is then 2^53-1, not
 * RLIM_INFINITY, so raising it to "unlimited" inside the container fails (it would without
 * CAP_SYS_RESOURCE anyway).
 */
export const RLIM_INFINITY = Number.MAX_SAFE_INTEGER;

/** Docker's --ulimit names → the RLIMIT_* type runc takes. */
export const ULIMIT_NAMES: Readonly<Record<string, string>> = {
  as: 'RLIMIT_AS', core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE',
  locks: 'RLIMIT_LOCKS', memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE',
  nofile: 'RLIMIT_NOFILE', nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO',
  rttime: 'RLIMIT_RTTIME', sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK',
};

// /proc/<pid>/limits row titles → RLIMIT_* (fs/proc/base.c lnames[]).
const PROC_LIMIT_NAMES: Readonly<Record<string, string>> = {
  'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA',
  'Max stack size': 'RLIMIT_STACK', 'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS',
  'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE', 'Max locked memory': 'RLIMIT_MEMLOCK',
  'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS', 'Max pending signals': 'RLIMIT_SIGPENDING',
  'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE',
  'Max realtime priority': 'RLIMIT_RTPRIO', 'Max realtime timeout': 'RLIMIT_RTTIME',
};

function limitValue(s: string): number {
  if (s === 'unlimited') return RLIM_INFINITY;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new Error(`bad limit value ${JSON.stringify(s)}`);
  return Math.min(n, RLIM_INFINITY);
}

/** Parses the text of /proc/<pid>/limits. */
export function parseProcLimits(text: string): Map<string, HostRlimit> {
  const out = new Map<string, HostRlimit>();
  for (const line of text.split('\n')) {
    // Columns are fixed-width but titles contain spaces: match the known titles instead.
    for (const [title, type] of Object.entries(PROC_LIMIT_NAMES)) {
      if (!line.startsWith(title + ' ')) continue;
      const [soft, hard] = line.slice(title.length).trim().split(/\s+/);
      if (soft !== undefined && hard !== undefined) out.set(type, { soft: limitValue(soft), hard: limitValue(hard) });
    }
  }
  return out;
}

export async function readHostRlimits(file = '/proc/self/limits'): Promise<Map<string, HostRlimit>> {
  return parseProcLimits(await fs.readFile(file, 'utf8'));
}

/** Capabilities this process could hand to runc: CapBnd ∩ CapPrm from /proc/self/status. */
export async function readHostCaps(file = '/proc/self/status'): Promise<Set<string>> {
  return capsOfStatus(await fs.readFile(file, 'utf8'), file);
}

function capsOfStatus(text: string, file: string): Set<string> {
  const field = (name: string) => new RegExp(`^${name}:\\s*([0-9a-f]+)$`, 'm').exec(text)?.[1];
  const bnd = field('CapBnd');
  const prm = field('CapPrm');
  if (!bnd || !prm) throw new Error(`${file}: no CapBnd/CapPrm`);
  const p = capsFromMask(prm);
  return new Set([...capsFromMask(bnd)].filter((c) => p.has(c)));
}

export async function readHostInfo(): Promise<HostInfo> {
  const [rlimits, status] = await Promise.all([readHostRlimits(), fs.readFile('/proc/self/status', 'utf8')]);
  const capBounding = capsOfStatus(status, '/proc/self/status');
  // the probe is an x32 system call: under a seccomp filter without that ABI (tsulad in a
  // container of an engine like this one) it would kill us; there the profile stays docker's
  const x32Abi = /^Seccomp:\s*0$/m.test(status) ? native()?.x32Abi?.() : undefined;
  return { rlimits, capBounding, ...(x32Abi === undefined ? {} : { x32Abi }) };
}

/**
 * Can the kernel make a bind's submounts read-only (mount_setattr with AT_RECURSIVE, 5.12)?
 * runc asks it for the rro option; dockerd checks the same before it asks.
 */
export function kernelHasRecursiveReadonly(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 5 || (maj === 5 && min >= 12);
}
