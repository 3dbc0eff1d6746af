// Published ports (docker's -p, -P): the bindings of a create checked, and at each start the
// host ports chosen (a port left empty, or a range, gets a free one from the host's ephemeral
// range) and checked free (no other container of this engine has it, and nothing on the host
// listens on it: portmap's DNAT would take a port from a listener without a word, where
// docker-proxy's bind fails). The result feeds the CNI portmap plugin and inspect's Ports.
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { failedPrecondition, invalidArgument } from '../../common/errors.js';
import type { PortMapping } from '../../network/index.js';
import type { NetworkingSpec, PortBinding } from '../containers/model.js';

const PORT_KEY = /^(\d{1,5})\/(tcp|udp|sctp)$/;

/** "80/tcp" (docker's nat.Port), or 400. */
export function checkPortKey(k: string): { port: number; proto: 'tcp' | 'udp' | 'sctp' } {
  const m = PORT_KEY.exec(k);
  const port = Number(m?.[1]);
  if (!m || port < 1 || port > 65535) throw invalidArgument(`invalid port specification: "${k}": want <port>/<tcp|udp|sctp>`);
  return { port, proto: m[2] as 'tcp' };
}

/** A HostPort as given: '' (any), "8080", or a range "8000-8010". */
export function checkHostPort(h: string, key: string): [number, number] | null {
  if (h === '') return null;
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(h);
  const lo = Number(m?.[1]);
  const hi = m?.[2] ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo) throw invalidArgument(`invalid host port "${h}" for ${key}`);
  return [lo, hi];
}

/** Normalise a create's bindings: keys checked, host IPs checked. */
export function checkBindings(b: Record<string, PortBinding[] | null>): Record<string, PortBinding[]> {
  const out: Record<string, PortBinding[]> = {};
  for (const [k, list] of Object.entries(b)) {
    checkPortKey(k);
    out[k] = (list ?? []).map((x) => {
      if (x.hostIp && net.isIP(x.hostIp) !== 4) throw invalidArgument(`invalid host IP "${x.hostIp}" for ${k}: want an IPv4 address (IPv6 publishing is not supported)`);
      checkHostPort(x.hostPort, k);
      return { hostIp: x.hostIp, hostPort: x.hostPort };
    });
  }
  return out;
}

/** Host ports other containers hold, "proto/ip/port" with ip 0.0.0.0 for all addresses. */
export type TakenPorts = Set<string>;

export function takenKeys(bindings: Record<string, PortBinding[]>): string[] {
  return Object.entries(bindings).flatMap(([k, list]) => list.map((b) => `${k.split('/')[1]}/${b.hostIp || '0.0.0.0'}/${b.hostPort}`));
}

function clash(taken: TakenPorts, proto: string, ip: string, port: number): boolean {
  if (taken.has(`${proto}/${ip}/${port}`) || taken.has(`${proto}/0.0.0.0/${port}`)) return true;
  return ip === '0.0.0.0' && [...taken].some((t) => t.startsWith(`${proto}/`) && t.endsWith(`/${port}`));
}

/** Can something bind ip:port now? (tcp: listen; udp: bind; sctp: not probed). */
function hostFree(proto: string, ip: string, port: number): Promise<boolean> {
  if (proto === 'sctp') return Promise.resolve(true);
  // dgram loads only when a UDP port is published
  if (proto === 'udp') {
    return import('node:dgram').then((dgram) => new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind(port, ip, () => s.close(() => resolve(true)));
    }));
  }
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: ip, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function ephemeralRange(): Promise<[number, number]> {
  const t = await fs.readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
  const [lo, hi] = t.trim().split(/\s+/).map(Number);
  return lo && hi && lo <= hi ? [lo, hi] : [49153, 60999];
}

export interface ResolvedPorts {
  /** What inspect shows (host IP 0.0.0.0 for all addresses, every host port chosen). */
  bindings: Record<string, PortBinding[]>;
  /** What portmap gets. */
  mappings: PortMapping[];
}

/**
 * The bindings of a start: -P's exposed ports added, host ports chosen and checked.
 * `defaultIp`: the network's host_binding_ipv4. Throws docker's "port is already allocated".
 */
export async function resolvePorts(n: NetworkingSpec, taken: TakenPorts, defaultIp = '0.0.0.0'): Promise<ResolvedPorts> {
  const want: Record<string, PortBinding[]> = structuredClone(n.portBindings);
  if (n.publishAll) for (const k of n.exposedPorts) if (!want[k]?.length) want[k] = [{ hostIp: '', hostPort: '' }];
  const mine: TakenPorts = new Set(taken);
  const bindings: Record<string, PortBinding[]> = {};
  const mappings: PortMapping[] = [];
  const [elo, ehi] = await ephemeralRange();
  for (const [k, list] of Object.entries(want)) {
    const { port, proto } = checkPortKey(k);
    bindings[k] = [];
    for (const b of list) {
      const ip = b.hostIp || defaultIp;
      const range = checkHostPort(b.hostPort, k);
      const [lo, hi] = range ?? [elo, ehi];
      let chosen = 0;
      // a fixed port or a range: in order; any port: from a random place in the ephemeral range
      const start = range ? lo : lo + Math.floor(Math.random() * (hi - lo + 1));
      for (let i = 0; i <= hi - lo && i < 2000; i++) {
        const p = lo + ((start - lo + i) % (hi - lo + 1));
        if (clash(mine, proto, ip, p)) continue;
        if (!(await hostFree(proto, ip, p))) continue;
        chosen = p;
        break;
      }
      if (!chosen) {
        const what = range && lo === hi ? `${ip}:${lo}` : `${ip}:${range ? `${lo}-${hi}` : 'any port'}`;
        throw failedPrecondition(`driver failed programming external connectivity: Bind for ${what} failed: port is already allocated`);
      }
      mine.add(`${proto}/${ip}/${chosen}`);
      bindings[k].push({ hostIp: ip, hostPort: String(chosen) });
      mappings.push({ hostPort: chosen, containerPort: port, protocol: proto, ...(ip !== '0.0.0.0' ? { hostIP: ip } : {}) });
    }
  }
  return { bindings, mappings };
}
