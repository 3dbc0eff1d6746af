// daemon.json's "insecure-registries" as dockerd's loadInsecureRegistries reads them: a CIDR,
// or host[:port] (an http:// or https:// in front is dropped, another scheme refused). One
// parser for both ends: config.ts refuses what it can't take, the registry client keeps the
// networks and names it looks hosts up in.
import * as net from 'node:net';

export type InsecureRegistry =
  | { cidr: { address: string; prefix: number; family: 'ipv4' | 'ipv6' } }
  | { host: string };

const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$/;

/** One entry, or dockerd's words for why it is none (its loadInsecureRegistries). */
export function parseInsecureRegistry(raw: string): InsecureRegistry | { problem: string } {
  const r = raw.replace(/^https?:\/\//i, '');
  if (r.includes('://')) return { problem: `insecure registry ${raw} should not contain '://'` };
  const cidr = /^(.+)\/(\d{1,3})$/.exec(r);
  if (cidr && net.isIP(cidr[1]!) && Number(cidr[2]) <= (net.isIPv6(cidr[1]!) ? 128 : 32)) {
    return { cidr: { address: cidr[1]!, prefix: Number(cidr[2]), family: net.isIPv6(cidr[1]!) ? 'ipv6' : 'ipv4' } };
  }
  const m = /^\[?([0-9a-fA-F:.]+?)\]?(?::(\d+))?$/.exec(r);
  const ip6 = m && net.isIPv6(m[1]!);
  if (!DOMAIN.test(r) && !ip6 && !net.isIP(r)) return { problem: `insecure registry ${raw} is not valid: invalid host ${JSON.stringify(r.replace(/:\d+$/, ''))}` };
  const port = /:(\d+)$/.exec(r)?.[1];
  if (port !== undefined && !ip6 && Number(port) > 65535) return { problem: `insecure registry ${raw} is not valid: invalid port "${port}"` };
  return { host: r.toLowerCase() };
}
