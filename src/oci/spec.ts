// Builds the OCI runtime spec (config.json) runc runs a container from, with the defaults
// Docker/containerd give a container, narrowed to what this host lets runc do.
import { existsSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../common/errors.js';
import { resolveCaps } from './caps.js';
import { DEFAULT_SHM_OPTION } from './shm.js';
import { RLIM_INFINITY, ULIMIT_NAMES, type HostInfo } from './host.js';
import { convertProfile, defaultSeccomp, type SeccompProfile } from './seccomp.js';
import type {
  LinuxDeviceCgroup, LinuxNamespace, LinuxResources, Mount, POSIXRlimit, Spec,
} from './types.js';

export { readHostRlimits, readHostCaps, readHostInfo, RLIM_INFINITY } from './host.js';
export type { HostInfo, HostRlimit } from './host.js';

export interface SpecOptions {
  id: string;
  rootfs: string;
  readonlyRootfs: boolean;
  args: string[];
  env: string[];
  cwd: string;
  user: { uid: number; gid: number; additionalGids: number[] };
  terminal: boolean;
  hostname: string;
  /** rro: the submounts read-only too (runc's recursive read-only); nonRecursive: no submounts (bind, not rbind). */
  binds: Array<{ source: string; destination: string; readonly: boolean; propagation?: 'rprivate' | 'rslave' | 'rshared' | 'private' | 'slave' | 'shared'; rro?: boolean; nonRecursive?: boolean; implicitPropagation?: boolean }>;
  /** The TTY's initial size (docker's ConsoleSize). */
  consoleSize?: { height: number; width: number };
  /** none = a new, empty network namespace; host = the host's; netnsPath = join that one. */
  network: 'none' | 'host' | { netnsPath: string };
  /**
   * The other namespaces a pod's container joins: a path (the pod's), 'host' (the node's); an
   * absent one is the container's own. A joined UTS namespace keeps the pod's hostname.
   */
  join?: { ipc?: string; uts?: string; pid?: string };
  /** A cgroup namespace of its own (docker's --cgroupns private): its cgroup is its "/". */
  cgroupns?: boolean;
  /** More device cgroup rules (docker's --device-cgroup-rule), after the defaults and the devices'. */
  deviceRules?: LinuxDeviceCgroup[];
  /** Host devices made available in the container (CRI's devices). */
  devices?: Array<{ hostPath: string; containerPath: string; permissions: string; type: 'c' | 'b'; major: number; minor: number; fileMode: number; uid: number; gid: number }>;
  /** Replace the default masked / read-only path lists (CRI gives its own). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  annotations: Record<string, string>;
  /**
   * cgroup limits (cpu, memory, pids, blockIO) as the OCI spec has them, already checked by
   * the engine against docker's rules and this host (engine/containers/resources.ts).
   */
  limits?: Omit<LinuxResources, 'devices'>;
  /** process.oomScoreAdj; absent = inherit the engine's (runc cannot go below it here). */
  oomScoreAdj?: number;
  /** Docker names (nofile, nproc, core…); -1 = unlimited. */
  ulimits: Array<{ name: string; soft: number; hard: number }>;
  noNewPrivileges: boolean;
  /** process.apparmorProfile: a profile the host has loaded (oci/apparmor.ts). */
  apparmorProfile?: string;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** e.g. "/tsula/<id>" (cgroupfs driver). */
  cgroupsPath: string;
  /** tmpfs mounts (docker's --tmpfs, --mount type=tmpfs): mount options as given (size=, mode=, exec…). */
  tmpfs?: Array<{ destination: string; options: string[] }>;
  /**
   * /dev/shm: its size in bytes (default 64 MiB), the host's own (docker's --ipc host), or
   * another path bound there (--ipc container:<x>: that container's /dev/shm).
   */
  shm?: { size?: number; host?: boolean; source?: string };
  /** Host files bind-mounted over /etc/hosts, /etc/resolv.conf, /etc/hostname. */
  etcFiles?: { hosts?: string; resolvConf?: string; hostname?: string };
  /** default: the built-in profile; unconfined; or a profile's JSON (CRI's localhost/<file>). */
  seccomp?: 'default' | 'unconfined' | { profile: SeccompProfile };
  sysctl?: Record<string, string>;
}

export const OCI_VERSION = '1.0.2';
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** Docker's default RLIMIT_NOFILE (dockerd/containerd run with LimitNOFILE=1048576). */
export const DEFAULT_NOFILE = 1048576;

/** moby 28's default masked paths (oci.DefaultLinuxSpec, its order: inspect's HostConfig.MaskedPaths). */
const MASKED_PATHS: readonly string[] = [
  '/proc/asound', '/proc/acpi', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
let masked: readonly string[] | undefined;

/**
 * moby 28's defaultLinuxMaskedPaths (GHSA-6fw5-f8r9-fgfm): /proc/interrupts and each CPU's
 * thermal_throttle directory of this host tell what other tenants run; looked up once.
 */
export function defaultMaskedPaths(): readonly string[] {
  if (masked) return masked;
  const cpus = '/sys/devices/system/cpu';
  let thermal: string[] = [];
  try {
    // in filepath.Glob's order: by name
    thermal = readdirSync(cpus).filter((n) => /^cpu\d+$/.test(n)).sort().map((n) => `${cpus}/${n}/thermal_throttle`).filter((p) => existsSync(p));
  } catch { /* no sysfs: none */ }
  return (masked = [...MASKED_PATHS, ...thermal]);
}
export const READONLY_PATHS: readonly string[] = [
  '/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger',
];

const rwm = 'rwm';
/** Deny everything, then containerd's/runc's default allow-list (WithDefaultUnixDevices). */
export const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: rwm },
  { allow: true, type: 'c', access: 'm' }, // mknod of any char device (opening still denied)
  { allow: true, type: 'b', access: 'm' }, // mknod of any block device
  { allow: true, type: 'c', major: 1, minor: 3, access: rwm }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 8, access: rwm }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 7, access: rwm }, // /dev/full
  { allow: true, type: 'c', major: 5, minor: 0, access: rwm }, // /dev/tty
  { allow: true, type: 'c', major: 1, minor: 5, access: rwm }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 9, access: rwm }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 1, access: rwm }, // /dev/console
  { allow: true, type: 'c', major: 136, access: rwm }, // /dev/pts/*
  { allow: true, type: 'c', major: 5, minor: 2, access: rwm }, // /dev/ptmx
  { allow: true, type: 'c', major: 10, minor: 200, access: rwm }, // /dev/net/tun
];

/** docker's default mounts (proc, /dev and its pts, shm and mqueue, sysfs, cgroup). */
export function defaultMounts(privileged: boolean, shm: SpecOptions['shm'] = {}): Mount[] {
  const ro = privileged ? [] : ['ro'];
  const devShm: Mount = shm.host || shm.source
    ? { destination: '/dev/shm', type: 'bind', source: shm.source ?? '/dev/shm', options: ['rbind', 'rprivate'] }
    : { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', shm.size ? `size=${shm.size}` : DEFAULT_SHM_OPTION] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts', type: 'devpts', source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', ...ro] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    devShm,
  ];
}

function cleanDestination(dest: string, what: string): string {
  if (!path.posix.isAbsolute(dest)) throw invalidArgument(`${what}: destination ${JSON.stringify(dest)} is not an absolute path`);
  const clean = path.posix.normalize(dest).replace(/(.)\/+$/, '$1');
  if (clean === '/') throw invalidArgument(`${what}: destination can't be '/'`);
  return clean;
}

/** User mounts (binds, /etc files): replace defaults at the same place, parents before children. */
function userMounts(o: SpecOptions): Mount[] {
  const out: Mount[] = [];
  for (const b of o.binds) {
    if (!path.isAbsolute(b.source)) throw invalidArgument(`bind ${b.source}:${b.destination}: source must be an absolute path`);
    const destination = cleanDestination(b.destination, `bind ${b.source}:${b.destination}`);
    out.push({ destination, type: 'bind', source: b.source, options: [b.nonRecursive ? 'bind' : 'rbind', b.propagation ?? 'rprivate', ...(b.readonly ? ['ro'] : []), ...(b.rro ? ['rro'] : [])] });
  }
  for (const t of o.tmpfs ?? []) {
    const destination = cleanDestination(t.destination, `tmpfs ${t.destination}`);
    // dockerd's defaults, each undone by its opposite among the user's options
    const flags = t.options.map((x) => x.split('=')[0]);
    const defaults = [['noexec', 'exec'], ['nosuid', 'suid'], ['nodev', 'dev']].filter(([, off]) => !flags.includes(off!)).map(([d]) => d!);
    out.push({ destination, type: 'tmpfs', source: 'tmpfs', options: [...defaults.filter((d) => !flags.includes(d)), ...t.options] });
  }
  const etc: Array<[string | undefined, string]> = [
    [o.etcFiles?.resolvConf, '/etc/resolv.conf'],
    [o.etcFiles?.hostname, '/etc/hostname'],
    [o.etcFiles?.hosts, '/etc/hosts'],
  ];
  for (const [source, destination] of etc) {
    // A user's own bind over the same file wins, as in Docker.
    if (!source || out.some((m) => m.destination === destination)) continue;
    out.push({ destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(o.readonlyRootfs ? ['ro'] : [])] });
  }
  const depth = (p: string) => p.split('/').length;
  return out.map((m, i) => ({ m, i }))
    .sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i)
    .map(({ m }) => m);
}

function checkLimitNumber(n: number, what: string): number {
  if (!Number.isInteger(n) || n < -1) throw invalidArgument(`${what}: must be an integer ≥ -1`);
  return n === -1 ? RLIM_INFINITY : Math.min(n, RLIM_INFINITY);
}

/**
 * Default NOFILE clamped to the host, then the user's ulimits checked against the host.
 * Exported so the engine refuses a bad --ulimit at create, not only at start.
 */
export function rlimits(o: Pick<SpecOptions, 'ulimits'>, host: HostInfo): POSIXRlimit[] {
  const byType = new Map<string, POSIXRlimit>();
  const hostNofile = host.rlimits.get('RLIMIT_NOFILE')?.hard ?? DEFAULT_NOFILE;
  const nofile = Math.min(DEFAULT_NOFILE, hostNofile);
  byType.set('RLIMIT_NOFILE', { type: 'RLIMIT_NOFILE', hard: nofile, soft: nofile });

  for (const u of o.ulimits) {
    const type = ULIMIT_NAMES[u.name.toLowerCase()];
    if (!type) throw invalidArgument(`invalid ulimit type: ${u.name}`);
    const label = `ulimit ${u.name}=${u.soft}:${u.hard}`;
    const soft = checkLimitNumber(u.soft, label);
    const hard = checkLimitNumber(u.hard, label);
    if (soft > hard) throw invalidArgument(`${label}: soft limit must be less than or equal to hard limit`);
    const hostHard = host.rlimits.get(type)?.hard;
    // Without CAP_SYS_RESOURCE runc's setrlimit fails above its own hard limit; say so now.
    if (hostHard !== undefined && hard > hostHard) {
      throw invalidArgument(`${label}: above the host hard limit ${hostHard === RLIM_INFINITY ? 'unlimited' : hostHard}`);
    }
    byType.set(type, { type, hard, soft });
  }
  return [...byType.values()];
}

/** Docker's env precedence: defaults, then the container's values replace or append by key. */
function mergeEnv(o: SpecOptions): string[] {
  const env = [DEFAULT_PATH_ENV];
  if (o.hostname) env.push(`HOSTNAME=${o.hostname}`);
  if (o.terminal) env.push('TERM=xterm');
  for (const kv of o.env) {
    const key = kv.includes('=') ? kv.slice(0, kv.indexOf('=')) : kv;
    const i = env.findIndex((e) => e === key || e.startsWith(key + '='));
    if (i >= 0) env[i] = kv; else env.push(kv);
  }
  return env;
}

function resources(o: SpecOptions, privileged: boolean): LinuxResources {
  return {
    devices: privileged ? [{ allow: true, access: rwm }] : DEFAULT_DEVICE_RULES.map((d) => ({ ...d })),
    ...structuredClone(o.limits ?? {}),
  };
}

function namespaces(o: SpecOptions): LinuxNamespace[] {
  const ns: LinuxNamespace[] = [];
  for (const type of ['pid', 'ipc', 'uts'] as const) {
    const j = o.join?.[type];
    if (j === 'host') continue;
    if (j !== undefined && !path.isAbsolute(j)) throw invalidArgument(`${type} namespace path ${j} is not absolute`);
    ns.push(j ? { type, path: j } : { type });
  }
  ns.push({ type: 'mount' });
  if (o.cgroupns) ns.push({ type: 'cgroup' });
  if (o.network === 'none') ns.push({ type: 'network' });
  else if (o.network !== 'host') {
    if (!path.isAbsolute(o.network.netnsPath)) throw invalidArgument(`netns path ${o.network.netnsPath} is not absolute`);
    ns.push({ type: 'network', path: o.network.netnsPath });
  }
  return ns;
}

export function buildSpec(o: SpecOptions, host: HostInfo): Spec {
  if (!path.isAbsolute(o.rootfs)) throw invalidArgument(`rootfs ${o.rootfs} is not an absolute path`);
  if (o.args.length === 0) throw invalidArgument('no command specified');
  const privileged = o.privileged === true;
  const caps = resolveCaps({ privileged, capAdd: o.capAdd, capDrop: o.capDrop }, host.capBounding);

  const user = userMounts(o);
  const overridden = new Set(user.map((m) => m.destination));
  // a /dev of the user's own brings its own pts, shm and mqueue (dockerd's WithMounts drops
  // every default under it)
  const under = (m: Mount) => overridden.has('/dev') && m.destination.startsWith('/dev/');
  const mounts = [...defaultMounts(privileged, o.shm).filter((m) => !overridden.has(m.destination) && !under(m)), ...user];

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: o.terminal,
      ...(o.terminal && o.consoleSize ? { consoleSize: o.consoleSize } : {}),
      user: { uid: o.user.uid, gid: o.user.gid, additionalGids: [...o.user.additionalGids] },
      args: [...o.args],
      env: mergeEnv(o),
      cwd: o.cwd || '/',
      // Newer Docker (CVE-2022-24769): no inheritable, no ambient.
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] },
      rlimits: rlimits(o, host),
      noNewPrivileges: o.noNewPrivileges,
      ...(o.apparmorProfile ? { apparmorProfile: o.apparmorProfile } : {}),
    },
    root: { path: o.rootfs, readonly: o.readonlyRootfs },
    mounts,
    linux: {
      namespaces: namespaces(o),
      resources: resources(o, privileged),
      cgroupsPath: o.cgroupsPath,
    },
  };
  // runc makes the container's / rslave unless told otherwise: a bind whose mounts go back to
  // the host needs it shared (containerd's CRI sets rshared, dockerd's WithMounts shared for a
  // shared bind), one that receives them slave
  if (o.binds.some((b) => b.propagation === 'rshared')) spec.linux.rootfsPropagation = 'rshared';
  else if (o.binds.some((b) => b.propagation === 'shared')) spec.linux.rootfsPropagation = 'shared';
  else if (o.binds.some((b) => b.propagation === 'rslave' || b.propagation === 'slave')) spec.linux.rootfsPropagation = 'rslave';
  // Only when asked for: runc writes it to /proc/self/oom_score_adj, and going below the
  // parent's needs CAP_SYS_RESOURCE, which root lacks on these hosts.
  if (o.oomScoreAdj !== undefined) spec.process.oomScoreAdj = o.oomScoreAdj;
  // runc sets a hostname only in a UTS namespace of the container's own (a pod's has its own)
  if (o.hostname && !o.join?.uts) spec.hostname = o.hostname;
  if (Object.keys(o.annotations).length) spec.annotations = { ...o.annotations };
  if (o.sysctl && Object.keys(o.sysctl).length) spec.linux.sysctl = { ...o.sysctl };
  if (o.devices?.length) {
    spec.linux.devices = o.devices.map((d) => ({ path: d.containerPath, type: d.type, major: d.major, minor: d.minor, fileMode: d.fileMode, uid: d.uid, gid: d.gid }));
    if (!privileged) {
      spec.linux.resources!.devices!.push(...o.devices.map((d) => ({ allow: true, type: d.type, major: d.major, minor: d.minor, access: d.permissions || rwm })));
    }
  }
  if (!privileged && o.deviceRules?.length) spec.linux.resources!.devices!.push(...o.deviceRules.map((r) => ({ ...r })));
  if (!privileged) {
    spec.linux.maskedPaths = [...(o.maskedPaths ?? defaultMaskedPaths())];
    spec.linux.readonlyPaths = [...(o.readonlyPaths ?? READONLY_PATHS)];
    const sc = o.seccomp ?? 'default';
    if (sc === 'default') spec.linux.seccomp = defaultSeccomp({ caps, kernel: host.kernel, x32Abi: host.x32Abi });
    else if (sc !== 'unconfined') spec.linux.seccomp = convertProfile(sc.profile, { caps, kernel: host.kernel });
  }
  return spec;
}
