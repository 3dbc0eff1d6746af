// What GET /containers/{id}/json and GET /containers/json show to each Engine API version:
// the views (docker-model.ts, containers.ts) are docker 20.10's, API 1.41's; fields added
// later appear from their version on and fields dropped or made omitempty go from theirs,
// as dockerd's getContainersByName and getContainersJSON gate them.
import type { Container } from '../containers/model.js';
import { versionAtLeast } from './version.js';

type View = Record<string, unknown>;

/** An inspect view for the version asked for (changed in place and returned). */
export function inspectForVersion<T extends View>(v: T, version: string): T {
  const hc = v.HostConfig as View | undefined;
  if (hc) {
    // 1.42: KernelMemory and KernelMemoryTCP omitted when unset; 1.52: KernelMemoryTCP gone
    if (versionAtLeast(version, '1.42')) {
      if (!hc.KernelMemory) delete hc.KernelMemory;
      if (!hc.KernelMemoryTCP) delete hc.KernelMemoryTCP;
    }
    if (versionAtLeast(version, '1.52')) delete hc.KernelMemoryTCP;
    // Annotations (1.43) are omitempty: no dockerd shows them null, whatever the version asked
    if (!hc.Annotations) delete hc.Annotations;
  }
  const cfg = v.Config as View | undefined;
  // 1.52: Config.OnBuild omitted when empty
  if (cfg && versionAtLeast(version, '1.52') && !(cfg.OnBuild as unknown[] | null)?.length) delete cfg.OnBuild;
  // below 1.21 one network's settings, no Networks (dockerd's getBackwardsCompatibleNetworkSettings)
  if (!versionAtLeast(version, '1.21')) delete (v.NetworkSettings as View | undefined)?.Networks;
  // below 1.20 dockerd's v1p19 shape: Volumes and VolumesRW for Mounts, resources in Config
  if (!versionAtLeast(version, '1.20')) {
    const mounts = (v.Mounts as Array<{ Destination: string; Source: string; RW: boolean }> | undefined) ?? [];
    (v as View).Volumes = Object.fromEntries(mounts.map((m) => [m.Destination, m.Source]));
    (v as View).VolumesRW = Object.fromEntries(mounts.map((m) => [m.Destination, m.RW]));
    delete (v as View).Mounts;
    if (cfg) {
      Object.assign(cfg, {
        Memory: hc?.Memory ?? 0, MemorySwap: hc?.MemorySwap ?? 0, CpuShares: hc?.CpuShares ?? 0,
        Cpuset: hc?.CpusetCpus ?? '', VolumeDriver: hc?.VolumeDriver ?? '',
      });
    }
  }
  return v;
}

/** A GET /containers/json entry for the version asked for (changed in place and returned). */
export function summaryForVersion<T extends View>(s: T, c: Container, version: string): T {
  // 1.46: the list shows the container's annotations (omitempty)
  if (versionAtLeast(version, '1.46') && Object.keys(c.config.annotations).length) {
    (s as View).HostConfig = { ...(s.HostConfig as View), Annotations: c.config.annotations };
  }
  // 1.52: the health of every container, "none" without a healthcheck (what the list's
  // health filter matches)
  if (versionAtLeast(version, '1.52')) {
    const h = c.state.health;
    (s as View).Health = { Status: h?.status ?? 'none', FailingStreak: h?.failingStreak ?? 0 };
  }
  return s;
}
