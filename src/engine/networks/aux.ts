// A network's auxiliary addresses (--aux-address, IPAM.Config[].AuxiliaryAddresses) as
// dockerd's default IPAM keeps them: checked against their pool's subnet at create (dockerd's
// ValidateIPAM, then libnetwork's ipamAllocateVersion, which requests each one from the pool)
// and held for good, so no container gets one, picked or handed out. host-local leases an
// address by creating <dataDir>/<network>/<ip> exclusively (its disk store's Reserve), so a
// file of ours there holds it as a lease no container owns: a DEL releases the files that
// name its container id and interface, never this one.
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import * as path from 'node:path';
import { cniNetworkName } from './conflist.js';
import { internal, invalidArgument } from '../../common/errors.js';
import { contains, intToIp, ipToInt, parseCidr, size, type Cidr } from './ipv4.js';
import { bigToIp6, ip6ToBig, last6, parseCidr6 } from './ipv6.js';
import type { IpamPool, NetworkRecord } from './model.js';

/** What a lease of ours holds (host-local's own: "<container id>\r\n<ifname>"). */
const OWNER = 'tsulad-aux-address';

/**
 * dockerd's ValidateIPAM for the auxiliary addresses of one pool: each parses, is IPv4 (the
 * subnet's family) and lies in the subnet. Its words, sorted by name (Go's map order is random).
 */
export function auxErrors(subnet: string, sub: Cidr, aux: Record<string, string>): string[] {
  const errs: string[] = [];
  for (const name of Object.keys(aux).sort()) {
    const ip = aux[name]!;
    const family = isIP(ip);
    const why = family === 0 ? 'invalid address'
      : family === 6 ? 'parent subnet is an IPv4 block'
        : contains(sub, ip) ? '' : `parent subnet ${subnet} doesn't contain this address`;
    if (why) errs.push(`invalid auxiliary address ${name}: ${why}`);
  }
  return errs;
}

/** dockerd's "invalid network config" of ValidateIPAM's errors (its multierror's list). */
export function invalidNetworkConfig(errs: string[]) {
  return invalidArgument(`invalid network config:\n* ${errs.join('\n* ')}`);
}

/**
 * libnetwork requests each auxiliary address from the pool after the gateway: one taken
 * already (the subnet's network or broadcast address, the gateway, another name's) is its 500.
 */
export function checkAuxTaken(sub: Cidr, gateway: string, aux: Record<string, string>): void {
  const taken = new Set([sub.base, sub.base + size(sub) - 1, ipToInt(gateway)]);
  for (const name of Object.keys(aux).sort()) {
    const n = ipToInt(aux[name]!);
    if (taken.has(n)) throw internal(`failed to allocate secondary ip address (${name}:${aux[name]}): Address already in use`);
    taken.add(n);
  }
}

/** The auxiliary addresses of a pool, as numbers (the subnet's accounting counts them in use). */
export function auxInts(c: IpamPool): number[] {
  return Object.values(c.auxAddresses ?? {}).map(ipToInt);
}

/**
 * Hold the network's auxiliary addresses in host-local's store (its lease dir, one per
 * network name): at create, and again before each attachment, for a dir made anew since.
 * A lease there already (ours) stays as it is.
 */
export async function reserveAux(ipamDir: string, n: NetworkRecord): Promise<void> {
  const ips = n.ipam.config.flatMap((c) => Object.values(c.auxAddresses ?? {}));
  if (!ips.length) return;
  const dir = path.join(ipamDir, cniNetworkName(n));
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  for (const ip of ips) {
    await fs.writeFile(path.join(dir, ip), `${OWNER}\r\n${n.name}`, { flag: 'wx', mode: 0o644 }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}

/** The addresses host-local's store holds leases of on the network (its files' names), of one family. */
async function leased(ipamDir: string, n: NetworkRecord, family: 4 | 6): Promise<string[]> {
  return (await fs.readdir(path.join(ipamDir, cniNetworkName(n))).catch(() => [] as string[])).filter((f) => isIP(f) === family);
}

/**
 * The lowest address of the network's range that no lease in host-local's store holds (nor
 * the gateway), as dockerd's IPAM hands one out (host-local alone moves on from its last one:
 * .27, .28 … with .2 free), but `pending` (picked by starts under way); undefined for none,
 * or for a /31 or /32.
 */
export async function lowestFreeIp(ipamDir: string, n: NetworkRecord, pending: ReadonlySet<string> = new Set()): Promise<string | undefined> {
  const c = n.ipam.config[0];
  if (!c) return undefined;
  const sub = parseCidr(c.subnet);
  if (sub.prefix >= 31) return undefined;
  const range = c.ipRange ? parseCidr(c.ipRange, 'ip-range') : sub;
  const held = new Set((await leased(ipamDir, n, 4)).map(ipToInt));
  if (c.gateway) held.add(ipToInt(c.gateway));
  for (const ip of pending) if (isIP(ip) === 4) held.add(ipToInt(ip));
  const last = Math.min(range.base + size(range) - 1, sub.base + size(sub) - 2);
  for (let a = Math.max(range.base, sub.base + 1); a <= last; a++) if (!held.has(a)) return intToIp(a);
  return undefined;
}

/**
 * lowestFreeIp for the network's IPv6 range (dockerd's IPAM gives the lowest free address of
 * either family): host-local's range, from the subnet's second address (or the IPRange's
 * first) to its last, its lease files named as Go prints an address.
 */
export async function lowestFreeIp6(ipamDir: string, n: NetworkRecord, pending: ReadonlySet<string> = new Set()): Promise<string | undefined> {
  const c = n.ipv6;
  if (!c) return undefined;
  const sub = parseCidr6(c.subnet);
  const range = c.ipRange ? parseCidr6(c.ipRange, 'ip-range') : sub;
  const held = new Set<bigint>();
  for (const ip of [...await leased(ipamDir, n, 6), ...[...pending].filter((x) => isIP(x) === 6), ...(c.gateway ? [c.gateway] : [])]) {
    const v = ip6ToBig(ip);
    if (v !== null) held.add(v);
  }
  const last = last6(range) < last6(sub) ? last6(range) : last6(sub);
  // at most held.size + 1 steps before a free one, whatever the range's size
  for (let a = range.base > sub.base ? range.base : sub.base + 1n; a <= last; a++) if (!held.has(a)) return bigToIp6(a);
  return undefined;
}
