// The QEMU hypervisor: config + VM spec → typed devices → argv. Kata's and Kuasar's
// qemu shape, reduced to what a virtio-serial agent channel and a virtio-fs share need (no
// vsock on these hosts; see DESIGN.md), plus the pod's NICs on taps the sandbox made.
import type { HypervisorConfig } from '../config.js';
import { AGENT_PORT, DEBUG_PORT, kernelCmdline, TEMPLATE_SLOTS, type Hypervisor, type VmSpec } from '../types.js';
import {
  ChardevFile, ChardevSocket, Cpu, FileMemory, Incoming, Kernel, Machine, Memory, MemfdMemory, PcieRootPort, PmemImage, Process, Qmp, ReadonlyDisk, Rng,
  SerialConsole, TapNetdev, VhostUserFs, VirtConsole, VirtSerialPort, VirtioNet, VirtioSerial, type QemuDevice,
} from './devices.js';
import { daxImageBytes } from './image.js';

export class QemuHypervisor implements Hypervisor {
  readonly name = 'qemu';
  constructor(readonly config: HypervisorConfig) {}

  devices(spec: VmSpec): QemuDevice[] {
    const c = this.config;
    // microvm has no PCI bus: its virtio devices sit on virtio-mmio
    const transport = c.machineType === 'microvm' ? 'mmio' : 'pci';
    const extra: Record<string, string> = {};
    for (const kv of c.machineAccelerators.split(',').filter(Boolean)) {
      const [k, v = 'on'] = kv.split('=');
      extra[k] = v;
    }
    const serial = new VirtioSerial('vserial0', transport);
    const mib = spec.memoryMib ?? c.defaultMemory;
    const tpl = spec.template;
    // a template's machine: its devices are hot-plugged after the restore, never on argv
    const fs = tpl ? undefined : spec.sharedFs;
    const nics = tpl ? [] : spec.nics ?? [];
    if (fs || tpl) extra['memory-backend'] = 'mem0';
    // the image on virtio-pmem (PCI only) when it is DAX-ready, else on virtio-blk
    const pmemBytes = c.image && !c.disableImageNvdimm && transport === 'pci' ? daxImageBytes(c.image) : null;
    const deviceMib = pmemBytes ? Math.ceil(pmemBytes / (128 << 20)) * 128 : 0;
    const memory = tpl?.ramFile ? new FileMemory('mem0', mib, tpl.ramFile, tpl.shareRam, deviceMib)
      : fs || tpl ? new MemfdMemory('mem0', mib, deviceMib) : new Memory(mib, deviceMib);
    // maxmem puts possible RAM above 4 GiB, for which the kernel would set aside 64 MiB of
    // SWIOTLB bounce buffers that no virtio device (no IOMMU here) ever uses
    // (before the spec's own: those may end with `--` and init's arguments)
    const params = [...(pmemBytes ? ['tsula.image=pmem', 'swiotlb=noforce'] : []), ...(spec.kernelParams ?? [])];
    return [
      new Process(`sandbox-${spec.id}`, spec.paths.pidFile),
      new Machine(c.machineType, spec.accel, extra, c.tcgTbSize),
      // TCG: "max" emulates every feature QEMU can; KVM: pass the host CPU through
      new Cpu(c.cpuModel || (spec.accel === 'kvm' ? 'host' : 'max'), spec.vcpus ?? c.defaultVcpus),
      memory,
      new Kernel(c.kernel, c.initrd, kernelCmdline(c, 'ttyS0', params)),
      new ChardevFile('console0', spec.paths.consoleLog),
      new SerialConsole('console0'),
      new ChardevSocket('qmp0', spec.paths.qmpSocket),
      new Qmp('qmp0'),
      serial,
      new ChardevSocket('agent0', spec.paths.agentSocket),
      new VirtSerialPort(serial, 'agent0', AGENT_PORT),
      // a console port, not a plain one: the guest gets a tty (/dev/hvc0) for its debug shell
      new ChardevSocket('debug0', spec.paths.debugSocket),
      new VirtConsole(serial, 'debug0', DEBUG_PORT),
      ...(fs ? [new ChardevSocket('fs0', fs.socket, false), new VhostUserFs('fs0', fs.tag, transport)] : []),
      // the guest's entropy pool starts empty under TCG; node's crypto init would wait on it
      new Rng(transport),
      ...(pmemBytes ? [new PmemImage('image0', c.image, pmemBytes)] : c.image ? [new ReadonlyDisk('image0', c.image, transport)] : []),
      ...nics.flatMap((n, i) => {
        const tap = new TapNetdev(`net${i}`, n.tap, !c.disableVhostNet);
        return [tap, new VirtioNet(tap, n.mac, transport)];
      }),
      // q35 hot-plugs into root ports only; pc's root bus takes hot-plugged devices itself
      ...(tpl && c.machineType === 'q35' ? [new PcieRootPort(TEMPLATE_SLOTS.fs, 1), new PcieRootPort(TEMPLATE_SLOTS.nic, 2)] : []),
      ...(tpl?.restore ? [new Incoming()] : []),
    ];
  }

  argv(spec: VmSpec): string[] {
    return [this.config.path, ...this.devices(spec).flatMap((d) => d.args())];
  }
}
