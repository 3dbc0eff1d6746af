// A VM pod's network, kata's `tcfilter` model (PROTOCOLS.md) for hosts without vhost-net:
// in the pod's netns (the one CNI set up), a tap `tap0_kata` and two tc mirred redirects —
// everything arriving on the CNI interface (eth0) leaves through the tap to QEMU, everything
// QEMU writes into the tap leaves through eth0 to the bridge. QEMU runs in the netns and
// opens the tap by name; the guest's virtio NIC takes eth0's MAC, so the bridge's and the
// neighbours' ARP entries stay right, and the agent gives it eth0's MTU, addresses and routes
// (ConfigureNetwork). The netns' eth0 keeps its address for the CNI plugins' bookkeeping
// (DEL finds what to release through it); its own stack no longer sees any packet.
// The plumbing lives in the sandbox, not in the hypervisor's argv (Kuasar's shape). It is
// removed explicitly when the VM goes (the netns outlives the VM: CNI DEL comes later), and
// again from the record at recovery after a kill -9 of the sandboxer.
import type { ConfigureNetworkRequest, GuestRoute } from '../../../agent/protocol.js';
import { exec } from '../../../common/exec.js';
import { internal } from '../../../common/errors.js';
import { inspectLink, type LinkInfo } from '../../../network/link.js';

/** kata's tap name (one NIC per pod here). */
export const TAP_NAME = 'tap0_kata';
/** The CNI interface name kubelet and containerd ask for (CNI_IFNAME). */
export const POD_IF = 'eth0';

/** What the sandbox made in the pod's netns; kept in the VM's record to undo it later. */
export interface PodNic {
  netnsPath: string;
  /** The CNI interface in the netns. */
  hostIf: string;
  tap: string;
  /** The guest NIC's MAC: the CNI interface's. */
  mac: string;
}

/** A pod NIC: what is (or is to be) made in the netns, the guest's view of it, the interface's MTU. */
export interface PlannedNic { nic: PodNic; guest: ConfigureNetworkRequest; mtu: number }

/** `ip`/`tc` batch lines (each tool reads them on stdin with -batch -), in order. */
export interface Batches { ip: string[]; tc: string[] }

/** Runs one tool's batch inside a netns; returns exit code and stderr. */
export type NetnsRunner = (netnsPath: string, tool: 'ip' | 'tc', lines: string[], force: boolean) => Promise<{ code: number; stderr: string }>;

const TIMEOUT_MS = 10_000;

const defaultRunner: NetnsRunner = async (netnsPath, tool, lines, force) => {
  const r = await exec('nsenter', [`--net=${netnsPath}`, tool, ...(force ? ['-force'] : []), '-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: TIMEOUT_MS });
  return { code: r.code, stderr: r.stderr };
};

const redirect = (from: string, to: string) => `filter add dev ${from} parent ffff: protocol all u32 match u8 0 0 action mirred egress redirect dev ${to}`;

/** The tap (with the interface's MTU) first, then both redirects: each names an existing device. */
export function plumbingBatches(hostIf: string, tap: string, mtu: number): Batches {
  return {
    ip: [`tuntap add dev ${tap} mode tap`, `link set dev ${tap} mtu ${mtu}`, `link set dev ${tap} up`],
    tc: [`qdisc add dev ${hostIf} ingress`, redirect(hostIf, tap), `qdisc add dev ${tap} ingress`, redirect(tap, hostIf)],
  };
}

/**
 * A tap a cached clone's QEMU made in its own netns (hot-plugged once its pod is known): moved
 * into the pod's netns (run in QEMU's), then given the interface's MTU and brought up there
 * before the redirects. A tap keeps its QEMU fd across namespaces.
 */
export function adoptionBatches(podNetns: string, hostIf: string, tap: string, mtu: number): { move: string[]; pod: Batches } {
  // `ip` reads a name with a slash as the netns file's path; batch lines split on blanks
  if (/\s/.test(podNetns)) throw internal(`a netns path with blanks can't go into an ip batch: ${JSON.stringify(podNetns)}`);
  const b = plumbingBatches(hostIf, tap, mtu);
  return { move: [`link set dev ${tap} netns ${podNetns}`], pod: { ip: b.ip.slice(1), tc: b.tc } };
}

/** Deleting the ingress qdiscs deletes their filters; the tap's goes with the tap. */
export function unplumbingBatches(hostIf: string, tap: string): Batches {
  return { tc: [`qdisc del dev ${hostIf} ingress`], ip: [`link del dev ${tap}`] };
}

/**
 * The guest's view of the pod interface: the same MAC, MTU, global addresses and the routes
 * through it. Link-local addresses and the routes the kernel derives from an address
 * (protocol kernel) are the guest kernel's to make.
 */
export function guestNetwork(link: LinkInfo, guestIf = POD_IF): ConfigureNetworkRequest {
  const routes: GuestRoute[] = link.routes
    .filter((r) => r.dev === link.name && r.protocol !== 'kernel' && !r.dst.startsWith('fe80:'))
    .map((r) => ({ family: r.family, dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), dev: guestIf }));
  return {
    interfaces: [{
      name: guestIf, mac: link.mac.toLowerCase(), mtu: link.mtu,
      addresses: link.addresses.filter((a) => a.scope === 'global').map((a) => a.address),
    }],
    routes,
  };
}

/**
 * Errors that mean "already gone" when undoing: the device, the qdisc (tc says "Invalid
 * handle" for an ingress qdisc deleted before) or the netns itself.
 */
const GONE = /Cannot find|Invalid handle|No such file|does not exist|reassociate to namespace|^Command failed/;

export class VmNetworks {
  constructor(private readonly run: NetnsRunner = defaultRunner) {}

  /** The netns' links: name and type (`ip -j link`). */
  private async links(netnsPath: string): Promise<{ ifname: string; link_type?: string }[]> {
    const r = await exec('nsenter', [`--net=${netnsPath}`, 'ip', '-j', 'link', 'show'], { timeoutMs: TIMEOUT_MS });
    if (r.code !== 0) throw internal(`the pod's network namespace ${netnsPath}: ${r.stderr || `ip exited ${r.code}`}`);
    try { return JSON.parse(r.stdout || '[]') as { ifname: string; link_type?: string }[]; } catch { throw internal(`${netnsPath}: unparsable output of ip -j link`); }
  }

  /**
   * Plumb the pod's netns for a VM: the NIC to give QEMU and the guest's config, or null when
   * the netns has no interface besides lo (a pod without a network plugin: the guest gets lo
   * only). A tap left by an earlier VM of this netns (a crash) is cleared first.
   */
  async plumb(netnsPath: string): Promise<PlannedNic | null> {
    const planned = await this.plan(netnsPath);
    if (planned) await this.apply(planned, plumbingBatches(planned.nic.hostIf, planned.nic.tap, planned.mtu));
    return planned;
  }

  /**
   * The pod's NIC as plumb() makes it, with nothing made yet (a tap left by an earlier VM of
   * this netns is cleared): a cached clone's tap comes from its QEMU, see adopt().
   */
  async plan(netnsPath: string): Promise<PlannedNic | null> {
    const links = await this.links(netnsPath);
    const ether = links.filter((l) => l.ifname !== 'lo' && l.ifname !== TAP_NAME && (l.link_type ?? 'ether') === 'ether');
    const hostIf = ether.find((l) => l.ifname === POD_IF)?.ifname ?? ether[0]?.ifname;
    if (!hostIf) return null;
    const link = await inspectLink(netnsPath, hostIf, { timeoutMs: TIMEOUT_MS });
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(link.mac)) throw internal(`${hostIf} in ${netnsPath} has no usable MAC (${JSON.stringify(link.mac)})`);
    const nic: PodNic = { netnsPath, hostIf, tap: TAP_NAME, mac: link.mac.toLowerCase() };
    if (links.some((l) => l.ifname === TAP_NAME)) await this.unplumb(nic);
    return { nic, guest: guestNetwork(link), mtu: link.mtu };
  }

  /** A cached clone's tap, in its QEMU's netns `tapNetns`, moved into the pod's and joined to its interface. */
  async adopt(planned: PlannedNic, tapNetns: string): Promise<void> {
    const { nic, mtu } = planned;
    const b = adoptionBatches(nic.netnsPath, nic.hostIf, nic.tap, mtu);
    const r = await this.run(tapNetns, 'ip', b.move, false);
    if (r.code !== 0) throw internal(`moving the VM's ${nic.tap} into ${nic.netnsPath}: ${r.stderr || `ip exited ${r.code}`}`);
    await this.apply(planned, b.pod);
  }

  /** Run the batches in the pod's netns; a failure undoes what they made. */
  private async apply({ nic }: PlannedNic, b: Batches): Promise<void> {
    try {
      for (const tool of ['ip', 'tc'] as const) {
        const r = await this.run(nic.netnsPath, tool, b[tool], false);
        if (r.code !== 0) throw internal(`tcfilter plumbing in ${nic.netnsPath}: ${tool}: ${r.stderr || `exit ${r.code}`}`);
      }
    } catch (e) {
      await this.unplumb(nic).catch(() => { /* the error above says more */ });
      throw e;
    }
  }

  /** Undo plumb(); idempotent, and fine when the netns is gone already (CNI DEL came first). */
  async unplumb(nic: PodNic): Promise<void> {
    const b = unplumbingBatches(nic.hostIf, nic.tap);
    const problems: string[] = [];
    for (const tool of ['tc', 'ip'] as const) {
      const r = await this.run(nic.netnsPath, tool, b[tool], true);
      if (r.code === 0) continue;
      const real = r.stderr.split('\n').map((l) => l.trim()).filter((l) => l && !GONE.test(l));
      if (real.length) problems.push(`${tool}: ${real.join('; ')}`);
    }
    if (problems.length) throw internal(`removing the VM's tap and filters from ${nic.netnsPath}: ${problems.join('; ')}`);
  }
}
