// QEMU's device model as typed objects: each one knows the arguments it adds to the command
// line. The VM command line is the concatenation of its devices' arguments (Kuasar's shape),
// never a string assembled by hand.

/** A QEMU option value: a comma inside a value must be doubled or QEMU splits there. */
export function optValue(v: string): string {
  return v.replaceAll(',', ',,');
}

/** `key=value,...` with values escaped; undefined values are left out. */
export function opts(first: string | undefined, kv: Record<string, string | number | boolean | undefined>): string {
  const parts = first === undefined ? [] : [first];
  for (const [k, v] of Object.entries(kv)) {
    if (v === undefined) continue;
    parts.push(`${k}=${typeof v === 'boolean' ? (v ? 'on' : 'off') : optValue(String(v))}`);
  }
  return parts.join(',');
}

export interface QemuDevice {
  args(): string[];
}

/** The machine and its accelerator (-accel, which -machine accel= can't give properties to). */
export class Machine implements QemuDevice {
  constructor(readonly type: string, readonly accel: string, readonly extra: Record<string, string> = {}, readonly tcgTbSizeMib = 0) {}
  args(): string[] {
    const accel = this.accel === 'tcg' && this.tcgTbSizeMib > 0 ? opts('tcg', { 'tb-size': this.tcgTbSizeMib }) : this.accel;
    return ['-machine', opts(this.type, this.extra), '-accel', accel];
  }
}

export class Cpu implements QemuDevice {
  constructor(readonly model: string, readonly vcpus: number) {}
  args(): string[] {
    return ['-cpu', this.model, '-smp', String(this.vcpus)];
  }
}

/** -m: the guest's RAM, and room beyond it for memory devices (a virtio-pmem image). */
function memSize(mib: number, deviceMib: number): string {
  return deviceMib > 0 ? `${mib}M,slots=1,maxmem=${mib + deviceMib}M` : `${mib}M`;
}

export class Memory implements QemuDevice {
  constructor(readonly mib: number, readonly deviceMib = 0) {}
  args(): string[] {
    return ['-m', memSize(this.mib, this.deviceMib)];
  }
}

/**
 * Guest RAM in a shareable memfd: vhost-user devices (virtiofsd) map the guest's memory, so
 * it must be shared. The machine names it with memory-backend=<id>.
 */
export class MemfdMemory implements QemuDevice {
  constructor(readonly id: string, readonly mib: number, readonly deviceMib = 0) {}
  args(): string[] {
    return ['-object', opts('memory-backend-memfd', { id: this.id, size: `${this.mib}M`, share: true }), '-m', memSize(this.mib, this.deviceMib)];
  }
}

/**
 * Guest RAM in a file (VM templates). share=on: the guest's writes land in the file (the
 * template's own boot). share=off: a private copy-on-write mapping, so clones share the
 * template's pages until they write them; the file is never written.
 */
export class FileMemory implements QemuDevice {
  constructor(readonly id: string, readonly mib: number, readonly file: string, readonly share: boolean, readonly deviceMib = 0) {}
  args(): string[] {
    return ['-object', opts('memory-backend-file', { id: this.id, size: `${this.mib}M`, 'mem-path': this.file, share: this.share }), '-m', memSize(this.mib, this.deviceMib)];
  }
}

/** An empty PCIe slot on q35's root complex: q35 hot-plugs only into root ports. */
export class PcieRootPort implements QemuDevice {
  constructor(readonly id: string, readonly chassis: number) {}
  args(): string[] {
    return ['-device', opts('pcie-root-port', { id: this.id, chassis: this.chassis, slot: this.chassis, bus: 'pcie.0' })];
  }
}

/** Wait for a migration stream (migrate-incoming over QMP) instead of booting. */
export class Incoming implements QemuDevice {
  args(): string[] {
    return ['-incoming', 'defer'];
  }
}

/** virtio-fs: the guest mounts `tag` (mount -t virtiofs <tag>), served by virtiofsd on the chardev. */
export class VhostUserFs implements QemuDevice {
  constructor(readonly chardev: string, readonly tag: string, readonly transport: 'pci' | 'mmio') {}
  args(): string[] {
    return ['-device', opts(this.transport === 'pci' ? 'vhost-user-fs-pci' : 'vhost-user-fs-device', { chardev: this.chardev, tag: this.tag })];
  }
}

export class Kernel implements QemuDevice {
  constructor(readonly kernel: string, readonly initrd: string | undefined, readonly append: string) {}
  args(): string[] {
    return ['-kernel', this.kernel, ...(this.initrd ? ['-initrd', this.initrd] : []), '-append', this.append];
  }
}

/**
 * A unix socket chardev. Server (default): QEMU listens (wait=off: the VM runs before anyone
 * connects). Client: QEMU connects to a daemon that listens already (virtiofsd).
 */
export class ChardevSocket implements QemuDevice {
  constructor(readonly id: string, readonly path: string, readonly server = true) {}
  args(): string[] {
    return ['-chardev', opts('socket', this.server ? { id: this.id, path: this.path, server: true, wait: false } : { id: this.id, path: this.path })];
  }
}

export class ChardevFile implements QemuDevice {
  constructor(readonly id: string, readonly path: string) {}
  args(): string[] {
    return ['-chardev', opts('file', { id: this.id, path: this.path })];
  }
}

/** The virtio-serial controller: PCI on q35/pc, virtio-mmio on microvm. */
export class VirtioSerial implements QemuDevice {
  constructor(readonly id: string, readonly transport: 'pci' | 'mmio') {}
  args(): string[] {
    return ['-device', opts(this.transport === 'pci' ? 'virtio-serial-pci' : 'virtio-serial-device', { id: this.id })];
  }
}

/** A named port on a virtio-serial controller; the guest sees /dev/virtio-ports/<name>. */
export class VirtSerialPort implements QemuDevice {
  constructor(readonly serial: VirtioSerial, readonly chardev: string, readonly name: string) {}
  args(): string[] {
    return ['-device', opts('virtserialport', { bus: `${this.serial.id}.0`, chardev: this.chardev, name: this.name })];
  }
}

/** A console port on a virtio-serial controller: a real tty in the guest (/dev/hvcN). */
export class VirtConsole implements QemuDevice {
  constructor(readonly serial: VirtioSerial, readonly chardev: string, readonly name: string) {}
  args(): string[] {
    return ['-device', opts('virtconsole', { bus: `${this.serial.id}.0`, chardev: this.chardev, name: this.name })];
  }
}

/** The guest's ttyS0 (kernel console) into a chardev. */
export class SerialConsole implements QemuDevice {
  constructor(readonly chardev: string) {}
  args(): string[] {
    return ['-serial', `chardev:${this.chardev}`];
  }
}

/** QMP, QEMU's JSON control protocol, on a chardev socket. */
export class Qmp implements QemuDevice {
  constructor(readonly chardev: string) {}
  args(): string[] {
    return ['-mon', opts(undefined, { chardev: this.chardev, mode: 'control' })];
  }
}

/** A read-only raw disk image on virtio-blk (the guest image with node and the agent). */
export class ReadonlyDisk implements QemuDevice {
  constructor(readonly id: string, readonly file: string, readonly transport: 'pci' | 'mmio') {}
  args(): string[] {
    return [
      '-drive', opts(undefined, { file: this.file, if: 'none', id: this.id, format: 'raw', readonly: true }),
      '-device', opts(this.transport === 'pci' ? 'virtio-blk-pci' : 'virtio-blk-device', { drive: this.id }),
    ];
  }
}

/**
 * The guest image on virtio-pmem (kata's image on nvdimm), mapped read-only and shared: the
 * guest mounts it with DAX, so its pages are the host's page cache of the file, one copy for
 * every VM, never read into guest RAM. share=on also keeps it out of a template's migration
 * stream (x-ignore-shared); readonly=on: no guest can write the file the others map.
 */
export class PmemImage implements QemuDevice {
  constructor(readonly id: string, readonly file: string, readonly bytes: number) {}
  args(): string[] {
    return [
      '-object', opts('memory-backend-file', { id: `${this.id}-mem`, 'mem-path': this.file, size: this.bytes, share: true, readonly: true }),
      '-device', opts('virtio-pmem-pci', { memdev: `${this.id}-mem`, id: this.id }),
    ];
  }
}

export class Rng implements QemuDevice {
  constructor(readonly transport: 'pci' | 'mmio') {}
  args(): string[] {
    return ['-device', this.transport === 'pci' ? 'virtio-rng-pci' : 'virtio-rng-device'];
  }
}

/** Process-level options: name, pidfile, no display, no default devices, exit on reboot. */
export class Process implements QemuDevice {
  constructor(readonly name: string, readonly pidfile: string) {}
  args(): string[] {
    return ['-name', this.name, '-pidfile', this.pidfile, '-nographic', '-nodefaults', '-no-user-config', '-no-reboot'];
  }
}

/**
 * A tap device the VMM opens by name (it exists already, made by the sandbox in the pod's
 * netns, where QEMU runs). No scripts: the sandbox did the plumbing. vhost: the kernel moves
 * the packets (/dev/vhost-net; vmm.toml disable_vhost_net = false), else QEMU itself.
 */
export class TapNetdev implements QemuDevice {
  constructor(readonly id: string, readonly ifname: string, readonly vhost = false) {}
  args(): string[] {
    return ['-netdev', opts('tap', { id: this.id, ifname: this.ifname, script: 'no', downscript: 'no', vhost: this.vhost })];
  }
}

/** The guest's NIC on a netdev; mac: the pod interface's, so neighbours' ARP entries stay right. */
export class VirtioNet implements QemuDevice {
  constructor(readonly netdev: TapNetdev, readonly mac: string, readonly transport: 'pci' | 'mmio') {}
  args(): string[] {
    return ['-device', opts(this.transport === 'pci' ? 'virtio-net-pci' : 'virtio-net-device', { netdev: this.netdev.id, mac: this.mac })];
  }
}
