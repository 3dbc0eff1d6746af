// `tsula cp`, as the docker CLI copies: out of a container (GET /containers/{id}/archive, a
// tar of the path, unpacked here: into DEST when it is a directory, else as DEST), into one
// (a tar made here, PUT into the directory that gets it, the top entry renamed when DEST
// names a new file or directory), or a tar as it is with `-` on either side.
import { promises as fs, lchownSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CommandSpec, Parsed } from '../args.js';
import { ApiError, seg } from '../client.js';
import { StatusError, type Cli } from '../context.js';

export const spec: CommandSpec = {
  name: 'cp', usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\ttsula cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  desc: 'Copy files/folders between a container and the local filesystem', minArgs: 2, maxArgs: 2,
  flags: [
    { long: 'archive', short: 'a', kind: 'bool', desc: 'Archive mode (copy all uid/gid information)' },
    { long: 'follow-link', short: 'L', kind: 'bool', desc: 'Always follow symbol link in SRC_PATH' },
  ],
};

/** docker's splitCpArg: CONTAINER:PATH, unless the argument is a local path (/..., ./...). */
function splitArg(arg: string): { container?: string; path: string } {
  if (path.isAbsolute(arg) || arg.startsWith('.')) return { path: arg };
  const i = arg.indexOf(':');
  return i <= 0 ? { path: arg } : { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** dockerd's X-Docker-Container-Path-Stat: base64 JSON with Go's FileMode bits. */
interface PathStat { name: string; size: number; mode: number; linkTarget: string }
const GO_DIR = 2 ** 31;
const isDir = (s: PathStat) => Math.floor(s.mode / GO_DIR) % 2 === 1;

function pathStat(header: string | undefined): PathStat {
  try {
    return JSON.parse(Buffer.from(header ?? '', 'base64').toString('utf8')) as PathStat;
  } catch {
    throw new Error('the daemon sent no valid X-Docker-Container-Path-Stat header');
  }
}

/** docker's words for a 404 of the archive endpoint: the container or its path is missing. */
async function archive<T>(container: string, p: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) throw new StatusError(1, `Error: No such container:path: ${container}:${p}`);
    throw e;
  }
}

/**
 * The container path's stat, or null when it can't be had: as docker's copyToContainer, a
 * failed stat counts as nothing there (the upload then says what is wrong, e.g. "extraction
 * point is not a directory"); a missing container is the error it is.
 */
async function containerStat(cli: Cli, container: string, p: string): Promise<PathStat | null> {
  try {
    const res = await cli.client.request({ method: 'HEAD', path: `/containers/${seg(container)}/archive`, query: { path: p } });
    res.resume();
    return pathStat(res.headers['x-docker-container-path-stat']);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.status === 404 && /no such container/i.test(e.daemonMessage)) throw new StatusError(1, `Error: No such container:path: ${container}:${p}`);
    return null;
  }
}

const GO_SYMLINK = 2 ** 27;
const isSymlink = (s: PathStat) => Math.floor(s.mode / GO_SYMLINK) % 2 === 1;

/** archive.SplitPathDirEntry: a path ending in "." keeps it as its entry ("dir/." is dir's content). */
function splitDirEntry(p: string, posix = false): { dir: string; base: string } {
  const m = posix ? path.posix : path;
  const clean = m.normalize(p).replace(/(.)\/+$/, '$1');
  const full = m.basename(p) === '.' && m.basename(clean) !== '.' ? `${clean}/.` : clean;
  return { dir: m.dirname(full), base: m.basename(full) };
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const src = splitArg(p.args[0]!);
  const dst = splitArg(p.args[1]!);
  if (src.container && dst.container) throw new StatusError(1, 'copying between containers is not supported');
  if (!src.container && !dst.container) throw new StatusError(1, 'must specify at least one container source');
  if (src.container) await copyOut(cli, src.container, src.path, dst.path, p.bool('follow-link'));
  else await copyIn(cli, src.path, dst.container!, dst.path, p);
  return 0;
}

async function copyOut(cli: Cli, container: string, srcPath: string, dest: string, follow: boolean): Promise<void> {
  const get = (from: string) => archive(container, from, () => cli.client.request({ method: 'GET', path: `/containers/${seg(container)}/archive`, query: { path: from } }));
  let res = await get(srcPath);
  let st = pathStat(res.headers['x-docker-container-path-stat']);
  const name = st.name; // what the copy is called: with -L, the link's name for its target's content
  if (follow && st.linkTarget) {
    res.destroy();
    // a relative target is relative to the link's directory (docker cp -L)
    res = await get(path.posix.isAbsolute(st.linkTarget) ? st.linkTarget : path.posix.join(path.posix.dirname(srcPath), st.linkTarget));
    st = pathStat(res.headers['x-docker-container-path-stat']);
  }
  if (dest === '-') {
    await pipeline(res, cli.out, { end: false });
    return;
  }
  const tar = await import('tar');
  const keepOwners = process.getuid?.() === 0;
  const target = await fs.stat(dest).catch(() => null);
  if (target?.isDirectory() && st.name === name) {
    await pipeline(res, tar.x(untarOptions(dest, keepOwners)));
    return;
  }
  res.pause();
  if (target && !target.isDirectory() && isDir(st)) throw new StatusError(1, 'cannot copy directory');
  if (!target && /\/\.?$/.test(dest)) throw new StatusError(1, 'no such directory');
  const final = target?.isDirectory() ? path.join(dest, name) : dest;
  // unpacked beside where it goes, then renamed there: a copy that fails leaves it as it was
  const parent = path.dirname(path.resolve(final));
  const tmp = await fs.mkdtemp(path.join(parent, '.tsula-cp-')).catch((e: NodeJS.ErrnoException) => {
    throw new StatusError(1, e.code === 'ENOENT' ? `invalid output path: directory "${parent}" does not exist` : e.message);
  });
  try {
    await pipeline(res, tar.x(untarOptions(tmp, keepOwners)));
    await fs.rename(path.join(tmp, st.name), final);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * docker's copyToContainer: a symlink at the destination is followed; then archive's
 * PrepareArchiveCopy decides where the tar goes and what its top entry is called: into an
 * existing directory as it is ("SRC/." is SRC's content), else into the destination's parent,
 * the top entry renamed to the destination's name.
 */
async function copyIn(cli: Cli, src: string, container: string, dest: string, p: Parsed): Promise<void> {
  let dstPath = dest;
  let there = await containerStat(cli, container, dest);
  if (there && isSymlink(there) && there.linkTarget) {
    dstPath = path.posix.isAbsolute(there.linkTarget) ? there.linkTarget : path.posix.join(splitDirEntry(dest, true).dir, there.linkTarget);
    there = await containerStat(cli, container, dstPath);
  }
  const dstIsDir = !!there && isDir(there);
  let body: Readable;
  let dir = dstPath;
  if (src === '-') {
    // a tar already: unpacked into the destination, which must be a directory
    if (!dstIsDir) throw new StatusError(1, `destination "${container}:${dest}" must be a directory`);
    body = cli.in;
  } else {
    const follow = p.bool('follow-link');
    // an absolute path that keeps a trailing "/." (or "/") as written
    const abs = path.resolve(src) + (/\/\.$/.test(src) || src === '.' ? '/.' : '');
    const local = await (follow ? fs.stat : fs.lstat)(abs).catch(() => null);
    if (!local) throw new StatusError(1, `lstat ${path.resolve(src)}: no such file or directory`);
    const { base: srcBase } = splitDirEntry(abs);
    let newBase: string | null = null;
    if (!dstIsDir) {
      if (there && local.isDirectory()) throw new StatusError(1, 'cannot copy directory');
      if (!there && !local.isDirectory() && /\/\.?$/.test(dstPath)) throw new StatusError(1, 'no such directory');
      ({ dir, base: newBase } = splitDirEntry(dstPath, true));
    }
    // the engine's own tar writer (node-tar's Pack loses or doubles its end with hard links:
    // "write after end", node-tar#460), the top entry under the name it gets in the container
    // (archive.RebaseArchiveEntries: srcBase becomes newBase, hard links' targets too); -L
    // follows SRC_PATH itself, as docker's, not the symlinks under it
    const { packItems, walkTree } = await import('../../storage/tarpack.js');
    const top = follow ? await fs.realpath(abs) : abs;
    body = Readable.from(packItems(walkTree(top, newBase ?? srcBase)), { objectMode: false });
  }
  const res = await archive(container, dir, () => cli.client.request({
    method: 'PUT', path: `/containers/${seg(container)}/archive`, body, contentType: 'application/x-tar',
    query: { path: dir, noOverwriteDirNonDir: true, copyUIDGID: p.bool('archive') || undefined },
  }));
  res.resume();
}

/**
 * node-tar strips the / off an absolute symlink target (an error, strict), where docker's
 * untar keeps the link as it is (`/d1/f` stays `/d1/f`): symlinks are made here, the rest by
 * node-tar. An entry path that is absolute or climbs out is refused, as node-tar would.
 */
function untarOptions(cwd: string, keepOwners: boolean) {
  return {
    cwd, preserveOwner: keepOwners, strict: true,
    filter: (p: string, e: unknown) => {
      const entry = e as { type?: string; linkpath?: string; uid?: number; gid?: number };
      if (entry.type !== 'SymbolicLink' || entry.linkpath === undefined) return true;
      const rel = path.normalize(p);
      if (path.isAbsolute(rel) || rel.split(path.sep).includes('..')) throw new StatusError(1, `refusing the archive's entry "${p}": it leaves the destination`);
      const at = path.join(cwd, rel);
      mkdirSync(path.dirname(at), { recursive: true });
      rmSync(at, { force: true }); // a file there is replaced, as docker's untar does
      symlinkSync(entry.linkpath, at);
      if (keepOwners) lchownSync(at, entry.uid ?? 0, entry.gid ?? 0);
      return false;
    },
  };
}
