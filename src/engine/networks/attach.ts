// A container's network while it runs: at each start a pinned network namespace of its own
// (<state>/networks/netns/<id>, the CRI pods' machinery) and a CNI ADD per network it joins
// (eth0, eth1, … in order; the published ports on the gateway's, their host ports bound by tsulad
// before the ADD installs their DNAT and held until the DELs: hostports.ts), at each exit
// the DELs and the namespace gone; docker's IP, MAC and gateway read from the CNI results.
// `network connect` and `disconnect` ADD and DEL on a running container's namespace. On a user network its
// peers answer to their names twice: in its /etc/hosts, rewritten as peers come and go (hosts-files.ts), and
// through the network's DNS server, its resolv.conf's nameserver (container-dns.ts). After a restart,
// attachments and namespaces of containers that no longer run are released from the CNI
// cache alone.
import { errorMessage, failedPrecondition, withContext, type TsulaError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fsutil.js';
import { newId } from '../../common/ids.js';
import type { Logger } from '../../common/log.js';
import type { Faults } from '../../common/faults.js';
import { waitForOrphanPlugins } from '../../network/orphans.js';
import { primaryIp, sandboxAddresses, type CapabilityArgs, type CniClient, type CniResult, type NetnsManager, type PortMapping } from '../../network/index.js';
import type { Container, EndpointSpec, NetworkState } from '../containers/model.js';
import { networkConfList } from './conflist.js';
import { addLinkLocalIps, applySysctls, ensureDefaultRoute6, gatewayIndex, ipv6OffFor, moveDefaultRoute } from './interfaces.js';
import { lowestFreeIp, lowestFreeIp6 } from './aux.js';
import { contains, parseCidr } from './ipv4.js';
import type { DnsInput } from './etc.js';
import type { NetworkRecord } from './model.js';
import { ContainerDns } from './container-dns.js';
import { HostsFiles } from './hosts-files.js';
import { PublishedPorts, SETUP_NETWORKING } from './hostports.js';
import type { NetworkService } from './service.js';

export interface ContainerNetworksDeps {
  netns: NetnsManager;
  cni: CniClient;
  networks: NetworkService;
  ipamDir: string;
  containers: () => Container[];
  log: Logger;
  /** Runtimes whose containers run in a VM (their resolv.conf names the gateway: dns-redirect.ts). */
  isVmRuntime(name: string): boolean;
  /** crash tests: TSULA_FAULT */
  faults?: Faults;
  /** daemon.json dns, dns-search, dns-opts: for containers that give none of their own. */
  dnsDefaults?: DnsInput;
  /** daemon.json host-gateway-ips: what --add-host NAME:host-gateway gives ([]: the default bridge's gateway). */
  hostGatewayIps?: string[];
}

type Endpoint = NetworkState['endpoints'][number];

export class ContainerNetworks {
  /** Containers' /etc/hosts files, made and rewritten as peers come and go. */
  private readonly hosts: HostsFiles;

  /** User networks' DNS servers and the containers' resolv.conf. */
  private readonly dns: ContainerDns;

  /** Per network, the addresses starts under way picked (lowestFreeIp) and have not leased yet. */
  private readonly picking = new Map<string, Set<string>>();

  /** Published host ports: chosen (dockerd's sequence) and held while their container's network is up. */
  private readonly ports: PublishedPorts;

  constructor(private readonly d: ContainerNetworksDeps) {
    this.ports = new PublishedPorts({ containers: d.containers, log: d.log });
    this.hosts = new HostsFiles(d);
    this.dns = new ContainerDns({ ...d, serial: (fn) => this.hosts.serial(fn), isDefaultBridge: (id) => this.isDefaultBridge(id) });
  }

  /** The user network whose DNS server a container's resolv.conf names (container-dns.ts). */
  dnsNetwork(rec: Container): NetworkRecord | null { return this.dns.network(rec); }

  /** After network connect or disconnect of a running container: its resolv.conf follows (container-dns.ts). */
  retargetDns(rec: Container, before: string | null): Promise<void> { return this.dns.retarget(rec, before); }

  /** Set up a 'cni' container's namespace and attachments; nothing is left on failure. */
  async setup(rec: Container): Promise<NetworkState> {
    const n = rec.config.networking!;
    const id = rec.id;
    // leftovers of a run whose exit was never handled (a crash): released first
    await this.release(id);
    const sandboxKey = await this.d.netns.create(id);
    const state: NetworkState = { sandboxKey, endpoints: [], ports: {} };
    const failed = async (e: unknown): Promise<TsulaError> => {
      await this.release(id).catch((u) => this.d.log.warn('network clean-up after a failed start', { id, err: errorMessage(u) }));
      // dockerd's own words stand alone, as its API gives them
      return errorMessage(e).startsWith(SETUP_NETWORKING) ? e as TsulaError : withContext(e, `cannot start container ${rec.name}`);
    };
    try {
      const internal = (nid: string) => this.d.networks.get(nid).internal;
      const gw = gatewayIndex(n.endpoints, internal, (nid) => !!this.d.networks.get(nid).ipv6);
      // ports go on the gateway's endpoint, and on none when it is --internal (it has no
      // gateway): dockerd's getGatewayEndpoint, moby#36174
      const publishAt = n.endpoints.length && !this.d.networks.get(n.endpoints[gw]!.networkId).internal ? gw : -1;
      for (const [i, ep] of n.endpoints.entries()) {
        const net = this.d.networks.get(ep.networkId);
        const endpointId = newId();
        let mappings: PortMapping[] = [];
        if (i === publishAt) {
          if (bindsGateway(rec, net)) await this.d.networks.ensureGateway(net);
          const ports = await this.ports.publish(rec, net, endpointId);
          state.ports = ports.bindings;
          mappings = ports.mappings;
        }
        state.endpoints.push(await this.add(rec, sandboxKey, net, ep, `eth${i}`, i === gw, mappings, endpointId));
      }
      // a gateway without IPv6: the IPv6 default route through the first network with it
      // (libnetwork's ep6); the CNI ADD gave only the gateway's interface default routes
      if (state.endpoints.length > 1 && !state.endpoints[gw]?.gateway6) {
        await ensureDefaultRoute6(state, n.endpoints, internal, (nid) => !!state.endpoints.find((e) => e.networkId === nid)?.gateway6);
      }
    } catch (e) {
      throw await failed(e);
    }
    await this.dns.started(rec, state.endpoints, sandboxKey).catch(async (e: unknown) => { throw await failed(e); });
    return state;
  }

  private async add(rec: Container, netns: string, net: NetworkRecord, ep: EndpointSpec, ifName: string, primary: boolean,
    portMappings: PortMapping[], endpointId = newId()): Promise<Endpoint> {
    if (net.driver !== 'bridge') throw failedPrecondition(`network ${net.name} (driver ${net.driver}) cannot be joined by a container with other networks`);
    // a VM's guest takes the interface's traffic, not the addresses on its host side
    if (ep.linkLocalIps?.length && this.d.isVmRuntime(rec.runtime)) throw failedPrecondition(`--link-local-ip is not supported for a container of the vmm runtime (network ${net.name})`);
    await this.d.networks.prepareAttach(net);
    // no fixed addresses: the ones it had last time, when they are still free (else any), with
    // the MAC it had with them (peers' ARP caches hold that pair)
    // (an address the network's range no longer has, after a new bip or fixed-cidr, is not asked for)
    const last = rec.state.lastIps?.[net.id];
    const again = !ep.ipv4Address && last && inPool(net, last) ? last : undefined;
    // an IPv6 address asked for: the IPv6 range set is the whole subnet (as --ip's), and the ips capability carries it
    // IPv6 off in the container or on this interface: no IPv6 address, hence no AAAA record
    // and no [::] mapping to it (dockerd 27+, moby's TestContainerDisabledIPv6)
    const noIpv6 = !!net.ipv6 && (rec.config.sysctls?.['net.ipv6.conf.all.disable_ipv6'] === '1'
      || !!ep.sysctls?.some((x) => /^net\.ipv6\.conf\.(IFNAME|ifname)\.disable_ipv6=1$/.test(x)));
    const listFor = (ip6: string | undefined) => networkConfList(net, { ipamDir: this.d.ipamDir, primary, requestedIp: !!ep.ipv4Address, requestedIp6: !!ip6, ports: portMappings.length > 0, noIpv6 });
    // the bridge plugin takes both from CNI_ARGS (IP: host-local's, a single one; MAC: the
    // container's interface); with an IPv6 address asked for too, the addresses go as the
    // `ips` capability (host-local's runtimeConfig.ips: one per range set)
    const fixed6 = net.ipv6 && !noIpv6 ? ep.ipv6Address : undefined;
    const again6 = !ep.ipv6Address && net.ipv6 && !noIpv6 ? rec.state.lastIps6?.[net.id] : undefined;
    const withIp = (ip: string | undefined, mac = ep.mac, ip6 = fixed6): [string, string][] =>
      [['IgnoreUnknown', '1'], ...(ip && !ip6 ? [['IP', ip] as [string, string]] : []), ...(mac ? [['MAC', mac] as [string, string]] : [])];
    const caps = (ip: string | undefined, ip6 = fixed6): CapabilityArgs => ({ ...(portMappings.length ? { portMappings } : {}), ...(ip6 ? { ips: [...(ip ? [ip] : []), ip6] } : {}) });
    const taken = (e: unknown) => /is not available in range set|is subnet's gateway|not in range|has been allocated|failed to allocate all requested IPs/.test(errorMessage(e));
    const cniAdd = (ip: string | undefined, mac?: string, ip6 = fixed6) => this.d.cni.add(listFor(ip6), { containerId: rec.id, netns, ifName, args: withIp(ip, mac, ip6), capabilityArgs: caps(ip, ip6) });
    const lastMac = ep.mac || rec.state.lastMacs?.[net.id];
    // a fresh address is the lowest free one of each family, as dockerd's IPAM gives (one set
    // of picks per network, both families', shared before the await: a concurrent start skips
    // this one's)
    let picking = this.picking.get(net.id);
    if (!picking) this.picking.set(net.id, picking = new Set<string>());
    const picked: string[] = [];
    const pickLowest = async (family: 4 | 6) => {
      const ip = await (family === 4 ? lowestFreeIp : lowestFreeIp6)(this.d.ipamDir, net, picking);
      if (ip) { picking.add(ip); picked.push(ip); }
      return ip;
    };
    // the lowest free ones (IPv4 with its MAC) but what --ip / --ip6 ask for, else host-local's next ones
    const fresh = async () => {
      const ip = ep.ipv4Address ? undefined : await pickLowest(4);
      const ip6 = fixed6 ?? (net.ipv6 && !noIpv6 ? await pickLowest(6) : undefined);
      const mac = ep.mac || (ip ? macOfIp(ip) : ep.ipv4Address ? lastMac : undefined);
      return cniAdd(ip ?? ep.ipv4Address, mac, ip6)
        .catch((e: unknown) => { if ((ip || ip6 !== fixed6) && taken(e)) return cniAdd(ep.ipv4Address, ep.ipv4Address ? mac : ep.mac); throw e; });
    };
    const result = await (again || again6
      // its last address (and MAC) back; taken meanwhile, or gone from the range: a fresh one
      ? cniAdd(again ?? ep.ipv4Address, lastMac, fixed6 ?? again6).catch((e: unknown) => { if (taken(e)) return fresh(); throw e; })
      : fresh())
      .finally(() => { for (const ip of picked) picking.delete(ip); })
      .catch((e: unknown) => {
        // host-local's "requested IP address … is not available" / "… is subnet's gateway": docker's words
        if ((ep.ipv4Address || ep.ipv6Address) && taken(e)) {
          throw failedPrecondition(`Address already in use: ${[ep.ipv4Address, ep.ipv6Address].filter(Boolean).join(' or ')} on network ${net.name}`);
        }
        throw e;
      });
    const e = endpointOf(net, ep, ifName, result, endpointId);
    // the interface's own sysctls and link-local addresses, now that it is there (dockerd sets
    // them at the endpoint's join)
    if (ep.sysctls?.length || ep.linkLocalIps?.length) {
      await applySysctls(netns, ifName, ep.sysctls ?? []).then(() => addLinkLocalIps(netns, ifName, ep.linkLocalIps ?? [])).catch(async (err: unknown) => {
        // the attachment goes with it: a connect leaves nothing, a start releases the rest
        const a = (await this.d.cni.attachments(rec.id)).find((x) => x.ifName === ifName);
        if (a) await this.d.cni.delCached(a, netns).catch(() => undefined);
        throw failedPrecondition(`${errorMessage(err)} on network ${net.name}`);
      });
    }
    return e;
  }

  /** Free the container's published host ports (its DNAT, and its loopback guard after it, go with release()). */
  freePorts(id: string): void {
    this.ports.release(id, { keepGuard: true });
  }

  /** Free its host ports, DEL every attachment of the container, then its namespace (idempotent). */
  async release(id: string): Promise<void> {
    // first, as dockerd's releasePortBindings closes the sockets before it deletes the DNAT
    // (an exit freed them already, before its waiters woke: freePorts)
    this.ports.release(id, { keepGuard: true });
    const netnsPath = (await this.d.netns.exists(id)) ? this.d.netns.path(id) : '';
    // every attachment is tried, and the namespace goes whatever they say: a DEL that fails
    // (a plugin's error) must not leave a pinned namespace behind for every failed start
    let failed: unknown;
    for (const a of await this.d.cni.attachments(id)) {
      await this.d.cni.delCached(a, netnsPath).catch((e: unknown) => {
        failed ??= e;
        this.d.log.warn('a CNI DEL failed: its cache entry stays for the next try', { id, network: a.networkName, ifName: a.ifName, err: errorMessage(e) });
      });
    }
    // the DNATs are gone: their loopback guards may go (a failed DEL keeps them)
    if (!failed) this.ports.unguard(id);
    await this.d.netns.remove(id);
    await this.dns.leave(id);
    if (failed) throw failed;
  }

  /** network connect on a running container: the next ethN. */
  async connect(rec: Container, ep: EndpointSpec): Promise<void> {
    const st = rec.state.network;
    if (!st) return;
    const used = new Set(st.endpoints.map((e) => e.ifName));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const net = this.d.networks.get(ep.networkId);
    // ports no network of the container carries (it left the one that did, or had only an
    // --internal one) go on the network it joins, as dockerd gives them to the new gateway
    const endpointId = newId();
    let mappings: PortMapping[] = [];
    if (!Object.keys(st.ports).length && !net.internal) ({ bindings: st.ports, mappings } = await this.ports.publish(rec, net, endpointId));
    let added: Endpoint;
    try {
      added = await this.add(rec, st.sandboxKey, net, ep, `eth${i}`, st.endpoints.length === 0, mappings, endpointId);
    } catch (e) {
      if (mappings.length) { this.ports.release(rec.id); st.ports = {}; }
      throw e;
    }
    this.d.faults?.hit('connect:after-add'); // recovery DELs an attachment the record does not name
    // a network without IPv6: the new interface has none (at a start the runtime sets it: spec.ts)
    if (!this.d.isVmRuntime(rec.runtime) && ipv6OffFor(!!net.ipv6, ep.sysctls)) {
      await applySysctls(st.sandboxKey, added.ifName, ['net.ipv6.conf.IFNAME.disable_ipv6=1'])
        .catch((e) => this.d.log.warn('turning IPv6 off on an interface of a network without it', { id: rec.id, ifName: added.ifName, err: errorMessage(e) }));
    }
    st.endpoints.push(added);
    await this.dns.serve(rec, [added]);
    if (st.endpoints.length > 1) await this.moveDefaultRoute(rec, [...rec.config.networking!.endpoints, ep]);
  }

  /** After a connect or disconnect: the default route through the endpoint that sorts first. */
  private async moveDefaultRoute(rec: Container, specs: EndpointSpec[]): Promise<void> {
    const nets = this.d.networks.list();
    await moveDefaultRoute(rec.state.network, specs, (id) => !!nets.find((x) => x.id === id)?.internal)
      .catch((e) => this.d.log.warn('moving the default route', { id: rec.id, err: errorMessage(e) }));
  }

  /** network disconnect on a running container: DEL that attachment. */
  async disconnect(rec: Container, networkId: string): Promise<void> {
    const st = rec.state.network;
    const e = st?.endpoints.find((x) => x.networkId === networkId);
    if (!st || !e) return;
    const a = (await this.d.cni.attachments(rec.id)).find((x) => x.ifName === e.ifName);
    if (a) await this.d.cni.delCached(a, st.sandboxKey);
    if ((a?.capabilityArgs as CapabilityArgs | undefined)?.portMappings?.length) {
      // its DNAT went with it: the host ports are free again and published no more
      this.ports.release(rec.id);
      st.ports = {};
    }
    st.endpoints = st.endpoints.filter((x) => x !== e);
    await this.dns.leave(rec.id, [networkId]);
    await this.moveDefaultRoute(rec, rec.config.networking?.endpoints ?? []);
  }

  /**
   * After a restart: release what containers that no longer run left behind, and the
   * attachments of running ones that their records do not name (a `network connect` cut
   * short between its CNI ADD and the record: the interface and the lease would stay, and
   * the next connect to that network would find its ethN taken).
   */
  async recover(live: Set<string>): Promise<void> {
    await this.d.cni.removeCacheTemp(); // cache writes a crash cut short
    const attachments = await this.d.cni.attachments();
    const ids = new Set(attachments.map((a) => a.containerId));
    for (const n of await this.d.netns.list()) ids.add(n.id);
    const stopped = [...ids].filter((id) => !live.has(id));
    // a running container's attachments its record does not name (a record without its
    // network state, a start adopted from the runtime, says nothing)
    const unnamed = this.d.containers().filter((c) => live.has(c.id) && c.state.network).flatMap((c) => {
      const named = new Set(c.state.network!.endpoints.map((e) => e.ifName));
      return attachments.filter((a) => a.containerId === c.id && !named.has(a.ifName)).map((a) => ({ c, a }));
    });
    // an ADD the killed daemon left running would otherwise finish after our DEL (each has
    // its cache entry, written before its plugins run: nothing to release, none to wait for)
    if (stopped.length || unnamed.length) await waitForOrphanPlugins(this.d.netns.dir, undefined, this.d.log);
    for (const id of stopped) {
      await this.release(id).catch((e) => this.d.log.warn('releasing the network of a stopped container', { id, err: errorMessage(e) }));
    }
    for (const { c, a } of unnamed) {
      this.d.log.warn('releasing an attachment the container record does not name (a network connect cut short)', { id: c.id, network: a.networkName, ifName: a.ifName });
      await this.d.cni.delCached(a, c.state.network!.sandboxKey).catch((e) => this.d.log.warn('releasing', { id: c.id, ifName: a.ifName, err: errorMessage(e) }));
    }
    for (const c of this.d.containers()) if (live.has(c.id)) await this.dns.serve(c, c.state.network?.endpoints ?? []);
    for (const c of this.d.containers()) if (live.has(c.id)) await this.ports.retake(c);
    const known = new Set(this.d.containers().map((c) => c.id));
    await this.ports.sweep((id) => known.has(id) && !live.has(id));
    // the rules of the networks running containers use, in case a firewall reload took them
    const inUse = new Set(this.d.containers().filter((c) => live.has(c.id)).flatMap((c) => c.state.network?.endpoints.map((e) => e.networkId) ?? []));
    for (const n of this.d.networks.list()) {
      if (inUse.has(n.id)) await this.d.networks.firewall.ensure(n).catch((e) => this.d.log.warn('the iptables rules of a network in use', { network: n.name, err: errorMessage(e) }));
    }
  }

  // ---- /etc/hosts and resolv.conf ------------------------------------------------------------

  /**
   * The container's own files at create (hostname, hosts, resolv.conf); 'container' mode
   * shares another's. Derived files, not synced: the start repairs what a power cut emptied.
   */
  async writeEtc(rec: Container): Promise<void> {
    const k = rec.config;
    if (k.network === 'container') return;
    await writeFileAtomic(rec.paths.hostname, k.hostname + '\n', 0o644, 'none');
    await writeFileAtomic(rec.paths.hosts, await this.hosts.text(rec), 0o644, 'none');
    await this.dns.writeResolvConf(rec, true, false, 'none');
  }

  /** The container's /etc/hosts as it is now (hosts-files.ts). */
  hostsText(rec: Container): Promise<string> { return this.hosts.text(rec); }

  private isDefaultBridge(networkId: string): boolean {
    return this.d.networks.defaultBridge()?.id === networkId;
  }

  /** Rewrite rec's own hosts file: before its start atomically, while it runs in place. */
  refreshOwn(rec: Container, atomic: boolean): Promise<void> { return this.hosts.refreshOwn(rec, atomic); }

  /** Rewrite the hosts files of the running containers on these user networks (but `except`). */
  refreshPeers(networkIds: string[], except: string): Promise<void> { return this.hosts.refreshPeers(networkIds, except); }

  /** A legacy link's child started (again): its running parents' /etc/hosts get its address. Whether it has any. */
  refreshLinkParents(childId: string): Promise<boolean> { return this.hosts.refreshLinkParents(childId); }

}

/** Is `ip` in the network's IPv4 subnet (and IPRange, if it has one)? */
function inPool(net: NetworkRecord, ip: string): boolean {
  const c = net.ipam.config[0];
  if (!c) return false;
  try {
    return contains(parseCidr(c.subnet), ip) && (!c.ipRange || contains(parseCidr(c.ipRange, 'ip-range'), ip));
  } catch {
    return false;
  }
}

/**
 * A MAC made from an IPv4 address (02:42 and its four bytes, dockerd's before 26): the next
 * container given an address gets the MAC the host's and peers' ARP caches hold for it, not a
 * new one they would miss for seconds (dockerd 27+ sends gratuitous ARPs instead).
 */
export function macOfIp(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}

/** Does the container publish a port on the network's own gateway address (its bridge's, made at its first attachment)? */
function bindsGateway(rec: Container, net: NetworkRecord): boolean {
  const gw = net.ipam.config[0]?.gateway;
  const n = rec.config.networking;
  if (!gw || !n || (!Object.keys(n.portBindings).length && !n.publishAll)) return false;
  const dflt = net.options['com.docker.network.bridge.host_binding_ipv4'] || '0.0.0.0';
  const ips = Object.values(n.portBindings).flat().map((b) => b.hostIp || dflt);
  return (n.publishAll ? [...ips, dflt] : ips).includes(gw);
}

function endpointOf(net: NetworkRecord, ep: EndpointSpec, ifName: string, r: CniResult, endpointId: string): Endpoint {
  const addr = sandboxAddresses(r, ifName).find((x) => x.family === 4);
  const addr6 = sandboxAddresses(r, ifName).find((x) => x.family === 6);
  const itf = r.interfaces.find((x) => x.name === ifName && x.sandbox);
  return {
    networkId: net.id, name: net.name, endpointId, ifName,
    ip: primaryIp(r, ifName) ?? '', prefixLen: addr ? Number(addr.address.split('/')[1]) : 0,
    gateway: addr?.gateway ?? net.ipam.config[0]?.gateway ?? '', mac: itf?.mac ?? '',
    ...(addr6 ? { ipv6: addr6.address.split('/')[0]!, prefixLen6: Number(addr6.address.split('/')[1]), gateway6: addr6.gateway ?? net.ipv6?.gateway ?? '' } : {}),
  };
}
