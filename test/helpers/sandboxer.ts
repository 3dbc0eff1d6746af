// A private tsula-sandboxer for a test file (own state dir and sockets), plus OCI bundles
// made from the host's static busybox so tests can drive the Task API without containerd.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, openSync, closeSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { sleep } from './daemon.js';
import { SANDBOXER, killSandboxerLeftovers, sandboxerEnv, shortTempDir } from './containerd.js';
import { DAEMON_V8_FLAGS, daemonEnv } from '../../src/common/v8-flags.js';

const execFileP = promisify(execFile);

function connectable(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface SandboxerFlags {
  /** More flags (--config FILE). */
  args?: string[];
  /** --log-level (default debug; null: none, the config's or info). */
  logLevel?: string | null;
}

export class TestSandboxer {
  proc: ChildProcess | null = null;
  readonly state: string;
  readonly address: string;
  readonly taskSock: string;
  /** Set in the next start's environment besides the test's dirs (TSULA_FAULT, ...). */
  readonly env: Record<string, string> = {};

  private constructor(readonly dir: string, private readonly o: SandboxerFlags = {}) {
    this.state = path.join(dir, 'sb');
    this.address = path.join(dir, 'sb.sock');
    this.taskSock = path.join(this.state, 'task.sock');
  }

  static async create(o: SandboxerFlags = {}): Promise<TestSandboxer> {
    const s = new TestSandboxer(await shortTempDir('tss-'), o);
    await s.start();
    return s;
  }

  async start(): Promise<void> {
    await fs.mkdir(this.state, { recursive: true });
    const log = openSync(path.join(this.dir, 'sandboxer.log'), 'a');
    const level = this.o.logLevel === undefined ? ['--log-level', 'debug'] : this.o.logLevel === null ? [] : ['--log-level', this.o.logLevel];
    this.proc = spawn(process.execPath, [...DAEMON_V8_FLAGS, SANDBOXER, '--state', this.state, '--listen', this.address, ...level, ...(this.o.args ?? [])],
      { stdio: ['ignore', log, log], detached: true, env: daemonEnv('tsula-sandboxer', { ...sandboxerEnv(this.dir), ...this.env }) });
    closeSync(log);
    const p = this.proc;
    for (let i = 0; i < 400; i++) {
      if (p.exitCode !== null) throw new Error(`tsula-sandboxer exited ${p.exitCode}: ${await this.log()}`);
      // socket files of a killed sandboxer stay behind: wait until both accept connections
      if (existsSync(this.address) && existsSync(this.taskSock) && await connectable(this.address) && await connectable(this.taskSock)) return;
      await sleep(25);
    }
    throw new Error(`tsula-sandboxer did not come up: ${await this.log()}`);
  }

  log(): Promise<string> {
    return fs.readFile(path.join(this.dir, 'sandboxer.log'), 'utf8').catch(() => '');
  }

  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) { this.proc = null; return; }
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
    this.proc = null;
  }

  /** A bundle whose rootfs holds the host's static busybox; args run under /bin/sh. */
  bundle(name: string, args: string[], annotations: Record<string, string> = {}): Promise<string> {
    return busyboxBundle(path.join(this.dir, 'bundles', name), args, annotations);
  }

  async destroy(): Promise<void> {
    await this.kill9();
    await killSandboxerLeftovers(this.dir);
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** An OCI bundle at b whose rootfs holds the host's static busybox (runc spec's defaults). */
export async function busyboxBundle(b: string, args: string[], annotations: Record<string, string> = {}): Promise<string> {
  const rootfs = path.join(b, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'dev', 'sys', 'tmp']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  await fs.chmod(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const t of ['sh', 'sleep', 'echo', 'cat', 'hostname', 'true', 'uname', 'stty', 'tty', 'ls']) await fs.symlink('busybox', path.join(rootfs, 'bin', t)).catch(() => {});
  await execFileP('runc', ['spec', '--bundle', b]);
  const spec = JSON.parse(await fs.readFile(path.join(b, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = args;
  spec.annotations = annotations;
  spec.root.readonly = false;
  await fs.writeFile(path.join(b, 'config.json'), JSON.stringify(spec));
  return b;
}
