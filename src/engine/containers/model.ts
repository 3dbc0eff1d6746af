// The engine's container model, typed and independent of any wire format: what a front end
// asks for (CreateSpec: the Docker-shaped API and CRI both translate into it) and what the
// engine keeps (Container: the create spec resolved against the image, plus state and
// paths). `docker inspect` and CRI's ContainerStatus are views of a Container (api/ and cri/).
// Stored as <graph>/containers/<id>/container.json, written atomically.
import type { ResourceConfig } from './resources.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export type Propagation = 'rprivate' | 'rslave' | 'rshared';

export interface Bind {
  source: string;
  destination: string;
  readonly: boolean;
  propagation: Propagation;
  /** How the user wrote it (docker's Binds entry), shown back by inspect. */
  spec?: string;
}

export interface Ulimit { name: string; soft: number; hard: number }

export interface Device { hostPath: string; containerPath: string; permissions: string }

export interface Security {
  privileged: boolean;
  readonlyRootfs: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  seccomp: { type: 'default' | 'unconfined' | 'localhost'; profile?: string };
  /** apparmor profile name ('' = the runtime's default; none where the host has no apparmor). */
  apparmor?: string;
  /** Masked and read-only paths beyond the defaults (CRI gives its own lists). */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Extra gids of the process (CRI's supplemental groups, docker's --group-add). */
  supplementalGroups: number[];
  /** docker's SecurityOpt entries, kept for inspect. */
  securityOpt: string[];
}

/**
 * How a container joins a pod: the pod's namespaces by path ('host' = the node's; absent =
 * a private one), its /etc files and sysctls, the pod's cgroup parent.
 */
export interface PodLink {
  id: string;
  namespaces: { network?: string; ipc?: string; uts?: string; pid?: string };
  etc: { hosts: string; resolvConf: string; hostname: string };
  sysctls: Record<string, string>;
}

/** CRI's own description of a container (kept as given, for its views). */
export interface CriMeta {
  name: string;
  attempt: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** The image as the client named it. */
  image: string;
}

/** What a front end asks for. Unset fields take the image's value or the engine's default. */
export interface CreateSpec {
  /** '' or absent: a generated name. */
  name?: string;
  image: string;
  /** undefined: the image's; [] (docker's [""]): none. A given entrypoint drops the image's cmd. */
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  workingDir?: string;
  user?: string;
  hostname?: string;
  domainname?: string;
  tty: boolean;
  openStdin: boolean;
  stdinOnce: boolean;
  attach: { stdin: boolean; stdout: boolean; stderr: boolean };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  stopSignal?: string;
  autoRemove: boolean;
  runtime?: string;
  binds: Bind[];
  devices: Device[];
  /** none: a private network namespace with lo; host: the node's; pod: the pod's (PodLink). */
  network: 'none' | 'host' | 'pod';
  resources: ResourceConfig;
  ulimits: Ulimit[];
  security: Security;
  /** Where conmon writes the CRI-format log; default: the container's dir. */
  logPath?: string;
  pod?: PodLink;
  cri?: CriMeta;
}

export interface ContainerState {
  status: ContainerStatus;
  pid: number;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  /** ISO times; '' = never. */
  startedAt: string;
  finishedAt: string;
  restartCount: number;
}

/** The create spec resolved against the image: what runs, and how. */
export interface ContainerConfig extends Omit<CreateSpec, 'name' | 'entrypoint' | 'cmd' | 'image' | 'runtime'> {
  /** The reference the client gave. */
  imageRef: string;
  entrypoint: string[];
  cmd: string[];
  hostname: string;
  user: string;
  workingDir: string;
}

export interface Container {
  id: string;
  name: string;
  createdAt: string;
  /** The image id (sha256:...). */
  image: string;
  runtime: string;
  driver: string;
  config: ContainerConfig;
  state: ContainerState;
  paths: { log: string; hosts: string; resolvConf: string; hostname: string };
}

/** The argv a container runs. */
export function argv(c: Pick<Container, 'config'>): string[] {
  return [...c.config.entrypoint, ...c.config.cmd];
}

export function running(s: ContainerState): boolean {
  return s.status === 'running' || s.status === 'paused' || s.status === 'restarting';
}

export function initialState(): ContainerState {
  return { status: 'created', pid: 0, exitCode: 0, error: '', oomKilled: false, startedAt: '', finishedAt: '', restartCount: 0 };
}
