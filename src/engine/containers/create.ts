// A create spec resolved against its image into the container the engine keeps (docker's
// rules: a given entrypoint drops the image's cmd, env merges by key, labels merge), and the
// container's own /etc files.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { ImageConfig, ImageRecord } from '../../image/types.js';
import { invalidArgument } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { initialState, type Container, type CreateSpec, type HealthConfig } from './model.js';
import { healthcheckFromDocker } from './health.js';

/**
 * One entry set in an env list, as dockerd's ENV and commit do it: the first entry with its
 * key is replaced in place, else it is appended (a copy; `entry` is "KEY=value" or "KEY").
 */
export function setEnvEntry(env: string[], entry: string): string[] {
  const key = entry.split('=')[0];
  const out = [...env];
  const i = out.findIndex((e) => e.split('=')[0] === key);
  if (i >= 0) out[i] = entry; else out.push(entry);
  return out;
}

/** Env lists merge by key: the request's values win over the image's. */
export function mergeEnv(base: string[], over: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...over]) {
    const k = e.includes('=') ? e.slice(0, e.indexOf('=')) : e;
    out.set(k, e);
  }
  return [...out.values()];
}

export interface ResolveInput {
  id: string;
  name: string;
  spec: CreateSpec;
  image: ImageRecord;
  runtime: string;
  driver: string;
  /** <graph>/containers/<id>: where its own /etc files and log live. */
  containerDir: string;
}

export function resolveContainer(i: ResolveInput): Container {
  const s = i.spec;
  const ic = i.image.config;
  const entrypoint = s.entrypoint ?? ic.Entrypoint ?? [];
  // docker: a new entrypoint drops the image's Cmd
  const cmd = s.cmd?.length ? s.cmd : (s.entrypoint !== undefined ? [] : (ic.Cmd ?? []));
  if (!entrypoint.length && !cmd.length) throw invalidArgument('no command specified');
  const wd = s.workingDir || ic.WorkingDir || '';
  if (wd && !path.isAbsolute(wd)) {
    throw invalidArgument(`the working directory '${wd}' is invalid, it needs to be an absolute path`);
  }
  // dockerd keeps it cleaned (SetupWorkingDirectory's filepath.Clean): "/a/b/.." is "/a"
  const workingDir = wd && !s.cri ? path.posix.normalize(wd).replace(/(.)\/+$/, '$1') : wd;
  const { name: _n, entrypoint: _e, cmd: _c, image: _i, runtime: _r, baseEnv: _b, ...rest } = s;
  const own = (f: string) => path.join(i.containerDir, f);
  // a pod's containers share its /etc files
  const etc = s.pod?.etc ?? { hosts: own('hosts'), resolvConf: own('resolv.conf'), hostname: own('hostname') };
  return {
    id: i.id, name: i.name, createdAt: new Date().toISOString(), image: i.image.id, runtime: i.runtime, driver: i.driver,
    config: {
      ...rest,
      imageRef: s.image, entrypoint, cmd, workingDir,
      hostname: s.hostname || (s.pod ? '' : i.id.slice(0, 12)),
      // docker's merge: an empty User (the CLI always sends one) means the image's
      user: s.user || ic.User || '',
      env: mergeEnv(mergeEnv(s.baseEnv ?? [], ic.Env ?? []), s.env),
      labels: { ...(ic.Labels ?? {}), ...s.labels },
      ...(s.stopSignal || ic.StopSignal ? { stopSignal: s.stopSignal || ic.StopSignal } : {}),
      // an image's HEALTHCHECK is docker's: CRI (kubelet probes) ignores it, as containerd does
      ...(s.cri || s.pod ? {} : mergeHealthcheck(s.healthcheck, ic.Healthcheck)),
    },
    state: initialState(),
    paths: { log: s.logPath || own('container.log'), ...etc },
  };
}

/** The container's own /etc/hostname, /etc/hosts and /etc/resolv.conf (a pod's has the pod's). */
/**
 * /etc/hostname, /etc/hosts and /etc/resolv.conf for the container, bind-mounted at start.
 * Derived files, not synced: a power cut that empties them is repaired at the next start
 * (etcFilesIntact).
 */
export async function writeEtcFiles(c: Container): Promise<void> {
  // a pod's are the pod's; docker networking writes its own (engine/networks/)
  if (c.config.pod || c.config.networking) return;
  const h = c.config.hostname;
  await writeFileAtomic(c.paths.hostname, h + '\n', 0o644, 'none');
  const hosts = c.config.network === 'host'
    ? await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n')
    : `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${h}\n`;
  await writeFileAtomic(c.paths.hosts, hosts, 0o644, 'none');
  const resolv = await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  await writeFileAtomic(c.paths.resolvConf, resolv, 0o644, 'none');
}

/** Are the files writeEtcFiles made still there (hostname and hosts are never empty)? */
export async function etcFilesIntact(c: Container): Promise<boolean> {
  if (c.config.pod) return true;
  const sizes = await Promise.all([c.paths.hostname, c.paths.hosts].map((f) => fs.stat(f).then((st) => st.size, () => 0)));
  return sizes.every((n) => n > 0);
}

/** dockerd's merge: the image's healthcheck, each field the create left unset taken from it. */
function mergeHealthcheck(own: HealthConfig | undefined, image: ImageConfig['Healthcheck']): { healthcheck?: HealthConfig } {
  if (!image) return own ? { healthcheck: own } : {};
  const img = healthcheckFromDocker(image);
  if (!own) return { healthcheck: img };
  return {
    healthcheck: {
      test: own.test.length ? own.test : img.test,
      interval: own.interval || img.interval,
      timeout: own.timeout || img.timeout,
      startPeriod: own.startPeriod || img.startPeriod,
      retries: own.retries || img.retries,
      ...(own.startInterval || img.startInterval ? { startInterval: own.startInterval || img.startInterval } : {}),
    },
  };
}
