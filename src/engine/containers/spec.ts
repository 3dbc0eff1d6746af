// The OCI runtime spec of a container: the engine's model mapped onto the spec builder's
// options. A pod's container joins the pod's namespaces by path, mounts the pod's /etc
// files and gets its sysctls.
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container, Device, Security } from './model.js';
import { apparmorEnabled, namedProfile } from '../../oci/apparmor.js';
import { devicesFromPath, hostDevices, type HostDevice } from '../../oci/host-devices.js';
import type { Spec } from '../../oci/types.js';
import { buildSpec, type HostInfo, type SpecOptions } from '../../oci/spec.js';
import { kernelHasRecursiveReadonly } from '../../oci/host.js';
import { volumeSubpath } from '../volumes/hooks.js';
import { resolveUser, type ResolvedUser } from '../../oci/user.js';
import type { SeccompProfile } from '../../oci/seccomp.js';
import { failedPrecondition, invalidArgument } from '../../common/errors.js';
import { mountOf } from '../../storage/mounts.js';
import { cgroupsPath, deviceCgroupRules, ociResources } from './resources.js';
import { findInit, noInitError } from './run-options.js';
import { ipv6OffFor } from '../networks/interfaces.js';

/** Where --init's docker-init is bound, as docker does. */
export const INIT_PATH = '/sbin/docker-init';

/** docker's ReplaceOrAppendEnvValues: a "KEY" without "=" unsets KEY (the image's, a default). */
export function applyUnsets(env: string[]): string[] {
  const unset = new Set(env.filter((e) => !e.includes('=')));
  return env.filter((e) => e.includes('=') && !unset.has(e.slice(0, e.indexOf('='))));
}

/** The network namespace of the spec: the pod's, the node's, a new empty one, or one made for it. */
function networkOf(c: Container): SpecOptions['network'] {
  const k = c.config;
  if (k.network === 'pod') {
    const netns = k.pod?.namespaces.network;
    return netns && netns !== 'host' ? { netnsPath: netns } : 'host';
  }
  if (k.network === 'cni' || k.network === 'container') {
    const p = c.state.network?.sandboxKey;
    if (!p) throw invalidArgument(`container ${c.name}: its network namespace is not set up`);
    return { netnsPath: p };
  }
  return k.network;
}

let netSysctls: Record<string, string> | undefined;

/**
 * dockerd's WithCommonOptions for a network namespace of the container's own (a bridge or
 * user network, none): ports below 1024 and ICMP echo sockets open to any user, as a
 * non-root image listening on :80 expects; where the kernel has the sysctl. --sysctl wins.
 */
function privateNetSysctls(): Record<string, string> {
  return (netSysctls ??= {
    ...(existsSync('/proc/sys/net/ipv4/ping_group_range') ? { 'net.ipv4.ping_group_range': '0 2147483647' } : {}),
    ...(existsSync('/proc/sys/net/ipv4/ip_unprivileged_port_start') ? { 'net.ipv4.ip_unprivileged_port_start': '0' } : {}),
  });
}

/** IPv6 off on the interfaces of networks without it (ipv6OffFor), set in the container's namespace by the runtime, as its other sysctls. */
function noIpv6Sysctls(c: Container): Record<string, string> {
  const own = (networkId: string) => c.config.networking?.endpoints.find((x) => x.networkId === networkId)?.sysctls;
  return Object.fromEntries((c.state.network?.endpoints ?? []).filter((e) => e.ifName && ipv6OffFor(!!e.ipv6, own(e.networkId)))
    .map((e) => [`net.ipv6.conf.${e.ifName}.disable_ipv6`, '1']));
}

/** A --device's host nodes (one, or a directory's), their types and numbers as the spec needs them. */
function devicesOfOne(d: Device): Promise<HostDevice[]> {
  return devicesFromPath(d.hostPath, d.containerPath, d.permissions || 'rwm');
}

/**
 * The spec's devices: --device's, and for a privileged container every host node as well
 * (dockerd's WithDevices; a --device of the same path wins), unless the runtime's containers
 * have a kernel of their own.
 */
async function devicesOf(c: Container, hostNodes: boolean): Promise<HostDevice[]> {
  const own = (await Promise.all(c.config.devices.map(devicesOfOne))).flat();
  if (!c.config.security.privileged || !hostNodes) return own;
  const byPath = new Map((await hostDevices()).map((d) => [d.containerPath, d]));
  for (const d of own) byPath.set(d.containerPath, d);
  return [...byPath.values()];
}

async function seccompOf(c: Container): Promise<SpecOptions['seccomp']> {
  const sc = c.config.security.seccomp;
  if (sc.type === 'default' || sc.type === 'unconfined') return sc.type;
  const text = sc.type === 'inline' ? sc.profile ?? '' : await fs.readFile(sc.profile ?? '', 'utf8').catch((e: Error) => { throw invalidArgument(`seccomp profile ${sc.profile}: ${e.message}`); });
  try {
    return { profile: JSON.parse(text) as SeccompProfile };
  } catch (e) {
    throw invalidArgument(`seccomp profile ${sc.profile}: invalid JSON: ${(e as Error).message}`);
  }
}

/**
 * A bind that receives the host's mounts must sit on a shared or slave mount, one that also
 * sends its own back on a shared one: otherwise the propagation asked for can't happen
 * (dockerd's and containerd's ensureShared / ensureSharedOrSlave, in their words).
 */
export function checkPropagation(binds: SpecOptions['binds']): void {
  for (const b of binds) {
    if (!b.propagation || b.propagation === 'rprivate' || b.propagation === 'private') continue;
    const m = mountOf(b.source);
    if (!m) continue;
    const shared = m.optional.some((o) => o.startsWith('shared:'));
    const slave = m.optional.some((o) => o.startsWith('master:'));
    if ((b.propagation === 'rshared' || b.propagation === 'shared') && !shared) {
      throw failedPrecondition(`path ${b.source} is mounted on ${m.mountPoint} but it is not a shared mount (bind ${b.source}:${b.destination} is ${b.propagation}; mount --make-rshared ${m.mountPoint} makes it one)`);
    }
    if ((b.propagation === 'rslave' || b.propagation === 'slave') && !shared && !slave) {
      // the rslave a daemon-root bind got without asking: private as before it (dockerd's fallback)
      if (b.implicitPropagation) { b.propagation = 'rprivate'; continue; }
      throw failedPrecondition(`path ${b.source} is mounted on ${m.mountPoint} but it is not a shared or slave mount (bind ${b.source}:${b.destination} is ${b.propagation}; mount --make-rshared ${m.mountPoint} makes it one)`);
    }
  }
}

/**
 * A process' user as dockerd's getUser makes it: `user` resolved in the rootfs with the
 * container's --group-add names, plus its numeric supplemental groups; the primary group
 * first among the supplementary ones (dockerd's, and containerd's ensureAdditionalGids: a
 * process's getgroups() lists it, as a login's would).
 */
export async function processUser(rootfs: string, user: string | undefined, k: Container['config']): Promise<ResolvedUser> {
  const u = await resolveUser(rootfs, user, k.groupNames ?? []);
  return { ...u, additionalGids: [...new Set([u.gid, ...u.additionalGids, ...k.security.supplementalGroups])] };
}

export interface ContainerSpecOptions {
  initPath?: string;
  /** The process' umask (daemon.json's native.umask). */
  umask?: number;
  /** daemon.json's default-ulimits: each of a name the container does not set. */
  defaultUlimits?: ReadonlyArray<{ name: string; soft: number; hard: number }>;
  guestKernel?: boolean;
  /** What to bind for a volume (by its index) instead of its source or subpath. */
  volumeSources?: ReadonlyMap<number, string>;
}

/** What the host knows of its own kernel says nothing of a guest's (its x32 ABI). */
function guestHost(host: HostInfo): HostInfo {
  const { x32Abi: _hostOnly, ...rest } = host;
  return rest;
}

export async function containerSpec(c: Container, rootfs: string, host: HostInfo, o: ContainerSpecOptions = {}): Promise<Spec> {
  const k = c.config;
  const user = await processUser(rootfs, k.user || undefined, k);
  const pod = k.pod;
  const hostNs = k.hostNamespaces ?? {};
  const join = {
    ...pod?.namespaces,
    ...(hostNs.pid ? { pid: 'host' } : {}), ...(hostNs.uts ? { uts: 'host' } : {}), ...(hostNs.ipc ? { ipc: 'host' } : {}),
    ...c.state.joinedNamespaces,
  };
  delete (join as { network?: string }).network;
  const binds = [
    ...k.binds.map((b) => ({
      source: b.source, destination: b.destination, readonly: b.readonly, propagation: b.propagation,
      ...(b.nonRecursive ? { nonRecursive: true } : {}),
      ...(b.implicitPropagation ? { implicitPropagation: true } : {}),
      // API 1.44: runc's rro (mount_setattr, kernel 5.12) makes the submounts read-only too
      ...(b.readonly && recursiveReadonly(b, host.kernel) ? { rro: true } : {}),
    })),
    ...await Promise.all((k.volumes ?? []).map(async (v, i) => ({
      // a start holds each subpath at a staging path (volumes/subpath-stage.ts)
      source: o.volumeSources?.get(i) ?? (v.subpath ? await volumeSubpath(v.source, v.subpath) : v.source),
      destination: v.destination, readonly: v.readonly, propagation: 'rprivate' as const,
    }))),
    // --mount type=image: the image's snapshot (image-mounts.ts), read-only
    ...(k.imageMounts ?? []).filter((m) => m.source).map((m) => ({
      source: m.subpath ? path.join(m.source!, m.subpath) : m.source!, destination: m.destination, readonly: true, propagation: 'rprivate' as const,
    })),
  ];
  checkPropagation(binds);
  let args = [...k.entrypoint, ...k.cmd];
  // dockerd adds --init only in a PID namespace of the container's own: in the host's or
  // another container's there is an init already (and tini would not be PID 1)
  if (k.init && !('pid' in join)) {
    const init = await findInit(o.initPath);
    if (!init) throw noInitError(o.initPath);
    binds.push({ source: init, destination: INIT_PATH, readonly: true, propagation: 'rprivate' });
    args = [INIT_PATH, '--', ...args];
  }
  const sysctl = {
    ...(!o.guestKernel && (k.network === 'cni' || k.network === 'none') ? privateNetSysctls() : {}),
    ...(!o.guestKernel && k.network === 'cni' ? noIpv6Sysctls(c) : {}),
    // dockerd's setLinuxDomainname: the NIS domain name is set through this sysctl (no OCI field)
    ...(k.domainname && !hostNs.uts && !pod?.namespaces.uts ? { 'kernel.domainname': k.domainname } : {}),
    ...pod?.sysctls, ...k.sysctls,
  };
  const devices = await devicesOf(c, !o.guestKernel);
  const spec = buildSpec({
    id: c.id, rootfs, readonlyRootfs: k.security.readonlyRootfs,
    // its legacy links' variables come before its own, which may replace them (dockerd's CreateDaemonEnvironment)
    args, env: [...c.state.linkEnv ?? [], ...k.env.filter((e) => e.includes('='))], cwd: k.workingDir || '/',
    user,
    terminal: k.tty, hostname: k.hostname,
    ...(k.tty && k.consoleSize ? { consoleSize: { height: k.consoleSize[0], width: k.consoleSize[1] } } : {}),
    binds,
    network: networkOf(c),
    ...(Object.keys(join).length ? { join } : {}),
    ...(k.cgroupns === 'private' ? { cgroupns: true } : {}),
    annotations: k.annotations,
    limits: await ociResources(k.resources),
    ...(k.resources.DeviceCgroupRules?.length ? { deviceRules: deviceCgroupRules(k.resources.DeviceCgroupRules) } : {}),
    oomScoreAdj: k.resources.OomScoreAdj || undefined,
    ulimits: [...k.ulimits, ...(o.defaultUlimits ?? []).filter((u) => !k.ulimits.some((own) => own.name === u.name))],
    noNewPrivileges: k.security.noNewPrivileges,
    ...apparmorOf(k.security, !!o.guestKernel),
    privileged: k.security.privileged, capAdd: k.security.capAdd, capDrop: k.security.capDrop,
    cgroupsPath: cgroupsPath(k.resources, c.id),
    etcFiles: { hosts: c.paths.hosts, resolvConf: c.paths.resolvConf, hostname: c.paths.hostname },
    seccomp: await seccompOf(c),
    ...(Object.keys(sysctl).length ? { sysctl } : {}),
    ...(devices.length ? { devices } : {}),
    ...(k.security.maskedPaths ? { maskedPaths: k.security.maskedPaths } : {}),
    ...(k.security.readonlyPaths ? { readonlyPaths: k.security.readonlyPaths } : {}),
    ...(k.tmpfs?.length ? { tmpfs: k.tmpfs } : {}),
    // a shareable or joined IPC namespace binds a host tmpfs at /dev/shm (shared-namespaces.ts),
    // a pod's container its pod's
    ...(c.state.ipcShm || pod?.shm ? { shm: { source: c.state.ipcShm || pod!.shm } }
      : k.shmSize || hostNs.ipc ? { shm: { size: k.shmSize || undefined, host: !!hostNs.ipc } } : {}),
  }, o.guestKernel ? guestHost(host) : host);
  spec.process.env = applyUnsets([...spec.process.env ?? [], ...k.env.filter((e) => !e.includes('='))]);
  if (o.umask !== undefined) spec.process.user.umask = o.umask;
  if (k.hooks) spec.hooks = k.hooks;
  return spec;
}

/**
 * Whether a read-only bind gets rro: 'enabled' where the kernel can (dockerd leaves it out
 * silently elsewhere), 'forced' or a refusal.
 */
function recursiveReadonly(b: Container['config']['binds'][number], kernel?: string): boolean {
  if (!b.recursiveReadonly || b.recursiveReadonly === 'disabled') return false;
  if (kernelHasRecursiveReadonly(kernel)) return true;
  if (b.recursiveReadonly === 'forced') throw failedPrecondition(`bind ${b.source}:${b.destination}: recursively read-only mounts need Linux 5.12 or later (ReadOnlyForceRecursive)`);
  return false;
}

/**
 * A named AppArmor profile, on a host that enforces AppArmor, for a container not privileged
 * (docker runs those unconfined) on the host's kernel (a guest has its own).
 */
function apparmorOf(sec: Security, guest: boolean): { apparmorProfile?: string } {
  const name = namedProfile(sec.apparmor);
  return name && !sec.privileged && !guest && apparmorEnabled() ? { apparmorProfile: name } : {};
}
