// Running host tools (mount, mknod, unshare, ip, CNI plugins...), bounded in time.
//
// Each command runs in its own process group: a step must be killable, and what it runs may
// start children of its own (a CNI bridge plugin execs host-local), so a timeout or an
// aborted caller kills the whole group, not just the first pid.
import { spawnChild } from './spawn.js';
import { internal, unavailable } from '../common/errors.js';

export interface ExecResult { code: number; stdout: string; stderr: string }

/** One argument for `sh -c`, single-quoted (a ' inside closed, escaped, opened again). */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", "'\\''")}'`;
}

export interface ExecOptions {
  input?: string | Buffer;
  cwd?: string;
  /** The whole environment of the child (not merged with ours). */
  env?: NodeJS.ProcessEnv;
  /** Kill the child's process group after this long. */
  timeoutMs?: number;
  /** The caller gave up: kill the child's process group. */
  signal?: AbortSignal;
}

const PACKAGE: Record<string, string> = {
  unshare: 'util-linux', nsenter: 'util-linux', mount: 'mount', umount: 'mount', ip: 'iproute2',
  iptables: 'iptables', 'iptables-save': 'iptables', mknod: 'coreutils', mkfifo: 'coreutils', cp: 'coreutils',
  sh: 'dash', setfattr: 'attr', getfattr: 'attr', hostname: 'hostname',
};

/** Run a command; never throws for a non-zero exit, throws Unavailable on a timeout or abort. */
export function exec(cmd: string, args: string[], o: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (o.signal?.aborted) { reject(aborted(cmd, o.signal)); return; }
    // detached: its own process group, so that a kill reaches what it started, too
    const child = spawnChild(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = []; const err: Buffer[] = [];
    let killedFor: Error | null = null;
    const killGroup = (why: Error) => {
      if (killedFor || child.pid === undefined) return;
      killedFor = why;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone already */ }
    };
    const timer = o.timeoutMs && o.timeoutMs > 0
      ? setTimeout(() => killGroup(unavailable(`${cmd} timed out after ${o.timeoutMs} ms and was killed`)), o.timeoutMs)
      : null;
    const onAbort = () => killGroup(aborted(cmd, o.signal!));
    o.signal?.addEventListener('abort', onAbort, { once: true });
    const done = () => { if (timer) clearTimeout(timer); o.signal?.removeEventListener('abort', onAbort); };
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      done();
      reject(e.code === 'ENOENT'
        ? unavailable(`${cmd} not found${PACKAGE[cmd] ? `: install the "${PACKAGE[cmd]}" package` : ''}`, e)
        : internal(`cannot run ${cmd}: ${e.message}`, e));
    });
    child.on('close', (code: number | null, sig: NodeJS.Signals | null) => {
      done();
      if (killedFor) { reject(killedFor); return; }
      resolve({
        code: code ?? (sig ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8').trim(),
      });
    });
    child.stdin!.on('error', () => { /* the child may exit before it reads all its input */ });
    child.stdin!.end(o.input ?? '');
  });
}

/** Run a command and throw Internal with its stderr when it exits non-zero. */
export async function execOk(cmd: string, args: string[], o: ExecOptions = {}): Promise<string> {
  const r = await exec(cmd, args, o);
  if (r.code !== 0) throw internal(`${cmd} ${args.slice(0, 8).join(' ')}${args.length > 8 ? ' ...' : ''} failed: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}

function aborted(cmd: string, signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return unavailable(`${cmd}: ${why}`, reason);
}
