// `runc delete` of a stopped container without a runc process. For a container whose init has
// exited, in its own pid namespace, with runc's cgroupfs driver, no poststop hooks and no
// Intel RDT group, runc's delete (libcontainer's destroy of a stopped container) removes the
// container's cgroup directories (retrying while the kernel still counts the last tasks) and
// then its state directory, nothing else. A fork and Go start-up of runc fewer at every exit
// (~5 ms, and its CPU). Anything else (a live or unknown init, a shared pid namespace whose
// leftovers runc must kill, hooks to run, systemd units) is left to runc itself.
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
    cgroups?: { Systemd?: boolean; Rootless?: boolean };
    Hooks?: { poststop?: unknown[] | null } | null;
  };
}

/** runc's RemovePaths: 5 rounds, 10 ms doubling between them (~150 ms in all). */
const ROUNDS = 5;
const FIRST_DELAY_MS = 10;

/**
 * Delete the runc state of a stopped container under `root`; false when this is no case for
 * doing it here (the caller runs `runc delete`), and also when a cgroup would not go (runc then
 * retries and words the error).
 */
export async function deleteStoppedState(root: string, id: string): Promise<boolean> {
  if (!id || id.includes('/') || id === '.' || id === '..') return false;
  const dir = path.join(root, id);
  let st: RuncState;
  try {
    st = JSON.parse(await fs.readFile(path.join(dir, 'state.json'), 'utf8')) as RuncState;
  } catch {
    return false; // none (runc says not found, or removes a half-made directory), or torn
  }
  const c = st.config;
  const pidns = c?.namespaces?.find((n) => n.type === 'NEWPID');
  if (!c || !pidns || pidns.path || st.rootless || c.cgroups?.Systemd || c.cgroups?.Rootless
    || st.intel_rdt_path || (c.Hooks?.poststop?.length ?? 0) > 0 || !st.init_process_pid || st.init_process_start === undefined) return false;
  if (await stillRunning(st.init_process_pid, String(st.init_process_start))) return false;
  if (!(await removeCgroups(Object.values(st.cgroup_paths ?? {})))) return false;
  await fs.rm(dir, { recursive: true, force: true });
  return true;
}

async function removeCgroups(paths: string[]): Promise<boolean> {
  let left = [...new Set(paths)].filter((p) => path.isAbsolute(p));
  for (let round = 0, delay = FIRST_DELAY_MS; left.length && round < ROUNDS; round++, delay *= 2) {
    if (round) await new Promise((r) => setTimeout(r, delay));
    const still: string[] = [];
    for (const p of left) if (!(await removeCgroup(p))) still.push(p);
    left = still;
  }
  return left.length === 0;
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
