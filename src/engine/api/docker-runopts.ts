// The run options of a create body beyond resources and security: networking (NetworkMode,
// NetworkingConfig's endpoints, ports, DNS, hosts), mounts, the restart policy, --init, devices, groups,
// /dev/shm, shared namespaces, sysctls, the log driver and its options. Each is mapped onto the engine's
// CreateSpec or refused with a 400 that names it: none is accepted and dropped.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import type * as z from 'zod';
import { invalidArgument } from '../../common/errors.js';
import { goAtoi } from '../../common/go-strconv.js';
import { noVolumePlugin } from '../volumes/index.js';
import { fromHumanSize } from '../../common/sizes.js';
import type { Zod } from '../../common/lazy-schema.js';
import type { CreateSpec, Device, EndpointSpec, NetworkingSpec } from '../containers/model.js';
import { checkRestartPolicy } from '../containers/restart.js';
import { LOCAL_MAX_SIZE } from '../containers/log-rotation.js';
import { checkBindings, checkPortKey } from '../networks/ports.js';
import { ENDPOINT_LINKS } from '../networks/links.js';
import { HOST_AND_LINKS } from '../networks/legacy-links.js';
import { ip6ToBig } from '../networks/ipv6.js';
import { mountSchema, parseMounts } from './docker-mounts.js';
import { SYSCTLS } from './network-compat.js';

/** The Config fields read here, for the create body's schema (docker-model.ts). */
export function runConfigShape(z: Zod) {
  const strList = z.array(z.string()).nullish();
  const endpointSchema = z.object({
    IPAMConfig: z.object({ IPv4Address: z.string().nullish(), IPv6Address: z.string().nullish(), LinkLocalIPs: strList }).passthrough().nullish(),
    Links: strList,
    Aliases: strList,
    MacAddress: z.string().nullish(),
    DriverOpts: z.record(z.string(), z.string()).nullish(),
    GwPriority: z.number().int().nullish(),
  }).passthrough();
  return {
    ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
    Volumes: z.record(z.string(), z.unknown()).nullish(),
    MacAddress: z.string().nullish(),
    NetworkDisabled: z.boolean().nullish(),
    NetworkingConfig: z.object({ EndpointsConfig: z.record(z.string(), endpointSchema.nullish()).nullish() }).passthrough().nullish(),
  };
}

/** The HostConfig fields read here. */
export function runHostConfigShape(z: Zod) {
  const strList = z.array(z.string()).nullish();
  return {
    PortBindings: z.record(z.string(), z.array(z.object({ HostIp: z.string().nullish(), HostPort: z.string().nullish() }).passthrough()).nullish()).nullish(),
    PublishAllPorts: z.boolean().nullish(),
    Dns: strList,
    DnsSearch: strList,
    DnsOptions: strList,
    ExtraHosts: strList,
    Links: strList,
    Mounts: z.array(mountSchema(z)).nullish(),
    Tmpfs: z.record(z.string(), z.string()).nullish(),
    VolumesFrom: strList,
    VolumeDriver: z.string().nullish(),
    RestartPolicy: z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().int().nullish() }).passthrough().nullish(),
    Init: z.boolean().nullish(),
    GroupAdd: strList,
    ShmSize: z.number().int().nullish(),
    PidMode: z.string().nullish(),
    UTSMode: z.string().nullish(),
    IpcMode: z.string().nullish(),
    UsernsMode: z.string().nullish(),
    CgroupnsMode: z.string().nullish(),
    Sysctls: z.record(z.string(), z.string()).nullish(),
    LogConfig: z.object({ Type: z.string().nullish(), Config: z.record(z.string(), z.string()).nullish() }).passthrough().nullish(),
    StorageOpt: z.record(z.string(), z.string()).nullish(),
    Isolation: z.string().nullish(),
    ContainerIDFile: z.string().nullish(),
    // iSulad's: a file of OCI hooks the daemon reads at create
    HookSpec: z.string().nullish(),
  };
}

type RunConfig = z.infer<z.ZodObject<ReturnType<typeof runConfigShape>>>;
type RunHostConfig = z.infer<z.ZodObject<ReturnType<typeof runHostConfigShape>>> & { Devices?: unknown[] | null; AutoRemove?: boolean | null; NetworkMode?: string | null };

/**
 * A HostConfig.Devices entry: an object with PathOnHost, and PathInContainer and
 * CgroupPermissions if any (checked here by hand: the create body's schema takes Devices as
 * they come, and this synchronous path has no zod at hand; common/lazy-schema.ts).
 */
interface DeviceBody { PathOnHost: string; PathInContainer?: string | null; CgroupPermissions?: string | null }
function isDeviceBody(v: unknown): v is DeviceBody {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const d = v as Record<string, unknown>;
  const nullishString = (x: unknown) => x === undefined || x === null || typeof x === 'string';
  return typeof d.PathOnHost === 'string' && nullishString(d.PathInContainer) && nullishString(d.CgroupPermissions);
}

/** The logging drivers dockerd has built in (daemon/logdrivers_linux.go); any other name is a plugin's. */
const DOCKERD_LOG_DRIVERS = new Set(['awslogs', 'fluentd', 'gcplogs', 'gelf', 'journald', 'json-file', 'local', 'logentries', 'none', 'splunk', 'syslog']);

/**
 * EndpointIPAMConfig.LinkLocalIPs as dockerd takes them: each must parse (validateEndpointSettings:
 * "invalid link-local IP address: X") and be link-local unicast, 169.254/16 or fe80::/10
 * (libnetwork's createEndpoint: "invalid link local IP address: X").
 */
export function linkLocalIps(list: readonly string[] | null | undefined): string[] {
  const out: string[] = [];
  for (const ip of list ?? []) {
    const v = isIP(ip);
    if (!v) throw invalidArgument(`invalid link-local IP address: ${ip}`);
    if (v === 4 ? !ip.startsWith('169.254.') : !/^fe[89ab][0-9a-f]:/i.test(ip)) throw invalidArgument(`invalid link local IP address: ${ip}`);
    out.push(ip);
  }
  return out;
}

/** EndpointIPAMConfig.IPv4Address (--ip): dockerd's Validate, "invalid IPv4 address: X" (0.0.0.0 too). */
export function ipv4Address(ip: string | null | undefined): { ipv4Address?: string } {
  if (!ip) return {};
  if (isIP(ip) !== 4 || ip === '0.0.0.0') throw invalidArgument(`invalid IPv4 address: ${ip}`);
  return { ipv4Address: ip };
}

/** EndpointIPAMConfig.IPv6Address (--ip6): dockerd's Validate, "invalid IPv6 address: X" (::, an IPv4-mapped one, a zone too). */
export function ipv6Address(ip: string | null | undefined): { ipv6Address?: string } {
  if (!ip) return {};
  const n = ip6ToBig(ip);
  if (n === null || n === 0n || n >> 32n === 0xffffn) throw invalidArgument(`invalid IPv6 address: ${ip}`);
  return { ipv6Address: ip };
}

/** Go's net.ParseMAC takes more forms; docker's CLI and clients send the colon form. */
const MAC_RE = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$/;

type EndpointBody = NonNullable<NonNullable<NonNullable<RunConfig['NetworkingConfig']>['EndpointsConfig']>[string]>;

/** One EndpointsConfig entry as the engine's endpoint (its network resolved at create: networks/hooks.ts). */
function endpointSpec(name: string, ep: EndpointBody | undefined, mac: string | undefined): EndpointSpec {
  const ll = linkLocalIps(ep?.IPAMConfig?.LinkLocalIPs);
  // on a user network they are DNS aliases of the container's own (networks/links.ts)
  if (ep?.Links?.length && ['bridge', 'default', 'host', 'none'].includes(name)) throw invalidArgument(ENDPOINT_LINKS);
  const sysctls = endpointSysctls(ep?.DriverOpts);
  if (mac && !MAC_RE.test(mac)) throw invalidArgument(`${mac} is not a valid mac address`);
  return {
    networkId: '', name, aliases: ep?.Aliases ?? [], ...(ep?.Links?.length ? { links: ep.Links } : {}), ...ipv4Address(ep?.IPAMConfig?.IPv4Address),
    ...ipv6Address(ep?.IPAMConfig?.IPv6Address), ...(ll.length ? { linkLocalIps: ll } : {}),
    ...(mac ? { mac: mac.toLowerCase().replace(/-/g, ':') } : {}),
    ...(typeof ep?.GwPriority === 'number' && ep.GwPriority ? { gwPriority: ep.GwPriority } : {}),
    ...(sysctls.length ? { sysctls } : {}),
  };
}

/**
 * An endpoint's DriverOpts: its interface's sysctls (API 1.46, com.docker.network.endpoint.sysctls,
 * "net.X.Y.IFNAME.Z=V,…", checked as dockerd does); any other option is refused.
 */
export function endpointSysctls(opts: Record<string, string> | null | undefined): string[] {
  const keys = Object.keys(opts ?? {});
  if (keys.some((k) => k !== SYSCTLS)) throw invalidArgument('network driver options of an endpoint are not supported by tsulad');
  const v = opts?.[SYSCTLS];
  if (!v) return [];
  const list = v.split(',');
  const bad = list.filter((x) => {
    const p = x.split('.');
    return p.length < 5 || !['ipv4', 'ipv6', 'mpls'].includes(p[1]!) || (p[3] !== 'IFNAME' && p[3] !== 'ifname') || !x.includes('=');
  });
  if (bad.length) {
    throw invalidArgument(bad.map((x) => `unrecognised network interface sysctl '${x}'; represent 'net.X.Y.ethN.Z=V' as 'net.X.Y.IFNAME.Z=V', 'X' must be 'ipv4', 'ipv6' or 'mpls'`).join('\n'));
  }
  return list;
}

/**
 * The networking part of a create: NetworkMode and the endpoints of its networks, the
 * NetworkMode's first (eth0), then the other EndpointsConfig entries in their order (API
 * 1.44+; network-compat.ts refuses them before, and moves Config.MacAddress to an endpoint).
 */
function networking(b: RunConfig, hc: RunHostConfig): Pick<CreateSpec, 'network' | 'networking'> {
  const raw = hc.NetworkMode;
  const mode = !raw || raw === 'default' ? 'default' : raw;
  if (b.MacAddress && !MAC_RE.test(b.MacAddress)) throw invalidArgument(`${b.MacAddress} is not a valid mac address`);
  if (hc.Links?.length) checkHostLinks(mode);
  const hostLinks = hc.Links?.length && ['default', 'bridge', 'none'].includes(mode) ? { hostLinks: hc.Links } : {};
  const eps = Object.entries(b.NetworkingConfig?.EndpointsConfig ?? {});
  const exposed = Object.keys(b.ExposedPorts ?? {});
  exposed.forEach(checkPortKey);
  const bindings = checkBindings(Object.fromEntries(Object.entries(hc.PortBindings ?? {}).map(([k, v]) =>
    [k, (v ?? []).map((x) => ({ hostIp: x.HostIp ?? '', hostPort: x.HostPort ?? '' }))])));
  const n: NetworkingSpec = {
    mode, endpoints: [], dns: hc.Dns ?? [], dnsSearch: hc.DnsSearch ?? [], dnsOptions: hc.DnsOptions ?? [], extraHosts: hc.ExtraHosts ?? [],
    exposedPorts: [...new Set([...exposed, ...Object.keys(bindings)])], portBindings: bindings, publishAll: !!hc.PublishAllPorts, ...hostLinks,
  };
  // dockerd connects a host/none/container: mode container to nothing else
  if (eps.length > 1 && (b.NetworkDisabled || ['none', 'host', 'container'].includes(mode) || mode.startsWith('container:'))) {
    throw invalidArgument('container cannot be disconnected from host network or connected to host network');
  }
  // dockerd's validateEndpointSettings: host and none take no alias and no address
  if (mode === 'none' || mode === 'host') {
    const ep = b.NetworkingConfig?.EndpointsConfig?.[mode];
    if (ep?.Aliases?.length) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
    if (ep?.IPAMConfig?.IPv4Address || ep?.IPAMConfig?.IPv6Address) throw invalidArgument('user specified IP address is supported on user defined networks only');
  }
  if (b.NetworkDisabled || mode === 'none') return { network: 'none', networking: n };
  if (mode === 'host') return { network: 'host', networking: n };
  if (mode === 'container' || mode.startsWith('container:')) {
    const ref = mode.slice('container:'.length);
    if (!ref) throw invalidArgument('Invalid network mode: invalid container format container:<name|id>');
    if (b.MacAddress) throw invalidArgument('conflicting options: mac-address and the network mode');
    return { network: 'container', networking: { ...n, container: ref } };
  }
  const netName = mode === 'default' ? 'bridge' : mode;
  // one entry: the NetworkMode network's, whatever its key (as dockerd before 1.44)
  const mainIdx = eps.length === 1 ? 0 : eps.findIndex(([k]) => k === netName);
  const [epKey, ep] = eps[mainIdx] ?? [netName, undefined];
  if (eps.length === 1 && epKey !== netName && mode !== 'default') {
    throw invalidArgument(`Container cannot be connected to network endpoints: ${epKey} (the network mode is ${mode})`);
  }
  // an endpoint's own address, or (API 1.41) the container-wide one, which must agree
  if (ep?.MacAddress && b.MacAddress && ep.MacAddress !== b.MacAddress) {
    throw invalidArgument('the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty');
  }
  const endpoints = [endpointSpec(netName, ep ?? undefined, ep?.MacAddress || b.MacAddress || undefined)];
  for (const [i, [k, e]] of eps.entries()) if (i !== mainIdx) endpoints.push(endpointSpec(k, e ?? undefined, e?.MacAddress || undefined));
  return { network: 'cni', networking: { ...n, endpoints } };
}

/**
 * HostConfig.Links: dockerd's conflicts for host and container modes; on a user-defined
 * network ignored, as dockerd's registerLinks ignores them (EndpointSettings.Links carry
 * what a link does there); on the default bridge (or none) legacy links, made at create.
 */
function checkHostLinks(mode: string): void {
  if (mode === 'host') throw invalidArgument(HOST_AND_LINKS);
  if (mode === 'container' || mode.startsWith('container:')) {
    throw invalidArgument('conflicting options: container type network can\'t be used with links. This would result in undefined behavior');
  }
}

/** dockerd's Valid() of each mode: what it takes at all (tsulad takes fewer). */
let unified: boolean | undefined;
/** dockerd's default cgroup namespace mode on this host: private on cgroup v2 (unified), host on v1. */
function defaultCgroupns(): 'private' | 'host' {
  unified ??= existsSync('/sys/fs/cgroup/cgroup.controllers');
  return unified ? 'private' : 'host';
}

const DOCKER_MODES: Record<string, { word: string; valid: (v: string) => boolean }> = {
  ipc: { word: 'IPC', valid: (v) => ['none', 'private', 'shareable', 'host'].includes(v) || /^container:.+/.test(v) },
  pid: { word: 'PID', valid: (v) => v === 'host' || /^container:.+/.test(v) },
  uts: { word: 'UTS', valid: (v) => v === 'host' },
  // dockerd's validateHostConfig: "invalid cgroup namespace mode: x"
  cgroupns: { word: 'cgroup namespace', valid: (v) => v === 'host' || v === 'private' },
};

/**
 * `host` or the container's own (''/private); a mode dockerd takes but tsulad does not is
 * refused naming the flag, one dockerd does not know in its words ("invalid IPC mode: x").
 */
function hostOrPrivate(v: string | null | undefined, flag: string, also: string[] = []): boolean {
  if (!v || v === 'private' || also.includes(v)) return false;
  if ((flag === 'pid' || flag === 'ipc') && joinedContainer(v)) return false;
  if (v === 'host') return true;
  const m = DOCKER_MODES[flag];
  if (m && !m.valid(v)) throw invalidArgument(`invalid ${m.word} mode: ${v}`);
  throw invalidArgument(`--${flag} ${v} is not supported by tsulad: use host, or leave it unset for the container's own`);
}

function devices(list: unknown[] | null | undefined): Device[] {
  return (list ?? []).map((raw) => {
    if (!isDeviceBody(raw)) throw invalidArgument(`invalid device mapping ${JSON.stringify(raw)}: want PathOnHost, PathInContainer, CgroupPermissions`);
    const d = raw;
    const perms = d.CgroupPermissions || 'rwm';
    if (!/^(?!.*(.).*\1)[rwm]{1,3}$/.test(perms)) throw invalidArgument(`invalid device mode: ${perms}`);
    const dst = d.PathInContainer || d.PathOnHost;
    if (!d.PathOnHost.startsWith('/') || !dst.startsWith('/')) throw invalidArgument(`invalid device mapping ${d.PathOnHost}:${dst}: paths must be absolute`);
    return { hostPath: d.PathOnHost, containerPath: dst, permissions: perms };
  });
}

/** The container of a `container:<name|id>` mode, else undefined. */
function joinedContainer(v: string | null | undefined): string | undefined {
  return v?.startsWith('container:') && v.length > 'container:'.length ? v.slice('container:'.length) : undefined;
}

/** The run options of a validated create body, as CreateSpec fields. */
export function runOptionsFromDocker(b: RunConfig, hc: RunHostConfig, binds: string[], o: { recursiveReadonly?: boolean } = {}): Partial<CreateSpec> {
  const out: Partial<CreateSpec> = networking(b, hc);
  // dockerd uses VolumeDriver only for the volumes the container makes (a name in -v, an
  // anonymous -v): with none it is ignored; with one, its lookup of the plugin fails (404)
  if (hc.VolumeDriver && hc.VolumeDriver !== 'local') {
    const makesVolumes = binds.some((x) => !x.startsWith('/')) || Object.keys(b.Volumes ?? {}).length > 0;
    // a 400, not dockerd's 404: on a create's 404 the docker CLI pulls the image (moby#48772)
    if (makesVolumes) throw invalidArgument(noVolumePlugin(hc.VolumeDriver));
  }
  const m = parseMounts({ binds, volumes: Object.keys(b.Volumes ?? {}), mounts: hc.Mounts ?? [], tmpfs: hc.Tmpfs ?? {} }, o);
  out.binds = m.binds;
  out.volumes = m.volumes;
  out.tmpfs = m.tmpfs;
  if (m.images.length) out.imageMounts = m.images;
  out.mountRequest = {
    ...(hc.Mounts?.length ? { mounts: hc.Mounts } : {}), ...(hc.Tmpfs && Object.keys(hc.Tmpfs).length ? { tmpfs: hc.Tmpfs } : {}),
    ...(hc.VolumesFrom?.length ? { volumesFrom: hc.VolumesFrom } : {}), ...(Object.keys(m.volumeLabels).length ? { volumeLabels: m.volumeLabels } : {}),
    ...(Object.keys(m.volumeOptions).length ? { volumeOptions: m.volumeOptions } : {}),
  };
  const rp = { name: (hc.RestartPolicy?.Name || 'no') as 'no', maxRetries: hc.RestartPolicy?.MaximumRetryCount ?? 0 };
  checkRestartPolicy(hc.RestartPolicy?.Name ?? '', rp.maxRetries, !!hc.AutoRemove);
  out.restartPolicy = rp;
  out.init = !!hc.Init;
  out.devices = devices(hc.Devices);
  // --group-add: numbers now, names from the container's /etc/group at start
  const groups = hc.GroupAdd ?? [];
  for (const g of groups) if (!/^[0-9]+$/.test(g) && !/^[a-zA-Z_][a-zA-Z0-9_.-]*\$?$/.test(g)) throw invalidArgument(`invalid --group-add "${g}"`);
  out.groupNames = groups.filter((g) => !/^[0-9]+$/.test(g));
  if (hc.ShmSize !== undefined && hc.ShmSize !== null) {
    if (hc.ShmSize < 0) throw invalidArgument('SHM size can not be less than 0');
    out.shmSize = hc.ShmSize;
  }
  out.hostNamespaces = {
    pid: hostOrPrivate(hc.PidMode, 'pid'),
    uts: hostOrPrivate(hc.UTSMode, 'uts'),
    ipc: hostOrPrivate(hc.IpcMode, 'ipc', ['shareable']),
  };
  const shared = { pid: joinedContainer(hc.PidMode), ipc: joinedContainer(hc.IpcMode) };
  if (shared.pid || shared.ipc) out.sharedNamespaces = Object.fromEntries(Object.entries(shared).filter(([, v]) => v)) as { pid?: string; ipc?: string };
  if (hc.IpcMode === 'shareable') out.ipcShareable = true;
  hostOrPrivate(hc.UsernsMode, 'userns');
  // dockerd's default-cgroupns-mode: private on cgroup v2, host on v1
  out.cgroupns = hostOrPrivate(hc.CgroupnsMode, 'cgroupns') ? 'host' : hc.CgroupnsMode === 'private' ? 'private' : defaultCgroupns();
  if (hc.Sysctls && Object.keys(hc.Sysctls).length) out.sysctls = hc.Sysctls;
  Object.assign(out, logSettings(hc.LogConfig));
  if (Object.keys(hc.StorageOpt ?? {}).length) throw invalidArgument('--storage-opt is not supported by tsulad');
  // dockerd's validateIsolation, in its words
  if (hc.Isolation && hc.Isolation.toLowerCase() !== 'default') throw invalidArgument(`Invalid isolation: ${JSON.stringify(hc.Isolation)} - linux only supports 'default'`);
  return out;
}

/** A LogConfig as the engine keeps it (driver, options, size bound), checked as dockerd's drivers check it. */
export function logSettings(log: { Type?: string | null; Config?: Record<string, string> | null } | null | undefined): Pick<CreateSpec, 'logDriver' | 'logOpts' | 'logSizeMax'> {
  const out: Pick<CreateSpec, 'logDriver' | 'logOpts' | 'logSizeMax'> = {};
  if (log?.Type === 'none' || log?.Type === 'local') out.logDriver = log.Type;
  else if (log?.Type && log.Type !== 'json-file') {
    const how = 'containers log to a file that docker logs reads (json-file, the default, or local), or to nothing (none)';
    // a name that is none of dockerd's drivers is a plugin to dockerd, and none is there
    // (word for word: clients compare it whole)
    if (!DOCKERD_LOG_DRIVERS.has(log.Type)) throw invalidArgument(`error looking up logging plugin ${log.Type}: plugin ${JSON.stringify(log.Type)} not found`);
    throw invalidArgument(`logging driver "${log.Type}" is not supported by tsulad: ${how}`);
  }
  return { ...out, ...logOptions(out.logDriver ?? 'json-file', log?.Config ?? {}) };
}

/**
 * dockerd's mergeAndVerifyLogConfig: a create that names no log driver gets the daemon's
 * (log-driver), and with the daemon's driver its options (log-opts) under its own.
 */
export function withDaemonLogConfig<T extends { Type?: string | null; Config?: Record<string, string> | null }>(log: T | null | undefined, daemon: { Type: string; Config: Record<string, string> } | undefined): T | { Type: string; Config: Record<string, string> } | null | undefined {
  if (!daemon) return log;
  const type = log?.Type || daemon.Type;
  return { ...log, Type: type, Config: { ...(type === daemon.Type ? daemon.Config : {}), ...(log?.Config ?? {}) } };
}

// json-file's options in dockerd (ValidateLogOpt): max-size and max-file bound the log,
// labels/env (and their regexes) are the attributes `logs --details` shows, tag is taken
// and unused (as json-file leaves it), compress only false
const JSON_FILE_OPTS = new Set(['max-file', 'max-size', 'compress', 'labels', 'labels-regex', 'env', 'env-regex', 'tag']);
// the local driver's (its files are kept uncompressed here)
const LOCAL_OPTS = new Set(['max-file', 'max-size', 'compress']);

/** --log-opt, checked as dockerd's json-file driver checks them: max-size and max-file work. */
function logOptions(driver: 'json-file' | 'none' | 'local', opts: Record<string, string>): Pick<CreateSpec, 'logOpts' | 'logSizeMax'> {
  const keys = Object.keys(opts);
  if (!keys.length) return driver === 'local' ? { logSizeMax: LOCAL_MAX_SIZE } : {};
  // dockerd's ValidateLogOpts takes anything for none (and inspect shows it)
  if (driver === 'none') return { logOpts: { ...opts } };
  // the options of every driver: conmon writes the log file whatever reads it, so a log
  // never blocks the container (what non-blocking is for) and no buffer is needed
  const mode = opts.mode ?? '';
  if (!['', 'blocking', 'non-blocking'].includes(mode)) throw invalidArgument(`logger: logging mode not supported: ${mode}`);
  if (opts['max-buffer-size'] !== undefined) {
    if (mode !== 'non-blocking') throw invalidArgument("logger: max-buffer-size option is only supported with 'mode=non-blocking'");
    try { fromHumanSize(opts['max-buffer-size']); } catch { throw invalidArgument(`error parsing option max-buffer-size: invalid size: '${opts['max-buffer-size']}'`); }
  }
  for (const k of keys) {
    if (k === 'mode' || k === 'max-buffer-size') continue;
    if (!(driver === 'local' ? LOCAL_OPTS : JSON_FILE_OPTS).has(k)) throw invalidArgument(`unknown log opt '${k}' for ${driver} log driver`);
    // local compresses by default; its files here are kept as they are, which nothing reads differently
    if (k === 'compress' && driver !== 'local' && opts.compress !== 'false') throw invalidArgument("log opt 'compress' is not supported by tsulad: rotated log files are kept uncompressed (compress=false)");
    for (const re of ['labels-regex', 'env-regex']) {
      if (k === re) { try { new RegExp(opts[k]!); } catch (e) { throw invalidArgument(`error parsing regexp: ${(e as Error).message}`); } }
    }
  }
  const out: Pick<CreateSpec, 'logOpts' | 'logSizeMax'> = { logOpts: { ...opts }, ...(driver === 'local' ? { logSizeMax: LOCAL_MAX_SIZE } : {}) };
  const size = opts['max-size'];
  if (size !== undefined) {
    let n: number;
    try { n = fromHumanSize(size); } catch { throw invalidArgument(`invalid size: '${size}'`); }
    if (n <= 0) throw invalidArgument('max-size must be a positive number');
    out.logSizeMax = n;
  }
  const files = opts['max-file'];
  if (files !== undefined) {
    if (goAtoi(files) < 1) throw invalidArgument('max-file cannot be less than 1');
  }
  return out;
}

/** Numeric --group-add entries (the rest are names: groupNames). */
export function numericGroups(hc: { GroupAdd?: string[] | null }): number[] {
  return (hc.GroupAdd ?? []).filter((g) => /^[0-9]+$/.test(g)).map(Number);
}
