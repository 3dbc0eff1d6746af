// What the networks' DNS server (dns.ts) asks of the engine, answered from the containers'
// records as libnetwork's sandbox resolver answers: names on the client's networks (its link
// aliases first), the upstream servers its resolv.conf would have named, its ndots.
import { promises as fs } from 'node:fs';
import type { Container } from '../containers/model.js';
import type { DnsBackend } from './dns.js';
import { hostNameservers, withDnsDefaults, type DnsInput } from './etc.js';
import { linkTarget } from './links.js';
import { addressesOf, endpointAt, named } from './names.js';
import type { NetworkService } from './service.js';

export interface DnsBackendDeps {
  containers: () => Container[];
  networks: NetworkService;
  /** daemon.json dns, dns-search, dns-opts: for containers that give none of their own. */
  dnsDefaults?: DnsInput;
  isDefaultBridge(networkId: string): boolean;
}

export function engineDnsBackend(o: DnsBackendDeps): DnsBackend {
  return {
    lookup: (net, name, clientIp, family) => {
      // a network that knows the name but has no address of the family asked for: the next
      // one is asked (libnetwork's resolveName; its ipv6Miss is the caller's)
      const of = (hit: ReturnType<typeof named>) => addressesOf(hit).filter((a) => !family || (family === 6) === a.includes(':'));
      const all = o.containers();
      const client = endpointAt(all, net, clientIp)?.c;
      // this network, then the client's other user networks, in its order of joining
      const nets = [net, ...(client?.state.network?.endpoints ?? []).map((e) => e.networkId).filter((id) => id !== net && !o.isDefaultBridge(id))];
      // as libnetwork's sandbox resolver: the client's link aliases first, and a name that is
      // one of them on a network is looked up there as the alias only
      const aliased = new Set<string>();
      for (const id of nets) {
        const target = client && linkTarget(client, id, name);
        if (target === undefined) continue;
        aliased.add(id);
        const hit = of(named(all, id, target));
        if (hit.length) return hit;
      }
      for (const id of nets) {
        const there = aliased.has(id) ? [] : of(named(all, id, name));
        if (there.length) return there;
      }
      return [];
    },
    reverse: (net, ip) => {
      const hit = endpointAt(o.containers(), net, ip);
      return hit ? `${hit.c.name}.${hit.net}` : null;
    },
    isClient: (net, ip) => !!endpointAt(o.containers(), net, ip),
    upstreams: async (net, ip) => {
      // a container on --internal networks only has no way out, for names neither; one of
      // its networks that is not internal is (libnetwork's sandbox hasExternalAccess)
      const nets = o.networks.list();
      const client = endpointAt(o.containers(), net, ip)?.c;
      const joined = client?.state.network?.endpoints.map((e) => e.networkId) ?? [net];
      if (joined.every((id) => nets.find((n) => n.id === id)?.internal)) return [];
      // the container's --dns, else the daemon's "dns", else the host's (libnetwork's
      // resolver forwards to the servers the sandbox's resolv.conf would have named)
      const { dns } = dnsOf(client);
      return dns.length ? dns : hostNameservers(await fs.readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
    },
    // dockerd's sandbox ndotsSet: an ndots:N (N >= 0) among the container's DNS options (its
    // own, else the daemon's dns-opts)
    ndotsSet: (net, ip) => dnsOf(endpointAt(o.containers(), net, ip)?.c).dnsOptions.some((x) => /^ndots:\d+$/.test(x)),
  };

  /** The client's DNS settings as its resolv.conf has them (its own, else the daemon's). */
  function dnsOf(client: Container | undefined): DnsInput {
    return withDnsDefaults(client?.config.networking ?? { dns: [], dnsSearch: [], dnsOptions: [] }, o.dnsDefaults);
  }
}
