// kata's configuration.toml read as vmm.toml. Users bring kata's whole file (copied from
// /usr/share/defaults/kata-containers/, with [hypervisor.qemu], [factory], [agent.kata],
// [runtime]...) or the openEuler guides' [hypervisor.stratovirt] block, which puts [runtime]
// and [netmon] keys in the hypervisor table (kata's decoder silently drops misplaced keys).
// Every key of kata 1.x-3.x's tables (katautils/config.go, configuration-*.toml.in) is known
// here and is one of: honoured (translated to a vmm.toml key, see config.ts), accepted with
// no effect (named in one warning per load), or refused with the reason when tsula cannot do
// what its value asks. A key no kata release has stays an error: a typo must be seen.
import { invalidArgument } from '../common/errors.js';
import type { TomlTable, TomlValue } from './toml.js';

/** One vmm.toml key set by the file; name is the key as the file spells it (for errors). */
export interface Setting { key: string; value: TomlValue; name: string }

/** A file translated into vmm.toml's own keys (config.ts checks and applies them). */
export interface Translated {
  /** Settings for every hypervisor (kata's [runtime] and [agent.kata]), applied first. */
  shared: Setting[];
  /** In file order: the first is the default hypervisor. */
  hypervisors: Array<{ name: string; settings: Setting[] }>;
  /** Known keys without an effect here, as written ("runtime.enable_tracing"). */
  ignored: string[];
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export type Kind = 'bool' | 'int' | 'string' | 'strings';

export interface Rule {
  kind: Kind;
  /** The vmm.toml key this one sets; absent: accepted without effect (warned about). */
  to?: string;
  /** Why this value can't be honoured (undefined: it can). */
  refuse?: (v: TomlValue) => string | undefined;
  /** tsula does what this value asks anyway: nothing to warn about. */
  same?: (v: TomlValue) => boolean;
}

export type Rules = ReadonlyMap<string, Rule>;

/** Many keys of one kind, accepted without effect. */
export function ignore(kind: Kind, names: string): Array<[string, Rule]> {
  return names.trim().split(/\s+/).map((n) => [n, { kind }]);
}

export const isTable = (v: TomlValue | undefined): v is TomlTable => typeof v === 'object' && !Array.isArray(v);

export function checkKind(kind: Kind, v: TomlValue, name: string): void {
  const ok = kind === 'bool' ? typeof v === 'boolean'
    : kind === 'int' ? typeof v === 'number' && Number.isInteger(v)
      : kind === 'string' ? typeof v === 'string'
        : Array.isArray(v) && v.every((x) => typeof x === 'string');
  const want = { bool: 'true or false', int: 'an integer', string: 'a string', strings: 'an array of strings' }[kind];
  if (!ok) throw invalidArgument(`${name}: must be ${want}, got ${JSON.stringify(v)}`);
}

/** Check one key by its rule; a setting or an ignored name goes to out. */
export function applyRule(rule: Rule, v: TomlValue, name: string, out: { settings: Setting[]; ignored: string[] }): void {
  checkKind(rule.kind, v, name);
  const why = rule.refuse?.(v);
  if (why) throw invalidArgument(`${name}: ${why}`);
  if (rule.to) out.settings.push({ key: rule.to, value: v, name });
  else if (!rule.same?.(v)) out.ignored.push(name);
}

const MODELS = ['tcfilter', 'none'];
const modelRefusal = (v: TomlValue) => typeof v === 'string' && !MODELS.includes(v)
  ? `${JSON.stringify(v)} is not built in tsula: the VM reaches the pod's network with "tcfilter" `
    + '(tc mirred between the tap and the CNI interface) or "none" (no NIC: the guest has lo only)'
  : undefined;

/** Values of vmm.toml's own keys that kata offers and tsula can't honour, with the reason. */
const OWN_REFUSALS: Readonly<Record<string, (v: TomlValue) => string | undefined>> = {
  shared_fs: (v) => v === 'virtio-9p' || v === 'virtio-fs-nydus'
    ? `${JSON.stringify(v)} is not supported: tsula shares the pod's files with virtio-fs; set shared_fs = "virtio-fs"`
    : undefined,
  internetworking_model: modelRefusal,
};

const notBuilt = (what: string) => (v: TomlValue) => v === true ? `${what} is not built in tsula; set it to false` : undefined;

/** [hypervisor.<name>]: kata's keys beyond vmm.toml's own. */
const HYPERVISOR: Rules = new Map<string, Rule>([
  ...ignore('string', `jailer_path ctlpath firmware firmware_volume cpu_features entropy_source virtio_fs_cache
    virtio_fs_inode_file_handles vhost_user_store_path file_mem_backend guest_hook_path guest_memory_dump_path
    seccompsandbox hot_plug_vfio cold_plug_vfio block_device_aio rootfs_type extra_monitor_socket`),
  ...ignore('strings', `valid_hypervisor_paths valid_jailer_paths valid_ctlpaths valid_virtio_fs_daemon_paths
    valid_vhost_user_store_paths valid_file_mem_backends valid_entropy_sources enable_annotations pflashes
    virtio_fs_extra_args`),
  ...ignore('int', `rx_rate_limiter_max_rate tx_rate_limiter_max_rate disk_rate_limiter_bw_max_rate
    disk_rate_limiter_bw_one_time_burst disk_rate_limiter_ops_max_rate disk_rate_limiter_ops_one_time_burst
    net_rate_limiter_bw_max_rate net_rate_limiter_bw_one_time_burst net_rate_limiter_ops_max_rate
    net_rate_limiter_ops_one_time_burst memory_offset memory_slots default_maxvcpus default_maxmemory
    default_bridges msize_9p pcie_root_port virtio_fs_cache_size virtio_fs_queue_size vhost_user_reconnect_timeout_sec`),
  ...ignore('bool', `block_device_cache_set block_device_cache_direct block_device_cache_noflush
    enable_vhost_user_store disable_block_device_use enable_mem_prealloc enable_hugepages enable_virtio_mem
    reclaim_guest_freed_memory enable_iommu enable_iommu_platform disable_nesting_checks enable_iothreads
    hotplug_vfio_on_root_bus guest_memory_dump_paging enable_guest_swap enable_swap
    use_legacy_serial disable_seccomp disable_selinux disable_guest_selinux`),
  // ignoring these would run something weaker than what was asked for
  ['rootless', { kind: 'bool', refuse: notBuilt('a rootless VMM (rootless = true)'), same: (v) => v === false }],
  ['confidential_guest', { kind: 'bool', refuse: notBuilt('a confidential guest (TDX, SEV, SE)'), same: (v) => v === false }],
  ['sev_snp_guest', { kind: 'bool', refuse: notBuilt('an SEV-SNP guest'), same: (v) => v === false }],
]);

const RUNTIME: Rules = new Map<string, Rule>([
  ['internetworking_model', { kind: 'string', to: 'internetworking_model', refuse: modelRefusal }],
  ['disable_new_netns', {
    kind: 'bool', same: (v) => v === false,
    refuse: (v) => v === true ? 'tsula runs every VM in its pod\'s network namespace; set it to false' : undefined,
  }],
  ...ignore('string', 'jaeger_endpoint jaeger_user jaeger_password vfio_mode guest_selinux_label dan_conf'),
  ...ignore('strings', 'sandbox_bind_mounts experimental'),
  ...ignore('int', 'create_container_timeout'),
  ['disable_guest_seccomp', { kind: 'bool', to: 'disable_guest_seccomp' }],
  ['sandbox_cgroup_only', { kind: 'bool', to: 'sandbox_cgroup_only' }],
  // sandbox_cgroup_with_emulator: openEuler's kata, which its guides set to false
  ...ignore('bool', `enable_debug enable_tracing sandbox_cgroup_with_emulator
    static_sandbox_resource_mgmt enable_pprof disable_guest_empty_dir enable_vcpus_pinning`),
]);

const AGENT: Rules = new Map<string, Rule>([
  // tsula has one debug switch: the guest kernel's messages and the agent's debug log
  ['enable_debug', { kind: 'bool', to: 'enable_debug' }],
  // "agent connection dialing timeout": tsula's wait for the agent's first answer
  ['dial_timeout', { kind: 'int', to: 'boot_timeout' }],
  ['kernel_modules', {
    kind: 'strings', same: (v) => Array.isArray(v) && v.length === 0,
    refuse: (v) => Array.isArray(v) && v.length ? 'the guest loads only the modules built into it (scripts/build-guest.sh); leave it []' : undefined,
  }],
  // tsula's guest always has a debug console (tsula sandbox shell)
  ['debug_console_enabled', { kind: 'bool', same: (v) => v === true }],
  ...ignore('bool', 'enable_tracing'),
  ...ignore('string', 'trace_mode trace_type'),
  ...ignore('int', 'cdh_api_timeout container_pipe_size'),
]);

const NETMON: Rules = new Map([...ignore('string', 'path'), ...ignore('bool', 'enable_debug enable_netmon')]);

/** Top-level tables other than [hypervisor.*]; a Map value is a table, a record holds [x.<type>]. */
const TABLES: Readonly<Record<string, Rules | Readonly<Record<string, Rules>>>> = {
  runtime: RUNTIME,
  agent: { kata: AGENT },
  // enable_template and template_path are honoured (VM templates), vm_cache_number as a cache
  // of the template's clones kept by the sandboxer itself (no `kata-runtime factory init`
  // server: the sandboxer is the one long-lived process), so no endpoint either
  factory: new Map<string, Rule>([
    ['enable_template', { kind: 'bool', to: 'enable_template' }],
    ['template_path', { kind: 'string', to: 'template_path' }],
    ['vm_cache_number', { kind: 'int', to: 'vm_cache_number' }],
    ...ignore('string', 'vm_cache_endpoint'),
  ]),
  image: new Map([...ignore('string', 'provision'), ...ignore('bool', 'service_offload')]),
  netmon: NETMON,
  // kata 1.x
  proxy: { kata: new Map([...ignore('string', 'path'), ...ignore('bool', 'enable_debug')]) },
  shim: { kata: new Map([...ignore('string', 'path'), ...ignore('bool', 'enable_debug enable_tracing')]) },
};

/** The guides' [hypervisor.stratovirt] block carries [runtime] keys and netmon's switch. */
const MISPLACED: Rules = new Map([...RUNTIME, ['enable_netmon', NETMON.get('enable_netmon')!]]);

const TABLE_LIST = '[hypervisor.qemu], [hypervisor.stratovirt], [agent.kata], [runtime], [factory], [image], [netmon], [proxy.kata], [shim.kata]';

function applyTable(rules: Rules, table: TomlTable, prefix: string, out: { settings: Setting[]; ignored: string[] }): void {
  for (const [k, v] of Object.entries(table)) {
    const rule = rules.get(k);
    if (!rule || isTable(v)) throw invalidArgument(`${prefix}.${k}: unknown key`);
    applyRule(rule, v, `${prefix}.${k}`, out);
  }
}

export function translateKata(doc: TomlTable, file: string, ownKeys: ReadonlySet<string>): Translated {
  const t: Translated = { shared: [], hypervisors: [], ignored: [] };
  const shared = { settings: t.shared, ignored: t.ignored };
  for (const [top, value] of Object.entries(doc)) {
    if (top === 'hypervisor' && isTable(value)) {
      for (const [name, table] of Object.entries(value)) {
        const where = `hypervisor.${name}`;
        if (!isTable(table)) throw invalidArgument(`${where}: must be a table`);
        const out = { settings: [] as Setting[], ignored: t.ignored };
        for (const [k, v] of Object.entries(table)) {
          const key = `${where}.${k}`;
          if (isTable(v)) throw invalidArgument(`${key}: unknown key`);
          if (ownKeys.has(k)) {
            const why = OWN_REFUSALS[k]?.(v);
            if (why) throw invalidArgument(`${key}: ${why}`);
            out.settings.push({ key: k, value: v, name: key });
            continue;
          }
          const rule = HYPERVISOR.get(k) ?? MISPLACED.get(k);
          if (!rule) throw invalidArgument(`${key}: unknown key`);
          applyRule(rule, v, key, out);
        }
        t.hypervisors.push({ name, settings: out.settings });
      }
      continue;
    }
    const rules = TABLES[top];
    if (rules instanceof Map && isTable(value)) {
      applyTable(rules, value, top, shared);
    } else if (rules && !(rules instanceof Map) && isTable(value)) {
      for (const [type, table] of Object.entries(value)) {
        const sub = (rules as Record<string, Rules>)[type];
        if (!sub || !isTable(table)) throw invalidArgument(`${file}: unknown table [${top}.${type}] (kata's tables: ${TABLE_LIST})`);
        applyTable(sub, table, `${top}.${type}`, shared);
      }
    } else if (!isTable(value) && RUNTIME.has(top)) {
      // a guide's one-line edit ("sandbox_cgroup_with_emulator = false") put before any table
      applyRule(RUNTIME.get(top)!, value, top, shared);
    } else {
      throw invalidArgument(`${file}: unknown table or key ${top} (kata's tables: ${TABLE_LIST})`);
    }
  }
  return t;
}
