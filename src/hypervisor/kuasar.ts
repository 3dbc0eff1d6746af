// Kuasar's vmm-sandboxer config (config_qemu.toml, config_stratovirt.toml: `vmm-sandboxer
// --config FILE`), read as vmm.toml: [sandbox] log_level, one [hypervisor] table with
// Kuasar's key names (HypervisorCommonConfig, QemuVMConfig, StratoVirtVMConfig) and
// [hypervisor.virtiofsd_conf]. The file names no hypervisor (Kuasar builds one sandboxer per
// VMM): the binary's name picks StratoVirt, else QEMU. Same rules as kata's file: keys tsula
// honours become vmm.toml keys, known keys without effect are named in one warning, values
// tsula can't honour are refused with the reason, unknown keys are errors.
import * as path from 'node:path';
import { invalidArgument } from '../common/errors.js';
import type { TomlTable, TomlValue } from './toml.js';
import { applyRule, checkKind, ignore, isTable, type Rule, type Rules, type Setting, type Translated } from './kata.js';

/** Kuasar writes "" for "not set": leave tsula's default. */
const unset = (v: TomlValue) => v === '';

type KuasarRule = Rule & { map?: (v: TomlValue) => TomlValue };

const BLOCK_DRIVERS: Readonly<Record<string, string>> = {
  VirtioBlk: 'virtio-blk', VirtioScsi: 'virtio-scsi', VirtioMmio: 'virtio-mmio',
  'virtio-blk': 'virtio-blk', 'virtio-scsi': 'virtio-scsi', 'virtio-mmio': 'virtio-mmio',
};

const HYPERVISOR = new Map<string, KuasarRule>([
  ['path', { kind: 'string', to: 'path' }],
  ['qemu_path', { kind: 'string', to: 'path' }],
  ['kernel_path', { kind: 'string', to: 'kernel' }],
  ['initrd_path', { kind: 'string', to: 'initrd' }],
  ['image_path', { kind: 'string', to: 'image' }],
  ['kernel_params', { kind: 'string', to: 'kernel_params' }],
  ['vcpus', { kind: 'int', to: 'default_vcpus' }],
  ['memory_in_mb', { kind: 'int', to: 'default_memory' }],
  ['debug', { kind: 'bool', to: 'enable_debug' }],
  ['machine_accelerators', { kind: 'string', to: 'machine_accelerators' }],
  ['block_device_driver', { kind: 'string', to: 'block_device_driver', map: (v) => BLOCK_DRIVERS[v as string] ?? v }],
  // Kuasar's default "host" needs KVM; tsula's '' is the host's CPU under KVM and "max" under TCG
  ['cpu_model', { kind: 'string', to: 'cpu_model', map: (v) => (v === 'host' ? '' : v) }],
  ['share_fs', {
    kind: 'string', to: 'shared_fs', map: (v) => (v === 'VirtioFS' ? 'virtio-fs' : v),
    refuse: (v) => v === 'Virtio9P' ? '"Virtio9P" is not supported: tsula shares the pod\'s files with virtio-fs; set share_fs = "VirtioFS"' : undefined,
  }],
  ['use_vsock', { kind: 'bool', to: 'use_vsock' }],
  ['disable_nvdimm', { kind: 'bool', to: 'disable_image_nvdimm' }],
  ['virtiofs_daemon_path', { kind: 'string', to: 'virtio_fs_daemon' }],
  ...ignore('string', `firmware firmware_path cpu_features entropy_source memory_path file_backend_mem_path
    virtiofs_cache virtio_9p_multidevs`),
  ...ignore('int', 'default_bridges default_max_vcpus mem_slots mem_offset virtiofs_cache_size msize_9p'),
  ...ignore('bool', `enable_mem_prealloc mem_prealloc hugepages enable_vhost_user_store enable_swap virtio_9p_direct_io
    enable_iothreads`),
  ...ignore('strings', 'virtiofs_extra_args'),
]);

const VIRTIOFSD: ReadonlyMap<string, KuasarRule> = new Map([['path', { kind: 'string', to: 'virtio_fs_daemon' }]]);

const LEVELS: Readonly<Record<string, Translated['logLevel']>> = { trace: 'debug', debug: 'debug', info: 'info', warn: 'warn', error: 'error' };

const SANDBOX: Rules = new Map<string, Rule>([
  ['log_level', {
    kind: 'string',
    refuse: (v) => Object.hasOwn(LEVELS, v as string) ? undefined : `must be one of ${Object.keys(LEVELS).join(', ')}, got ${JSON.stringify(v)}`,
    same: () => true,
  }],
  ...ignore('bool', 'enable_tracing'),
]);

/** Kuasar's form: a [sandbox] table, or a [hypervisor] table holding keys rather than [hypervisor.<name>] tables. */
export function isKuasarForm(doc: TomlTable): boolean {
  if ('sandbox' in doc) return true;
  const hv = doc.hypervisor;
  return isTable(hv) && Object.entries(hv).some(([k, v]) => !isTable(v) || k === 'virtiofsd_conf');
}

function applyKuasar(rules: ReadonlyMap<string, KuasarRule>, table: TomlTable, prefix: string, out: { settings: Setting[]; ignored: string[] }): void {
  for (const [k, v] of Object.entries(table)) {
    const name = `${prefix}.${k}`;
    const rule = rules.get(k);
    if (!rule) throw invalidArgument(`${name}: unknown key`);
    checkKind(rule.kind, v, name);
    if (rule.to && unset(v)) continue;
    applyRule(rule, rule.map ? rule.map(v) : v, name, out);
  }
}

/** Which VMM the file is for: StratoVirt's binary (or a wrapper script named after it), else QEMU. */
function hypervisorOf(hv: TomlTable): string {
  if ('qemu_path' in hv) return 'qemu';
  const bin = typeof hv.path === 'string' ? path.basename(hv.path) : '';
  if (/stratovirt/i.test(bin)) return 'stratovirt';
  if (/cloud-hypervisor|firecracker|dragonball/i.test(bin)) {
    throw invalidArgument(`hypervisor.path: ${JSON.stringify(hv.path)}: tsula runs QEMU or StratoVirt (Kuasar's cloud-hypervisor sandboxer has no counterpart here)`);
  }
  return 'qemu';
}

export function translateKuasar(doc: TomlTable, file: string): Translated {
  const t: Translated = { shared: [], hypervisors: [], ignored: [] };
  for (const [top, value] of Object.entries(doc)) {
    if (!(top === 'sandbox' || top === 'hypervisor') || !isTable(value)) {
      throw invalidArgument(`${file}: unknown table or key ${top} (Kuasar's tables: [sandbox], [hypervisor], [hypervisor.virtiofsd_conf])`);
    }
  }
  const sandbox = (doc.sandbox ?? {}) as TomlTable;
  for (const [k, v] of Object.entries(sandbox)) {
    const rule = SANDBOX.get(k);
    if (!rule || isTable(v)) throw invalidArgument(`sandbox.${k}: unknown key`);
    applyRule(rule, v, `sandbox.${k}`, { settings: [], ignored: t.ignored });
    if (k === 'log_level') t.logLevel = LEVELS[v as string];
  }
  const hv = (doc.hypervisor ?? {}) as TomlTable;
  const out = { settings: [] as Setting[], ignored: t.ignored };
  const { virtiofsd_conf: fsd, machine_type: machine, ...keys } = hv;
  applyKuasar(HYPERVISOR, Object.fromEntries(Object.entries(keys).filter(([, v]) => !isTable(v))), 'hypervisor', out);
  for (const [k, v] of Object.entries(keys)) if (isTable(v)) throw invalidArgument(`hypervisor.${k}: unknown table`);
  if (fsd !== undefined) {
    if (!isTable(fsd)) throw invalidArgument('hypervisor.virtiofsd_conf: must be a table');
    applyKuasar(VIRTIOFSD, fsd, 'hypervisor.virtiofsd_conf', out);
  }
  if (machine !== undefined) {
    // Kuasar's "virt,mem-share=on": the machine, then its options (vmm.toml's machine_accelerators)
    checkKind('string', machine, 'hypervisor.machine_type');
    const [type, ...options] = (machine as string).split(',');
    out.settings.push({ key: 'machine_type', value: type, name: 'hypervisor.machine_type' });
    if (options.length) {
      const given = out.settings.find((s) => s.key === 'machine_accelerators');
      const value = [...options, ...(given ? [given.value as string] : [])].filter(Boolean).join(',');
      out.settings = out.settings.filter((s) => s !== given);
      out.settings.push({ key: 'machine_accelerators', value, name: 'hypervisor.machine_type' });
    }
  }
  t.hypervisors.push({ name: hypervisorOf(hv), settings: out.settings });
  return t;
}
