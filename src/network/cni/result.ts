// CNI results of every spec version the plugins here speak, read into one typed shape.
//   0.1.0 / 0.2.0: {ip4: {ip, gateway, routes}, ip6: {...}, dns}
//   0.3.x / 0.4.0: {interfaces, ips: [{version: "4", address, gateway, interface}], routes, dns}
//   1.0.0:         the same without ips[].version (the family follows from the address)
// The raw JSON is kept beside it: the next plugin's prevResult and the cache must carry the
// plugin's own words, in the config's version, not our re-encoding of them.
import { isIP } from 'node:net';
import { internal } from '../../common/errors.js';

export interface CniInterface {
  name: string;
  mac?: string;
  /** Spec 1.1; the plugins here leave it out: read it from the link (link.ts). */
  mtu?: number;
  /** The netns path for interfaces inside the pod; absent for host-side ones (bridge, veth). */
  sandbox?: string;
}

export interface CniIpConfig {
  family: 4 | 6;
  /** CIDR: "10.88.0.5/16". */
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers: string[];
  domain?: string;
  search: string[];
  options: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces: CniInterface[];
  ips: CniIpConfig[];
  routes: CniRoute[];
  dns: CniDns;
  /** The plugin's JSON as it printed it (with cniVersion filled in, as libcni does). */
  raw: Record<string, unknown>;
}

/**
 * Read a plugin's result. `confVersion` stands in for a missing `cniVersion` (libcni's
 * fixupResultVersion); `who` names the plugin in errors.
 */
export function parseResult(input: unknown, confVersion: string, who = 'cni result'): CniResult {
  const bad = (what: string) => internal(`${who}: invalid result: ${what}`);
  if (!isObj(input)) throw bad(`want a JSON object, got ${input === null ? 'null' : typeof input}`);
  const raw = { ...input };
  if (typeof raw.cniVersion !== 'string' || raw.cniVersion === '') raw.cniVersion = confVersion;
  const v = raw.cniVersion as string;
  if (v === '0.1.0' || v === '0.2.0') return legacy(raw, v, bad);
  if (!/^(0\.3\.[01]|0\.4\.0|1\.[01]\.0)$/.test(v)) throw bad(`unsupported cniVersion "${v}"`);

  const interfaces = list(raw.interfaces, 'interfaces', bad).map((x, i) => {
    if (!isObj(x) || typeof x.name !== 'string') throw bad(`interfaces[${i}].name: missing`);
    const itf: CniInterface = { name: x.name };
    if (typeof x.mac === 'string' && x.mac) itf.mac = x.mac;
    if (typeof x.mtu === 'number' && x.mtu > 0) itf.mtu = x.mtu;
    if (typeof x.sandbox === 'string' && x.sandbox) itf.sandbox = x.sandbox;
    return itf;
  });
  const ips = list(raw.ips, 'ips', bad).map((x, i) => {
    if (!isObj(x)) throw bad(`ips[${i}]: want an object`);
    const family = cidrFamily(x.address);
    if (!family) throw bad(`ips[${i}].address: "${String(x.address)}" is not an address/prefix`);
    const ip: CniIpConfig = { family, address: x.address as string };
    if (x.gateway !== undefined && x.gateway !== '') {
      if (typeof x.gateway !== 'string' || !isIP(x.gateway)) throw bad(`ips[${i}].gateway: "${String(x.gateway)}" is not an address`);
      ip.gateway = x.gateway;
    }
    if (x.interface !== undefined && x.interface !== null) {
      if (typeof x.interface !== 'number' || !Number.isInteger(x.interface) || x.interface < 0 || x.interface >= interfaces.length) {
        throw bad(`ips[${i}].interface: ${String(x.interface)} is not an index into interfaces (${interfaces.length})`);
      }
      ip.interface = x.interface;
    }
    return ip;
  });
  return { cniVersion: v, interfaces, ips, routes: routes(raw.routes, 'routes', bad), dns: dns(raw.dns), raw };
}

/**
 * The pod's addresses (what PodSandboxStatus reports), as go-cni files them: an address by
 * the name of the interface it names (a `sandbox` or not), one that names none is the pod
 * interface's (a 0.2.0 result, some IPAM-only chains).
 */
export function sandboxAddresses(r: CniResult, ifName: string): CniIpConfig[] {
  return r.ips.filter((ip) => ip.interface === undefined || r.interfaces[ip.interface]?.name === ifName);
}

/** The first IPv4 of the pod's interface, else the first address; bare, without the prefix. */
export function primaryIp(r: CniResult, ifName: string): string | undefined {
  const ips = sandboxAddresses(r, ifName);
  const ip = ips.find((x) => x.family === 4) ?? ips[0];
  return ip?.address.split('/')[0];
}

function legacy(raw: Record<string, unknown>, v: string, bad: (w: string) => Error): CniResult {
  const ips: CniIpConfig[] = [];
  const rts: CniRoute[] = [];
  for (const key of ['ip4', 'ip6'] as const) {
    const x = raw[key];
    if (x === undefined || x === null) continue;
    if (!isObj(x)) throw bad(`${key}: want an object`);
    const family = cidrFamily(x.ip);
    if (!family) throw bad(`${key}.ip: "${String(x.ip)}" is not an address/prefix`);
    const ip: CniIpConfig = { family, address: x.ip as string };
    if (typeof x.gateway === 'string' && x.gateway) ip.gateway = x.gateway;
    ips.push(ip);
    rts.push(...routes(x.routes, `${key}.routes`, bad));
  }
  return { cniVersion: v, interfaces: [], ips, routes: rts, dns: dns(raw.dns), raw };
}

function routes(x: unknown, key: string, bad: (w: string) => Error): CniRoute[] {
  return list(x, key, bad).map((r, i) => {
    if (!isObj(r) || !cidrFamily(r.dst)) throw bad(`${key}[${i}].dst: "${isObj(r) ? String(r.dst) : ''}" is not an address/prefix`);
    const route: CniRoute = { dst: r.dst as string };
    if (typeof r.gw === 'string' && r.gw) route.gw = r.gw;
    return route;
  });
}

function dns(x: unknown): CniDns {
  const d = isObj(x) ? x : {};
  const strs = (v: unknown) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : []);
  const out: CniDns = { nameservers: strs(d.nameservers), search: strs(d.search), options: strs(d.options) };
  if (typeof d.domain === 'string' && d.domain) out.domain = d.domain;
  return out;
}

function list(x: unknown, key: string, bad: (w: string) => Error): unknown[] {
  if (x === undefined || x === null) return [];
  if (!Array.isArray(x)) throw bad(`${key}: want a list`);
  return x;
}

function cidrFamily(x: unknown): 4 | 6 | 0 {
  if (typeof x !== 'string') return 0;
  const m = /^([^/]+)\/(\d{1,3})$/.exec(x);
  if (!m) return 0;
  const fam = isIP(m[1]!);
  const bits = Number(m[2]);
  if (fam === 4 && bits <= 32) return 4;
  if (fam === 6 && bits <= 128) return 6;
  return 0;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
