// daemon.json (iSulad's keys, and dockerd's networking keys: config-network.ts) and the
// tsulad flags that override it. Declared once, with defaults; any unknown key, wrong type
// or bad value stops the daemon naming the key.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as z from 'zod';
import { invalidArgument } from '../common/errors.js';
import { lazySchema, type Infer, type Zod } from '../common/lazy-schema.js';
import { DEFAULT_DOMAIN } from '../image/reference.js';
import { groupId } from '../common/etc-group.js';
import { isuladConfig, isuladKeys, isuladLogLevel, LCR, type DaemonIsuladConfig } from './config-isulad.js';
import { networkConfig, networkKeys, type DaemonNetworkConfig } from './config-network.js';
import { mirrorMap, mirrorUrlProblem, registryHostProblem, type MirrorConfig, type MirrorMap } from '../image/registry/mirrors.js';
import { parseInsecureRegistry } from '../image/registry/insecure.js';

/**
 * "registry-mirrors": docker's list (docker.io's mirrors) or a map registry host → mirror URLs.
 * Checked by hand so that each bad entry is named by its own key (a zod union would only say
 * "invalid input" for the whole value).
 */
const registryMirrorsSchema = (z: Zod) => z.unknown().transform((v, ctx): MirrorConfig => {
  const bad = (message: string, path: Array<string | number>) => ctx.addIssue({ code: 'custom', message, path });
  const urls = (list: unknown, path: Array<string | number>) => {
    if (!Array.isArray(list)) { bad('want a list of mirror URLs', path); return; }
    list.forEach((u, i) => {
      const problem = typeof u === 'string' ? mirrorUrlProblem(u) : 'want a mirror URL (a string)';
      if (problem) bad(problem, [...path, i]);
    });
  };
  if (Array.isArray(v)) {
    urls(v, []);
  } else if (v !== null && typeof v === 'object') {
    for (const [host, list] of Object.entries(v)) {
      const problem = registryHostProblem(host);
      if (problem) bad(problem, [host]);
      urls(list, [host]);
    }
  } else {
    bad('want a list of docker.io mirror URLs, or an object mapping registry hosts to lists of mirror URLs', []);
  }
  return v as MirrorConfig;
});

// the rules of the keys tsulad's flags also set, shared with flagsPass
const HOST = /^unix:\/\/\/.+/;
const CRI_SOCKET = /^(unix:\/\/)?\/.+/;
const STORAGE_DRIVERS = ['overlay', 'overlay2', 'vfs'] as const;

/** daemon.json; built when a file or a flag needs checking (common/lazy-schema.ts). */
export const daemonConfigSchema = lazySchema((z) => z.object({
  hosts: z.array(z.string().regex(HOST, 'must be unix:///absolute/path')).optional(),
  graph: z.string().startsWith('/', 'must be an absolute path').optional(),
  state: z.string().startsWith('/', 'must be an absolute path').optional(),
  'default-runtime': z.string().min(1).optional(),
  runtimes: z.record(z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/), z.object({
    path: z.string().min(1),
    'runtime-args': z.array(z.string()).optional(),
  }).strict()).optional(),
  'storage-driver': z.enum(STORAGE_DRIVERS).optional(),
  'storage-opts': z.array(z.string().regex(/^[a-z0-9_.]+=.*$/, 'want key=value')).optional(),
  // tsulad's levels, or iSulad's (FATAL … TRACE) in any case
  'log-level': z.string().refine((s) => isuladLogLevel(s) !== undefined, 'want one of debug, info, warn, error (or iSulad\'s FATAL, ALERT, CRIT, ERROR, WARN, NOTICE, INFO, DEBUG, TRACE)').optional(),
  group: z.string().optional(),
  // registries (pull), and sandboxers (cri-runtimes / cri-sandboxers, iSulad's keys)
  'insecure-registries': z.array(z.string()).optional(),
  'registry-mirrors': registryMirrorsSchema(z).optional(),
  // docker's certs.d layout (<dir>/<host:port>/ca.crt, client.cert, client.key), searched in order
  'registry-certs-dirs': z.array(z.string().startsWith('/', 'must be an absolute path')).optional(),
  'cri-runtimes': z.record(z.string(), z.string()).optional(),
  'cri-sandboxers': z.record(z.string(), z.object({ name: z.string(), address: z.string() }).strict()).optional(),
  'conmon-path': z.string().startsWith('/').optional(),
  // CRI (kubelet, crictl): its socket ("" turns it off), the pause image, CNI, streaming
  'cri-socket': z.union([z.literal(''), z.string().regex(CRI_SOCKET, 'must be unix:///absolute/path or an absolute path')]).optional(),
  // "" is unset (iSulad's file writes it so)
  'pod-sandbox-image': z.string().optional(),
  'network-plugin': z.enum(['cni', '']).optional(),
  'cni-bin-dir': z.union([z.literal(''), z.string().regex(/^\/[^:]*(:\/[^:]*)*$/, 'must be absolute paths, ":"-separated')]).optional(),
  'cni-conf-dir': z.union([z.literal(''), z.string().startsWith('/', 'must be an absolute path')]).optional(),
  // docker's daemon-wide networking keys (config-network.ts), iSulad's own (config-isulad.ts)
  ...networkKeys(z),
  ...isuladKeys(z),
  // the real-time budget of the containers' cgroup parent (dockerd's and iSulad's; cgroup v1)
  'cpu-rt-period': z.number().int().min(1000).max(1_000_000).optional(),
  'cpu-rt-runtime': z.number().int().min(0).optional(),
  // docker-init for --init (default: docker-init or tini-static on PATH)
  'init-path': z.string().startsWith('/', 'must be an absolute path').optional(),
  'stream-server-address': z.string().min(1).optional(),
  'stream-server-port': z.number().int().min(0).max(65535).optional(),
  // dockerd's defaults of a container that names no IPC or cgroup namespace mode of its own
  'default-ipc-mode': z.enum(['private', 'shareable'], { message: 'invalid default IPC mode: want "private" or "shareable"' }).optional(),
  'default-cgroupns-mode': z.enum(['private', 'host'], { message: 'invalid default cgroup namespace mode: want "private" or "host"' }).optional(),
  // dockerd's: tsulad always keeps containers running while it is down and takes them back
  'live-restore': z.literal(true, { message: 'false is not supported: tsulad always leaves containers running across its own stop and restart (dockerd\'s live-restore); remove the key or set it true' }).optional(),
}).strict());

export type DaemonFileConfig = Infer<typeof daemonConfigSchema>;

/** The daemon's configuration: daemon.json's keys with the flags over them, defaults filled in. */
export interface DaemonConfig extends DaemonNetworkConfig, DaemonIsuladConfig {
  /** daemon.json as read ({} without one): what a SIGHUP compares, key by key (config-reload.ts). */
  file?: Readonly<Record<string, unknown>>;
  host: string;                 // socket path (without unix://)
  graph: string;
  state: string;
  defaultRuntime: string;
  runtimes: Record<string, { path: string; runtimeArgs: string[] }>;
  storageDriver: 'overlay' | 'vfs';
  storageOpts: string[];
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  group: string;
  conmonPath: string;
  configFile: string | null;
  insecureRegistries: string[];
  /** docker.io's mirrors (docker's RegistryConfig.Mirrors), from either form of "registry-mirrors". */
  registryMirrors: string[];
  /** Every registry's mirrors (docker.io's too): registry host → canonical mirror URLs, in order. */
  registryMirrorsByHost: MirrorMap;
  /** Roots of per-registry TLS dirs (undefined: /etc/tsula/certs.d, then /etc/docker/certs.d). */
  registryCertsDirs?: string[];
  /** runtime handler → sandboxer (iSulad's cri-sandboxers) */
  criSandboxers: Record<string, { name: string; address: string }>;
  /** runtime handler → runtime type name (iSulad's cri-runtimes) */
  criRuntimes: Record<string, string>;
  /** The CRI socket path ('' = no CRI). */
  criSocket: string;
  /** The pod sandbox ("pause") image; '' = tsula's own namespace holder, no image. */
  podSandboxImage: string;
  /** 'cni', or '' for pods with only a loopback (no network plugin). */
  networkPlugin: 'cni' | '';
  cniBinDirs: string[];
  cniConfDir: string;
  /** The CRI streaming server (exec, attach, port-forward URLs): 127.0.0.1 and a free port by default. */
  streamServer: { address: string; port: number };
  initPath?: string;
  /** daemon.json default-ipc-mode / default-cgroupns-mode: a container's when it names none. */
  namespaceDefaults?: { ipc?: 'private' | 'shareable'; cgroupns?: 'private' | 'host' };
  /** cpu-rt-period / cpu-rt-runtime: given to the containers' cgroup parent (cgroups/realtime.ts). */
  realtime?: { period?: number; runtime?: number };
}

export interface DaemonFlags {
  host?: string;
  graph?: string;
  state?: string;
  configFile?: string;
  defaultRuntime?: string;
  storageDriver?: string;
  logLevel?: string;
  group?: string;
  criSocket?: string;
}

export const DEFAULT_CRI_SOCKET = '/run/tsula/cri.sock';
export const DEFAULT_CONFIG_FILE = '/etc/tsula/daemon.json';
/** The API socket's group unless one is asked for (docker's "docker"); it may be missing. */
const DEFAULT_GROUP = 'tsula';
/** Other engines' defaults, which their installed files name: they may be missing too. */
const OTHER_DEFAULT_GROUPS = new Set(['docker', 'isulad']);

/** Format zod issues as "daemon.json: key "a.b": message". */
function describe(file: string, err: z.ZodError): string {
  return err.issues.map((i) => {
    const key = i.path.join('.');
    if (i.code === 'unrecognized_keys') return `${file}: unknown key ${i.keys.map((k) => `"${[...i.path, k].join('.')}"`).join(', ')}`;
    return `${file}: key "${key}": ${i.message}`;
  }).join('; ');
}

/** The daemon.json keys tsulad's flags set. */
type FlagKeys = Partial<Record<'graph' | 'state' | 'storage-driver' | 'log-level' | 'hosts' | 'cri-socket', unknown>>;

/**
 * Whether the flags pass the schema's rules for their keys, tested without zod: flags are
 * checked at every start, and zod is loaded only to word a refusal (the schema decides) or
 * to check a daemon.json.
 */
function flagsPass(k: FlagKeys): boolean {
  const ok = (v: unknown, rule: (s: string) => boolean) => v === undefined || (typeof v === 'string' && rule(v));
  const absolute = (s: string) => s.startsWith('/');
  const hosts = k.hosts === undefined ? [] : Array.isArray(k.hosts) ? k.hosts : [null];
  return ok(k.graph, absolute) && ok(k.state, absolute)
    && ok(k['storage-driver'], (s) => (STORAGE_DRIVERS as readonly string[]).includes(s))
    && ok(k['log-level'], (s) => isuladLogLevel(s) !== undefined)
    && hosts.every((h) => typeof h === 'string' && HOST.test(h))
    && ok(k['cri-socket'], (s) => s === '' || CRI_SOCKET.test(s));
}

/** insecure-registries as dockerd's loadInsecureRegistries checks them: a bad entry stops the start. */
function checkInsecureRegistries(list: string[], file: string): string[] {
  for (const raw of list) {
    const r = parseInsecureRegistry(raw);
    if ('problem' in r) throw invalidArgument(`${file}: ${r.problem}`);
  }
  return list;
}

/** The storage driver whose layers `graph` holds, if one; several: dockerd's refusal. */
async function priorDriver(graph: string): Promise<'overlay' | 'vfs' | undefined> {
  const held: Array<'overlay' | 'vfs'> = [];
  for (const d of ['overlay', 'vfs'] as const) {
    if ((await fs.readdir(path.join(graph, d, 'layers')).catch(() => [] as string[])).length) held.push(d);
  }
  if (held.length > 1) throw invalidArgument(`${graph} contains several valid graphdrivers: ${held.join(', ')}; cleanup or explicitly choose storage driver (--storage-driver <DRIVER>)`);
  return held[0];
}

/**
 * storage-opts as dockerd's overlay2 parseOptions takes them: tsula's overlay has no size
 * quota (XFS project quotas) and no other option; override_kernel_check is dockerd's no-op.
 */
function checkStorageOpts(opts: string[], file: string): void {
  for (const o of opts) {
    if (!o.includes('=')) throw invalidArgument(`${file}: storage-opts: unable to parse key/value option: ${o}`);
    const key = o.slice(0, o.indexOf('=')).toLowerCase();
    if (key === 'overlay2.override_kernel_check') continue;
    if (key === 'overlay2.size' || key === 'size') throw invalidArgument(`${file}: storage option ${key} not supported: tsula's overlay driver sets no per-container size quota (XFS project quotas)`);
    throw invalidArgument(`${file}: storage-opts: unknown option ${key} (tsula's storage drivers take none)`);
  }
}

export async function loadDaemonConfig(flags: DaemonFlags): Promise<DaemonConfig> {
  const file = flags.configFile ?? DEFAULT_CONFIG_FILE;
  let fileCfg: DaemonFileConfig = {};
  let text: string | null = null;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (e) {
    // the default file is optional; one named on the command line is not
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || flags.configFile) throw invalidArgument(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  if (text !== null && text.trim() !== '') {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw invalidArgument(`${file}: invalid JSON: ${(e as Error).message}`);
    }
    const parsed = (await daemonConfigSchema()).safeParse(raw);
    if (!parsed.success) throw invalidArgument(describe(file, parsed.error));
    fileCfg = parsed.data;
  }
  const flagKeys: FlagKeys = Object.fromEntries(Object.entries({
    graph: flags.graph, state: flags.state, 'storage-driver': flags.storageDriver, 'log-level': flags.logLevel,
    hosts: flags.host ? [flags.host] : undefined, 'cri-socket': flags.criSocket,
  }).filter(([, v]) => v !== undefined));
  if (!flagsPass(flagKeys)) {
    const flagCheck = (await daemonConfigSchema()).safeParse(flagKeys);
    if (!flagCheck.success) throw invalidArgument(describe('flags', flagCheck.error).replace(/key "([^"]+)"/g, '--$1'));
  }

  const host = (flags.host ?? fileCfg.hosts?.[0] ?? 'unix:///run/tsula/tsulad.sock').replace(/^unix:\/\//, '');
  const runtimes: DaemonConfig['runtimes'] = { runc: { path: 'runc', runtimeArgs: [] } };
  for (const [name, r] of Object.entries(fileCfg.runtimes ?? {})) runtimes[name] = { path: r.path, runtimeArgs: r['runtime-args'] ?? [] };
  const asked = flags.defaultRuntime ?? fileCfg['default-runtime'] ?? 'runc';
  const defaultRuntime = asked === LCR && !runtimes[LCR] ? 'runc' : asked;
  const sandboxed = Object.keys(fileCfg['cri-sandboxers'] ?? {});
  if (!runtimes[defaultRuntime] && !sandboxed.includes(defaultRuntime) && !/^io\.containerd\.[\w-]+\.v2$/.test(defaultRuntime)) {
    throw invalidArgument(`default-runtime "${defaultRuntime}" is not a configured runtime (have: ${[...Object.keys(runtimes), ...sandboxed].join(', ')}, or io.containerd.<name>.v2)`);
  }
  const isulad = isuladConfig(fileCfg, file);
  if (isulad.logDefaults) {
    // a default no container could take stops the start, as dockerd's
    const { logSettings } = await import('./api/docker-runopts.js');
    try { logSettings(isulad.logDefaults); } catch (e) { throw invalidArgument(`${file}: key "log-driver"/"log-opts": ${(e as Error).message}`); }
  }
  if (isulad.hookSpec) {
    // iSulad's default points at /etc/default/isulad/hooks/default.json, which a host
    // without iSulad lacks: then no default hooks, said at start; a bad file stops it
    const { readHookSpec } = await import('./containers/hook-spec.js');
    try {
      await readHookSpec(isulad.hookSpec);
    } catch (e) {
      if (!/no such file$/.test((e as Error).message)) throw invalidArgument(`${file}: key "hook-spec": ${(e as Error).message}`);
      isulad.notes.push(`${file}: "hook-spec" ${isulad.hookSpec} is not there: containers get no default hooks`);
      delete isulad.hookSpec;
    }
  }
  const graph = flags.graph ?? fileCfg.graph ?? '/var/lib/tsula';
  // none asked for: the one whose layers the graph holds (dockerd's scanPriorDrivers), so a
  // restart without --storage-driver never hides a vfs graph's images behind an empty overlay
  // dockerd's listeners.Init: only the default group may be missing (the socket is then root's)
  const group = flags.group ?? fileCfg.group ?? DEFAULT_GROUP;
  if (group && group !== DEFAULT_GROUP && !OTHER_DEFAULT_GROUPS.has(group) && (await groupId(group)) === null) {
    throw invalidArgument(`${flags.group !== undefined ? '--group' : `${file}: key "group"`}: group ${group} not found (in /etc/group)`);
  }
  const askedDriver = flags.storageDriver ?? fileCfg['storage-driver'];
  const prior = askedDriver ? undefined : await priorDriver(graph);
  if (prior && prior !== 'overlay') isulad.notes.push(`using prior storage driver: ${prior}`);
  const driver = askedDriver ?? prior ?? 'overlay';
  checkStorageOpts(fileCfg['storage-opts'] ?? [], file);
  if ((fileCfg.hosts?.length ?? 0) > 1 && !flags.host) {
    throw invalidArgument(`${file}: key "hosts" lists ${fileCfg.hosts!.length} sockets: tsulad serves one API socket (dockerd listens on each); give one`);
  }
  const mirrors = mirrorMap(fileCfg['registry-mirrors']);
  return {
    file: fileCfg,
    host,
    graph,
    state: flags.state ?? fileCfg.state ?? '/run/tsula',
    defaultRuntime,
    runtimes,
    storageDriver: driver === 'vfs' ? 'vfs' : 'overlay',
    storageOpts: fileCfg['storage-opts'] ?? [],
    logLevel: isuladLogLevel(flags.logLevel ?? fileCfg['log-level'] ?? 'info') ?? 'info',
    group,
    conmonPath: fileCfg['conmon-path'] ?? 'conmon',
    configFile: text !== null ? file : null,
    insecureRegistries: checkInsecureRegistries(fileCfg['insecure-registries'] ?? [], file),
    registryMirrors: mirrors[DEFAULT_DOMAIN] ?? [],
    registryMirrorsByHost: mirrors,
    registryCertsDirs: fileCfg['registry-certs-dirs'],
    criSandboxers: fileCfg['cri-sandboxers'] ?? {},
    criRuntimes: fileCfg['cri-runtimes'] ?? {},
    criSocket: (flags.criSocket ?? fileCfg['cri-socket'] ?? DEFAULT_CRI_SOCKET).replace(/^unix:\/\//, ''),
    podSandboxImage: fileCfg['pod-sandbox-image'] ?? '',
    networkPlugin: fileCfg['network-plugin'] ?? 'cni',
    cniBinDirs: (fileCfg['cni-bin-dir'] || '/usr/lib/cni').split(':'),
    cniConfDir: fileCfg['cni-conf-dir'] || '/etc/cni/net.d',
    streamServer: {
      address: fileCfg['stream-server-address'] ?? '127.0.0.1',
      port: fileCfg['stream-server-port'] ?? fileCfg['websocket-server-listening-port'] ?? 0,
    },
    ...networkConfig(fileCfg, file),
    ...isulad,
    ...(fileCfg['init-path'] ? { initPath: fileCfg['init-path'] } : {}),
    ...(fileCfg['default-ipc-mode'] || fileCfg['default-cgroupns-mode'] ? { namespaceDefaults: {
      ...(fileCfg['default-ipc-mode'] ? { ipc: fileCfg['default-ipc-mode'] } : {}),
      ...(fileCfg['default-cgroupns-mode'] ? { cgroupns: fileCfg['default-cgroupns-mode'] } : {}),
    } } : {}),
    ...(fileCfg['cpu-rt-period'] || fileCfg['cpu-rt-runtime'] ? { realtime: { period: fileCfg['cpu-rt-period'], runtime: fileCfg['cpu-rt-runtime'] } } : {}),
  };
}
