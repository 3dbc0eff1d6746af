// Turning a Docker-shaped create request plus the image config into a container record.
import { z } from 'zod';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ImageRecord } from '../../image/types.js';
import type { ContainerConfig, ContainerRecord, HostConfig, MountPoint } from './record.js';
import { initialState } from './record.js';
import { invalidArgument } from '../../common/errors.js';
import { resourceShape, type ResourceConfig } from './resources.js';
import { writeFileAtomic } from '../../common/fsutil.js';

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
  }).passthrough().nullish(),
}).passthrough();

export type CreateBody = z.infer<typeof createBodySchema>;

const asList = (v: string[] | string | null | undefined): string[] | null | undefined =>
  typeof v === 'string' ? [v] : v;

/** Env lists merge by key: the request's values win over the image's. */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    out.set(k, e);
  }
  return [...out.values()];
}

export function parseBind(spec: string): MountPoint {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3) throw invalidArgument(`invalid volume specification: "${spec}": want host-path:container-path[:ro|rw]`);
  const [src, dst, mode = 'rw'] = parts;
  if (!path.isAbsolute(src)) throw invalidArgument(`invalid volume specification: "${spec}": named volumes are not supported, the host path must be absolute`);
  if (!path.isAbsolute(dst) || dst === '/') throw invalidArgument(`invalid volume specification: "${spec}": the container path must be absolute and not "/"`);
  if (!['ro', 'rw'].includes(mode)) throw invalidArgument(`invalid volume specification: "${spec}": invalid mode "${mode}"`);
  return { Type: 'bind', Source: path.normalize(src), Destination: path.normalize(dst), Mode: mode === 'ro' ? 'ro' : '', RW: mode !== 'ro', Propagation: 'rprivate' };
}

export function networkMode(m: string | null | undefined): string {
  const mode = !m || m === 'default' || m === 'bridge' ? 'none' : m;
  if (mode !== 'none' && mode !== 'host') {
    throw invalidArgument(`network mode "${m}" is not supported yet: use --network none or --network host`);
  }
  return mode;
}

export interface BuildInput {
  id: string;
  name: string;
  body: CreateBody;
  image: ImageRecord;
  imageRef: string;
  runtime: string;
  driver: string;
  containerDir: string;
  /** The body's resource fields, checked (resources.ts verifyResources). */
  resources: ResourceConfig;
}

export function buildRecord(i: BuildInput): ContainerRecord {
  const b = i.body;
  const ic = i.image.config;
  const hc = b.HostConfig ?? {};
  const userEntry = asList(b.Entrypoint);
  const entrypoint = userEntry !== undefined && userEntry !== null
    ? (userEntry.length === 1 && userEntry[0] === '' ? [] : userEntry)
    : (ic.Entrypoint ?? []);
  // docker: a new entrypoint drops the image's Cmd
  const userCmd = asList(b.Cmd);
  const cmd = userCmd && userCmd.length ? userCmd : (userEntry !== undefined && userEntry !== null ? [] : (ic.Cmd ?? []));
  const argv = [...entrypoint, ...cmd];
  if (!argv.length) throw invalidArgument('no command specified');
  const config: ContainerConfig = {
    Hostname: b.Hostname || i.id.slice(0, 12),
    Domainname: b.Domainname ?? '',
    User: b.User ?? ic.User ?? '',
    AttachStdin: !!b.AttachStdin, AttachStdout: !!b.AttachStdout, AttachStderr: !!b.AttachStderr,
    Tty: !!b.Tty, OpenStdin: !!b.OpenStdin, StdinOnce: !!b.StdinOnce,
    Env: mergeEnv(ic.Env ?? [], b.Env ?? []),
    Cmd: cmd.length ? cmd : null,
    Image: i.imageRef,
    Volumes: null,
    WorkingDir: b.WorkingDir || ic.WorkingDir || '',
    Entrypoint: entrypoint.length ? entrypoint : null,
    Labels: { ...(ic.Labels ?? {}), ...(b.Labels ?? {}) },
    StopSignal: b.StopSignal || ic.StopSignal || undefined,
  };
  if (config.WorkingDir && !path.isAbsolute(config.WorkingDir)) {
    throw invalidArgument(`the working directory '${config.WorkingDir}' is invalid: it needs to be an absolute path`);
  }
  const hostConfig: HostConfig = {
    Binds: hc.Binds ?? null,
    NetworkMode: networkMode(hc.NetworkMode),
    AutoRemove: !!hc.AutoRemove,
    Runtime: i.runtime,
    ReadonlyRootfs: !!hc.ReadonlyRootfs,
    ...i.resources,
    Ulimits: hc.Ulimits ?? null,
    Annotations: hc.Annotations ?? null,
    Privileged: !!hc.Privileged,
    CapAdd: hc.CapAdd ?? null,
    CapDrop: hc.CapDrop ?? null,
    SecurityOpt: hc.SecurityOpt ?? null,
  };
  return {
    Id: i.id,
    Created: new Date().toISOString(),
    Path: argv[0],
    Args: argv.slice(1),
    State: initialState(),
    Image: i.image.id,
    ResolvConfPath: path.join(i.containerDir, 'resolv.conf'),
    HostnamePath: path.join(i.containerDir, 'hostname'),
    HostsPath: path.join(i.containerDir, 'hosts'),
    LogPath: path.join(i.containerDir, 'container.log'),
    Name: '/' + i.name,
    RestartCount: 0,
    Driver: i.driver,
    Platform: 'linux',
    Config: config,
    HostConfig: hostConfig,
    Mounts: (hostConfig.Binds ?? []).map(parseBind),
    GraphDriver: { Name: i.driver, Data: null },
  };
}

/** The container's /etc/hostname, /etc/hosts and /etc/resolv.conf, bind-mounted at start. */
export async function writeEtcFiles(rec: ContainerRecord): Promise<void> {
  const h = rec.Config.Hostname;
  await writeFileAtomic(rec.HostnamePath, h + '\n', 0o644);
  const hosts = rec.HostConfig.NetworkMode === 'host'
    ? await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n')
    : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${h}\n`;
  await writeFileAtomic(rec.HostsPath, hosts, 0o644);
  const resolv = await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  await writeFileAtomic(rec.ResolvConfPath, resolv, 0o644);
}
