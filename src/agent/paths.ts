// Guest-side names and paths, shared by the agent and the host's vmm kind.
/** QEMU's virtserialport name=... of the agent channel. */
export const AGENT_PORT_NAME = 'agent.channel.0';
/** Where /init mounts the pod's shared directory (virtiofs tag `tsula`). */
export const GUEST_SHARED_DIR = '/run/tsula/shared';
/** The pod's /dev/shm in the guest (a tmpfs its containers bind: agent/pod-namespaces.ts). */
export const GUEST_POD_SHM = '/run/tsula/pod-shm';
/** The agent's per-task dirs: conmon's sockets, pid and exit files (guest tmpfs). */
export const GUEST_TASKS_DIR = '/run/tsula/tasks';
/**
 * The guest's OCI runtime: crun when the image has it (build-guest.sh copies the host's);
 * under TCG a create with it (C) takes about half of runc's emulated time (Go: the runtime's
 * start, twice per create with runc init). The kernel parameter tsula.oci_runtime=runc
 * (vmm.toml's kernel_params) keeps runc; an image without crun has only runc.
 */
export function guestOciRuntime(cmdline: string, has: (path: string) => boolean): { name: 'crun' | 'runc'; path: string } {
  const asked = /(?:^|\s)tsula\.oci_runtime=(\S+)/.exec(cmdline)?.[1];
  if (asked !== 'runc' && has('/usr/bin/crun')) return { name: 'crun', path: '/usr/bin/crun' };
  return { name: 'runc', path: '/usr/sbin/runc' };
}
/** The OCI runtime's --root and conmon's exit files in the guest. */
export const GUEST_RUNC_STATE = '/run/tsula/runc';
