// A pod's network, end to end: a pinned netns with lo up, the CNI ADD on eth0, and what a
// caller needs afterwards (IPs for PodSandboxStatus; status() adds the link's MAC/MTU/routes
// as the kernel has them). Teardown and crash recovery work from what is on disk only (the pinned
// netns files and the CNI result cache), never from the caller's memory: after
// `kill -9 tsulad`, a new PodNetwork on the same dirs releases exactly what the old one made.
// The netns file name, the CNI container id and the pod (sandbox) id are one and the same.
import type { Logger } from '../common/log.js';
import { errorMessage, internal, withContext } from '../common/errors.js';
import type { NetworkConfigList } from './cni/config.js';
import { podArgs, type BandwidthCapability, type CapabilityArgs, type CniClient, type DnsCapability, type PortMapping } from './cni/client.js';
import { parseResult, primaryIp, sandboxAddresses, type CniResult } from './cni/result.js';
import type { NetnsManager } from './netns.js';
import { inspectLink, type LinkInfo } from './link.js';
import { waitForOrphanPlugins } from './orphans.js';

export interface PodNetworkOptions {
  netns: NetnsManager;
  cni: CniClient;
  /**
   * The pod network, read at each setup (e.g. `() => loadNetworkConfig(confDir)`): a conf
   * dir edited while the daemon runs takes effect for the next pod, as with the CRI plugins.
   * Teardown never needs it: it uses the config each attachment was added with.
   */
  config: () => Promise<NetworkConfigList>;
  /** How long recover() waits for CNI plugins a killed daemon left running; default 15 s. */
  orphanWaitMs?: number;
  /** The pod's interface (CNI_IFNAME); default eth0. */
  ifName?: string;
  log?: Logger;
}

export const POD_ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';

export interface PodNetworkRequest {
  /** Sandbox id: the netns file name and CNI_CONTAINERID. */
  id: string;
  namespace: string;
  name: string;
  uid: string;
  portMappings?: PortMapping[];
  dns?: DnsCapability;
  bandwidth?: BandwidthCapability;
  /** containerd's io.kubernetes.cri.pod-annotations capability (null: none, as its nil map). */
  podAnnotations?: Record<string, string> | null;
}

export interface PodNetworkInfo {
  id: string;
  netnsPath: string;
  network: string;
  ifName: string;
  result: CniResult;
  /** The pod IP (first IPv4 of eth0, else its first address), bare. */
  ip?: string;
  /** All addresses of eth0, bare (PodSandboxStatus' additional_ips). */
  ips: string[];
  /** eth0 as the kernel has it; absent in status() when the netns is gone. */
  link?: LinkInfo;
}

export interface RecoveryReport {
  released: string[];
  failed: { id: string; error: string }[];
}

export class PodNetwork {
  readonly ifName: string;

  constructor(private readonly o: PodNetworkOptions) {
    this.ifName = o.ifName ?? 'eth0';
  }

  /** Create the netns and ADD the pod to the network. On any failure nothing is left behind. */
  async setup(req: PodNetworkRequest, signal?: AbortSignal): Promise<PodNetworkInfo> {
    const list = await this.o.config();
    const netnsPath = await this.o.netns.create(req.id, signal);
    const caps: CapabilityArgs = {};
    if (req.portMappings?.length) caps.portMappings = req.portMappings;
    if (req.dns) caps.dns = req.dns;
    if (req.bandwidth) caps.bandwidth = req.bandwidth;
    if (req.podAnnotations !== undefined) caps[POD_ANNOTATIONS_CAPABILITY] = req.podAnnotations;
    try {
      const result = await this.o.cni.add(list, {
        containerId: req.id, netns: netnsPath, ifName: this.ifName,
        args: podArgs({ namespace: req.namespace, name: req.name, uid: req.uid, infraContainerId: req.id }), capabilityArgs: caps,
      }, signal);
      // the pod's addresses are the result's (go-cni's by interface name), not the netns':
      // a plugin need not make eth0 itself; without one for it the pod has no network
      // (containerd's "failed to find network info")
      const info = this.info(req.id, netnsPath, list.name, result, undefined);
      if (!info.ips.length) throw internal(`failed to find network info for sandbox ${JSON.stringify(req.id)}: the CNI result gives ${this.ifName} no address`);
      return info;
    } catch (e) {
      // cni.add rolled its own plugins back (and dropped its cache entry) unless that
      // rollback failed; a failure after it (inspect) needs the DEL here. teardown DELs what
      // the cache still holds either way (a failed rollback gets another try, instead of an
      // entry nobody releases before a restart), then removes the netns
      try {
        await this.teardown(req.id);
      } catch (undo) {
        this.o.log?.warn('pod network: clean-up after a failed setup failed', { pod: req.id, error: errorMessage(undo) });
      }
      throw withContext(e, `set up the network of pod ${req.id}`);
    }
  }

  /**
   * DEL every cached attachment of the pod (with the config it was added with), then remove
   * its netns. Idempotent; a DEL error keeps the netns so the call can be repeated.
   * The order matters: bridge (1.1.1) finds the addresses whose masquerade rules it must
   * remove through the pod's eth0, so a netns unpinned before its DEL would leak them.
   */
  async teardown(id: string, signal?: AbortSignal): Promise<void> {
    const netnsPath = (await this.o.netns.exists(id)) ? this.o.netns.path(id) : '';
    for (const a of await this.o.cni.attachments(id)) {
      // a netns that is no longer pinned (a reboot emptied /run): DEL without one; bridge
      // then releases the lease, the veth died with the namespace
      try {
        await this.o.cni.delCached(a, netnsPath, signal);
      } catch (e) {
        throw withContext(e, `tear down the network of pod ${id}`);
      }
    }
    await this.o.netns.remove(id, signal);
  }

  /** What setup returned, from the cache and the netns (after a restart, too); null if unknown. */
  async status(id: string, signal?: AbortSignal): Promise<PodNetworkInfo | null> {
    const a = (await this.o.cni.attachments(id)).find((x) => x.ifName === this.ifName && x.result);
    if (!a?.result) return null;
    const result = parseResult(a.result, '1.0.0', `cached result of pod ${id}`);
    const pinned = await this.o.netns.exists(id);
    const netnsPath = this.o.netns.path(id);
    const link = pinned ? await inspectLink(netnsPath, this.ifName, { signal }).catch(() => undefined) : undefined;
    return this.info(id, netnsPath, a.networkName, result, link);
  }

  /**
   * After a restart: release the network of every pod not in `live` that left a cached
   * attachment or a pinned netns behind (a pod whose stop never ran, or whose setup a crash
   * cut short).
   */
  async recover(live: Iterable<string>, signal?: AbortSignal): Promise<RecoveryReport> {
    const keep = new Set(live);
    await this.o.cni.removeCacheTemp();
    const ids = new Set<string>();
    for (const a of await this.o.cni.attachments()) ids.add(a.containerId);
    for (const n of await this.o.netns.list()) ids.add(n.id);
    const stale = [...ids].filter((id) => !keep.has(id)).sort();
    // an ADD a killed daemon left running has its cache entry: with nothing to release,
    // there is no plugin to wait for
    if (stale.length) await waitForOrphanPlugins(this.o.netns.dir, this.o.orphanWaitMs, this.o.log);
    const report: RecoveryReport = { released: [], failed: [] };
    for (const id of stale) {
      try {
        await this.teardown(id, signal);
        report.released.push(id);
      } catch (e) {
        report.failed.push({ id, error: errorMessage(e) });
      }
    }
    return report;
  }

  private info(id: string, netnsPath: string, network: string, result: CniResult, link: LinkInfo | undefined): PodNetworkInfo {
    const ip = primaryIp(result, this.ifName);
    return {
      id, netnsPath, network, ifName: this.ifName, result,
      ...(ip ? { ip } : {}),
      ips: sandboxAddresses(result, this.ifName).map((x) => x.address.split('/')[0]!),
      ...(link ? { link } : {}),
    };
  }
}
