// Published ports (docker's -p, -P): the bindings of a create checked, and at each start the
// host ports chosen and reserved as dockerd reserves them: each one bound by tsulad (a socket
// held until the container's network goes, hostports.ts) before portmap's DNAT is installed,
// so a host program can't take a published port from the container, nor the container one a
// host program has. A port left empty, or a range, gets the first free one after the last
// one given (dockerd's PortAllocator). The result feeds the CNI portmap plugin and inspect's Ports.
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { internal, invalidArgument } from '../../common/errors.js';
import { goErrnoText } from '../../common/go-errno.js';
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
      if (x.hostIp && !net.isIP(x.hostIp)) throw invalidArgument(`invalid host IP "${x.hostIp}" for ${k}: want an IP address`);
      checkHostPort(x.hostPort, k);
      return { hostIp: x.hostIp, hostPort: x.hostPort };
    });
  }
  return out;
}

/** Host ports other containers hold, "proto/ip/port" with ip 0.0.0.0 (or ::) for all addresses (of a family). */
export type TakenPorts = Set<string>;

export function takenKeys(bindings: Record<string, PortBinding[]>): string[] {
  return Object.entries(bindings).flatMap(([k, list]) => list.map((b) => `${k.split('/')[1]}/${b.hostIp || '0.0.0.0'}/${b.hostPort}`));
}

const unspecified = (ip: string) => ip === '0.0.0.0' || ip === '::';

/**
 * The address whose holder has proto/port, or null: 0.0.0.0 clashes with every IPv4 address
 * and :: with every IPv6 one, both ways (dockerd's PortAllocator checks the request's maps and
 * the unspecified address's of its family, or every map of the family for an unspecified
 * one; its error names the map it hit).
 */
export function clash(taken: TakenPorts, proto: string, ip: string, port: number): string | null {
  const v6 = ip.includes(':');
  for (const t of taken) {
    const i = t.indexOf('/');
    const j = t.lastIndexOf('/');
    const [p, tip, tport] = [t.slice(0, i), t.slice(i + 1, j), t.slice(j + 1)];
    if (p !== proto || Number(tport) !== port || tip.includes(':') !== v6) continue;
    if (tip === ip || unspecified(tip) || unspecified(ip)) return tip;
  }
  return null;
}

/** A host port held for a container (a listening TCP socket, a bound UDP one). */
export interface HostSocket { close(): void }

/**
 * Bind proto ip:port and keep it; null where nothing can hold it (sctp: node has no SCTP
 * sockets). Throws the bind's error (its `code`: EADDRINUSE, EADDRNOTAVAIL, …).
 */
export type BindHost = (proto: 'tcp' | 'udp' | 'sctp', ip: string, port: number) => Promise<HostSocket | null>;

/** What the host's ranges are (read from /proc; tests give their own). */
export interface PortRanges {
  ephemeral(): Promise<[number, number]>;
  /** ip_local_reserved_ports: skipped when a port is picked from the ephemeral range. */
  reserved(): Promise<Set<number>>;
}

export const hostRanges: PortRanges = {
  async ephemeral() {
    const t = await fs.readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '');
    const [lo, hi] = t.trim().split(/\s+/).map(Number);
    // dockerd's fallback when the file can't be read
    return lo && hi && lo <= hi ? [lo, hi] : [49153, 60999];
  },
  async reserved() {
    const t = await fs.readFile('/proc/sys/net/ipv4/ip_local_reserved_ports', 'utf8').catch(() => '');
    const out = new Set<number>();
    for (const part of t.trim().split(',').filter(Boolean)) {
      const [a, b] = part.split('-').map(Number);
      for (let p = a!; p <= (b ?? a!); p++) out.add(p);
    }
    return out;
  },
};

export interface ResolvedPorts {
  /** What inspect shows (host IP 0.0.0.0 for all addresses, every host port chosen). */
  bindings: Record<string, PortBinding[]>;
  /** What portmap gets. */
  mappings: PortMapping[];
  /** The host ports bound, one a binding (none for sctp): the caller holds them. */
  sockets: HostSocket[];
}

/** One binding asked for: its host addresses (0.0.0.0 and :: for "all" on a network with IPv6) share a port. */
interface Request { key: string; port: number; proto: 'tcp' | 'udp' | 'sctp'; ips: string[]; range: [number, number] | null }

// dockerd (moby v2's nat port mapper and OSAllocator) tries up to 10 allocations in each of
// up to 10 attempts to map a binding whose port is free by its books but bound by a host program
const MAX_BIND_ATTEMPTS = 100;
const PROTO_ORDER = { tcp: 0, udp: 1, sctp: 2 };

/**
 * dockerd's PortAllocator: a port of a range (the ephemeral one for "any") is the first free
 * one after the last one it gave for that protocol, address and range (32768, 32769, … on a
 * fresh daemon), wrapping around; free means no container of this daemon has it, and the bind
 * went through. Its memory of the last port lives as long as the daemon, as dockerd's.
 */
export class PortAllocator {
  private readonly last = new Map<string, number>();

  constructor(private readonly ranges: PortRanges = hostRanges) {}

  /**
   * The bindings of a start: -P's exposed ports added, host ports chosen and bound (in
   * dockerd's order: exact ports before ranges, then by container port and protocol).
   * `defaultIp`: the network's host_binding_ipv4; `ipv6`: the network gives the container an
   * IPv6 address. On an error every socket bound so far is closed and the message is dockerd's,
   * for the caller to put behind its endpoint's words.
   */
  async resolve(n: NetworkingSpec, taken: TakenPorts, bind: BindHost, defaultIp = '0.0.0.0', ipv6 = false): Promise<ResolvedPorts> {
    const want: Record<string, PortBinding[]> = structuredClone(n.portBindings);
    if (n.publishAll) for (const k of n.exposedPorts) if (!want[k]?.length) want[k] = [{ hostIp: '', hostPort: '' }];
    const reqs: Request[] = [];
    for (const [key, list] of Object.entries(want)) {
      const { port, proto } = checkPortKey(key);
      for (const b of list) {
        const ips = hostAddresses(b.hostIp, defaultIp, ipv6);
        if (ips.length) reqs.push({ key, port, proto, ips, range: checkHostPort(b.hostPort, key) });
      }
    }
    // exact host ports first, then ranges, then any port (-p 80, -P): a port chosen for one
    // must never be one another binding of the same run names (dockerd reserves those first)
    const rank = (r: Request) => (!r.range ? 2 : r.range[0] === r.range[1] ? 0 : 1);
    const order = [...reqs].sort((a, b) => rank(a) - rank(b)
      || a.port - b.port || PROTO_ORDER[a.proto] - PROTO_ORDER[b.proto] || (a.range?.[0] ?? 0) - (b.range?.[0] ?? 0));
    const mine: TakenPorts = new Set(taken);
    const chosen = new Map<Request, number>();
    const sockets: HostSocket[] = [];
    try {
      for (const r of order) {
        const { port, sockets: got } = await this.take(r, mine, bind);
        chosen.set(r, port);
        sockets.push(...got);
        for (const ip of r.ips) mine.add(`${r.proto}/${ip}/${port}`);
      }
    } catch (e) {
      for (const s of sockets) s.close();
      throw e;
    }
    const bindings: Record<string, PortBinding[]> = {};
    const mappings: PortMapping[] = [];
    for (const r of reqs) {
      const hostPort = chosen.get(r)!;
      for (const ip of r.ips) (bindings[r.key] ??= []).push({ hostIp: ip, hostPort: String(hostPort) });
      // portmap: no hostIP is every address of both families, an unspecified one all of its own
      const hostIP = r.ips.length > 1 || (r.ips[0] === '0.0.0.0' && !ipv6) ? undefined : r.ips[0];
      mappings.push({ hostPort, containerPort: r.port, protocol: r.proto, ...(hostIP ? { hostIP } : {}) });
    }
    return { bindings, mappings, sockets };
  }

  /** One binding's host port, bound on each of its addresses. */
  private async take(r: Request, mine: TakenPorts, bind: BindHost): Promise<{ port: number; sockets: HostSocket[] }> {
    if (r.range && r.range[0] === r.range[1]) {
      const p = r.range[0];
      for (const ip of r.ips) {
        const holder = clash(mine, r.proto, ip, p);
        if (holder) throw internal(`Bind for ${holder}:${p} failed: port is already allocated`);
      }
      return { port: p, sockets: await bindAll(r, p, bind) };
    }
    const [lo, hi] = r.range ?? await this.ranges.ephemeral();
    const reserved = r.range ? new Set<number>() : await this.ranges.reserved();
    const rangeKey = `${r.proto}/${r.ips.join(',')}/${lo}-${hi}`;
    let lastErr: Error | undefined;
    for (let attempt = 0; attempt < MAX_BIND_ATTEMPTS; attempt++) {
      const p = this.next(rangeKey, lo, hi, (x) => !reserved.has(x) && r.ips.every((ip) => !clash(mine, r.proto, ip, x)));
      if (!p) throw internal('all ports are allocated');
      try {
        return { port: p, sockets: await bindAll(r, p, bind) };
      } catch (e) {
        lastErr = e as Error;
      }
    }
    throw lastErr!;
  }

  /** The first port after the range's last one that `free` takes, wrapping; 0 if none. */
  private next(key: string, lo: number, hi: number, free: (p: number) => boolean): number {
    let p = this.last.get(key) ?? hi;
    for (let i = lo; i <= hi; i++) {
      p = p >= hi ? lo : p + 1;
      if (!free(p)) continue;
      this.last.set(key, p);
      return p;
    }
    return 0;
  }
}

/**
 * A binding's host addresses (dockerd's configurePortBindingIPv4/IPv6 without its userland
 * proxy): one left empty is the network's default, 0.0.0.0, and then :: as well when the
 * container has an IPv6 address; an IPv6 one needs that address (no proxy maps it to IPv4).
 */
function hostAddresses(given: string, defaultIp: string, ipv6: boolean): string[] {
  const ip = given || defaultIp;
  if (net.isIP(ip) === 6) return ipv6 ? [ip] : [];
  return !given && ipv6 && ip === '0.0.0.0' ? [ip, '::'] : [ip];
}

/** Bind the port on each address of the binding; none stays bound if one fails. */
async function bindAll(r: Request, port: number, bind: BindHost): Promise<HostSocket[]> {
  const got: HostSocket[] = [];
  for (const ip of r.ips) {
    try {
      const s = await bind(r.proto, ip, port);
      if (s) got.push(s);
    } catch (e) {
      for (const s of got) s.close();
      throw bindFailed(r.proto, ip, port, e);
    }
  }
  return got;
}

/** dockerd 29's OSAllocator words for a bind the kernel refused. */
export function bindFailed(proto: string, ip: string, port: number, e: unknown): Error {
  const why = goErrnoText(e) ?? (e instanceof Error ? e.message : String(e));
  return internal(`failed to bind host port ${ip}:${port}/${proto}: ${why}`, e);
}
