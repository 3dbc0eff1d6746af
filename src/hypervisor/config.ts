// /etc/tsula/vmm.toml, kata-style: one [hypervisor.<name>] table per hypervisor with kata's
// key names. Declared once here with defaults; every invalid value is reported with its key
// (`hypervisor.qemu.default_vcpus: ...`). Unknown keys are errors too: a typo must not
// silently fall back to a default. The same loader reads the files users bring: kata's whole
// configuration.toml (kata.ts) and Kuasar's vmm-sandboxer config (kuasar.ts); both translate
// into the keys declared here, so there is one set of checks and one set of defaults.
import { existsSync, promises as fs } from 'node:fs';
import { invalidArgument } from '../common/errors.js';
import { parseToml, type TomlValue } from './toml.js';
import { translateKata, type Setting, type Translated } from './kata.js';
import { isKuasarForm, translateKuasar } from './kuasar.js';

import { DEFAULT_CONFIG_PATH, DEFAULT_GUEST_DIR } from './paths.js';

export { DEFAULT_CONFIG_PATH, DEFAULT_GUEST_DIR };

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
  /** virtio-9p (kata's other choice) is refused when the file is read: tsula serves virtio-fs. */
  sharedFs: 'virtio-fs' | 'none';
  virtioFsDaemon: string;
  blockDeviceDriver: 'virtio-blk' | 'virtio-scsi' | 'virtio-mmio';
  useVsock: boolean;
  /**
   * kata's disable_vhost_net: the VM's network without the host's vhost-net. Unset in the
   * file: true when the host has no /dev/vhost-net (these hosts), as it must be.
   */
  disableVhostNet: boolean;
  enableDebug: boolean;
  /** Seconds to wait for the agent's first answer (TCG boots take ~3-5 s). */
  bootTimeout: number;
  /** QEMU's -cpu model ('' = host under KVM, max under TCG). */
  cpuModel: string;
  /**
   * MiB of QEMU's TCG translation cache (-accel tcg,tb-size; 0 = QEMU's own size, 1 GiB on
   * a host with 8 GiB or more). The cache is host memory the VM keeps once written, and it
   * fills with the code the guest runs until it is full: a boot plus a container's create
   * (node, conmon, runc) filled ~190 MB. 256 bounds a long-lived pod without slowing that
   * (64 saved ~90 MB but made the container's create and start ~4 s slower). Not under KVM.
   */
  tcgTbSize: number;
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
  /**
   * kata's [factory] enable_template: pods start from a saved, booted VM (templates.ts in the
   * vmm kind) instead of booting; the first pod with this config boots and makes the template.
   */
  enableTemplate: boolean;
  /** kata's template_path: where templates live ('' = `templates` beside the initrd). */
  templatePath: string;
  /**
   * kata's [factory] vm_cache_number over a template (kata's cache factory on its template
   * base): the sandboxer keeps this many clones restored and waiting, so a pod takes one
   * instead of restoring (cache.ts in the vmm kind). 0: none.
   */
  vmCacheNumber: number;
  /**
   * kata's [runtime] disable_guest_seccomp (default true, as kata's): containers in the guest
   * run without the spec's seccomp filter. The VM is the boundary; compiling docker's
   * profile costs runc ~0.2 s of emulated CPU at every create under TCG.
   */
  disableGuestSeccomp: boolean;
  /**
   * kata's disable_image_nvdimm (default false, as kata's): the guest image goes on a
   * virtio-pmem device the guest mounts with DAX, its pages the host's page cache, shared by
   * every VM; true: on virtio-blk, read into each guest's RAM. q35/pc only (virtio-pmem is
   * PCI), and only for an image DAX can map (ext4, 4 KiB blocks, a 2 MiB multiple).
   */
  disableImageNvdimm: boolean;
  /**
   * kata's sandbox_cgroup_only (default false, as kata's): the VM's processes (qemu and
   * virtiofsd) join the pod sandbox's cgroup (kubelet's pod cgroup below it), so kubelet
   * accounts and limits the VM as the pod; its RuntimeClass overhead must then cover the
   * VM (qemu's RSS, under TCG also its translation cache), or qemu is OOM-killed.
   */
  sandboxCgroupOnly: boolean;
}

export interface VmmConfig {
  /** The hypervisor used for new sandboxes: the first table in the file, else qemu. */
  default: HypervisorName;
  hypervisors: Partial<Record<HypervisorName, HypervisorConfig>>;
  /** Keys of kata's or Kuasar's files that are known but mean nothing here ("runtime.enable_tracing"). */
  ignored?: string[];
  /** Kuasar's [sandbox] log_level (the sandboxer's, when it is started with this file). */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

/** What the host offers that a config may ask for (probed; tests pass their own). */
export interface HostDevices {
  vhostVsock: boolean;
  vhostNet: boolean;
}

export function probeDevices(): HostDevices {
  return { vhostVsock: existsSync('/dev/vhost-vsock'), vhostNet: existsSync('/dev/vhost-net') };
}

export interface ParseOptions {
  host?: HostDevices;
}

const DEFAULTS: Record<HypervisorName, HypervisorConfig> = {
  qemu: {
    name: 'qemu', path: '/usr/bin/qemu-system-x86_64',
    kernel: `${DEFAULT_GUEST_DIR}/vmlinuz`, initrd: `${DEFAULT_GUEST_DIR}/initramfs.cpio.gz`, image: '',
    disableVhostNet: true,
    machineType: 'q35', machineAccelerators: '', defaultVcpus: 1, defaultMemory: 512, kernelParams: '',
    sharedFs: 'virtio-fs', virtioFsDaemon: '/usr/lib/qemu/virtiofsd', blockDeviceDriver: 'virtio-blk',
    useVsock: false, enableDebug: false, bootTimeout: 60, cpuModel: '', tcgTbSize: 256, agentSnapshot: true, agentSnapshotDir: '',
    internetworkingModel: 'tcfilter', enableTemplate: false, templatePath: '', vmCacheNumber: 0, disableGuestSeccomp: true, disableImageNvdimm: false, sandboxCgroupOnly: false,
  },
  stratovirt: {
    name: 'stratovirt', path: '/usr/bin/stratovirt',
    kernel: `${DEFAULT_GUEST_DIR}/vmlinuz`, initrd: `${DEFAULT_GUEST_DIR}/initramfs.cpio.gz`, image: '',
    disableVhostNet: true,
    machineType: 'microvm', machineAccelerators: '', defaultVcpus: 1, defaultMemory: 512, kernelParams: '',
    sharedFs: 'virtio-fs', virtioFsDaemon: '/usr/bin/vhost_user_fs', blockDeviceDriver: 'virtio-mmio',
    useVsock: false, enableDebug: false, bootTimeout: 60, cpuModel: '', tcgTbSize: 256, agentSnapshot: true, agentSnapshotDir: '',
    internetworkingModel: 'tcfilter', enableTemplate: false, templatePath: '', vmCacheNumber: 0, disableGuestSeccomp: true, disableImageNvdimm: false, sandboxCgroupOnly: false,
  },
};

// StratoVirt's q35 is its x86 standard VM (Kuasar's x86 StratoVirt config asks for it)
const MACHINES: Record<HypervisorName, string[]> = { qemu: ['q35', 'pc', 'microvm'], stratovirt: ['microvm', 'virt', 'q35'] };

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
  { key: 'shared_fs', prop: 'sharedFs', kind: 'enum', values: ['virtio-fs', 'none'] },
  { key: 'virtio_fs_daemon', prop: 'virtioFsDaemon', kind: 'path' },
  { key: 'block_device_driver', prop: 'blockDeviceDriver', kind: 'enum', values: ['virtio-blk', 'virtio-scsi', 'virtio-mmio'] },
  { key: 'use_vsock', prop: 'useVsock', kind: 'bool' },
  { key: 'disable_vhost_net', prop: 'disableVhostNet', kind: 'bool' },
  { key: 'enable_debug', prop: 'enableDebug', kind: 'bool' },
  { key: 'boot_timeout', prop: 'bootTimeout', kind: 'int', min: 1, max: 3600 },
  { key: 'cpu_model', prop: 'cpuModel', kind: 'string' },
  { key: 'tcg_tb_size', prop: 'tcgTbSize', kind: 'int', min: 0, max: 1 << 20 },
  { key: 'agent_snapshot', prop: 'agentSnapshot', kind: 'bool' },
  { key: 'agent_snapshot_dir', prop: 'agentSnapshotDir', kind: 'path', optional: true },
  { key: 'internetworking_model', prop: 'internetworkingModel', kind: 'enum', values: ['tcfilter', 'none'] },
  { key: 'enable_template', prop: 'enableTemplate', kind: 'bool' },
  { key: 'template_path', prop: 'templatePath', kind: 'path', optional: true },
  { key: 'vm_cache_number', prop: 'vmCacheNumber', kind: 'int', min: 0, max: 64 },
  { key: 'disable_guest_seccomp', prop: 'disableGuestSeccomp', kind: 'bool' },
  { key: 'disable_image_nvdimm', prop: 'disableImageNvdimm', kind: 'bool' },
  { key: 'sandbox_cgroup_only', prop: 'sandboxCgroupOnly', kind: 'bool' },
];

/** The keys a [hypervisor.<name>] table of vmm.toml itself has (kata.ts passes them through). */
export const OWN_KEYS: ReadonlySet<string> = new Set(FIELDS.map((f) => f.key));

/** name: the key as the file spells it ("hypervisor.qemu.default_vcpus", "hypervisor.vcpus"). */
function field(f: Field, v: TomlValue, name: string): string | number | boolean {
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

interface Parsed {
  config: VmmConfig;
  /** Hypervisors whose file names a guest image itself (else rootfs.img beside the initrd is used). */
  imageSet: Set<HypervisorName>;
}

function parse(text: string, file: string, host: HostDevices): Parsed {
  const doc = parseToml(text, file);
  const t: Translated = isKuasarForm(doc) ? translateKuasar(doc, file) : translateKata(doc, file, OWN_KEYS);
  const out: VmmConfig = { default: 'qemu', hypervisors: {}, ignored: t.ignored };
  if (t.logLevel) out.logLevel = t.logLevel;
  const imageSet = new Set<HypervisorName>();
  // a file with no hypervisor table (empty, or kata's [runtime] alone) configures qemu
  const tables = t.hypervisors.length ? t.hypervisors : [{ name: 'qemu', settings: [] as Setting[] }];
  for (const [i, { name, settings }] of tables.entries()) {
    const where = `hypervisor.${name}`;
    if (name !== 'qemu' && name !== 'stratovirt') throw invalidArgument(`${where}: unknown hypervisor (known: qemu, stratovirt)`);
    const cfg = buildConfig(name, [...t.shared, ...settings], host);
    if (settings.some((s) => s.key === 'image')) imageSet.add(name);
    out.hypervisors[name] = cfg;
    if (i === 0) out.default = name;
  }
  return { config: out, imageSet };
}

/**
 * One hypervisor's config: its defaults, then the file's settings in order (kata's [runtime]
 * before the table's own keys, so the table wins), then the checks that span keys or need
 * the host. Every error names the key as the file spells it.
 */
function buildConfig(name: HypervisorName, settings: Setting[], host: HostDevices): HypervisorConfig {
  const where = `hypervisor.${name}`;
  const cfg: HypervisorConfig = { ...DEFAULTS[name] };
  const rec = cfg as unknown as Record<string, unknown>;
  const origin = new Map<string, string>();
  for (const s of settings) {
    const f = FIELDS.find((x) => x.key === s.key);
    if (!f) throw invalidArgument(`${s.name}: unknown key`);
    rec[f.prop] = field(f, s.value, s.name);
    origin.set(s.key, s.name);
  }
  const named = (key: string) => origin.get(key) ?? `${where}.${key}`;
  if (!MACHINES[name].includes(cfg.machineType)) {
    throw invalidArgument(`${named('machine_type')}: must be one of ${MACHINES[name].join(', ')}, got ${JSON.stringify(cfg.machineType)}`);
  }
  if (cfg.machineAccelerators && !/^[A-Za-z0-9_\-]+(=[A-Za-z0-9_\-]+)?(,[A-Za-z0-9_\-]+(=[A-Za-z0-9_\-]+)?)*$/.test(cfg.machineAccelerators)) {
    throw invalidArgument(`${named('machine_accelerators')}: must be "key=value,..." , got ${JSON.stringify(cfg.machineAccelerators)}`);
  }
  if (cfg.cpuModel && !/^[A-Za-z0-9][A-Za-z0-9_.+=,-]*$/.test(cfg.cpuModel)) {
    throw invalidArgument(`${named('cpu_model')}: must be a QEMU CPU model such as "max", "host" or "EPYC", got ${JSON.stringify(cfg.cpuModel)}`);
  }
  // kata 1.x fell back to the serial port without a word; a guide's use_vsock = true then
  // hides which channel is used: say it here (the agent's channel is virtio-serial)
  if (cfg.useVsock && !host.vhostVsock) {
    throw invalidArgument(`${named('use_vsock')}: true needs /dev/vhost-vsock, which this host does not have (modprobe vhost_vsock); `
      + 'the agent channel is virtio-serial here: set use_vsock = false');
  }
  // as kata: asking for vhost-net on a host without it fails (kata at the pod's network setup,
  // "open /dev/vhost-net: no such file or directory"); unset, the host decides
  // a template is restored into the same machine with its devices hot-plugged after: QEMU's
  // microvm has no hot-plug, and StratoVirt's templates are not built here
  if (cfg.enableTemplate && (name !== 'qemu' || cfg.machineType === 'microvm')) {
    throw invalidArgument(`${named('enable_template')}: VM templates need QEMU with a q35 or pc machine (devices are hot-plugged into the restored VM); `
      + `${name === 'qemu' ? `machine_type is ${JSON.stringify(cfg.machineType)}` : `the hypervisor is ${name}`}: set enable_template = false`);
  }
  // kata's cache factory also caches booted VMs; here the cache holds clones of the template
  if (cfg.vmCacheNumber > 0 && !cfg.enableTemplate) {
    throw invalidArgument(`${named('vm_cache_number')}: ${cfg.vmCacheNumber} caches clones of the VM template, which enable_template = false turns off: `
      + 'set enable_template = true, or vm_cache_number = 0');
  }
  if (!origin.has('disable_vhost_net')) cfg.disableVhostNet = !host.vhostNet;
  else if (!cfg.disableVhostNet && !host.vhostNet) {
    throw invalidArgument(`${named('disable_vhost_net')}: false asks for vhost-net, but this host has no /dev/vhost-net (modprobe vhost_net); `
      + 'set disable_vhost_net = true (the tap then runs without vhost)');
  }
  return cfg;
}

export function parseVmmConfig(text: string, file = DEFAULT_CONFIG_PATH, o: ParseOptions = {}): VmmConfig {
  return parse(text, file, o.host ?? probeDevices()).config;
}

/** Read the config file; a missing file means all defaults (qemu). */
export async function loadVmmConfig(path = DEFAULT_CONFIG_PATH, o: ParseOptions = {}): Promise<VmmConfig> {
  const text = await fs.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw invalidArgument(`${path}: ${e.message}`);
  });
  const { config: cfg, imageSet } = parse(text, path, o.host ?? probeDevices());
  // build-guest.sh --image puts rootfs.img beside the initramfs: use it unless `image` is set
  for (const [name, hv] of Object.entries(cfg.hypervisors) as Array<[HypervisorName, HypervisorConfig]>) {
    const img = hv.initrd.replace(/[^/]*$/, 'rootfs.img');
    if (!imageSet.has(name) && !hv.image && await fs.stat(img).then((st) => st.isFile(), () => false)) hv.image = img;
  }
  return cfg;
}

/** The one warning line for a loaded file's ignored keys ('' when there are none). */
export function ignoredKeysWarning(cfg: VmmConfig, file: string): string {
  const keys = cfg.ignored ?? [];
  return keys.length ? `${file}: accepted but not used by tsula (no meaning here): ${keys.join(', ')}` : '';
}

export function defaultHypervisorConfig(name: HypervisorName): HypervisorConfig {
  return { ...DEFAULTS[name] };
}
