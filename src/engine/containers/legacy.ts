// Records written before the engine's model was typed: docker-inspect-shaped JSON in
// config.v2.json. Read back into the model at load (and written anew as container.json at
// the next change); nothing writes this form any more.
import { RESOURCE_DEFAULTS, type ResourceConfig } from './resources.js';
import type { Container, ContainerStatus } from './model.js';
import { parseBind } from './binds.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

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

