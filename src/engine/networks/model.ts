// The engine's networks (docker's `network ls`): the pre-defined bridge, host and none, and
// user-defined bridge networks, each a host bridge with its own subnet, run through the same
// CNI plugins as CRI pods (bridge + host-local + portmap; the masquerade and FORWARD rules
// per network: firewall.ts). Records are kept in
// <graph>/networks/<id>.json; `inspect`'s JSON is a view of a record.

import { sha256Hex } from '../../common/crypto.js';

export type NetworkDriver = 'bridge' | 'host' | 'null';

export interface IpamPool {
  subnet: string;
  gateway: string;
  /** docker's IPRange: the part of the subnet container addresses come from. */
  ipRange?: string;
  /** docker's AuxiliaryAddresses (--aux-address): name to address, held from containers (aux.ts). */
  auxAddresses?: Record<string, string>;
}

export interface NetworkRecord {
  id: string;
  name: string;
  driver: NetworkDriver;
  created: string;
  /** No route out of the subnet, no masquerade (docker's --internal). */
  internal: boolean;
  attachable: boolean;
  labels: Record<string, string>;
  /** The driver options as given (com.docker.network.*). */
  options: Record<string, string>;
  /** options: --ipam-opt as given, null when the create gave none (records before it: {}). */
  ipam: { driver: 'default'; options: Record<string, string> | null; config: IpamPool[] };
  /** The host bridge (driver bridge). */
  bridge: string;
  mtu?: number;
  ipMasq: boolean;
  /** enable_icc=false: containers of the network do not reach each other (absent: they do). */
  icc?: boolean;
  /**
   * gateway_mode_ipv4=nat-unprotected: other hosts and networks may reach its containers'
   * IPv4 addresses directly (IPv4 only: records from before unprotected6 mean that too).
   */
  unprotected?: boolean;
  /** gateway_mode_ipv6=nat-unprotected: the same for their IPv6 addresses (dockerd's modes are per family). */
  unprotected6?: boolean;
  /** bridge, host, none: made by tsulad, never removed. */
  predefined: boolean;
  /** A subnet picked from the pools (not the user's). */
  autoSubnet: boolean;
  /** docker's EnableIPv6: the network's IPv6 pool (its containers get an address of each family). */
  ipv6?: IpamPool;
  /** The IPv6 subnet was made by tsulad (as autoSubnet). */
  autoSubnet6?: boolean;
}

export const PREDEFINED = ['bridge', 'host', 'none'] as const;

/** A container's endpoint on a network, for inspect's Containers map. */
export interface EndpointView {
  containerId: string;
  name: string;
  endpointId: string;
  mac: string;
  ipv4: string;
  /** "fd00:1::2/64", '' without one. */
  ipv6?: string;
}

/**
 * A running container's endpoint id on host or none, which have no CNI endpoint: dockerd
 * makes one as the container joins at its start; this one is derived from the container and
 * that start, so it stays while the container runs and is new at each start.
 */
export function modeEndpointId(containerId: string, network: string, startedAt: string): string {
  return sha256Hex(`${containerId}/${network}/${startedAt}`);
}

/** `docker network inspect` of a record (GET /networks/{id}). */
export function networkView(n: NetworkRecord, endpoints: EndpointView[] = []) {
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: !!n.ipv6,
    IPAM: {
      Driver: n.ipam.driver,
      // dockerd's are the create's (null without any); the pre-defined networks' null
      Options: n.predefined && !Object.keys(n.ipam.options ?? {}).length ? null : n.ipam.options,
      // in the order of dockerd's IPAMConfig, its empty fields left out
      Config: [...n.ipam.config, ...(n.ipv6 ? [n.ipv6] : [])].map((c) => ({
        Subnet: c.subnet, ...(c.ipRange ? { IPRange: c.ipRange } : {}), Gateway: c.gateway,
        ...(Object.keys(c.auxAddresses ?? {}).length ? { AuxiliaryAddresses: c.auxAddresses } : {}),
      })),
    },
    Internal: n.internal,
    Attachable: n.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: Object.fromEntries(endpoints.map((e) => [e.containerId, {
      Name: e.name, EndpointID: e.endpointId, MacAddress: e.mac, IPv4Address: e.ipv4, IPv6Address: e.ipv6 ?? '',
    }])),
    Options: n.options,
    Labels: n.labels,
  };
}
