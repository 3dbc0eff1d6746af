// overlayfs snapshots: each layer's diff holds only that layer's changes (whiteouts in
// overlayfs' native form); a container snapshot is an upper/work pair mounted over the chain.
//
// The lowerdir option must fit in one page, so lowers are named through short symlinks
// <root>/l/<16 hex> -> ../layers/<hex>/diff and mount runs with cwd = <root> using relative
// paths (what containers/storage does): ~19 bytes per layer instead of ~100.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from '../common/crypto.js';
import { failedPrecondition, internal, notFound } from '../common/errors.js';
import { exists } from '../common/fsutil.js';
import { native } from '../common/native.js';
import { BaseDriver } from './base.js';
import { run } from './exec.js';
import { unmountPath } from './mounts.js';
import type { UnpackMode } from './unpack.js';
import { overlayChanges, type SkipPath, type WritableChanges } from './changes.js';

const PAGE = 4096;

export class OverlayDriver extends BaseDriver {
  readonly name = 'overlay' as const;
  protected readonly unpackMode: UnpackMode = 'overlay';
  protected readonly layersShared = true;
  readonly linksDir: string;

  constructor(root: string) {
    super(root);
    this.linksDir = path.join(this.root, 'l');
  }

  override async init(): Promise<void> {
    await super.init();
    await fs.mkdir(this.linksDir, { recursive: true, mode: 0o700 });
  }

  override status(): Array<[string, string]> {
    // overlay2's rows, in its order: no metacopy and no user xattrs (tsula mounts neither)
    return [...super.status(), ['Supports d_type', 'true'], ['Using metacopy', 'false'], ['Native Overlay Diff', 'true'], ['userxattr', 'false']];
  }

  protected async initLayerDir(tmp: string, _parent: string | null): Promise<void> {
    await fs.mkdir(path.join(tmp, 'diff'), { mode: 0o755 });
  }

  /** Give the layer its short name; the symlink dangles until the rename makes it valid. */
  protected override async beforeCommit(tmp: string, chainId: string): Promise<void> {
    for (;;) {
      const short = randomBytes(8).toString('hex');
      try {
        await fs.symlink(`../layers/${this.layerDirName(chainId)}/diff`, path.join(this.linksDir, short));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw e;
      }
      await fs.writeFile(path.join(tmp, 'link'), short, { mode: 0o644 });
      return;
    }
  }

  protected override async afterRemove(dir: string): Promise<void> {
    let short: string;
    try { short = (await fs.readFile(path.join(dir, 'link'), 'utf8')).trim(); } catch { return; }
    if (/^[0-9a-f]{16}$/.test(short)) await fs.rm(path.join(this.linksDir, short), { force: true });
  }

  private layerDirName(chainId: string): string { return path.basename(this.layerDir(chainId)); }

  private async shortName(chainId: string): Promise<string> {
    const f = path.join(this.layerDir(chainId), 'link');
    let short: string;
    try { short = (await fs.readFile(f, 'utf8')).trim(); } catch { throw notFound(`layer ${chainId} not found`); }
    // Recreate a link lost to a crash between symlink and rename cleanup.
    const l = path.join(this.linksDir, short);
    if (!(await exists(l))) await fs.symlink(`../layers/${this.layerDirName(chainId)}/diff`, l);
    return short;
  }

  /** Also drop short links whose layer is gone (a crash between symlink and rename). */
  override async cleanup(): Promise<void> {
    await super.cleanup();
    for (const n of await fs.readdir(this.linksDir)) {
      const alive = await fs.stat(path.join(this.linksDir, n)).then(() => true, () => false); // follows the link
      if (!alive) {
        await fs.rm(path.join(this.linksDir, n), { force: true });
      }
    }
  }

  protected async initSnapshot(tmp: string, chain: string[]): Promise<void> {
    for (const d of ['upper', 'work', 'merged']) await fs.mkdir(path.join(tmp, d), { mode: 0o755 });
    // overlayfs needs a lowerdir; a scratch image (no layers) gets an empty one.
    if (chain.length === 0) await fs.mkdir(path.join(tmp, 'empty'), { mode: 0o755 });
    // The rootfs root takes its owner/mode from the upper dir: copy the top layer's.
    if (chain.length > 0) {
      const top = await fs.stat(path.join(this.layerDir(chain[chain.length - 1]), 'diff'));
      await fs.chown(path.join(tmp, 'upper'), top.uid, top.gid);
      await fs.chmod(path.join(tmp, 'upper'), top.mode & 0o7777);
    }
  }

  /** The mount options, with paths relative to the driver root (mount(8) runs there). */
  async mountOptions(key: string): Promise<string> {
    const rec = await this.snapshotRecord(key);
    const rel = path.relative(this.root, this.snapshotDir(key));
    const lowers: string[] = [];
    for (const id of [...rec.chain].reverse()) lowers.push(`l/${await this.shortName(id)}`); // top first
    if (lowers.length === 0) lowers.push(`${rel}/empty`);
    const opts = `lowerdir=${lowers.join(':')},upperdir=${rel}/upper,workdir=${rel}/work`;
    if (opts.length >= PAGE) {
      throw failedPrecondition(`snapshot ${key}: ${rec.chain.length} layers make an overlay mount option of ${opts.length} bytes (the kernel takes at most ${PAGE - 1})`);
    }
    return opts;
  }

  async mount(key: string): Promise<string> {
    const merged = path.join(this.snapshotDir(key), 'merged');
    const opts = await this.mountOptions(key); // also: notFound for a missing snapshot
    // mounted already: an overlay is a device of its own (no mount table to read)
    const [m, dir] = await Promise.all([fs.stat(merged), fs.stat(this.snapshotDir(key))]);
    if (m.dev !== dir.dev) return merged;
    const failed = (why: string) => internal(`mounting overlay for snapshot ${key} failed: ${why}`);
    // the syscall (no mount(8) to start) when the addon is there and absolute paths still fit
    const addon = native();
    const abs = opts.split(',').map((o) => {
      const [k, v] = o.split('=');
      return `${k}=${v.split(':').map((p) => path.join(this.root, p)).join(':')}`;
    }).join(',');
    if (addon && abs.length < PAGE) {
      await addon.mount('overlay', merged, 'overlay', 0, abs).catch((e: Error) => { throw failed(e.message); });
      return merged;
    }
    const r = await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, merged], { cwd: this.root });
    if (r.code !== 0) throw failed(r.stderr || `exit ${r.code}`);
    return merged;
  }

  /** Only the upper dir: the lower layers are the image's, shared. */
  writableDir(key: string): string { return path.join(this.snapshotDir(key), 'upper'); }

  async unmount(key: string): Promise<void> {
    await unmountPath(path.join(this.snapshotDir(key), 'merged'));
  }

  async graphData(key: string): Promise<Record<string, string>> {
    const rec = await this.snapshotRecord(key);
    const dir = this.snapshotDir(key);
    const lowers = [...rec.chain].reverse().map((id) => path.join(this.layerDir(id), 'diff'));
    return {
      LowerDir: lowers.length ? lowers.join(':') : path.join(dir, 'empty'),
      MergedDir: path.join(dir, 'merged'), UpperDir: path.join(dir, 'upper'), WorkDir: path.join(dir, 'work'),
    };
  }

  layerGraphData(chain: string[]): Record<string, string> | null {
    const top = chain[chain.length - 1];
    if (!top) return null;
    const dir = this.layerDir(top);
    const lowers = chain.slice(0, -1).reverse().map((id) => path.join(this.layerDir(id), 'diff'));
    return {
      ...(lowers.length ? { LowerDir: lowers.join(':') } : {}),
      MergedDir: path.join(dir, 'merged'), UpperDir: path.join(dir, 'diff'), WorkDir: path.join(dir, 'work'),
    };
  }

  async changes(key: string, skip?: SkipPath): Promise<WritableChanges> {
    const rec = await this.snapshotRecord(key);
    const lowers = [...rec.chain].reverse().map((id) => path.join(this.layerDir(id), 'diff'));
    return overlayChanges(this.writableDir(key), lowers, skip);
  }
}
