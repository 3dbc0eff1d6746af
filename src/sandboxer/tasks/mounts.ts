// The task's rootfs: containerd 1.6 passes the snapshot as mounts in CreateTaskRequest.rootfs
// (an overlay list for `ctr run`) and leaves <bundle>/rootfs empty; the shim mounts them
// and unmounts on Delete. mount(8) does it: Node has no mount(2).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { internal } from '../../common/errors.js';

const execFileP = promisify(execFile);

export interface RootMount {
  type: string;
  source: string;
  options: string[];
}

export async function mountRootfs(mounts: RootMount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args = ['-t', m.type || 'none', ...(m.options.length ? ['-o', m.options.join(',')] : []), m.source || 'none', target];
    try {
      await execFileP('mount', args);
    } catch (e) {
      await unmountRootfs(target);
      throw internal(`mount rootfs on ${target}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
    }
  }
}

/** Unmount everything on target (a lazy unmount when a process still holds it). */
export async function unmountRootfs(target: string): Promise<void> {
  for (let i = 0; i < 8; i++) {
    try {
      await execFileP('umount', [target]);
    } catch (e) {
      const msg = (e as { stderr?: string }).stderr ?? '';
      if (/not mounted|no mount point|No such file/i.test(msg)) return;
      await execFileP('umount', ['-l', target]).catch(() => {});
      return;
    }
  }
}
