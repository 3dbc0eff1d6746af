// Storage entry points: pick a snapshot driver, and probe whether overlayfs works here.
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { errorMessage, invalidArgument } from '../common/errors.js';
import type { DriverName, SnapshotDriver } from './types.js';
import { OverlayDriver } from './overlay.js';
import { VfsDriver } from './vfs.js';
import { run } from './exec.js';
import { backingFs, isMounted, unmountPath } from './mounts.js';
import { tmpName } from './base.js';

export type { DriverName, LayerInfo, SnapshotDriver } from './types.js';
export { OverlayDriver } from './overlay.js';
export { VfsDriver } from './vfs.js';
export { unpackLayer, type UnpackMode, type UnpackOptions, type UnpackResult } from './unpack.js';
export { chainIdOf } from './base.js';
export type { Change, ChangeKind, SkipPath, WritableChanges } from './changes.js';
export { packItems, walkTree, type PackItem } from './tarpack.js';

/** The driver for `name`, with its directories created under `root` (e.g. /var/lib/tsula/overlay). */
export async function createDriver(name: DriverName | string, root: string): Promise<SnapshotDriver> {
  let d: OverlayDriver | VfsDriver;
  if (name === 'overlay' || name === 'overlay2') d = new OverlayDriver(root);
  else if (name === 'vfs') d = new VfsDriver(root);
  else throw invalidArgument(`unknown storage driver "${name}" (want overlay or vfs)`);
  await d.init();
  return d;
}

/** A container snapshot's writable dir for the driver `name` at `root`, without opening the driver. */
export function writableDirOf(name: DriverName | string, root: string, key: string): string {
  return (name === 'vfs' ? new VfsDriver(root) : new OverlayDriver(root)).writableDir(key);
}

export interface OverlayCheck {
  supported: boolean;
  backingFs: string;
  /** When not supported, a message for the user, e.g. "overlay not supported on ...". */
  reason?: string;
  /** The probe could not run for lack of space: whether overlay works is not known. */
  noSpace?: boolean;
}

/** What a successful probe depends on; remembered in the driver root so a restart skips it. */
const PROBED = '.overlay-probed';
const NO_SPACE = /ENOSPC|EDQUOT|No space left on device|Disk quota exceeded/;

/**
 * Really mount an overlay (with a whiteout and an opaque dir, as layers use them) in a temp dir under root,
 * the filesystem the driver would use. Never throws for "not supported". A probe that passed
 * on the same filesystem type and kernel is not run again (it costs a mount at every start,
 * and it needs free space that a full disk lacks).
 */
export async function checkOverlaySupported(root: string): Promise<OverlayCheck> {
  const fsType = backingFs(root);
  const stamp = `${fsType} ${os.release()}\n`;
  const fail = (why: string): OverlayCheck => NO_SPACE.test(why)
    ? { supported: false, backingFs: fsType, noSpace: true, reason: `no space left on the filesystem of ${root} to probe overlay (${why})` }
    : { supported: false, backingFs: fsType, reason: `overlay not supported on ${fsType} (${why}), use --storage-driver vfs` };
  if (await fs.readFile(path.join(root, PROBED), 'utf8').catch(() => '') === stamp) return { supported: true, backingFs: fsType };
  const dir = path.join(root, tmpName());
  const p = (n: string) => path.join(dir, n);
  try {
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    for (const n of ['lower', 'upper', 'work', 'merged']) await fs.mkdir(p(n), { recursive: true });
    await fs.writeFile(p('lower/kept'), 'x');
    await fs.writeFile(p('lower/gone'), 'x');
    await fs.mkdir(p('lower/opq'));
    await fs.writeFile(p('lower/opq/hidden'), 'x');
    await fs.mkdir(p('upper/opq'));
    const mk = await run('mknod', [p('upper/gone'), 'c', '0', '0']);
    if (mk.code !== 0) return fail(`cannot create whiteout devices: ${mk.stderr}`);
    const xa = await run('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', p('upper/opq')]);
    if (xa.code !== 0) return fail(`cannot set trusted.* xattrs: ${xa.stderr}`);
    const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', 'lowerdir=lower,upperdir=upper,workdir=work', 'merged'], { cwd: dir });
    if (r.code !== 0) return fail(r.stderr || `mount exit ${r.code}`);
    const names = (await fs.readdir(p('merged'))).sort().join(',');
    if (names !== 'kept,opq') return fail(`whiteouts not honoured, merged view: ${names}`);
    if ((await fs.readdir(p('merged/opq'))).length) return fail('opaque directories not honoured');
    await fs.writeFile(path.join(root, PROBED), stamp).catch(() => undefined);
    return { supported: true, backingFs: fsType };
  } catch (e) {
    return fail(errorMessage(e));
  } finally {
    try { if (await isMounted(p('merged'))) await unmountPath(p('merged')); } catch { /* reported by rm below if it matters */ }
    await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}
