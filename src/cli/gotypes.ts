// docker runs --format templates on its Go structs, not on the JSON: a field the daemon left
// out is still there with its zero value ({{.NetworkSettings.IPAddress}} prints ""), fields
// have their Go names ({{.Server.APIVersion}}, {{.ID}}), a map's missing key prints
// <no value>, and a name the struct lacks is an error. These are those structs (docker 20.10's
// api/types), as schemas laid over the JSON: the template engine asks typeOf() what an
// object is, and reads its fields through field().
export type GoType =
  | { k: 'string' | 'int' | 'bool' | 'float' | 'any' }
  | { k: 'slice'; elem: GoType }
  | { k: 'map'; elem: GoType }
  | { k: 'ptr'; elem: GoType }
  | { k: 'struct'; name: string; fields: Map<string, { json: string; type: GoType }> };

const S: GoType = { k: 'string' };
const I: GoType = { k: 'int' };
const B: GoType = { k: 'bool' };
const ANY: GoType = { k: 'any' };
const slice = (elem: GoType): GoType => ({ k: 'slice', elem });
const map = (elem: GoType): GoType => ({ k: 'map', elem });
const ptr = (elem: GoType): GoType => ({ k: 'ptr', elem });
const STRS = slice(S);

/** A struct: each field is its type (JSON name = Go name) or [JSON name, type]; `...` embeds. */
function struct(name: string, ...parts: Array<Record<string, GoType | [string, GoType]> | GoType>): GoType {
  const fields = new Map<string, { json: string; type: GoType }>();
  for (const part of parts) {
    if ('k' in part && typeof part.k === 'string') {
      // an embedded struct: its fields are promoted, as in Go (and flattened in the JSON)
      if (part.k === 'struct') for (const [n, f] of (part as { fields: Map<string, { json: string; type: GoType }> }).fields) fields.set(n, f);
      continue;
    }
    for (const [go, spec] of Object.entries(part as Record<string, GoType | [string, GoType]>)) {
      fields.set(go, Array.isArray(spec) ? { json: spec[0], type: spec[1] } : { json: go, type: spec });
    }
  }
  return { k: 'struct', name, fields };
}

// ---- docker 20.10's api/types, as far as templates reach ----------------------------------

const healthConfig = struct('container.HealthConfig', { Test: STRS, Interval: I, Timeout: I, StartPeriod: I, Retries: I });
const config = struct('container.Config', {
  Hostname: S, Domainname: S, User: S, AttachStdin: B, AttachStdout: B, AttachStderr: B, ExposedPorts: map(ANY),
  Tty: B, OpenStdin: B, StdinOnce: B, Env: STRS, Cmd: STRS, Healthcheck: ptr(healthConfig), ArgsEscaped: B, Image: S,
  Volumes: map(ANY), WorkingDir: S, Entrypoint: STRS, NetworkDisabled: B, MacAddress: S, OnBuild: STRS,
  Labels: map(S), StopSignal: S, StopTimeout: ptr(I), Shell: STRS,
});
const graphDriver = struct('types.GraphDriverData', { Data: map(S), Name: S });
const health = struct('types.Health', { Status: S, FailingStreak: I, Log: slice(ANY) });
const state = struct('types.ContainerState', {
  Status: S, Running: B, Paused: B, Restarting: B, OOMKilled: B, Dead: B, Pid: I, ExitCode: I, Error: S,
  StartedAt: S, FinishedAt: S, Health: ptr(health),
});
const portBinding = struct('nat.PortBinding', { HostIP: ['HostIp', S], HostPort: S });
const portMap = map(slice(portBinding));
const resources = struct('container.Resources', {
  CPUShares: ['CpuShares', I], Memory: I, NanoCPUs: ['NanoCpus', I], CgroupParent: S, BlkioWeight: I,
  BlkioWeightDevice: slice(ANY), BlkioDeviceReadBps: slice(ANY), BlkioDeviceWriteBps: slice(ANY),
  BlkioDeviceReadIOps: slice(ANY), BlkioDeviceWriteIOps: slice(ANY), CPUPeriod: ['CpuPeriod', I], CPUQuota: ['CpuQuota', I],
  CPURealtimePeriod: ['CpuRealtimePeriod', I], CPURealtimeRuntime: ['CpuRealtimeRuntime', I], CpusetCpus: S, CpusetMems: S,
  Devices: slice(ANY), DeviceCgroupRules: STRS, DeviceRequests: slice(ANY), KernelMemory: I, KernelMemoryTCP: I,
  MemoryReservation: I, MemorySwap: I, MemorySwappiness: ptr(I), OomKillDisable: ptr(B), PidsLimit: ptr(I),
  Ulimits: slice(ptr(struct('units.Ulimit', { Name: S, Hard: I, Soft: I }))), CPUCount: ['CpuCount', I],
  CPUPercent: ['CpuPercent', I], IOMaximumIOps: I, IOMaximumBandwidth: I,
});
const hostConfig = struct('container.HostConfig', {
  Binds: STRS, ContainerIDFile: S, LogConfig: struct('container.LogConfig', { Type: S, Config: map(S) }), NetworkMode: S,
  PortBindings: portMap, RestartPolicy: struct('container.RestartPolicy', { Name: S, MaximumRetryCount: I }), AutoRemove: B,
  VolumeDriver: S, VolumesFrom: STRS, CapAdd: STRS, CapDrop: STRS, CgroupnsMode: S, DNS: ['Dns', STRS],
  DNSOptions: ['DnsOptions', STRS], DNSSearch: ['DnsSearch', STRS], ExtraHosts: STRS, GroupAdd: STRS, IpcMode: S, Cgroup: S,
  Links: STRS, OomScoreAdj: I, PidMode: S, Privileged: B, PublishAllPorts: B, ReadonlyRootfs: B, SecurityOpt: STRS,
  StorageOpt: map(S), Tmpfs: map(S), UTSMode: S, UsernsMode: S, ShmSize: I, Sysctls: map(S), Runtime: S,
  ConsoleSize: slice(I), Isolation: S,
}, resources, {
  Mounts: slice(ANY), MaskedPaths: STRS, ReadonlyPaths: STRS, Init: ptr(B),
  // tsula's own: the OCI annotations a container was created with
  Annotations: map(S),
});
const endpoint = struct('network.EndpointSettings', {
  IPAMConfig: ptr(struct('network.EndpointIPAMConfig', { IPv4Address: S, IPv6Address: S, LinkLocalIPs: STRS })),
  Links: STRS, Aliases: STRS, NetworkID: S, EndpointID: S, Gateway: S, IPAddress: S, IPPrefixLen: I, IPv6Gateway: S,
  GlobalIPv6Address: S, GlobalIPv6PrefixLen: I, MacAddress: S, DriverOpts: map(S),
});
const address = struct('network.Address', { Addr: S, PrefixLen: I });
const networkSettings = struct('types.NetworkSettings', {
  Bridge: S, SandboxID: S, HairpinMode: B, LinkLocalIPv6Address: S, LinkLocalIPv6PrefixLen: I, Ports: portMap,
  SandboxKey: S, SecondaryIPAddresses: slice(address), SecondaryIPv6Addresses: slice(address),
  EndpointID: S, Gateway: S, GlobalIPv6Address: S, GlobalIPv6PrefixLen: I, IPAddress: S, IPPrefixLen: I,
  IPv6Gateway: S, MacAddress: S, Networks: map(ptr(endpoint)),
});
const mountPoint = struct('types.MountPoint', {
  Type: S, Name: S, Source: S, Destination: S, Driver: S, Mode: S, RW: B, Propagation: S,
});

/** `docker inspect` of a container: types.ContainerJSON. */
export const CONTAINER_JSON = struct('types.ContainerJSON', {
  ID: ['Id', S], Created: S, Path: S, Args: STRS, State: ptr(state), Image: S, ResolvConfPath: S, HostnamePath: S,
  HostsPath: S, LogPath: S, Node: ptr(ANY), Name: S, RestartCount: I, Driver: S, Platform: S, MountLabel: S,
  ProcessLabel: S, AppArmorProfile: S, ExecIDs: STRS, HostConfig: ptr(hostConfig), GraphDriver: graphDriver,
  SizeRw: ptr(I), SizeRootFs: ptr(I), Mounts: slice(mountPoint), Config: ptr(config), NetworkSettings: ptr(networkSettings),
});

/** `docker inspect` of an image: types.ImageInspect. */
export const IMAGE_INSPECT = struct('types.ImageInspect', {
  ID: ['Id', S], RepoTags: STRS, RepoDigests: STRS, Parent: S, Comment: S, Created: S, Container: S,
  ContainerConfig: ptr(config), DockerVersion: S, Author: S, Config: ptr(config), Architecture: S, Variant: S,
  Os: S, OsVersion: S, Size: I, VirtualSize: I, GraphDriver: graphDriver,
  RootFS: struct('types.RootFS', { Type: S, Layers: STRS, BaseLayer: S }),
  Metadata: struct('types.ImageMetadata', { LastTagTime: S }),
});

/** `docker events --format`: events.Message (a missing attribute prints <no value>). */
export const EVENT_MESSAGE = struct('events.Message', {
  Status: ['status', S], ID: ['id', S], From: ['from', S], Type: S, Action: S,
  Actor: struct('events.Actor', { ID: S, Attributes: map(S) }), Scope: ['scope', S], Time: ['time', I], TimeNano: ['timeNano', I],
});

const platform = struct('struct { Name string }', { Name: S });

/** `docker version --format`: the client's and the server's (types.Version) versions. */
export const VERSION_INFO = struct('system.versionInfo', {
  Client: ptr(struct('system.clientVersion', {
    Platform: platform, Version: S, APIVersion: ['ApiVersion', S], DefaultAPIVersion: S, GitCommit: S, GoVersion: S,
    // tsula's own: the client runs on node
    NodeVersion: S,
    Os: S, Arch: S, BuildTime: S, Context: S, Experimental: B,
  })),
  Server: ptr(struct('types.Version', {
    Platform: platform, Components: slice(struct('types.ComponentVersion', { Name: S, Version: S, Details: map(S) })),
    Version: S, APIVersion: ['ApiVersion', S], MinAPIVersion: S, GitCommit: S, GoVersion: S, Os: S, Arch: S,
    KernelVersion: S, Experimental: B, BuildTime: S,
  })),
});

const commit = struct('types.Commit', { ID: S, Expected: S });

/** `docker info --format`: types.Info and the client's part. */
export const INFO = struct('system.info', {
  ID: S, Containers: I, ContainersRunning: I, ContainersPaused: I, ContainersStopped: I, Images: I, Driver: S,
  DriverStatus: slice(STRS), SystemStatus: slice(STRS),
  Plugins: struct('types.PluginsInfo', { Volume: STRS, Network: STRS, Authorization: STRS, Log: STRS }),
  MemoryLimit: B, SwapLimit: B, KernelMemory: B, KernelMemoryTCP: B, CPUCfsPeriod: ['CpuCfsPeriod', B],
  CPUCfsQuota: ['CpuCfsQuota', B], CPUShares: B, CPUSet: B, PidsLimit: B, IPv4Forwarding: B, BridgeNfIptables: B,
  BridgeNfIP6tables: ['BridgeNfIp6tables', B], Debug: B, NFd: I, OomKillDisable: B, NGoroutines: I, SystemTime: S,
  LoggingDriver: S, CgroupDriver: S, CgroupVersion: S, NEventsListener: I, KernelVersion: S, OperatingSystem: S,
  OSVersion: S, OSType: S, Architecture: S, IndexServerAddress: S,
  RegistryConfig: ptr(struct('registry.ServiceConfig', {
    AllowNondistributableArtifactsCIDRs: STRS, AllowNondistributableArtifactsHostnames: STRS, InsecureRegistryCIDRs: STRS,
    IndexConfigs: map(ptr(struct('registry.IndexInfo', { Name: S, Mirrors: STRS, Secure: B, Official: B }))), Mirrors: STRS,
  })),
  NCPU: I, MemTotal: I, GenericResources: slice(ANY), DockerRootDir: S, HTTPProxy: ['HttpProxy', S],
  HTTPSProxy: ['HttpsProxy', S], NoProxy: S, Name: S, Labels: STRS, ExperimentalBuild: B, ServerVersion: S,
  ClusterStore: S, ClusterAdvertise: S, Runtimes: map(struct('types.Runtime', { Path: ['path', S], Args: ['runtimeArgs', STRS], Shim: ['-', ptr(ANY)] })),
  DefaultRuntime: S,
  Swarm: struct('swarm.Info', { NodeID: S, NodeAddr: S, LocalNodeState: S, ControlAvailable: B, Error: S, RemoteManagers: slice(ANY), Nodes: I, Managers: I, Cluster: ptr(ANY) }),
  LiveRestoreEnabled: B, Isolation: S, InitBinary: S, ContainerdCommit: commit, RuncCommit: commit, InitCommit: commit,
  SecurityOptions: STRS, ProductLicense: S, DefaultAddressPools: slice(ANY), Warnings: STRS,
  // tsula's own
  Sandboxers: slice(ANY), StoreSize: map(I), ExecutionDriver: S,
  ServerErrors: STRS,
  ClientInfo: ptr(struct('system.clientInfo', { Debug: B, Context: S, Plugins: slice(ANY), Warnings: STRS })),
  ClientErrors: STRS,
});

// ---- reading JSON through a schema --------------------------------------------------------

const types = new WeakMap<object, GoType>();

/** Lay a schema over decoded JSON (the value itself is not copied or changed). */
export function typed<T>(value: T, t: GoType): T {
  if (value !== null && typeof value === 'object') types.set(value as object, t);
  return value;
}

/** The Go type laid over an object, if any (a pointer's is its pointee's). */
export function typeOf(v: unknown): GoType | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const t = types.get(v as object);
  return t?.k === 'ptr' ? t.elem : t;
}

const nils = new WeakSet<object>();

/** A nil slice or map: empty, prints as [] / map[], and is null in json. */
function nilOf(t: GoType & { k: 'slice' | 'map' }): unknown {
  const v = typed(t.k === 'slice' ? [] : {}, t);
  nils.add(v);
  return v;
}

/** Is this the nil slice or map of a typed field (json: null)? */
export function isNil(v: unknown): boolean {
  return v !== null && typeof v === 'object' && nils.has(v);
}

/** The zero value of a Go type, as decoded JSON would hold it. */
function zero(t: GoType): unknown {
  switch (t.k) {
    case 'string': return '';
    case 'int': case 'float': return 0;
    case 'bool': return false;
    case 'struct': return typed({}, t);
    case 'slice': case 'map': return nilOf(t);
    default: return null; // nil pointer, interface
  }
}

/** A value read from JSON as type t: its schema attached, or the zero value when absent. */
export function asType(v: unknown, t: GoType): unknown {
  if (v === undefined || (v === null && (t.k === 'slice' || t.k === 'map'))) return zero(t);
  return typed(v, t.k === 'ptr' ? t.elem : t);
}

/** A typed struct's fields in their Go order, for printing ({a b c}). */
export function fieldValues(obj: Record<string, unknown>, t: GoType & { k: 'struct' }): unknown[] {
  return [...t.fields.values()].map((f) => asType(obj[f.json], f.type));
}

/** A struct's field by its Go name: undefined when the struct has no such field. */
export function field(obj: Record<string, unknown>, t: GoType & { k: 'struct' }, name: string): { value: unknown } | undefined {
  const f = t.fields.get(name);
  if (!f) return undefined;
  return { value: asType(obj[f.json], f.type) };
}

/** The type of a typed slice's or map's elements. */
export function elemOf(v: unknown): GoType | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const t = types.get(v as object);
  return t && (t.k === 'slice' || t.k === 'map') ? t.elem : undefined;
}

/** Go's name for a type, for error messages ("*types.ContainerState"). */
export function goName(t: GoType): string {
  switch (t.k) {
    case 'struct': return t.name;
    case 'ptr': return `*${goName(t.elem)}`;
    case 'slice': return `[]${goName(t.elem)}`;
    case 'map': return `map[string]${goName(t.elem)}`;
    case 'int': return 'int64';
    case 'float': return 'float64';
    case 'any': return 'interface {}';
    default: return t.k;
  }
}
