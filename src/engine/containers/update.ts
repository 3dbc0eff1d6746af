// POST /containers/{id}/update (docker update): the request's resource fields are checked as
// a create's are, then merged into the container's as dockerd's Container.UpdateContainer
// does (a zero value changes nothing), refusing the combinations it refuses; and the
// restart policy, which the next exit then follows.
import * as path from 'node:path';
import { failedPrecondition } from '../../common/errors.js';
import { readJson, writeFileAtomic } from '../../common/fsutil.js';
import { lazySchema, type Infer } from '../../common/lazy-schema.js';
import type { LinuxResources, Spec } from '../../oci/types.js';
import { ociResources, resourceShape, resourcesOf, type ResourceConfig } from './resources.js';
import type { RestartPolicy } from './model.js';
import { checkRestartPolicy } from './restart.js';

/** docker's UpdateConfig: Resources plus RestartPolicy. */
export const updateBodySchema = lazySchema((z) => z.object({
  ...resourceShape(z),
  RestartPolicy: z.object({ Name: z.string().nullish(), MaximumRetryCount: z.number().nullish() }).nullish(),
}).passthrough());

export type UpdateBody = Infer<typeof updateBodySchema>;

/** The request as resources (no create defaults: a zero means "leave it"). */
export function updateRequest(body: UpdateBody): ResourceConfig {
  // only what an update may change: a container's devices, cgroup parent and oom score stay
  const { Devices: _d, DeviceCgroupRules: _r, DeviceRequests: _q, CgroupParent: _p, RestartPolicy: _rp, ...rest } = body;
  return resourcesOf(rest);
}

/**
 * The restart policy an update sets, checked as a create's (dockerd: a policy with a Name
 * replaces the container's; none leaves it), or undefined.
 */
export function updatedRestartPolicy(id: string, body: UpdateBody, autoRemove: boolean): RestartPolicy | undefined {
  const rp = body.RestartPolicy;
  if (!rp?.Name) return undefined;
  const policy = { name: rp.Name as RestartPolicy['name'], maxRetries: rp.MaximumRetryCount ?? 0 };
  checkRestartPolicy(rp.Name, policy.maxRetries, false);
  if (autoRemove && policy.name !== 'no') {
    throw failedPrecondition(`Cannot update container ${id}: Restart policy cannot be updated because AutoRemove is enabled for the container`);
  }
  return policy;
}

/** The merged resources (dockerd's UpdateContainer), or a 409 naming the conflict. */
export function mergeUpdate(id: string, cur: ResourceConfig, req: ResourceConfig): ResourceConfig {
  const conflict = (msg: string): never => { throw failedPrecondition(`Cannot update container ${id}: ${msg}`); };
  // NanoCpus sets period and quota itself: once one way is used, the other can't be updated
  if (req.NanoCpus > 0 && cur.CpuPeriod > 0) conflict('Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set');
  if (req.NanoCpus > 0 && cur.CpuQuota > 0) conflict('Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set');
  if (req.CpuPeriod > 0 && cur.NanoCpus > 0) conflict('Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set');
  if (req.CpuQuota > 0 && cur.NanoCpus > 0) conflict('Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set');
  const out: ResourceConfig = { ...cur };
  // (an unlimited swap, -1, is above any memory limit)
  if (req.Memory !== 0 && cur.MemorySwap !== -1 && req.Memory > cur.MemorySwap && req.MemorySwap === 0) {
    conflict('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
  }
  const keys = ['BlkioWeight', 'CpuShares', 'NanoCpus', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'Memory',
    'MemorySwap', 'MemoryReservation', 'KernelMemory', 'CpuRealtimePeriod', 'CpuRealtimeRuntime'] as const;
  for (const k of keys) if (req[k]) (out as unknown as Record<string, unknown>)[k] = req[k];
  // dockerd's postContainerUpdate: 0 or below is "unlimited", shown as 0 (a create's shows null)
  if (req.PidsLimit !== null) out.PidsLimit = req.PidsLimit > 0 ? req.PidsLimit : 0;
  return out;
}

/** What the runtime is told: the whole merged set, and -1 to lift a pids limit (runc's "unset"). */
export async function updateLimits(merged: ResourceConfig, req: ResourceConfig): Promise<LinuxResources> {
  const r: LinuxResources = await ociResources(merged);
  if (req.PidsLimit !== null && req.PidsLimit <= 0) r.pids = { limit: -1 };
  return r;
}

/**
 * The limits in force, written into the run's spec in the bundle (its config.json), as
 * containerd's CRI updates the spec it keeps: `crictl inspect`'s runtimeSpec shows what is
 * applied. The fields ociResources makes are replaced whole (a lifted limit goes); the
 * others (devices, hugepages) stay. Best effort: the runtime has the limits already.
 */
export async function recordLimits(bundle: string, merged: ResourceConfig): Promise<void> {
  const file = path.join(bundle, 'config.json');
  const spec = await readJson<Spec>(file).catch(() => null);
  if (!spec?.linux) return;
  const { cpu: _c, memory: _m, pids: _p, blockIO: _b, ...kept } = spec.linux.resources ?? {};
  spec.linux.resources = { ...kept, ...(await ociResources(merged)) };
  await writeFileAtomic(file, JSON.stringify(spec), 0o644, 'none');
}
