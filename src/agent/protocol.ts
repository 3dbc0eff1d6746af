// The guest channel's services, shared by tsula-agent (guest) and the vmm kind (host).
// The task API is containerd's own (`containerd.task.v2.Task`, protobuf). What the Task API
// has no method for — a health check, moving a process's stdio over the channel (kata's
// ReadStdout/WriteStdin), powering the guest off — is `tsula.agent.v1.Agent`, whose payloads
// are UTF-8 JSON: it is private to tsula's two ends, and JSON keeps it readable without
// another .proto to generate.
import type { PsProcess } from '../common/ps.js';

export const AGENT_SERVICE = 'tsula.agent.v1.Agent';
export const AGENT_VERSION = '0.11.0';

export interface PingResponse {
  version: string;
  /** The guest kernel's release (uname -r). */
  kernelRelease: string;
  /** Seconds since the guest booted, when the agent answered. */
  uptime: number;
  pid: number;
  /** How the agent started (absent from agents older than 0.3). */
  startup?: AgentStartup;
  /** The OCI runtime that runs the guest's containers (absent before 0.7, which had runc only). */
  ociRuntime?: string;
}

/**
 * The agent's V8 startup snapshot as /init found it (TSULA_AGENT_SNAPSHOT): `used` (the agent
 * runs from it), `missing` (none cached for this guest's key), `refused` (V8 would not take
 * it; detail says how node exited), `off` (kernel parameter tsula.agent_snapshot=off).
 */
export interface AgentStartup {
  snapshot: 'used' | 'missing' | 'refused' | 'off' | 'unknown';
  /** The cache key /init computed: the image, node's flags and this guest's CPU. */
  key: string;
  detail?: string;
}

/** Parse /init's TSULA_AGENT_SNAPSHOT ("used KEY", "refused KEY exit=14", "off"). */
export function parseAgentStartup(v: string | undefined): AgentStartup {
  const [what = '', key = '', ...rest] = (v ?? '').trim().split(/\s+/);
  const known = ['used', 'missing', 'refused', 'off'] as const;
  const snapshot = (known as readonly string[]).includes(what) ? what as AgentStartup['snapshot'] : 'unknown';
  return { snapshot, key, ...(rest.length ? { detail: rest.join(' ') } : {}) };
}

/** ReadStdout / ReadStderr: long poll; answers when there is data or the stream ended. */
export interface ReadStreamRequest { id: string; execId?: string }
export interface ReadStreamResponse { data: string /* base64 */; eof: boolean }

export interface WriteStdinRequest { id: string; execId?: string; data: string /* base64 */ }
export interface WriteStdinResponse { len: number }
export interface CloseStdinRequest { id: string; execId?: string }

/**
 * OomKilled: did the kernel's OOM killer act in the task's guest cgroup (asked at its exit,
 * before Delete; the host sends containerd a TaskOOM)? Agents before 0.6 answer UNIMPLEMENTED.
 */
export interface OomKilledRequest { id: string }
export interface OomKilledResponse { oomKilled: boolean }

/**
 * WaitOom: long poll for the OOM kills in the task's guest cgroup while it runs (any of its
 * processes: an exec, a child), so the host sends a TaskOOM per kill as runc-v2 does. Answers
 * when `count` (kills heard since the task's create) passes `seen`, or the task stopped.
 */
export interface WaitOomRequest { id: string; seen: number }
export interface WaitOomResponse { count: number; stopped: boolean }

/**
 * ListProcesses (kata's name): the task's processes as the guest's /proc tells them, for
 * `docker top` (tsulad draws ps -ef's table from them). Agents before 0.10 answer UNIMPLEMENTED.
 */
export interface ListProcessesRequest { id: string }
export interface ListProcessesResponse { processes: PsProcess[] }

/**
 * ConfigureNetwork: the guest's NICs as the pod's netns has its CNI interface (kata's
 * UpdateInterface + UpdateRoutes in one call). The host sent each NIC's MAC on QEMU's command
 * line; the agent finds the NIC by it, names it, sets MTU and addresses, brings it up, then
 * replaces the routes (those without a gateway first). Idempotent.
 */
export interface GuestInterface {
  /** The name it gets in the guest (the pod's: eth0). */
  name: string;
  mac: string;
  mtu: number;
  /** CIDR, v4 and v6 (global scope: the guest makes its own link-local address). */
  addresses: string[];
}
export interface GuestRoute {
  /** `default` or a CIDR. */
  dst: string;
  gateway?: string;
  /** The guest interface's name. */
  dev: string;
  family: 4 | 6;
}
export interface ConfigureNetworkRequest {
  interfaces: GuestInterface[];
  routes: GuestRoute[];
  /** The template builder's rehearsal (agent 0.11.0): the path runs, no NIC is changed. */
  rehearse?: boolean;
}
export interface ConfigureNetworkResponse {
  /** ms the agent spent (waiting for the NIC included). */
  ms: number;
}

/**
 * SetSysctls: the pod's net.* sysctls, written once at its set-up into the guest's network
 * namespace, which is the pod's (kata sets them in the guest too). The containers' guest specs
 * go without them: crun would refuse a net.* sysctl without a network namespace of its own.
 * Agents before 0.8 answer UNIMPLEMENTED.
 */
export interface SetSysctlsRequest { sysctls: Record<string, string> }
export interface SetSysctlsResponse { ms: number }

/**
 * What may become a guest's hostname (the kernel command line's tsula.hostname=, CloneSetup's
 * hostname): RFC 1123 labels (and `_`, which some clients allow), at most 64 bytes — nothing
 * that could end or add a kernel command-line parameter.
 */
export const HOSTNAME_RE = /^[A-Za-z0-9]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9])?$/;

/**
 * CloneSetup: a guest restored from a VM template (the vmm kind's templates.ts) is a copy of
 * one booted guest, RNG state, clock and hostname included. The host tells it what makes it
 * unique before anything runs in it: the kernel's CRNG is reseeded from fresh bytes, the clock
 * set, the hostname given, and the pod's virtio-fs share (hot-plugged just before) mounted.
 */
export interface CloneSetupRequest {
  hostname: string;
  /** The host's clock when it sent this, ms since the epoch. */
  timeMs: number;
  /** 64 fresh random bytes, base64: credited to the guest's entropy pool, then the CRNG reseeds. */
  entropy: string;
  /** Mount the virtio-fs share tagged `tsula` at GUEST_SHARED_DIR (waiting for the device). */
  mountShared: boolean;
  /** false: no ConfigureNetwork follows (no NIC), so the shell waiting for one is let go. */
  network?: boolean;
  /**
   * The template builder's rehearsal (agent 0.11.0): the whole path runs, the setup program
   * checks its input and changes nothing, and the programs it took wait again for the clones.
   */
  rehearse?: boolean;
}
export interface CloneSetupResponse { ms: number }

/**
 * A container's OCI spec, sent in CreateTaskRequest.options as an Any with this type URL and
 * the spec as JSON (containerd's own type URL for it). The host has already rewritten it for
 * the guest: the rootfs is under the shared dir (virtiofs), mounts' sources too.
 */
export const SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';
/** An exec's process in ExecProcessRequest.spec (containerd's type URL for it). */
export const PROCESS_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';
/** New limits in UpdateTaskRequest.resources: a spec LinuxResources as JSON (containerd's type URL). */
export const RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

export const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v), 'utf8');
export function dec<T>(b: Uint8Array): T {
  return (b.length ? JSON.parse(Buffer.from(b).toString('utf8')) : {}) as T;
}
