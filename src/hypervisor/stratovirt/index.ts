// StratoVirt (openEuler's VMM): only the command line for now. Its options follow QEMU's
// syntax for the parts used here, with its own machine names (microvm, virt) and
// `-qmp unix:...,server,nowait`. The binary is not packaged for Debian: launching reports
// it missing (vm.ts checks the path before spawning). Its virtio-fs flags can't be checked
// against a binary here, so a shared fs is refused rather than guessed.
import type { HypervisorConfig } from '../config.js';
import { failedPrecondition } from '../../common/errors.js';
import { opts } from '../qemu/devices.js';
import { AGENT_PORT, DEBUG_PORT, kernelCmdline, type Hypervisor, type VmSpec } from '../types.js';

export class StratovirtHypervisor implements Hypervisor {
  readonly name = 'stratovirt';
  constructor(readonly config: HypervisorConfig) {}

  argv(spec: VmSpec): string[] {
    const c = this.config;
    const p = spec.paths;
    if (spec.sharedFs) throw failedPrecondition('hypervisor.stratovirt: virtio-fs is not supported with StratoVirt yet; set shared_fs = "none"');
    if (spec.nics?.length) throw failedPrecondition('hypervisor.stratovirt: pod networking is not supported with StratoVirt yet; set internetworking_model = "none"');
    const mmio = c.machineType === 'microvm';
    const serial = mmio ? 'virtio-serial-device' : 'virtio-serial-pci';
    return [
      c.path,
      '-name', `sandbox-${spec.id}`,
      // machine_accelerators: Kuasar's "virt,mem-share=on" arrives as virt + mem-share=on
      '-machine', opts(c.machineType, { accel: spec.accel === 'kvm' ? 'kvm' : undefined, ...machineOptions(c.machineAccelerators) }),
      '-smp', String(spec.vcpus ?? c.defaultVcpus),
      '-m', String(spec.memoryMib ?? c.defaultMemory),
      '-kernel', c.kernel, '-initrd', c.initrd,
      '-append', kernelCmdline(c, mmio ? 'hvc0' : 'ttyS0', spec.kernelParams),
      '-qmp', `unix:${p.qmpSocket},server,nowait`,
      '-pidfile', p.pidFile,
      '-device', opts(serial, { id: 'vserial0' }),
      '-chardev', opts('socket', { id: 'agent0', path: p.agentSocket, server: undefined }) + ',server,nowait',
      '-device', opts('virtserialport', { bus: 'vserial0.0', chardev: 'agent0', name: AGENT_PORT, nr: 1 }),
      '-chardev', opts('socket', { id: 'debug0', path: p.debugSocket }) + ',server,nowait',
      '-device', opts('virtserialport', { bus: 'vserial0.0', chardev: 'debug0', name: DEBUG_PORT, nr: 2 }),
      '-serial', `file,path=${p.consoleLog}`,
      ...(c.image ? ['-drive', opts(undefined, { id: 'image0', file: c.image, readonly: 'on' }), '-device', opts(mmio ? 'virtio-blk-device' : 'virtio-blk-pci', { drive: 'image0' })] : []),
    ].filter((x) => x !== '');
  }
}

function machineOptions(list: string): Record<string, string> {
  return Object.fromEntries(list.split(',').filter(Boolean).map((kv) => {
    const [k, v = 'on'] = kv.split('=');
    return [k, v];
  }));
}
