// /proc/<pid>/stat, the fields tsula needs. The command name (field 2) may hold spaces and
// parentheses: fields are counted after its last ')'.
import { promises as fs } from 'node:fs';

export interface ProcStat {
  /** Field 3: R, S, D, Z (a zombie has exited already), ... */
  state: string;
  /** Field 22: start time in clock ticks since boot; tells a reused pid apart. */
  startTime: string;
}

export function parseProcStat(text: string): ProcStat {
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], startTime: f[19] };
}

export async function procStat(pid: number): Promise<ProcStat> {
  return parseProcStat(await fs.readFile(`/proc/${pid}/stat`, 'utf8'));
}
