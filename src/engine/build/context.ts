// The build context: the request's tar (plain, gzip, bzip2, xz or zstd) unpacked into a work
// directory with the extractor layers use (nothing escapes it), the Dockerfile read from it
// (dockerd's "Cannot locate specified Dockerfile", its lowercase `dockerfile` fallback),
// and .dockerignore applied. The docker CLI already leaves ignored files out of the tar (it
// sends the Dockerfile and .dockerignore regardless); dockerd then drops those two when
// they are ignored. Applying the patterns to the whole context does both, and also serves
// clients that send everything. Sources are checksummed here for the cache (COPY/ADD).
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { createHash } from '../../common/crypto.js';
import { invalidArgument } from '../../common/errors.js';
import { decompressedByHead } from '../../image/stream-head.js';
import { unpackLayer } from '../../storage/unpack.js';
import { resolveInRoot } from '../containers/rootfs.js';
import { PatternMatcher, readDockerignore } from './dockerignore.js';

/** Unpack the context tar into `dir` (which exists). */
export async function extractContext(body: Readable, dir: string): Promise<void> {
  await unpackLayer(await decompressedByHead(body, 'the build context'), dir, { mode: 'copy' });
}

export interface Dockerfile { name: string; text: string }

/** The Dockerfile at `name` in the context, as dockerd finds it. */
export async function readDockerfile(dir: string, name: string): Promise<Dockerfile> {
  const rel = name.replace(/^\/+/, '');
  const open = async (n: string) => fs.readFile(await resolveInRoot(dir, n), 'utf8');
  let text: string;
  let used = name;
  try {
    text = await open(rel);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' && (e as NodeJS.ErrnoException).code !== 'ENOTDIR') throw e;
    // the default name also answers to its lower case
    try {
      if (name !== 'Dockerfile') throw e;
      text = await open('dockerfile');
      used = 'dockerfile';
    } catch {
      throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
    }
  }
  if (text === '') throw invalidArgument(`the Dockerfile (${used}) cannot be empty`);
  return { name: used, text };
}

/** Remove what .dockerignore excludes (a directory stays while something below it is kept). */
export async function applyDockerignore(dir: string): Promise<void> {
  const text = await fs.readFile(path.join(dir, '.dockerignore'), 'utf8').catch(() => null);
  if (text === null) return;
  const pm = new PatternMatcher(readDockerignore(text));
  if (pm.empty) return;
  const walk = async (rel: string): Promise<boolean> => {
    const abs = path.join(dir, rel);
    const st = await fs.lstat(abs);
    const excluded = rel !== '' && pm.matches(rel);
    if (st.isDirectory()) {
      // without exceptions nothing below an excluded directory can come back
      if (excluded && !pm.hasExclusions) { await fs.rm(abs, { recursive: true, force: true }); return false; }
      let kept = false;
      for (const n of await fs.readdir(abs)) if (await walk(rel ? `${rel}/${n}` : n)) kept = true;
      if (excluded && !kept) { await fs.rm(abs, { recursive: true, force: true }); return false; }
      return true;
    }
    if (excluded) { await fs.rm(abs, { force: true }); return false; }
    return true;
  };
  await walk('');
}

/** Checksum of one file as COPY's cache sees it: type, mode, link target and content (not times). */
async function fileSum(abs: string): Promise<string> {
  const st = await fs.lstat(abs);
  const h = createHash('sha256');
  h.update(JSON.stringify({ mode: st.mode, uid: st.uid, gid: st.gid, size: st.isFile() ? st.size : 0 }));
  if (st.isSymbolicLink()) h.update(`link:${await fs.readlink(abs)}`);
  else if (st.isFile()) for await (const c of createReadStream(abs)) h.update(c as Buffer);
  return h.digest('hex');
}

/**
 * dockerd's source hash: "file:<sum>" for a file, "dir:<sum of the sums below>" for a
 * directory (each entry's path and sum, in order).
 */
export async function sourceHash(abs: string): Promise<string> {
  const st = await fs.stat(abs);
  if (!st.isDirectory()) return `file:${await fileSum(abs)}`;
  const parts: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const n of (await fs.readdir(d)).sort()) {
      const p = path.join(d, n);
      const r = rel ? `${rel}/${n}` : n;
      const s = await fs.lstat(p);
      parts.push(`${r}:${s.isDirectory() ? `dir:${s.mode}:${s.uid}:${s.gid}` : await fileSum(p)}`);
      if (s.isDirectory()) await walk(p, r);
    }
  };
  await walk(abs, '');
  return `dir:${createHash('sha256').update(parts.join(',')).digest('hex')}`;
}

/** Several sources' hashes as one ("multi:"), one source's as it is. */
export function combinedHash(hashes: string[]): string {
  if (hashes.length === 1) return hashes[0]!;
  return `multi:${createHash('sha256').update(hashes.join(',')).digest('hex')}`;
}
