// docker build over the Docker-shaped API: POST /build (the legacy builder, engine/build/),
// loaded with the first build (archive.ts routes it: an idle daemon never maps the builder),
// its query read as dockerd's newImageBuildOptions reads it, the answer a stream of JSON
// messages once the first line is out (an error before that is a plain HTTP error, as
// dockerd's errf does); -q keeps the log back and gives only the image id (the log too when
// the build fails). The client going away aborts the build.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { boolParam, intParam } from './http.js';
import { errorMessage, invalidArgument, unimplemented } from '../../common/errors.js';
import { familiarString, parseReference } from '../../image/reference.js';
import type { ContainerService } from '../containers/service.js';
import { createSpecFromBody } from './docker-model.js';
import { Builder, jsonOutput, StepError, type BuildBackend, type BuildOptions, type StepHostConfig } from '../build/index.js';
import type { EventBus } from '../events.js';
import type { RunConfig } from '../build/runconfig.js';
import { versionAtLeast } from './version.js';

/** A step's container from docker's Config and HostConfig, as POST /containers/create makes one. */
export function stepContainerCreator(cs: ContainerService) {
  return async (config: RunConfig, host: StepHostConfig): Promise<{ Id: string; Warnings: string[] }> =>
    cs.create((await createSpecFromBody({ ...config, HostConfig: host })).spec);
}

function jsonParam<T>(q: URLSearchParams, name: string, what: string, check: (v: unknown) => v is T, empty: T): T {
  const raw = q.get(name);
  if (!raw) return empty;
  let v: unknown;
  try { v = JSON.parse(raw); } catch (e) { throw invalidArgument(`error reading ${what}: ${errorMessage(e)}`); }
  if (v === null) return empty;
  if (!check(v)) throw invalidArgument(`error reading ${what}: not the expected JSON object`);
  return v;
}
const isMap = (nullable: boolean) => (v: unknown): v is Record<string, string> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' || (nullable && x === null));

/** The build's options from its query (dockerd's newImageBuildOptions). */
export function buildOptions(q: URLSearchParams, version: string): BuildOptions {
  if (q.get('version') === '2') throw invalidArgument('BuildKit is not supported by tsulad: build with the classic builder (DOCKER_BUILDKIT=0)');
  if (q.get('remote')) throw unimplemented('tsulad builds from the context the client sends: remote contexts (git or URL) are not supported');
  if (boolParam(q, 'squash')) throw invalidArgument('squash is only supported with experimental mode');
  if (q.getAll('securityopt').length) throw invalidArgument('The daemon on this platform does not support setting security options on build');
  const tags = q.getAll('t').map((t) => {
    const p = parseReference(t);
    if (p.digest) throw invalidArgument('build tag cannot contain a digest');
    return familiarString(p);
  });
  const shm = q.get('shmsize');
  if (shm && !/^\d+$/.test(shm)) throw invalidArgument(`strconv.ParseInt: parsing "${shm}": invalid syntax`);
  const num = (n: string) => intParam(q, n);
  const host: StepHostConfig = {
    NetworkMode: q.get('networkmode') || 'default',
    LogConfig: { Type: 'none', Config: {} },
    ...(shm ? { ShmSize: Number(shm) } : {}),
    ...(q.getAll('extrahosts').length ? { ExtraHosts: q.getAll('extrahosts') } : {}),
    ...(num('cpushares') ? { CpuShares: num('cpushares') } : {}),
    ...(num('cpuperiod') ? { CpuPeriod: num('cpuperiod') } : {}),
    ...(num('cpuquota') ? { CpuQuota: num('cpuquota') } : {}),
    ...(q.get('cpusetcpus') ? { CpusetCpus: q.get('cpusetcpus')! } : {}),
    ...(q.get('cpusetmems') ? { CpusetMems: q.get('cpusetmems')! } : {}),
    ...(num('memory') ? { Memory: num('memory') } : {}),
    ...(num('memswap') ? { MemorySwap: num('memswap') } : {}),
    ...(q.get('cgroupparent') ? { CgroupParent: q.get('cgroupparent')! } : {}),
  };
  const forceRemove = boolParam(q, 'forcerm');
  return {
    dockerfile: q.get('dockerfile') || 'Dockerfile',
    tags,
    buildArgs: jsonParam(q, 'buildargs', 'build args', isMap(true), {}),
    labels: jsonParam(q, 'labels', 'labels', isMap(false), {}),
    noCache: boolParam(q, 'nocache'),
    // cachefrom (a JSON list of image names): the only images the cache may take steps from
    cacheFrom: jsonParam(q, 'cachefrom', 'cache from', (v): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string'), []),
    // rm defaults to true (API >= 1.12); forcerm implies it
    remove: forceRemove || q.get('rm') === null || q.get('rm') === '' || boolParam(q, 'rm'),
    forceRemove,
    pull: boolParam(q, 'pull'),
    target: q.get('target') ?? '',
    // platform (1.32): the builder parses it (a bad one is its 400) and every FROM defaults to it
    platform: versionAtLeast(version, '1.32') ? q.get('platform') ?? '' : '',
    host,
  };
}

export async function postBuild(builder: Builder, req: IncomingMessage, res: ServerResponse, q: URLSearchParams, version: string): Promise<void> {
  const quiet = boolParam(q, 'q');
  let opts: BuildOptions;
  try {
    opts = buildOptions(q, version);
  } catch (e) {
    req.resume();
    throw e;
  }
  let started = false;
  const send = (line: string) => {
    if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
    started = true;
    res.write(line);
  };
  const held: string[] = [];
  const out = jsonOutput(quiet ? (l) => held.push(l) : send);
  // the client leaving (Ctrl-C) stops the build: its RUN container is killed and removed
  const abort = new AbortController();
  res.on('close', () => { if (!res.writableFinished) abort.abort(); });
  try {
    const id = await builder.build(req, opts, out, abort.signal);
    if (quiet) jsonOutput(send).stdout(`${id}\n`);
    res.end();
  } catch (e) {
    req.resume();
    if (quiet && held.length) for (const l of held) send(l);
    if (!started) throw e;
    const message = errorMessage(e);
    const detail = e instanceof StepError ? { code: e.code, message } : { message };
    send(`${JSON.stringify({ errorDetail: detail, error: message })}\r\n`);
    res.end();
  }
}

/** The builder, made with the first build (its work dir: <graph>/build, emptied at start). */
export function newBuilder(be: Omit<BuildBackend, 'createContainer'>, events: EventBus, workRoot: string): Builder {
  return new Builder({ ...be, createContainer: stepContainerCreator(be.containers) }, events, workRoot);
}
