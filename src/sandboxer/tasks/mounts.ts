// The task's rootfs: containerd 1.6 passes the snapshot as mounts in CreateTaskRequest.rootfs
// (an overlay list for `ctr run`) and leaves <bundle>/rootfs empty; the shim mounts them
// and unmounts on Delete. mount(8) does it: it reads containerd's options as containerd would.
import { internal } from '../../common/errors.js';
import { exec } from '../../common/exec.js';

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

/** Unmount everything on target (a lazy unmount when a process still holds it). */
export async function unmountRootfs(target: string): Promise<void> {
  for (let i = 0; i < 8; i++) {
    const r = await exec('umount', [target]);
    if (r.code !== 0) {
      if (/not mounted|no mount point|No such file/i.test(r.stderr)) return;
      await exec('umount', ['-l', target]).catch(() => {});
      return;
    }
  }
}
