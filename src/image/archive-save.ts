// Write images as `docker save` does since dockerd 25 (the documents: save-layout.ts): an OCI
// image layout whose blobs are each config, each layer as its uncompressed tar (decompressed
// here from the blob kept as loaded, so its sha256 is the config's diff id) and each
// manifest, beside manifest.json and repositories. The config is byte-identical, so a
// save -> load round trip gives the same image id. Everything streams: a layer is never
// held in memory.
import { promises as fs } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Header } from 'tar/header';
import { internal } from '../common/errors.js';
import type { ContentStore } from './content.js';
import { openLayer } from './layers.js';
import type { StoredImage, StoredLayer } from './records.js';
import { saveLayout, type LayoutImage } from './save-layout.js';

export interface SaveEntry {
  image: StoredImage;
  tags: string[];           // familiar name:tag to list in RepoTags
}

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);
const EPOCH = new Date(0); // dockerd's time for what is not an image's config or layer

function header(path: string, size: number, type: 'File' | 'Directory', mtime: Date): Buffer {
  const h = new Header({
    path, size, type, mtime, uid: 0, gid: 0, uname: '', gname: '',
    mode: type === 'Directory' ? 0o755 : 0o644,
  });
  // Paths here are at most "blobs/sha256/" + 64 hex: they always fit a ustar header.
  h.encode();
  if (!h.block) throw internal(`cannot encode tar header for ${path}`);
  return h.block;
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : ZERO.subarray(0, BLOCK - rem);
}

function* smallFile(path: string, data: Buffer, mtime: Date): Generator<Buffer> {
  yield header(path, data.length, 'File', mtime);
  yield data;
  yield padding(data.length);
}

async function* archive(entries: SaveEntry[], content: ContentStore): AsyncGenerator<Buffer> {
  // Configs are small: read them all, so that every document is known before the first blob.
  const images: Array<LayoutImage<StoredLayer>> = [];
  for (const { image, tags } of entries) {
    images.push({
      id: image.id, config: await fs.readFile(content.blobPath(image.id)), created: image.created,
      ...(image.parent ? { parent: image.parent } : {}), tags,
      layers: image.layers.map((l) => ({ diffId: l.diffId, diffSize: l.diffSize, ref: l })),
    });
  }
  const layout = saveLayout(images);
  yield header('blobs/', 0, 'Directory', EPOCH);
  yield header('blobs/sha256/', 0, 'Directory', EPOCH);
  for (const b of layout.blobs) {
    if (b.layer) yield* layerTar(b.path, b.mtime, b.layer.ref, content);
    else yield* smallFile(b.path, b.data, b.mtime);
  }
  for (const f of layout.files) yield* smallFile(f.path, f.data, EPOCH);
  yield ZERO;
}

async function* layerTar(path: string, mtime: Date, layer: StoredLayer, content: ContentStore): AsyncGenerator<Buffer> {
  // The header needs the size up front: the uncompressed size was recorded at load time.
  yield header(path, layer.diffSize, 'File', mtime);
  const src = openLayer(content.blobPath(layer.blob), layer.compression, layer.diffId, `layer ${layer.diffId}`);
  let n = 0;
  for await (const chunk of src.stream) {
    n += (chunk as Buffer).length;
    if (n > layer.diffSize) break;
    yield chunk as Buffer;
  }
  if (n !== layer.diffSize) {
    src.stream.destroy();
    throw internal(`stored layer ${layer.diffId} is corrupt: expected ${layer.diffSize} bytes, got ${n}`);
  }
  await src.done; // throws if the stored blob no longer hashes to its diff id
  yield padding(n);
}

/** Stream a `docker save` archive of `entries` into `out` (and end it). */
export async function writeDockerArchive(entries: SaveEntry[], content: ContentStore, out: Writable): Promise<void> {
  await pipeline(Readable.from(archive(entries, content), { objectMode: false }), out);
}
