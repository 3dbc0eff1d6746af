// What every hypervisor offers: a command line for one VM from the config and the VM's
// paths. Launching, the bounded boot and stopping are shared (vm.ts): they only need argv.
import type { HypervisorConfig } from './config.js';
import type { Accel } from './detect.js';

/** Where one VM's files live (all under the sandbox's state dir). */
export interface VmPaths {
  /** Host end of the agent's virtio-serial port (a unix socket QEMU listens on). */
  agentSocket: string;
  /** Host end of the debug console (a virtio console: a shell on the guest's /dev/hvc0). */
  debugSocket: string;
  qmpSocket: string;
  /** The guest's serial console (kernel messages, /init's output). */
  consoleLog: string;
  pidFile: string;
}

export interface VmSpec {
  /** The sandbox id: the VM is named `sandbox-<id>`. */
  id: string;
  accel: Accel;
  paths: VmPaths;
  vcpus?: number;
  memoryMib?: number;
  /** virtio-fs: virtiofsd's socket (listening already) and the tag the guest mounts. */
  sharedFs?: { socket: string; tag: string };
  /** More kernel parameters for this VM (a snapshot builder's tsula.agent_snapshot=build). */
  kernelParams?: string[];
  /**
   * Run the VMM inside this network namespace (a pinned netns file; Kuasar's shape): the
   * pod's taps are there, and QEMU opens them by name.
   */
  netns?: string;
  /**
   * Run the VMM in a new, empty network namespace of its own instead (a cached clone's,
   * made before its pod exists: a tap it opens later is born there and moved to the pod's).
   */
  ownNetns?: boolean;
  /** Start the VMM at this niceness (a cached clone's restore yields the CPU to pods starting meanwhile). */
  nice?: number;
  /** The guest's NICs, each on a tap that exists already (in `netns`). */
  nics?: VmNic[];
  /**
   * A VM template's machine (vmm kind's templates.ts): guest RAM in `ramFile` (shared or a
   * private copy-on-write mapping), or without one in a memfd of QEMU's that the caller fills
   * before the restore (ram.ts); empty hot-plug slots, no virtio-fs and no NIC on the command
   * line (they are hot-plugged after a restore: sharedFs and nics are ignored). `restore`:
   * wait for the saved state (-incoming defer) instead of booting. The template's boot and its
   * clones get the same devices, which a restore requires.
   */
  template?: { ramFile?: string; shareRam: boolean; restore: boolean };
}

/** Hot-plug slots of a template's machine: the virtio-fs share and the NIC. */
export const TEMPLATE_SLOTS = { fs: 'tslot0', nic: 'tslot1' } as const;

export interface VmNic {
  /** The tap's name in the VMM's network namespace. */
  tap: string;
  /** The guest interface's MAC (aa:bb:cc:dd:ee:ff). */
  mac: string;
}

/** The virtio-fs tag the guest's /init mounts at GUEST_SHARED_DIR. */
export const SHARED_FS_TAG = 'tsula';

export const AGENT_PORT = 'agent.channel.0';
export const DEBUG_PORT = 'debug.console.0';

export interface Hypervisor {
  readonly name: string;
  readonly config: HypervisorConfig;
  /** argv[0] is the binary. */
  argv(spec: VmSpec): string[];
}

/**
 * The guest kernel command line shared by every hypervisor. enable_debug: the kernel's
 * messages on the console log, and tsula.debug=1 makes the agent log at debug level.
 */
export function kernelCmdline(cfg: HypervisorConfig, console: string, extra: string[] = []): string {
  // cryptomgr.notests (as kata's kernels have it): the crypto API's self-tests of the
  // kernel's own algorithms run in a late initcall the boot waits for, ~0.6 s under TCG
  const base = [`console=${console}`, 'panic=-1', 'reboot=t', 'rdinit=/init', 'cryptomgr.notests'];
  base.push(...(cfg.enableDebug ? ['tsula.debug=1'] : ['quiet', 'loglevel=3']));
  // vmm.toml's agent_snapshot = false: /init starts the agent from its script
  if (!cfg.agentSnapshot) base.push('tsula.agent_snapshot=off');
  return [...base, cfg.kernelParams, ...extra].filter(Boolean).join(' ');
}
