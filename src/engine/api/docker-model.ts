// The Docker-shaped API's view of the engine's container model: a create body → CreateSpec,
// a Container → `docker inspect`'s JSON (docker 20.10's field names and zero values). Also
// reads records written before the model was typed (config.v2.json, inspect-shaped).
import { invalidArgument } from '../../common/errors.js';
import type { Container, ContainerStatus, CreateSpec } from '../containers/model.js';
import { z } from 'zod';
import { resourceShape, type ResourceConfig } from '../containers/resources.js';
import { numericGroups, runConfigShape, runHostConfigShape, runOptionsFromDocker } from './docker-runopts.js';
import { mountsView, networkHostConfigView, portsConfigView } from './docker-views.js';

export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** POST /containers/create's body, as far as tsula reads it. */
const strList = z.array(z.string()).nullish();
export const createBodySchema = z.object({
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
  ...runConfigShape,
  HostConfig: z.object({
    Binds: strList,
    NetworkMode: z.string().nullish(),
    AutoRemove: z.boolean().nullish(),
    Runtime: z.string().nullish(),
    ReadonlyRootfs: z.boolean().nullish(),
    ...resourceShape,
    OomScoreAdj: z.number().refine(Number.isSafeInteger, 'must be an integer').nullish(),
    Ulimits: z.array(z.object({ Name: z.string(), Soft: z.number().int(), Hard: z.number().int() })).nullish(),
    Annotations: z.record(z.string(), z.string()).nullish(),
    Privileged: z.boolean().nullish(),
    CapAdd: strList,
    CapDrop: strList,
    SecurityOpt: strList,
    ...runHostConfigShape,
  }).passthrough().nullish(),
}).passthrough();

export type CreateBody = z.infer<typeof createBodySchema>;

const asList = (v: string[] | string | null | undefined): string[] | undefined =>
  v === null || v === undefined ? undefined : typeof v === 'string' ? [v] : v;

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
    ...runOptionsFromDocker(b, hc, hc.Binds ?? []) as Pick<CreateSpec, 'binds' | 'devices' | 'network'>,
    resources,
    ulimits: (hc.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    security: {
      privileged: !!hc.Privileged, readonlyRootfs: !!hc.ReadonlyRootfs,
      capAdd: hc.CapAdd ?? [], capDrop: hc.CapDrop ?? [],
      noNewPrivileges: securityOpt.some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
      seccomp: { type: securityOpt.includes('seccomp=unconfined') ? 'unconfined' : 'default' },
      supplementalGroups: numericGroups(hc), securityOpt,
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
      ...portsConfigView(c),
      Env: k.env, Cmd: k.cmd.length ? k.cmd : null, Image: k.imageRef, WorkingDir: k.workingDir,
      Entrypoint: k.entrypoint.length ? k.entrypoint : null, Labels: k.labels,
      ...(k.stopSignal ? { StopSignal: k.stopSignal } : {}),
    },
    HostConfig: {
      ...networkHostConfigView(c),
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
    Mounts: mountsView(c),
    GraphDriver: { Name: c.driver, Data: null },
  };
}

export type InspectView = ReturnType<typeof inspectView>;
