// Write images as a docker-archive (what `docker save` writes and `docker load` reads):
//   <config-hex>.json, <layer-id>/{VERSION,json,layer.tar}, manifest.json, repositories.
// layer.tar is the uncompressed diff (blobs are kept as loaded and decompressed here), so the
// config is byte-identical and a save -> load round trip gives the same image id. Everything
// streams: a layer is never held in memory.
import { promises as fs } from 'node:fs';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Header } from 'tar';
import { internal } from '../common/errors.js';
import type { ContentStore } from './content.js';
import { openLayer } from './layers.js';
import { hexOf, type StoredImage } from './records.js';

export interface SaveEntry {
  image: StoredImage;
  tags: string[];           // familiar name:tag to list in RepoTags
}

const BLOCK = 512;
const ZERO = Buffer.alloc(BLOCK * 2);
const MTIME = new Date(0); // reproducible output; docker-archive readers ignore times

function header(path: string, size: number, type: 'File' | 'Directory'): Buffer {
  const h = new Header({
    path, size, type, mtime: MTIME, uid: 0, gid: 0, uname: '', gname: '',
    mode: type === 'Directory' ? 0o755 : 0o644,
  });
  // Paths here are at most 64 hex + "/layer.tar": they always fit a ustar header.
  h.encode();
  if (!h.block) throw internal(`cannot encode tar header for ${path}`);
  return h.block;
}

function padding(size: number): Buffer {
  const rem = size % BLOCK;
  return rem === 0 ? Buffer.alloc(0) : ZERO.subarray(0, BLOCK - rem);
}

function* smallFile(path: string, data: string | Buffer): Generator<Buffer> {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  yield header(path, buf.length, 'File');
  yield buf;
  yield padding(buf.length);
}

function splitTag(nameTag: string): [string, string] {
  const i = nameTag.lastIndexOf(':');
  return i > nameTag.lastIndexOf('/') ? [nameTag.slice(0, i), nameTag.slice(i + 1)] : [nameTag, 'latest'];
}

async function* archive(entries: SaveEntry[], content: ContentStore): AsyncGenerator<Buffer> {
  const manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }> = [];
  const repositories: Record<string, Record<string, string>> = {};
  const written = new Set<string>();
  for (const { image, tags } of entries) {
    const configName = `${hexOf(image.id)}.json`;
    if (!written.has(configName)) {
      written.add(configName);
      yield* smallFile(configName, await fs.readFile(content.blobPath(image.id)));
    }
    const layerPaths: string[] = [];
    let parent: string | undefined;
    for (const layer of image.layers) {
      // The chain id names the layer directory: unique per layer stack, shared across images.
      const id = hexOf(layer.chainId);
      const tarPath = `${id}/layer.tar`;
      layerPaths.push(tarPath);
      if (!written.has(id)) {
        written.add(id);
        yield header(`${id}/`, 0, 'Directory');
        yield* smallFile(`${id}/VERSION`, '1.0');
        yield* smallFile(`${id}/json`, JSON.stringify(parent ? { id, parent } : { id }));
        yield* layerTar(tarPath, layer, content);
      }
      parent = id;
    }
    manifest.push({ Config: configName, RepoTags: tags.length ? tags : null, Layers: layerPaths });
    const top = parent;
    for (const t of tags) {
      const [repo, tag] = splitTag(t);
      if (top) (repositories[repo] ??= {})[tag] = top;
    }
  }
  yield* smallFile('manifest.json', JSON.stringify(manifest));
  if (Object.keys(repositories).length) yield* smallFile('repositories', JSON.stringify(repositories));
  yield ZERO;
}

async function* layerTar(path: string, layer: StoredImage['layers'][number], content: ContentStore): AsyncGenerator<Buffer> {
  // The header needs the size up front: the uncompressed size was recorded at load time.
  yield header(path, layer.diffSize, 'File');
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

/** Stream a docker-archive of `entries` into `out` (and end it). */
export async function writeDockerArchive(entries: SaveEntry[], content: ContentStore, out: Writable): Promise<void> {
  await pipeline(Readable.from(archive(entries, content), { objectMode: false }), out);
}
