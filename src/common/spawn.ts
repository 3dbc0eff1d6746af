// Starting host processes (runc, conmon, mount...): through the native addon's posix_spawn
// when it is built, else node's child_process.spawn. Both give the same child: stdio 'pipe'
// is an AF_UNIX stream pair as libuv makes it, 'ignore' is /dev/null, a number is that fd;
// events 'error' (it could not start), 'exit' and 'close' (exited, and its output read).
//
// Why not node's spawn always: it fork()s the daemon (tens of MB of heap write-protected for
// copy-on-write, each page written afterwards faulting again) and blocks the event loop until
// the child exec()s. posix_spawn (vfork-like) costs ~0.07 ms of our CPU where fork cost ~1.3.
import { spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { native, type NativeAddon } from './native.js';

export type StdioSpec = 'pipe' | 'ignore' | number;

export interface SpawnOptions {
  stdio: StdioSpec[];
  /** The whole environment of the child (default: ours). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** A session (and process group) of its own: a kill of the group reaches what it starts. */
  detached?: boolean;
  /** Its exit does not keep the event loop alive (node's child.unref()). */
  unref?: boolean;
}

export interface Child extends EventEmitter {
  readonly pid: number | undefined;
  readonly stdio: Array<Readable | Writable | null>;
  stdin: Writable | null;
  stdout: Readable | null;
  stderr: Readable | null;
  kill(signal?: NodeJS.Signals | number): boolean;
}

/** `addon`: which way (tests take both); by default the addon's when it is built. */
export function spawnChild(cmd: string, args: string[], o: SpawnOptions, addon: NativeAddon | null = native()): Child {
  // C strings end at a NUL: refused as node refuses them, never cut short
  const strings = [cmd, ...args, o.cwd ?? '', ...Object.entries(o.env ?? {}).flatMap(([k, v]) => [k, v ?? ''])];
  if (addon && strings.some((x) => x.includes('\0'))) {
    throw Object.assign(new TypeError(`The arguments, options.cwd and options.env of spawn ${cmd} must be strings without null bytes`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  if (!addon) {
    const child = nodeSpawn(cmd, args, { stdio: o.stdio, env: o.env, cwd: o.cwd, detached: o.detached });
    if (o.unref) child.unref();
    return child as Child;
  }
  return new NativeChild(addon, cmd, args, o);
}

let devNull = -1;

class NativeChild extends EventEmitter implements Child {
  pid: number | undefined;
  stdio: Array<Readable | Writable | null> = [];
  stdin: Writable | null = null;
  stdout: Readable | null = null;
  stderr: Readable | null = null;
  private exited = false;
  private closesNeeded = 1; // the exit, then each output stream's close (node counts so too)
  private status: [number | null, NodeJS.Signals | null] = [null, null];

  constructor(addon: NativeAddon, cmd: string, args: string[], o: SpawnOptions) {
    super();
    const childFds: number[] = [];
    const ours: Array<number | null> = [];
    try {
      for (const s of o.stdio) {
        if (s === 'pipe') {
          const [mine, theirs] = addon.socketpair();
          ours.push(mine); childFds.push(theirs);
        } else {
          ours.push(null);
          childFds.push(s === 'ignore' ? (devNull >= 0 ? devNull : (devNull = openSync('/dev/null', 'r+'))) : s);
        }
      }
      const env = o.env ?? process.env;
      const envList = o.env ? Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`) : null;
      this.pid = addon.spawn(resolve(cmd, env.PATH), [cmd, ...args], envList, o.cwd ?? null, childFds, !!o.detached, !o.unref,
        (code, sig) => this.onExit(code, sig));
    } catch (e) {
      for (const fd of ours) if (fd !== null) closeSync(fd);
      const err = Object.assign(e as NodeJS.ErrnoException, { syscall: `spawn ${cmd}`, path: cmd, spawnargs: args });
      err.message = `spawn ${cmd} ${err.code ?? ''}`.trim();
      // as node's: streams that are closed at once, 'error', then 'close' with the errno
      this.stdio = o.stdio.map((s) => (s === 'pipe' ? new PassThrough().destroy() : null));
      [this.stdin, this.stdout, this.stderr] = [this.stdio[0] ?? null, this.stdio[1] ?? null, this.stdio[2] ?? null] as [Writable | null, Readable | null, Readable | null];
      this.exited = true;
      process.nextTick(() => { this.emit('error', err); this.emit('close', err.errno ?? -1, null); });
      return;
    } finally {
      o.stdio.forEach((s, i) => { if (s === 'pipe' && childFds[i] !== undefined) closeSync(childFds[i]); });
    }
    ours.forEach((fd, i) => {
      if (fd === null) { this.stdio.push(null); return; }
      // stdin is written, 1 and 2 read, higher fds either way (as node's)
      const sock = new net.Socket({ fd, readable: i !== 0, writable: i !== 1 && i !== 2 });
      if (i > 0) { this.closesNeeded++; sock.once('close', () => this.maybeClose()); }
      this.stdio.push(sock);
    });
    this.stdin = (this.stdio[0] as Writable | undefined) ?? null;
    this.stdout = (this.stdio[1] as Readable | undefined) ?? null;
    this.stderr = (this.stdio[2] as Readable | undefined) ?? null;
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    if (this.exited || this.pid === undefined) return false;
    try { process.kill(this.pid, signal); return true; } catch { return false; }
  }

  private onExit(code: number, sig: number): void {
    this.exited = true;
    this.status = code >= 0 ? [code, null] : [null, signalName(sig)];
    this.emit('exit', ...this.status);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (--this.closesNeeded === 0) this.emit('close', ...this.status);
  }
}

/** A signal number's name as node gives it in 'exit'. */
function signalName(n: number): NodeJS.Signals | null {
  for (const [name, v] of Object.entries(os.constants.signals)) if (v === n) return name as NodeJS.Signals;
  return null;
}

/**
 * The program as exec would find it on the child's PATH. posix_spawnp searches ours; node's
 * spawn the child's: the same unless the caller gave another PATH.
 */
function resolve(cmd: string, childPath: string | undefined): string {
  if (cmd.includes('/') || childPath === process.env.PATH || childPath === undefined) return cmd;
  for (const d of childPath.split(':')) {
    const f = path.join(d || '.', cmd);
    try { accessSync(f, constants.X_OK); return f; } catch { /* next */ }
  }
  return cmd;
}
