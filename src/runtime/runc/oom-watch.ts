// OOM kills as they happen: conmon creates `oom` in the bundle each time the container's
// cgroup reports one (memory.oom_control's eventfd on v1, memory.events on v2), whichever of
// its processes died (an exec, a child), as containerd-shim-runc-v2's epoller hears them.
// inotify (fs.watch) tells us; each file is renamed to `oom.seen` so that the next kill
// creates `oom` anew and is heard too (conmon only opens it with O_CREAT).
import { watch, promises as fs } from 'node:fs';
import * as path from 'node:path';

export const OOM_FILE = 'oom';
export const OOM_SEEN_FILE = 'oom.seen';

/** Calls `cb` once per OOM kill conmon reports in `bundle`; returns the stop function. */
export function watchOomFile(bundle: string, cb: () => void): () => void {
  const file = path.join(bundle, OOM_FILE);
  let closed = false;
  const take = async () => {
    if (closed) return;
    // not there: another file's event, or a kill already taken
    if (!(await fs.rename(file, path.join(bundle, OOM_SEEN_FILE)).then(() => true, () => false))) return;
    if (!closed) cb();
  };
  let w: ReturnType<typeof watch>;
  try {
    w = watch(bundle, (_ev, name) => { if (name === OOM_FILE) void take(); });
  } catch {
    return () => {}; // no bundle (a container between restarts): nothing to hear
  }
  w.on('error', () => {});
  void take(); // one written before the watch began
  return () => { closed = true; w.close(); };
}
