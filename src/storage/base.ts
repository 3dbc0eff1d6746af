// What overlay and vfs share: the on-disk layout, id checks, atomic layer and snapshot
// creation (build in a .tmp-* dir, rename into place), removal and crash cleanup.
//
//   <root>/layers/<chain id hex>/{diff/, layer.json}
//   <root>/snapshots/<key>/{snapshot.json, ...driver specific}
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createHash, sha256Hex } from '../common/crypto.js';
import type { Readable } from 'node:stream';
import { alreadyExists, failedPrecondition, invalidArgument, notFound } from '../common/errors.js';
import { exists, fsyncDir, readJson, removeTree, tmpSuffix, writeJsonAtomic } from '../common/fsutil.js';
import { validateDigest } from '../common/ids.js';
import type { DriverName, LayerInfo, SnapshotDriver } from './types.js';
import { unpackLayer, type UnpackMode } from './unpack.js';
import type { SkipPath, WritableChanges } from './changes.js';
import { backingFs, unmountUnder } from './mounts.js';

export interface SnapshotRecord { key: string; chain: string[]; created: string }

const KEY_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,254}$/;
export const TMP = '.tmp-';

export function validateKey(key: string): string {
  if (!KEY_RE.test(key) || key.includes('..')) throw invalidArgument(`invalid snapshot key "${key}"`);
  return key;
}

export const hexOf = (chainId: string) => validateDigest(chainId).slice('sha256:'.length);
export const tmpName = () => `${TMP}${tmpSuffix()}`;

/** The OCI chain id of a layer whose parent chain id is `parent`. */
export function chainIdOf(parent: string | null, diffId: string): string {
  return parent ? `sha256:${sha256Hex(`${parent} ${diffId}`)}` : diffId;
}

async function* hashed(src: AsyncIterable<Buffer | string>, h: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for await (const c of src) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    h.update(b);
    yield b;
  }
}

async function drain(s: Readable): Promise<void> {
  for await (const _ of s) { /* a caller may be hashing or counting what flows through */ }
}

export abstract class BaseDriver implements SnapshotDriver {
  abstract readonly name: DriverName;
  protected abstract readonly unpackMode: UnpackMode;
  /** Whether a layer's files are used by its children and by snapshots (overlay lowerdirs). */
  protected abstract readonly layersShared: boolean;
  readonly layersDir: string;
  readonly snapshotsDir: string;

  constructor(readonly root: string) {
    this.root = path.resolve(root);
    this.layersDir = path.join(this.root, 'layers');
    this.snapshotsDir = path.join(this.root, 'snapshots');
  }

  async init(): Promise<void> {
    for (const d of [this.root, this.layersDir, this.snapshotsDir]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
  }

  status(): Array<[string, string]> {
    return [['Backing Filesystem', backingFs(this.root)]];
  }

  layerDir(chainId: string): string { return path.join(this.layersDir, hexOf(chainId)); }
  snapshotDir(key: string): string { return path.join(this.snapshotsDir, validateKey(key)); }

  async hasLayer(chainId: string): Promise<boolean> {
    return exists(path.join(this.layerDir(chainId), 'layer.json'));
  }

  async layerInfo(chainId: string): Promise<LayerInfo> {
    const f = path.join(this.layerDir(chainId), 'layer.json');
    if (!(await exists(f))) throw notFound(`layer ${chainId} not found`);
    return readJson<LayerInfo>(f);
  }

  /** Create `<tmp>/diff` ready to receive the layer (empty for overlay, the parent's copy for vfs). */
  protected abstract initLayerDir(tmp: string, parent: string | null): Promise<void>;
  /** Last step before the tmp dir is renamed to its final name. */
  protected async beforeCommit(_tmp: string, _chainId: string): Promise<void> { /* nothing by default */ }
  /** Undo beforeCommit for a layer dir (tmp after a failure, or a removed layer). */
  protected async afterRemove(_dir: string): Promise<void> { /* nothing by default */ }

  async applyLayer(chainId: string, parent: string | null, tar: Readable): Promise<LayerInfo> {
    const hex = hexOf(chainId);
    if (parent !== null) validateDigest(parent);
    if (await this.hasLayer(chainId)) {
      await drain(tar);
      return this.layerInfo(chainId);
    }
    if (parent !== null && !(await this.hasLayer(parent))) {
      tar.destroy();
      throw notFound(`parent layer ${parent} of ${chainId} not found`);
    }
    const tmp = path.join(this.layersDir, tmpName());
    await fs.mkdir(tmp, { mode: 0o700 });
    try {
      await this.initLayerDir(tmp, parent);
      const h = createHash('sha256');
      const { size, warnings } = await unpackLayer(hashed(tar, h), path.join(tmp, 'diff'), { mode: this.unpackMode });
      const diffId = `sha256:${h.digest('hex')}`;
      const want = chainIdOf(parent, diffId);
      if (want !== chainId) {
        throw invalidArgument(`layer content does not match chain id ${chainId}: diff id ${diffId} on parent ${parent ?? '(none)'} gives ${want}`);
      }
      const info: LayerInfo = { chainId, diffId, parent, size };
      await writeJsonAtomic(path.join(tmp, 'layer.json'), info, 0o644);
      await this.beforeCommit(tmp, chainId);
      try {
        await fs.rename(tmp, path.join(this.layersDir, hex));
      } catch (e) {
        const c = (e as NodeJS.ErrnoException).code;
        // Lost a race with a concurrent apply of the same layer: theirs is as good as ours.
        if ((c === 'EEXIST' || c === 'ENOTEMPTY') && (await this.hasLayer(chainId))) {
          await this.discard(tmp);
          return this.layerInfo(chainId);
        }
        throw e;
      }
      await fsyncDir(this.layersDir);
      return warnings.length ? { ...info, warnings } : info;
    } catch (e) {
      tar.destroy();
      await this.discard(tmp);
      throw e;
    }
  }

  private async discard(dir: string): Promise<void> {
    await this.afterRemove(dir);
    await removeTree(dir);
  }

  async removeLayer(chainId: string): Promise<void> {
    const dir = this.layerDir(chainId);
    if (!(await exists(dir))) return;
    if (this.layersShared) {
      for (const l of await this.listLayers()) {
        if (l.parent === chainId) throw failedPrecondition(`layer ${chainId} is the parent of layer ${l.chainId}`);
      }
      for (const k of await this.listSnapshots()) {
        const s = await this.snapshotRecord(k);
        if (s.chain.includes(chainId)) throw failedPrecondition(`layer ${chainId} is used by snapshot ${k}`);
      }
    }
    // Rename first, so a crash mid-delete leaves a .tmp-* for cleanup(), never half a layer.
    const tmp = path.join(this.layersDir, tmpName());
    await fs.rename(dir, tmp);
    await this.discard(tmp);
  }

  async listLayers(): Promise<LayerInfo[]> {
    const out: LayerInfo[] = [];
    for (const n of await fs.readdir(this.layersDir)) {
      if (n.startsWith('.')) continue;
      try { out.push(await readJson<LayerInfo>(path.join(this.layersDir, n, 'layer.json'))); } catch { /* incomplete */ }
    }
    return out;
  }

  /** Fill `<tmp>` with the driver's snapshot files for `chain` (bottom..top, already checked). */
  protected abstract initSnapshot(tmp: string, chain: string[], key: string): Promise<void>;

  async prepare(key: string, chain: string[]): Promise<void> {
    const dir = this.snapshotDir(key);
    for (let i = 0; i < chain.length; i++) {
      const l = await this.layerInfo(chain[i]);
      if (l.parent !== (i === 0 ? null : chain[i - 1])) {
        throw invalidArgument(`layer ${chain[i]} is not on top of ${i === 0 ? 'nothing' : chain[i - 1]} (its parent is ${l.parent ?? 'none'})`);
      }
    }
    if (await exists(dir)) throw alreadyExists(`snapshot ${key} already exists`);
    const tmp = path.join(this.snapshotsDir, tmpName());
    await fs.mkdir(tmp, { mode: 0o700 });
    try {
      await this.initSnapshot(tmp, chain, key);
      const rec: SnapshotRecord = { key, chain, created: new Date().toISOString() };
      await writeJsonAtomic(path.join(tmp, 'snapshot.json'), rec); // the "finished" marker
      await fs.rename(tmp, dir);
    } catch (e) {
      await removeTree(tmp);
      const c = (e as NodeJS.ErrnoException).code;
      if (c === 'EEXIST' || c === 'ENOTEMPTY') throw alreadyExists(`snapshot ${key} already exists`);
      throw e;
    }
    await fsyncDir(this.snapshotsDir);
  }

  async snapshotRecord(key: string): Promise<SnapshotRecord> {
    const f = path.join(this.snapshotDir(key), 'snapshot.json');
    if (!(await exists(f))) throw notFound(`snapshot ${key} not found`);
    return readJson<SnapshotRecord>(f);
  }

  abstract mount(key: string): Promise<string>;
  abstract unmount(key: string): Promise<void>;
  abstract changes(key: string, skip?: SkipPath): Promise<WritableChanges>;
  abstract graphData(key: string): Promise<Record<string, string> | null>;
  abstract layerGraphData(chain: string[]): Record<string, string> | null;
  /** Where the snapshot's own changes are (its disk usage is counted there); no I/O. */
  abstract writableDir(key: string): string;

  async remove(key: string): Promise<void> {
    const dir = this.snapshotDir(key);
    await unmountUnder(dir); // never let rm descend into a live mount
    if (!(await exists(dir))) return;
    const tmp = path.join(this.snapshotsDir, tmpName());
    await fs.rename(dir, tmp);
    await removeTree(tmp);
  }

  async listSnapshots(): Promise<string[]> {
    const out: string[] = [];
    for (const n of await fs.readdir(this.snapshotsDir)) {
      if (!n.startsWith('.') && (await exists(path.join(this.snapshotsDir, n, 'snapshot.json')))) out.push(n);
    }
    return out.sort();
  }

  /** Start-up only (it would delete the temp dir of an apply in progress). */
  async cleanup(): Promise<void> {
    for (const n of await fs.readdir(this.layersDir)) {
      const p = path.join(this.layersDir, n);
      if (n.startsWith(TMP) || !(await exists(path.join(p, 'layer.json')))) {
        await unmountUnder(p);
        await this.discard(p);
      }
    }
    for (const n of await fs.readdir(this.snapshotsDir)) {
      const p = path.join(this.snapshotsDir, n);
      if (n.startsWith('.') || !(await exists(path.join(p, 'snapshot.json')))) {
        await unmountUnder(p);
        await removeTree(p);
      }
    }
    for (const n of await fs.readdir(this.root)) {
      if (n.startsWith(TMP)) {
        const p = path.join(this.root, n);
        await unmountUnder(p);
        await removeTree(p);
      }
    }
  }
}
