// /_ping, /version, /info, /events.
import * as net from 'node:net';
import * as os from 'node:os';
import { promises as fs } from 'node:fs';
import type { Router } from './http.js';
import { sendJson } from './http.js';
import { running } from '../containers/model.js';
import type { ContainerService } from '../containers/service.js';
import type { ImageStore } from '../../image/types.js';
import type { SnapshotDriver } from '../../storage/types.js';
import type { DaemonConfig } from '../config.js';
import { EventBus, type EventFilter } from '../events.js';
import { invalidArgument } from '../../common/errors.js';
import { FilterArgs } from './filters.js';

export const API_VERSION = '1.41';
export const VERSION = '0.1.0';

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

async function cgroupVersion(): Promise<string> {
  return (await fs.stat('/sys/fs/cgroup/cgroup.controllers').then(() => true, () => false)) ? '2' : '1';
}

export function systemRoutes(r: Router, d: SystemDeps): void {
  const ping = async ({ res }: { res: import('node:http').ServerResponse | null }) => {
    res!.writeHead(200, { 'Content-Type': 'text/plain', 'Api-Version': API_VERSION });
    res!.end('OK');
  };
  r.add('GET', '/_ping', ping);

  r.add('GET', '/version', async ({ res }) => {
    sendJson(res!, 200, {
      Platform: { Name: 'tsula' },
      Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, NodeVersion: process.version } }],
      Version: VERSION, ApiVersion: API_VERSION, MinAPIVersion: '1.24', GitCommit: '', GoVersion: `node ${process.version}`,
      Os: 'linux', Arch: process.arch === 'x64' ? 'amd64' : process.arch, KernelVersion: os.release(), BuildTime: '',
    });
  });

  r.add('GET', '/info', async ({ res }) => {
    const cs = d.cs.list();
    const images = await d.images.list();
    const store = await d.images.usage();
    sendJson(res!, 200, {
      ID: os.hostname(), Containers: cs.length,
      ContainersRunning: cs.filter((c) => running(c.state) && c.state.status !== 'paused').length,
      ContainersPaused: cs.filter((c) => c.state.status === 'paused').length,
      ContainersStopped: cs.filter((c) => !running(c.state)).length,
      Images: images.length,
      Driver: d.driver.name,
      DriverStatus: [...d.driver.status(), ['Layers', String(store.layers)], ['Layers Size', humanSize(store.layersSize)],
        ['Blobs', String(store.blobs)], ['Blobs Size', humanSize(store.blobsSize)]],
      // tsula's own: the image store's footprint in bytes (docker has no such field).
      StoreSize: { Images: store.images, Layers: store.layers, LayersSize: store.layersSize, Blobs: store.blobs, BlobsSize: store.blobsSize, Total: store.layersSize + store.blobsSize },
      LoggingDriver: 'k8s-file', CgroupDriver: 'cgroupfs', CgroupVersion: await cgroupVersion(),
      KernelVersion: os.release(), OperatingSystem: await osName(), OSType: 'linux',
      Architecture: os.machine(), NCPU: os.cpus().length, MemTotal: os.totalmem(),
      DockerRootDir: d.config.graph, ExecutionDriver: 'conmon', Name: os.hostname(),
      ServerVersion: VERSION,
      Runtimes: Object.fromEntries(Object.entries(d.runtimePaths).map(([k, v]) => [k, { path: v }])),
      DefaultRuntime: d.config.defaultRuntime, LiveRestoreEnabled: true,
      Sandboxers: d.sandboxers,
      SecurityOptions: ['name=seccomp,profile=builtin'],
      IndexServerAddress: '', RegistryConfig: registryConfigView(d.config),
      Warnings: [],
    });
  });

  r.add('GET', '/events', async ({ req, res, query }) => {
    const f: EventFilter = {};
    const since = query.get('since');
    const until = query.get('until');
    if (since) f.since = parseTime(since, 'since');
    if (until) f.until = parseTime(until, 'until');
    f.filters = FilterArgs.parse(query.get('filters')).toRecord();
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    const unsubscribe = d.events.subscribe(f, (e) => res!.write(JSON.stringify(e) + '\n'));
    const done = () => { unsubscribe(); res!.end(); };
    req.on('close', unsubscribe);
    if (f.until !== undefined) {
      const ms = f.until * 1000 - Date.now();
      if (ms <= 0) done(); else setTimeout(done, ms);
    }
  });
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

/** Docker accepts unix seconds (with fractions) or an RFC 3339 time, or a duration like 10m. */
function parseTime(v: string, name: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  const dur = /^(\d+)(s|m|h)$/.exec(v);
  if (dur) return Date.now() / 1000 - Number(dur[1]) * { s: 1, m: 60, h: 3600 }[dur[2] as 's' | 'm' | 'h'];
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid value for ${name}: "${v}"`);
  return t / 1000;
}
