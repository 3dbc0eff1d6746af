// Put processes that no OCI runtime starts (a pod's qemu and virtiofsd) into a cgroup of the
// host, as kata's sandbox_cgroup_only does, or only the VM's vCPU threads, as kata does
// without it, and remove that cgroup when they are gone. The
// controllers are those kubelet accounts and limits a pod by (cpu, cpuacct, memory, pids,
// blkio on v1; the whole process on v2): not devices (qemu opens /dev/kvm, /dev/net/tun) nor
// cpuset (a new v1 cpuset starts empty).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../common/errors.js';
import { childPids } from '../common/proc.js';
import type { CgroupLayout } from './usage.js';

const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];

/** The dirs of cgroup `cgPath` (absolute, cgroupfs) in each controller we use, made if missing. */
async function cgroupDirs(layout: CgroupLayout, cgPath: string): Promise<string[]> {
  if (!cgPath.startsWith('/') || cgPath.split('/').includes('..')) throw invalidArgument(`cgroup path ${JSON.stringify(cgPath)}: want an absolute cgroupfs path`);
  if (layout.version === 2) return [path.join(layout.root, cgPath)];
  const dirs = new Set<string>();
  for (const c of V1_CONTROLLERS) {
    const mount = path.join(layout.root, c);
    // cpu and cpuacct share one hierarchy (cpu,cpuacct): one dir, reached through either link
    const real = await fs.realpath(mount).catch(() => null);
    if (real) dirs.add(path.join(real, cgPath));
  }
  return [...dirs];
}

/** `pids` and every process below them (virtiofsd forks its sandboxed worker at start). */
async function withDescendants(pids: number[]): Promise<number[]> {
  const out: number[] = [];
  const visit = async (pid: number): Promise<void> => {
    out.push(pid);
    for (const k of await childPids(pid)) await visit(k);
  };
  for (const p of pids) await visit(p);
  return out;
}

/**
 * Write each id into `file` of each of the cgroup's dirs, made first; `made` gets each dir
 * once it exists, also when a later write throws: its owner removes them once the processes
 * are gone (the VM's exit). One id per write: the kernel takes one; one gone meanwhile
 * (ESRCH) is nobody's to account.
 */
async function moveInto(dirs: string[], file: 'cgroup.procs' | 'tasks', ids: number[], made: string[]): Promise<string[]> {
  for (const dir of dirs) {
    await fs.mkdir(dir, { recursive: true });
    made.push(dir);
    for (const id of ids) {
      await fs.writeFile(path.join(dir, file), String(id)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ESRCH') throw e; });
    }
  }
  return made;
}

/** Move `pids` and their descendants (all threads of each) into `cgPath`; returns the dirs it is in (`made`). */
export async function joinCgroup(layout: CgroupLayout, cgPath: string, pids: number[], made: string[] = []): Promise<string[]> {
  return moveInto(await cgroupDirs(layout, cgPath), 'cgroup.procs', await withDescendants(pids), made);
}

/**
 * Move threads (a VM's vCPUs) into `cgPath`, the rest of their process staying where it is:
 * cgroup v1 only (each controller's `tasks`), where a process' threads may sit in different
 * cgroups; v2 puts a thread elsewhere only in a threaded subtree, which kubelet's pod
 * cgroups are not (nothing made there). Returns the dirs made (`made`).
 */
export async function joinCgroupThreads(layout: CgroupLayout, cgPath: string, tids: number[], made: string[] = []): Promise<string[]> {
  if (layout.version !== 1) return made;
  return moveInto(await cgroupDirs(layout, cgPath), 'tasks', tids, made);
}

/**
 * Remove the dirs joinCgroup made. A process that was just signalled may hold one a moment
 * longer (EBUSY): tried again for up to `waitMs`; what stays busy or is gone is left quietly.
 */
export async function removeCgroupDirs(dirs: string[], waitMs = 2000): Promise<void> {
  const deadline = Date.now() + waitMs;
  await Promise.all(dirs.map(async (d) => {
    for (;;) {
      const err = await fs.rmdir(d).then(() => null, (e: NodeJS.ErrnoException) => e.code);
      if (err !== 'EBUSY' || Date.now() > deadline) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }));
}
