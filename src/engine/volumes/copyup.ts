// dockerd's CopyImagePathContent: a new, empty volume mounted over a directory of the image
// gets that directory's files (owners, modes, links kept) and the directory's own owner and
// mode, once, at create. The path is resolved inside the rootfs (symlinks of the image
// cannot lead outside it).
import { promises as fs } from 'node:fs';
import { invalidArgument } from '../../common/errors.js';
import { execOk } from '../../common/exec.js';
import { secureJoin } from '../../oci/user.js';

/** Whether the image has something at `dest` to copy (dockerd mounts a volume for it only then). */
export async function hasImagePath(rootfs: string, dest: string): Promise<boolean> {
  return !!(await fs.stat(await secureJoin(rootfs, dest)).catch(() => null));
}

/** Copy the image's directory at `dest` into an empty volume dir. Throws for a file there. */
export async function copyUp(rootfs: string, dest: string, volumeDir: string): Promise<void> {
  const src = await secureJoin(rootfs, dest);
  const st = await fs.stat(src).catch(() => null);
  if (!st) return;
  if (!st.isDirectory()) throw invalidArgument(`cannot mount volume over existing file, file exists ${src}`);
  if ((await fs.readdir(volumeDir)).length) return; // only into an empty volume
  if ((await fs.readdir(src)).length) await execOk('cp', ['-a', '--', `${src}/.`, `${volumeDir}/`], { timeoutMs: 600_000 });
  await fs.chown(volumeDir, st.uid, st.gid);
  await fs.chmod(volumeDir, st.mode & 0o7777);
}
