// docker import: POST /images/create?fromSrc=- (the request's body) or fromSrc=URL (fetched
// here), a tarball (plain, gzip, bzip2, xz or zstd) of a root filesystem that becomes the one
// layer of a new image without parent, as dockerd's ImportImage makes it: a config from the
// --change lines, the message as its comment and history, the platform asked for or the
// host's; the answer is a JSON stream whose last line is {"status": "<image id>"}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough, Readable } from 'node:stream';
import { detectCompression, peek } from '../../image/stream-head.js';
import { decompress } from '../../image/decompress.js';
import { hostPlatform, parsePlatform } from '../../image/registry/manifest.js';
import { isValidTag, parseTagTarget } from '../../image/reference.js';
import type { ImageStore } from '../../image/types.js';
import { errorMessage, invalidArgument } from '../../common/errors.js';
import { applyChanges, type CommitConfig } from '../containers/commit.js';
import type { EventBus } from '../events.js';
import { logImageEvent } from '../image-events.js';
import { VERSION } from './version.js';
import { httpGet } from '../remote-get.js';

/** The image's name from repo= and tag= (dockerd: a digest is refused, no tag is latest). */
function importName(repo: string, tag: string): string | undefined {
  if (!repo) return undefined;
  if (repo.includes('@')) throw invalidArgument('cannot import digest reference');
  if (tag && !isValidTag(tag)) throw invalidArgument(`invalid tag format: "${tag}"`);
  const p = parseTagTarget(repo);
  return `${p.name}:${tag || p.tag || 'latest'}`;
}

const BLOCK = 512;

/** The uncompressed tar of an upload or a download (its first bytes read to tell the format). */
async function layerTar(src: Readable): Promise<Readable> {
  const { head, stream } = await peek(src, BLOCK);
  // nothing at all: dockerd's DecompressStream takes it as an archive with no entries, and
  // the image has one empty layer (moby#18170)
  if (head.length === 0) return Readable.from([Buffer.alloc(BLOCK * 2)]);
  const compression = detectCompression(head);
  if (compression === 'none' && head.length < BLOCK) throw invalidArgument(`docker import: not a tar archive (${head.length} bytes, less than one tar header)`);
  // every format dockerd's DecompressStream reads; the source's errors reach the
  // decompressor and its own wait for the reader (decompress)
  return decompress(stream, compression, 'docker import');
}

/** dockerd's source URL: http:// when no scheme is given; http and https only. */
function sourceUrl(src: string): URL {
  const withScheme = src.includes('://') ? src : `http://${src}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidArgument(`docker import: invalid source URL "${src}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalidArgument(`docker import: unsupported URL scheme "${url.protocol}" (http and https only)`);
  return url;
}

export async function importImage(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, images: ImageStore, events: EventBus): Promise<void> {
  // once a line went out, an error goes in the stream (dockerd: after "Downloading from")
  let started = false;
  const line = (obj: unknown) => {
    if (!started) res.writeHead(200, { 'Content-Type': 'application/json' });
    started = true;
    res.write(`${JSON.stringify(obj)}\r\n`);
  };
  try {
    let src = query.get('fromSrc')!;
    const name = importName(query.get('repo') ?? '', query.get('tag') ?? '');
    const config: CommitConfig = {};
    applyChanges(config, query.getAll('changes').flatMap((x) => x.split('\n')));
    const platform = query.get('platform') ? parsePlatform(query.get('platform')!) : hostPlatform();
    // dockerd's ImportImage: image.CheckOS
    if (platform.os !== 'linux') throw invalidArgument('operating system is not supported');
    // through a stream of its own: a decompressor that fails destroys what feeds it, and the
    // request must live on until its upload is in (the error is answered then, not a reset)
    let body: Readable = req.pipe(new PassThrough());
    if (src !== '-') {
      req.resume();
      const url = sourceUrl(src);
      src = url.href;
      body = await httpGet(url);
      line({ status: `Downloading from ${url.href}` });
    }
    const id = await images.import(await layerTar(body), {
      config, comment: query.get('message') || `Imported from ${src}`,
      architecture: platform.architecture, os: platform.os, variant: platform.variant, engineVersion: VERSION,
    }, name);
    await logImageEvent(events, images, 'import', id, id);
    if (name) await logImageEvent(events, images, 'tag', id, name);
    line({ status: id });
    res.end();
  } catch (e) {
    req.resume(); // what is left of the upload: dropped, so the error can be read
    const code = (e as NodeJS.ErrnoException).code;
    const err = typeof code === 'string' && code.startsWith('Z_') ? invalidArgument(`docker import: the gzip data is corrupt or cut short (${(e as Error).message})`) : e;
    if (!started) throw err;
    line({ errorDetail: { message: errorMessage(err) }, error: errorMessage(err) });
    res.end();
  }
}
