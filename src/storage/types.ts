// The snapshot driver contract. Layers are unpacked once, keyed by their chain id; a
// container gets a writable snapshot on top of its image's top layer.
import type { Readable } from 'node:stream';
import type { SkipPath, WritableChanges } from './changes.js';

export type DriverName = 'overlay' | 'vfs';

/** The name docker clients see: tsula's overlay is dockerd's overlay2 (multiple lowerdirs through short links). */
export function dockerDriverName(name: string): string {
  return name === 'overlay' ? 'overlay2' : name;
}

export interface LayerInfo {
  chainId: string;      // sha256:... (OCI chain id of this layer)
  diffId: string;       // sha256:... of the uncompressed tar
  parent: string | null; // chain id of the layer below
  size: number;         // bytes unpacked
  /** Only from applyLayer, not stored: xattrs the filesystem refused (docker ignores them too). */
  warnings?: string[];
}

export interface SnapshotDriver {
  readonly name: DriverName;
  /** Options the driver reports in `info` (e.g. "Backing Filesystem"). */
  status(): Array<[string, string]>;
  hasLayer(chainId: string): Promise<boolean>;
  /**
   * Unpack an UNCOMPRESSED layer tar on top of `parent`. Atomic: the layer appears only when
   * complete; on any error (escaping entry, truncated tar) nothing of it stays on disk.
   */
  applyLayer(chainId: string, parent: string | null, tar: Readable): Promise<LayerInfo>;
  removeLayer(chainId: string): Promise<void>;
  /** Every complete layer on disk (for start-up cleanup: layers no image record names). */
  listLayers(): Promise<LayerInfo[]>;
  /** Create the container's writable snapshot over `chain` (bottom..top chain ids). */
  prepare(key: string, chain: string[]): Promise<void>;
  /** Mount it (idempotent); returns the rootfs path to hand to runc. */
  mount(key: string): Promise<string>;
  unmount(key: string): Promise<void>;
  /** Unmount if needed and delete the writable snapshot. Missing is not an error. */
  remove(key: string): Promise<void>;
  /** The snapshot's own files (overlay's upper dir, vfs's rootfs), writable before any mount. */
  writableDir(key: string): string;
  /**
   * docker inspect's GraphDriver.Data of a snapshot: overlay's LowerDir (top first), UpperDir,
   * WorkDir and MergedDir, as dockerd's overlay2 gives them; null where a driver has none (vfs).
   */
  graphData(key: string): Promise<Record<string, string> | null>;
  /**
   * docker image inspect's GraphDriver.Data of an image of layers `chain` (bottom..top chain
   * ids): overlay2's metadata of its top layer (no LowerDir for one layer); null where a
   * driver has none (vfs) or the image has no layer.
   */
  layerGraphData(chain: string[]): Record<string, string> | null;
  /** What the snapshot changed against its image (docker diff, commit); `skip` leaves paths out. */
  changes(key: string, skip?: SkipPath): Promise<WritableChanges>;
  /** Keys of all container snapshots on disk (for start-up cleanup). */
  listSnapshots(): Promise<string[]>;
  /** Remove half-written layers and temp dirs left by a crash. */
  cleanup(): Promise<void>;
}
