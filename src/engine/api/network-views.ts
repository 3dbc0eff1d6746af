// GET /networks and /networks/{id} by the API version asked for: 1.41 as dockerd 20.10 answered
// (the list's networks with an empty Containers map); from 1.42 as dockerd 29 does: the list's
// networks without Containers (its network.Summary), EnableIPv4 from 1.48, and from 1.52 the
// inspect's Status, the IPAM accounting of each subnet.
import { contains, ipToInt, parseCidr, size } from '../networks/ipv4.js';
import { auxInts } from '../networks/aux.js';
import { contains6, ip6ToBig, parseCidr6 } from '../networks/ipv6.js';
import { networkView, type EndpointView, type IpamPool, type NetworkRecord } from '../networks/model.js';
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
  if (versionAtLeast(version, '1.52') && (n.ipam.config.length || n.ipv6)) out.Status = { IPAM: { Subnets: subnetStatus(n, endpoints) } };
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
export function subnetStatus(n: NetworkRecord, endpoints: Array<Pick<EndpointView, 'ipv4' | 'ipv6'>>): Record<string, { IPsInUse: number | bigint; DynamicIPsAvailable: number | bigint }> {
  const out: Record<string, { IPsInUse: number | bigint; DynamicIPsAvailable: number | bigint }> = {};
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
  if (n.ipv6) out[n.ipv6.subnet] = subnetStatus6(n.ipv6, endpoints);
  // Go's map of prefixes: keys in their text's order
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

const UINT64_MAX = (1n << 64n) - 1n;

/**
 * An IPv6 pool's: in use, the subnet-router anycast address (the subnet's first; there is no
 * broadcast), the gateway, the auxiliary addresses and the containers'; both counts saturate at
 * 2^64-1 (a /64 has 2^64 addresses): exact integers, which JSON.stringify can't write (bigints).
 */
function subnetStatus6(c: IpamPool, endpoints: Array<Pick<EndpointView, 'ipv6'>>): { IPsInUse: bigint; DynamicIPsAvailable: bigint } {
  const sub = parseCidr6(c.subnet);
  const taken = new Set<bigint>([sub.base]);
  for (const a of [c.gateway, ...Object.values(c.auxAddresses ?? {}), ...endpoints.map((e) => e.ipv6?.split('/')[0])]) {
    const v = a ? ip6ToBig(a) : null;
    if (v !== null && contains6(sub, v)) taken.add(v);
  }
  const range = c.ipRange ? parseCidr6(c.ipRange, 'ip-range') : sub;
  const inRange = BigInt([...taken].filter((a) => contains6(range, a)).length);
  const all = 1n << BigInt(128 - range.prefix);
  const cap = (v: bigint) => (v > UINT64_MAX ? UINT64_MAX : v);
  return { IPsInUse: cap(BigInt(taken.size)), DynamicIPsAvailable: cap(all - inRange) };
}
