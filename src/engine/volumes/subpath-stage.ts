// Volume subpaths (API 1.45) held for one start, as dockerd's safepath holds them. The
// container can write its volume, so between our check of the subpath and runc's bind it
// could swap a directory on the way for a symlink out of the volume. So the subpath is
// opened (O_PATH, the last component not followed), the object opened is checked to be inside
// the volume through /proc/self/fd, and that very object is bound at a staging path under
// the bundle, which runc then binds into the container. Nothing the container does after
// the open changes what is mounted. The staging mounts go once the runtime has made its own.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../../common/errors.js';
import { bindPrivate, unmountPath, unmountUnder } from '../../storage/mounts.js';
import type { VolumeMount } from '../containers/model.js';
import { volumeSubpath } from './hooks.js';

const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;
const O_CLOEXEC = 0o2000000;

export class StagedSubpaths {
  private constructor(private readonly dir: string, private readonly mounted: string[],
    /** The path to bind instead of each volume's (by its index in the container's volumes). */
    readonly sources: Map<number, string>) {}

  static none = new StagedSubpaths('', [], new Map());

  /** Stage every volume's subpath; on a failure what was staged goes again. */
  static async stage(volumes: VolumeMount[], bundle: string): Promise<StagedSubpaths> {
    const wanted = volumes.map((v, i) => [v, i] as const).filter(([v]) => v.subpath && v.source);
    if (wanted.length === 0) return StagedSubpaths.none;
    const dir = path.join(bundle, 'subpaths');
    await StagedSubpaths.clear(bundle); // a crash's leftovers
    const staged = new StagedSubpaths(dir, [], new Map());
    try {
      for (const [v, i] of wanted) staged.sources.set(i, await staged.hold(v.source, v.subpath!, path.join(dir, String(i))));
    } catch (e) {
      await staged.release();
      throw e;
    }
    return staged;
  }

  /** Whatever a crashed start left staged under the bundle. */
  static async clear(bundle: string): Promise<void> {
    const dir = path.join(bundle, 'subpaths');
    if (!(await fs.stat(dir).catch(() => null))) return;
    await unmountUnder(dir);
    await fs.rm(dir, { recursive: true, force: true });
  }

  async release(): Promise<void> {
    if (!this.dir) return;
    for (const m of this.mounted) await unmountPath(m);
    this.mounted.length = 0;
    await fs.rm(this.dir, { recursive: true, force: true });
  }

  private async hold(root: string, subpath: string, at: string): Promise<string> {
    const resolved = await volumeSubpath(root, subpath); // the user's errors: missing, outside
    const fh = await fs.open(resolved, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    try {
      const held = await fs.readlink(`/proc/self/fd/${fh.fd}`);
      const base = await fs.realpath(root);
      if (held !== base && !held.startsWith(base + '/')) throw invalidArgument(`subpath ${JSON.stringify(subpath)} is outside of the volume`);
      const st = await fh.stat();
      // O_PATH|O_NOFOLLOW opens a symlink itself: the last component was swapped since
      if (st.isSymbolicLink()) throw invalidArgument(`subpath ${JSON.stringify(subpath)} changed while it was being mounted: start the container again`);
      await fs.mkdir(path.dirname(at), { recursive: true, mode: 0o700 });
      // a mount point of the object's kind
      if (st.isDirectory()) await fs.mkdir(at);
      else await fs.writeFile(at, '', { mode: 0o600 });
      // /proc/<pid>: mount(8), when it does the bind, is another process
      await bindPrivate(`/proc/${process.pid}/fd/${fh.fd}`, at);
      this.mounted.push(at);
      return at;
    } finally {
      await fh.close(); // the mount holds the object now
    }
  }
}
