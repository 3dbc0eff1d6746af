// GET /networks and /networks/{id} by the API version asked for: 1.41 as dockerd 20.10 answered
// (the list's networks with an empty Containers map); from 1.42 as dockerd 29 does: the list's
// networks without Containers (its network.Summary), EnableIPv4 from 1.48, and from 1.52 the
// inspect's Status, the IPAM accounting of each subnet.
import { contains, ipToInt, parseCidr, size } from '../networks/ipv4.js';
import { auxInts } from '../networks/aux.js';
import { networkView, type EndpointView, type NetworkRecord } from '../networks/model.js';
import { versionAtLeast } from './version.js';

type View = ReturnType<typeof networkView>;

/** One network of GET /networks. */
export function networkSummaryFor(version: string, n: NetworkRecord, endpoints: EndpointView[]): Record<string, unknown> {
  const v = networkView(n, endpoints);
  if (!versionAtLeast(version, '1.42')) return { ...v, Containers: {} };
  const { Containers: _, ...rest } = ordered(version, v);
  return rest;
}

/** GET /networks/{id}. */
export function networkInspectFor(version: string, n: NetworkRecord, endpoints: EndpointView[]): Record<string, unknown> {
  const v = networkView(n, endpoints);
  if (!versionAtLeast(version, '1.42')) return v;
  const out: Record<string, unknown> = ordered(version, v);
  if (versionAtLeast(version, '1.52') && n.ipam.config.length) out.Status = { IPAM: { Subnets: subnetStatus(n, endpoints) } };
  return out;
}

/** dockerd 29's field order (its network.Network), EnableIPv4 from 1.48. */
function ordered(version: string, v: View): Record<string, unknown> & { Containers?: unknown } {
  return {
    Name: v.Name, Id: v.Id, Created: v.Created, Scope: v.Scope, Driver: v.Driver,
    ...(versionAtLeast(version, '1.48') ? { EnableIPv4: true } : {}),
    EnableIPv6: v.EnableIPv6, IPAM: v.IPAM, Internal: v.Internal, Attachable: v.Attachable, Ingress: v.Ingress,
    ConfigFrom: v.ConfigFrom, ConfigOnly: v.ConfigOnly, Containers: v.Containers, Options: v.Options, Labels: v.Labels,
  };
}

/**
 * libnetwork's pool accounting: in use, the subnet's network and broadcast addresses, the
 * gateway, the auxiliary addresses and the containers' addresses; available, the addresses of the range (the IPRange,
 * else the subnet) that none of those takes.
 */
export function subnetStatus(n: NetworkRecord, endpoints: Array<Pick<EndpointView, 'ipv4'>>): Record<string, { IPsInUse: number; DynamicIPsAvailable: number }> {
  const out: Record<string, { IPsInUse: number; DynamicIPsAvailable: number }> = {};
  for (const c of n.ipam.config) {
    const sub = parseCidr(c.subnet);
    const taken = new Set<number>();
    if (sub.prefix < 31) {
      taken.add(sub.base);
      taken.add(sub.base + size(sub) - 1);
    }
    if (c.gateway && contains(sub, c.gateway)) taken.add(ipToInt(c.gateway));
    for (const a of auxInts(c)) if (contains(sub, a)) taken.add(a); // held, as libnetwork's pool holds them
    for (const e of endpoints) {
      const ip = e.ipv4.split('/')[0];
      if (ip && contains(sub, ip)) taken.add(ipToInt(ip));
    }
    const range = c.ipRange ? parseCidr(c.ipRange, 'ip-range') : sub;
    const inRange = [...taken].filter((a) => contains(range, a)).length;
    out[c.subnet] = { IPsInUse: taken.size, DynamicIPsAvailable: size(range) - inRange };
  }
  return out;
}
