// What GET /info shows to each Engine API version (dockerd's getInfo gates): the view is
// docker 20.10's (API 1.41); fields added later appear from their version on, fields
// deprecated and then dropped go from theirs.
import { versionAtLeast } from './version.js';

type Info = Record<string, unknown>;

const BRIDGE_NF_WARNINGS = new Set(['WARNING: bridge-nf-call-iptables is disabled', 'WARNING: bridge-nf-call-ip6tables is disabled']);

/** /info for the version asked for (changed in place and returned). */
export function infoForVersion(info: Info, version: string): Info {
  if (versionAtLeast(version, '1.42')) {
    // dockerd reports KernelMemory false from 1.42 on (the limit is ignored), and its
    // omitempty leaves it out; KernelMemoryTCP only where the host cannot limit it
    delete info.KernelMemory;
    if (!info.KernelMemoryTCP) delete info.KernelMemoryTCP;
  }
  // 1.44: the CDI spec dirs, empty unless experimental (tsulad has no CDI)
  if (versionAtLeast(version, '1.44')) info.CDISpecDirs = [];
  // 1.47: br_netfilter is loaded when a network needs it: no more warnings about it
  if (versionAtLeast(version, '1.47') && Array.isArray(info.Warnings)) {
    info.Warnings = (info.Warnings as string[]).filter((w) => !BRIDGE_NF_WARNINGS.has(w));
  }
  if (versionAtLeast(version, '1.49')) {
    // tsulad's networks' rules (networks/firewall.ts) and CNI's portmap program iptables
    info.FirewallBackend = { Driver: 'iptables' };
    // the Expected commits were deprecated in 1.48 and are omitted from 1.49 on
    for (const k of ['ContainerdCommit', 'RuncCommit', 'InitCommit']) {
      const c = info[k] as { ID?: string; Expected?: string } | undefined;
      if (c) info[k] = { ID: c.ID ?? '' };
    }
  }
  // 1.50: BridgeNfIptables and BridgeNfIp6tables are omitted (always false in 1.48 and 1.49)
  if (versionAtLeast(version, '1.50')) { delete info.BridgeNfIptables; delete info.BridgeNfIp6tables; }
  if (versionAtLeast(version, '1.52')) delete info.KernelMemoryTCP;
  return info;
}
