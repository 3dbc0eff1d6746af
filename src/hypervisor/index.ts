// Hypervisors for VM sandboxes (Kuasar's shape: one folder per hypervisor with its device
// model and command line; config, accelerator detection and the bounded launch are shared).
// Owns nothing persistent; may call ttrpc (the agent's first Ping) and common/.
import type { HypervisorConfig } from './config.js';
import type { Hypervisor } from './types.js';
import { QemuHypervisor } from './qemu/index.js';
import { StratovirtHypervisor } from './stratovirt/index.js';

export * from './types.js';
export * from './config.js';
export * from './detect.js';
export { launchVm, vmPathsIn, runVmToEnd, stopVmm, quitLingeringVmm, pidAlive, pidFileProcess, consoleTail, type RunningVm, type LaunchOptions } from './vm.js';
export { QmpClient, type QmpEvent } from './qmp.js';
export { startVirtiofsd, stopVirtiofsd, type VirtiofsdOptions } from './virtiofsd.js';
export { QemuHypervisor } from './qemu/index.js';
export { StratovirtHypervisor } from './stratovirt/index.js';

/** The factory: a hypervisor config → the object that builds its VMs' command lines. */
export function hypervisorFor(cfg: HypervisorConfig): Hypervisor {
  switch (cfg.name) {
    case 'qemu': return new QemuHypervisor(cfg);
    case 'stratovirt': return new StratovirtHypervisor(cfg);
  }
}
