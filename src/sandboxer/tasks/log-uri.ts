// containerd's log URIs as a process' stdout and stderr, in place of FIFOs (`ctr run
// --log-uri`, nerdctl's detached containers), as containerd-shim-runc-v2's process/io.go
// serves them:
// - file://<path>: both streams appended to the file (its dir made, the file made 0644);
// - binary://<path>?k=v: a logging binary run with the query as its arguments (k v ...),
//   CONTAINER_ID and CONTAINER_NAMESPACE as its whole environment, stdout and stderr on its
//   fds 3 and 4 and a ready pipe on fd 5 (it is ready when it writes or closes fd 5); at the
//   end it gets EOF on both, then SIGTERM, and SIGKILL 12 s later.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as net from 'node:net';
import type { Writable } from 'node:stream';
import { invalidArgument, unavailable } from '../../common/errors.js';

/** Whose output it is: the container's id (an exec's: the exec id) and containerd namespace. */
export interface LogOwner { id: string; namespace: string }

/** Where the output goes; close() when the task or exec is deleted. */
export interface LogSink { out: Writable; err: Writable; close(): void }

const READY_MS = 10_000;
const TERM_MS = 12_000;

export function isLogUri(s: string): boolean {
  return /^(file|binary):\/\//.test(s);
}

/** The logging binary's argv after its path: each query key, then its first value (Go's url.Query). */
export function binaryArgs(u: URL): string[] {
  const first = new Map<string, string>();
  for (const [k, v] of u.searchParams) if (!first.has(k)) first.set(k, v);
  return [...first].flatMap(([k, v]) => [k, v]);
}

export async function openLogUri(uri: string, owner: LogOwner): Promise<LogSink> {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    throw invalidArgument(`unable to parse stdout uri: ${uri}`);
  }
  const file = decodeURIComponent(u.pathname);
  if (!path.isAbsolute(file)) throw invalidArgument(`log uri ${uri}: the path must be absolute`);
  if (u.protocol === 'file:') {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await (await fs.open(file, 'a', 0o644)).close(); // made now: an error is the Create's
    const out = createWriteStream(file, { flags: 'a' });
    out.on('error', () => out.destroy());
    return { out, err: out, close: () => { if (!out.destroyed) out.end(); } };
  }
  return startLogger(file, binaryArgs(u), owner);
}

async function startLogger(binary: string, args: string[], owner: LogOwner): Promise<LogSink> {
  const child = spawn(binary, args, {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    env: { CONTAINER_ID: owner.id, CONTAINER_NAMESPACE: owner.namespace },
  });
  // extra 'pipe' fds are sockets (node's stdio pipes): each end is a net.Socket
  const [out, err, ready] = ([3, 4, 5] as const).map((i) => (child.stdio as unknown as net.Socket[])[i]!);
  for (const s of [out, err, ready]) s!.on('error', () => s!.destroy());
  const why = await new Promise<string | null>((resolve) => {
    const timer = setTimeout(() => resolve(`it did not signal it was ready (fd 5) within ${READY_MS / 1000} s`), READY_MS);
    const done = (r: string | null) => { clearTimeout(timer); resolve(r); };
    ready!.once('data', () => done(null));
    ready!.once('end', () => done(null));
    child.once('error', (e) => done(`failed to start binary process: ${e.message}`));
    child.once('exit', (code, sig) => done(`it exited (${sig ?? `status ${code}`}) before it was ready`));
  });
  ready!.destroy();
  if (why) {
    stopLogger(child, 0);
    throw unavailable(`logging binary ${binary}: ${why}`);
  }
  return { out: out!, err: err!, close: () => { out!.end(); err!.end(); stopLogger(child, TERM_MS); } };
}

/** SIGTERM (its last flush), then SIGKILL after `graceMs`. */
function stopLogger(child: ChildProcess, graceMs: number): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(graceMs ? 'SIGTERM' : 'SIGKILL');
  if (!graceMs) return;
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  t.unref();
  child.once('exit', () => clearTimeout(t));
}
