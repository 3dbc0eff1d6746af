// /etc/tsula/vmm.toml, kata-style: one [hypervisor.<name>] table per hypervisor with kata's
// key names. Declared once here with defaults; every invalid value is reported with its key
// (`hypervisor.qemu.default_vcpus: ...`). Unknown keys are errors too: a typo must not
// silently fall back to a default.
import { promises as fs } from 'node:fs';
import { invalidArgument } from '../common/errors.js';
import { parseToml, type TomlTable, type TomlValue } from './toml.js';

export const DEFAULT_CONFIG_PATH = '/etc/tsula/vmm.toml';
export const DEFAULT_GUEST_DIR = '/var/lib/tsula/guest';

export type HypervisorName = 'qemu' | 'stratovirt';

export interface HypervisorConfig {
  name: HypervisorName;
  path: string;
  kernel: string;
  initrd: string;
  /** kata's `image`: a disk image with the guest's programs ('' = all in the initrd). */
  image: string;
  machineType: string;
  /** Extra -machine options, kata's machine_accelerators ("kernel_irqchip=on,..."). */
  machineAccelerators: string;
  defaultVcpus: number;
  defaultMemory: number;        // MiB
  kernelParams: string;
  sharedFs: 'virtio-fs' | 'virtio-9p' | 'none';
  virtioFsDaemon: string;
  blockDeviceDriver: 'virtio-blk' | 'virtio-scsi' | 'virtio-mmio';
  useVsock: boolean;
  enableDebug: boolean;
  /** Seconds to wait for the agent's first answer (TCG boots take ~3-5 s). */
  bootTimeout: number;
  /** QEMU's -cpu model ('' = host under KVM, max under TCG). */
  cpuModel: string;
  /**
   * Start the guest's agent from a V8 startup snapshot made in a guest with this config's CPU
   * and cached on the host (seconds faster under TCG); without one, from its script.
   */
  agentSnapshot: boolean;
  /** The snapshot cache ('' = `snapshots` beside the initrd). */
  agentSnapshotDir: string;
  /**
   * kata's internetworking_model: how the VM reaches the pod's network namespace. `tcfilter`:
   * a tap in the netns joined to the CNI interface by tc mirred redirects (no vhost-net
   * needed); `none`: no NIC, the guest has lo only.
   */
  internetworkingModel: 'tcfilter' | 'none';
}

export interface VmmConfig {
  /** The hypervisor used for new sandboxes: the first table in the file, else qemu. */
  default: HypervisorName;
  hypervisors: Partial<Record<HypervisorName, HypervisorConfig>>;
}

const DEFAULTS: Record<HypervisorName, HypervisorConfig> = {
  qemu: {
    name: 'qemu', path: '/usr/bin/qemu-system-x86_64',
    kernel: `${DEFAULT_GUEST_DIR}/vmlinuz`, initrd: `${DEFAULT_GUEST_DIR}/initramfs.cpio.gz`, image: '',
    machineType: 'q35', machineAccelerators: '', defaultVcpus: 1, defaultMemory: 512, kernelParams: '',
    sharedFs: 'virtio-fs', virtioFsDaemon: '/usr/lib/qemu/virtiofsd', blockDeviceDriver: 'virtio-blk',
    useVsock: false, enableDebug: false, bootTimeout: 60, cpuModel: '', agentSnapshot: true, agentSnapshotDir: '', internetworkingModel: 'tcfilter',
  },
  stratovirt: {
    name: 'stratovirt', path: '/usr/bin/stratovirt',
    kernel: `${DEFAULT_GUEST_DIR}/vmlinuz`, initrd: `${DEFAULT_GUEST_DIR}/initramfs.cpio.gz`, image: '',
    machineType: 'microvm', machineAccelerators: '', defaultVcpus: 1, defaultMemory: 512, kernelParams: '',
    sharedFs: 'virtio-fs', virtioFsDaemon: '/usr/bin/vhost_user_fs', blockDeviceDriver: 'virtio-mmio',
    useVsock: false, enableDebug: false, bootTimeout: 60, cpuModel: '', agentSnapshot: true, agentSnapshotDir: '', internetworkingModel: 'tcfilter',
  },
};

const MACHINES: Record<HypervisorName, string[]> = { qemu: ['q35', 'pc', 'microvm'], stratovirt: ['microvm', 'virt'] };

/** optional: '' is allowed for a path (its default is derived elsewhere). */
type Field = { key: string; prop: keyof HypervisorConfig; kind: 'path' | 'string' | 'int' | 'bool' | 'enum'; min?: number; max?: number; values?: string[]; optional?: boolean };

const FIELDS: Field[] = [
  { key: 'path', prop: 'path', kind: 'path' },
  { key: 'kernel', prop: 'kernel', kind: 'path' },
  { key: 'initrd', prop: 'initrd', kind: 'path' },
  { key: 'image', prop: 'image', kind: 'path', optional: true },
  { key: 'machine_type', prop: 'machineType', kind: 'string' },
  { key: 'machine_accelerators', prop: 'machineAccelerators', kind: 'string' },
  { key: 'default_vcpus', prop: 'defaultVcpus', kind: 'int', min: 1, max: 256 },
  { key: 'default_memory', prop: 'defaultMemory', kind: 'int', min: 64, max: 1024 * 1024 },
  { key: 'kernel_params', prop: 'kernelParams', kind: 'string' },
  { key: 'shared_fs', prop: 'sharedFs', kind: 'enum', values: ['virtio-fs', 'virtio-9p', 'none'] },
  { key: 'virtio_fs_daemon', prop: 'virtioFsDaemon', kind: 'path' },
  { key: 'block_device_driver', prop: 'blockDeviceDriver', kind: 'enum', values: ['virtio-blk', 'virtio-scsi', 'virtio-mmio'] },
  { key: 'use_vsock', prop: 'useVsock', kind: 'bool' },
  { key: 'enable_debug', prop: 'enableDebug', kind: 'bool' },
  { key: 'boot_timeout', prop: 'bootTimeout', kind: 'int', min: 1, max: 3600 },
  { key: 'cpu_model', prop: 'cpuModel', kind: 'string' },
  { key: 'agent_snapshot', prop: 'agentSnapshot', kind: 'bool' },
  { key: 'agent_snapshot_dir', prop: 'agentSnapshotDir', kind: 'path', optional: true },
  { key: 'internetworking_model', prop: 'internetworkingModel', kind: 'enum', values: ['tcfilter', 'none'] },
];

function field(f: Field, v: TomlValue, where: string): string | number | boolean {
  const name = `${where}.${f.key}`;
  switch (f.kind) {
    case 'bool':
      if (typeof v !== 'boolean') throw invalidArgument(`${name}: must be true or false, got ${JSON.stringify(v)}`);
      return v;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) throw invalidArgument(`${name}: must be an integer, got ${JSON.stringify(v)}`);
      if (v < f.min! || v > f.max!) throw invalidArgument(`${name}: ${v} is out of range ${f.min}..${f.max}`);
      return v;
    default: {
      if (typeof v !== 'string') throw invalidArgument(`${name}: must be a string, got ${JSON.stringify(v)}`);
      if (f.kind === 'path' && !v.startsWith('/') && !(f.optional && v === '')) throw invalidArgument(`${name}: must be an absolute path, got ${JSON.stringify(v)}`);
      if (f.kind === 'enum' && !f.values!.includes(v)) throw invalidArgument(`${name}: must be one of ${f.values!.join(', ')}, got ${JSON.stringify(v)}`);
      return v;
    }
  }
}

export function parseVmmConfig(text: string, file = DEFAULT_CONFIG_PATH): VmmConfig {
  const doc = parseToml(text, file);
  const out: VmmConfig = { default: 'qemu', hypervisors: {} };
  for (const top of Object.keys(doc)) {
    if (top !== 'hypervisor') throw invalidArgument(`${file}: unknown table or key ${top} (expected [hypervisor.qemu] or [hypervisor.stratovirt])`);
  }
  const hv = (doc.hypervisor ?? {}) as TomlTable;
  let first = true;
  for (const [name, table] of Object.entries(hv)) {
    const where = `hypervisor.${name}`;
    if (name !== 'qemu' && name !== 'stratovirt') throw invalidArgument(`${where}: unknown hypervisor (known: qemu, stratovirt)`);
    if (typeof table !== 'object' || Array.isArray(table)) throw invalidArgument(`${where}: must be a table`);
    const cfg: HypervisorConfig = { ...DEFAULTS[name] };
    const rec = cfg as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(table)) {
      const f = FIELDS.find((x) => x.key === k);
      if (!f) throw invalidArgument(`${where}.${k}: unknown key`);
      rec[f.prop] = field(f, v, where);
    }
    if (!MACHINES[name].includes(cfg.machineType)) {
      throw invalidArgument(`${where}.machine_type: must be one of ${MACHINES[name].join(', ')}, got ${JSON.stringify(cfg.machineType)}`);
    }
    if (cfg.machineAccelerators && !/^[A-Za-z0-9_\-]+(=[A-Za-z0-9_\-]+)?(,[A-Za-z0-9_\-]+(=[A-Za-z0-9_\-]+)?)*$/.test(cfg.machineAccelerators)) {
      throw invalidArgument(`${where}.machine_accelerators: must be "key=value,..." , got ${JSON.stringify(cfg.machineAccelerators)}`);
    }
    if (cfg.cpuModel && !/^[A-Za-z0-9][A-Za-z0-9_.+=,-]*$/.test(cfg.cpuModel)) {
      throw invalidArgument(`${where}.cpu_model: must be a QEMU CPU model such as "max", "host" or "EPYC", got ${JSON.stringify(cfg.cpuModel)}`);
    }
    out.hypervisors[name] = cfg;
    if (first) { out.default = name; first = false; }
  }
  if (!out.hypervisors.qemu && first) out.hypervisors.qemu = { ...DEFAULTS.qemu };
  return out;
}

/** Read the config file; a missing file means all defaults (qemu). */
export async function loadVmmConfig(path = DEFAULT_CONFIG_PATH): Promise<VmmConfig> {
  const text = await fs.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw invalidArgument(`${path}: ${e.message}`);
  });
  const cfg = parseVmmConfig(text, path);
  // build-guest.sh --image puts rootfs.img beside the initramfs: use it unless `image` is set
  const given = /^\s*image\s*=/m.test(text);
  for (const hv of Object.values(cfg.hypervisors)) {
    const img = hv.initrd.replace(/[^/]*$/, 'rootfs.img');
    if (!given && !hv.image && await fs.stat(img).then((st) => st.isFile(), () => false)) hv.image = img;
  }
  return cfg;
}

export function defaultHypervisorConfig(name: HypervisorName): HypervisorConfig {
  return { ...DEFAULTS[name] };
}
