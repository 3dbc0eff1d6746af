// CRI's pod RPCs (RunPodSandbox, StopPodSandbox, RemovePodSandbox, PodSandboxStatus,
// ListPodSandbox): PodSandboxConfig → the engine's PodSpec, a PodRecord → CRI's views.
import * as os from 'node:os';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  ContainerEventType, NamespaceMode, PodSandboxState, Protocol, SecurityProfile_ProfileType,
  type IDMapping, type PodSandboxConfig, type PodSandboxFilter, PodSandboxStatusSchema, PodSandboxSchema, type UserNamespace,
} from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { invalidArgument, isKind, unimplemented } from '../common/errors.js';
import type { PodRecord, PodSpec, NamespaceMode as Mode } from '../engine/pods/record.js';
import type { PodService } from '../engine/pods/service.js';
import type { RuntimeServiceImpl } from './server.js';
import type { CriEvents } from './events.js';

const MODE: Record<number, Mode> = { [NamespaceMode.POD]: 'pod', [NamespaceMode.CONTAINER]: 'container', [NamespaceMode.NODE]: 'node', [NamespaceMode.TARGET]: 'target' };
const PROTO: Record<number, 'tcp' | 'udp' | 'sctp'> = { [Protocol.TCP]: 'tcp', [Protocol.UDP]: 'udp', [Protocol.SCTP]: 'sctp' };

/** Nanoseconds since the epoch, as CRI's timestamps are. */
export function nanos(iso: string | undefined): bigint {
  const ms = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(ms) || ms <= 0 ? 0n : BigInt(ms) * 1_000_000n;
}

/** One line of a user namespace's uid or gid map, checked as containerd's parseUsernsIDMap does. */
function idMapping(what: string, maps: IDMapping[]): IDMapping | undefined {
  if (maps.length > 1) throw invalidArgument(`${what}: only one mapping line supported, got ${maps.length} mapping lines`);
  const m = maps[0];
  if (m && m.length < 1) throw invalidArgument(`${what}: invalid mapping length: ${m.length}`);
  return m;
}

/**
 * A pod's (or a container's) user namespace request, checked as containerd's parseUsernsIDs
 * does: NODE (or nothing said) runs in the node's user namespace, without mappings; POD needs
 * one uid and one gid line that map the container's root; CONTAINER and TARGET are not modes a
 * user namespace can have. tsula runs no pod in a user namespace of its own (that needs the
 * rootfs id-mapped or chowned, which Debian's runc 1.1 can't do): a valid POD request is
 * refused in plain words, never run as the node's root without one (kubelet's hostUsers: false).
 */
export function checkUserns(what: string, u: UserNamespace | undefined): void {
  if (!u) return;
  const uid = idMapping(`${what}: user namespace UID mapping`, u.uids);
  const gid = idMapping(`${what}: user namespace GID mapping`, u.gids);
  switch (u.mode) {
    case NamespaceMode.NODE:
      if (uid || gid) throw invalidArgument(`${what}: can't use user namespace mode NODE with mappings: got ${u.uids.length} UID mappings and ${u.gids.length} GID mappings`);
      return;
    case NamespaceMode.POD:
      if (!uid || !gid) throw invalidArgument(`${what}: can't use user namespace mode POD without UID and GID mappings`);
      if (uid.containerId !== 0 || gid.containerId !== 0) throw invalidArgument(`${what}: user namespace mode POD: the mappings must map container ID 0 (root), got UID ${uid.containerId} and GID ${gid.containerId}`);
      throw unimplemented(`${what}: user namespace mode POD (a pod with hostUsers: false) is not supported by tsula: its pods run in the node's user namespace (mode NODE)`);
    default:
      throw invalidArgument(`${what}: unsupported user namespace mode: ${NamespaceMode[u.mode] ?? u.mode} (POD or NODE)`);
  }
}

/**
 * What kubelet says the pod needs (LinuxPodSandboxConfig: resources, the sum of its
 * containers' limits, and the RuntimeClass' overhead): a VM pod is sized by it at its start,
 * as kata's static sandbox sizing (the guest's own cgroups then apply each container's limit).
 */
function podResources(c: PodSandboxConfig): Pick<PodSpec, 'resources'> {
  const [r, o] = [c.linux?.resources, c.linux?.overhead];
  const memory = Number(r?.memoryLimitInBytes ?? 0n) + Number(o?.memoryLimitInBytes ?? 0n);
  const quota = Number(r?.cpuQuota ?? 0n) + Number(o?.cpuQuota ?? 0n);
  const period = Number(r?.cpuPeriod || o?.cpuPeriod || 0n);
  if (memory <= 0 && (quota <= 0 || period <= 0)) return {};
  return { resources: { ...(memory > 0 ? { memoryLimit: memory } : {}), ...(quota > 0 && period > 0 ? { cpuQuota: quota, cpuPeriod: period } : {}) } };
}

export function podSpecFromCri(c: PodSandboxConfig, runtimeHandler: string): PodSpec {
  const m = c.metadata;
  if (!m?.name) throw invalidArgument('pod sandbox config: metadata.name is required');
  const sc = c.linux?.securityContext;
  const ns = sc?.namespaceOptions;
  const network = MODE[ns?.network ?? NamespaceMode.POD];
  const ipc = MODE[ns?.ipc ?? NamespaceMode.POD];
  const pid = MODE[ns?.pid ?? NamespaceMode.POD];
  if (network !== 'pod' && network !== 'node') throw invalidArgument(`pod sandbox config: network namespace mode ${network} is not valid for a pod (POD or NODE)`);
  if (ipc !== 'pod' && ipc !== 'node') throw invalidArgument(`pod sandbox config: ipc namespace mode ${ipc} is not valid for a pod (POD or NODE)`);
  if (!pid) throw invalidArgument('pod sandbox config: unknown pid namespace mode');
  checkUserns('pod sandbox config', ns?.usernsOptions);
  for (const p of c.portMappings) {
    if (!(p.containerPort > 0 && p.containerPort < 65536) || p.hostPort < 0 || p.hostPort > 65535) {
      throw invalidArgument(`pod sandbox config: port mapping ${p.hostPort}:${p.containerPort} is out of range`);
    }
  }
  // the kernel's limit (sethostname: HOST_NAME_MAX); said before anything is made
  if (c.hostname && Buffer.byteLength(c.hostname) > 64) throw invalidArgument(`pod sandbox config: hostname "${c.hostname.slice(0, 20)}...": ${Buffer.byteLength(c.hostname)} bytes, at most 64`);
  const seccomp = sc?.seccomp;
  return {
    name: m.name, namespace: m.namespace, uid: m.uid, attempt: m.attempt,
    hostname: c.hostname || os.hostname(),
    logDirectory: c.logDirectory,
    ...(c.dnsConfig ? { dns: { servers: [...c.dnsConfig.servers], searches: [...c.dnsConfig.searches], options: [...c.dnsConfig.options] } } : {}),
    // a mapping without a host port is only a declaration (kubelet sends those too)
    portMappings: c.portMappings.filter((p) => p.hostPort > 0)
      .map((p) => ({ protocol: PROTO[p.protocol] ?? 'tcp', containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIp })),
    labels: { ...c.labels }, annotations: { ...c.annotations },
    cgroupParent: c.linux?.cgroupParent ?? '',
    ...podResources(c),
    sysctls: { ...c.linux?.sysctls },
    namespaces: { network, ipc, pid, ...(ns?.targetId ? { targetId: ns.targetId } : {}) },
    security: {
      privileged: !!sc?.privileged, readonlyRootfs: !!sc?.readonlyRootfs,
      ...(sc?.runAsUser ? { runAsUser: Number(sc.runAsUser.value) } : {}),
      ...(sc?.runAsGroup ? { runAsGroup: Number(sc.runAsGroup.value) } : {}),
      supplementalGroups: (sc?.supplementalGroups ?? []).map(Number),
      ...(seccomp ? { seccomp: {
        type: seccomp.profileType === SecurityProfile_ProfileType.Unconfined ? 'unconfined' as const
          : seccomp.profileType === SecurityProfile_ProfileType.Localhost ? 'localhost' as const : 'runtime-default' as const,
        ...(seccomp.localhostRef ? { profile: seccomp.localhostRef } : {}),
      } } : {}),
    },
    runtimeHandler,
  };
}

const CRI_MODE: Record<Mode, NamespaceMode> = { pod: NamespaceMode.POD, container: NamespaceMode.CONTAINER, node: NamespaceMode.NODE, target: NamespaceMode.TARGET };

function metadata(s: PodSpec) {
  return { name: s.name, uid: s.uid, namespace: s.namespace, attempt: s.attempt };
}

function podCommon(r: PodRecord) {
  return {
    id: r.id, metadata: metadata(r.spec), state: r.state === 'ready' ? PodSandboxState.SANDBOX_READY : PodSandboxState.SANDBOX_NOTREADY,
    createdAt: nanos(r.createdAt), labels: r.spec.labels, annotations: r.spec.annotations, runtimeHandler: r.spec.runtimeHandler,
  };
}

export function podToCri(r: PodRecord): MessageInitShape<typeof PodSandboxSchema> {
  return podCommon(r);
}

/** `networkOpen` false: the pod's netns is gone (stopped), and so are its IPs (containerd's getIPs). */
export function podStatusToCri(r: PodRecord, networkOpen = true): MessageInitShape<typeof PodSandboxStatusSchema> {
  const n = r.spec.namespaces;
  const ip = networkOpen ? r.ip : '';
  const ips = networkOpen ? r.ips : [];
  return {
    ...podCommon(r),
    network: { ip, additionalIps: ips.filter((x) => x !== ip).map((x) => ({ ip: x })) },
    linux: { namespaces: { options: { network: CRI_MODE[n.network], pid: CRI_MODE[n.pid], ipc: CRI_MODE[n.ipc], targetId: n.targetId ?? '' } } },
  };
}

function matches(r: PodRecord, f: PodSandboxFilter | undefined): boolean {
  if (!f) return true;
  if (f.id && !r.id.startsWith(f.id)) return false;
  if (f.state && (f.state.state === PodSandboxState.SANDBOX_READY) !== (r.state === 'ready')) return false;
  return Object.entries(f.labelSelector).every(([k, v]) => r.spec.labels[k] === v);
}

export function criPodService(pods: PodService, events: CriEvents): Pick<RuntimeServiceImpl, 'runPodSandbox' | 'stopPodSandbox' | 'removePodSandbox' | 'podSandboxStatus' | 'listPodSandbox'> {
  // a pod that is not there is undefined; an ambiguous prefix stays an error (containerd's truncindex)
  const find = (id: string) => { try { return pods.get(id); } catch (e) { if (isKind(e, 'NotFound')) return undefined; throw e; } };
  // a ready pod has its netns (a stop marks it not ready only after the release)
  const networkOpen = async (r: PodRecord) => r.state === 'ready' || pods.networkOpen(r);
  return {
    runPodSandbox: async (req, signal) => {
      if (!req.config) throw invalidArgument('RunPodSandbox: config is required');
      const rec = await pods.run(podSpecFromCri(req.config, req.runtimeHandler), signal);
      events.pod(rec, ContainerEventType.CONTAINER_CREATED_EVENT);
      events.pod(rec, ContainerEventType.CONTAINER_STARTED_EVENT);
      return { podSandboxId: rec.id };
    },
    stopPodSandbox: async (req) => {
      const rec = find(req.podSandboxId);
      // idempotent, as the CRI says: a pod that is not there (never was, or removed) is
      // stopped already, as StopContainer and the Remove calls have it (containerd since
      // 1.6.35/1.7.21/2.0, cri-tools' idempotence test since 1.31); a stopped pod stops again
      if (!rec) return {};
      const wasReady = rec.state === 'ready';
      // containers still running are killed at once, as containerd does: kubelet has
      // already stopped them with their grace periods (StopContainer) before this call
      await pods.stop(rec.id, 0);
      if (wasReady) events.pod(rec, ContainerEventType.CONTAINER_STOPPED_EVENT);
      return {};
    },
    removePodSandbox: async (req) => {
      const rec = find(req.podSandboxId);
      await pods.remove(req.podSandboxId);
      // with the pod's last status (containerd 2's order: kubelet reads the pod's uid from it)
      if (rec) events.pod(rec, ContainerEventType.CONTAINER_DELETED_EVENT);
      return {};
    },
    podSandboxStatus: async (req) => {
      const r = pods.get(req.podSandboxId);
      const info: Record<string, string> = {};
      if (req.verbose) {
        info.info = JSON.stringify({
          pid: r.pidHolder?.pid ?? 0, runtimeHandler: r.spec.runtimeHandler, runtime: r.runtime, sandbox: r.sandbox ?? null,
          netnsPath: r.netnsPath, utsPath: r.utsPath, ipcPath: r.ipcPath, config: r.spec,
        });
      }
      // the pod's containers too, as containerd answers (kubelet's evented PLEG reads them)
      return { status: podStatusToCri(r, await networkOpen(r)), info, containersStatuses: await events.statuses(r.id), timestamp: BigInt(Date.now()) * 1_000_000n };
    },
    listPodSandbox: async (req) => ({ items: pods.list().filter((r) => matches(r, req.filter)).map(podToCri) }),
  };
}
