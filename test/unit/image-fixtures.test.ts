// Shared fixtures of the image tests (this file holds no tests itself): the test images
// built by scripts/build-busybox-image.sh, a fake snapshot driver that records what it is
// asked to do, and small tar helpers to craft broken archives.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { promises as fs, readFileSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Header } from 'tar';
import type { WritableChanges } from '../../src/storage/changes.js';
import type { LayerInfo, SnapshotDriver } from '../../src/storage/types.js';

/** The repository root, from dist/test/unit/ or test/unit/. */
export const REPO = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'scripts', 'build-busybox-image.sh'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root');
    dir = up;
  }
  return dir;
})();

export interface Fixtures { busybox: string; busyboxOci: string; layered: string }

/**
 * Build the test images once per version of the build script (its output is reproducible),
 * into a cache under the system temp dir shared by the test files.
 */
export function buildFixtures(): Fixtures {
  const script = path.join(REPO, 'scripts', 'build-busybox-image.sh');
  const key = createHash('sha256').update(readFileSync(script)).update(readFileSync('/bin/busybox')).digest('hex').slice(0, 16);
  const dir = path.join(os.tmpdir(), `tsula-image-fixtures-${key}`);
  if (!existsSync(path.join(dir, 'layered.tar'))) {
    const tmp = mkdtempSync(`${dir}.tmp-`);
    execFileSync(script, [tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
    try { renameSync(tmp, dir); } catch { rmSync(tmp, { recursive: true, force: true }); } // another test file won
  }
  return {
    busybox: path.join(dir, 'busybox.tar'),
    busyboxOci: path.join(dir, 'busybox-oci.tar'),
    layered: path.join(dir, 'layered.tar'),
  };
}

export async function tempDir(prefix = 'tsula-image-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A snapshot driver that only consumes layer streams and remembers what it was asked. */
export class FakeDriver implements SnapshotDriver {
  readonly name = 'vfs' as const;
  readonly layers = new Map<string, LayerInfo>();
  readonly calls: string[] = [];
  /** Chain ids whose removal fails (as a driver refuses a layer a snapshot still uses). */
  readonly pinned = new Set<string>();

  status(): Array<[string, string]> { return []; }
  async hasLayer(chainId: string): Promise<boolean> { return this.layers.has(chainId); }

  async applyLayer(chainId: string, parent: string | null, tar: Readable): Promise<LayerInfo> {
    this.calls.push(`apply ${chainId}`);
    if (parent !== null && !this.layers.has(parent)) throw new Error(`parent ${parent} missing`);
    const h = createHash('sha256');
    let size = 0;
    for await (const c of tar) { h.update(c as Buffer); size += (c as Buffer).length; }
    const diffId = `sha256:${h.digest('hex')}`;
    // As the real drivers do: the content must be what the chain id says.
    const want = parent === null ? diffId : `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
    if (want !== chainId) throw new Error(`layer content does not match chain id ${chainId}`);
    const info: LayerInfo = { chainId, diffId, parent, size };
    this.layers.set(chainId, info);
    return info;
  }

  async removeLayer(chainId: string): Promise<void> {
    this.calls.push(`remove ${chainId}`);
    if (this.pinned.has(chainId)) throw new Error(`layer ${chainId} is in use`);
    this.layers.delete(chainId);
  }

  async listLayers(): Promise<LayerInfo[]> { return [...this.layers.values()]; }

  async prepare(): Promise<void> { throw new Error('not in the fake'); }
  async mount(): Promise<string> { throw new Error('not in the fake'); }
  async changes(): Promise<WritableChanges> { throw new Error('not in the fake'); }
  async graphData(): Promise<null> { return null; }
  layerGraphData(): null { return null; }
  writableDir(): string { throw new Error('not in the fake'); }
  async unmount(): Promise<void> { /* nothing */ }
  async remove(): Promise<void> { /* nothing */ }
  async listSnapshots(): Promise<string[]> { return []; }
  async cleanup(): Promise<void> { /* nothing */ }
}

export function fileStream(file: string): Readable {
  return Readable.from(readFileSync(file));
}

/** Everything under `dir`, relative, sorted (to compare a store's files before and after). */
export async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    let names: string[];
    try { names = await fs.readdir(d); } catch { return; }
    for (const n of names) {
      const p = path.join(d, n);
      out.push(path.relative(dir, p));
      if ((await fs.lstat(p)).isDirectory()) await walk(p);
    }
  }
  await walk(dir);
  return out.sort();
}

// ---- tar helpers -------------------------------------------------------------------------

export interface TarEntry { path: string; data?: Buffer | string; type?: 'File' | 'SymbolicLink' | 'Directory'; linkpath?: string }

/** A tar image of `entries`, written header by header (so it may say anything, even "../x"). */
export function makeTar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const h = new Header({
      path: e.path, type: e.type ?? 'File', size: e.type && e.type !== 'File' ? 0 : data.length,
      mode: 0o644, uid: 0, gid: 0, mtime: new Date(0), linkpath: e.linkpath,
    });
    h.encode();
    parts.push(h.block!);
    if (!e.type || e.type === 'File') {
      parts.push(data);
      if (data.length % 512) parts.push(Buffer.alloc(512 - (data.length % 512)));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** The entries of an (uncompressed) tar: name, header offset, data offset and size. */
export function tarIndex(buf: Buffer): Array<{ path: string; offset: number; dataOffset: number; size: number }> {
  const out: Array<{ path: string; offset: number; dataOffset: number; size: number }> = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const block = buf.subarray(off, off + 512);
    if (block.every((b) => b === 0)) break;
    const h = new Header(block);
    const size = h.size ?? 0;
    out.push({ path: h.path ?? '', offset: off, dataOffset: off + 512, size });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Entries of a tar as a map path -> bytes (the archives here are small). */
export function readTar(buf: Buffer): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (const e of tarIndex(buf)) m.set(e.path, buf.subarray(e.dataOffset, e.dataOffset + e.size));
  return m;
}

/** Rebuild a tar with some entries' data replaced (the others are copied as they are). */
export function rewriteTar(buf: Buffer, replace: Record<string, Buffer | string>): Buffer {
  const entries: TarEntry[] = [];
  for (const e of tarIndex(buf)) {
    const h = new Header(buf.subarray(e.offset, e.offset + 512));
    const type = h.type === 'SymbolicLink' ? 'SymbolicLink' : h.type === 'Directory' ? 'Directory' : 'File';
    const data = replace[e.path] ?? buf.subarray(e.dataOffset, e.dataOffset + e.size);
    entries.push({ path: e.path, type, linkpath: h.linkpath, data: type === 'File' ? data : undefined });
  }
  return makeTar(entries);
}
