// What the store keeps per image on disk: the public ImageRecord plus where each layer's
// blob is, so that save can rebuild the archive and remove can collect garbage.
import type { ImageRecord } from './types.js';
import type { LayerCompression } from './layers.js';

export interface StoredLayer {
  diffId: string;
  chainId: string;
  blob: string;                 // digest of the blob in the content store (as loaded)
  mediaType: string;
  compression: LayerCompression;
  blobSize: number;
  diffSize: number;             // bytes of the uncompressed tar (a saved layer.tar's size)
  size: number;                 // bytes unpacked, as the snapshot driver counted them
  /**
   * Written by older tsula only: the one registry blob of this layer a pull saw when the
   * stored blob was another. Registry blobs of layers live in layer-sources.ts now; a pull
   * moves this there, and a push of a record that still has it counts it as a source.
   */
  remote?: { digest: string; size: number; mediaType: string; from: string };
}

export interface StoredImage extends ImageRecord {
  /** The OCI/docker manifest the image came with, if it came from an oci-archive. */
  manifest?: { digest: string; mediaType: string; size: number };
  layers: StoredLayer[];
}

/** An image record before the store gives it names. */
export type NewImage = Omit<StoredImage, 'repoTags' | 'repoDigests'>;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** A record read back from disk must be whole before the store trusts it. */
export function isStoredImage(v: unknown): v is StoredImage {
  if (!v || typeof v !== 'object') return false;
  const r = v as Partial<StoredImage>;
  return typeof r.id === 'string' && DIGEST.test(r.id)
    && Array.isArray(r.chainIds) && r.chainIds.every((c) => typeof c === 'string' && DIGEST.test(c))
    && Array.isArray(r.layers) && r.layers.length === r.chainIds.length
    && r.layers.every((l) => l && DIGEST.test(l.blob) && DIGEST.test(l.diffId) && typeof l.diffSize === 'number')
    && !!r.rootfs && Array.isArray(r.rootfs.diffIds);
}

/** The public view: a copy, so callers cannot change the store's state. */
export function toPublic(r: StoredImage): ImageRecord {
  return structuredClone({
    id: r.id,
    repoTags: r.repoTags,
    repoDigests: r.repoDigests,
    created: r.created,
    size: r.size,
    architecture: r.architecture,
    os: r.os,
    config: r.config,
    rootfs: r.rootfs,
    chainIds: r.chainIds,
    layerSizes: r.layers.map((l) => l.size),
    ...(r.lastTagTime ? { lastTagTime: r.lastTagTime } : {}),
    ...(r.parent ? { parent: r.parent } : {}),
  });
}

/** Every blob an image needs kept. */
export function blobsOf(r: StoredImage): string[] {
  const out = [r.id, ...r.layers.map((l) => l.blob)];
  if (r.manifest) out.push(r.manifest.digest);
  return out;
}

export function hexOf(digest: string): string {
  return digest.startsWith('sha256:') ? digest.slice('sha256:'.length) : digest;
}

export function createdTime(r: ImageRecord): number {
  const t = Date.parse(r.created);
  return Number.isNaN(t) ? 0 : t;
}
