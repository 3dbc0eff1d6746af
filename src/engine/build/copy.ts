// COPY and ADD as dockerd's legacy builder does them (builder/dockerfile/copy.go): sources
// found in the context (or, with --from, in another stage's or image's files), wildcards
// matched as Go's filepath.Match over every path, a directory's contents copied (not the
// directory), a destination ending in "/" or naming a directory getting the source's base
// name, missing parents made, everything owned by root or by --chown's user and group (looked
// up in the image's /etc/passwd and /etc/group), and ADD unpacking local tar archives (their
// owners kept). Files travel as a tar from the packer layers use to the extractor docker cp
// uses, so that nothing is written outside the destination rootfs.
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidArgument, notFound, TsulaError } from '../../common/errors.js';
import { packItems, walkTree } from '../../storage/tarpack.js';
import { unpackLayer } from '../../storage/unpack.js';
import { decompressedByHead, peek } from '../../image/stream-head.js';
import { resolveInRoot } from '../containers/rootfs.js';
import { httpGet } from '../remote-get.js';
import { combinedHash, sourceHash } from './context.js';

export interface CopySource {
  /** The host path of the source (symlinks followed inside its root). */
  abs: string;
  /** The path as matched, relative to the source root (its base name names a copied file). */
  rel: string;
  hash: string;
  /** Downloaded by ADD: copied as it is, never unpacked (dockerd's noDecompress). */
  noDecompress?: boolean;
}

export interface ResolvedCopy { sources: CopySource[]; hash: string }

const hasWildcards = (p: string) => {
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') i++;
    else if (p[i] === '*' || p[i] === '?' || p[i] === '[') return true;
  }
  return false;
};

/** Go's filepath.Match as a regexp: * and ? within one component, [...] classes (^ negates), \ escapes. */
export function goMatch(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalidArgument('syntax error in pattern');
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = `^${cls.slice(1)}`;
      re += `[${cls.replace(/\\/g, '\\\\').replace(/^\^/, '^')}]`;
      i = end;
    } else re += ch.replace(/[.+(){}|$^]/g, (c) => `\\${c}`);
  }
  return new RegExp(`${re}$`);
}

async function walkRel(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, rel: string) => {
    for (const n of (await fs.readdir(d).catch(() => [] as string[])).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      out.push(r);
      const st = await fs.lstat(path.join(d, n)).catch(() => null);
      if (st?.isDirectory()) await walk(path.join(d, n), r);
    }
  };
  await walk(root, '');
  return out;
}

/**
 * The sources of a COPY/ADD in `root` (the context, or another image's files with `image`),
 * with dockerd's errors. `what` is COPY or ADD.
 */
export async function resolveSources(root: string, sources: string[], dest: string, what: string, fromImage: boolean,
  fetch?: (url: string) => Promise<CopySource>): Promise<ResolvedCopy> {
  const out: CopySource[] = [];
  try {
    for (const orig of sources) {
      if (/^https?:\/\//.test(orig)) {
        if (what === 'COPY' || !fetch) throw invalidArgument("source can't be a URL for COPY");
        out.push(await fetch(orig));
        continue;
      }
      const p = orig.replace(/^\/+/, '').replace(/^\.\//, '');
      if (hasWildcards(p)) {
        const re = goMatch(p);
        for (const rel of await walkRel(root)) {
          if (!re.test(rel)) continue;
          const abs = await resolveInRoot(root, rel);
          out.push({ abs, rel, hash: await sourceHash(abs) });
        }
        continue;
      }
      const abs = await resolveInRoot(root, p || '.');
      const st = await fs.stat(abs).catch(() => null);
      if (!st) {
        const why = `stat ${p || '.'}: file does not exist`;
        throw notFound(fromImage ? why : `file not found in build context or excluded by .dockerignore: ${why}`);
      }
      out.push({ abs, rel: p || '.', hash: await sourceHash(abs) });
    }
    if (!out.length) throw invalidArgument('no source files were specified');
  } catch (e) {
    const err = e as Error;
    err.message = `${what} failed: ${err.message}`;
    throw err;
  }
  if (out.length > 1 && !dest.endsWith('/')) throw invalidArgument(`When using ${what} with more than one source file, the destination must be a directory and end with a /`);
  return { sources: out, hash: combinedHash(out.map((s) => s.hash)) };
}

export interface Identity { uid: number; gid: number }

async function lookupId(file: string, name: string, what: 'user' | 'group'): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 3 && /^\d+$/.test(f[2]!)) return Number(f[2]);
  }
  throw invalidArgument(`unable to convert uid/gid chown string to host mapping: can't find ${what === 'user' ? 'uid' : 'gid'} for ${what} ${name}: no such ${what}: ${name}`);
}

/** --chown=user[:group] in the destination image's terms (dockerd's parseChownFlag). */
export async function parseChown(rootfs: string, chown: string): Promise<Identity> {
  const parts = chown.split(':');
  if (parts.length > 2) throw invalidArgument(`unable to convert uid/gid chown string to host mapping: invalid chown string format: ${chown}`);
  const [u, g] = [parts[0]!, parts[1] ?? parts[0]!];
  return {
    uid: await lookupId(await resolveInRoot(rootfs, '/etc/passwd'), u, 'user'),
    gid: await lookupId(await resolveInRoot(rootfs, '/etc/group'), g, 'group'),
  };
}

/** Make `dir` (a container path) and its missing parents in `rootfs`, new ones owned by `id`. */
async function mkdirAll(rootfs: string, dir: string, id: Identity): Promise<string> {
  let cur = '/';
  for (const c of dir.split('/').filter(Boolean)) {
    cur = path.posix.join(cur, c);
    const host = await resolveInRoot(rootfs, cur);
    const st = await fs.stat(host).catch(() => null);
    if (st?.isDirectory()) continue;
    if (st) throw invalidArgument(`mkdir ${cur}: not a directory`);
    // a symlink in the path may lead (inside the rootfs) to directories not there yet: all are
    // made, each new one owned by id (dockerd's MkdirAllAndChownNew after FollowSymlinkInScope)
    const first = await fs.mkdir(host, { recursive: true, mode: 0o755 });
    for (let p = host; first && p.length >= first.length; p = path.dirname(p)) await fs.chown(p, id.uid, id.gid);
  }
  return resolveInRoot(rootfs, dir);
}

/**
 * A local file ADD unpacks: a tar, plain or compressed as DecompressStream reads it (moby's
 * IsArchivePath), told from its first block.
 */
async function archiveStream(abs: string): Promise<Readable | null> {
  const { createReadStream } = await import('node:fs');
  const plain = await decompressedByHead(createReadStream(abs), abs);
  let block: Buffer;
  let rest: Readable;
  try {
    ({ head: block, stream: rest } = await peek(plain, 512));
  } catch (e) {
    plain.destroy();
    // data that does not decompress is no archive (copied as it is, as dockerd does);
    // a decompression tool that is not installed is the host's fault, said as such
    if (e instanceof TsulaError && e.kind === 'Internal') throw e;
    return null;
  }
  const isTar = block.length >= 512 && (block.subarray(257, 262).toString('latin1') === 'ustar' || validChecksum(block.subarray(0, 512)));
  if (!isTar) { rest.destroy(); return null; }
  return rest;
}

function validChecksum(h: Buffer): boolean {
  const stored = parseInt(h.subarray(148, 156).toString('latin1').replace(/\0.*$/, '').trim(), 8);
  if (Number.isNaN(stored)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  return sum === stored;
}

export interface CopyOptions {
  workdir: string;
  /** The owner of what is copied and of the directories made for it. */
  identity: Identity;
  /** The sources' own owners kept (COPY --from an image without --chown); made directories are still `identity`'s. */
  preserveOwners?: boolean;
  /** ADD: local archives are unpacked. */
  decompress: boolean;
}

/** dockerd's normalizeDest: relative to WORKDIR, a trailing "/" kept. */
export function normalizeDest(workdir: string, dest: string): string {
  if (dest.startsWith('/')) return dest;
  const joined = path.posix.join('/', workdir || '/', dest);
  return dest.endsWith('/') && !joined.endsWith('/') ? `${joined}/` : joined;
}

/** Copy the resolved sources to `dest` in the rootfs mounted at `rootfs`. */
export async function copyInto(rootfs: string, sources: CopySource[], dest: string, o: CopyOptions): Promise<void> {
  const target = normalizeDest(o.workdir, dest);
  const owner = o.preserveOwners ? {} : { owner: o.identity };
  for (const src of sources) {
    const st = await fs.stat(src.abs);
    if (st.isDirectory()) {
      const dir = await mkdirAll(rootfs, target, o.identity);
      await unpackLayer(packItems(walkTree(src.abs, '.')), dir, { mode: 'copy', ...owner });
      continue;
    }
    if (o.decompress && !src.noDecompress) {
      const tar = await archiveStream(src.abs);
      if (tar) {
        const dir = await mkdirAll(rootfs, target, o.identity);
        await unpackLayer(tar, dir, { mode: 'copy' });
        continue;
      }
    }
    const destHost = await resolveInRoot(rootfs, target);
    const isDir = (await fs.stat(destHost).catch(() => null))?.isDirectory() ?? false;
    const file = target.endsWith('/') || isDir ? path.posix.join(target, path.posix.basename(src.rel)) : target;
    const parent = await mkdirAll(rootfs, path.posix.dirname(file), o.identity);
    await unpackLayer(packItems([{ abs: src.abs, name: path.posix.basename(file) }]), parent, { mode: 'copy', ...owner });
  }
}

/** dockerd's getFilenameForDownload: the URL path's base name, else Content-Disposition's filename. */
export function filenameForDownload(urlPath: string, disposition: string | undefined): string {
  if (urlPath && !urlPath.endsWith('/')) {
    const base = path.posix.basename(urlPath);
    if (base) return base;
  }
  const m = /(?:^|;)\s*filename\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(disposition ?? '');
  const name = m?.[1] ?? m?.[2] ?? '';
  return name && !name.endsWith('/') ? path.posix.basename(name) : '';
}

/**
 * An ADD source at a URL, downloaded into `dir` as dockerd's copier does it: mode 0600, the
 * mtime from Last-Modified (else the epoch), named as filenameForDownload says (`__unnamed__`
 * when nothing names it and the destination is a file), and never unpacked.
 */
export async function downloadSource(url: string, dir: string, dest: string): Promise<CopySource> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw invalidArgument(`invalid URL ${url}`);
  }
  const res = await httpGet(u);
  let name = filenameForDownload(decodeURIComponent(u.pathname), res.headers['content-disposition']);
  if (!name) {
    if (dest.endsWith('/')) { res.resume(); throw invalidArgument(`cannot determine filename for source ${url}`); }
    name = '__unnamed__';
  }
  const file = path.join(dir, name);
  await pipeline(res, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
  const modified = Date.parse(String(res.headers['last-modified'] ?? ''));
  const t = Number.isNaN(modified) ? 0 : modified / 1000;
  await fs.utimes(file, t, t);
  return { abs: file, rel: name, hash: await sourceHash(file), noDecompress: true };
}
