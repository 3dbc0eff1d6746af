// docker's daemon-wide networking keys of daemon.json (dockerd's BridgeConfig and DNSConfig,
// moby daemon/config/config.go and config_linux.go): their rules, and what each sets in the
// daemon's config. They take effect in networks/service.ts (the default bridge network:
// bridge, bip, fixed-cidr, ipv6, fixed-cidr-v6, mtu, ip, icc, ip-masq; as dockerd, none of them reaches a user
// network) and networks/attach.ts (dns, dns-search, dns-opts, host-gateway-ips).
import { isIP, isIPv4 } from 'node:net';
import { invalidArgument } from '../common/errors.js';
import type { Zod } from '../common/lazy-schema.js';
import type { DaemonFileConfig } from './config.js';
import type { DnsInput } from './networks/etc.js';

const CIDR4 = /^\d+\.\d+\.\d+\.\d+\/\d+$/;
const LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`);

/** dockerd's ValidateDNSSearch: "." (no search domains), or a domain with a letter in it, under 255 characters. */
export function dnsSearchOk(s: string): boolean {
  const v = s.trim();
  return v === '.' || (/[a-zA-Z]/.test(v) && DOMAIN.test(v) && v.replace(/\.$/, '').length < 255);
}

const cidr4Ok = (s: string) => CIDR4.test(s) && isIPv4(s.split('/')[0]!) && Number(s.split('/')[1]) <= 32;

/** The networking keys of the daemon.json schema (config.ts). */
export const networkKeys = (z: Zod) => {
  const ip = () => z.string().refine((s) => isIP(s) !== 0, 'want an IP address');
  return {
    // the default bridge network's host bridge ("none": no default bridge network) and its
    // gateway address/prefix, the pools user networks' subnets come from
    bridge: z.string().regex(/^[a-zA-Z0-9_.-]{1,15}$/, 'must be an interface name of at most 15 characters, or "none"').optional(),
    bip: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'must be the bridge address with its prefix, e.g. 172.17.0.1/16').optional(),
    // the part of the default bridge's subnet its containers' addresses come from
    'fixed-cidr': z.string().refine(cidr4Ok, 'must be an IPv4 CIDR inside the default bridge\'s subnet, e.g. 172.17.1.0/24').optional(),
    // containers of the default bridge network reach each other (icc), and its traffic out is
    // masqueraded (ip-masq); both true unless set false
    icc: z.boolean().optional(),
    'ip-masq': z.boolean().optional(),
    // the default bridge network with IPv6 too (its subnet: fixed-cidr-v6, else a /64 of a
    // unique local prefix), its rules in ip6tables as well
    ipv6: z.boolean().optional(),
    'fixed-cidr-v6': z.string().refine((s) => /^[0-9a-fA-F:.]+\/\d{1,3}$/.test(s) && isIP(s.split('/')[0]!) === 6 && Number(s.split('/')[1]) <= 126, 'must be an IPv6 CIDR of at most /126, e.g. fd00:1::/64').optional(),
    ip6tables: z.boolean().optional(),
    'default-address-pools': z.array(z.object({
      base: z.string().regex(/^\d+\.\d+\.\d+\.\d+\/\d+$/, 'must be an IPv4 CIDR'), size: z.number().int().min(8).max(30),
    }).strict()).min(1).optional(),
    // the default bridge's MTU (0: 1500, as dockerd's default)
    mtu: z.number().int().refine((m) => m === 0 || (m >= 68 && m <= 65535), 'must be an MTU from 68 to 65535 (or 0: 1500)').optional(),
    // the host address of the default bridge's -p bindings that name none
    ip: z.string().refine((s) => isIPv4(s), 'must be an IPv4 address (tsula publishes ports on IPv4 only)').optional(),
    // containers' name servers, search domains and resolver options where they give none
    dns: z.array(ip()).optional(),
    'dns-search': z.array(z.string().refine(dnsSearchOk, 'is not a valid domain')).optional(),
    'dns-opts': z.array(z.string()).optional(),
    // what --add-host NAME:host-gateway gives: one address (dockerd before 25), or one IPv4
    // and one IPv6 address (dockerd 25 and later)
    'host-gateway-ip': ip().optional(),
    'host-gateway-ips': z.array(ip()).optional(),
    // dockerd's switches for what tsula always does its own way (networkConfig below)
    'userland-proxy': z.boolean().optional(),
    iptables: z.boolean().optional(),
    'ip-forward': z.boolean().optional(),
  };
};

/** What the networking keys configure. */
export interface DaemonNetworkConfig {
  /** The default bridge network's host bridge; null: "none", no default bridge network. */
  bridge: string | null;
  /** Its gateway address and prefix; unset: the first free subnet of the pools. */
  bip?: string;
  /** Where its containers' addresses come from (dockerd's fixed-cidr; an IPv4 CIDR). */
  fixedCidr?: string;
  /** Where networks' subnets come from (docker's default-address-pools). */
  addressPools?: Array<{ base: string; size: number }>;
  /** The default bridge network's enable_icc and enable_ip_masquerade (dockerd's icc, ip-masq). */
  bridgeIcc: boolean;
  bridgeMasq: boolean;
  /** The default bridge network's MTU (unset: 1500). */
  bridgeMtu?: number;
  /** The default bridge network has IPv6 (dockerd's ipv6), from this subnet (fixed-cidr-v6) when given. */
  bridgeIpv6?: { subnet?: string };
  /** The host address of its -p bindings that give none (dockerd's "ip", its host_binding_ipv4). */
  bridgeHostIp?: string;
  /** Containers' DNS where they give none of their own (dockerd's dns, dns-search, dns-opts). */
  dnsDefaults: DnsInput;
  /** What host-gateway stands for in --add-host; []: the default bridge's gateway. */
  hostGatewayIps: string[];
  /** "userland-proxy": true was asked (tsulad says at start that it publishes without one). */
  userlandProxy: boolean;
}

/** The networking part of the daemon's config from daemon.json (`file` names it in refusals). */
export function networkConfig(f: DaemonFileConfig, file: string): DaemonNetworkConfig {
  // tsula's networks are made of iptables rules and forwarding: without them no published
  // port, no way out, no isolation (dockerd's false makes it leave both to the administrator)
  if (f.iptables === false) {
    throw invalidArgument(`${file}: key "iptables": false is not supported: tsula's networks need their iptables rules (published ports' DNAT, masquerade, isolation between networks); remove the key or set it true`);
  }
  if (f['ip-forward'] === false) {
    throw invalidArgument(`${file}: key "ip-forward": false is not supported: containers reach past their bridge, and published ports reach them, only through the host's IPv4 forwarding, which the CNI bridge plugin turns on (net.ipv4.ip_forward=1); remove the key or set it true`);
  }
  if (f.ip6tables === false) {
    throw invalidArgument(`${file}: key "ip6tables": false is not supported: a network with IPv6 needs its ip6tables rules (masquerade, isolation between networks); remove the key or set it true`);
  }
  // dockerd's words (findConfigurationConflicts, ValidateHostGatewayIPs)
  if (f['host-gateway-ip'] !== undefined && f['host-gateway-ips'] !== undefined) {
    throw invalidArgument(`${file}: host-gateway-ip and host-gateway-ips must not both be specified in the config file`);
  }
  const gateways = f['host-gateway-ips'] ?? (f['host-gateway-ip'] ? [f['host-gateway-ip']] : []);
  for (const family of [4, 6]) {
    if (gateways.filter((a) => isIP(a) === family).length > 1) {
      throw invalidArgument(`${file}: key "host-gateway-ips": only one IPv${family} host gateway IP address can be specified`);
    }
  }
  return {
    bridge: f.bridge === 'none' ? null : f.bridge ?? 'tsulabr0',
    ...(f.bip ? { bip: f.bip } : {}),
    ...(f['fixed-cidr'] ? { fixedCidr: f['fixed-cidr'] } : {}),
    ...(f['default-address-pools'] ? { addressPools: f['default-address-pools'] } : {}),
    bridgeIcc: f.icc ?? true,
    bridgeMasq: f['ip-masq'] ?? true,
    ...(f.mtu ? { bridgeMtu: f.mtu } : {}),
    ...(f.ipv6 ? { bridgeIpv6: f['fixed-cidr-v6'] ? { subnet: f['fixed-cidr-v6'] } : {} } : {}),
    ...(f.ip ? { bridgeHostIp: f.ip } : {}),
    dnsDefaults: { dns: f.dns ?? [], dnsSearch: f['dns-search'] ?? [], dnsOptions: f['dns-opts'] ?? [] },
    hostGatewayIps: gateways,
    userlandProxy: f['userland-proxy'] ?? false,
  };
}
