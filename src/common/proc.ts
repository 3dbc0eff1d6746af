// /proc/<pid>/stat, the fields tsula needs (the command name, field 2, may hold spaces and
// parentheses: fields are counted after its last ')'); processes found by a mark in their
// environment.
import { promises as fs } from 'node:fs';

export interface ProcStat {
  /** Field 2, without its parentheses. */
  comm: string;
  /** Field 3: R, S, D, Z (a zombie has exited already), ... */
  state: string;
  /** Field 4. */
  ppid: number;
  /** Field 7: the controlling terminal's device number, 0 for none. */
  ttyNr: number;
  /** Fields 14 + 15: user and system time, in clock ticks. */
  cpuTicks: number;
  /** Field 22: start time in clock ticks since boot; tells a reused pid apart. */
  startTime: string;
}

export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  // f[0] is field 3: field n is f[n - 3]
  const f = text.slice(close + 2).split(' ');
  return {
    comm: text.slice(text.indexOf('(') + 1, close), state: f[0], ppid: Number(f[1]), ttyNr: Number(f[4]),
    cpuTicks: Number(f[11]) + Number(f[12]), startTime: f[19],
  };
}

export async function procStat(pid: number): Promise<ProcStat> {
  return parseProcStat(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
}

/** The pids of `pid`'s children (of each of its threads), from /proc; [] when it is gone. */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const tid of await fs.readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const kids = await fs.readFile(`/proc/${pid}/task/${tid}/children`, 'utf8').catch(() => '');
    for (const k of kids.split(/\s+/)) if (k) out.push(Number(k));
  }
  return out;
}

/** Whether pid is still the process that started at startTime: there, not a zombie, not reused. */
export async function stillRunning(pid: number, startTime?: string): Promise<boolean> {
  try {
    const st = await procStat(pid);
    return st.state !== 'Z' && (startTime === undefined || st.startTime === startTime);
  } catch {
    return false;
  }
}

/**
 * The environment to spawn a namespace holder with: PATH (for its exec of unshare, sleep) and
 * the mark processesMarked finds it by; nothing of the daemon's own.
 */
export function markedEnv(name: string, value: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', [name]: value };
}

/**
 * Processes named one of comms whose environment has name=<prefix...>, with that value: how a
 * restarted daemon finds the namespace holders it started and lost track of (a crash before
 * their pid was recorded, or a record removed). Only root reads another's environment.
 */
export async function processesMarked(name: string, prefix: string, comms: ReadonlySet<string>): Promise<Array<{ pid: number; value: string }>> {
  const out: Array<{ pid: number; value: string }> = [];
  const want = `${name}=${prefix}`;
  for (const p of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (!comms.has((await fs.readFile(`/proc/${p}/comm`, 'utf8')).trim())) continue;
      const v = (await fs.readFile(`/proc/${p}/environ`, 'utf8')).split('\0').find((e) => e.startsWith(want));
      if (v) out.push({ pid: Number(p), value: v.slice(name.length + 1) });
    } catch { /* gone */ }
  }
  return out;
}
