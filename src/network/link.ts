// What the kernel says about the pod's interface: MAC, MTU, addresses and routes inside the
// netns. A CNI result does not carry the MTU (spec 1.1 adds it; the plugins here leave it
// out) and the pod's MAC only when the plugin reports it; a VM pod's guest eth0 must copy
// all of them (kata's tcfilter model), so they are read from the netns itself.
import { internal } from '../common/errors.js';
import { execOk } from '../common/exec.js';

export interface LinkAddress { family: 4 | 6; address: string /* CIDR */; scope: string }
/** protocol: who made it (`kernel`: derived from an address by the kernel itself). */
export interface LinkRoute { family: 4 | 6; dst: string; gateway?: string; dev?: string; protocol?: string }

export interface LinkInfo {
  name: string;
  mac: string;
  mtu: number;
  up: boolean;
  addresses: LinkAddress[];
  /** Every route in the netns (main table), v4 and v6. */
  routes: LinkRoute[];
}

interface IpAddrJson {
  ifname: string; address?: string; mtu: number; flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number; scope: string }[];
}
interface IpRouteJson { dst: string; gateway?: string; dev?: string; protocol?: string }

/** The interface `ifName` inside the netns pinned at `netnsPath`. */
export async function inspectLink(netnsPath: string, ifName: string, o: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<LinkInfo> {
  const ip = (args: string[]) => execOk('nsenter', [`--net=${netnsPath}`, 'ip', '-j', ...args], { timeoutMs: o.timeoutMs ?? 10_000, signal: o.signal });
  const parse = <T>(text: string, what: string): T => {
    try { return JSON.parse(text || '[]') as T; } catch { throw internal(`${what} in ${netnsPath}: unparsable output of ip -j`); }
  };
  const [link] = parse<IpAddrJson[]>(await ip(['addr', 'show', 'dev', ifName]), `link ${ifName}`);
  if (!link) throw internal(`no interface ${ifName} in ${netnsPath}`);
  const routes: LinkRoute[] = [];
  for (const fam of [4, 6] as const) {
    for (const r of parse<IpRouteJson[]>(await ip([`-${fam}`, 'route', 'show']), 'routes')) {
      routes.push({
        family: fam, dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.dev ? { dev: r.dev } : {}),
        ...(r.protocol ? { protocol: r.protocol } : {}),
      });
    }
  }
  return {
    name: link.ifname,
    mac: link.address ?? '',
    mtu: link.mtu,
    up: (link.flags ?? []).includes('UP'),
    addresses: (link.addr_info ?? []).filter((a) => a.family === 'inet' || a.family === 'inet6')
      .map((a) => ({ family: a.family === 'inet' ? 4 : 6, address: `${a.local}/${a.prefixlen}`, scope: a.scope })),
    routes,
  };
}
