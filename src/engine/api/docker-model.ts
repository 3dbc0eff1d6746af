// The Docker-shaped API's view of the engine's container model: a create body → CreateSpec,
// a Container → `docker inspect`'s JSON (docker 20.10's field names and zero values). Also
// reads records written before the model was typed (config.v2.json, inspect-shaped).
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';
import type { CreateBody } from '../containers/create.js';
import type { Bind, Container, ContainerStatus, CreateSpec } from '../containers/model.js';
import { RESOURCE_DEFAULTS, resourcesFromBody, type ResourceConfig } from '../containers/resources.js';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

const asList = (v: string[] | string | null | undefined): string[] | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? [v] : v;

/** docker's -v host:container[:ro|rw] (named volumes are not supported yet). */
export function parseBind(spec: string): Bind {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalidArgument(`invalid volume specification: "${spec}": want host-path:container-path[:ro|rw]`);
  const [src, dst, mode = 'rw'] = parts as [string, string, string?];
  if (!path.isAbsolute(src)) throw invalidArgument(`invalid volume specification: "${spec}": named volumes are not supported, the host path must be absolute`);
  if (!path.isAbsolute(dst) || dst === '/') throw invalidArgument(`invalid volume specification: "${spec}": the container path must be absolute and not "/"`);
  if (!['ro', 'rw'].includes(mode)) throw invalidArgument(`invalid volume specification: "${spec}": invalid mode "${mode}"`);
  return { source: path.normalize(src), destination: path.normalize(dst), readonly: mode === 'ro', propagation: 'rprivate', spec };
}

export function networkMode(m: string | null | undefined): 'none' | 'host' {
  const mode = !m || m === 'default' || m === 'bridge' ? 'none' : m;
  if (mode !== 'none' && mode !== 'host') {
    throw invalidArgument(`network mode "${m}" is not supported yet: use --network none or --network host`);
  }
  return mode;
}

/** A validated create body (create.ts's schema) as the engine's CreateSpec. */
export function createSpecFromDocker(b: CreateBody, resources: ResourceConfig): CreateSpec {
  const hc = b.HostConfig ?? {};
  const securityOpt = hc.SecurityOpt ?? [];
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
    ...(b.StopSignal ? { stopSignal: b.StopSignal } : {}),
    autoRemove: !!hc.AutoRemove,
    ...(hc.Runtime ? { runtime: hc.Runtime } : {}),
    binds: (hc.Binds ?? []).map(parseBind),
    devices: [],
    network: networkMode(hc.NetworkMode),
    resources,
    ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    security: {
      privileged: !!hc.Privileged, readonlyRootfs: !!hc.ReadonlyRootfs,
      capAdd: hc.CapAdd ?? [], capDrop: hc.CapDrop ?? [],
      noNewPrivileges: securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
      seccomp: { type: securityOpt.includes('seccomp=unconfined') ? 'unconfined' : 'default' },
      supplementalGroups: [], securityOpt,
    },
  };
}

const STATUS_RUNNING: ReadonlySet<ContainerStatus> = new Set(['running', 'paused', 'restarting']);

/** `docker inspect` of a container (GET /containers/{id}/json). */
export function inspectView(c: Container) {
  const k = c.config;
  const s = c.state;
  return {
    Id: c.id,
    Created: c.createdAt,
    Path: [...k.entrypoint, ...k.cmd][0] ?? '',
    Args: [...k.entrypoint, ...k.cmd].slice(1),
    State: {
      Status: s.status, Running: STATUS_RUNNING.has(s.status), Paused: s.status === 'paused', Restarting: s.status === 'restarting',
      OOMKilled: s.oomKilled, Dead: s.status === 'dead', Pid: s.pid, ExitCode: s.exitCode, Error: s.error,
      StartedAt: s.startedAt || ZERO_TIME, FinishedAt: s.finishedAt || ZERO_TIME,
    },
    Image: c.image,
    ResolvConfPath: c.paths.resolvConf,
    HostnamePath: c.paths.hostname,
    HostsPath: c.paths.hosts,
    LogPath: c.paths.log,
    Name: `/${c.name}`,
    RestartCount: s.restartCount,
    Driver: c.driver,
    Platform: 'linux',
    Config: {
      Hostname: k.hostname, Domainname: k.domainname, User: k.user,
      AttachStdin: k.attach.stdin, AttachStdout: k.attach.stdout, AttachStderr: k.attach.stderr,
      Tty: k.tty, OpenStdin: k.openStdin, StdinOnce: k.stdinOnce,
      Env: k.env, Cmd: k.cmd.length ? k.cmd : null, Image: k.imageRef, Volumes: null, WorkingDir: k.workingDir,
      Entrypoint: k.entrypoint.length ? k.entrypoint : null, Labels: k.labels,
      ...(k.stopSignal ? { StopSignal: k.stopSignal } : {}),
    },
    HostConfig: {
      Binds: k.binds.length ? k.binds.map((b) => b.spec ?? `${b.source}:${b.destination}${b.readonly ? ':ro' : ''}`) : null,
      NetworkMode: k.network === 'pod' ? `container:${k.pod?.id ?? ''}` : k.network,
      AutoRemove: k.autoRemove,
      Runtime: c.runtime,
      ReadonlyRootfs: k.security.readonlyRootfs,
      ...k.resources,
      Ulimits: k.ulimits.length ? k.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })) : null,
      Annotations: Object.keys(k.annotations).length ? k.annotations : null,
      Privileged: k.security.privileged,
      CapAdd: k.security.capAdd.length ? k.security.capAdd : null,
      CapDrop: k.security.capDrop.length ? k.security.capDrop : null,
      SecurityOpt: k.security.securityOpt.length ? k.security.securityOpt : null,
    },
    Mounts: k.binds.map((b) => ({
      Type: 'bind', Source: b.source, Destination: b.destination, Mode: b.readonly ? 'ro' : '', RW: !b.readonly, Propagation: b.propagation,
    })),
    GraphDriver: { Name: c.driver, Data: null },
  };
}

export type InspectView = ReturnType<typeof inspectView>;

/** A record in the format before the typed model (inspect-shaped config.v2.json). */
export interface LegacyRecord {
  Id: string; Created: string; Path: string; Args: string[]; Image: string; Name: string; RestartCount: number; Driver: string;
  ResolvConfPath: string; HostnamePath: string; HostsPath: string; LogPath: string;
  State: { Status: ContainerStatus; Pid: number; ExitCode: number; Error: string; OOMKilled: boolean; StartedAt: string; FinishedAt: string };
  Config: {
    Hostname: string; Domainname: string; User: string; AttachStdin: boolean; AttachStdout: boolean; AttachStderr: boolean;
    Tty: boolean; OpenStdin: boolean; StdinOnce: boolean; Env: string[]; Cmd: string[] | null; Image: string; WorkingDir: string;
    Entrypoint: string[] | null; Labels: Record<string, string>; StopSignal?: string;
  };
  HostConfig: Partial<ResourceConfig> & {
    Binds: string[] | null; NetworkMode: string; AutoRemove: boolean; Runtime: string; ReadonlyRootfs: boolean;
    Ulimits: Array<{ Name: string; Soft: number; Hard: number }> | null; Annotations: Record<string, string> | null;
    Privileged: boolean; CapAdd: string[] | null; CapDrop: string[] | null; SecurityOpt: string[] | null;
  };
  PodId?: string;
}

/** An inspect-shaped record read back into the model (the container keeps its argv). */
export function fromLegacy(r: LegacyRecord): Container {
  const hc = r.HostConfig;
  const zero = (t: string) => (t === ZERO_TIME ? '' : t);
  const entrypoint = r.Config.Entrypoint ?? [];
  const cmd = r.Config.Cmd ?? [];
  const securityOpt = hc.SecurityOpt ?? [];
  return {
    id: r.Id, name: r.Name.replace(/^\//, ''), createdAt: r.Created, image: r.Image, runtime: hc.Runtime, driver: r.Driver,
    config: {
      imageRef: r.Config.Image,
      // a record made when argv was stored as Path/Args only: keep what ran
      entrypoint: entrypoint.length || cmd.length ? entrypoint : [r.Path, ...r.Args],
      cmd, env: r.Config.Env, workingDir: r.Config.WorkingDir, user: r.Config.User, hostname: r.Config.Hostname, domainname: r.Config.Domainname,
      tty: r.Config.Tty, openStdin: r.Config.OpenStdin, stdinOnce: r.Config.StdinOnce,
      attach: { stdin: r.Config.AttachStdin, stdout: r.Config.AttachStdout, stderr: r.Config.AttachStderr },
      labels: r.Config.Labels ?? {}, annotations: hc.Annotations ?? {},
      ...(r.Config.StopSignal ? { stopSignal: r.Config.StopSignal } : {}),
      autoRemove: hc.AutoRemove,
      binds: (hc.Binds ?? []).map(parseBind), devices: [],
      network: hc.NetworkMode === 'host' ? 'host' : 'none',
      resources: { ...RESOURCE_DEFAULTS, ...pickResources(hc) },
      ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
      security: {
        privileged: hc.Privileged, readonlyRootfs: hc.ReadonlyRootfs, capAdd: hc.CapAdd ?? [], capDrop: hc.CapDrop ?? [],
        noNewPrivileges: securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
        seccomp: { type: securityOpt.includes('seccomp=unconfined') ? 'unconfined' : 'default' },
        supplementalGroups: [], securityOpt,
      },
    },
    state: {
      status: r.State.Status, pid: r.State.Pid, exitCode: r.State.ExitCode, error: r.State.Error, oomKilled: r.State.OOMKilled,
      startedAt: zero(r.State.StartedAt), finishedAt: zero(r.State.FinishedAt), restartCount: r.RestartCount,
    },
    paths: { log: r.LogPath, hosts: r.HostsPath, resolvConf: r.ResolvConfPath, hostname: r.HostnamePath },
  };
}

function pickResources(hc: Partial<ResourceConfig>): Partial<ResourceConfig> {
  const out: Partial<ResourceConfig> = {};
  for (const k of Object.keys(RESOURCE_DEFAULTS) as Array<keyof ResourceConfig>) {
    if (hc[k] !== undefined) (out as Record<string, unknown>)[k] = hc[k];
  }
  return out;
}

export { resourcesFromBody };
