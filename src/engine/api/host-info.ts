// The host facts /info and /version report, read once and kept: the cgroup features runc
// can use here (the engine's own sysinfo check, so `docker info` warns exactly where a
// limit would be discarded), IP forwarding and bridge netfilter, the versions of the
// programs tsulad runs (runc, conmon, node), and every runtime a container may name.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { exec } from '../../common/exec.js';
import { readSysInfo, type SysInfo } from '../../oci/sysinfo.js';

export interface HostFeatures {
  MemoryLimit: boolean; SwapLimit: boolean; KernelMemory: boolean; KernelMemoryTCP: boolean;
  CpuCfsPeriod: boolean; CpuCfsQuota: boolean; CPUShares: boolean; CPUSet: boolean; PidsLimit: boolean;
  OomKillDisable: boolean; IPv4Forwarding: boolean; BridgeNfIptables: boolean; BridgeNfIp6tables: boolean;
}

const procBool = (p: string) => fs.readFile(p, 'utf8').then((t) => t.trim() !== '0' && t.trim() !== '', () => false);

/** dockerd's fields and its warnings for what is missing (daemon/info_unix.go's wording). */
export function featuresOf(s: SysInfo, net: { ipForward: boolean; nfIptables: boolean; nfIp6tables: boolean }): { features: HostFeatures; warnings: string[] } {
  const f: HostFeatures = {
    MemoryLimit: s.memoryLimit, SwapLimit: s.swapLimit, KernelMemory: s.kernelMemory, KernelMemoryTCP: s.kernelMemoryTCP,
    CpuCfsPeriod: s.cpuCfs, CpuCfsQuota: s.cpuCfs, CPUShares: s.cpuShares, CPUSet: s.cpuset, PidsLimit: s.pidsLimit,
    OomKillDisable: s.oomKillDisable, IPv4Forwarding: net.ipForward, BridgeNfIptables: net.nfIptables, BridgeNfIp6tables: net.nfIp6tables,
  };
  const w: string[] = [];
  const warn = (ok: boolean, what: string) => { if (!ok) w.push(`WARNING: ${what}`); };
  warn(f.MemoryLimit, 'No memory limit support');
  warn(f.SwapLimit, 'No swap limit support');
  if (s.cgroupVersion === 1) {
    warn(f.KernelMemory, 'No kernel memory limit support');
    warn(f.KernelMemoryTCP, 'No kernel memory TCP limit support');
    warn(f.OomKillDisable, 'No oom kill disable support');
  }
  warn(f.CpuCfsQuota, 'No cpu cfs quota support');
  warn(f.CpuCfsPeriod, 'No cpu cfs period support');
  warn(f.CPUShares, 'No cpu shares support');
  warn(f.CPUSet, 'No cpuset support');
  warn(s.blkioWeight, 'No blkio weight support');
  warn(s.blkioWeightDevice, 'No blkio weight_device support');
  warn(s.blkioThrottle, 'No blkio throttle.read_bps_device support');
  warn(s.blkioThrottle, 'No blkio throttle.write_bps_device support');
  warn(s.blkioThrottle, 'No blkio throttle.read_iops_device support');
  warn(s.blkioThrottle, 'No blkio throttle.write_iops_device support');
  warn(f.IPv4Forwarding, 'IPv4 forwarding is disabled');
  warn(f.BridgeNfIptables, 'bridge-nf-call-iptables is disabled');
  warn(f.BridgeNfIp6tables, 'bridge-nf-call-ip6tables is disabled');
  return { features: f, warnings: w };
}

/** The first line's version and the "commit:" line of `<bin> --version` (runc, conmon). */
export function parseToolVersion(text: string): { version: string; commit: string } {
  const version = /version\s+(\S+)/i.exec(text)?.[1] ?? '';
  const commit = /^commit:\s*(\S+)/im.exec(text)?.[1] ?? '';
  return { version, commit: commit === 'unknown' ? '' : commit };
}

export interface Component { Name: string; Version: string; Details: Record<string, string> }

export class HostInfo {
  private features?: Promise<{ features: HostFeatures; warnings: string[] }>;
  private tools = new Map<string, Promise<{ version: string; commit: string }>>();

  constructor(private readonly cgroupParent = 'tsula') {}

  /** Read at first use (ip_forward may be switched on by the network set-up after start). */
  hostFeatures(): Promise<{ features: HostFeatures; warnings: string[] }> {
    this.features ??= (async () => {
      const [s, ipForward, nfIptables, nfIp6tables] = await Promise.all([
        readSysInfo({ parent: this.cgroupParent }), procBool('/proc/sys/net/ipv4/ip_forward'),
        procBool('/proc/sys/net/bridge/bridge-nf-call-iptables'), procBool('/proc/sys/net/bridge/bridge-nf-call-ip6tables'),
      ]);
      return featuresOf(s, { ipForward, nfIptables, nfIp6tables });
    })();
    const p = this.features;
    // ip forwarding and br_netfilter can change: look again in a minute
    setTimeout(() => { if (this.features === p) this.features = undefined; }, 60_000).unref();
    return p;
  }

  private specFeatures = new Map<string, Promise<string>>();

  /** `<bin> features` (an OCI runtime's runtime-spec features document) as compact JSON, once per binary; '' if it has none. */
  runtimeFeatures(bin: string): Promise<string> {
    let p = this.specFeatures.get(bin);
    if (!p) {
      p = exec(bin, ['features'], { timeoutMs: 5000 }).then((r) => JSON.stringify(JSON.parse(r.stdout)), () => '');
      this.specFeatures.set(bin, p);
    }
    return p;
  }

  /** `<bin> --version`, once per binary. */
  tool(bin: string): Promise<{ version: string; commit: string }> {
    let p = this.tools.get(bin);
    if (!p) {
      p = exec(bin, ['--version'], { timeoutMs: 5000 }).then((r) => parseToolVersion(r.stdout), () => ({ version: '', commit: '' }));
      this.tools.set(bin, p);
    }
    return p;
  }
}

/**
 * Every shim v2 runtime on PATH (containerd-shim-<name>-v2 → io.containerd.<name>.v2): a
 * container may name any of them, and tsulad starts the shim on first use.
 */
export async function shimRuntimesOnPath(envPath = process.env.PATH ?? ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const dir of envPath.split(':').filter(Boolean)) {
    for (const n of await fs.readdir(dir).catch(() => [] as string[])) {
      const m = /^containerd-shim-([a-z0-9]+)-v2$/.exec(n);
      if (m && !out[`io.containerd.${m[1]}.v2`]) out[`io.containerd.${m[1]}.v2`] = path.join(dir, n);
    }
  }
  return out;
}
