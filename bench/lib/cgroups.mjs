// Parent cgroups a bench's runtimes leave: containerd's runc shim puts a container at
// /<namespace>/<id> and never removes /<namespace>. rmdir takes only an empty one, so a
// parent something else still uses stays.
import { readdirSync, rmdirSync } from 'node:fs';
import * as path from 'node:path';

export function removeCgroupParents(...names) {
  const roots = ['/sys/fs/cgroup', ...readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => path.join('/sys/fs/cgroup', d.name))];
  for (const root of roots) for (const n of names) {
    try { rmdirSync(path.join(root, n)); } catch { /* none, or in use */ }
  }
}
