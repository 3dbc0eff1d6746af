// CRI's containers as the engine's model: a ContainerConfig (+ its pod) → CreateSpec, a
// Container → CRI's Container and ContainerStatus. containerd's CRI plugin is the reference
// for what kubelet expects (names, annotations, defaults).
import * as os from 'node:os';
import * as path from 'node:path';
import { readFileSync, promises as fs } from 'node:fs';
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  ContainerState as CriState, MountPropagation, NamespaceMode, SecurityProfile_ProfileType,
  type ContainerConfig, type ContainerFilter, type ContainerStatusSchema, type ContainerSchema, type LinuxContainerSecurityContext,
} from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { failedPrecondition, invalidArgument } from '../common/errors.js';
import type { Container, CreateSpec, PodLink, Propagation, Security } from '../engine/containers/model.js';
import { RESOURCE_DEFAULTS, type ResourceConfig } from '../engine/containers/resources.js';
import type { PodRecord } from '../engine/pods/record.js';
import { checkUserns, nanos } from './pods.js';
import { POD_NAMESPACES_ANNOTATION } from '../common/pod-annotations.js';
import { goErrnoText } from '../common/go-errno.js';

/** What the CRI front end needs from the engine to resolve a container's pid namespace. */
export interface PidOf { (containerId: string): number }

const PROPAGATION: Record<number, Propagation> = {
  [MountPropagation.PROPAGATION_PRIVATE]: 'rprivate',
  [MountPropagation.PROPAGATION_HOST_TO_CONTAINER]: 'rslave',
  [MountPropagation.PROPAGATION_BIDIRECTIONAL]: 'rshared',
};
const CRI_PROPAGATION: Record<Propagation, MountPropagation> = {
  rprivate: MountPropagation.PROPAGATION_PRIVATE, rslave: MountPropagation.PROPAGATION_HOST_TO_CONTAINER, rshared: MountPropagation.PROPAGATION_BIDIRECTIONAL,
  // (docker's non-recursive ones, never a CRI container's)
  private: MountPropagation.PROPAGATION_PRIVATE, slave: MountPropagation.PROPAGATION_HOST_TO_CONTAINER, shared: MountPropagation.PROPAGATION_BIDIRECTIONAL,
};

/** dockershim's container name: unique per pod, name and attempt, and a valid engine name. */
export function engineName(pod: PodRecord, name: string, attempt: number): string {
  return `k8s_${name}_${pod.spec.name}_${pod.spec.namespace}_${pod.spec.uid}_${attempt}`.replace(/[^a-zA-Z0-9_.-]/g, '-');
}

/** The pod's log directory + the container's log path; refused when it would leave the dir. */
export function logPathOf(pod: PodRecord, logPath: string): string | undefined {
  if (!logPath) return undefined;
  // no log_directory: iSulad joins "" + "/" + log_path, containerd's filepath.Join leaves it
  // relative to its working directory, "/" as a service: both the path from "/"
  if (!pod.spec.logDirectory) return path.join('/', logPath);
  if (path.isAbsolute(logPath)) throw invalidArgument(`log path ${JSON.stringify(logPath)} must be relative to the pod's log_directory`);
  const full = path.normalize(path.join(pod.spec.logDirectory, logPath));
  if (!full.startsWith(path.normalize(pod.spec.logDirectory) + '/')) throw invalidArgument(`log path ${JSON.stringify(logPath)} leaves the pod's log_directory`);
  return full;
}

/** The oom_score_adj tsulad runs with: a container can't go below it here (containerd's restrict_oom_score_adj). */
function ownOomScoreAdj(): number {
  try { return Number(readFileSync('/proc/self/oom_score_adj', 'utf8').trim()) || 0; } catch { return 0; }
}

function resources(c: ContainerConfig, pod: PodRecord): ResourceConfig {
  const r = c.linux?.resources;
  const memory = Number(r?.memoryLimitInBytes ?? 0n);
  const swap = Number(r?.memorySwapLimitInBytes ?? 0n);
  const oom = Number(r?.oomScoreAdj ?? 0n);
  return {
    ...RESOURCE_DEFAULTS,
    CgroupParent: pod.spec.cgroupParent,
    CpuPeriod: Number(r?.cpuPeriod ?? 0n), CpuQuota: Number(r?.cpuQuota ?? 0n), CpuShares: Number(r?.cpuShares ?? 0n),
    CpusetCpus: r?.cpusetCpus ?? '', CpusetMems: r?.cpusetMems ?? '',
    Memory: memory,
    // containerd: no swap unless asked for one
    MemorySwap: swap || memory,
    OomScoreAdj: oom ? Math.max(oom, ownOomScoreAdj()) : 0,
  };
}

function security(sc: LinuxContainerSecurityContext | undefined): Security {
  const seccomp = sc?.seccomp;
  const path0 = sc?.seccompProfilePath ?? '';
  let type: Security['seccomp'];
  if (seccomp && seccomp.profileType !== SecurityProfile_ProfileType.Localhost && seccomp.localhostRef) {
    throw invalidArgument('seccomp config invalid: localhost_ref must only be set if profile_type is Localhost');
  }
  if (seccomp && seccomp.profileType === SecurityProfile_ProfileType.Localhost) type = { type: 'localhost', profile: seccomp.localhostRef };
  else if (seccomp && seccomp.profileType === SecurityProfile_ProfileType.Unconfined) type = { type: 'unconfined' };
  else if (seccomp) type = { type: 'default' };
  // the deprecated string form: runtime/default, docker/default, unconfined, localhost/<path>
  else if (path0.startsWith('localhost/')) type = { type: 'localhost', profile: path0.slice('localhost/'.length) };
  else if (path0 === 'unconfined') type = { type: 'unconfined' };
  else if (path0 === 'runtime/default' || path0 === 'docker/default') type = { type: 'default' };
  // a bare file path is refused, as containerd does (critest: "without using localhost/ as a prefix")
  else if (path0) throw invalidArgument(`invalid seccomp profile ${JSON.stringify(path0)}: use runtime/default, unconfined or localhost/<path>`);
  // kubelet's default is unconfined when nothing is said (containerd's too)
  else type = { type: 'unconfined' };
  // the field, else the deprecated string (runtime/default, unconfined, localhost/<name>);
  // a named profile is checked at create (checkApparmorProfile)
  const aa = sc?.apparmor;
  const apparmor = !aa ? sc?.apparmorProfile ?? ''
    : aa.profileType === SecurityProfile_ProfileType.Localhost ? `localhost/${aa.localhostRef.replace(/^localhost\//, '')}`
      : aa.profileType === SecurityProfile_ProfileType.Unconfined ? 'unconfined' : 'runtime/default';
  return {
    ...(apparmor ? { apparmor } : {}),
    privileged: !!sc?.privileged, readonlyRootfs: !!sc?.readonlyRootfs,
    capAdd: sc?.capabilities?.addCapabilities ?? [], capDrop: sc?.capabilities?.dropCapabilities ?? [],
    noNewPrivileges: !!sc?.noNewPrivs, seccomp: type,
    ...(sc?.maskedPaths.length ? { maskedPaths: [...sc.maskedPaths] } : {}),
    ...(sc?.readonlyPaths.length ? { readonlyPaths: [...sc.readonlyPaths] } : {}),
    supplementalGroups: (sc?.supplementalGroups ?? []).map(Number), securityOpt: [],
  };
}

/**
 * A Localhost seccomp profile is read at create, as containerd builds the whole spec there
 * (seccomp.WithProfile): a missing or broken file fails CreateContainer, not the start. A
 * privileged container gets no seccomp at all, so its profile is not read.
 */
export async function checkSeccompProfile(spec: CreateSpec): Promise<void> {
  const sc = spec.security;
  if (sc.privileged || sc.seccomp.type !== 'localhost') return;
  const file = sc.seccomp.profile ?? '';
  const text = await fs.readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw invalidArgument(`cannot load seccomp profile ${JSON.stringify(file)}: open ${file}: ${goErrnoText(e) ?? e.message}`);
  });
  try {
    JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`decoding seccomp profile failed ${JSON.stringify(file)}: ${(e as Error).message}`);
  }
}

function userOf(sc: LinuxContainerSecurityContext | undefined): string | undefined {
  const user = sc?.runAsUsername || (sc?.runAsUser ? String(sc.runAsUser.value) : '');
  if (!user) {
    // a group alone would leave the image's user with a group not its own (containerd refuses it too)
    if (sc?.runAsGroup) throw invalidArgument(`container config: run_as_group ${sc.runAsGroup.value} is set without run_as_user or run_as_username: set the user too`);
    return undefined;
  }
  return sc?.runAsGroup ? `${user}:${sc.runAsGroup.value}` : user;
}

/** How the container joins its pod: a VM pod is joined by running in its VM, not by paths. */
function podLink(c: ContainerConfig, pod: PodRecord, pidOf: PidOf): PodLink {
  const link: PodLink = {
    id: pod.id, namespaces: {},
    etc: { hosts: pod.hostsPath, resolvConf: pod.resolvConfPath, hostname: pod.hostnamePath },
    sysctls: pod.spec.sysctls,
  };
  if (pod.sandbox) {
    // hostPID in a VM is the guest's root PID namespace: the spec names none, as containerd's
    // CRI gives it through the shim (the containers see each other and the agent)
    if (c.linux?.securityContext?.namespaceOptions?.pid === NamespaceMode.NODE) link.namespaces.pid = 'host';
    return link;
  }
  link.namespaces.network = pod.netnsPath || 'host';
  link.namespaces.ipc = pod.ipcPath || 'host';
  link.namespaces.uts = pod.utsPath || 'host';
  if (pod.shmPath) link.shm = pod.shmPath;
  const ns = c.linux?.securityContext?.namespaceOptions;
  // no namespace_options is the proto's default, pid POD (containerd's GetPid() of nil)
  switch (ns?.pid ?? NamespaceMode.POD) {
    case NamespaceMode.POD:
      if (pod.pidHolder) link.namespaces.pid = `/proc/${pod.pidHolder.pid}/ns/pid`;
      break;
    case NamespaceMode.NODE: link.namespaces.pid = 'host'; break;
    case NamespaceMode.TARGET: {
      const pid = pidOf(ns!.targetId);
      if (!pid) throw failedPrecondition(`target container ${ns!.targetId} of the pid namespace is not running`);
      link.namespaces.pid = `/proc/${pid}/ns/pid`;
      break;
    }
    default: break; // CONTAINER: its own
  }
  return link;
}

/**
 * What a VM pod's container shares with its pod in the guest: UTS always (the pod's
 * hostname), IPC unless the pod asked for the node's, PID in POD mode (CRI's default).
 */
function vmPodNamespaces(c: ContainerConfig, pod: PodRecord): string[] {
  const pid = c.linux?.securityContext?.namespaceOptions?.pid ?? NamespaceMode.POD;
  return ['uts', ...(pod.spec.namespaces.ipc === 'pod' ? ['ipc'] : []), ...(pid === NamespaceMode.POD ? ['pid'] : [])];
}

export function createSpecFromCri(c: ContainerConfig, pod: PodRecord, pidOf: PidOf): CreateSpec {
  const m = c.metadata;
  if (!m?.name) throw invalidArgument('container config: metadata.name is required');
  const image = c.image?.image;
  if (!image) throw invalidArgument('container config: image.image is required');
  const sc = c.linux?.securityContext;
  checkUserns(`container ${m.name}`, sc?.namespaceOptions?.usernsOptions);
  // kubelet marks a pod privileged when one of its containers is (containerd and CRI-O refuse otherwise)
  if (sc?.privileged && !pod.spec.security.privileged) {
    throw invalidArgument(`container ${m.name}: no privileged container allowed in sandbox ${pod.id}: the pod's security context must be privileged too`);
  }
  const logPath = logPathOf(pod, c.logPath);
  const user = userOf(sc);
  return {
    name: engineName(pod, m.name, m.attempt), image,
    // CRI's command replaces the image's entrypoint and its args the cmd (as containerd)
    ...(c.command.length ? { entrypoint: [...c.command] } : {}),
    ...(c.args.length ? { cmd: [...c.args] } : {}),
    env: c.envs.map((e) => `${e.key}=${e.value}`),
    // containerd adds HOSTNAME (the pod's, or the node's) before the image's env and the config's
    baseEnv: [`HOSTNAME=${pod.spec.hostname || os.hostname()}`],
    ...(c.workingDir ? { workingDir: c.workingDir } : {}),
    ...(user !== undefined ? { user } : {}),
    // a VM pod's container has a UTS namespace of its own in the guest (no pod namespace to
    // join by path): it carries the pod's hostname, as its /etc/hostname does
    ...(pod.sandbox ? { hostname: pod.spec.hostname } : {}),
    tty: c.tty, openStdin: c.stdin, stdinOnce: c.stdinOnce,
    attach: { stdin: c.stdin, stdout: true, stderr: !c.tty },
    labels: { ...c.labels },
    annotations: {
      ...c.annotations,
      // what containerd's CRI puts on a container's spec; kata and Kuasar read them
      'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.container-name': m.name,
      'io.kubernetes.cri.sandbox-id': pod.id, 'io.kubernetes.cri.sandbox-name': pod.spec.name,
      'io.kubernetes.cri.sandbox-namespace': pod.spec.namespace, 'io.kubernetes.cri.sandbox-uid': pod.spec.uid,
      'io.kubernetes.cri.image-name': image,
      // a VM pod's namespaces live in its guest, where no path of ours names them: the agent
      // joins the container to the pod's (POD_NAMESPACES_ANNOTATION)
      ...(pod.sandbox ? { [POD_NAMESPACES_ANNOTATION]: vmPodNamespaces(c, pod).join(',') } : {}),
    },
    autoRemove: false,
    runtime: pod.runtime,
    binds: c.mounts.map((mt) => {
      if (!path.isAbsolute(mt.hostPath) || !path.isAbsolute(mt.containerPath)) throw invalidArgument(`mount ${mt.hostPath}:${mt.containerPath}: both paths must be absolute`);
      return { source: path.normalize(mt.hostPath), destination: path.normalize(mt.containerPath), readonly: mt.readonly, propagation: PROPAGATION[mt.propagation] ?? 'rprivate' };
    }),
    devices: c.devices.map((d) => ({ hostPath: d.hostPath, containerPath: d.containerPath, permissions: d.permissions })),
    network: 'pod',
    resources: resources(c, pod),
    ulimits: [],
    security: security(sc),
    ...(logPath ? { logPath } : {}),
    pod: podLink(c, pod, pidOf),
    cri: { name: m.name, attempt: m.attempt, labels: { ...c.labels }, annotations: { ...c.annotations }, image },
  };
}

/**
 * A start that failed leaves the engine's container created (docker's view). To kubelet it has
 * exited (containerd: exit code 128, StartError): one still created is started again forever,
 * whatever the pod's restart policy.
 */
const startFailed = (c: Container) => c.state.status === 'created' && !!c.state.error;
const START_ERROR_EXIT_CODE = 128;

function criState(c: Container): CriState {
  switch (c.state.status) {
    case 'created': return startFailed(c) ? CriState.CONTAINER_EXITED : CriState.CONTAINER_CREATED;
    case 'running': case 'paused': case 'restarting': return CriState.CONTAINER_RUNNING;
    case 'exited': case 'dead': return CriState.CONTAINER_EXITED;
    default: return CriState.CONTAINER_UNKNOWN;
  }
}

/** The state's name as containerd says it in errors ("CONTAINER_EXITED"). */
export const criStateName = (c: Container): string => CriState[criState(c)];

/** containerd's reasons: Completed, Error, OOMKilled; a start that failed: its error. */
function reason(c: Container): { reason: string; message: string } {
  const s = c.state;
  if (s.status === 'exited') return { reason: s.oomKilled ? 'OOMKilled' : s.exitCode === 0 ? 'Completed' : 'Error', message: s.error };
  if (startFailed(c)) return { reason: 'StartError', message: s.error };
  // containerd's TaskOOM handler sets the reason at once: a child killed while the container runs
  if (s.oomKilled) return { reason: 'OOMKilled', message: '' };
  return { reason: '', message: '' };
}

const meta = (c: Container) => ({ name: c.config.cri?.name ?? c.name, attempt: c.config.cri?.attempt ?? 0 });

export function containerToCri(c: Container): MessageInitShape<typeof ContainerSchema> {
  return {
    id: c.id, podSandboxId: c.config.pod?.id ?? '', metadata: meta(c),
    image: { image: c.config.cri?.image ?? c.config.imageRef, annotations: {} }, imageRef: c.image,
    state: criState(c), createdAt: nanos(c.createdAt),
    labels: c.config.cri?.labels ?? c.config.labels, annotations: c.config.cri?.annotations ?? {},
  };
}

export function containerStatusToCri(c: Container): MessageInitShape<typeof ContainerStatusSchema> {
  const k = c.config;
  return {
    id: c.id, metadata: meta(c), state: criState(c),
    createdAt: nanos(c.createdAt), startedAt: nanos(c.state.startedAt),
    // (the engine keeps no time for a failed start: its creation stands in, never 0)
    finishedAt: nanos(c.state.finishedAt || (startFailed(c) ? c.createdAt : '')),
    exitCode: startFailed(c) ? START_ERROR_EXIT_CODE : c.state.exitCode, ...reason(c),
    image: { image: k.cri?.image ?? k.imageRef, annotations: {} }, imageRef: c.image,
    labels: k.cri?.labels ?? k.labels, annotations: k.cri?.annotations ?? {},
    mounts: k.binds.map((b) => ({ containerPath: b.destination, hostPath: b.source, readonly: b.readonly, propagation: CRI_PROPAGATION[b.propagation] })),
    logPath: c.paths.log,
    // the limits in force (UpdateContainerResources changes them): kubelet's in-place resize
    // reads them back, as containerd gives them
    resources: { linux: linuxResources(k.resources) },
  };
}

function linuxResources(r: ResourceConfig) {
  const n = (v: number | null | undefined) => BigInt(v ?? 0);
  return {
    cpuPeriod: n(r.CpuPeriod), cpuQuota: n(r.CpuQuota), cpuShares: n(r.CpuShares),
    memoryLimitInBytes: n(r.Memory), memorySwapLimitInBytes: n(r.MemorySwap > 0 ? r.MemorySwap : 0), oomScoreAdj: n(r.OomScoreAdj),
    cpusetCpus: r.CpusetCpus ?? '', cpusetMems: r.CpusetMems ?? '',
  };
}

export function matchesFilter(c: Container, f: ContainerFilter | undefined): boolean {
  if (!f) return true;
  if (f.id && !c.id.startsWith(f.id)) return false;
  if (f.podSandboxId && !(c.config.pod?.id ?? '').startsWith(f.podSandboxId)) return false;
  if (f.state && f.state.state !== criState(c)) return false;
  const labels = c.config.cri?.labels ?? c.config.labels;
  return Object.entries(f.labelSelector).every(([k, v]) => labels[k] === v);
}
