// What a VM pod may ask for, checked before it is recorded: kept apart from the kind so the
// sandboxer can refuse a request without loading the VM code (kinds/lazy.ts).
import type { SandboxRequest } from '../types.js';
import { invalidArgument } from '../../../common/errors.js';
import { CPUS_ANNOTATION, HOSTNAME_ANNOTATION, MEMORY_LIMIT_ANNOTATION, netSysctlsOf } from '../../podspec.js';
import type { HypervisorConfig } from '../../../hypervisor/config.js';
import { HOSTNAME_RE } from '../../../agent/protocol.js';
import { checkNetSysctl } from '../../../agent/sysctls.js';

/**
 * A VM has its own kernel and network stack: it can't share the host's (hostNetwork), it
 * joins the pod's netns through a tap. The hostname goes on the kernel command line. The
 * pod's net.* sysctls are named as the guest will write them (their values only it can judge).
 */
export function validateVmRequest(req: SandboxRequest): void {
  if (req.hostNetwork) {
    throw invalidArgument(`sandbox ${req.id}: hostNetwork is not supported for VM pods: the guest has its own kernel and network stack (give the pod a network namespace, or use a runc runtime)`);
  }
  const hostname = req.annotations[HOSTNAME_ANNOTATION];
  if (hostname && !HOSTNAME_RE.test(hostname)) throw invalidArgument(`sandbox ${req.id}: hostname ${JSON.stringify(hostname)} (${HOSTNAME_ANNOTATION}) is not a valid hostname`);
  try {
    for (const k of Object.keys(netSysctlsOf(req.annotations))) checkNetSysctl(k);
  } catch (e) {
    throw invalidArgument(`sandbox ${req.id}: ${(e as Error).message}`);
  }
}

/** What the guest's kernel, agent and page cache take of a VM's memory beyond a container's limit. */
export const VM_OVERHEAD_MIB = 128;

/**
 * The VM for a sandbox made for one container (docker's --runtime vmm): at least its limits,
 * so that a -m or --cpus above the configured size can be used inside (the guest's cgroup
 * applies the limit itself). Within the configured size, the config as it is (a VM template
 * fits only that); otherwise the memory the limit needs plus the guest's overhead, and the
 * CPUs it asks for (at most the host's).
 */
export function vmSizedFor(cfg: HypervisorConfig, annotations: Record<string, string>, hostCpus: number): HypervisorConfig {
  const limit = Number(annotations[MEMORY_LIMIT_ANNOTATION] ?? 0);
  const cpus = Number(annotations[CPUS_ANNOTATION] ?? 0);
  const memory = limit > 0 ? Math.max(cfg.defaultMemory, Math.ceil(limit / (1 << 20)) + VM_OVERHEAD_MIB) : cfg.defaultMemory;
  const vcpus = cpus > 0 ? Math.max(cfg.defaultVcpus, Math.min(Math.ceil(cpus), Math.max(1, hostCpus))) : cfg.defaultVcpus;
  return memory === cfg.defaultMemory && vcpus === cfg.defaultVcpus ? cfg : { ...cfg, defaultMemory: memory, defaultVcpus: vcpus };
}
