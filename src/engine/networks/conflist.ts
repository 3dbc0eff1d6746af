// A bridge network as a CNI config list, per attachment (the result cache keeps the list each
// attachment was added with, so a DEL after a restart or a network rm uses the same one):
//   bridge     the network's host bridge, its gateway address on the bridge (isGateway), hairpin
//              so a container reaches itself through its own published port;
//   host-local leases from the network's subnet (or IPRange, unless an address is asked for)
//              under tsulad's graph; the default
//              route only on the network that gives it (one default route per namespace:
//              interfaces.ts's gatewayIndex picks it, as libnetwork);
//   portmap    -p's DNAT, with snat so connections from the host itself are answered too
//              (only in the list of an attachment that publishes ports: without any it does
//              nothing, and each plugin is a process at every ADD and DEL).
// The masquerade and FORWARD rules are the network's, not the attachment's (firewall.ts): no
// ipMasq, no firewall plugin. Attachments made by an older tsulad keep both in their cached
// list, so their DEL still takes away what their ADD made.
import { isCniNetworkName, parseConfList, type NetworkConfigList } from '../../network/index.js';
import { intToIp, parseCidr, size } from './ipv4.js';
import { bigToIp6, last6, parseCidr6 } from './ipv6.js';
import type { IpamPool, NetworkRecord } from './model.js';

export interface AttachmentConf {
  /** host-local's lease dir (tsulad's own, never /var/lib/cni). */
  ipamDir: string;
  /** Carries the container's default route (the network gatewayIndex picks, unless internal). */
  primary: boolean;
  /**
   * The attachment asks for its address (--ip): as in docker, IPRange bounds only the
   * addresses handed out, so its lease may come from the whole subnet.
   */
  requestedIp?: boolean;
  /** Publishes ports (-p, -P): portmap is in its list. */
  ports?: boolean;
  /** The attachment asks for its IPv6 address (--ip6): the whole IPv6 subnet, as requestedIp. */
  requestedIp6?: boolean;
  /** IPv6 is off in the container or on its interface: no IPv6 address or route (dockerd 27+). */
  noIpv6?: boolean;
}

/**
 * The network's name for CNI and its host-local lease dir: its own, or, for a name CNI does
 * not take (dockerd takes `my net`), one made from its id.
 */
export function cniNetworkName(n: Pick<NetworkRecord, 'name' | 'id'>): string {
  return isCniNetworkName(n.name) ? n.name : `tsula-net-${n.id.slice(0, 12)}`;
}

/** The names cniNetworkName makes, which no network may have itself (their lease dirs would be one). */
export const RESERVED_CNI_NAME = /^tsula-net-[0-9a-f]{12}$/;

export function networkConfList(n: NetworkRecord, a: AttachmentConf): NetworkConfigList {
  const pool = n.ipam.config[0];
  if (!pool) throw new Error(`network ${n.name} has no subnet`);
  const range: Record<string, string> = { subnet: pool.subnet, gateway: pool.gateway };
  if (pool.ipRange && !a.requestedIp) {
    const r = parseCidr(pool.ipRange, 'ip-range');
    // host-local leases [rangeStart, rangeEnd]; skip a network or broadcast address of the subnet
    const sub = parseCidr(pool.subnet);
    range.rangeStart = intToIp(Math.max(r.base, sub.base + 1));
    range.rangeEnd = intToIp(Math.min(r.base + size(r) - 1, sub.base + size(sub) - 2));
  }
  const out = a.primary && !n.internal;
  const v6 = a.noIpv6 ? undefined : n.ipv6;
  const bridge: Record<string, unknown> = {
    type: 'bridge', bridge: n.bridge, isGateway: true, ipMasq: false, hairpinMode: true,
    // --ip6: the addresses asked for reach host-local as runtimeConfig.ips (CNI_ARGS IP takes one)
    ...(a.requestedIp6 && v6 ? { capabilities: { ips: true } } : {}),
    // a link-local subnet's gateway (fe80::1/64) overlaps the kernel's own fe80:: address of the
    // bridge, which the plugin replaces only when forced (dockerd keeps both)
    ...(v6 && isLinkLocal6(v6.subnet) ? { forceAddress: true } : {}),
    ipam: {
      // with IPv6 a range set of each family: an address of each (host-local)
      type: 'host-local', ranges: [[range], ...(v6 ? [[range6(v6, !!a.requestedIp6)]] : [])], dataDir: a.ipamDir,
      routes: [...(out ? [{ dst: '0.0.0.0/0' }] : []), ...(out && v6 ? [{ dst: '::/0' }] : [])],
    },
  };
  if (n.mtu) bridge.mtu = n.mtu;
  const doc = {
    cniVersion: '1.0.0',
    name: cniNetworkName(n),
    plugins: [
      bridge,
      ...(a.ports ? [{ type: 'portmap', capabilities: { portMappings: true }, snat: true }] : []),
    ],
  };
  return parseConfList(JSON.stringify(doc), `network ${n.name}`);
}

/** host-local's IPv6 range: the subnet, its gateway, an IPRange's bounds unless an address is asked for. */
/** In fe80::/10 (IPv6 link-local). */
function isLinkLocal6(subnet: string): boolean {
  return /^fe[89ab][0-9a-f]?:/i.test(subnet);
}

function range6(p: IpamPool, requested: boolean): Record<string, string> {
  const r: Record<string, string> = { subnet: p.subnet, gateway: p.gateway };
  if (p.ipRange && !requested) {
    const x = parseCidr6(p.ipRange, 'ip-range');
    const sub = parseCidr6(p.subnet);
    r.rangeStart = bigToIp6(x.base > sub.base ? x.base : sub.base + 1n);
    r.rangeEnd = bigToIp6(last6(x) < last6(sub) ? last6(x) : last6(sub));
  }
  return r;
}
