// The Docker-shaped API's view of the engine's container model: a create body → CreateSpec,
// a Container → `docker inspect`'s JSON (docker 20.10's field names and zero values). Also
// reads records written before the model was typed (config.v2.json, inspect-shaped).
import { errorMessage, invalidArgument } from '../../common/errors.js';
import { dockerDriverName } from '../../storage/types.js';
import type { Container, ContainerStatus, CreateSpec } from '../containers/model.js';
import { lazySchema, type Infer } from '../../common/lazy-schema.js';
import { resourceShape, resourcesFromBody, type ResourceConfig } from '../containers/resources.js';
import { defaultMaskedPaths, READONLY_PATHS } from '../../oci/spec.js';
import { normalizeCap } from '../../oci/caps.js';
import { DEFAULT_SHM_BYTES } from '../../oci/shm.js';
import { healthcheckFromDocker, healthcheckToDocker } from '../containers/health.js';
import { numericGroups, runConfigShape, runHostConfigShape, runOptionsFromDocker } from './docker-runopts.js';
import { securityFromDocker } from './docker-security.js';
import { mountsView, networkHostConfigView, portsConfigView } from './docker-views.js';
import { gateCreateBody } from './compat-create.js';
import { API_VERSION, versionAtLeast } from './version.js';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** POST /containers/create's body, as far as tsula reads it. */
export const createBodySchema = lazySchema((z) => {
  const strList = z.array(z.string()).nullish();
  return z.object({
    Image: z.string().min(1, 'Image is required'),
    Cmd: z.union([strList, z.string()]),
    Entrypoint: z.union([strList, z.string()]),
    Env: strList,
    WorkingDir: z.string().nullish(),
    User: z.string().nullish(),
    Hostname: z.string().nullish(),
    Domainname: z.string().nullish(),
    Tty: z.boolean().nullish(),
    OpenStdin: z.boolean().nullish(),
    StdinOnce: z.boolean().nullish(),
    AttachStdin: z.boolean().nullish(),
    AttachStdout: z.boolean().nullish(),
    AttachStderr: z.boolean().nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
    StopSignal: z.string().nullish(),
    StopTimeout: z.number().int().nullish(),
    Healthcheck: z.object({
      Test: z.array(z.string()).nullish(), Interval: z.number().int().nullish(), Timeout: z.number().int().nullish(),
      StartPeriod: z.number().int().nullish(), Retries: z.number().int().nullish(), StartInterval: z.number().int().nullish(),
    }).passthrough().nullish(),
    ...runConfigShape(z),
    HostConfig: z.object({
      Binds: strList,
      NetworkMode: z.string().nullish(),
      AutoRemove: z.boolean().nullish(),
      Runtime: z.string().nullish(),
      ReadonlyRootfs: z.boolean().nullish(),
      ...resourceShape(z),
      OomScoreAdj: z.number().refine(Number.isSafeInteger, 'must be an integer').nullish(),
      Ulimits: z.array(z.object({ Name: z.string(), Soft: z.number().int(), Hard: z.number().int() })).nullish(),
      Annotations: z.record(z.string(), z.string()).nullish(),
      ConsoleSize: z.array(z.number().int().nonnegative()).length(2).nullish(),
      Privileged: z.boolean().nullish(),
      CapAdd: strList,
      CapDrop: strList,
      SecurityOpt: strList,
      // null: the defaults; a list (empty too: systempaths=unconfined) replaces them
      MaskedPaths: z.array(z.string()).nullish(),
      ReadonlyPaths: z.array(z.string()).nullish(),
      ...runHostConfigShape(z),
    }).passthrough().nullish(),
  }).passthrough();
});

export type CreateBody = Infer<typeof createBodySchema>;

const asList = (v: string[] | string | null | undefined): string[] | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? [v] : v;

/** dockerd's validateHealthCheck: durations of at least 1ms (0 = the default), retries not negative. */
function validateHealthcheck(h: CreateBody['Healthcheck']): void {
  if (!h) return;
  for (const f of ['Interval', 'Timeout', 'StartPeriod', 'StartInterval'] as const) {
    const v = h[f] ?? 0;
    if (v !== 0 && v < 1e6) throw invalidArgument(`${f} in Healthcheck cannot be less than 1ms`);
  }
  if ((h.Retries ?? 0) < 0) throw invalidArgument('Retries in Healthcheck cannot be negative');
}

/**
 * A POST /containers/create body (or a build step's Config and HostConfig) as the engine's
 * CreateSpec; a body the schema refuses is a 400 naming its first bad field.
 */
export async function createSpecFromBody(body: unknown, version = API_VERSION): Promise<{ spec: CreateSpec; warnings: string[] }> {
  const parsed = (await createBodySchema()).safeParse(body);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    throw invalidArgument(`invalid container config: ${i.path.join('.') || 'body'}: ${i.message}`);
  }
  const warnings = gateCreateBody(parsed.data, version);
  return { spec: createSpecFromDocker(parsed.data, resourcesFromBody(parsed.data.HostConfig ?? {}), version), warnings };
}

/** A validated create body (create.ts's schema) as the engine's CreateSpec. */
export function createSpecFromDocker(b: CreateBody, resources: ResourceConfig, version = API_VERSION): CreateSpec {
  const hc = b.HostConfig ?? {};
  const securityOpt = hc.SecurityOpt ?? [];
  // dockerd's verifyContainerSettings: unknown capabilities refuse the create, not the start
  for (const [field, list] of [['CapAdd', hc.CapAdd], ['CapDrop', hc.CapDrop]] as const) {
    try { for (const c of list ?? []) normalizeCap(c); } catch (e) { throw invalidArgument(`invalid ${field}: ${errorMessage(e)}`); }
  }
  // dockerd's validateContainerConfig (opts.ValidateEnv): a variable needs a name
  for (const e of b.Env ?? []) if (!e.split('=')[0]) throw invalidArgument(`invalid environment variable: ${e}`);
  validateHealthcheck(b.Healthcheck);
  if (hc.Annotations && Object.keys(hc.Annotations).includes('')) throw invalidArgument('invalid Annotations: the empty string is not permitted as an annotation key');
  const entrypoint = asList(b.Entrypoint);
  return {
    image: b.Image,
    // docker's Entrypoint [""] clears the image's
    ...(entrypoint !== undefined ? { entrypoint: entrypoint.length === 1 && entrypoint[0] === '' ? [] : entrypoint } : {}),
    ...(asList(b.Cmd)?.length ? { cmd: asList(b.Cmd)! } : {}),
    env: b.Env ?? [],
    ...(b.WorkingDir ? { workingDir: b.WorkingDir } : {}),
    ...(b.User !== null && b.User !== undefined ? { user: b.User } : {}),
    ...(b.Hostname ? { hostname: b.Hostname } : {}),
    domainname: b.Domainname ?? '',
    tty: !!b.Tty, openStdin: !!b.OpenStdin, stdinOnce: !!b.StdinOnce,
    attach: { stdin: !!b.AttachStdin, stdout: !!b.AttachStdout, stderr: !!b.AttachStderr },
    labels: b.Labels ?? {},
    annotations: hc.Annotations ?? {},
    ...(hc.ConsoleSize && (hc.ConsoleSize[0] || hc.ConsoleSize[1]) ? { consoleSize: [hc.ConsoleSize[0]!, hc.ConsoleSize[1]!] as [number, number] } : {}),
    // inspect shows it as given ('default' is linux's one; validateIsolation refused others)
    ...(hc.Isolation ? { isolation: hc.Isolation } : {}),
    ...(b.StopSignal ? { stopSignal: b.StopSignal } : {}),
    ...(typeof b.StopTimeout === 'number' ? { stopTimeout: b.StopTimeout } : {}),
    ...(b.Healthcheck ? { healthcheck: healthcheckFromDocker(b.Healthcheck) } : {}),
    autoRemove: !!hc.AutoRemove,
    ...(hc.ContainerIDFile ? { containerIdFile: hc.ContainerIDFile } : {}),
    ...(hc.HookSpec ? { hookSpec: hc.HookSpec } : {}),
    ...(hc.Runtime ? { runtime: hc.Runtime } : {}),
    ...runOptionsFromDocker(b, hc, hc.Binds ?? [], { recursiveReadonly: versionAtLeast(version, '1.44') }) as Pick<CreateSpec, 'binds' | 'devices' | 'network'>,
    resources,
    ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    security: {
      privileged: !!hc.Privileged, readonlyRootfs: !!hc.ReadonlyRootfs,
      capAdd: hc.CapAdd ?? [], capDrop: hc.CapDrop ?? [],
      ...securityFromDocker(securityOpt),
      supplementalGroups: numericGroups(hc), securityOpt,
      ...(hc.MaskedPaths ? { maskedPaths: [...hc.MaskedPaths] } : {}),
      ...(hc.ReadonlyPaths ? { readonlyPaths: [...hc.ReadonlyPaths] } : {}),
    },
  };
}

const STATUS_RUNNING: ReadonlySet<ContainerStatus> = new Set(['running', 'paused', 'restarting']);

/** docker's HostConfig order of the resource fields (container.Resources), then OomScoreAdj's place. */
const RESOURCE_ORDER: ReadonlyArray<keyof ResourceConfig> = [
  'CpuShares', 'Memory', 'NanoCpus', 'CgroupParent', 'BlkioWeight', 'BlkioWeightDevice', 'BlkioDeviceReadBps',
  'BlkioDeviceWriteBps', 'BlkioDeviceReadIOps', 'BlkioDeviceWriteIOps', 'CpuPeriod', 'CpuQuota', 'CpuRealtimePeriod',
  'CpuRealtimeRuntime', 'CpusetCpus', 'CpusetMems', 'Devices', 'DeviceCgroupRules', 'DeviceRequests', 'KernelMemory',
  'KernelMemoryTCP', 'MemoryReservation', 'MemorySwap', 'MemorySwappiness', 'OomKillDisable', 'PidsLimit',
];
const RESOURCE_TAIL: ReadonlyArray<keyof ResourceConfig> = ['CpuCount', 'CpuPercent', 'IOMaximumIOps', 'IOMaximumBandwidth'];

/** A pod namespace as docker names a joined one ("container:<id>"), the host's, or the default. */
function nsMode(c: Container, ns: 'ipc' | 'pid' | 'uts', own: string): string {
  const j = c.config.pod?.namespaces[ns];
  const joined = ns === 'uts' ? undefined : c.config.sharedNamespaces?.[ns];
  if (joined) return `container:${joined}`;
  if (ns === 'ipc' && c.config.ipcShareable) return 'shareable';
  return j === 'host' || c.config.hostNamespaces?.[ns] ? 'host' : j ? `container:${c.config.pod!.id}` : own;
}

/**
 * docker 20.10's HostConfig, every field in its order with its zero value (clients index
 * LogConfig, RestartPolicy, PortBindings ... without checking that they are there).
 */
function hostConfigView(c: Container) {
  const k = c.config;
  const r = k.resources;
  const ordered = (keys: ReadonlyArray<keyof ResourceConfig>) => Object.fromEntries(keys.map((x) => [x, r[x]]));
  const known = new Set<string>([...RESOURCE_ORDER, ...RESOURCE_TAIL, 'OomScoreAdj']);
  const extra = Object.fromEntries(Object.entries(r).filter(([x]) => !known.has(x)));
  const privileged = k.security.privileged;
  const net = networkHostConfigView(c);
  const groups = [...k.security.supplementalGroups.map(String), ...(k.groupNames ?? [])];
  return {
    Binds: net.Binds,
    ContainerIDFile: k.containerIdFile ?? '',
    LogConfig: { Type: k.logDriver ?? 'json-file', Config: { ...k.logOpts } as Record<string, string> },
    NetworkMode: net.NetworkMode as string,
    PortBindings: net.PortBindings as Record<string, unknown>,
    RestartPolicy: net.RestartPolicy,
    AutoRemove: k.autoRemove,
    VolumeDriver: '',
    VolumesFrom: net.VolumesFrom,
    CapAdd: k.security.capAdd.length ? k.security.capAdd : null,
    CapDrop: k.security.capDrop.length ? k.security.capDrop : null,
    CgroupnsMode: k.cgroupns ?? 'host',
    Dns: net.Dns, DnsOptions: net.DnsOptions, DnsSearch: net.DnsSearch,
    ExtraHosts: net.ExtraHosts,
    GroupAdd: groups.length ? groups : null,
    IpcMode: nsMode(c, 'ipc', 'private'),
    Cgroup: '',
    Links: null,
    OomScoreAdj: r.OomScoreAdj,
    PidMode: nsMode(c, 'pid', ''),
    Privileged: privileged,
    PublishAllPorts: net.PublishAllPorts,
    ReadonlyRootfs: k.security.readonlyRootfs,
    SecurityOpt: k.security.securityOpt.length ? k.security.securityOpt : null,
    UTSMode: nsMode(c, 'uts', ''),
    UsernsMode: '',
    ShmSize: k.shmSize || DEFAULT_SHM_BYTES,
    Runtime: c.runtime,
    ConsoleSize: k.consoleSize ?? [0, 0],
    Isolation: k.isolation ?? '',
    ...ordered(RESOURCE_ORDER) as Omit<ResourceConfig, 'OomScoreAdj'>,
    Ulimits: k.ulimits.length ? k.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) : null,
    ...ordered(RESOURCE_TAIL),
    ...extra,
    ...(net.Tmpfs ? { Tmpfs: net.Tmpfs } : {}),
    ...(net.Mounts ? { Mounts: net.Mounts } : {}),
    ...(k.init ? { Init: true } : {}),
    ...(k.sysctls && Object.keys(k.sysctls).length ? { Sysctls: k.sysctls } : {}),
    MaskedPaths: privileged ? null : [...(k.security.maskedPaths ?? defaultMaskedPaths())],
    ReadonlyPaths: privileged ? null : [...(k.security.readonlyPaths ?? READONLY_PATHS)],
    // not docker 20.10's (API 1.43 has it): the OCI annotations tsula passes to the runtime
    Annotations: Object.keys(k.annotations).length ? k.annotations : null,
    // iSulad's, only when there is one
    ...(k.hookSpec ? { HookSpec: k.hookSpec } : {}),
  };
}

/** `docker inspect` of a container (GET /containers/{id}/json). */
export function inspectView(c: Container) {
  const k = c.config;
  const s = c.state;
  const ports = portsConfigView(c);
  return {
    Id: c.id,
    Created: c.createdAt,
    Path: [...k.entrypoint, ...k.cmd][0] ?? '',
    Args: [...k.entrypoint, ...k.cmd].slice(1),
    State: {
      Status: s.status, Running: STATUS_RUNNING.has(s.status), Paused: s.status === 'paused', Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled, Dead: s.status === 'dead', Pid: s.pid, ExitCode: s.exitCode, Error: s.error,
      StartedAt: s.startedAt || ZERO_TIME, FinishedAt: s.finishedAt || ZERO_TIME,
      ...(s.health ? {
        Health: {
          Status: s.health.status, FailingStreak: s.health.failingStreak,
          Log: s.health.log.map((l) => ({ Start: l.start, End: l.end, ExitCode: l.exitCode, Output: l.output })),
        },
      } : {}),
    },
    Image: c.image,
    ResolvConfPath: c.paths.resolvConf,
    HostnamePath: c.paths.hostname,
    HostsPath: c.paths.hosts,
    // dockerd has no log file for the none driver
    // dockerd sets none for the local driver either ("the log file implementation would become a stable API")
    LogPath: c.config.logDriver === 'none' || c.config.logDriver === 'local' ? '' : c.paths.log,
    Name: `/${c.name}`,
    RestartCount: s.restartCount,
    Driver: dockerDriverName(c.driver),
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: k.security.apparmor ?? '',
    ExecIDs: null as string[] | null,
    HostConfig: hostConfigView(c),
    GraphDriver: { Name: dockerDriverName(c.driver), Data: null as Record<string, string> | null },
    Mounts: mountsView(c),
    // container.Config's fields in the order dockerd marshals them (Go's struct order), so
    // that the raw JSON reads as dockerd's and as a client's typed struct prints it
    Config: {
      Hostname: k.hostname, Domainname: k.domainname, User: k.user,
      AttachStdin: k.attach.stdin, AttachStdout: k.attach.stdout, AttachStderr: k.attach.stderr,
      ...(ports.ExposedPorts ? { ExposedPorts: ports.ExposedPorts } : {}),
      Tty: k.tty, OpenStdin: k.openStdin, StdinOnce: k.stdinOnce,
      Env: k.env, Cmd: k.cmd.length ? k.cmd : null,
      ...(k.healthcheck ? { Healthcheck: healthcheckToDocker(k.healthcheck) } : {}),
      Image: k.imageRef, Volumes: ports.Volumes, WorkingDir: k.workingDir,
      Entrypoint: k.entrypoint.length ? k.entrypoint : null,
      ...(k.networking?.endpoints[0]?.mac ? { MacAddress: k.networking.endpoints[0].mac } : {}),
      OnBuild: null, Labels: k.labels,
      ...(k.stopSignal ? { StopSignal: k.stopSignal } : {}),
      ...(k.stopTimeout !== undefined ? { StopTimeout: k.stopTimeout } : {}),
    },
  };
}

export type InspectView = ReturnType<typeof inspectView>;
