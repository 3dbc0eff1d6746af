// One live server per unix socket path. A daemon that finds a socket file at its path asks
// it first: a live server there makes it refuse to start (naming the other process), a stale
// file (nobody listening) is replaced. Probe and replace run under a lock held for the
// server's whole life, and the socket is bound under a private name and renamed into place,
// because libuv unlinks a server's bind path when the server closes: bound directly, a
// daemon would, on exit, delete whatever socket then sits at its path, even another's.
import * as net from 'node:net';
import { sha256Hex } from './crypto.js';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { alreadyExists, failedPrecondition, errorMessage, internal } from './errors.js';

/** sun_path is 108 bytes with its NUL: longer paths can't be bound at all. */
const SUN_PATH_MAX = 107;

export interface ExclusiveSocket {
  readonly path: string;
  /** Once the server is closed: remove the socket file if it is still the one we bound. */
  release(): Promise<void>;
}

/** A socket path no other live server answers on, held until released or until we exit. */
export interface SocketClaim extends ExclusiveSocket {
  /** Bind `server` there (once). */
  listen(server: net.Server, o: ListenOptions): Promise<void>;
}

export interface ListenOptions {
  /** Permission bits of the socket file (0600 owner-only, 0660 with a group). */
  mode: number;
  /** More set-up of the bound socket file before it is published at its path (a chown). */
  prepare?: (boundPath: string) => Promise<void>;
}

/**
 * Claim `socketPath` before binding it, so a daemon can refuse to start before it touches
 * anything: throws AlreadyExists naming the other process if a live server answers there.
 */
export async function claimSocket(socketPath: string): Promise<SocketClaim> {
  const abs = path.resolve(socketPath);
  // a daemon like us holds the lock; anything else serving there (an older tsulad, another
  // program) answers the probe, and /proc/net/unix names it by the path it bound
  const lock = await takeLock(`sock:${await canonical(abs)}`);
  if ('heldBy' in lock) throw inUse(abs, lock.heldBy);
  try {
    if (await probe(abs) === 'live') throw inUse(abs, await listenerPid(abs));
  } catch (e) {
    lock.release();
    throw e;
  }
  // what we published there: a file that took its place may reuse its inode number, not its ctime
  let bound: { dev: number; ino: number; ctimeMs: number } | null = null;
  return {
    path: abs,
    async listen(server, o) {
      if (bound) throw internal(`unix://${abs} is already bound`);
      // probed again: under our lock only a program that takes no lock can have come since
      const state = await probe(abs);
      if (state === 'live') throw inUse(abs, await listenerPid(abs));
      const tmp = privateName(abs);
      try {
        if (tmp) await fs.rm(tmp, { force: true });
        else if (state === 'stale') await fs.rm(abs, { force: true }); // too long a path for a private name
        await bind(server, tmp ?? abs);
        await fs.chmod(tmp ?? abs, o.mode);
        await o.prepare?.(tmp ?? abs);
        if (tmp) await fs.rename(tmp, abs); // atomically replaces a stale socket: never a moment without one
        const st = await fs.lstat(abs);
        bound = { dev: st.dev, ino: st.ino, ctimeMs: st.ctimeMs };
      } catch (e) {
        if (server.listening) server.close();
        if (tmp) await fs.rm(tmp, { force: true }).catch(() => {});
        throw e;
      }
    },
    async release() {
      try {
        const now = bound && await fs.lstat(abs).catch(() => null);
        if (now?.isSocket() && bound && now.dev === bound.dev && now.ino === bound.ino && now.ctimeMs === bound.ctimeMs) await fs.rm(abs, { force: true });
      } finally {
        bound = null;
        lock.release();
      }
    },
  };
}

/**
 * Listen on `socketPath` unless another live server answers there. The socket appears at its
 * path already with its mode and owner (it is renamed into place), so no client ever sees it
 * with the wrong permissions.
 */
export async function listenExclusive(server: net.Server, socketPath: string, o: ListenOptions): Promise<ExclusiveSocket> {
  const claim = await claimSocket(socketPath);
  try {
    await claim.listen(server, o);
  } catch (e) {
    await claim.release();
    throw e;
  }
  return claim;
}

type SocketState = 'absent' | 'stale' | 'live';

/** What is at `p`: nothing, a socket nobody listens on, or a live server. */
export async function probe(p: string, timeoutMs = 2000): Promise<SocketState> {
  const st = await fs.lstat(p).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (!st) return 'absent';
  if (!st.isSocket()) throw failedPrecondition(`${p} exists and is not a socket: remove it or choose another path`);
  return new Promise((resolve, reject) => {
    const c = net.connect(p);
    let settled = false;
    const done = (s: SocketState | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(t);
      c.destroy();
      if (s instanceof Error) reject(s); else resolve(s);
    };
    // a server too busy to accept in time is alive all the same
    const t = setTimeout(() => done('live'), timeoutMs);
    c.once('connect', () => done('live'));
    c.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED') done('stale');
      else if (e.code === 'ENOENT') done('absent');
      else if (e.code === 'EAGAIN') done('live'); // its backlog is full
      else done(internal(`cannot probe socket ${p}: ${e.message}`, e));
    });
  });
}

export interface Lock { release(): void }

/**
 * A lock named `key`, held until released or until this process dies (even by SIGKILL):
 * an abstract unix socket, which the kernel frees with its last holder and which two
 * processes can never both bind. Abstract names belong to a network namespace: daemons in
 * two namespaces sharing one filesystem still meet the socket probe above.
 */
export async function takeLock(key: string): Promise<Lock | { heldBy: number | null }> {
  const name = lockName(key);
  const server = net.createServer((s) => s.destroy());
  try {
    await bind(server, name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') return { heldBy: await listenerPid(name) };
    throw internal(`cannot take lock ${key}: ${errorMessage(e)}`, e);
  }
  server.unref(); // a lock must not keep the process alive
  let held = true;
  return { release: () => { if (held) { held = false; server.close(); } } };
}

/**
 * A plain key (a path) is the name itself: hashing it would load node:crypto into every
 * daemon at start-up (~2 MB). Keys too long for sun_path, or with characters that
 * /proc/net/unix (listenerPid) can't show plainly, are hashed.
 */
export function lockName(key: string): string {
  const plain = `\0tsula-lock:${key}`;
  if (/^[\w:./+-]+$/.test(key) && Buffer.byteLength(plain) <= SUN_PATH_MAX) return plain;
  return `\0tsula-lock-sha256:${sha256Hex(key).slice(0, 40)}`;
}

function bind(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    // the bind happens synchronously inside listen(): the umask covers exactly it (the mode
    // is set before the socket is renamed into place; this only closes the gap before that)
    let old: number | null = null;
    try { old = process.umask(0o177); } catch { /* worker threads can't */ }
    try {
      server.listen(p, () => { server.off('error', onError); resolve(); });
    } finally {
      if (old !== null) process.umask(old);
    }
  });
}

/** The same socket reached through a symlinked directory is the same lock. */
async function canonical(abs: string): Promise<string> {
  const dir = await fs.realpath(path.dirname(abs)).catch(() => path.dirname(abs));
  return path.join(dir, path.basename(abs));
}

/** A bind path beside `abs` (rename needs the same filesystem), or null if too long. */
function privateName(abs: string): string | null {
  const p = path.join(path.dirname(abs), `.${path.basename(abs)}.${process.pid}`);
  return Buffer.byteLength(p) <= SUN_PATH_MAX ? p : null;
}

function inUse(abs: string, pid: number | null): Error {
  return alreadyExists(`another ${pid ? describe(pid) : 'process'} is serving unix://${abs} (${pid ? `pid ${pid}` : 'pid unknown'})`);
}

/** "tsulad" / "tsula-sandboxer" for ours, else the program's name. */
function describe(pid: number): string {
  let argv: string[] = [];
  try {
    // synchronous: only read on the way to an error
    argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch { /* gone */ }
  for (const ours of ['tsulad', 'tsula-sandboxer']) {
    if (argv.some((a) => new RegExp(`(^|/)${ours}(\\.mjs)?$`).test(a))) return ours;
  }
  // for node, the script it runs (not its flags)
  const prog = argv[0] && /(^|\/)node$/.test(argv[0]) ? argv.find((a, i) => i > 0 && !a.startsWith('-')) ?? argv[0] : argv[0];
  return prog ? `process (${path.basename(prog)})` : 'process';
}

// ---- who listens where: /proc/net/unix, then the process holding that inode ------------

export interface UnixSocketEntry { inode: number; listening: boolean; path: string }

/** /proc/net/unix, parsed: abstract names start with "@" there. */
export function parseProcNetUnix(text: string): UnixSocketEntry[] {
  const out: UnixSocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const flags = Number.parseInt(f[3], 16);
    // __SO_ACCEPTCON (0x10000): a listening socket
    out.push({ inode: Number(f[6]), listening: (flags & 0x10000) !== 0, path: f.slice(7).join(' ') });
  }
  return out;
}

/** The pid of the process listening on socket path (or abstract name) `p`, if it can be found. */
export async function listenerPid(p: string): Promise<number | null> {
  const abstract = p.startsWith('\0');
  const want = abstract ? '@' + p.slice(1) : p;
  const table = await fs.readFile('/proc/net/unix', 'utf8').catch(() => '');
  // node binds an abstract name with the whole sun_path, NUL-padded: shown as trailing "@"s
  const named = (e: UnixSocketEntry) => (abstract ? e.path.replace(/@+$/, '') : e.path) === want;
  const inodes = new Set(parseProcNetUnix(table).filter((e) => e.listening && named(e)).map((e) => `socket:[${e.inode}]`));
  if (!inodes.size) return null;
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const fds = await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (inodes.has(link)) return Number(pid);
    }
  }
  return null;
}
