// The daemon's real-time budget (dockerd's and iSulad's cpu-rt-period / cpu-rt-runtime) given
// to each level of the containers' cgroup parent (cgroup v1's cpu hierarchy), from the top
// down, as dockerd's initCPURtController: a container's --cpu-rt-runtime must fit in its
// parent's, and a fresh /tsula has none.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface RealtimeBudget { period?: number; runtime?: number }

export async function initRealtimeBudget(parent: string, budget: RealtimeBudget, root = '/sys/fs/cgroup'): Promise<void> {
  if (!budget.period && !budget.runtime) return;
  const cpu = path.join(root, 'cpu');
  // cgroup v2 has no real-time budget per cgroup
  if (!(await fs.access(path.join(cpu, 'cpu.rt_runtime_us')).then(() => true, () => false))) return;
  let dir = cpu;
  for (const part of parent.split('/').filter(Boolean)) {
    dir = path.join(dir, part);
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    if (budget.period) await fs.writeFile(path.join(dir, 'cpu.rt_period_us'), String(budget.period));
    if (budget.runtime) await fs.writeFile(path.join(dir, 'cpu.rt_runtime_us'), String(budget.runtime));
  }
}
