// What the sandboxer changes in the OCI spec containerd hands over: an absolute rootfs
// (conmon runs runc in our own bundle dir), and the limits root can't grant here: this
// host's root lacks CAP_SYS_RESOURCE, so rlimits above the current hard limit and an
// oom_score_adj below ours make runc fail (DESIGN.md); containerd asks -998 for sandboxes.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../oci/types.js';
import { readHostRlimits } from '../../oci/host.js';
import { invalidArgument } from '../../common/errors.js';

export async function readBundleSpec(bundle: string): Promise<Spec> {
  let text: string;
  try {
    text = await fs.readFile(path.join(bundle, 'config.json'), 'utf8');
  } catch (e) {
    throw invalidArgument(`bundle ${bundle}: cannot read config.json: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as Spec;
  } catch (e) {
    throw invalidArgument(`bundle ${bundle}: config.json is not valid JSON: ${(e as Error).message}`);
  }
}

export async function adaptSpec(spec: Spec, bundle: string): Promise<Spec> {
  spec.root = { ...spec.root, path: path.resolve(bundle, spec.root?.path || 'rootfs') };
  const own = Number.parseInt(await fs.readFile('/proc/self/oom_score_adj', 'utf8').catch(() => '0'), 10) || 0;
  if (spec.process) {
    if (spec.process.oomScoreAdj !== undefined && spec.process.oomScoreAdj < own) spec.process.oomScoreAdj = own;
    if (spec.process.rlimits?.length) {
      const host = await readHostRlimits();
      for (const r of spec.process.rlimits) {
        const h = host.get(r.type);
        if (!h) continue;
        r.hard = Math.min(r.hard, h.hard);
        r.soft = Math.min(r.soft, r.hard);
      }
    }
  }
  return spec;
}
