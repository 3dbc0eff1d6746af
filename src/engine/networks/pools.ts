// Where a network's subnets come from, as dockerd's default IPAM picks them: the default
// bridge's ("bip", the bridge's own address, fixed-cidr, the pools), a user network's IPv4
// pool (given, with its gateway, IPRange and auxiliary addresses, or the first free subnet
// of the address pools) and IPv6 pool (given, or a /64 of a unique local prefix made from
// the network's id). None may overlap another network's.
import { invalidArgument, permissionDenied } from '../../common/errors.js';
import { auxErrors, checkAuxTaken, invalidNetworkConfig } from './aux.js';
import { cidrString, contains, hostSubnets, interfaceAddresses, nth, overlaps, parseCidr, type Cidr } from './ipv4.js';
import { bigToIp6, cidr6String, contains6, ip6ToBig, nth6, overlaps6, parseCidr6, ulaSubnet, type Cidr6 } from './ipv6.js';
import type { IpamPool, NetworkRecord } from './model.js';

export interface AddressPool { base: string; size: number }

/** One IPAM.Config entry of a network create, as the API gives it. */
export interface PoolConfig {
  Subnet?: string | null;
  IPRange?: string | null;
  Gateway?: string | null;
  AuxiliaryAddresses?: Record<string, string> | null;
}

export interface PoolsDeps {
  /** The networks there are (no new subnet may overlap theirs). */
  networks(): NetworkRecord[];
  pools: AddressPool[];
  /** daemon.json "bridge", "bip", "fixed-cidr": the default bridge network's. */
  bridge: string | null;
  bip?: string;
  fixedCidr?: string;
}

export class NetworkPools {
  constructor(private readonly d: PoolsDeps) {}

  /**
   * The default bridge's subnet and gateway: "bip", else the address the bridge has, else the
   * subnet picked before, else "fixed-cidr" itself, else the first free one of the pools; with
   * "fixed-cidr" its containers' addresses come from that part of it (its IPRange), as
   * dockerd's getDefaultBridgeIPAMConf makes fixed-cidr the default network's sub-pool.
   */
  async defaultBridge(old: NetworkRecord | undefined): Promise<IpamPool> {
    const fixed = this.d.fixedCidr ? parseCidr(this.d.fixedCidr, 'daemon.json "fixed-cidr"') : undefined;
    const holds = (sub: Cidr) => !fixed || (fixed.prefix >= sub.prefix && contains(sub, fixed.base));
    const ranged = (p: IpamPool): IpamPool => ({ subnet: p.subnet, gateway: p.gateway, ...(fixed ? { ipRange: cidrString(fixed) } : {}) });
    const outside = (where: string) => invalidArgument(`daemon.json "fixed-cidr" ${this.d.fixedCidr} is not inside ${where}: the default bridge's containers get their addresses from within its subnet; give a fixed-cidr inside it`);
    if (this.d.bip) {
      const [ip] = this.d.bip.split('/');
      const sub = parseCidr(this.d.bip, 'daemon.json "bip"');
      if (!holds(sub)) throw outside(`the subnet ${cidrString(sub)} of "bip" ${this.d.bip}`);
      return ranged({ subnet: cidrString(sub), gateway: ip! });
    }
    // a bridge that already has an address keeps it, as dockerd does with docker0's: the CNI
    // bridge plugin refuses another one (a state dir made anew, a second daemon on the host)
    // of several, dockerd's selectBIP: the one whose subnet holds fixed-cidr, else the first
    const all = await interfaceAddresses(this.d.bridge!);
    const have = all.find((a) => fixed && holds(parseCidr(a))) ?? all[0];
    if (have) {
      const sub = parseCidr(have);
      if (!holds(sub)) throw outside(`the subnet ${cidrString(sub)} of the address ${have} that bridge ${this.d.bridge} has (set "bip" to an address whose subnet holds it, or delete the bridge: ip link del ${this.d.bridge})`);
      return ranged({ subnet: cidrString(sub), gateway: have.split('/')[0]! });
    }
    // the subnet chosen once stays (containers may still run on it)
    if (old?.ipam.config[0] && holds(parseCidr(old.ipam.config[0].subnet))) return ranged(old.ipam.config[0]);
    if (fixed) {
      if (fixed.prefix > 30) throw invalidArgument(`daemon.json "fixed-cidr" ${this.d.fixedCidr} is too small to be the default bridge's subnet (at most /30), which it is without "bip"`);
      return ranged({ subnet: cidrString(fixed), gateway: nth(fixed, 1) });
    }
    const sub = await this.free();
    return { subnet: cidrString(sub), gateway: nth(sub, 1) };
  }

  /**
   * The network's IPv6 pool: the one given (its gateway the subnet's first address unless
   * given, an IPRange inside it), or a /64 of a unique local prefix made from the network's id.
   */
  ipv6(name: string, id: string, c: PoolConfig | undefined): { pool: IpamPool; auto: boolean } {
    const taken = (sub: Cidr6) => this.d.networks().find((n) => n.ipv6 && overlaps6(parseCidr6(n.ipv6.subnet), sub));
    if (!c?.Subnet) {
      if (c?.Gateway || c?.IPRange) throw invalidArgument(`network ${name}: an IPv6 --gateway or --ip-range needs an IPv6 --subnet`);
      for (let i = 0; i < 256; i++) {
        const sub = parseCidr6(ulaSubnet(id, i));
        if (!taken(sub)) return { pool: { subnet: cidr6String(sub), gateway: nth6(sub, 1n) }, auto: true };
      }
      throw permissionDenied('could not find an available, non-overlapping IPv6 address pool to assign to the network');
    }
    if (Object.keys(c.AuxiliaryAddresses ?? {}).length) throw invalidArgument(`network ${name}: IPv6 auxiliary addresses are not supported by tsulad`);
    const sub = parseCidr6(c.Subnet);
    if (sub.prefix > 126) throw invalidArgument(`network ${name}: subnet ${c.Subnet} is too small (at most /126)`);
    const other = taken(sub);
    if (other) throw permissionDenied(`Pool overlaps with other one on this address space (network ${other.name} has ${other.ipv6!.subnet})`);
    let gateway = nth6(sub, 1n);
    if (c.Gateway) {
      const g = ip6ToBig(c.Gateway);
      if (g === null || !contains6(sub, g)) throw invalidArgument(`network ${name}: gateway ${c.Gateway} is not in subnet ${cidr6String(sub)}`);
      gateway = bigToIp6(g);
    }
    let ipRange: string | undefined;
    if (c.IPRange) {
      const r = parseCidr6(c.IPRange, 'ip-range');
      if (r.prefix < sub.prefix || !overlaps6(r, sub)) throw invalidArgument(`network ${name}: ip-range ${c.IPRange} is not inside subnet ${cidr6String(sub)}`);
      ipRange = cidr6String(r);
    }
    return { pool: { subnet: cidr6String(sub), gateway, ...(ipRange ? { ipRange } : {}) }, auto: false };
  }

  /** The first subnet of the pools that no network and no host route uses. */
  private async free(): Promise<Cidr> {
    const used = [...this.d.networks().flatMap((n) => n.ipam.config.map((c) => parseCidr(c.subnet))), ...await hostSubnets()];
    for (const p of this.d.pools) {
      const base = parseCidr(p.base, 'default-address-pools base');
      if (p.size < base.prefix || p.size > 30) throw invalidArgument(`default-address-pools: size ${p.size} does not fit in ${p.base}`);
      const step = 2 ** (32 - p.size);
      for (let b = base.base; b < base.base + 2 ** (32 - base.prefix); b += step) {
        const c = { base: b, prefix: p.size };
        if (!used.some((u) => overlaps(u, c))) return c;
      }
    }
    throw permissionDenied('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
  }

  async ipv4(name: string, c: PoolConfig | undefined): Promise<{ pool: IpamPool; auto: boolean }> {
    const aux = c?.AuxiliaryAddresses ?? {};
    if (!c?.Subnet) {
      // dockerd's ValidateIPAM: a pool's config without a subnet does not parse
      if (Object.keys(aux).length) throw invalidNetworkConfig([`invalid subnet ${c?.Subnet ?? ''}: invalid CIDR block notation`]);
      if (c?.Gateway || c?.IPRange) throw invalidArgument(`network ${name}: --gateway and --ip-range need a --subnet`);
      const sub = await this.free();
      return { pool: { subnet: cidrString(sub), gateway: nth(sub, 1) }, auto: true };
    }
    const sub = parseCidr(c.Subnet);
    if (sub.prefix > 30) throw invalidArgument(`network ${name}: subnet ${c.Subnet} is too small (at most /30)`);
    const auxErrs = auxErrors(c.Subnet, sub, aux);
    if (auxErrs.length) throw invalidNetworkConfig(auxErrs);
    for (const n of this.d.networks()) {
      for (const x of n.ipam.config) {
        if (overlaps(parseCidr(x.subnet), sub)) throw permissionDenied(`Pool overlaps with other one on this address space (network ${n.name} has ${x.subnet})`);
      }
    }
    const gateway = c.Gateway || nth(sub, 1);
    if (!contains(sub, gateway)) throw invalidArgument(`network ${name}: gateway ${gateway} is not in subnet ${cidrString(sub)}`);
    if (c.IPRange) {
      const r = parseCidr(c.IPRange, 'ip-range');
      if (r.prefix < sub.prefix || !overlaps(r, sub)) throw invalidArgument(`network ${name}: ip-range ${c.IPRange} is not inside subnet ${cidrString(sub)}`);
    }
    checkAuxTaken(sub, gateway, aux); // libnetwork asks for them once the pool and its gateway are had
    return {
      pool: { subnet: cidrString(sub), gateway, ...(c.IPRange ? { ipRange: c.IPRange } : {}), ...(Object.keys(aux).length ? { auxAddresses: aux } : {}) },
      auto: false,
    };
  }
}
