// Stats (DESIGN.md: the engine's view of what containers and pods use): CPU, memory and
// pids from a container's cgroup (v1 or v2, detected), a host pod's from its cgroup parent
// or its containers summed, a VM pod's from its hypervisor process, network counters from
// a pod's netns, and the disk use of writable layers (cached: walks are costly). Owns only
// caches (the previous CPU sample per container and pod, recent disk walks); reads
// /sys/fs/cgroup, /proc and the snapshot driver's dirs, never writes. May call common/,
// storage/ (paths only) and the pod service (a sandboxer's pid). Front ends (CRI now,
// `docker stats` later) turn its samples into their wire shapes.
import type { PodService } from '../pods/service.js';
import type { ContainerService } from '../containers/service.js';
import { writableDirOf } from '../../storage/index.js';
import { detectCgroups } from '../../cgroups/index.js';
import { StatsService } from './service.js';

export { StatsService, epochNanos, type ContainerSample, type PodSample, type CpuSample, type MemorySample, type StatsDeps } from './service.js';
export { detectCgroups, readCgroup, type CgroupLayout, type CgroupUsage } from '../../cgroups/index.js';
export { DiskUsageCache, diskUsage, storeUsage, type DiskUsage } from './fsusage.js';

export interface StatsOptions {
  /** The snapshot driver (overlay, vfs) and its root: where writable layers are. */
  storageDriver: string;
  driverRoot: string;
  pods: PodService;
  cs: ContainerService;
  /** Default /sys/fs/cgroup. */
  cgroupRoot?: string;
}

export function newStatsService(o: StatsOptions): StatsService {
  return new StatsService({
    cgroups: () => detectCgroups(o.cgroupRoot),
    writableDir: (id) => writableDirOf(o.storageDriver, o.driverRoot, id),
    runtimeUsage: async (c) => {
      const rt = o.cs.runtimeOf(c);
      return rt.stats ? (await rt.stats(c.id, o.cs.bundle(c.id)))?.usage ?? null : null;
    },
    sandboxPid: async (pod) => (await o.pods.sandboxStatus(pod.id)).pid,
  });
}
