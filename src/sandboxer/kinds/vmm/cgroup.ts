// vmm.toml's sandbox_cgroup_only (kata's): a pod's qemu and virtiofsd join the cgroup its
// spec names for the sandbox (below kubelet's pod cgroup), so kubelet's cadvisor sees the
// VM's CPU and memory as the pod's and the pod's limits bind the VM. Off: they stay in the
// sandboxer's cgroup, as before.
import { detectCgroups } from '../../../cgroups/usage.js';
import { joinCgroup } from '../../../cgroups/join.js';
import { withContext } from '../../../common/errors.js';
import type { HypervisorConfig } from '../../../hypervisor/config.js';
import { CGROUPS_PATH_ANNOTATION } from '../../podspec.js';

/** The cgroup dirs the VM's processes joined ([] when not asked for or no path is given). */
export async function joinSandboxCgroup(id: string, cfg: HypervisorConfig, annotations: Record<string, string>, pids: number[]): Promise<string[]> {
  const cgPath = annotations[CGROUPS_PATH_ANNOTATION];
  if (!cfg.sandboxCgroupOnly || !cgPath) return [];
  return joinCgroup(await detectCgroups(), cgPath, pids.filter((p) => p > 0))
    .catch((e: unknown) => { throw withContext(e, `sandbox ${id}: sandbox_cgroup_only: cannot move the VM into cgroup ${cgPath}`); });
}
