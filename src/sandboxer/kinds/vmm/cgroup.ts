// The pod's cgroup on the host (the cgroup its spec names for the sandbox, below kubelet's
// pod cgroup), as kata fills it. vmm.toml's sandbox_cgroup_only: the pod's qemu and
// virtiofsd join it, so kubelet's cadvisor sees the VM's CPU and memory as the pod's and the
// pod's limits bind the VM. Off (kata's default): only the vCPU threads go there (cgroup v1:
// the pod's CPU limits bind what the guest runs, and containerd's PodSandboxStats, which
// loads that cgroup, finds it), the rest of qemu and virtiofsd staying in the sandboxer's.
import { detectCgroups } from '../../../cgroups/usage.js';
import { joinCgroup, joinCgroupThreads } from '../../../cgroups/join.js';
import { QmpClient } from '../../../hypervisor/qmp.js';
import { errorMessage, withContext } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { HypervisorConfig } from '../../../hypervisor/config.js';
import { CGROUPS_PATH_ANNOTATION } from '../../podspec.js';

/**
 * Put the VM's processes or threads in the pod's cgroup; `made` gets each dir made, also on
 * a failure (the caller removes them with the VM).
 */
export async function joinSandboxCgroup(
  id: string, cfg: HypervisorConfig, annotations: Record<string, string>, pids: number[], qmpSocket: string, made: string[], log?: Logger,
): Promise<void> {
  const cgPath = annotations[CGROUPS_PATH_ANNOTATION];
  if (!cgPath) return;
  if (cfg.sandboxCgroupOnly) {
    await joinCgroup(await detectCgroups(), cgPath, pids.filter((p) => p > 0), made)
      .catch((e: unknown) => { throw withContext(e, `sandbox ${id}: sandbox_cgroup_only: cannot move the VM into cgroup ${cgPath}`); });
    return;
  }
  // a systemd-style path (slice:prefix:name) is systemd's to make: left alone
  if (!cgPath.startsWith('/')) return;
  const layout = await detectCgroups();
  if (layout.version !== 1) return;
  // the pod runs without (all) its vCPUs in its cgroup (its stats say less), said in the log
  await joinCgroupThreads(layout, cgPath, await vcpuThreads(qmpSocket, id), made).catch((e: unknown) => {
    log?.warn('cannot move the VM\'s vCPU threads into the pod\'s cgroup', { sandbox: id, cgroup: cgPath, err: errorMessage(e) });
  });
}

/** The host thread ids of the VM's vCPUs (QMP query-cpus-fast; one thread for all under single-threaded TCG). */
async function vcpuThreads(qmpSocket: string, id: string): Promise<number[]> {
  const qmp = await QmpClient.connect(qmpSocket, `sandbox-${id}`, 2000);
  try {
    const cpus = await qmp.execute('query-cpus-fast') as Array<{ 'thread-id'?: number }>;
    return [...new Set(cpus.map((c) => c['thread-id']).filter((t): t is number => typeof t === 'number' && t > 0))];
  } finally {
    qmp.close();
  }
}
