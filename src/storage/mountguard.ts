// A snapshot driver whose container mounts can be held: while docker cp or export reads a
// stopped container's rootfs, the engine's unmount at the container's exit (which may come
// just after the copy began) waits for the last holder instead of pulling the files away.
// Everything else passes through to the driver it wraps.
import type { Readable } from 'node:stream';
import type { SkipPath, WritableChanges } from './changes.js';
import type { DriverName, LayerInfo, SnapshotDriver } from './types.js';

export class MountGuard implements SnapshotDriver {
  private readonly holds = new Map<string, number>();
  private readonly deferred = new Set<string>();
  /** Unmounts under way: a mount or hold that comes meanwhile waits for it (else it finds the
   *  mount still there, and then loses it). */
  private readonly unmounting = new Map<string, Promise<void>>();

  constructor(readonly inner: SnapshotDriver) {}

  get name(): DriverName { return this.inner.name; }
  status(): Array<[string, string]> { return this.inner.status(); }
  hasLayer(chainId: string): Promise<boolean> { return this.inner.hasLayer(chainId); }
  applyLayer(chainId: string, parent: string | null, tar: Readable): Promise<LayerInfo> { return this.inner.applyLayer(chainId, parent, tar); }
  removeLayer(chainId: string): Promise<void> { return this.inner.removeLayer(chainId); }
  listLayers(): Promise<LayerInfo[]> { return this.inner.listLayers(); }
  prepare(key: string, chain: string[]): Promise<void> { return this.inner.prepare(key, chain); }
  changes(key: string, skip?: SkipPath): Promise<WritableChanges> { return this.inner.changes(key, skip); }
  graphData(key: string): Promise<Record<string, string> | null> { return this.inner.graphData(key); }
  layerGraphData(chain: string[]): Record<string, string> | null { return this.inner.layerGraphData(chain); }
  writableDir(key: string): string { return this.inner.writableDir(key); }
  listSnapshots(): Promise<string[]> { return this.inner.listSnapshots(); }
  cleanup(): Promise<void> { return this.inner.cleanup(); }
  remove(key: string): Promise<void> { this.deferred.delete(key); return this.inner.remove(key); }

  /** A (re)mount cancels an unmount that waits for holders: the container runs again. */
  async mount(key: string): Promise<string> {
    this.deferred.delete(key);
    await this.unmounting.get(key)?.catch(() => {});
    return this.inner.mount(key);
  }

  /** Now, or when the last holder lets go. */
  async unmount(key: string): Promise<void> {
    if ((this.holds.get(key) ?? 0) > 0) { this.deferred.add(key); return; }
    await this.unmountNow(key);
  }

  private async unmountNow(key: string): Promise<void> {
    const p = this.inner.unmount(key);
    this.unmounting.set(key, p);
    try {
      await p;
    } finally {
      if (this.unmounting.get(key) === p) this.unmounting.delete(key);
    }
  }

  /** Mount and hold: no unmount happens until release(). */
  async hold(key: string): Promise<string> {
    this.holds.set(key, (this.holds.get(key) ?? 0) + 1);
    try {
      await this.unmounting.get(key)?.catch(() => {});
      return await this.inner.mount(key);
    } catch (e) {
      await this.release(key, false);
      throw e;
    }
  }

  /**
   * Let go; the last holder unmounts when an unmount waited, or when `idle` says nothing
   * else uses the mount (a stopped container mounted only for the holders).
   */
  async release(key: string, idle: boolean): Promise<void> {
    const n = (this.holds.get(key) ?? 1) - 1;
    if (n > 0) { this.holds.set(key, n); return; }
    this.holds.delete(key);
    const waited = this.deferred.delete(key);
    if (waited || idle) await this.unmountNow(key).catch(() => {});
  }
}
