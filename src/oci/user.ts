// Resolves a container's `User` ("", "name", "uid", "name:group", "uid:gid") against the
// image's own /etc/passwd and /etc/group, with runc's GetExecUser semantics (what Docker
// uses). The files are looked up INSIDE the rootfs: symlinks are followed component by
// component with the rootfs as "/", so a hostile image cannot make the engine read host files.
import { promises as fs, constants } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../common/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

const MAX_ID = 2 ** 31 - 1;
const MAX_SYMLINKS = 255;
const MAX_FILE = 16 * 1024 * 1024; // a passwd file bigger than this is an attack, not a config

/**
 * Joins `unsafePath` onto `root` as if root were "/", resolving symlinks inside root
 * (like github.com/cyphar/filepath-securejoin). Missing components are kept lexically.
 */
export async function secureJoin(root: string, unsafePath: string): Promise<string> {
  let pending = unsafePath.split('/').filter((p) => p !== '' && p !== '.');
  let current = ''; // clean path relative to root, no symlinks in it
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      current = path.posix.dirname('/' + current).slice(1); // never climbs above root
      continue;
    }
    if (part === '.') continue;
    const next = current ? `${current}/${part}` : part;
    let st;
    try {
      st = await fs.lstat(path.join(root, next));
    } catch {
      current = next; // missing (or not a directory): nothing to follow
      continue;
    }
    if (!st.isSymbolicLink()) {
      current = next;
      continue;
    }
    if (++links > MAX_SYMLINKS) throw invalidArgument(`too many symlinks resolving ${unsafePath} in the rootfs`);
    const target = await fs.readlink(path.join(root, next));
    if (target.startsWith('/')) current = ''; // absolute targets are relative to the rootfs
    pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
  }
  return path.join(root, current);
}

/**
 * Reads a regular file inside the rootfs; null when it is missing. O_NOFOLLOW guards the
 * last component against a swap to a symlink; O_NONBLOCK keeps a FIFO from hanging us.
 */
async function readRootfsFile(rootfs: string, file: string): Promise<string | null> {
  const p = await secureJoin(rootfs, file);
  let fh;
  try {
    fh = await fs.open(p, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return null;
    throw e;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return null;
    if (st.size > MAX_FILE) throw invalidArgument(`${file} in the image is too large (${st.size} bytes)`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

interface PasswdEntry { name: string; uid: number; gid: number }
interface GroupEntry { name: string; gid: number; members: string[] }

const num = (s: string | undefined): number | null => (s !== undefined && /^\d+$/.test(s) ? Number(s) : null);

function lines(text: string): string[][] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = num(f[2]);
    const gid = num(f[3]);
    // Malformed (or NIS "+") lines are skipped: runc would read them as uid 0.
    if (f[0] && uid !== null && gid !== null) out.push({ name: f[0], uid, gid });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = num(f[2]);
    if (f[0] && gid !== null) {
      out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
    }
  }
  return out;
}

/** A numeric --user or group: libcontainer's ErrRange outside 0-2147483647, a negative one too. */
function checkRange(id: number): number {
  if (id < 0 || id > MAX_ID) throw invalidArgument(`uids and gids must be in range 0-${MAX_ID}`);
  return id;
}

/** strconv.Atoi's idea of a number (a sign allowed): such a user or group is an id, never a name. */
const signedNum = (s: string): number | null => (/^[-+]?\d+$/.test(s) ? Number(s) : null);

/**
 * `groupAdd` is Docker's --group-add (names or gids), appended after the user's
 * supplementary groups.
 */
export async function resolveUser(rootfs: string, user: string | undefined, groupAdd: string[] = []): Promise<ResolvedUser> {
  const spec = user ?? '';
  const colon = spec.indexOf(':');
  const userArg = colon >= 0 ? spec.slice(0, colon) : spec;
  const groupArg = colon >= 0 ? spec.slice(colon + 1).split(':')[0]! : '';
  const uidArg = signedNum(userArg);
  const gidArg = signedNum(groupArg);

  const passwdText = await readRootfsFile(rootfs, '/etc/passwd');
  const groupText = await readRootfsFile(rootfs, '/etc/group');
  const passwd = passwdText === null ? [] : parsePasswd(passwdText);
  const groups = groupText === null ? [] : parseGroup(groupText);

  let uid = 0;
  let gid = 0;
  let matchedName = '';
  // First match wins, as in runc. An empty user means "the entry for uid 0".
  const match = passwd.find((u) => (userArg === '' ? u.uid === 0 : uidArg !== null ? u.uid === uidArg : u.name === userArg));
  if (match) {
    matchedName = match.name;
    uid = match.uid;
    gid = match.gid;
  } else if (userArg !== '') {
    if (uidArg === null) throw invalidArgument(`unable to find user ${userArg}: no matching entries in passwd file`);
    uid = checkRange(uidArg);
  }

  let additionalGids: number[] = [];
  if (groupArg !== '') {
    const g = groups.find((e) => (gidArg !== null ? e.gid === gidArg : e.name === groupArg));
    if (g) gid = g.gid;
    else if (gidArg === null) throw invalidArgument(`unable to find group ${groupArg}: no matching entries in group file`);
    else gid = checkRange(gidArg);
  } else if (matchedName !== '') {
    // Supplementary groups only in the implicit form, as runc does.
    additionalGids = groups.filter((e) => e.members.includes(matchedName)).map((e) => e.gid);
  }

  for (const ga of groupAdd) {
    const n = num(ga);
    const g = n !== null ? n : groups.find((e) => e.name === ga)?.gid;
    if (g === undefined) throw invalidArgument(`unable to find group ${ga}: no matching entries in group file`);
    additionalGids.push(checkRange(g));
  }
  return { uid, gid, additionalGids: [...new Set(additionalGids)] };
}
