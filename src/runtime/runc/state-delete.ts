// `runc delete` of a stopped container without a runc process. For a container whose init has
// exited, in its own pid namespace, with runc's cgroupfs driver, no poststop hooks and no
// Intel RDT group, runc's delete (libcontainer's destroy of a stopped container, checked with
// strace on runc 1.1.5) removes the container's cgroup directories and then its state
// directory; nothing else. A fork and Go start-up of runc fewer at every exit (~5 ms and its
// CPU). Anything else (a live, frozen or unknown init, a shared pid namespace whose leftovers
// runc must kill, hooks to run, systemd units, a state.json not in runc's layout, a cgroup
// that will not go) is left to the runtime binary, whose version then decides (1.1 logs such
// a cgroup and drops the state, later versions keep the state for another try).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stillRunning } from '../../common/proc.js';
import { removeTree } from '../../common/fsutil.js';

/** What of runc's state.json this reads (libcontainer's State and its config). */
interface RuncState {
  init_process_pid?: number;
  init_process_start?: number | string;
  rootless?: boolean;
  intel_rdt_path?: string;
  cgroup_paths?: Record<string, string>;
  config?: {
    namespaces?: Array<{ type: string; path?: string }>;
    cgroups?: { Systemd?: boolean; Rootless?: boolean; paths?: Record<string, string> | null };
    Hooks?: { poststop?: unknown[] | null } | null;
    intel_rdt?: unknown;
  };
}

/** runc's v1 RemovePaths: 5 rounds, 10, 20, 40, 80 ms between them (v2: one try). */
const ROUNDS_V1 = 5;
const FIRST_DELAY_MS = 10;

/** A cgroup that would not go, and why (EBUSY: tasks or child cgroups left). */
export interface StuckCgroup { path: string; code: string }

/**
 * Delete the runc state of a stopped container under `root`; false when this is no case for
 * doing it here (the caller runs `runc delete`). When a cgroup will not go even after runc's
 * retries, `stuck` hears of it, the state stays and the answer is false.
 */
export async function deleteStoppedState(root: string, id: string, stuck?: (left: StuckCgroup[]) => void): Promise<boolean> {
  if (!id || id.includes('/') || id === '.' || id === '..') return false;
  const dir = path.join(root, id);
  let st: RuncState;
  try {
    st = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as RuncState;
  } catch {
    return false; // none (runc says not found, or removes a half-made directory)
  }
  const c = st.config;
  const pidns = c?.namespaces?.find((n) => n.type === 'NEWPID');
  if (!c || !pidns || pidns.path || st.rootless || c.cgroups?.Systemd || c.cgroups?.Rootless || c.cgroups?.paths
    || st.intel_rdt_path || c.intel_rdt || (c.Hooks?.poststop?.length ?? 0) > 0
    || !st.init_process_pid || st.init_process_start === undefined || !st.cgroup_paths) return false;
  if (await stillRunning(st.init_process_pid, String(st.init_process_start))) return false;
  // runc calls a frozen cgroup's container paused, even with its init dead: its delete refuses
  // that (or thaws it first, with --force)
  if (await frozen(st.cgroup_paths)) return false;
  const v2Only = Object.keys(st.cgroup_paths).every((k) => k === '');
  const left = await removeCgroups(Object.values(st.cgroup_paths), v2Only ? 1 : ROUNDS_V1);
  if (left.length) {
    stuck?.(left);
    return false;
  }
  await removeTree(dir);
  return true;
}

/**
 * freezer.state FROZEN or FREEZING (v1), or cgroup.freeze 1 (v2). runc waits for FREEZING to
 * settle and may call a cgroup frozen only by its parent thawed: leaving all of these to
 * runc is the cautious side.
 */
async function frozen(paths: Record<string, string>): Promise<boolean> {
  const read = (f: string) => fs.readFile(f, 'utf8').then((t) => t.trim(), () => '');
  if (paths.freezer) return ['FROZEN', 'FREEZING'].includes(await read(path.join(paths.freezer, 'freezer.state')));
  if (paths['']) return (await read(path.join(paths[''], 'cgroup.freeze'))) === '1';
  return false;
}

/** runc's RemovePaths: the paths still there after the last round, with the last error. */
async function removeCgroups(paths: string[], rounds: number): Promise<StuckCgroup[]> {
  let left: StuckCgroup[] = [...new Set(paths)].filter((p) => path.isAbsolute(p)).map((p) => ({ path: p, code: '' }));
  let delay = FIRST_DELAY_MS;
  for (let round = 0; left.length && round < rounds; round++) {
    if (round) {
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
    const still: StuckCgroup[] = [];
    for (const c of left) {
      const code = await removeCgroup(c.path);
      if (code) still.push({ path: c.path, code });
    }
    left = still;
  }
  return left;
}

/** rmdir a cgroup, its child cgroups first (a cgroup directory holds only its own files); '' once gone. */
async function removeCgroup(p: string): Promise<string> {
  const rmdir = () => fs.rmdir(p).then(() => '', (e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? '' : e.code ?? 'EIO'));
  const first = await rmdir();
  if (first !== 'EBUSY' && first !== 'ENOTEMPTY') return first;
  const children = await fs.readdir(p, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => e.code ?? 'EIO');
  if (typeof children === 'string') return children === 'ENOENT' ? '' : children;
  for (const d of children) {
    if (!d.isDirectory()) continue;
    const code = await removeCgroup(path.join(p, d.name));
    if (code) return code;
  }
  return rmdir();
}
