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
