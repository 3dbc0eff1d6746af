// OOM kills in a cgroup v2 as they happen: the kernel notifies a change of memory.events
// (inotify IN_MODIFY, what containerd-shim-runc-v2's cgroups v2 EventChan and conmon
// watch) and its oom_kill counter says how many processes the killer took, whichever of the
// cgroup's processes they were (an exec, a child, the first).
import { watch } from 'node:fs';
import { oomKillsFile, readOomKills, type CgroupLayout } from './usage.js';

/**
 * Calls `cb` once per OOM kill in `cgPath` from now on; returns the stop function. null
 * where this can't be heard (cgroup v1: its notification is an eventfd, not a file change;
 * or no such cgroup).
 */
export async function watchOomKills(layout: CgroupLayout, cgPath: string, cb: () => void): Promise<(() => void) | null> {
  const file = layout.version === 2 ? oomKillsFile(layout, cgPath) : null;
  if (file === null) return null;
  const first = await readOomKills(layout, cgPath);
  if (first === null) return null;
  let last: bigint = first;
  let closed = false;
  let reading = false;
  let again = false;
  // one read at a time; a change during it reads once more
  const check = async (): Promise<void> => {
    if (reading) { again = true; return; }
    reading = true;
    do {
      again = false;
      const n = await readOomKills(layout, cgPath).catch(() => null);
      for (; !closed && n !== null && last < n; last++) cb();
    } while (again && !closed);
    reading = false;
  };
  let w: ReturnType<typeof watch>;
  try {
    w = watch(file, () => void check());
  } catch {
    return null;
  }
  w.on('error', () => {}); // the cgroup went with its container
  void check(); // a kill between the first read and the watch
  return () => { closed = true; w.close(); };
}
