// Guest-side names and paths, shared by the agent and the host's vmm kind.
/** QEMU's virtserialport name=... of the agent channel. */
export const AGENT_PORT_NAME = 'agent.channel.0';
/** Where /init mounts the pod's shared directory (virtiofs tag `tsula`). */
export const GUEST_SHARED_DIR = '/run/tsula/shared';
/** The agent's per-task dirs: conmon's sockets, pid and exit files (guest tmpfs). */
export const GUEST_TASKS_DIR = '/run/tsula/tasks';
/** runc --root and conmon's exit files in the guest. */
export const GUEST_RUNC_STATE = '/run/tsula/runc';
