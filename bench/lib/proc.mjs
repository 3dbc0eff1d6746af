// Processes and their memory, read from /proc (the benches' common ground):
//   procs()   every process: pid, ppid, argv
//   mem(pid)  RSS, PSS (smaps_rollup), RssAnon, RssShmem in kB (0 for a process gone)
import { readFileSync, readdirSync } from 'node:fs';

export function kb(file, re) {
  try { return Number(re.exec(readFileSync(file, 'utf8'))[1]); } catch { return 0; }
}

export const mem = (pid) => ({
  rss: kb(`/proc/${pid}/status`, /VmRSS:\s+(\d+)/), pss: kb(`/proc/${pid}/smaps_rollup`, /Pss:\s+(\d+)/),
  anon: kb(`/proc/${pid}/status`, /RssAnon:\s+(\d+)/), shmem: kb(`/proc/${pid}/status`, /RssShmem:\s+(\d+)/),
});

export function procs() {
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      out.push({ pid: Number(p), argv, ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) });
    } catch { /* gone */ }
  }
  return out;
}

export function memAvailableMb() {
  return kb('/proc/meminfo', /MemAvailable:\s+(\d+)/) / 1024;
}

/** How a daemon starts host tools: posix_spawn when it has tsula's native addon mapped. */
export function spawnWay(pid) {
  try {
    return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('tsula_native.node')
      ? 'posix_spawn (native addon)' : "node's fork (no native addon: not built, or TSULA_NATIVE=0)";
  } catch { return 'unknown'; }
}
