// A container's name service on docker networks: the DNS server of each user network it is on
// (dns.ts, one per network while containers use it) and its resolv.conf, which names the
// server of its first user network (127.0.0.11, sent to the network's gateway by
// dns-redirect.ts; a VM's guest names the gateway itself), else the host's servers or --dns.
import { promises as fs } from 'node:fs';
import { writeFileAtomic, type Durability } from '../../common/fsutil.js';
import type { Logger } from '../../common/log.js';
import type { Container, NetworkState } from '../containers/model.js';
import { engineDnsBackend } from './dns-backend.js';
import { NetworkDns } from './dns.js';
import { EMBEDDED_DNS, redirectDns } from './dns-redirect.js';
import { hostNameservers, rewriteInPlace, withDnsDefaults, type DnsInput } from './etc.js';
import { containerResolvConf, HOST_RESOLV_CONF, userModified, writeResolvHash, type ResolvMode } from './resolvconf.js';
import type { NetworkRecord } from './model.js';
import type { NetworkService } from './service.js';

type Endpoint = NetworkState['endpoints'][number];

export interface ContainerDnsDeps {
  networks: NetworkService;
  containers: () => Container[];
  log: Logger;
  /** Runtimes whose containers run in a VM (their resolv.conf names the gateway). */
  isVmRuntime(name: string): boolean;
  isDefaultBridge(networkId: string): boolean;
  /** daemon.json dns, dns-search, dns-opts: for containers that give none of their own. */
  dnsDefaults?: DnsInput;
  /** One writer at a time of the containers' /etc files (hosts-files.ts's). */
  serial(fn: () => Promise<void>): Promise<void>;
}

export class ContainerDns {
  private readonly servers: NetworkDns;
  /** The containers using each network's server: it stops when none is left. */
  private readonly users = new Map<string, Set<string>>();

  constructor(private readonly d: ContainerDnsDeps) {
    this.servers = new NetworkDns(engineDnsBackend({
      containers: d.containers, networks: d.networks, dnsDefaults: d.dnsDefaults, isDefaultBridge: d.isDefaultBridge,
    }), d.log);
  }

  /**
   * The user network whose DNS server a container's resolv.conf names: the first of its
   * networks that is a user bridge (dockerd starts its resolver for any such endpoint).
   */
  network(rec: Container): NetworkRecord | null {
    if (rec.config.network !== 'cni') return null;
    const nets = this.d.networks.list();
    for (const ep of rec.config.networking?.endpoints ?? []) {
      const net = this.networkOf(ep, nets);
      if (net && net.driver === 'bridge' && !this.d.isDefaultBridge(net.id) && net.ipam.config[0]?.gateway) return net;
    }
    return null;
  }

  /**
   * After network connect or disconnect of a running container: if that changed which
   * network's DNS server it should ask (its first user network joined, or the one named
   * left), its resolv.conf is rewritten in place, as dockerd switches a container to its
   * resolver when it joins a user network; with no user network left, the host's servers.
   */
  async retarget(rec: Container, before: string | null): Promise<void> {
    const now = this.network(rec);
    if ((now?.id ?? null) === before) return;
    const gateway = now?.ipam.config[0]!.gateway ?? null;
    const served = now ? await this.servers.ensure(now.id, gateway!) : false;
    const netns = rec.state.network?.sandboxKey;
    if (netns && !this.inVm(rec)) await redirectDns(netns, served ? gateway : null, false);
    await this.d.serial(() => this.writeResolvConf(rec, served, true));
  }

  /** At a start, its networks attached: their servers serve it, its resolv.conf names the right one, 127.0.0.11 reaches it. */
  async started(rec: Container, endpoints: Endpoint[], netns: string): Promise<void> {
    const served = await this.serve(rec, endpoints);
    await this.align(rec, served);
    const gateway = served ? this.network(rec)?.ipam.config[0]?.gateway : undefined;
    if (gateway && !this.inVm(rec)) await redirectDns(netns, gateway, true);
  }

  /** Serve DNS on the container's user networks; false if its resolv.conf's server can't be. */
  async serve(rec: Container, endpoints: Endpoint[]): Promise<boolean> {
    let ok = true;
    const first = this.network(rec)?.id;
    for (const e of endpoints) {
      if (this.d.isDefaultBridge(e.networkId) || !e.gateway) continue;
      let users = this.users.get(e.networkId);
      if (!users) this.users.set(e.networkId, users = new Set());
      users.add(rec.id);
      if (!(await this.servers.ensure(e.networkId, e.gateway)) && e.networkId === first) ok = false;
    }
    return ok;
  }

  /** The container left these networks (all of them: none given): a server with no one left stops. */
  async leave(id: string, networkIds?: string[]): Promise<void> {
    for (const [net, users] of [...this.users]) {
      if (networkIds && !networkIds.includes(net)) continue;
      if (!users.delete(id) || users.size) continue;
      this.users.delete(net);
      await this.servers.close(net);
    }
  }

  /**
   * resolv.conf: on a user network its DNS server (`embedded`), else the host's servers or
   * --dns; `inPlace` while it runs, and then not over the user's edits.
   */
  async writeResolvConf(rec: Container, embedded: boolean, inPlace = false, durability: Durability = 'full'): Promise<void> {
    const k = rec.config;
    if (inPlace && await userModified(rec.paths.resolvConf)) return;
    const host = await fs.readFile(HOST_RESOLV_CONF, 'utf8').catch(() => '');
    const gateway = embedded ? this.network(rec)?.ipam.config[0]?.gateway : undefined;
    const dns = withDnsDefaults(k.networking!, this.d.dnsDefaults);
    const mode: ResolvMode = gateway ? { kind: 'internal', server: this.nameserver(rec, gateway) }
      : k.network === 'host' ? { kind: 'host' } : { kind: 'legacy', ipv6: !!this.firstNetwork(rec)?.ipv6 };
    const text = containerResolvConf(host, dns, mode);
    if (inPlace) await rewriteInPlace(rec.paths.resolvConf, text);
    else await writeFileAtomic(rec.paths.resolvConf, text, 0o644, durability);
    await writeResolvHash(rec.paths.resolvConf, text);
  }

  /** The network of its first endpoint, whatever its kind. */
  private firstNetwork(rec: Container): NetworkRecord | undefined {
    const ep = rec.config.network === 'cni' ? rec.config.networking?.endpoints?.[0] : undefined;
    return ep ? this.networkOf(ep, this.d.networks.list()) : undefined;
  }

  /** The network an endpoint of a container's config names (by id, or by name as created). */
  private networkOf(ep: { networkId: string; name: string }, nets: NetworkRecord[]): NetworkRecord | undefined {
    return nets.find((n) => n.id === ep.networkId || n.name === ep.name);
  }

  /**
   * Before a start: resolv.conf names the DNS server of the user network the container has now
   * (joined or left while it was stopped), or the host's servers when it has none or that
   * server can't listen (`served` false); a file already right stays as it is, edits and all.
   */
  private async align(rec: Container, served: boolean): Promise<void> {
    const text = await fs.readFile(rec.paths.resolvConf, 'utf8').catch(() => null);
    if (text === null) return;
    const gateway = served ? this.network(rec)?.ipam.config[0]?.gateway : undefined;
    const servers = hostNameservers(text);
    const one = servers.length === 1 ? servers[0] : undefined;
    const ours = !!one && (one === EMBEDDED_DNS || this.d.networks.list().some((n) => n.ipam.config.some((c) => c.gateway === one)));
    if (gateway ? one === this.nameserver(rec, gateway) : !ours) return;
    await this.writeResolvConf(rec, !!gateway);
  }

  private inVm(rec: Container): boolean {
    return this.d.isVmRuntime(rec.runtime);
  }

  /** The nameserver of a container served by the DNS server at `gateway`: 127.0.0.11, a VM's the gateway itself. */
  private nameserver(rec: Container, gateway: string): string {
    return this.inVm(rec) ? gateway : EMBEDDED_DNS;
  }
}
