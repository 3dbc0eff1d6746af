// A container's processes as `ps -ef` shows them, for the containers whose processes the
// host's ps cannot see: those in a VM, where the guest's agent reads its own /proc
// (readProcesses) and tsulad draws docker top's table from that (psEfTable), in the host's
// time zone and with the host's user names, as procps draws a runc container's.
import { promises as fs } from 'node:fs';
import { procStat } from './proc.js';

/** One process as the kernel that runs it tells (its /proc). */
export interface PsProcess {
  pid: number;
  ppid: number;
  /** Its real uid. */
  uid: number;
  /** When it started, ms since the epoch. */
  startMs: number;
  /** User + system CPU time, ms. */
  cpuMs: number;
  /** Its controlling terminal's device number (stat's tty_nr); 0: none. */
  tty: number;
  /** Its arguments (empty for a kernel thread or a zombie). */
  args: string[];
  /** Its command name (stat's comm). */
  comm: string;
}

/** USER_HZ: the unit of /proc/PID/stat's times (100 on every Linux architecture tsula runs on). */
const HZ = 100;

/** This kernel's boot time, ms since the epoch (/proc/stat's btime). */
export async function bootTimeMs(): Promise<number> {
  const m = /^btime (\d+)$/m.exec(await fs.readFile('/proc/stat', 'utf8'));
  return m ? Number(m[1]) * 1000 : 0;
}

/** The processes of `pids` that still exist, read from this kernel's /proc. */
export async function readProcesses(pids: number[]): Promise<PsProcess[]> {
  const boot = await bootTimeMs();
  const out: PsProcess[] = [];
  for (const pid of pids) {
    const p = await readProcess(pid, boot).catch(() => null); // gone meanwhile
    if (p) out.push(p);
  }
  return out;
}

async function readProcess(pid: number, bootMs: number): Promise<PsProcess> {
  const [st, status, cmdline] = await Promise.all([
    procStat(pid), fs.readFile(`/proc/${pid}/status`, 'utf8'), fs.readFile(`/proc/${pid}/cmdline`),
  ]);
  const uid = /^Uid:\s+(\d+)/m.exec(status);
  const args = cmdline.toString('utf8').split('\0');
  if (args.at(-1) === '') args.pop();
  return {
    pid, ppid: st.ppid, uid: uid ? Number(uid[1]) : 0, startMs: bootMs + (Number(st.startTime) * 1000) / HZ,
    cpuMs: (st.cpuTicks * 1000) / HZ, tty: st.ttyNr, args, comm: st.comm,
  };
}

export const PS_EF_TITLES = ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD'];

/** docker top's table of `ps -ef` for these processes, as procps draws it; `user` names a uid. */
export function psEfTable(procs: PsProcess[], nowMs: number, user: (uid: number) => string | undefined): { Titles: string[]; Processes: string[][] } {
  const rows = [...procs].sort((a, b) => a.pid - b.pid).map((p) => {
    const name = user(p.uid);
    return [
      // procps' -f column is 8 wide: a longer name ends in '+'
      name === undefined ? String(p.uid) : name.length > 8 ? `${name.slice(0, 7)}+` : name,
      String(p.pid), String(p.ppid), String(cpuPercent(p, nowMs)), startTime(p.startMs, nowMs), ttyName(p.tty),
      cpuTime(p.cpuMs), p.args.length ? p.args.join(' ') : `[${p.comm}]`,
    ];
  });
  return { Titles: [...PS_EF_TITLES], Processes: rows };
}

/** procps' C: whole percent of one CPU over the process' life, at most 99. */
function cpuPercent(p: PsProcess, nowMs: number): number {
  const life = Math.floor((nowMs - p.startMs) / 1000);
  return life > 0 ? Math.min(99, Math.floor((p.cpuMs / 10) / life)) : 0;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

/** procps' STIME (local time): 23:59 today, Jun06 this year, 2024 before. */
function startTime(ms: number, nowMs: number): string {
  const t = new Date(ms);
  const now = new Date(nowMs);
  if (t.getFullYear() !== now.getFullYear()) return String(t.getFullYear());
  if (t.getMonth() !== now.getMonth() || t.getDate() !== now.getDate()) return `${MONTHS[t.getMonth()]}${two(t.getDate())}`;
  return `${two(t.getHours())}:${two(t.getMinutes())}`;
}

/** procps' TIME: [DD-]HH:MM:SS of CPU. */
function cpuTime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const hms = `${two(Math.floor(s / 3600) % 24)}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
  return s >= 86400 ? `${Math.floor(s / 86400)}-${hms}` : hms;
}

/** procps' TTY: the terminal's name under /dev, ? for none. */
export function ttyName(dev: number): string {
  if (!dev) return '?';
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  if (major >= 136 && major <= 143) return `pts/${(major - 136) * 256 + minor}`;
  if (major === 4) return minor < 64 ? `tty${minor}` : `ttyS${minor - 64}`;
  if (major === 5 && minor === 1) return 'console';
  return '?';
}
