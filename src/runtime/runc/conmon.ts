// Glue to conmon (the C monitor CRI-O and podman use): argv, the sync/start/attach pipes,
// and its JSON messages. conmon double-forks; the daemonised monitor outlives tsulad.
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { internal, TsulaError } from '../../common/errors.js';
import { onLines } from '../../common/lines.js';
import { spawnChild, type Child } from '../../common/spawn.js';
import type { Passthrough } from '../types.js';

export interface ConmonPaths {
  conmon: string;        // conmon binary
  runtime: string;       // OCI runtime binary (runc)
  runtimeRoot: string;   // runc --root, private to this tsulad
  runtimeArgs?: string[]; // daemon.json "runtime-args": before the verb of every runc call
}

export interface ConmonArgs {
  id: string;            // container id (-c)
  uuid: string;          // session id (-u): container id, or exec id
  name: string;
  bundle: string;        // where conmon puts attach, ctl, winsz
  pidFile: string;
  logPath: string;       // k8s-file
  logSizeMax?: number;   // conmon starts the file over past it
  exitDir: string;
  terminal: boolean;
  stdin: boolean;
  leaveStdinOpen: boolean;
  exec?: { processSpec: string; attach: boolean };
  /**
   * The process gets these files as its stdio (conmon's passthrough: no pipes, no log, no
   * attach socket; conmon drops its own copies once the runtime has them).
   */
  passthrough?: Passthrough;
}

/** Where runc logs when conmon runs it (in the bundle; one per create or exec). */
export const RUNC_LOG = 'runc-log.json';

export function conmonArgv(p: ConmonPaths, a: ConmonArgs): string[] {
  // runc's log goes to a file: conmon reports the first line runc wrote to stderr, and runc
  // writes its warnings there first (a container joining another's pid namespace: "cannot
  // toggle freezer") unless it has a log; then stderr holds only the error itself
  const runcLog = [`--log=${a.bundle}/${RUNC_LOG}`, '--log-format=json'];
  const argv = [
    '--api-version', '1',
    '-c', a.id, '-u', a.uuid, '-n', a.name,
    '-r', p.runtime, ...[`--root=${p.runtimeRoot}`, ...runcLog, ...(p.runtimeArgs ?? [])].flatMap((x) => ['--runtime-arg', x]),
    '-b', a.bundle, '-p', a.pidFile,
    '-l', a.passthrough ? 'passthrough' : `k8s-file:${a.logPath}`,
    '--exit-dir', a.exitDir,
    // the attach socket lives in the bundle itself (short, per container)
    '--socket-dir-path', a.bundle, '--full-attach',
    '--log-level', 'warning', '--syslog',
  ];
  if (!a.exec) argv.push('-P', `${a.bundle}/conmon.pid`);
  if (a.logSizeMax) argv.push('--log-size-max', String(a.logSizeMax));
  if (a.terminal) argv.push('-t');
  if (a.stdin && !a.passthrough) argv.push('-i');
  if (a.leaveStdinOpen) argv.push('--leave-stdin-open');
  if (a.exec) {
    argv.push('--exec', '--exec-process-spec', a.exec.processSpec);
    if (a.exec.attach) argv.push('--exec-attach');
  }
  return argv;
}

/** Reads conmon's newline-separated {"data": N, "message": "..."} messages. */
export class SyncReader {
  private waiters: Array<(m: { data: number; message?: string } | null) => void> = [];
  private queue: Array<{ data: number; message?: string } | null> = [];

  constructor(stream: Readable) {
    onLines(stream, (line) => {
      try {
        this.push(JSON.parse(line) as { data: number; message?: string });
      } catch {
        this.push({ data: -1, message: `conmon sent a malformed message: ${line}` });
      }
    });
    const end = () => this.push(null);
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
  }

  private push(m: { data: number; message?: string } | null): void {
    const w = this.waiters.shift();
    if (w) w(m); else this.queue.push(m);
  }

  next(): Promise<{ data: number; message?: string } | null> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    return new Promise((res) => this.waiters.push(res));
  }
}

export interface ConmonProcess {
  child: Child;
  sync: SyncReader;
  start: Writable | null;
  attachReady: Promise<void> | null;
  closePipes(): void;
  /** In passthrough with pipes: the process' stdio (stdin null without -i). */
  pipes: { stdin: Writable | null; stdout: Readable; stderr: Readable } | null;
}

/**
 * Start conmon. Pipes: fd 3 sync (pid, then exec exit code), and for exec attach fd 4 start
 * (conmon waits for a byte before running the runtime) and fd 5 attach (conmon says the
 * socket is ready).
 */
export function spawnConmon(p: ConmonPaths, a: ConmonArgs): ConmonProcess {
  const attach = !!a.exec?.attach;
  const env: NodeJS.ProcessEnv = { ...process.env, _OCI_SYNCPIPE: '3' };
  const io = a.passthrough;
  const stdio: Array<'ignore' | 'pipe' | number> = io === 'pipes' ? [a.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', 'pipe']
    : io ? [io.stdin ?? 'ignore', io.stdout, io.stderr, 'pipe'] : ['ignore', 'ignore', 'pipe', 'pipe'];
  if (attach) {
    env._OCI_STARTPIPE = '4';
    env._OCI_ATTACHPIPE = '5';
    stdio.push('pipe', 'pipe');
  }
  const child = spawnChild(p.conmon, conmonArgv(p, a), { stdio, env, detached: true, cwd: a.bundle, unref: true });
  let stderr = '';
  if (!io) {
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  }
  const sync = new SyncReader(child.stdio[3] as Readable);
  const start = attach ? (child.stdio[4] as Writable) : null;
  let attachReady: Promise<void> | null = null;
  if (attach) {
    const ap = (child.stdio as unknown as Readable[])[5];
    attachReady = new Promise((resolve, reject) => {
      ap.once('data', () => resolve());
      ap.once('end', () => reject(internal(`conmon exited before its attach socket was ready: ${stderr.trim()}`)));
    });
    attachReady.catch(() => {});
  }
  // the process' pipes, taken from the child: conmon's first process exits at once (it
  // daemonises), and at a child's exit node destroys its stdin and sets unread stdout and
  // stderr flowing (their data lost) — these pipes must outlive it, unread until wanted
  let pipes: ConmonProcess['pipes'] = null;
  if (io === 'pipes') {
    pipes = { stdin: child.stdin, stdout: child.stdout!, stderr: child.stderr! };
    child.stdin = child.stdout = child.stderr = null;
    child.stdio[0] = child.stdio[1] = child.stdio[2] = null;
  }
  child.on('error', () => {});
  // (the process' own stdio, in passthrough, is not conmon's to close)
  const closePipes = () => {
    child.stdio.forEach((s, fd) => { if (!io || fd > 2) (s as { destroy?: () => void } | null)?.destroy?.(); });
  };
  return { child, sync, start, attachReady, closePipes, pipes };
}

/**
 * Wait for conmon's pid message; a negative value carries the runtime's error. Where conmon
 * has no error to send (passthrough: the runtime's stderr is the process' own; a terminal
 * exec whose runtime failed before the console socket: conmon just exits), runcLog has it.
 */
export async function readPid(cp: ConmonProcess, what: string, runcLog?: string): Promise<number> {
  const m = await cp.sync.next();
  if (!m) {
    const logged = runcLog ? await lastRuncError(runcLog) : '';
    throw logged ? new TsulaError('Internal', `${what}: ${logged}`) : internal(`${what}: conmon exited without reporting a pid`);
  }
  if (m.data < 0) throw new TsulaError('Internal', `${what}: ${cleanRuntimeError(m.message ?? 'runtime failed')}`);
  return m.data;
}

/** The last error runc wrote into its --log-format=json file ('' when none). */
async function lastRuncError(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  let msg = '';
  for (const line of text.split('\n')) {
    try {
      const l = JSON.parse(line) as { level?: string; msg?: string };
      if ((l.level === 'error' || l.level === 'fatal') && l.msg) msg = l.msg;
    } catch { /* a torn last line */ }
  }
  return msg.trim();
}

/**
 * runc prints its errors as logrus lines, warnings first: keep the message a user can act
 * on, the last error's (what containerd's shim reports), else the last message's.
 */
export function cleanRuntimeError(msg: string): string {
  const lines = [...msg.matchAll(/level=(\w+) msg="((?:[^"\\]|\\.)*)"/g)];
  const m = lines.filter((l) => l[1] === 'error' || l[1] === 'fatal').at(-1) ?? lines.at(-1);
  return (m ? m[2].replace(/\\"/g, '"') : msg).trim();
}
