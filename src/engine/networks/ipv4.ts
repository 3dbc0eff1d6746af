// IPv4 arithmetic for network subnets: parse "a.b.c.d/n", overlap, the n-th address, and the
// subnets already routed on this host (a new network must not shadow them, as dockerd checks).
import { isIPv4 } from 'node:net';
import { invalidArgument } from '../../common/errors.js';
import { exec } from '../../common/exec.js';

export interface Cidr { base: number; prefix: number }

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/** "10.1.0.0/24" (an address inside is taken to its network, as docker does). */
export function parseCidr(s: string, what = 'subnet'): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) throw invalidArgument(`invalid ${what} "${s}": want an IPv4 CIDR such as 172.20.0.0/16`);
  const prefix = Number(m[2]);
  const size = 2 ** (32 - prefix);
  return { base: Math.floor(ipToInt(m[1]!) / size) * size, prefix };
}

export function cidrString(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** Is the address (dotted, or as ipToInt gives it) in the subnet? */
export function contains(c: Cidr, ip: string | number): boolean {
  const n = typeof ip === 'number' ? ip : ipToInt(ip);
  return n >= c.base && n < c.base + size(c);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base < b.base + size(b) && b.base < a.base + size(a);
}

/** The n-th address of the subnet (1: the first host, docker's default gateway). */
export function nth(c: Cidr, n: number): string {
  return intToIp(c.base + n);
}

/** The first IPv4 address of a host interface with its prefix ("172.17.0.1/16"), if it has one. */
export async function interfaceAddress(name: string): Promise<string | null> {
  return (await interfaceAddresses(name))[0] ?? null;
}

/** Every IPv4 address of the interface ("ip/prefix"), in the kernel's order; none for no such interface. */
export async function interfaceAddresses(name: string): Promise<string[]> {
  const r = await exec('ip', ['-4', '-j', 'addr', 'show', 'dev', name]).catch(() => null);
  if (!r || r.code !== 0) return []; // no such interface
  const list = JSON.parse(r.stdout || '[]') as Array<{ addr_info?: Array<{ local?: string; prefixlen?: number }> }>;
  return (list[0]?.addr_info ?? []).filter((x) => x.local && x.prefixlen !== undefined).map((x) => `${x.local}/${x.prefixlen}`);
}

/** Subnets routed or addressed on the host now (its interfaces' and routes' destinations). */
export async function hostSubnets(): Promise<Cidr[]> {
  const out: Cidr[] = [];
  const r = await exec('ip', ['-4', '-j', 'route', 'show', 'table', 'all']);
  for (const x of JSON.parse(r.stdout || '[]') as Array<{ dst?: string; type?: string }>) {
    if (!x.dst || x.dst === 'default' || (x.type && x.type !== 'unicast')) continue;
    out.push(parseCidr(x.dst.includes('/') ? x.dst : `${x.dst}/32`));
  }
  return out;
}
