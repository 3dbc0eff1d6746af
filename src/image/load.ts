// Unpack the layers of one planned image into the snapshot driver, verifying each layer's
// diff id on the way, and collect the blobs to commit. Nothing here writes a record: the
// store does that once every image of the archive is complete.
import { withContext } from '../common/errors.js';
import type { LayerInfo, SnapshotDriver } from '../storage/types.js';
import { missingFromArchive, type ImagePlan } from './archive-load.js';
import type { ContentStore } from './content.js';
import { digestMismatch } from './content.js';
import { drainLayer, openLayer } from './layers.js';
import type { StoredImage, StoredLayer } from './records.js';
import type { ImageConfig, LoadProgress } from './types.js';

export interface LoadContext {
  driver: SnapshotDriver;
  content: ContentStore;
  /** A layer of a stored image, looked up by its blob digest or its chain id. */
  knownLayer(by: { blob?: string; chainId?: string }): StoredLayer | undefined;
}

/** State of one load, shared by the images of an archive and used to roll back. */
export interface LoadSession {
  applied: string[];                 // chain ids this load created in the driver, in order
  pending: Map<string, string>;      // blob digest -> verified file under ingest/
  fresh: StoredLayer[];              // layers verified by this load
}

export async function unpackImage(
  ctx: LoadContext, plan: ImagePlan, session: LoadSession, onProgress?: (p: LoadProgress) => void,
): Promise<Omit<StoredImage, 'repoTags' | 'repoDigests'>> {
  const layers: StoredLayer[] = [];
  let parent: string | null = null;
  for (const lp of plan.layers) {
    if (!lp.file) {
      // left out of the archive: fine where this chain is here already (dockerd's lss.Get)
      const have = session.fresh.find((l) => l.chainId === lp.chainId) ?? ctx.knownLayer({ chainId: lp.chainId });
      if (!have || !(await ctx.driver.hasLayer(lp.chainId))) throw missingFromArchive('layer', lp.missing ?? lp.label);
      layers.push({ ...have });
      parent = lp.chainId;
      continue;
    }
    const file = lp.file;
    const short = lp.diffId.slice('sha256:'.length, 'sha256:'.length + 12);
    const total = file.size;
    const progress = (current: number, status: LoadProgress['status']) =>
      onProgress?.({ layer: short, current, total, status });
    // A blob verified before (by an earlier load or earlier in this one) need not be re-read.
    const known = session.fresh.find((l) => l.blob === lp.digest) ?? ctx.knownLayer({ blob: lp.digest });
    if (known && known.diffId !== lp.diffId) throw digestMismatch(`${lp.label} (diff id)`, lp.diffId, known.diffId);
    const sizeOf = (fallback: number) =>
      (session.fresh.find((l) => l.chainId === lp.chainId) ?? ctx.knownLayer({ chainId: lp.chainId }))?.size ?? fallback;
    const haveLayer = await ctx.driver.hasLayer(lp.chainId);
    const haveBlob = known !== undefined && (session.pending.has(lp.digest) || await ctx.content.has(lp.digest));

    let stored: StoredLayer;
    const base = {
      diffId: lp.diffId, chainId: lp.chainId, blob: lp.digest, mediaType: lp.mediaType,
      compression: lp.compression, blobSize: file.size,
    };
    // dockerd's loader reports a layer it loads, never one it has (tarexport's Load: lss.Get first)
    if (haveLayer && haveBlob) {
      stored = { ...base, diffSize: known.diffSize, size: sizeOf(known.diffSize) };
    } else if (haveLayer) {
      // The layer is unpacked already but this blob is new to us: check it, keep it for save.
      const { diffSize } = await drainLayer(openLayer(file.file, lp.compression, lp.diffId, lp.label))
        .catch((e: unknown) => { throw withContext(e, lp.label); });
      stored = { ...base, diffSize, size: sizeOf(diffSize) };
    } else {
      let read = 0;
      const layer = openLayer(file.file, lp.compression, lp.diffId, lp.label, (n) => {
        read += n;
        progress(read, 'Loading layer');
      });
      let info: LayerInfo;
      try {
        info = await ctx.driver.applyLayer(lp.chainId, parent, layer.stream);
      } catch (e) {
        layer.stream.destroy();
        // A blob we could not read (digest mismatch, corrupt gzip) explains the driver's failure.
        throw withContext(layer.readError() ?? e, lp.label);
      }
      session.applied.push(lp.chainId);
      // A driver may stop reading at the tar's end marker: the rest still has to be hashed.
      if (!layer.finished()) await drainLayer(layer).catch((e: unknown) => { throw withContext(e, lp.label); });
      const { diffSize } = await layer.done;
      // as dockerd's progress reader at its close: the bar ends full, still "Loading layer"
      if (read !== total) progress(total, 'Loading layer');
      stored = { ...base, diffSize, size: info.size };
    }
    if (!session.pending.has(lp.digest) && !(await ctx.content.has(lp.digest))) {
      session.pending.set(lp.digest, file.file);
    }
    session.fresh.push(stored);
    layers.push(stored);
    parent = lp.chainId;
  }

  if (!(await ctx.content.has(plan.id))) session.pending.set(plan.id, plan.config.file);
  if (plan.manifest && !(await ctx.content.has(plan.manifest.digest))) {
    session.pending.set(plan.manifest.digest, plan.manifest.file);
  }
  const img = plan.image;
  return {
    id: plan.id,
    created: img.created ?? '',
    size: layers.reduce((n, l) => n + l.size, 0),
    architecture: img.architecture ?? '',
    os: img.os ?? '',
    config: (img.config ?? {}) as ImageConfig,
    rootfs: { type: 'layers', diffIds: [...img.rootfs.diff_ids] },
    chainIds: plan.layers.map((l) => l.chainId),
    ...(plan.parent ? { parent: plan.parent } : {}),
    manifest: plan.manifest
      ? { digest: plan.manifest.digest, mediaType: plan.manifestMediaType ?? '', size: plan.manifest.size }
      : undefined,
    layers,
  };
}
