// IPv6 arithmetic for a network's IPv6 subnet (docker network create --ipv6): parse
// "fd00:1::/64", containment, overlap, the n-th address, and the subnet a network gets when
// it names none (a /64 of a unique local prefix made from its id, as dockerd 27+ takes one
// from fd00::/8 by default).
import { isIPv6 } from 'node:net';
import { sha256Hex } from '../../common/crypto.js';
import { invalidArgument } from '../../common/errors.js';

export interface Cidr6 { base: bigint; prefix: number }

const ALL = (1n << 128n) - 1n;

/** An address's value; null when it is no IPv6 address. */
export function ip6ToBig(ip: string): bigint | null {
  if (!isIPv6(ip) || ip.includes('%')) return null;
  let s = ip;
  // a dotted tail ("::ffff:1.2.3.4") as its two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0') as string[], ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** An address's 16 bytes, network order (an AAAA record's data). */
export function ip6Bytes(ip: string): Buffer {
  const n = ip6ToBig(ip) ?? 0n;
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Number((n >> BigInt(8 * (15 - i))) & 0xffn);
  return b;
}

/** The address in its canonical text (RFC 5952, as Go's net.IP prints it). */
export function bigToIp6(n: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  // the longest run of two or more zero groups, the first of equal ones, becomes "::"
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

/** "fd00:1::/64" (an address inside is taken to its network, as for IPv4). */
export function parseCidr6(s: string, what = 'subnet'): Cidr6 {
  const i = s.lastIndexOf('/');
  const ip = i > 0 ? ip6ToBig(s.slice(0, i)) : null;
  const prefix = Number(s.slice(i + 1));
  if (ip === null || !/^\d{1,3}$/.test(s.slice(i + 1)) || prefix > 128) throw invalidArgument(`invalid ${what} "${s}": want an IPv6 CIDR such as fd00:1::/64`);
  return { base: ip & mask(prefix), prefix };
}

function mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

export function cidr6String(c: Cidr6): string {
  return `${bigToIp6(c.base)}/${c.prefix}`;
}

export function contains6(c: Cidr6, ip: string | bigint): boolean {
  const n = typeof ip === 'bigint' ? ip : ip6ToBig(ip);
  return n !== null && (n & mask(c.prefix)) === c.base;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return (a.base & mask(p)) === (b.base & mask(p));
}

/** The n-th address of the subnet (1: docker's default gateway). */
export function nth6(c: Cidr6, n: bigint): string {
  return bigToIp6(c.base + n);
}

/** The last address of the subnet. */
export function last6(c: Cidr6): bigint {
  return c.base | (~mask(c.prefix) & ALL);
}

/** A /64 of a unique local /48 made from the network's id (RFC 4193's fd + 40-bit global id), the n-th. */
export function ulaSubnet(id: string, n = 0): string {
  const g = BigInt('0x' + sha256Hex(id).slice(0, 10));
  return cidr6String({ base: ((0xfdn << 120n) | (g << 80n) | (BigInt(n) << 64n)) & ALL, prefix: 64 });
}
