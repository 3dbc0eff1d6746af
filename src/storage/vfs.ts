// vfs: plain copies, for filesystems overlayfs cannot sit on. Each layer's diff is the full
// tree (its parent's copy with the layer applied) and a snapshot is a copy of the top layer.
// `cp -a --reflink=auto` keeps owners, modes, times, xattrs, devices and hard links, and is
// nearly free on filesystems with reflinks (btrfs, xfs).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { notFound } from '../common/errors.js';
import { exists } from '../common/fsutil.js';
import { BaseDriver } from './base.js';
import { runOk } from './exec.js';
import type { UnpackMode } from './unpack.js';
import { treeChanges, type SkipPath, type WritableChanges } from './changes.js';

async function copyTree(from: string, to: string): Promise<void> {
  await runOk('cp', ['-a', '--reflink=auto', '--', from, to]);
}

export class VfsDriver extends BaseDriver {
  readonly name = 'vfs' as const;
  protected readonly unpackMode: UnpackMode = 'apply';
  protected readonly layersShared = false;

  protected async initLayerDir(tmp: string, parent: string | null): Promise<void> {
    if (parent === null) await fs.mkdir(path.join(tmp, 'diff'), { mode: 0o755 });
    else await copyTree(path.join(this.layerDir(parent), 'diff'), path.join(tmp, 'diff'));
  }

  protected async initSnapshot(tmp: string, chain: string[]): Promise<void> {
    if (chain.length === 0) await fs.mkdir(path.join(tmp, 'rootfs'), { mode: 0o755 });
    else await copyTree(path.join(this.layerDir(chain[chain.length - 1]), 'diff'), path.join(tmp, 'rootfs'));
  }

  /** Nothing to mount: the copy is the rootfs. */
  async mount(key: string): Promise<string> {
    const rootfs = path.join(this.snapshotDir(key), 'rootfs');
    if (!(await exists(path.join(this.snapshotDir(key), 'snapshot.json')))) throw notFound(`snapshot ${key} not found`);
    return rootfs;
  }

  /** The whole copy: vfs has no layer sharing, so the image's files count too (as docker's vfs). */
  writableDir(key: string): string { return path.join(this.snapshotDir(key), 'rootfs'); }

  async unmount(_key: string): Promise<void> { /* nothing mounted */ }

  /** dockerd's vfs driver has no metadata to show. */
  async graphData(): Promise<null> { return null; }
  layerGraphData(): null { return null; }

  async changes(key: string, skip?: SkipPath): Promise<WritableChanges> {
    const rec = await this.snapshotRecord(key);
    const top = rec.chain[rec.chain.length - 1];
    return treeChanges(this.writableDir(key), top ? path.join(this.layerDir(top), 'diff') : null, skip);
  }
}
