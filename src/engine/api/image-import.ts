// docker import: POST /images/create?fromSrc=-, whose body is a tarball (plain or gzip) of a
// root filesystem that becomes the one layer of a new image without parent, as dockerd's
// ImportImage makes it: a config from the --change lines, the message as its comment and
// history, the platform asked for or the host's; the answer is {"status": "<image id>"}.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { detectCompression } from '../../image/archive-extract.js';
import { hostPlatform, parsePlatform } from '../../image/registry/manifest.js';
import { isValidTag, parseTagTarget } from '../../image/reference.js';
import type { ImageStore } from '../../image/types.js';
import { invalidArgument, unimplemented } from '../../common/errors.js';
import { applyChanges, type CommitConfig } from '../containers/commit.js';
import type { EventBus } from '../events.js';
import { VERSION } from './system.js';

/** The image's name from repo= and tag= (dockerd: a digest is refused, no tag is latest). */
function importName(repo: string, tag: string): string | undefined {
  if (!repo) return undefined;
  if (repo.includes('@')) throw invalidArgument('cannot import digest reference');
  if (tag && !isValidTag(tag)) throw invalidArgument(`invalid tag format: "${tag}"`);
  const p = parseTagTarget(repo);
  return `${p.name}:${tag || p.tag || 'latest'}`;
}

const BLOCK = 512;

/** The uncompressed tar of the request's body (its first bytes read to tell the format). */
async function layerTar(req: IncomingMessage): Promise<Readable> {
  const it = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < BLOCK && !ended) {
    const r = await it.next();
    if (r.done) ended = true;
    else { parts.push(r.value); have += r.value.length; }
  }
  const head = Buffer.concat(parts);
  if (head.length === 0) throw invalidArgument('docker import: the archive is empty: send a tar archive (plain or gzip) of a root filesystem');
  const compression = detectCompression(head);
  if (compression !== 'gzip' && compression !== 'none') throw invalidArgument(`docker import: ${compression}-compressed archives are not supported: decompress it first, or use gzip`);
  if (compression === 'none' && head.length < BLOCK) throw invalidArgument(`docker import: not a tar archive (${head.length} bytes, less than one tar header)`);
  const body = Readable.from((async function* () {
    yield head;
    if (!ended) yield* { [Symbol.asyncIterator]: () => it };
  })(), { objectMode: false });
  // pipeline, not pipe: an upload cut short must fail the gunzip too, not leave it waiting
  return compression === 'gzip' ? pipeline(body, createGunzip({ chunkSize: 1 << 18 }), () => {}) : body;
}

export async function importImage(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, images: ImageStore, events: EventBus): Promise<void> {
  try {
    const src = query.get('fromSrc')!;
    if (src !== '-') throw unimplemented(`importing from a URL (${src}) is not supported by tsulad: download it, then import the file (docker import FILE)`);
    const name = importName(query.get('repo') ?? '', query.get('tag') ?? '');
    const config: CommitConfig = {};
    applyChanges(config, query.getAll('changes').flatMap((x) => x.split('\n')));
    const platform = query.get('platform') ? parsePlatform(query.get('platform')!) : hostPlatform();
    const id = await images.import(await layerTar(req), {
      config, comment: query.get('message') || `Imported from ${src}`,
      architecture: platform.architecture, os: platform.os, variant: platform.variant, engineVersion: VERSION,
    }, name);
    events.emit('image', 'import', id, { name: id });
    if (name) events.emit('image', 'tag', id, { name });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(`${JSON.stringify({ status: id })}\r\n`);
  } catch (e) {
    req.resume(); // what is left of the upload: dropped, so the error can be read
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw invalidArgument(`docker import: the gzip data is corrupt or cut short (${(e as Error).message})`);
    throw e;
  }
}
