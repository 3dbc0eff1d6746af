// Who is who on a network, from the containers' records: what the network's DNS server
// answers and what a container's /etc/hosts lists. A start sets a container's endpoints
// before its process runs (its first query must not be refused), an exit clears them.
import { running, type Container } from '../containers/model.js';

export interface OnNetwork { c: Container; ip: string; net: string; ip6?: string }

/** The endpoints on a network: the container, its address (and IPv6 one) and the network's name. */
export function onNetwork(containers: Container[], networkId: string): OnNetwork[] {
  const out: OnNetwork[] = [];
  for (const c of containers) {
    for (const e of c.state.network?.endpoints ?? []) if (e.networkId === networkId && e.ip) out.push({ c, ip: e.ip, net: e.name, ...(e.ipv6 ? { ip6: e.ipv6 } : {}) });
  }
  return out;
}

/** Their addresses, IPv6 ones too (the DNS server answers A and AAAA from them). */
export function addressesOf(eps: OnNetwork[]): string[] {
  return eps.flatMap((x) => (x.ip6 ? [x.ip, x.ip6] : [x.ip]));
}

/** The endpoint at `ip` on a network, if a container has it. */
export function endpointAt(containers: Container[], networkId: string, ip: string): OnNetwork | undefined {
  return onNetwork(containers, networkId).find((x) => x.ip === ip);
}

/** A container's aliases on a network. */
const aliasesOn = (c: Container, networkId: string) => c.config.networking?.endpoints.find((x) => x.networkId === networkId)?.aliases ?? [];

/**
 * Who answers to `name` on a network: container name, network alias, short id or hostname
 * (dockerd's buildEndpointDNSNames, inspect's DNSNames), or "<that>.<network>".
 */
export function named(containers: Container[], networkId: string, name: string): OnNetwork[] {
  const eps = onNetwork(containers, networkId);
  const suffix = eps[0] ? `.${eps[0].net.toLowerCase()}` : null;
  const bare = suffix && name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
  return eps.filter(({ c }) => {
    const aliases = aliasesOn(c, networkId);
    return [c.name, ...aliases, c.id.slice(0, 12), c.config.hostname].some((n) => !!n && (n.toLowerCase() === name || n.toLowerCase() === bare));
  });
}

/**
 * Running containers sharing a user network with rec (not the default bridge): their address
 * there and names. An alias several of them hold (a scaled compose service) is left to the
 * DNS server, which answers each query in a new order: in /etc/hosts the first line would win
 * every time.
 */
export function peersOf(containers: Container[], rec: Container, isDefaultBridge: (networkId: string) => boolean): Array<{ ip: string; names: string[] }> {
  const mine = new Map((rec.state.network?.endpoints ?? []).map((e) => [e.networkId, e]));
  const holders = new Map<string, number>(); // "<network> <alias>" -> running containers with it
  for (const c of containers) {
    if (!running(c.state) && c.id !== rec.id) continue;
    for (const e of c.state.network?.endpoints ?? []) {
      if (!mine.has(e.networkId)) continue;
      for (const a of new Set(aliasesOn(c, e.networkId).map((x) => x.toLowerCase()))) {
        const k = `${e.networkId} ${a}`;
        holders.set(k, (holders.get(k) ?? 0) + 1);
      }
    }
  }
  const out: Array<{ ip: string; names: string[] }> = [];
  for (const c of containers) {
    if (c.id === rec.id || !running(c.state)) continue;
    for (const e of c.state.network?.endpoints ?? []) {
      if (!mine.has(e.networkId) || isDefaultBridge(e.networkId)) continue;
      const aliases = aliasesOn(c, e.networkId).filter((a) => (holders.get(`${e.networkId} ${a.toLowerCase()}`) ?? 0) < 2);
      out.push({ ip: e.ip, names: [...new Set([c.name, ...aliases])] });
    }
  }
  return out;
}
