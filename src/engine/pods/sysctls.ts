// A pod's sysctls, set when the pod is made: containerd puts them in the pause container's
// spec, so runc refuses one that is not namespaced, or that the pod's namespaces don't have,
// and RunPodSandbox fails. A host pod has no pause container: the same checks run here (in
// runc 1.1's words), then each value is written inside the pod's namespaces.
import { exec } from '../../common/exec.js';
import { invalidArgument } from '../../common/errors.js';

/** The pod's own namespaces (false: the node's). */
export interface PodNamespaces { ipc: boolean; net: boolean; uts: boolean }

const IPC_SYSCTLS = new Set(['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced']);

/** A sysctl of the IPC namespace (runc's and dockerd's list, and fs.mqueue.*). */
export function isIpcSysctl(name: string): boolean {
  return IPC_SYSCTLS.has(name) || name.startsWith('fs.mqueue.');
}

/** runc's validator (libcontainer/configs/validate: sysctl), for the pod's namespaces. */
export function checkSysctls(sysctls: Record<string, string>, own: PodNamespaces): void {
  for (const s of Object.keys(sysctls)) {
    const q = JSON.stringify(s);
    // the key becomes a path under /proc/sys: no empty, "." or ".." component may take it out
    if (!/^[A-Za-z0-9_:./-]+$/.test(s) || s.split(/[./]/).some((c) => c === '' || c === '..')) {
      throw invalidArgument(`sysctl ${q} is not a valid sysctl name`);
    }
    if (isIpcSysctl(s)) {
      if (!own.ipc) throw invalidArgument(`sysctl ${q} is not allowed in the hosts ipc namespace`);
      continue;
    }
    if (s.startsWith('net.')) {
      if (!own.net) throw invalidArgument(`sysctl ${q} not allowed in host network namespace`);
      continue;
    }
    if (own.uts && s === 'kernel.domainname') continue;
    if (own.uts && s === 'kernel.hostname') throw invalidArgument(`sysctl ${q} is not allowed as it conflicts with the OCI "hostname" field`);
    throw invalidArgument(`sysctl ${q} is not in a separate kernel namespace`);
  }
}

// each file is looked for first: a knob the kernel lacks is named as runc's open() error names it
const WRITE_SCRIPT = `
while [ $# -gt 1 ]; do
  f=$1; v=$2; shift 2
  if [ ! -e "$f" ]; then echo "open $f: no such file or directory"; exit 3; fi
  if ! err=$( (printf '%s' "$v" > "$f") 2>&1 ); then echo "write $f: $err"; exit 3; fi
done`;

/**
 * Write the sysctls inside the pod's namespaces (paths of pinned namespaces), as runc writes
 * the pause container's. A key that the kernel lacks, or a value it refuses, fails the pod.
 */
export async function applySysctls(sysctls: Record<string, string>, join: { net?: string; ipc?: string; uts?: string }, signal?: AbortSignal): Promise<void> {
  const entries = Object.entries(sysctls);
  if (!entries.length) return;
  const ns = [join.net && `--net=${join.net}`, join.ipc && `--ipc=${join.ipc}`, join.uts && `--uts=${join.uts}`].filter(Boolean) as string[];
  const args = entries.flatMap(([k, v]) => [`/proc/sys/${k.replace(/\./g, '/')}`, v]);
  const r = await exec('nsenter', [...ns, '--', 'sh', '-c', WRITE_SCRIPT, 'sh', ...args], { timeoutMs: 10_000, signal });
  if (r.code === 0) return;
  const why = (r.stdout || r.stderr).trim();
  const file = /^(?:open|write) (\S+):/.exec(why)?.[1] ?? '';
  const key = file ? file.slice('/proc/sys/'.length).replace(/\//g, '.') : '';
  throw invalidArgument(`${key ? `sysctl ${JSON.stringify(key)}: ` : ''}${why || `nsenter exited with ${r.code}`}`);
}
