// The task's rootfs: containerd 1.6 passes the snapshot as mounts in CreateTaskRequest.rootfs
// (an overlay list for `ctr run`) and leaves <bundle>/rootfs empty; the shim mounts them
// and unmounts on Delete. mount(8) does it: it reads containerd's options as containerd would.
import { internal } from '../../common/errors.js';
import { exec } from '../../common/exec.js';
import { unmountPath } from '../../storage/mounts.js';

export interface RootMount {
  type: string;
  source: string;
  options: string[];
}

export async function mountRootfs(mounts: RootMount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args = ['-t', m.type || 'none', ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source || 'none', target];
    const r = await exec('mount', args);
    if (r.code !== 0) {
      await unmountRootfs(target);
      throw internal(`mount rootfs on ${target}: ${r.stderr || `mount exited ${r.code}`}`);
    }
  }
}

/** Unmount everything on target (a lazy unmount when a process still holds it); never throws. */
export async function unmountRootfs(target: string): Promise<void> {
  await unmountPath(target).catch(() => {});
}
