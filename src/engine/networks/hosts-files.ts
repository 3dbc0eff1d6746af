// A container's /etc/hosts as dockerd writes it (etc.ts makes the text): made at create and
// at each start, rewritten in place while it runs when a peer on one of its user networks
// comes or goes, or when a legacy link's child starts again (libnetwork's parent updates).
// One rewrite at a time: two truncate+write on one file would mix.
import { writeFileAtomic } from '../../common/fsutil.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { running, type Container } from '../containers/model.js';
import { extraHostLines, hostNetworkHosts, hostsFile, rewriteInPlace } from './etc.js';
import { linkHostsLines } from './legacy-links.js';
import { peersOf } from './names.js';
import type { NetworkService } from './service.js';

export interface HostsFilesDeps {
  networks: NetworkService;
  containers: () => Container[];
  /** daemon.json host-gateway-ips: what --add-host NAME:host-gateway gives ([]: the default bridge's gateway). */
  hostGatewayIps?: string[];
  log: Logger;
}

export class HostsFiles {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: HostsFilesDeps) {}

  async text(rec: Container): Promise<string> {
    const k = rec.config;
    const n = k.networking!;
    const gateway = this.d.networks.defaultBridge()?.ipam.config[0]?.gateway;
    const extra = extraHostLines(n.extraHosts, this.d.hostGatewayIps?.length ? this.d.hostGatewayIps : gateway ? [gateway] : []);
    if (k.network === 'host') return hostNetworkHosts(extra);
    const bridge = this.d.networks.defaultBridge()?.id;
    if (bridge && n.legacyLinks?.length && k.network === 'cni' && n.endpoints.some((e) => e.networkId === bridge)) {
      extra.push(...linkHostsLines(rec, (id) => this.d.containers().find((c) => c.id === id), bridge));
    }
    const eps = rec.state.network?.endpoints ?? [];
    // an endpoint's IPv6 address too (libnetwork's updateHostsFile writes a line for each)
    const ips = eps.flatMap((e) => [e.ip, ...(e.ipv6 ? [e.ipv6] : [])]);
    if (k.network === 'none') ips.push('127.0.1.1'); // the hostname resolves, as it always did here
    return hostsFile({
      hostname: k.hostname, domainname: k.domainname ?? '', ips, extra, peers: peersOf(this.d.containers(), rec, (id) => this.isDefaultBridge(id)),
      noIpv6: k.sysctls?.['net.ipv6.conf.all.disable_ipv6'] === '1',
    });
  }

  private isDefaultBridge(networkId: string): boolean {
    return this.d.networks.defaultBridge()?.id === networkId;
  }

  /** Rewrite rec's own hosts file: before its start atomically, while it runs in place. */
  refreshOwn(rec: Container, atomic: boolean): Promise<void> {
    return this.serial(async () => {
      const text = await this.text(rec);
      // made anew at every start: not synced
      if (atomic) await writeFileAtomic(rec.paths.hosts, text, 0o644, 'none'); else await rewriteInPlace(rec.paths.hosts, text);
    });
  }

  /** Rewrite the hosts files of the running containers on these user networks (but `except`). */
  refreshPeers(networkIds: string[], except: string): Promise<void> {
    const nets = new Set(networkIds.filter((id) => !this.isDefaultBridge(id)));
    if (!nets.size) return Promise.resolve();
    return this.serial(async () => {
      for (const c of this.d.containers()) {
        if (c.id === except || !running(c.state) || c.config.network !== 'cni' || !c.state.network) continue;
        if (!c.state.network.endpoints.some((e) => nets.has(e.networkId))) continue;
        await rewriteInPlace(c.paths.hosts, await this.text(c))
          .catch((e) => this.d.log.warn('updating a peer\'s hosts file', { id: c.id, err: errorMessage(e) }));
      }
    });
  }

  /**
   * A legacy link's child started (again): its running parents' /etc/hosts get its address
   * (libnetwork's parent updates). Whether it has any.
   */
  async refreshLinkParents(childId: string): Promise<boolean> {
    const parents = this.d.containers().filter((c) => c.id !== childId && running(c.state) && c.config.network === 'cni'
      && c.config.networking?.legacyLinks?.some((l) => l.child === childId));
    if (!parents.length) return false;
    await this.serial(async () => {
      for (const c of parents) {
        await rewriteInPlace(c.paths.hosts, await this.text(c))
          .catch((e) => this.d.log.warn('updating a linking container\'s hosts file', { id: c.id, err: errorMessage(e) }));
      }
    });
    return true;
  }

  /** Run a rewrite of a container's /etc file after those under way (resolv.conf's too). */
  serial(run: () => Promise<void>): Promise<void> {
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
