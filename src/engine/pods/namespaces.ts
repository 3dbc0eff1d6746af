// A host pod's namespaces besides its network (CNI pins that one): UTS (the pod's hostname)
// and IPC are pinned as files, with no process holding them (CRI-O's pinns); containers join
// them by path. A shared PID namespace cannot be pinned (it dies with its pid 1), so a pod
// that asks for one gets a holder process: the namespace's init, reaping orphans. And the
// pod's /dev/shm, a tmpfs its containers bind, as its IPC namespace is theirs.
import { spawn } from 'node:child_process';
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import { exec, execOk } from '../../common/exec.js';
import { internal, withContext } from '../../common/errors.js';
import { childPids, markedEnv, procStat, processesMarked } from '../../common/proc.js';
import { isMounted } from '../../network/index.js';
import type { Logger } from '../../common/log.js';
import { which } from '../../common/which.js';
import { ensureShm, unmountPath } from '../../storage/mounts.js';

export type PinnedKind = 'uts' | 'ipc';

export interface PidHolder { pid: number; startTime: string }

const TIMEOUT_MS = 10_000;

/** Create the files, then one `unshare --uts=F --ipc=G` naming the host: created, pinned, named. */
export async function pinNamespaces(dir: string, kinds: PinnedKind[], hostname: string, signal?: AbortSignal): Promise<Record<PinnedKind, string | undefined>> {
  const out: Record<PinnedKind, string | undefined> = { uts: undefined, ipc: undefined };
  if (!kinds.length) return out;
  await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  for (const k of kinds) {
    const f = path.join(dir, k);
    await (await fs.open(f, constants.O_WRONLY | constants.O_CREAT, 0o444)).close();
    out[k] = f;
  }
  try {
    // without a new UTS namespace there is no hostname to set: `true` pins what was asked. The
    // kernel's file, not hostname(1), which refuses names the kernel takes (crictl_host: runc
    // and containerd set what the pod config says)
    const cmd = kinds.includes('uts') ? ['sh', '-c', 'printf %s "$1" > /proc/sys/kernel/hostname', 'sh', hostname] : ['true'];
    await execOk('unshare', [...kinds.map((k) => `--${k}=${out[k]}`), ...cmd], { timeoutMs: TIMEOUT_MS, signal });
  } catch (e) {
    await unpinNamespaces(dir).catch(() => { /* the error below says more */ });
    throw withContext(e, `pin the pod's ${kinds.join(' and ')} namespaces`);
  }
  return out;
}

/** The pod's /dev/shm: a tmpfs at <dir>/shm, containerd's sandbox shm (64 MiB, mode 1777). */
export function mountPodShm(dir: string): Promise<string> {
  return ensureShm(path.join(dir, 'shm'));
}

/** The pod's /dev/shm goes (not mounted: nothing to do). */
export async function unmountPodShm(dir: string): Promise<void> {
  await unmountPath(path.join(dir, 'shm'));
}

/** Unpin and delete every namespace file in dir; idempotent. */
export async function unpinNamespaces(dir: string): Promise<void> {
  for (const k of ['uts', 'ipc'] as const) {
    const f = path.join(dir, k);
    for (let i = 0; i < 8 && await isMounted(f); i++) {
      const r = await exec('umount', [f], { timeoutMs: TIMEOUT_MS });
      if (r.code !== 0) await exec('umount', ['-l', f], { timeoutMs: TIMEOUT_MS });
    }
    if (await isMounted(f)) throw internal(`pod namespace ${f} is still mounted`);
    await fs.rm(f, { force: true });
  }
}

/**
 * The init of a pod's shared PID namespace: `unshare --pid --fork` runs it as pid 1 of a new
 * namespace, in the pod's UTS/IPC/network namespaces (containers see it as pid 1, as
 * kubelet's pause). Its own session: it outlives tsulad. Returns the init's host pid.
 */
export async function startPidHolder(join: { net?: string; uts?: string; ipc?: string }, owner: string, log?: Logger): Promise<PidHolder> {
  const nsenter = [join.net && `--net=${join.net}`, join.uts && `--uts=${join.uts}`, join.ipc && `--ipc=${join.ipc}`].filter(Boolean) as string[];
  const argv = [...(nsenter.length ? ['nsenter', ...nsenter, '--'] : []), 'unshare', '--pid', '--fork', '--kill-child', ...await holderCommand(log)];
  // the owner (the pod's dir) in its environment: a holder whose pod record is gone can be
  // found again (findPidHolders) and stopped
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore', cwd: '/', env: markedEnv(OWNER_ENV, owner) });
  const parent = await new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(internal(`start the pod's PID namespace holder: ${e.message}`)));
    child.once('spawn', () => resolve(child.pid!));
  });
  child.unref();
  // the holder is unshare's child (nsenter execs unshare): wait for it to appear
  for (let i = 0; i < 400; i++) {
    const kids = await childPids(parent);
    if (kids.length) {
      const pid = kids[0]!;
      const mine = await fs.readlink('/proc/self/ns/pid');
      if (await fs.readlink(`/proc/${pid}/ns/pid`).catch(() => mine) !== mine) return { pid, startTime: (await procStat(pid)).startTime };
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  try { process.kill(-parent, 'SIGKILL'); } catch { /* gone */ }
  throw internal('the pod\'s PID namespace holder did not start');
}

const OWNER_ENV = 'TSULA_POD_HOLDER';

/**
 * What runs as the namespace's pid 1: catatonit in pause mode (podman's infra, kubelet's
 * pause): it reaps the orphans the kernel hands it, where a pid 1 that never waits would keep
 * each as a zombie for the pod's life, and is no `sleep` that a container's `pgrep sleep`
 * finds (critest's exec timeout check). Without it, `sleep infinity`, with a warning. Either
 * ignores the signals it has no handler for, as pid 1: only SIGKILL, what stopping a pod
 * sends, ends it.
 */
async function holderCommand(log?: Logger): Promise<string[]> {
  const pause = await which('catatonit');
  if (pause) return [pause, '-P'];
  if (!warned) log?.warn('catatonit is not installed: a pod\'s shared PID namespace gets `sleep infinity` as pid 1, which reaps no orphans (scripts/deps.sh installs catatonit)');
  warned = true;
  return ['sleep', 'infinity'];
}
let warned = false;

/** The holder processes (unshare and its catatonit or sleep) whose owner is a pod dir under stateDir. */
export async function findPidHolders(stateDir: string): Promise<Array<{ pid: number; owner: string }>> {
  return (await processesMarked(OWNER_ENV, `${stateDir}/`, new Set(['nsenter', 'unshare', 'catatonit', 'sleep']))).map((p) => ({ pid: p.pid, owner: p.value }));
}

/** Is the holder still the process we started (pid reuse after a restart)? */
export async function holderAlive(h: PidHolder): Promise<boolean> {
  const st = await procStat(h.pid).catch(() => null);
  return !!st && st.state !== 'Z' && st.startTime === h.startTime;
}

/** Kill the holder (and with it every process of the namespace: the kernel kills them when pid 1 dies). */
export async function stopPidHolder(h: PidHolder): Promise<void> {
  if (!(await holderAlive(h))) return;
  try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ }
  for (let i = 0; i < 200 && await holderAlive(h); i++) await new Promise((r) => setTimeout(r, 10));
}
