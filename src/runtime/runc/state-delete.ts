// `runc delete` of a stopped container without a runc process. For a container whose init has
// exited, in its own pid namespace, with runc's cgroupfs driver, no poststop hooks and no
// Intel RDT group, runc's delete (libcontainer's destroy of a stopped container, checked with
// strace on runc 1.1.5) removes the container's cgroup directories, retrying while the kernel
// still counts the last tasks, and then its state directory; nothing else. A fork and Go
// start-up of runc fewer at every exit (~5 ms and its CPU).
// Anything else (a live, frozen or unknown init, a shared pid namespace whose leftovers runc
// must kill, hooks to run, systemd units, a state.json not in runc's layout) is runc's.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { stillRunning } from '../../common/proc.js';

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

/** runc's RemovePaths: 5 rounds, 10, 20, 40, 80 ms between them. */
const ROUNDS = 5;
const FIRST_DELAY_MS = 10;

/**
 * Delete the runc state of a stopped container under `root`; false when this is no case for
 * doing it here (the caller runs `runc delete`). Cgroups that will not go even after runc's
 * retries are left, as runc leaves them (it logs them and deletes the state all the same):
 * `stuck` hears of them.
 */
export async function deleteStoppedState(root: string, id: string, stuck?: (paths: string[]) => void): Promise<boolean> {
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
  const left = await removeCgroups(Object.values(st.cgroup_paths));
  if (left.length) stuck?.(left);
  await fs.rm(dir, { recursive: true, force: true });
  return true;
}

/** freezer.state FROZEN or FREEZING (v1), or cgroup.freeze 1 (v2), as runc reads them. */
async function frozen(paths: Record<string, string>): Promise<boolean> {
  const read = (f: string) => fs.readFile(f, 'utf8').then((t) => t.trim(), () => '');
  if (paths.freezer) return ['FROZEN', 'FREEZING'].includes(await read(path.join(paths.freezer, 'freezer.state')));
  if (paths['']) return (await read(path.join(paths[''], 'cgroup.freeze'))) === '1';
  return false;
}

/** runc's RemovePaths: the paths still there after the last round. */
async function removeCgroups(paths: string[]): Promise<string[]> {
  let left = [...new Set(paths)].filter((p) => path.isAbsolute(p));
  let delay = FIRST_DELAY_MS;
  for (let round = 0; left.length && round < ROUNDS; round++) {
    if (round) {
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
    const still: string[] = [];
    for (const p of left) if (!(await removeCgroup(p))) still.push(p);
    left = still;
  }
  return left;
}

/** rmdir a cgroup, its child cgroups first (a cgroup directory holds only its own files). */
async function removeCgroup(p: string): Promise<boolean> {
  try {
    await fs.rmdir(p);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return true;
    if (code !== 'EBUSY' && code !== 'ENOTEMPTY') return false;
  }
  const children = await fs.readdir(p, { withFileTypes: true }).catch(() => null);
  if (!children) return false;
  for (const d of children) if (d.isDirectory() && !(await removeCgroup(path.join(p, d.name)))) return false;
  try {
    await fs.rmdir(p);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT';
  }
}
