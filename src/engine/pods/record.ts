// A pod as the engine keeps it: what was asked (PodSpec, typed; CRI's PodSandboxConfig is
// one way to say it) and what was made (namespaces, network, the sandbox of a sandboxer).
// Stored as JSON under <graph>/pods/<id>.json, written atomically.

export type NamespaceMode = 'pod' | 'container' | 'node' | 'target';

export interface PortMapping {
  protocol: 'tcp' | 'udp' | 'sctp';
  containerPort: number;
  hostPort: number;
  hostIp: string;
}

export interface PodSecurity {
  privileged: boolean;
  readonlyRootfs: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  supplementalGroups: number[];
  seccomp?: { type: 'runtime-default' | 'unconfined' | 'localhost'; profile?: string };
}

export interface PodSpec {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  /** Where the pod's container logs go (CRI's log_directory); '' = none. */
  logDirectory: string;
  dns?: { servers: string[]; searches: string[]; options: string[] };
  portMappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupParent: string;
  /** kubelet's sum of the containers' limits plus the overhead (CRI's pod resources): a VM pod's size. */
  resources?: { memoryLimit?: number; cpuQuota?: number; cpuPeriod?: number };
  sysctls: Record<string, string>;
  namespaces: { network: 'pod' | 'node'; pid: NamespaceMode; ipc: 'pod' | 'node'; targetId?: string };
  security: PodSecurity;
  /** CRI's runtime_handler ('' = the default). */
  runtimeHandler: string;
}

export type PodState = 'ready' | 'notready';

/** A sandboxer: its kind (the Controller's `sandboxer` field) and Controller socket. */
export interface SandboxerRef {
  kind: string;
  address: string;
  /** tsulad starts this one itself when it is not running (the built-in vmm). */
  autoStartState?: string;
}

export interface PodRecord {
  id: string;
  spec: PodSpec;
  createdAt: string;
  state: PodState;
  /** The engine runtime its containers use (runc, a shim v2, a sandboxer handler). */
  runtime: string;
  /** A pod that is a sandbox of a sandboxer (a VM): which one, and its id there. */
  sandbox?: SandboxerRef & { sandboxId: string };
  /** The pinned network namespace ('' for the node's network). */
  netnsPath: string;
  /** The pod IP and every address of its interface, from CNI. */
  ip: string;
  ips: string[];
  /** Pinned UTS / IPC namespaces ('' = the node's). */
  utsPath: string;
  ipcPath: string;
  /**
   * What its containers get at /dev/shm (a host pod's): the pod's own tmpfs (IPC 'pod'), or
   * the node's /dev/shm (IPC 'node'). Absent in records of older versions: each container's own.
   */
  shmPath?: string;
  /** The init of a shared PID namespace (pid 'pod'). */
  pidHolder?: { pid: number; startTime: string };
  /** The pod's own /etc files, shared by its containers. */
  hostsPath: string;
  resolvConfPath: string;
  hostnamePath: string;
  /** Set while a start runs: a record found with it after a restart was cut short, and goes. */
  startingAt?: string;
}

/** CRI's reserved name of a pod: one per name, namespace, uid and attempt. */
export function podKey(s: Pick<PodSpec, 'name' | 'namespace' | 'uid' | 'attempt'>): string {
  return `${s.name}_${s.namespace}_${s.uid}_${s.attempt}`;
}
