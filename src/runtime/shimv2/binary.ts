// The shim v2 binary contract (containerd 1.6 runtime/v2/binary.go, shim/shim.go): how a
// runtime name becomes a binary, and its two one-shot actions, `start` (prints the
// address of a task server, leaving a daemon behind) and `delete` (cleans up after a dead
// shim, printing a DeleteResponse).
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { DeleteResponseSchema, type DeleteResponse } from '../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { internal } from '../../common/errors.js';

export { isShimV2RuntimeName, shimBinaryName, findShimBinary } from './names.js';

export interface ShimArgs {
  binary: string;
  id: string;
  bundle: string;
  namespace: string;
  /** -address: containerd's socket; the runc shim hashes it into its own socket's name. */
  address: string;
  /** TTRPC_ADDRESS: where the shim publishes events (Events/Forward). */
  ttrpcAddress: string;
  publishBinary: string;
  debug?: boolean;
}

/** The shim's env: runc lives in /usr/sbin, which a daemon's PATH may lack. */
function shimEnv(a: ShimArgs): NodeJS.ProcessEnv {
  const dirs = (process.env.PATH || '/usr/local/bin:/usr/bin:/bin').split(':');
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return { ...process.env, PATH: dirs.join(':'), TTRPC_ADDRESS: a.ttrpcAddress };
}

function baseArgv(a: ShimArgs): string[] {
  return ['-namespace', a.namespace, '-address', a.address, '-publish-binary', a.publishBinary, '-id', a.id, ...(a.debug ? ['-debug'] : [])];
}

interface RunResult { code: number | null; signal: string | null; stdout: Buffer; stderr: Buffer; combined: Buffer }

function run(a: ShimArgs, argv: string[], timeoutMs: number, stdin?: Uint8Array): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    // own process group (containerd sets Setpgid): a signal to tsulad's group must not
    // reach the shim daemon that `start` leaves behind
    const child = spawn(a.binary, argv, {
      cwd: a.bundle, env: shimEnv(a), detached: true,
      stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const both: Buffer[] = [];
    child.stdout!.on('data', (d: Buffer) => { out.push(d); both.push(d); });
    child.stderr!.on('data', (d: Buffer) => { err.push(d); both.push(d); });
    if (stdin) child.stdin!.end(Buffer.from(stdin));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(internal(`run ${a.binary}: ${e.message}`)); });
    // 'close', not 'exit': like containerd, wait for EOF on both pipes
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), combined: Buffer.concat(both) });
    });
  });
}

/**
 * `start`: returns the address printed (combined stdout+stderr, trimmed, as containerd
 * reads it) and writes it to <bundle>/address. options: a marshalled google.protobuf.Any.
 */
export async function startShim(a: ShimArgs, options?: Uint8Array, timeoutMs = 30_000): Promise<string> {
  const r = await run(a, [...baseArgv(a), 'start'], timeoutMs, options);
  const text = r.combined.toString('utf8').trim();
  if (r.code !== 0) {
    throw internal(`${path.basename(a.binary)} start failed (${r.signal ?? `exit ${r.code}`}): ${text || 'no output'}`);
  }
  if (!text || /\s/.test(text)) throw internal(`${path.basename(a.binary)} start printed no usable address: ${JSON.stringify(text.slice(0, 300))}`);
  await fs.writeFile(path.join(a.bundle, 'address'), text, { mode: 0o600 });
  return text;
}

/** `delete`: cleanup of a task whose shim is gone; stdout is a bare DeleteResponse. */
export async function deleteShim(a: ShimArgs, timeoutMs = 30_000): Promise<DeleteResponse> {
  const r = await run(a, [...baseArgv(a), '-bundle', a.bundle, 'delete'], timeoutMs);
  if (r.code !== 0) {
    throw internal(`${path.basename(a.binary)} delete failed (${r.signal ?? `exit ${r.code}`}): ${r.stderr.toString('utf8').trim() || 'no output'}`);
  }
  try {
    return fromBinary(DeleteResponseSchema, r.stdout);
  } catch (e) {
    throw internal(`${path.basename(a.binary)} delete printed no DeleteResponse: ${(e as Error).message}`);
  }
}

/** The address a previous tsulad's shim wrote (or we wrote) into the bundle. */
export async function readAddress(bundle: string): Promise<string | null> {
  const t = await fs.readFile(path.join(bundle, 'address'), 'utf8').catch(() => '');
  return t.trim() || null;
}
