// The documents of a `docker save` as dockerd 25+ writes them (moby's image/tarexport/save.go,
// the graphdriver store tsula mirrors; no API version changes it): an OCI image layout
// (`oci-layout`, `index.json`, `blobs/sha256/<hex>` holding each config, each layer as the
// uncompressed tar its diff id names, one OCI manifest per image) and, for loaders older than
// that, `manifest.json` and `repositories` pointing at the same blobs. Pure: no I/O here.
import { createHash } from 'node:crypto';
import { MEDIA_TYPES } from './layers.js';
import { parseReference } from './reference.js';
import { hexOf } from './records.js';

export interface LayoutLayer<L> {
  diffId: string;
  diffSize: number;   // bytes of the uncompressed tar: its descriptor's size
  ref: L;             // what the writer opens to stream it
}

export interface LayoutImage<L> {
  id: string;          // sha256 of `config`
  config: Buffer;      // the config as stored: byte for byte, so the id survives a load
  created?: string;
  parent?: string;
  tags: string[];      // familiar name:tag
  layers: Array<LayoutLayer<L>>;
}

export type LayoutBlob<L> =
  { path: string; mtime: Date; data: Buffer; layer?: undefined }
  | { path: string; mtime: Date; layer: LayoutLayer<L>; data?: undefined };

export interface SaveLayout<L> {
  /** Every blob once, sorted by path (dockerd tars its export directory in lexical order). */
  blobs: Array<LayoutBlob<L>>;
  /** The top-level files after `blobs/`, sorted: index.json, manifest.json, oci-layout, repositories. */
  files: Array<{ path: string; data: Buffer }>;
}

const EPOCH = new Date(0);

const blobPath = (digest: string) => `blobs/sha256/${hexOf(digest)}`;

function dateOf(created: string | undefined): Date {
  const t = created ? Date.parse(created) : NaN;
  return Number.isFinite(t) ? new Date(t) : EPOCH;
}

function splitTag(familiar: string): { name: string; tag: string; fullName: string } {
  const p = parseReference(familiar);
  return { name: p.name, tag: p.tag ?? 'latest', fullName: p.fullName };
}

/**
 * The layout of a save of `images`, in the order given (dockerd's is its map's order).
 * An image without layers has no export in dockerd ("empty export - not implemented"):
 * the caller refuses it before the first byte.
 */
export function saveLayout<L>(images: Array<LayoutImage<L>>): SaveLayout<L> {
  const blobs = new Map<string, LayoutBlob<L>>();
  const index: unknown[] = [];
  const manifest: unknown[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  const saved = new Set(images.map((i) => i.id));
  for (const img of images) {
    const ts = dateOf(img.created);
    // Go's json.Marshal of ocispec.Manifest: these keys in this order, the layers as
    // uncompressed OCI layers named by their diff ids.
    const layers = img.layers.map((l) => ({ mediaType: MEDIA_TYPES.ociLayer, digest: l.diffId, size: l.diffSize }));
    const data = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA_TYPES.ociManifest,
      config: { mediaType: MEDIA_TYPES.ociConfig, digest: img.id, size: img.config.length },
      layers,
    }));
    const mdigest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    blobs.set(blobPath(mdigest), { path: blobPath(mdigest), mtime: EPOCH, data });
    blobs.set(blobPath(img.id), { path: blobPath(img.id), mtime: ts, data: img.config });
    for (const l of img.layers) {
      if (!blobs.has(blobPath(l.diffId))) blobs.set(blobPath(l.diffId), { path: blobPath(l.diffId), mtime: ts, layer: l });
    }
    const desc = { mediaType: MEDIA_TYPES.ociManifest, digest: mdigest, size: data.length };
    const top = img.layers[img.layers.length - 1];
    for (const t of img.tags) {
      const { name, tag, fullName } = splitTag(t);
      // dockerd 25+ records the top layer's diff id here (20.10 had the v1 id of a layer
      // directory, which this layout no longer has): images sharing a top layer share it.
      if (top) (repositories[name] ??= {})[tag] = hexOf(top.diffId);
      index.push({ ...desc, annotations: { 'io.containerd.image.name': `${fullName}:${tag}`, 'org.opencontainers.image.ref.name': tag } });
    }
    // dockerd means an untagged image to be listed too (its check, over the whole index so
    // far, drops one saved after a tagged image: a bug this does not copy).
    if (img.tags.length === 0) index.push(desc);
    // LayerSources: dockerd 25+ describes every layer (distribution.Descriptor's key order),
    // keyed by diff id; Go sorts map keys.
    const sources: Record<string, unknown> = {};
    for (const l of [...img.layers].sort((a, b) => (a.diffId < b.diffId ? -1 : a.diffId > b.diffId ? 1 : 0))) {
      sources[l.diffId] = { mediaType: MEDIA_TYPES.ociLayer, size: l.diffSize, digest: l.diffId };
    }
    manifest.push({
      Config: blobPath(img.id),
      RepoTags: img.tags.length ? img.tags : null,
      Layers: img.layers.map((l) => blobPath(l.diffId)),
      // only when the parent is in the same archive (moby's validatedParentLinks)
      ...(img.parent && img.parent !== img.id && saved.has(img.parent) ? { Parent: img.parent } : {}),
      ...(img.layers.length ? { LayerSources: sources } : {}),
    });
  }
  const files: SaveLayout<L>['files'] = [
    { path: 'index.json', data: Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: index })) },
    // json.Encoder: a trailing newline
    { path: 'manifest.json', data: Buffer.from(`${JSON.stringify(manifest)}\n`) },
    { path: 'oci-layout', data: Buffer.from('{"imageLayoutVersion": "1.0.0"}') },
  ];
  if (Object.keys(repositories).length) files.push({ path: 'repositories', data: Buffer.from(`${goMap(repositories, (tags) => goMap(tags, (v) => JSON.stringify(v)))}\n`) });
  const sorted = [...blobs.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { blobs: sorted, files };
}

/**
 * A map as Go marshals it: keys sorted bytewise. Built by hand: a JS object would put
 * integer-like keys (a tag "10", "2") first, in numeric order.
 */
function goMap<V>(m: Record<string, V>, value: (v: V) => string): string {
  const keys = Object.keys(m).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${keys.map((k) => `${JSON.stringify(k)}:${value(m[k]!)}`).join(',')}}`;
}
