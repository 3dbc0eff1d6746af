// /_ping, /version, /info, /events.
import * as net from 'node:net';
import * as os from 'node:os';
import { promises as fs } from 'node:fs';
import { randomUUID } from '../../common/crypto.js';
import * as path from 'node:path';
import { writeFileAtomic } from '../../common/fsutil.js';
import type { Router } from './http.js';
import { sendJson } from './http.js';
import { running } from '../containers/model.js';
import type { ContainerService } from '../containers/service.js';
import type { ImageStore } from '../../image/types.js';
import { dockerDriverName, type SnapshotDriver } from '../../storage/types.js';
import type { DaemonConfig } from '../config.js';
import { EventBus, type EventFilter } from '../events.js';
import { invalidArgument } from '../../common/errors.js';
import { BUILD_TIME, GIT_COMMIT } from '../../common/buildinfo.js';
import { HostInfo, shimRuntimesOnPath, type Component } from './host-info.js';
import { FilterArgs } from './filters.js';
import { infoForVersion } from './compat-system.js';
import { compareStrings } from '../../common/compare.js';
import { API_VERSION, MIN_API_VERSION, VERSION, versionAtLeast } from './version.js';

export { VERSION } from './version.js';

/**
 * A sandboxer this daemon runs containers in (tsula's own /info field): the runtime that
 * uses it, its kind, its Controller socket, and its state dir when tsulad starts it itself
 * (where `tsula sandbox ls` reaches its Admin service).
 */
export interface SandboxerInfo {
  Runtime: string;
  Name: string;
  Address: string;
  State?: string;
}

export interface SystemDeps {
  cs: ContainerService;
  images: ImageStore;
  driver: SnapshotDriver;
  config: DaemonConfig;
  events: EventBus;
  runtimePaths: Record<string, string>;
  sandboxers: SandboxerInfo[];
}

async function osName(): Promise<string> {
  const text = await fs.readFile('/etc/os-release', 'utf8').catch(() => '');
  return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? 'Linux';
}

/**
 * The engine's ID (/info's ID): <graph>/engine-id, made with a new UUID when there is none
 * (dockerd's loadOrCreateID), read once.
 */
let engineId: Promise<string> | undefined;
function engineIdOf(graph: string): Promise<string> {
  return engineId ??= (async () => {
    const file = path.join(graph, 'engine-id');
    try {
      return await fs.readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const id = randomUUID();
      await writeFileAtomic(file, id, 0o600);
      return id;
    }
  })().catch((e: unknown) => { engineId = undefined; throw e; });
}

async function cgroupVersion(): Promise<string> {
  return (await fs.stat('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false)) ? '2' : '1';
}

export function systemRoutes(r: Router, d: SystemDeps): void {
  // dockerd's pingHandler: "OK" with its length (HEAD: none), no swarm, and the builder it
  // has: the classic one ("1", dockerd's with BuildKit off), so clients do not try a BuildKit session
  const ping = async ({ req, res }: { req: import('node:http').IncomingMessage; res: import('node:http').ServerResponse | null }) => {
    const body = req.method === 'HEAD' ? '' : 'OK';
    res!.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length,
      'Cache-Control': 'no-cache, no-store, must-revalidate', Pragma: 'no-cache', Swarm: 'inactive', 'Builder-Version': '1',
    });
    res!.end(body);
  };
  r.add('GET', '/_ping', ping);

  const host = new HostInfo();
  const arch = process.arch === 'x64' ? 'amd64' : process.arch;
  // what runs the engine stands where dockerd names its Go
  const goVersion = `node ${process.version}`;

  r.add('GET', '/version', async ({ res }) => {
    const components: Component[] = [{
      Name: 'Engine', Version: VERSION,
      Details: {
        ApiVersion: API_VERSION, Arch: arch, BuildTime: BUILD_TIME, Experimental: 'false', GitCommit: GIT_COMMIT,
        GoVersion: goVersion, KernelVersion: os.release(), MinAPIVersion: MIN_API_VERSION, Os: 'linux',
      },
    }];
    for (const [name, bin] of [['runc', d.runtimePaths.runc], ['conmon', d.config.conmonPath]] as const) {
      if (!bin) continue;
      const t = await host.tool(bin);
      if (t.version) components.push({ Name: name, Version: t.version, Details: { GitCommit: t.commit } });
    }
    components.push({ Name: 'node', Version: process.version, Details: { GitCommit: '' } });
    sendJson(res!, 200, {
      Platform: { Name: 'tsula' }, Components: components,
      Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, GitCommit: GIT_COMMIT, GoVersion: goVersion,
      Os: 'linux', Arch: arch, KernelVersion: os.release(), BuildTime: BUILD_TIME,
    });
  });

  r.add('GET', '/info', async ({ res, version }) => {
    const cs = d.cs.list();
    const images = await d.images.list();
    const store = await d.images.usage();
    const { features, warnings } = await host.hostFeatures();
    const runc = d.runtimePaths.runc ? await host.tool(d.runtimePaths.runc) : { version: '', commit: '' };
    sendJson(res!, 200, infoForVersion({
      ID: await engineIdOf(d.config.graph), Containers: cs.length,
      ContainersRunning: cs.filter((c) => running(c.state) && c.state.status !== 'paused').length,
      ContainersPaused: cs.filter((c) => c.state.status === 'paused').length,
      ContainersStopped: cs.filter((c) => !running(c.state)).length,
      Images: images.length,
      Driver: dockerDriverName(d.driver.name),
      DriverStatus: [...d.driver.status(), ['Layers', String(store.layers)], ['Layers Size', humanSize(store.layersSize)],
        ['Blobs', String(store.blobs)], ['Blobs Size', humanSize(store.blobsSize)]],
      // tsula's own: the image store's footprint in bytes (docker has no such field).
      StoreSize: { Images: store.images, Layers: store.layers, LayersSize: store.layersSize, Blobs: store.blobs, BlobsSize: store.blobsSize, Total: store.layersSize + store.blobsSize },
      SystemStatus: null,
      Plugins: { Volume: ['local'], Network: ['bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
      ...features,
      Debug: d.config.logLevel === 'debug', NFd: await openFds(),
      // no goroutines: the event loop's live handles and requests stand for them (never 0, as dockerd's)
      NGoroutines: process.getActiveResourcesInfo().length, SystemTime: new Date().toISOString(),
      LoggingDriver: 'json-file', CgroupDriver: 'cgroupfs', CgroupVersion: await cgroupVersion(),
      NEventsListener: 0,
      KernelVersion: os.release(), OperatingSystem: await osName(), OSVersion: await osVersion(), OSType: 'linux',
      Architecture: os.machine(), IndexServerAddress: 'https://index.docker.io/v1/', RegistryConfig: registryConfigView(d.config),
      NCPU: os.cpus().length, MemTotal: os.totalmem(), GenericResources: null,
      DockerRootDir: d.config.graph, HttpProxy: maskCredentials(process.env.HTTP_PROXY ?? process.env.http_proxy ?? ''),
      HttpsProxy: maskCredentials(process.env.HTTPS_PROXY ?? process.env.https_proxy ?? ''), NoProxy: process.env.NO_PROXY ?? process.env.no_proxy ?? '',
      Name: os.hostname(), Labels: [], ExperimentalBuild: false, ServerVersion: VERSION,
      Runtimes: await runtimeList(d, versionAtLeast(version, '1.44') ? host : undefined),
      DefaultRuntime: d.config.defaultRuntime,
      // dockerd's fillDefaultAddressPools: the configured pools only (omitempty)
      ...(d.config.addressPools?.length ? { DefaultAddressPools: d.config.addressPools.map((p) => ({ Base: p.base, Size: p.size })) } : {}),
      Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
      LiveRestoreEnabled: true, Isolation: '', InitBinary: d.config.initPath || 'docker-init',
      ContainerdCommit: { ID: '', Expected: '' }, RuncCommit: { ID: runc.commit, Expected: runc.commit }, InitCommit: { ID: '', Expected: '' },
      // below API 1.25 dockerd gave the bare names, and said its execution driver was gone
      SecurityOptions: versionAtLeast(version, '1.25') ? ['name=seccomp,profile=builtin'] : ['seccomp'],
      ExecutionDriver: versionAtLeast(version, '1.25') ? 'conmon' : '<not supported>',
      // tsula's own
      Sandboxers: d.sandboxers,
      Warnings: warnings,
    }, version));
  });

  // moby's getEvents: past events only for a time window; with until in the past the
  // stream is that replay alone, with until ahead it stops then
  r.add('GET', '/events', async ({ req, res, query, version }) => {
    const f: EventFilter = {};
    const since = query.get('since');
    const until = query.get('until');
    if (since) f.since = parseTime(since, 'since');
    if (until) f.until = parseTime(until, 'until');
    if (f.since !== undefined && f.until !== undefined && f.until < f.since) {
      throw invalidArgument(`\`since\` time (${since}) cannot be after \`until\` time (${until})`);
    }
    f.filters = FilterArgs.parse(query.get('filters')).toRecord();
    // API 1.52: the stream's type is negotiated (newline-delimited JSON or RFC 7464's JSON
    // text sequences; asked for neither, the old application/json). dockerd does it for every
    // version; older requests keep what tsula always answered (docker-py sends Accept: */*)
    const type = versionAtLeast(version, '1.52') ? eventsContentType(req.headers.accept) : 'application/json';
    res!.writeHead(200, { 'Content-Type': type });
    res!.flushHeaders();
    const prefix = type === 'application/json-seq' ? '\x1e' : '';
    const leftMs = f.until === undefined ? Infinity : Number(f.until / 1_000_000n) - Date.now();
    const unsubscribe = d.events.subscribe(f, (_e, json) => res!.write(prefix + json + '\n'), leftMs > 0);
    if (leftMs <= 0) { res!.end(); return; }
    let timer: NodeJS.Timeout | undefined;
    const done = () => { clearTimeout(timer); unsubscribe(); if (!res!.writableEnded) res!.end(); };
    res!.on('close', done);
    // a timer holds at most 2^31-1 ms (~24 days): re-arm until until
    const arm = () => {
      const left = Number(f.until! / 1_000_000n) - Date.now();
      if (left <= 0) done(); else timer = setTimeout(arm, Math.min(left, 2 ** 31 - 1));
    };
    if (f.until !== undefined) arm();
  });
}

/**
 * Every runtime a container may name: the configured ones (runc, ...), the sandboxers'
 * (vmm and cri-sandboxers' handlers) and each shim v2 on PATH (io.containerd.runc.v2, ...),
 * as docker's {name: {path}}.
 */
async function runtimeList(d: SystemDeps, withStatus?: HostInfo): Promise<Record<string, { path: string; status?: Record<string, string> }>> {
  const out: Record<string, { path: string; status?: Record<string, string> }> = {};
  for (const [k, v] of Object.entries(await shimRuntimesOnPath())) out[k] = { path: v };
  for (const sb of d.sandboxers) out[sb.Runtime] = { path: `tsula-sandboxer (${sb.Name}) at ${sb.Address}` };
  for (const [k, v] of Object.entries(d.runtimePaths)) {
    // API 1.44: an OCI runtime's status carries its features document, as dockerd's does
    const features = withStatus && !k.startsWith('io.containerd.') ? await withStatus.runtimeFeatures(v) : '';
    out[k] = { path: v, ...(features ? { status: { 'org.opencontainers.runtime-spec.features': features } } : {}) };
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => compareStrings(a, b)));
}

async function osVersion(): Promise<string> {
  const text = await fs.readFile('/etc/os-release', 'utf8').catch(() => '');
  return /^VERSION_ID="?([^"\n]*)"?/m.exec(text)?.[1] ?? '';
}

async function openFds(): Promise<number> {
  return (await fs.readdir('/proc/self/fd').catch(() => [])).length;
}

/** One entry of docker's RegistryConfig.IndexConfigs. */
export interface IndexInfo { Name: string; Mirrors: string[]; Secure: boolean; Official: boolean }

/**
 * docker's RegistryConfig. insecure-registries split as docker splits them: CIDRs (loopback's
 * first: tsula, like docker, takes loopback registries as insecure) and names, which become
 * IndexConfigs entries with Secure false. IndexConfigs also carries each registry's mirrors:
 * docker fills in docker.io's only, tsula every registry "registry-mirrors" names (its
 * per-registry view); Mirrors stays docker's list, docker.io's mirrors.
 */
export function registryConfigView(c: Pick<DaemonConfig, 'insecureRegistries' | 'registryMirrors' | 'registryMirrorsByHost'>): {
  InsecureRegistryCIDRs: string[]; IndexConfigs: Record<string, IndexInfo>; Mirrors: string[];
} {
  const cidrs = ['::1/128', '127.0.0.0/8'];
  const insecureNames = new Set<string>();
  for (const raw of c.insecureRegistries) {
    const e = raw.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    const cidr = /^(.+)\/\d{1,3}$/.exec(e);
    if (cidr && net.isIP(cidr[1]!)) { if (!cidrs.includes(e)) cidrs.push(e); } else if (e) insecureNames.add(e.toLowerCase());
  }
  const index: Record<string, IndexInfo> = {
    'docker.io': { Name: 'docker.io', Mirrors: c.registryMirrors, Secure: true, Official: true },
  };
  for (const name of insecureNames) index[name] ??= { Name: name, Mirrors: [], Secure: false, Official: false };
  for (const [host, mirrors] of Object.entries(c.registryMirrorsByHost)) {
    index[host] ??= { Name: host, Mirrors: [], Secure: !insecureNames.has(host), Official: false };
    index[host].Mirrors = mirrors;
  }
  return { InsecureRegistryCIDRs: cidrs, IndexConfigs: index, Mirrors: c.registryMirrors };
}

/** docker's units.HumanSize: 3 significant digits, decimal units ("4.19MB"). */
function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${Number(n.toPrecision(3))}${units[i]}`;
}

/**
 * An events time as ns since 1970: docker's CLI sends unix seconds with up to 9 decimals
 * ("1700000000.123456789"); raw clients may give an RFC 3339 time or a duration ("10m").
 */
function parseTime(v: string, name: string): bigint {
  const ts = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (ts) return BigInt(ts[1]!) * 1_000_000_000n + BigInt((ts[2] ?? '').padEnd(9, '0'));
  const dur = /^(\d+)(s|m|h)$/.exec(v);
  let ms: number;
  if (dur) ms = Date.now() - Number(dur[1]) * { s: 1, m: 60, h: 3600 }[dur[2] as 's' | 'm' | 'h'] * 1000;
  else ms = Date.parse(v);
  if (Number.isNaN(ms)) throw invalidArgument(`invalid value for ${name}: "${v}"`);
  return BigInt(Math.round(ms)) * 1_000_000n;
}

/**
 * gddo's NegotiateContentType over dockerd's offers (x-ndjson, json-seq; application/json
 * when the Accept header names neither): the highest q, an exact match before a "type/"
 * wildcard before the "any" one, the first offer on a tie.
 */
export function eventsContentType(accept: string | undefined): string {
  const offers = ['application/x-ndjson', 'application/json-seq'];
  const specs = (accept ?? '').split(',').map((part) => {
    const [value = '', ...params] = part.trim().toLowerCase().split(';').map((x) => x.trim());
    const qp = params.find((p) => p.startsWith('q='));
    return { value, q: qp ? Number(qp.slice(2)) : 1 };
  }).filter((x) => x.value && !Number.isNaN(x.q));
  let best = 'application/json';
  let bestQ = -1;
  let bestWild = 3;
  for (const offer of offers) {
    for (const spec of specs) {
      if (spec.q === 0 || spec.q < bestQ) continue;
      const wild = spec.value === '*/*' ? 2 : spec.value.endsWith('/*') ? 1 : 0;
      const match = wild === 2 || (wild === 1 ? offer.startsWith(spec.value.slice(0, -1)) : spec.value === offer);
      if (match && (spec.q > bestQ || bestWild > wild)) { best = offer; bestQ = spec.q; bestWild = wild; }
    }
  }
  return best;
}

/** A proxy URL's user and password as dockerd shows them (maskCredentials): xxxxx:xxxxx. */
export function maskCredentials(url: string): string {
  return url.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)[^@/?#]*@/, '$1xxxxx:xxxxx@');
}
