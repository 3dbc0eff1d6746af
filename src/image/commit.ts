// Images made on this host: docker commit (a container's changes as one new layer on top of
// its image, with an image config that carries the parent's history plus one entry) and
// docker import (a tarball as the one layer of an image without parent); the layer is
// stored as a gzip blob like a pulled layer. Also `docker history` of any stored image,
// from its config blob. The store calls these inside its mutation queue (commitImage) or
// outside it (writeLayer: reading a container's files may take long).
import { createHash } from '../common/crypto.js';
import { createReadStream, createWriteStream } from 'node:fs';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { chainIdOf } from '../storage/base.js';
import type { SnapshotDriver } from '../storage/types.js';
import type { ContentStore } from './content.js';
import { MEDIA_TYPES } from './layers.js';
import { hostPlatform } from './registry/manifest.js';
import type { NewImage, StoredImage, StoredLayer } from './records.js';
import type { ImageConfig } from './types.js';

/** A layer written to files under ingest/: the plain tar (for the driver) and its gzip blob. */
export interface LayerFiles {
  tar: string;
  diffId: string;
  diffSize: number;
  blob: string;
  digest: string;
  blobSize: number;
}

function hashing(h: ReturnType<typeof createHash>, count: (n: number) => void): Transform {
  return new Transform({ transform(c: Buffer, _e, cb) { h.update(c); count(c.length); cb(null, c); } });
}

/** Write `tar` to `dir` twice: as it is (hashed: the diff id) and gzipped (hashed: the blob). */
export async function writeLayer(tar: AsyncIterable<Buffer>, dir: string): Promise<LayerFiles> {
  const tarFile = path.join(dir, 'layer.tar');
  const blob = path.join(dir, 'layer.tar.gz');
  const dh = createHash('sha256');
  let diffSize = 0;
  await pipeline(tar, hashing(dh, (n) => { diffSize += n; }), createWriteStream(tarFile, { mode: 0o600 }));
  const bh = createHash('sha256');
  let blobSize = 0;
  await pipeline(createReadStream(tarFile), zlib.createGzip(), hashing(bh, (n) => { blobSize += n; }), createWriteStream(blob, { mode: 0o600 }));
  return { tar: tarFile, diffId: `sha256:${dh.digest('hex')}`, diffSize, blob, digest: `sha256:${bh.digest('hex')}`, blobSize };
}

/** An image config blob as docker writes it (only the fields tsula reads are typed). */
export interface ConfigBlob {
  created?: string;
  author?: string;
  architecture?: string;
  variant?: string;
  os?: string;
  config?: ImageConfig & Record<string, unknown>;
  container?: string;
  container_config?: unknown;
  docker_version?: string;
  comment?: string;
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
}

export interface CommitSpec {
  /** The image the container runs (its id); '' for none (a build's FROM scratch). */
  parent: string;
  containerId: string;
  config: ImageConfig & Record<string, unknown>;
  /** The container's own config, before -c changes (dockerd's ContainerConfig). */
  containerConfig?: Record<string, unknown>;
  author?: string;
  comment?: string;
  /** The history entry's created_by (docker: the container's command). */
  createdBy: string;
  /** The engine's version, as dockerd records its own in docker_version. */
  engineVersion?: string;
}

/** The diff id of an empty layer (a tar of nothing: two zero blocks), dockerd's DigestSHA256EmptyTar. */
export const EMPTY_LAYER_DIFF_ID = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

export interface CommitDeps { driver: SnapshotDriver; content: ContentStore }

/** docker import's own settings (dockerd's ImportImage). */
export interface ImportSpec {
  config: ImageConfig & Record<string, unknown>;
  /** The history entry's and config's comment (docker import -m; dockerd: "Imported from -"). */
  comment: string;
  architecture: string;
  os: string;
  variant?: string;
  engineVersion?: string;
}

/**
 * The new image from `parent` (or none: docker import, a build's FROM scratch) and a written
 * layer: the layer unpacked into the driver (on the parent's top), its blob and the config
 * stored. A layer that changed nothing (a build's ENV, CMD...) adds no layer: the history
 * entry says empty_layer, as dockerd's NewChildImage writes it. Returns the record to add
 * and the chain id it created (for the caller to roll back if recording fails).
 */
export async function commitImage(d: CommitDeps, parent: StoredImage | null, layer: LayerFiles, spec: CommitSpec): Promise<{ image: NewImage; created: string | null }> {
  const parentConfig: Partial<ConfigBlob> = parent ? await d.content.readJson<ConfigBlob>(parent.id) : {};
  const now = new Date().toISOString();
  const empty = layer.diffId === EMPTY_LAYER_DIFF_ID;
  const history = [...(parentConfig.history ?? [])];
  history.push({
    created: now, created_by: spec.createdBy,
    ...(spec.author ? { author: spec.author } : {}), ...(spec.comment ? { comment: spec.comment } : {}),
    ...(empty ? { empty_layer: true } : {}),
  });
  const host = hostPlatform();
  return storeImage(d, parent, empty ? null : layer, {
    architecture: parentConfig.architecture ?? parent?.architecture ?? host.architecture, os: parentConfig.os ?? parent?.os ?? host.os,
    author: spec.author ?? '', comment: spec.comment ?? '', config: spec.config, container: spec.containerId,
    ...(spec.containerConfig ? { container_config: spec.containerConfig } : {}),
    created: now, docker_version: spec.engineVersion ?? '', history,
    rootfs: { type: 'layers', diff_ids: [...(parent?.rootfs.diffIds ?? []), ...(empty ? [] : [layer.diffId])] },
  });
}

/** docker import: `layer` as the only layer of a new image (its config as dockerd writes it). */
export async function importImage(d: CommitDeps, layer: LayerFiles, spec: ImportSpec): Promise<{ image: NewImage; created: string | null }> {
  const now = new Date().toISOString();
  return storeImage(d, null, layer, {
    architecture: spec.architecture, ...(spec.variant ? { variant: spec.variant } : {}), os: spec.os,
    comment: spec.comment, config: spec.config, created: now, docker_version: spec.engineVersion ?? '',
    history: [{ created: now, comment: spec.comment }],
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
  });
}

async function storeImage(d: CommitDeps, parent: StoredImage | null, layer: LayerFiles | null, config: ConfigBlob): Promise<{ image: NewImage; created: string | null }> {
  const top = parent?.chainIds[parent.chainIds.length - 1] ?? null;
  let stored: StoredLayer | null = null;
  let created: string | null = null;
  if (layer) {
    const chainId = chainIdOf(top, layer.diffId);
    const existed = await d.driver.hasLayer(chainId);
    const info = await d.driver.applyLayer(chainId, top, createReadStream(layer.tar));
    await d.content.commit(layer.blob, layer.digest);
    stored = {
      diffId: layer.diffId, chainId, blob: layer.digest, mediaType: MEDIA_TYPES.dockerLayerGzip, compression: 'gzip',
      blobSize: layer.blobSize, diffSize: layer.diffSize, size: info.size,
    };
    created = existed ? null : chainId;
  }
  const text = Buffer.from(JSON.stringify(config));
  const id = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  await d.content.ingest(Readable.from([text]), 'image config', { digest: id });
  const layers = [...(parent?.layers ?? []).map((l) => ({ ...l })), ...(stored ? [stored] : [])];
  return {
    image: {
      id, ...(parent ? { parent: parent.id } : {}), created: config.created!, size: layers.reduce((n, l) => n + l.size, 0),
      architecture: config.architecture ?? '', os: config.os ?? '', config: config.config ?? {},
      rootfs: { type: 'layers', diffIds: config.rootfs.diff_ids }, chainIds: [...(parent?.chainIds ?? []), ...(stored ? [stored.chainId] : [])], layers,
    },
    created,
  };
}

/** One line of `docker history` (dockerd's image.HistoryResponseItem). */
export interface HistoryItem { Id: string; Created: number; CreatedBy: string; Tags: string[] | null; Size: number; Comment: string }

/**
 * `docker history`: the config's history, newest first, each non-empty entry with the size
 * of its layer; the top line is the image (its id and names), the others "<missing>" as
 * dockerd shows layers that are no image of their own. Without history, one line per layer.
 */
export async function imageHistory(content: ContentStore, img: StoredImage, parentOf: (id: string) => StoredImage | undefined = () => undefined): Promise<HistoryItem[]> {
  const cfg = await content.readJson<ConfigBlob>(img.id).catch(() => null);
  const secs = (t?: string) => { const ms = Date.parse(t ?? ''); return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000); };
  let layer = 0;
  const out: HistoryItem[] = [];
  const history = cfg?.history?.length ? cfg.history : img.layers.map(() => ({ created: img.created, created_by: '' }));
  for (const h of history) {
    const empty = 'empty_layer' in h && h.empty_layer === true;
    const size = empty ? 0 : img.layers[layer++]?.size ?? 0;
    out.push({ Id: '<missing>', Created: secs(h.created), CreatedBy: h.created_by ?? '', Tags: null, Size: size, Comment: ('comment' in h ? h.comment : '') ?? '' });
  }
  out.reverse();
  // dockerd's ImageHistory: the rows below take the ids of the parents (a commit's image)
  let cur: StoredImage | undefined = img;
  for (const row of out) {
    if (!cur) break;
    row.Id = cur.id;
    row.Tags = cur.repoTags.length ? [...cur.repoTags] : null;
    cur = cur.parent ? parentOf(cur.parent) : undefined;
  }
  return out;
}
