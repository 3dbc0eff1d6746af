// Spawning the few host tools storage needs (Node has no mknod, setxattr or mount).
import { spawn } from 'node:child_process';
import { internal, unavailable } from '../common/errors.js';

export interface RunResult { code: number; stdout: string; stderr: string }

const PACKAGE: Record<string, string> = {
  mknod: 'coreutils', mkfifo: 'coreutils', cp: 'coreutils', sh: 'dash',
  setfattr: 'attr', getfattr: 'attr', mount: 'mount', umount: 'mount',
};

/** Run a command; never throws for a non-zero exit (see runOk). */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: string | Buffer } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = []; const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e: NodeJS.ErrnoException) => {
      reject(e.code === 'ENOENT'
        ? unavailable(`${cmd} not found: install the "${PACKAGE[cmd] ?? cmd}" package`)
        : internal(`cannot run ${cmd}: ${e.message}`, e));
    });
    child.on('close', (code, signal) => resolve({
      code: code ?? (signal ? 128 : 1),
      stdout: Buffer.concat(out).toString('utf8'),
      stderr: Buffer.concat(err).toString('utf8').trim(),
    }));
    child.stdin.on('error', () => { /* the child may exit before reading all input */ });
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a command and throw internal(...) with its stderr when it fails. */
export async function runOk(cmd: string, args: string[], opts: { cwd?: string; input?: string | Buffer } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw internal(`${cmd} ${args.slice(0, 6).join(' ')}${args.length > 6 ? ' ...' : ''} failed: ${r.stderr || `exit ${r.code}`}`);
  return r.stdout;
}
