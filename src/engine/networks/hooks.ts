// Docker networking at the points of a container's life (containers/hooks.ts): at create the
// network mode resolved (the default bridge, a named network, host, none, container:<x>) and
// dockerd's conflicts refused, its /etc files written; at start its namespace and CNI
// attachments (containers of a VM runtime have no host network namespace to join: refused);
// at exit their release; `network connect` / `disconnect`.
import * as os from 'node:os';
import { failedPrecondition, internal, invalidArgument, notFound, permissionDenied } from '../../common/errors.js';
import type { ContainerHooks, CreateContext } from '../containers/hooks.js';
import { running, type Container, type EndpointSpec } from '../containers/model.js';
import { etcFilesIntact } from '../containers/create.js';
import type { ContainerNetworks } from './attach.js';
import { checkDns, checkExtraHosts } from './etc.js';
import { contains, parseCidr } from './ipv4.js';
import { bigToIp6, contains6, ip6ToBig, parseCidr6 } from './ipv6.js';
import type { NetworkRecord } from './model.js';
import type { NetworkService } from './service.js';
import { checkLinks, ENDPOINT_LINKS } from './links.js';
import { childRemoved, hostLinksView, resolveLegacyLinks, startLinks } from './legacy-links.js';
import type { Logger } from '../../common/log.js';

export interface NetworkHooksDeps {
  networks: NetworkService;
  attach: ContainerNetworks;
  /** Container lookup (by id, name or prefix) and record writes. */
  containers: { get(ref: string): Container; list(): Container[]; save(rec: Container): Promise<void> };
  /** Runtimes whose containers run in a VM (no host network namespace to join). */
  isVmRuntime(name: string): boolean;
  /** The container names registry: legacy links are names of their child ("<parent>/<alias>"). */
  names: { reserve(name: string, id: string): string; release(name: string, id: string): void; owner(name: string): string | undefined };
  log: Logger;
}

/** Marks an endpoint of the create that names the NetworkMode's network again (merged into it). */
const DUPLICATE = '\0duplicate';


/**
 * dockerd 29 sets no legacy link variables (moby#50719) unless its environment has
 * DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS=1; the links' checks and firewall openings stay.
 */
const KEEP_LINK_ENV = (): boolean => process.env.DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS === '1';

export class NetworkHooks implements ContainerHooks {
  constructor(private readonly d: NetworkHooksDeps) {}

  async create(rec: Container, ctx: CreateContext): Promise<void> {
    const k = rec.config;
    const n = k.networking;
    if (!n) return;
    checkExtraHosts(n.extraHosts);
    checkDns(n);
    const hasPorts = Object.keys(n.portBindings).length > 0 || n.publishAll;
    // a VM would take the joined namespace's interface for its own (the tap's redirect): the
    // other container would lose its network
    if (k.network === 'container' && this.d.isVmRuntime(rec.runtime)) {
      throw invalidArgument(`runtime ${rec.runtime} runs the container in a VM, which cannot share another container's network namespace: --network ${n.mode} is refused (use --network none, or a CRI pod whose containers share the VM's network)`);
    }
    if (k.network === 'cni') {
      const ep = n.endpoints[0]!;
      // dockerd's create takes a network it does not know (the start fails: 404 there);
      // a 404 here would make the docker CLI try to pull the image
      const net = this.d.networks.defaultBridge() && ep.name === 'bridge' ? this.d.networks.defaultBridge()! : this.find(ep.name);
      if (!net && n.mode === 'default' && n.endpoints.length === 1) { // no default bridge ("bridge": "none" in daemon.json)
        k.network = 'none';
        n.endpoints = [];
      } else if (!net) {
        ep.networkId = '';
      } else if (net.driver === 'host' || net.driver === 'null') {
        if (n.endpoints.length > 1) throw permissionDenied('container cannot be disconnected from host network or connected to host network');
        k.network = net.driver === 'host' ? 'host' : 'none';
        n.endpoints = [];
      } else {
        checkEndpoint(net, ep);
        Object.assign(ep, { networkId: net.id, name: net.name });
      }
      // the other networks of the create (API 1.44+): each once, user bridges
      for (const other of n.endpoints.slice(1)) {
        const o = this.find(other.name);
        if (!o) continue; // as the main one: the start fails
        if (o.driver !== 'bridge') throw permissionDenied('container cannot be disconnected from host network or connected to host network');
        const same = n.endpoints.find((x) => x !== other && x.networkId === o.id);
        if (same === ep) {
          // the NetworkMode's network keyed by another of its names (id, short id): its settings
          Object.assign(ep, { ...other, ...Object.fromEntries(Object.entries(ep).filter(([, v]) => v !== undefined && !(Array.isArray(v) && !v.length))) });
          other.networkId = DUPLICATE;
          continue;
        }
        if (same) throw permissionDenied(`endpoint with name ${rec.name} already exists in network ${o.name}`);
        checkEndpoint(o, other);
        Object.assign(other, { networkId: o.id, name: o.name });
      }
      n.endpoints = n.endpoints.filter((x) => x.networkId !== DUPLICATE);
      if (n.endpoints[0] === ep && ep.networkId) checkEndpoint(this.d.networks.get(ep.networkId), ep);
      if (n.endpoints.length > 1 && this.d.isVmRuntime(rec.runtime)) {
        throw failedPrecondition(`container ${rec.name} runs in a VM (runtime ${rec.runtime}), which has one network interface: create it on one network`);
      }
    }
    if (k.network === 'container') {
      const ref = n.container ?? '';
      if (ctx.spec.hostname) throw invalidArgument('conflicting options: hostname and the network mode');
      if (n.dns.length) throw invalidArgument('conflicting options: dns and the network mode');
      if (n.extraHosts.length) throw invalidArgument('conflicting options: custom host-to-IP mapping and the network mode');
      if (hasPorts) throw invalidArgument('conflicting options: port publishing and the container type network mode');
      if (n.exposedPorts.length) throw invalidArgument('conflicting options: port exposing and the container type network mode');
      // like dockerd, a container that does not exist (yet) fails the start, not the create
      const other = this.findContainer(ref);
      if (other) joinFiles(rec, other);
    }
    if (k.network === 'host') {
      if (hasPorts) ctx.warnings.push('Published ports are discarded when using host network mode');
      if (!ctx.spec.hostname) k.hostname = os.hostname();
    }
    if (k.network !== 'cni') n.endpoints = [];
    const links = n.hostLinks;
    delete n.hostLinks;
    // on a user network HostConfig.Links do nothing (its endpoint's links are aliases), as dockerd's registerLinks
    if (links?.length && (k.network === 'none' || (k.network === 'cni' && this.onDefaultBridge(rec)))) {
      n.legacyLinks = resolveLegacyLinks(rec, links, {
        get: (ref) => this.d.containers.get(ref),
        reserve: (name, id) => { try { this.d.names.reserve(name, id); return true; } catch { return false; } },
        warn: (msg, fields) => this.d.log.warn(msg, fields),
      });
    }
    // the image's EXPOSE too (what -P publishes and inspect shows)
    n.exposedPorts = [...new Set([...Object.keys(ctx.image.config.ExposedPorts ?? {}), ...n.exposedPorts])].sort();
    await this.d.attach.writeEtc(rec);
  }

  async createFailed(rec: Container): Promise<void> {
    this.releaseLinkNames(rec);
  }

  /** A parent's link names (its children's), freed when it goes. */
  private releaseLinkNames(rec: Container): void {
    for (const l of rec.config.networking?.legacyLinks ?? []) this.d.names.release(`${rec.name}/${l.alias}`, l.child);
  }

  private onDefaultBridge(rec: Container): boolean {
    const id = this.d.networks.defaultBridge()?.id;
    return !!id && !!rec.config.networking?.endpoints.some((e) => e.networkId === id);
  }

  private byId = (id: string): Container | undefined => this.d.containers.list().find((c) => c.id === id);

  /** inspect's HostConfig.Links. */
  hostLinks(rec: Container): string[] | null {
    return hostLinksView(rec, this.byId);
  }

  /**
   * `docker rm --link /parent/alias` (dockerd's rmLink): the name goes, the parent forgets the
   * link and its /etc/hosts loses the line; the child stays. Its own name is no link: a 500
   * in dockerd's words, never a removal.
   */
  async removeLink(ref: string): Promise<void> {
    const child = this.d.containers.get(ref);
    const name = ref.startsWith('/') ? ref.slice(1) : ref;
    const i = name.lastIndexOf('/');
    if (i < 0) throw internal('Conflict, cannot remove the default link name of the container');
    const [parentName, alias] = [name.slice(0, i), name.slice(i + 1)];
    const parentId = this.d.names.owner(parentName);
    if (!parentId) throw internal(`Cannot get parent /${parentName} for link name /${name}`);
    this.d.names.release(name, child.id);
    const parent = this.byId(parentId);
    const n = parent?.config.networking;
    if (!parent || !n?.legacyLinks) return;
    n.legacyLinks = n.legacyLinks.filter((l) => !(l.alias === alias && l.child === child.id));
    if (!n.legacyLinks.length) delete n.legacyLinks;
    await this.d.containers.save(parent);
    if (running(parent.state) && parent.config.network === 'cni') {
      await this.d.attach.refreshOwn(parent, false);
      await this.linksMoved(); // its opening closes now, not at the bridge's next start or stop
    }
  }

  private find(ref: string): NetworkRecord | undefined {
    try {
      return this.d.networks.get(ref);
    } catch {
      return undefined;
    }
  }

  private findContainer(ref: string): Container | undefined {
    try {
      return this.d.containers.get(ref);
    } catch {
      return undefined;
    }
  }

  async beforeStart(rec: Container): Promise<void> {
    const k = rec.config;
    // written unsynced at create (derived files): a power cut that emptied them is repaired here
    if (k.network !== 'container' && !(await etcFilesIntact(rec))) await this.d.attach.writeEtc(rec);
    if (k.network === 'container') {
      const ref = k.networking!.container!;
      const other = this.findContainer(ref);
      if (!other) throw notFound(`No such container: ${ref}`);
      if (other.id === rec.id) throw invalidArgument('cannot join own network');
      if (!running(other.state) || !other.state.pid) throw failedPrecondition(`cannot join network of a non running container: ${other.name}`);
      joinFiles(rec, other);
      rec.state.network = { sandboxKey: other.state.network?.sandboxKey || `/proc/${other.state.pid}/ns/net`, endpoints: [], ports: {} };
      return;
    }
    if (k.network !== 'cni') return;
    // its links' checks and variables, before anything is set up (dockerd fails the start the same way)
    const linkEnv = this.linkVars(rec);
    if (linkEnv && KEEP_LINK_ENV()) rec.state.linkEnv = linkEnv; else delete rec.state.linkEnv;
    for (const ep of k.networking!.endpoints) {
      const net = this.find(ep.networkId || ep.name); // unknown at create, or removed since
      if (!net) throw notFound(`network ${ep.name} not found`);
      if (!ep.networkId) {
        checkEndpoint(net, ep);
        Object.assign(ep, { networkId: net.id, name: net.name });
      }
      checkLinks(ep.links); // dockerd's buildJoinOptions, at the join
    }
    rec.state.network = await this.d.attach.setup(rec);
    try {
      if (linkEnv) await this.linksMoved();
      await this.d.attach.refreshOwn(rec, true);
    } catch (e) {
      await this.stopped(rec);
      throw e;
    }
    // joined: dockerd's connect events come at its initializeNetworking, before the start's
    for (const ep of rec.state.network.endpoints) this.d.networks.emitEndpoint('connect', ep.networkId, rec.id);
  }

  async started(rec: Container): Promise<void> {
    if (rec.config.network === 'cni' && rec.state.network) {
      await this.d.attach.refreshPeers(rec.state.network.endpoints.map((e) => e.networkId), rec.id);
      if (await this.d.attach.refreshLinkParents(rec.id)) await this.linksMoved();
    }
  }

  /** Under enable_icc=false the default bridge's chain holds its links' openings: made again from the containers' state. */
  private async linksMoved(): Promise<void> {
    const bridge = this.d.networks.defaultBridge();
    if (bridge?.icc === false) await this.d.networks.firewall.refresh(bridge);
  }

  exited(rec: Container): void {
    if (rec.config.network === 'cni') this.d.attach.freePorts(rec.id);
  }

  async stopped(rec: Container): Promise<void> {
    const st = rec.state.network;
    rec.state.network = undefined;
    delete rec.state.linkEnv;
    if (st?.endpoints.length) {
      rec.state.lastIps = Object.fromEntries(st.endpoints.filter((e) => e.ip).map((e) => [e.networkId, e.ip]));
      rec.state.lastMacs = Object.fromEntries(st.endpoints.filter((e) => e.mac).map((e) => [e.networkId, e.mac]));
      const v6 = st.endpoints.filter((e) => e.ipv6);
      if (v6.length) rec.state.lastIps6 = Object.fromEntries(v6.map((e) => [e.networkId, e.ipv6!])); else delete rec.state.lastIps6;
    }
    if (rec.config.network !== 'cni') return;
    for (const ep of st?.endpoints ?? []) this.d.networks.emitEndpoint('disconnect', ep.networkId, rec.id);
    // a link's end gone: its openings go before its address can be another's (the other
    // containers are looked through only where links open anything)
    const linked = () => !!rec.config.networking?.legacyLinks?.length || this.d.containers.list().some((c) => c.config.networking?.legacyLinks?.some((l) => l.child === rec.id));
    if (st && this.d.networks.defaultBridge()?.icc === false && linked()) await this.linksMoved().catch((e) => this.d.log.warn('closing a link\'s ports', { id: rec.id, err: String(e) }));
    await this.d.attach.release(rec.id);
    if (st) await this.d.attach.refreshPeers(st.endpoints.map((e) => e.networkId), rec.id);
  }

  /**
   * An exec's link variables, made again at its create as dockerd's ContainerExecCreate does
   * (setupLinkedContainers): a child's new address shows, a child that no longer runs refuses it.
   */
  execEnv(rec: Container): string[] {
    const env = this.linkVars(rec) ?? [];
    return KEEP_LINK_ENV() ? env : [];
  }

  /** Its legacy links' variables now, through startLinks' checks (dockerd's setupLinkedContainers); undefined without any link. */
  private linkVars(rec: Container): string[] | undefined {
    const bridge = this.d.networks.defaultBridge()?.id;
    if (!bridge || rec.config.network !== 'cni' || !this.onDefaultBridge(rec) || !rec.config.networking?.legacyLinks?.length) return undefined;
    return startLinks(rec, this.byId, bridge);
  }

  /** A linked child's removal: its parents keep the link by name (see childRemoved). */
  async removed(rec: Container): Promise<void> {
    for (const p of childRemoved(rec, this.d.containers.list())) await this.d.containers.save(p);
  }

  /** After recovery: release the networks of containers that no longer run. */
  async recovered(list: Container[]): Promise<void> {
    await this.d.attach.recover(new Set(list.filter((c) => running(c.state) && c.config.network === 'cni').map((c) => c.id)));
  }

  // ---- network connect / disconnect ------------------------------------------------------------

  async connect(netRef: string, containerRef: string, cfg: { aliases: string[]; links?: string[]; ipv4Address?: string; ipv6Address?: string; linkLocalIps?: string[]; gwPriority?: number; sysctls?: string[] }): Promise<void> {
    const net = this.d.networks.get(netRef);
    const rec = this.d.containers.get(containerRef);
    const k = rec.config;
    // dockerd's validateEndpointSettings comes before the network mode's conflicts
    if (net.predefined && cfg.aliases.length) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
    if (net.driver !== 'bridge') throw permissionDenied(`container cannot be disconnected from host network or connected to host network`);
    if (!k.networking || (k.network !== 'cni' && k.network !== 'none')) {
      throw permissionDenied('container sharing network namespace with another container or host cannot be connected to any other network');
    }
    if (k.network === 'none' && k.networking.mode !== 'default') {
      throw permissionDenied('container cannot be connected to multiple networks with one of the networks in private (none) mode');
    }
    this.checkVmFixed(rec, 'connect it to');
    if (k.networking.endpoints.some((e) => e.networkId === net.id)) throw permissionDenied(`endpoint with name ${rec.name} already exists in network ${net.name}`);
    // the VM's one NIC takes over the namespace's one veth (the sandboxer's tcfilter plumbing)
    if (this.d.isVmRuntime(rec.runtime) && k.network === 'cni' && k.networking.endpoints.length) {
      throw failedPrecondition(`container ${rec.name} runs in a VM (runtime ${rec.runtime}), which has one network interface, on ${k.networking.endpoints[0]!.name}: disconnect it from that network first`);
    }
    const ep: EndpointSpec = {
      networkId: net.id, name: net.name, aliases: cfg.aliases, ...(cfg.links?.length ? { links: cfg.links } : {}), ...(cfg.ipv4Address ? { ipv4Address: cfg.ipv4Address } : {}),
      ...(cfg.ipv6Address ? { ipv6Address: cfg.ipv6Address } : {}), ...(cfg.linkLocalIps?.length ? { linkLocalIps: cfg.linkLocalIps } : {}),
      ...(cfg.gwPriority ? { gwPriority: cfg.gwPriority } : {}), ...(cfg.sysctls?.length ? { sysctls: cfg.sysctls } : {}), connected: true,
    };
    checkEndpoint(net, ep);
    if (running(rec.state) && rec.state.network && k.network === 'cni') {
      checkLinks(ep.links); // joins now; a stopped container's are checked at its start, as dockerd's
      const dnsBefore = this.d.attach.dnsNetwork(rec)?.id ?? null;
      await this.d.attach.connect(rec, ep);
      k.networking.endpoints.push(ep);
      this.d.networks.emitEndpoint('connect', net.id, rec.id);
      await this.d.attach.refreshOwn(rec, false);
      await this.d.attach.retargetDns(rec, dnsBefore);
      await this.d.attach.refreshPeers([net.id], rec.id);
    } else {
      if (running(rec.state)) throw failedPrecondition(`container ${rec.name} has no network namespace of its own to connect (network mode ${k.networking.mode})`);
      k.networking.endpoints.push(ep);
      k.network = 'cni';
    }
    await this.d.containers.save(rec);
  }

  /**
   * A VM's network interfaces are its taps, made at its boot from the namespace's veths: one
   * that runs can't take a new one or lose one (no NIC hot-plug); a stopped one can, for its
   * next start.
   */
  private checkVmFixed(rec: Container, what: string): void {
    if (!this.d.isVmRuntime(rec.runtime) || !running(rec.state)) return;
    throw failedPrecondition(`container ${rec.name} runs in a VM (runtime ${rec.runtime}), whose network interfaces are fixed while it runs: stop it, ${what} the network, then start it`);
  }

  async disconnect(netRef: string, containerRef: string, force: boolean): Promise<void> {
    const net = this.d.networks.get(netRef);
    let rec: Container;
    try {
      rec = this.d.containers.get(containerRef);
    } catch (e) {
      if (force) return; // docker: -f cleans up an endpoint whose container is gone
      throw e;
    }
    const k = rec.config;
    if (net.driver !== 'bridge') throw permissionDenied(`container cannot be disconnected from host network or connected to host network`);
    if (!k.networking?.endpoints.some((e) => e.networkId === net.id)) throw failedPrecondition(`container ${rec.id} is not connected to network ${net.name}`);
    this.checkVmFixed(rec, 'disconnect it from');
    const dnsBefore = this.d.attach.dnsNetwork(rec)?.id ?? null;
    const live = running(rec.state) && rec.state.network;
    if (live) {
      await this.d.attach.disconnect(rec, net.id);
      this.d.networks.emitEndpoint('disconnect', net.id, rec.id);
      await this.d.attach.refreshOwn(rec, false);
      await this.d.attach.refreshPeers([net.id], rec.id);
    }
    k.networking.endpoints = k.networking.endpoints.filter((e) => e.networkId !== net.id);
    if (live) await this.d.attach.retargetDns(rec, dnsBefore);
    await this.d.containers.save(rec);
  }
}

/** docker: a container: mode container has the joined one's hosts, resolv.conf and hostname. */
function joinFiles(rec: Container, other: Container): void {
  rec.config.networking!.container = other.id;
  rec.paths = { ...rec.paths, hosts: other.paths.hosts, resolvConf: other.paths.resolvConf, hostname: other.paths.hostname };
  rec.config.hostname = other.config.hostname;
  rec.config.domainname = other.config.domainname;
}

/**
 * docker's endpoint checks: aliases and --ip only on user networks, the address in the
 * network's subnet of its family, whether the user gave that subnet or it came from the pools
 * (dockerd 29.1's validateEndpointIPAddress, moby#51577: 28 and older took such an address
 * too, only 29.0 refused it); tsulad's: links too.
 */
function checkEndpoint(net: NetworkRecord, ep: EndpointSpec): void {
  if (net.predefined && ep.links?.length) throw invalidArgument(ENDPOINT_LINKS);
  if (net.predefined && ep.aliases.length) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
  if ((ep.ipv4Address || ep.ipv6Address) && net.predefined) throw invalidArgument('user specified IP address is supported on user defined networks only');
  const outside = (ip: string) => invalidArgument(`no configured subnet contains IP address ${ip}`);
  // a network without IPv6 has no IPv6 subnet to hold it
  if (ep.ipv6Address && (!net.ipv6 || !contains6(parseCidr6(net.ipv6.subnet), ep.ipv6Address))) {
    const n = ip6ToBig(ep.ipv6Address);
    throw outside(n === null ? ep.ipv6Address : bigToIp6(n));
  }
  if (ep.ipv4Address && !contains(parseCidr(net.ipam.config[0]!.subnet), ep.ipv4Address)) throw outside(ep.ipv4Address);
}
