// Layer blobs: media types, diff-id verification (decompressed by decompress.ts) and chain ids.
import { createHash, sha256Hex } from '../common/crypto.js';
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { errorMessage, invalidArgument, TsulaError } from '../common/errors.js';
import { decompressByContent } from './decompress.js';
import { detectCompression, type Compression } from './stream-head.js';

/** How a stored layer blob is compressed (xz and bzip2 only come in docker-archives). */
export type LayerCompression = Compression;

export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

/** Compression named by a layer media type; undefined if it is not a layer type we know. */
export function compressionOfMediaType(mediaType: string): LayerCompression | undefined {
  // The non-distributable OCI variants carry the same payloads under another name.
  const mt = mediaType.replace('.nondistributable', '');
  if (mt === MEDIA_TYPES.ociLayer || mt === MEDIA_TYPES.dockerLayer) return 'none';
  if (mt === MEDIA_TYPES.ociLayerGzip || mt === MEDIA_TYPES.dockerLayerGzip || mt === MEDIA_TYPES.dockerForeignGzip) return 'gzip';
  if (mt === MEDIA_TYPES.ociLayerZstd) return 'zstd';
  return undefined;
}

/**
 * Compression by magic bytes (docker-archives do not name it): any dockerd's loader reads,
 * as it runs each layer.tar through DecompressStream.
 */
export function compressionOfBytes(head: Uint8Array): LayerCompression {
  return detectCompression(head);
}

/** OCI chain ids: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${sha256Hex(`${prev} ${d}`)}`);
  }
  return out;
}

export interface VerifiedLayer {
  /** The uncompressed tar, to hand to the snapshot driver (or to drain). */
  stream: Readable;
  /** Settles once the whole stream was read: the diff id and the uncompressed size. */
  done: Promise<{ diffId: string; diffSize: number }>;
  /** Whether the stream was read to its end (and so `done` has settled). */
  finished(): boolean;
  /** Why the blob could not be read or verified (bad gzip, digest mismatch), if it could not. */
  readError(): unknown;
}

/**
 * Open a stored or extracted layer blob as its uncompressed tar. The stream fails at its
 * end if the bytes do not hash to `expectedDiffId`, so a consumer that unpacks atomically
 * discards the layer instead of committing it.
 */
export function openLayer(
  file: string, compression: LayerCompression, expectedDiffId: string | undefined, label: string,
  onRead?: (bytes: number) => void,
): VerifiedLayer {
  const raw = createReadStream(file);
  let source: Readable = raw;
  if (onRead) {
    // Counted in a stage of its own: a 'data' listener next to the reader below would put
    // the file stream in flowing mode and race it for chunks.
    const counter = new Transform({ transform(chunk: Buffer, _enc, cb) { onRead(chunk.length); cb(null, chunk); } });
    raw.on('error', (e) => counter.destroy(e));
    source = raw.pipe(counter);
  }
  const plain = decompressByContent(source, compression, label);
  let finished = false;
  let settle!: { resolve: (v: { diffId: string; diffSize: number }) => void; reject: (e: unknown) => void };
  const done = new Promise<{ diffId: string; diffSize: number }>((resolve, reject) => { settle = { resolve, reject }; });
  done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  let readError: unknown;
  const fail = (err: unknown): never => {
    readError = err;
    settle.reject(err);
    throw err;
  };
  async function* verify(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256');
    let size = 0;
    const it = plain[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    let ended = false;
    try {
      for (;;) {
        let r: IteratorResult<Buffer>;
        // Only a failure to READ the blob is ours to describe. An error thrown in at the
        // yield below is the consumer giving up (a tar entry it refused, its stream being
        // destroyed: Node then throws an AbortError in): it must pass through unchanged,
        // or "The operation was aborted" would hide the consumer's real reason.
        try {
          r = await it.next();
        } catch (e) {
          ended = true;
          // a decompression tool's failure names the layer already (and a missing tool is no bad input)
          return fail(e instanceof TsulaError && errorMessage(e).includes(label) ? e : invalidArgument(`${label}: cannot read layer: ${errorMessage(e)}`, e));
        }
        if (r.done) { ended = true; break; }
        hash.update(r.value);
        size += r.value.length;
        yield r.value;
      }
    } finally {
      if (!ended) await it.return?.(); // stop reading the file: nobody wants the rest
    }
    const diffId = `sha256:${hash.digest('hex')}`;
    finished = true;
    if (expectedDiffId !== undefined && diffId !== expectedDiffId) {
      fail(invalidArgument(`digest mismatch for ${label}: expected ${expectedDiffId}, got ${diffId}`));
    }
    settle.resolve({ diffId, diffSize: size });
  }
  const stream = Readable.from(verify(), { objectMode: false });
  stream.on('close', () => {
    if (finished) return;
    raw.destroy();
    source.destroy();
    settle.reject(invalidArgument(`${label}: the layer was not read to its end`));
  });
  return { stream, done, finished: () => finished, readError: () => readError };
}

/** Read a layer to its end without keeping it, returning its diff id (throws on mismatch). */
export async function drainLayer(layer: VerifiedLayer): Promise<{ diffId: string; diffSize: number }> {
  for await (const _ of layer.stream) { /* hashing happens in the generator */ }
  return layer.done;
}
