// The network service: the pre-defined networks (bridge, host, none), `network create` of
// bridge networks with a subnet of their own (pools.ts: given, or the first free one of the
// address pools, as dockerd picks it; an IPv6 one too with --ipv6) and its auxiliary
// addresses (aux.ts), rm and prune, and dockerd's refusals (pre-defined networks, active
// endpoints: 403). A user network's host bridge is made with its gateway address at its
// create, as dockerd's bridge driver does (the default one's at its first attachment, by the
// CNI bridge plugin), and goes with the network.
import { randomBytes } from '../../common/crypto.js';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { alreadyExists, errorMessage, internal, invalidArgument, notFound, permissionDenied } from '../../common/errors.js';
import { exec } from '../../common/exec.js';
import { newId } from '../../common/ids.js';
import { cniNetworkName, RESERVED_CNI_NAME } from './conflist.js';
import { lazySchema, type Infer } from '../../common/lazy-schema.js';
import type { EventBus } from '../events.js';
import type { Logger } from '../../common/log.js';
import type { Faults } from '../../common/faults.js';
import { running, type Container } from '../containers/model.js';
import { modeEndpointId, networkView, PREDEFINED, type EndpointView, type IpamPool, type NetworkRecord } from './model.js';
import type { NetworkStore } from './store.js';
import { NetworkFirewall } from './firewall.js';
import { NetworkPools, type AddressPool } from './pools.js';
export type { AddressPool } from './pools.js';
import { cidr6String, nth6, parseCidr6, ulaSubnet } from './ipv6.js';
import { legacyLinkAccepts } from './legacy-links.js';
import { reserveAux } from './aux.js';
import { interfaceAddress } from './ipv4.js';
import { dropOtherAddresses } from './bridge-address.js';
import { parseGoBool } from '../../common/gobool.js';

/** The network drivers dockerd has built in. */
const DOCKERD_DRIVERS = ['bridge', 'host', 'null', 'none', 'overlay', 'macvlan', 'ipvlan', 'windows', 'nat', 'transparent', 'l2bridge', 'ics'];
import { matchLabels, matchRegexp, pruneUntil, type Filters } from '../filters.js';

/** dockerd's default-address-pools. */
export const DEFAULT_POOLS: AddressPool[] = [
  ...Array.from({ length: 15 }, (_, i) => ({ base: `172.${17 + i}.0.0/16`, size: 16 })),
  { base: '192.168.0.0/16', size: 20 },
];

/** The host bridge of the default `bridge` network unless daemon.json's "bridge" names one. */
export const DEFAULT_BRIDGE = 'tsulabr0';

export interface NetworkServiceDeps {
  store: NetworkStore;
  /** host-local's lease dir; one subdir per network name. */
  ipamDir: string;
  /** daemon.json "bridge" (null: "none", no default bridge network), "bip", "default-address-pools". */
  bridge: string | null;
  bip?: string;
  /** daemon.json "fixed-cidr": the part of the default bridge's subnet its containers' addresses come from. */
  fixedCidr?: string;
  /** daemon.json "icc" and "ip-masq": the default bridge network's (default true). */
  bridgeIcc?: boolean;
  bridgeMasq?: boolean;
  /** daemon.json "mtu" and "ip": the default bridge network's MTU (1500) and host_binding_ipv4 (0.0.0.0). */
  bridgeMtu?: number;
  bridgeHostIp?: string;
  /** daemon.json "ipv6" (and "fixed-cidr-v6"): the default bridge network has IPv6. */
  bridgeIpv6?: { subnet?: string };
  pools: AddressPool[];
  log: Logger;
  events: EventBus;
  /** crash tests: TSULA_FAULT */
  faults?: Faults;
  /** Make a user network's bridge at its create (the daemon's; a service in a unit test touches no host interface). */
  hostBridges?: boolean;
}

const OPT = {
  name: 'com.docker.network.bridge.name',
  mtu: 'com.docker.network.driver.mtu',
  masq: 'com.docker.network.bridge.enable_ip_masquerade',
  icc: 'com.docker.network.bridge.enable_icc',
  hostIp: 'com.docker.network.bridge.host_binding_ipv4',
  defaultBridge: 'com.docker.network.bridge.default_bridge',
  gatewayMode: 'com.docker.network.bridge.gateway_mode_ipv4',
  gatewayMode6: 'com.docker.network.bridge.gateway_mode_ipv6',
};

export const createNetworkSchema = lazySchema((z) => z.object({
  Name: z.string().min(1, 'a network name is required'),
  CheckDuplicate: z.boolean().nullish(),
  Driver: z.string().nullish(),
  Scope: z.string().nullish(),
  Internal: z.boolean().nullish(),
  Attachable: z.boolean().nullish(),
  Ingress: z.boolean().nullish(),
  ConfigOnly: z.boolean().nullish(),
  ConfigFrom: z.object({ Network: z.string().nullish() }).passthrough().nullish(),
  EnableIPv6: z.boolean().nullish(),
  IPAM: z.object({
    Driver: z.string().nullish(),
    Options: z.record(z.string(), z.string()).nullish(),
    Config: z.array(z.object({
      Subnet: z.string().nullish(), IPRange: z.string().nullish(), Gateway: z.string().nullish(),
      AuxiliaryAddresses: z.record(z.string(), z.string()).nullish(),
    }).passthrough()).nullish(),
  }).passthrough().nullish(),
  Options: z.record(z.string(), z.string()).nullish(),
  Labels: z.record(z.string(), z.string()).nullish(),
}).passthrough());
type CreateNetworkBody = Infer<typeof createNetworkSchema>;

export class NetworkService {
  /** Containers of the engine, given once the container service exists. */
  private containers: () => Container[] = () => [];
  /** The networks' masquerade and FORWARD rules (set at a network's first attachment). */
  readonly firewall: NetworkFirewall;
  /** Where their subnets come from. */
  private readonly pools: NetworkPools;

  constructor(readonly d: NetworkServiceDeps) {
    this.firewall = new NetworkFirewall(d.log, (n) => legacyLinkAccepts(this.containers(), n));
    this.pools = new NetworkPools({ networks: () => d.store.list(), pools: d.pools, bridge: d.bridge, ...(d.bip ? { bip: d.bip } : {}), ...(d.fixedCidr ? { fixedCidr: d.fixedCidr } : {}) });
  }

  /** dockerd's network events: create, destroy, connect, disconnect. */
  emit(action: string, id: string, attrs: Record<string, string>): void { this.d.events.emit('network', action, id, attrs); }

  /** A container's connect or disconnect event: the network's id, name and driver, and the container. */
  emitEndpoint(action: 'connect' | 'disconnect', networkId: string, containerId: string): void {
    const n = this.d.store.list().find((x) => x.id === networkId);
    if (n) this.emit(action, n.id, { container: containerId, name: n.name, type: n.driver });
  }

  setContainers(list: () => Container[]): void { this.containers = list; }

  async init(): Promise<void> {
    await this.initRecords();
    // the default bridge with its address from the start, as dockerd's initBridgeDriver makes
    // docker0: host services that bind the bridge's address (a DNS forwarder, host-gateway
    // listeners) find it before the first container
    const def = this.d.store.byName('bridge');
    if (!def || !this.d.hostBridges) return;
    // an explicit bip replaces an IPv4 address tsulad's own bridge has otherwise (dockerd's
    // setupBridgeIPv4 on docker0: the CNI bridge plugin refuses a bridge with another
    // address); a bridge named in daemon.json is the host's, whose addresses are never taken
    // (dockerd refuses -b with --bip): its start says so instead
    if (this.d.bip) await dropOtherAddresses(def, def.bridge === DEFAULT_BRIDGE, this.d.log);
    await this.ensureGateway(def).catch((e: unknown) => this.d.log.warn('making the default bridge', { bridge: def.bridge, err: errorMessage(e) }));
  }

  private async initRecords(): Promise<void> {
    await this.d.store.load(this.d.log);
    for (const name of ['host', 'none'] as const) {
      if (!this.d.store.byName(name)) await this.d.store.save(this.record(name, name === 'host' ? 'host' : 'null', [], ''));
    }
    const old = this.d.store.byName('bridge');
    if (this.d.bridge === null) {
      if (old) await this.d.store.delete(old.id); // "bridge": "none": no default bridge network
      return;
    }
    const want = await this.pools.defaultBridge(old);
    const icc = this.d.bridgeIcc ?? true;
    const masq = this.d.bridgeMasq ?? true;
    const mtu = this.d.bridgeMtu;
    const hostIp = this.d.bridgeHostIp ?? '0.0.0.0';
    const was = old?.ipam.config[0];
    const id = old?.id ?? newId();
    // its IPv6 subnet: fixed-cidr-v6, else the one it had, else one made from its id
    const v6sub = this.d.bridgeIpv6 ? cidr6String(parseCidr6(this.d.bridgeIpv6.subnet ?? old?.ipv6?.subnet ?? ulaSubnet(id), 'daemon.json "fixed-cidr-v6"')) : undefined;
    const want6 = v6sub ? { subnet: v6sub, gateway: nth6(parseCidr6(v6sub), 1n) } : undefined;
    if (old && old.bridge === this.d.bridge && was?.subnet === want.subnet && was.gateway === want.gateway && was.ipRange === want.ipRange &&
      (old.icc ?? true) === icc && old.ipMasq === masq && old.mtu === mtu && old.options[OPT.hostIp] === hostIp && old.ipv6?.subnet === want6?.subnet) return;
    if (old) this.d.log.info('default bridge network reconfigured', { bridge: this.d.bridge, subnet: want.subnet, ipRange: want.ipRange, icc, ipMasq: masq, mtu, hostIp, ipv6: want6?.subnet ?? false });
    // a new bip or fixed-cidr-v6: the bridge loses the old gateway addresses, as dockerd's
    // setupBridgeIPv4/IPv6 replace them (the bridge plugin refuses a bridge with another IPv4 one)
    if (old?.bridge === this.d.bridge && existsSync(`/sys/class/net/${old.bridge}`)) {
      const stale = [
        ...(was && (was.gateway !== want.gateway || was.subnet !== want.subnet) ? [`${was.gateway}/${was.subnet.split('/')[1]}`] : []),
        ...(old.ipv6 && (old.ipv6.gateway !== want6?.gateway || old.ipv6.subnet !== want6.subnet) ? [`${old.ipv6.gateway}/${old.ipv6.subnet.split('/')[1]}`] : []),
      ];
      for (const a of stale) {
        const r = await exec('ip', ['addr', 'del', a, 'dev', old.bridge]);
        if (r.code !== 0 && !/Cannot assign requested address/.test(r.stderr)) this.d.log.warn('removing the default bridge\'s old address', { bridge: old.bridge, address: a, err: r.stderr.trim() });
      }
    }
    const rec = this.record('bridge', 'bridge', [want], this.d.bridge, id);
    if (want6) rec.ipv6 = want6;
    rec.ipMasq = masq;
    if (!icc) rec.icc = false;
    // as dockerd's initBridgeDriver: the driver options of its default network (mtu and the
    // binding address of the default bridge only: a user network has its own, or none)
    if (mtu) rec.mtu = mtu;
    rec.options = {
      [OPT.defaultBridge]: 'true', [OPT.icc]: String(icc), [OPT.masq]: String(masq), [OPT.hostIp]: hostIp, [OPT.name]: this.d.bridge, [OPT.mtu]: String(mtu ?? 1500),
    };
    await this.d.store.save(rec);
  }

  private record(name: string, driver: NetworkRecord['driver'], config: IpamPool[], bridge: string, id = newId()): NetworkRecord {
    return {
      id, name, driver, created: new Date().toISOString(), internal: false, attachable: false, labels: {}, options: {},
      ipam: { driver: 'default', options: {}, config }, bridge, ipMasq: true, predefined: PREDEFINED.includes(name as 'bridge'), autoSubnet: !this.d.bip,
    };
  }

  /** dockerd's FilterNetworks: name and id as regexps, type builtin|custom, one dangling value; else its errors. */
  list(filters: Filters = {}): NetworkRecord[] {
    const f = (k: string) => filters[k] ?? [];
    const types = [...new Set(f('type'))];
    const bad = types.find((t) => t !== 'builtin' && t !== 'custom');
    if (bad !== undefined) throw invalidArgument(`Invalid filter: 'type'='${bad}'`);
    const dangling = [...new Set(f('dangling'))];
    if (dangling.length > 1) throw invalidArgument('got more than one value for filter key "dangling"');
    if (dangling.length && !['0', '1', 'true', 'false'].includes(dangling[0]!)) {
      throw invalidArgument('invalid value for filter \'dangling\', must be "true" (or "1"), or "false" (or "0")');
    }
    const danglingOnly = dangling[0] === 'true' || dangling[0] === '1';
    return this.d.store.list().filter((n) =>
      matchRegexp(f('name'), n.name)
      && matchRegexp(f('id'), n.id)
      && (!f('driver').length || f('driver').includes(n.driver))
      && (!f('scope').length || f('scope').includes('local'))
      && (!types.length || types.includes(n.predefined ? 'builtin' : 'custom'))
      && (!dangling.length || danglingOnly === (!n.predefined && !this.endpoints(n.id).length))
      && matchLabels(n.labels, f('label')));
  }

  get(ref: string): NetworkRecord { return this.d.store.get(ref); }

  /** The default bridge, if there is one. */
  defaultBridge(): NetworkRecord | undefined { return this.d.store.byName('bridge'); }

  /** Running containers' endpoints on a network (docker's active endpoints). */
  endpoints(networkId: string): EndpointView[] {
    const out: EndpointView[] = [];
    const net = this.d.store.has(networkId) ? this.d.store.get(networkId) : undefined;
    for (const c of this.containers()) {
      // host and none: every running container in that mode, with no address
      if ((net?.driver === 'host' || net?.driver === 'null') && c.config.network === net.name && running(c.state)) {
        out.push({ containerId: c.id, name: c.name, endpointId: modeEndpointId(c.id, net.name, c.state.startedAt), mac: '', ipv4: '' });
      }
      for (const e of c.state.network?.endpoints ?? []) {
        if (e.networkId === networkId) out.push({ containerId: c.id, name: c.name, endpointId: e.endpointId, mac: e.mac, ipv4: `${e.ip}/${e.prefixLen}`, ipv6: e.ipv6 ? `${e.ipv6}/${e.prefixLen6}` : '' });
      }
    }
    return out;
  }

  view(n: NetworkRecord) { return networkView(n, this.endpoints(n.id)); }

  /**
   * One create at a time, from its name check to its record (libnetwork's per-name lock and
   * its locked pool allocator): parallel creates made networks of one name, or of one subnet.
   */
  private creating: Promise<unknown> = Promise.resolve();

  async create(raw: unknown): Promise<{ Id: string; Warning: string }> {
    const p = (await createNetworkSchema()).safeParse(raw);
    if (!p.success) throw invalidArgument(`invalid network config: ${p.error.issues[0]!.path.join('.') || 'body'}: ${p.error.issues[0]!.message}`);
    const run = this.creating.then(() => this.createOne(p.data));
    this.creating = run.catch(() => {});
    return run;
  }

  private async createOne(b: CreateNetworkBody): Promise<{ Id: string; Warning: string }> {
    if ([...PREDEFINED, 'default'].includes(b.Name)) throw permissionDenied(`operation is not permitted on predefined ${b.Name} network`);
    let name: string;
    // dockerd takes any name (`my net`, `test@#$`: moby's TestDockerNetworkCreateSpecialCharNetworkName);
    // CNI does not, so such a network has a CNI name of its id (conflist.ts). A "/" could not
    // be named in a URL's path, nor a control character in a log line
    if (!/^[^/\x00-\x1f\x7f]{1,253}$/.test(b.Name)) {
      throw invalidArgument(`invalid network name ${JSON.stringify(b.Name)}: it must be 1 to 253 characters, none of them "/" or a control character`);
    }
    // the CNI name (and lease dir) of another network could be this name: never a user's
    if (RESERVED_CNI_NAME.test(b.Name)) throw invalidArgument(`invalid network name "${b.Name}": names tsula-net-<12 hex digits> are tsulad's own (the CNI names of networks whose names have spaces)`);
    name = b.Name;
    if (this.d.store.byName(name)) throw alreadyExists(`network with name ${name} already exists`);
    const driver = b.Driver || 'bridge';
    // dockerd's built-in drivers tsula lacks are refused; a name no daemon knows is a plugin
    // dockerd looked for and did not find (libnetwork's loadDriver: a 404)
    if (driver !== 'bridge' && !DOCKERD_DRIVERS.includes(driver)) throw notFound(`plugin "${driver}" not found`);
    if (driver !== 'bridge') throw invalidArgument(`network driver "${driver}" is not supported: tsulad has the bridge driver only`);
    const refuse = (what: string) => { throw invalidArgument(`network ${name}: ${what} is not supported by tsulad`); };
    if (b.Ingress) refuse('an ingress network');
    if (b.ConfigOnly || b.ConfigFrom?.Network) refuse('--config-only / --config-from');
    if (b.Scope && b.Scope !== 'local') refuse(`scope "${b.Scope}"`);
    if (b.IPAM?.Driver && b.IPAM.Driver !== 'default') refuse(`IPAM driver "${b.IPAM.Driver}"`);
    const opts = b.Options ?? {};
    for (const k of Object.keys(opts)) if (!Object.values(OPT).includes(k) || k === OPT.defaultBridge) refuse(`driver option "${k}"`);
    const flag = (k: string): boolean => {
      const v = opts[k] === undefined ? true : parseGoBool(opts[k]!);
      if (v === null) throw invalidArgument(`network ${name}: invalid ${k} value "${opts[k]}": want true or false`);
      return v;
    };
    const [ipMasq, icc] = [flag(OPT.masq), flag(OPT.icc)];
    // docker 28's gateway modes, one per address family (libnetwork's bridge driver: each nat
    // by default): nat and nat-unprotected, which lets other hosts and networks reach the
    // containers' ports of that family directly; routed and isolated are not here
    const [mode, mode6] = [OPT.gatewayMode, OPT.gatewayMode6].map((k) => {
      const m = opts[k] ?? 'nat';
      if (m !== 'nat' && m !== 'nat-unprotected') throw invalidArgument(`network ${name}: gateway mode "${m}" is not supported by tsulad (${k}: nat or nat-unprotected)`);
      return m;
    });
    // an IPv6 pool counts only with EnableIPv6 (dockerd's ValidateIPAM skips it otherwise)
    const isV6 = (c: { Subnet?: string | null; Gateway?: string | null; IPRange?: string | null }) => [c.Subnet, c.Gateway, c.IPRange].some((x) => x?.includes(':'));
    const all = b.IPAM?.Config ?? [];
    const configs = all.filter((c) => !isV6(c));
    const v6configs = b.EnableIPv6 ? all.filter(isV6) : [];
    if (configs.length > 1) refuse('more than one IPv4 IPAM pool');
    if (v6configs.length > 1) refuse('more than one IPv6 IPAM pool');
    const pool = await this.pools.ipv4(name, configs[0]);
    const id = newId();
    const v6 = b.EnableIPv6 ? this.pools.ipv6(name, id, v6configs[0]) : undefined;
    const bridge = opts[OPT.name] || `br-${id.slice(0, 12)}`;
    if (bridge.length > 15 || !/^[a-zA-Z0-9_.-]+$/.test(bridge)) throw invalidArgument(`network ${name}: invalid bridge name "${bridge}" (at most 15 of [a-zA-Z0-9_.-])`);
    if (this.d.store.list().some((n) => n.bridge === bridge)) throw alreadyExists(`network ${name}: the bridge ${bridge} belongs to another network`);
    const mtu = opts[OPT.mtu] ? Number(opts[OPT.mtu]) : undefined;
    if (mtu !== undefined && (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535)) throw invalidArgument(`network ${name}: invalid ${OPT.mtu} "${opts[OPT.mtu]}"`);
    const rec: NetworkRecord = {
      ...this.record(name, 'bridge', [pool.pool], bridge, id),
      internal: !!b.Internal, attachable: !!b.Attachable, labels: b.Labels ?? {}, options: opts,
      // kept and shown as given: the default IPAM acts on none of them
      ipam: { driver: 'default', options: b.IPAM?.Options ?? null, config: [pool.pool] },
      ...(mtu ? { mtu } : {}), ipMasq, ...(icc ? {} : { icc }), ...(mode === 'nat-unprotected' ? { unprotected: true } : {}),
      ...(mode6 === 'nat-unprotected' ? { unprotected6: true } : {}),
      predefined: false, autoSubnet: pool.auto, ...(v6 ? { ipv6: v6.pool, ...(v6.auto ? { autoSubnet6: true } : {}) } : {}),
    };
    // held before the record is there: no container can join it before
    await reserveAux(this.d.ipamDir, rec);
    await this.d.store.save(rec);
    // the bridge with its gateway address now, as dockerd's bridge driver makes it at create
    // (`ip link show br-<id>`, a host service bound on the gateway); its rules come with the first container
    if (this.d.hostBridges) await this.ensureGateway(rec).catch((e: unknown) => this.d.log.warn('making the network\'s bridge', { network: name, bridge, err: errorMessage(e) }));
    this.emit('create', id, { name, type: 'bridge' });
    return { Id: id, Warning: '' };
  }

  /** What a network needs before a container's attachment: its iptables rules, its auxiliary addresses held. */
  async prepareAttach(n: NetworkRecord): Promise<void> {
    await this.firewall.ensure(n);
    await reserveAux(this.d.ipamDir, n);
    await giveBridgeMac(n.bridge);
  }

  /**
   * The network's bridge with its gateway address now, before its first attachment (which
   * would make both): a published port bound on that address needs it there (dockerd's
   * bridge driver makes both at network create).
   */
  async ensureGateway(n: NetworkRecord): Promise<void> {
    const pool = n.ipam.config[0];
    if (!pool || !n.bridge) return;
    const prefix = pool.subnet.split('/')[1];
    const have = await interfaceAddress(n.bridge);
    if (have?.startsWith(`${pool.gateway}/`)) return;
    const ip = (args: string[]) => exec('ip', args).then((r) => { if (r.code !== 0 && !/File exists/.test(r.stderr)) throw internal(`ip ${args.join(' ')}: ${r.stderr.trim()}`); });
    if (!existsSync(`/sys/class/net/${n.bridge}`)) await ip(['link', 'add', 'name', n.bridge, ...(n.mtu ? ['mtu', String(n.mtu)] : []), 'type', 'bridge']);
    await ip(['addr', 'add', `${pool.gateway}/${prefix}`, 'dev', n.bridge]);
    await ip(['link', 'set', 'dev', n.bridge, 'up']);
  }

  async remove(ref: string): Promise<void> {
    const n = this.get(ref);
    if (n.predefined) throw permissionDenied(`${n.name} is a pre-defined network and cannot be removed`);
    if (this.endpoints(n.id).length) throw permissionDenied(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
    // what the network leaves once the last container is gone (its iptables rules, the bridge
    // with the subnet's gateway address, and the lease dir) goes BEFORE the record: a crash in between
    // leaves a network whose next container makes its bridge again, never a bridge that no
    // record names (nothing would remove it, and its subnet would be taken for good)
    await this.firewall.remove(n);
    await exec('ip', ['link', 'del', n.bridge]).catch(() => undefined);
    await fs.rm(path.join(this.d.ipamDir, cniNetworkName(n)), { recursive: true, force: true });
    this.d.faults?.hit('network:after-bridge');
    await this.d.store.delete(n.id);
    this.emit('destroy', n.id, { name: n.name, type: n.driver });
  }

  async prune(filters: Filters = {}): Promise<{ NetworksDeleted: string[] | null }> {
    const cutoff = pruneUntil(filters.until) ?? Infinity;
    const deleted: string[] = [];
    for (const n of this.d.store.list()) {
      if (n.predefined || this.endpoints(n.id).length || Date.parse(n.created) > cutoff || !matchLabels(n.labels, filters.label ?? [], filters['label!'] ?? [])) continue;
      await this.remove(n.id);
      deleted.push(n.name);
    }
    return { NetworksDeleted: deleted.length ? deleted : null }; // dockerd's nil slice: null
  }
}

/**
 * A bridge a failed first ADD made (its IPAM refused the address) is left without ports and
 * with MAC 00:00:00:00:00:00, which the bridge plugin's next ADD cannot set back on it
 * ("could not set bridge's mac: invalid argument"): it gets a random locally administered one,
 * as dockerd gives its bridges.
 */
async function giveBridgeMac(bridge: string): Promise<void> {
  const mac = await fs.readFile(`/sys/class/net/${bridge}/address`, 'utf8').catch(() => '');
  if (mac.trim() !== '00:00:00:00:00:00') return;
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02; // unicast, locally administered
  await exec('ip', ['link', 'set', 'dev', bridge, 'address', [...b].map((x) => x.toString(16).padStart(2, '0')).join(':')]).catch(() => undefined);
}
