// The OOM killer's count in the host cgroup a bundle's spec names, read at a container's exit
// (the cgroup is there until the runtime's delete): the word of every runtime whose
// containers are host processes, and the fallback of those that also hear of OOM kills
// another way (conmon's oom file, a shim's TaskOOM).
import * as path from 'node:path';
import { detectCgroups, specOomKilled, type CgroupLayout } from '../cgroups/index.js';
import { readJson } from '../common/fsutil.js';
import type { Spec } from '../oci/types.js';

let layout: Promise<CgroupLayout> | undefined;

export async function hostOomKilled(bundle: string, id: string): Promise<boolean> {
  layout ??= detectCgroups();
  return specOomKilled(await layout, await readJson<Spec>(path.join(bundle, 'config.json')).catch(() => null), id);
}
