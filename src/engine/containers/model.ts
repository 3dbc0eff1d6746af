// The engine's container model, typed and independent of any wire format: what a front end
// asks for (CreateSpec: the Docker-shaped API and CRI both translate into it) and what the
// engine keeps (Container: the create spec resolved against the image, plus state and
// paths). `docker inspect` and CRI's ContainerStatus are views of a Container (api/ and cri/).
// Stored as <graph>/containers/<id>/container.json, written atomically.
import type { ResourceConfig } from './resources.js';
import type { Hooks } from '../../oci/types.js';

export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** A bind's propagation (docker takes the non-recursive ones too; CRI's are rprivate, rslave, rshared). */
export type Propagation = 'rprivate' | 'rslave' | 'rshared' | 'private' | 'slave' | 'shared';

export interface Bind {
  source: string;
  destination: string;
  readonly: boolean;
  propagation: Propagation;
  /** How the user wrote it (docker's Binds entry), shown back by inspect. */
  spec?: string;
  /** Not from Binds: --mount (HostConfig.Mounts) or --volumes-from; inspect's Binds leaves it out. */
  origin?: 'mount' | 'volumes-from';
  /** --mount bind-recursive=disabled (BindOptions.NonRecursive): the source's submounts are left out. */
  nonRecursive?: boolean;
  /** --mount bind-create-src (API 1.42): a missing source directory is made at create. */
  createMountpoint?: boolean;
  /**
   * A read-only bind's submounts (API 1.44): read-only too ('enabled', rro where the kernel
   * and runtime can), left as they are ('disabled', the only way before 1.44), or rro or
   * fail ('forced'). Absent: 'disabled'.
   */
  recursiveReadonly?: 'enabled' | 'disabled' | 'forced';
  /**
   * No propagation was asked: rprivate, or for a source in (or above) the daemon's root
   * rslave, which falls back to rprivate where the host mount is neither shared nor slave
   * (dockerd's validateBindDaemonRoot and WithMounts).
   */
  implicitPropagation?: boolean;
}

/** A named volume of tsulad's volume store (engine/volumes/) mounted into the container. */
export interface VolumeMount {
  /** '' in a create spec: an anonymous volume, named (64 hex) at create. */
  name: string;
  destination: string;
  readonly: boolean;
  /** Made for this container (image VOLUME, -v /path, --mount without source): rm -v removes it. */
  anonymous: boolean;
  /** docker's nocopy: the image's files at the destination are not copied into a new volume. */
  noCopy: boolean;
  /** The volume's directory on the host (set at create). */
  source: string;
  spec?: string;
  origin?: 'mount' | 'volumes-from';
  /** A directory inside the volume mounted instead of its root (API 1.45's VolumeOptions.Subpath). */
  subpath?: string;
}

/**
 * An image's filesystem mounted read-only into the container (API 1.48's --mount type=image):
 * a snapshot of its layers of its own, made at create, mounted while the container runs.
 */
export interface ImageMount {
  /** The image as the client named it. */
  image: string;
  destination: string;
  /** A directory of the image mounted instead of its root (ImageOptions.Subpath). */
  subpath?: string;
  /** Set at create: the image's id and where its snapshot is mounted on the host. */
  imageId?: string;
  source?: string;
}

/** A tmpfs (--tmpfs, --mount type=tmpfs): mount options such as size=, mode=. */
export interface TmpfsMount { destination: string; options: string[]; origin?: 'mount' }

export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';
export interface RestartPolicy { name: RestartPolicyName; maxRetries: number }

export interface PortBinding { hostIp: string; hostPort: string }

/** A network a container joins (engine/networks/): by id, with its docker endpoint settings. */
export interface EndpointSpec {
  networkId: string;
  /** The network's name when the container was attached (what inspect keys Networks by). */
  name: string;
  aliases: string[];
  /** A fixed IPv4 address (docker's --ip), on user networks only. */
  ipv4Address?: string;
  /** A fixed IPv6 address (docker's --ip6), on user networks with IPv6 only. */
  ipv6Address?: string;
  /** More IPv4 addresses on its interface, as given (docker's --link-local-ip: IPAMConfig.LinkLocalIPs). */
  linkLocalIps?: string[];
  /** A fixed MAC address (docker's --mac-address, or the endpoint's MacAddress of API 1.44+). */
  mac?: string;
  /** docker's GwPriority (API 1.48+): the endpoint with the highest gives the default route. */
  gwPriority?: number;
  /** Its interface's sysctls (API 1.46 DriverOpts): "net.ipv4.conf.IFNAME.x=v", IFNAME its ethN. */
  sysctls?: string[];
  /** EndpointSettings.Links as given ("name:alias"): DNS aliases of this container's own (networks/links.ts). */
  links?: string[];
  /** Added by `network connect` (dockerd gives it its DNS names then, a create's at the start). */
  connected?: boolean;
}

/**
 * Docker networking (network 'cni' or 'container'): which networks, the container's DNS and
 * /etc/hosts settings, its exposed and published ports.
 */
export interface NetworkingSpec {
  /** docker's NetworkMode as the client gave it ('default', 'bridge', 'mynet', 'container:x'). */
  mode: string;
  /** The networks to join, keyed by network id, in the order of their interfaces (eth0, eth1…). */
  endpoints: EndpointSpec[];
  /** network 'container': the id of the container whose network namespace this one joins. */
  container?: string;
  dns: string[];
  dnsSearch: string[];
  dnsOptions: string[];
  /** host:ip entries for /etc/hosts (host-gateway: daemon.json host-gateway-ips, else the default bridge's gateway). */
  extraHosts: string[];
  /** "80/tcp": the image's and the request's ExposedPorts. */
  exposedPorts: string[];
  portBindings: Record<string, PortBinding[]>;
  publishAll: boolean;
  /** HostConfig.Links as given ("name:alias"), on the default bridge or none: resolved at create into legacyLinks. */
  hostLinks?: string[];
  /** Legacy links (the default bridge's: networks/legacy-links.ts), resolved at create: who, and as what. */
  legacyLinks?: LegacyLink[];
}

/** A legacy link: the linked (child) container's id and its alias here; its name is "<this name>/<alias>". */
/**
 * A legacy link: the child's id and the alias. `gone` is the name of a child removed since:
 * dockerd's link index keeps the removed container (its parent's start fails, inspect lists it)
 * until a restart links the name again (registerLinks at restore).
 */
export interface LegacyLink { child: string; alias: string; gone?: string }

/** What the runtime has of a container's network while it runs (a CNI attachment per endpoint). */
/** docker's container.HealthConfig. */
export interface HealthConfig {
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  retries: number;
  /** ns between probes during the start period (API 1.44's StartInterval); 0 or absent: 5s. */
  startInterval?: number;
}

/** docker's types.Health: the probes' verdict while the container runs. */
export interface HealthState {
  status: 'starting' | 'healthy' | 'unhealthy';
  failingStreak: number;
  /** The last 5 probes: RFC 3339 times, exit code (-1: timed out or could not run), output. */
  log: Array<{ start: string; end: string; exitCode: number; output: string }>;
}

export interface NetworkState {
  /** The pinned network namespace (docker's SandboxKey). */
  sandboxKey: string;
  endpoints: Array<{
    networkId: string;
    name: string;
    endpointId: string;
    ifName: string;
    ip: string;
    prefixLen: number;
    gateway: string;
    mac: string;
    /** On a network with IPv6: its IPv6 address, prefix length and gateway. */
    ipv6?: string;
    prefixLen6?: number;
    gateway6?: string;
  }>;
  /** The bindings in effect, host ports chosen ("80/tcp" → bindings). */
  ports: Record<string, PortBinding[]>;
}

export interface Ulimit { name: string; soft: number; hard: number }

export interface Device { hostPath: string; containerPath: string; permissions: string }

export interface Security {
  privileged: boolean;
  readonlyRootfs: boolean;
  capAdd: string[];
  capDrop: string[];
  noNewPrivileges: boolean;
  /** localhost: profile is a file's path (CRI); inline: profile is the JSON itself (docker's seccomp=). */
  seccomp: { type: 'default' | 'unconfined' | 'localhost' | 'inline'; profile?: string };
  /** apparmor: a profile's name (or localhost/<name>), runtime/default, unconfined; '' = the default (oci/apparmor.ts). */
  apparmor?: string;
  /** Masked and read-only paths instead of the defaults (CRI's lists, docker's HostConfig ones; [] for none). */
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
  /** The host dir bound at /dev/shm: the pod's (a host pod's containers share it). */
  shm?: string;
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
  /** Env set before the image's (which, like env, overrides it): CRI's HOSTNAME, as containerd sets it. */
  baseEnv?: string[];
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
  /** iSulad's --hook-spec: a file of OCI hooks (prestart, poststart, poststop) read at create. */
  hookSpec?: string;
  /** What the hook spec held at create (the runtime runs them on the host). */
  hooks?: Hooks;
  /** The TTY's size at start, [height, width] (API 1.42's HostConfig.ConsoleSize); absent: [0, 0]. */
  consoleSize?: [number, number];
  /** HostConfig.Isolation as created ('default', the only one on Linux; absent: ''). */
  isolation?: string;
  stopSignal?: string;
  /** Seconds a stop waits before SIGKILL when the caller gives none (docker's StopTimeout). */
  stopTimeout?: number;
  /**
   * docker's --log-driver: none, the output goes nowhere (attached clients still get it);
   * local, the file as json-file's with local's defaults (20m × 5 files); absent: json-file.
   */
  logDriver?: 'none' | 'local';
  /** docker's --log-opt as given (inspect's LogConfig.Config); what they set is below. */
  logOpts?: Record<string, string>;
  /** Bytes the log may reach before it starts over, empty (json-file's max-size with one file). */
  logSizeMax?: number;
  /** docker's --cidfile: the client writes it; kept for inspect's HostConfig.ContainerIDFile. */
  containerIdFile?: string;
  /** docker's Healthcheck (durations in nanoseconds, 0 = the default); Test ["NONE"] disables the image's. */
  healthcheck?: HealthConfig;
  autoRemove: boolean;
  runtime?: string;
  binds: Bind[];
  devices: Device[];
  /**
   * none: a private network namespace with lo; host: the node's; pod: the pod's (PodLink);
   * cni: a namespace of its own on tsulad's networks (networking.endpoints); container: the
   * network namespace of another container (networking.container).
   */
  network: 'none' | 'host' | 'pod' | 'cni' | 'container';
  /** Docker networking (networks, ports, DNS); absent for CRI's containers. */
  networking?: NetworkingSpec;
  /** Named and anonymous volumes (set at create); tmpfs mounts. */
  volumes?: VolumeMount[];
  tmpfs?: TmpfsMount[];
  /** --mount type=image (API 1.48). */
  imageMounts?: ImageMount[];
  /** docker's HostConfig.Mounts / Tmpfs / VolumesFrom as given, shown back by inspect. */
  mountRequest?: {
    mounts?: unknown[]; tmpfs?: Record<string, string>; volumesFrom?: string[];
    /** Labels of the volumes a --mount makes, by name. */
    volumeLabels?: Record<string, Record<string, string>>;
    /** The local driver's options (volume-opt) of the volumes a --mount makes, by name. */
    volumeOptions?: Record<string, Record<string, string>>;
  };
  /** docker's --platform (the image must match it). */
  platform?: string;
  restartPolicy?: RestartPolicy;
  /** Run docker-init (tini) as PID 1 in front of the command. */
  init?: boolean;
  /** /dev/shm's size in bytes (0: the default 64 MiB). */
  shmSize?: number;
  /** docker's --cgroupns (its default made explicit at create: private on cgroup v2, host on v1); absent: host. */
  cgroupns?: 'private' | 'host';
  /** Namespaces shared with the host (docker's --pid host, --uts host, --ipc host). */
  hostNamespaces?: { pid?: boolean; uts?: boolean; ipc?: boolean };
  /** Namespaces of another container joined at each start (docker's --pid/--ipc container:<ref>, the ref as given). */
  sharedNamespaces?: { pid?: string; ipc?: string };
  /** docker's --ipc shareable: other containers may join its IPC namespace. */
  ipcShareable?: boolean;
  /** docker's --group-add entries that are group names, resolved in the container's /etc/group at start. */
  groupNames?: string[];
  sysctls?: Record<string, string>;
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
  /** The other containers' namespaces this run joined (sharedNamespaces), by path. */
  joinedNamespaces?: { pid?: string; ipc?: string };
  /** The host dir bound at /dev/shm this run: a shareable container's tmpfs, or the one of the container whose IPC it joined. */
  ipcShm?: string;
  exitCode: number;
  error: string;
  oomKilled: boolean;
  /** ISO times; '' = never. */
  startedAt: string;
  finishedAt: string;
  restartCount: number;
  /** docker's HasBeenManuallyStopped: a stop or kill; an unless-stopped policy then waits for a start. */
  manuallyStopped?: boolean;
  /** Paused by an operation (docker commit), not by the user: recovery resumes it when that operation died with the engine. */
  pausedBy?: 'commit';
  /** Its network while it runs (network 'cni'); gone at exit. */
  network?: NetworkState;
  /** Its legacy links' variables (ALIAS_PORT…, ALIAS_NAME, ALIAS_ENV_…), made at its start for its process and execs. */
  linkEnv?: string[];
  /**
   * The address it had on each network (by id) when it last ran: asked for again at its next
   * start, as dockerd's IPAM hands a restarted container its address back (the lowest free
   * one), where host-local would move on to the next.
   */
  lastIps?: Record<string, string>;
  /**
   * The MAC its interface had on each network: given again with its last address, so that
   * the peers' ARP caches stay right across a restart (dockerd advertises a new MAC with
   * gratuitous ARPs instead; the bridge plugin's one is sent too early to count on).
   */
  lastMacs?: Record<string, string>;
  /** The IPv6 address it had on each network with IPv6, asked for again as lastIps' (dockerd's lowest free one). */
  lastIps6?: Record<string, string>;
  /** Set once a container with a healthcheck starts (docker keeps it after the exit). */
  health?: HealthState;
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
