// Parent cgroups a bench's containers leave: containerd's default spec (what `ctr run` uses)
// puts a container at /<namespace>/<id>, and nothing removes /<namespace>. rmdir takes only
// an empty one, so a parent something else still uses stays.
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';

export function removeCgroupParents(...names) {
  // cgroup v2: one hierarchy at the root; v1 (and hybrid): one per controller below it
  const roots = existsSync('/sys/fs/cgroup/cgroup.controllers') ? ['/sys/fs/cgroup']
    : readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join('/sys/fs/cgroup', d.name));
  for (const root of roots) for (const n of names) {
    try { rmdirSync(path.join(root, n)); } catch { /* none, or in use */ }
  }
}
