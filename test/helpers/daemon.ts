// Starts a private tsulad (own socket, graph and state in a temp dir) for a test file, runs
// the real CLI against it, and cleans up every container, mount and process afterwards.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, openSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { killSandboxerLeftovers, networkBridges, removeNetworkRules } from './cleanup.js';
import { DAEMON_V8_FLAGS, daemonEnv } from '../../src/common/v8-flags.js';

const execFileP = promisify(execFile);
export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
export const IMAGES = path.join(ROOT, 'build/images');
const TSULAD = path.join(ROOT, 'build/tsulad.mjs');
/** The CLI as users start it: bin/tsula, from its startup snapshot when that fits. */
export const TSULA = path.join(ROOT, 'bin/tsula');

export interface RunResult { code: number; stdout: string; stderr: string }
export interface Running { proc: ChildProcess; stdout: () => string; stderr: () => string; done: Promise<RunResult> }

export class TestDaemon {
  proc: ChildProcess | null = null;
  readonly sock: string;
  readonly graph: string;
  readonly state: string;
  readonly logFile: string;
  readonly criSock: string;

  /** Started through bin/tsulad as users start it (its shebang's environment), not node + the bundle. */
  launcher = false;

  constructor(readonly dir: string, readonly extraArgs: string[] = [], readonly env: NodeJS.ProcessEnv = {}) {
    this.sock = path.join(dir, 'tsulad.sock');
    this.graph = path.join(dir, 'graph');
    this.state = path.join(dir, 'state');
    this.logFile = path.join(dir, 'tsulad.log');
    this.criSock = path.join(dir, 'cri.sock');
  }

  static async create(opts: { args?: string[]; configJson?: unknown; env?: NodeJS.ProcessEnv; dir?: string; launcher?: boolean } = {}): Promise<TestDaemon> {
    const dir = opts.dir ?? await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
    const args = [...(opts.args ?? [])];
    // no default bridge network unless a test gives one (its own, from createTestNet): a
    // container never touches the machine's networks by accident
    const noBridge = (c: unknown) => (c && typeof c === 'object' && !Array.isArray(c) && !('bridge' in c) ? { bridge: 'none', ...c } : c);
    if (opts.configJson !== undefined) {
      const cfg = path.join(dir, 'daemon.json');
      await fs.writeFile(cfg, JSON.stringify(noBridge(opts.configJson)));
      args.push('--config-file', cfg);
    } else {
      args.push('--config-file', path.join(dir, 'none.json'));
      await fs.writeFile(path.join(dir, 'none.json'), JSON.stringify({ bridge: 'none' }));
    }
    const d = new TestDaemon(dir, args, opts.env);
    d.launcher = opts.launcher ?? false;
    try {
      await d.start();
    } catch (e) {
      // a start a test expects to fail leaves no dir (one of its own it keeps); not destroy():
      // the bridges its records name may be the test's own (daemon.json's "bridge")
      await d.stop('SIGKILL');
      await killLeftovers(dir);
      await killSandboxerLeftovers(dir);
      if (!opts.dir) await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
    return d;
  }

  get hostArg(): string { return `unix://${this.sock}`; }

  private sandboxerDefaults(): NodeJS.ProcessEnv {
    return { TSULA_SANDBOXER_STATE: path.join(this.dir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(this.dir, 'sb.sock') };
  }

  async start(): Promise<void> {
    const out = openSync(this.logFile, 'a');
    // every daemon on private paths: its CRI socket too (the default is the machine's)
    const cri = this.extraArgs.includes('--cri-socket') ? [] : ['--cri-socket', `unix://${this.criSock}`];
    const args = ['-H', this.hostArg, '--graph', this.graph, '--state', this.state, '--log-level', 'debug', ...cri, ...this.extraArgs];
    // a sandboxer tsulad starts (--runtime vmm) goes under the test's dir too, unless the test says where
    const env = { ...process.env, ...this.sandboxerDefaults(), ...this.env };
    this.proc = this.launcher
      ? spawn(path.join(ROOT, 'bin/tsulad'), args, { stdio: ['ignore', out, out], detached: true, env })
      : spawn(process.execPath, [...DAEMON_V8_FLAGS, TSULAD, ...args], { stdio: ['ignore', out, out], detached: true, env: daemonEnv('tsulad', env) });
    const p = this.proc;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (p.exitCode !== null) throw new Error(`tsulad exited with ${p.exitCode}: ${await this.log()}`);
      if (existsSync(this.sock)) {
        const r = await this.cli(['version']);
        if (r.code === 0) return;
      }
      await sleep(50);
    }
    throw new Error(`tsulad did not come up: ${await this.log()}`);
  }

  async log(): Promise<string> {
    return fs.readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Stop the daemon the hard way (kill -9) or politely; containers keep running either way. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    // the bound's timer goes with the exit: left running, it kept each test file alive 10 s more
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 10_000); })]);
    clearTimeout(timer);
    this.proc = null;
  }

  cli(args: string[], opts: { input?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
    return new Promise((resolve) => {
      const p = spawn(TSULA, ['-H', this.hostArg, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      const t = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
      p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
      p.stdin.on('error', () => {}); // the CLI may exit before reading all its input
      if (opts.input !== undefined) p.stdin.end(opts.input); else p.stdin.end();
    });
  }

  /** A CLI run whose output can be watched while it runs (logs -f, attach, events). */
  spawnCli(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Running {
    const p = spawn(TSULA, ['-H', this.hostArg, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.stdin.on('error', () => {});
    const done = new Promise<RunResult>((resolve) => p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr })));
    return { proc: p, stdout: () => stdout, stderr: () => stderr, done };
  }

  /**
   * An API request whose answer's head and body are awaited apart: POST /containers/{id}/wait
   * sends its head once the wait is registered, its body at the exit; text() is the body so
   * far (a pull's progress).
   */
  apiStream(method: string, urlPath: string): { head: Promise<number>; body: Promise<string>; text: () => string } {
    let head!: (n: number) => void;
    let fail!: (e: Error) => void;
    let data = '';
    const headP = new Promise<number>((resolve, reject) => { head = resolve; fail = reject; });
    const body = import('node:http').then((http) => new Promise<string>((resolve, reject) => {
      const req = http.request({ socketPath: this.sock, method, path: urlPath }, (res) => {
        head(res.statusCode ?? 0);
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve(data));
        res.on('error', reject);
      });
      req.on('error', (e) => { fail(e); reject(e); });
      req.end();
    }));
    body.catch(() => {});
    return { head: headP, body, text: () => data };
  }

  /** Like cli() but throws with the output on a non-zero exit. */
  async ok(args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<string> {
    const r = await this.cli(args, opts);
    if (r.code !== 0) throw new Error(`tsula ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** HTTP request straight to the API (for status codes the CLI hides). */
  async api(method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    const http = await import('node:http');
    return new Promise((resolve, reject) => {
      const req = http.request({ socketPath: this.sock, method, path: urlPath, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
        let data = '';
        res.on('data', (d) => { data += d; });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  async loadBusybox(): Promise<void> {
    await this.ok(['load', '-i', path.join(IMAGES, 'busybox.tar')]);
  }

  /** Remove every container (kills them), stop the daemon, unmount and delete everything. */
  async destroy(): Promise<void> {
    try {
      if (this.proc && this.proc.exitCode === null) {
        const ids = (await this.cli(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
        if (ids.length) await this.cli(['rm', '-f', ...ids]);
      }
    } catch { /* fall through to the hard cleanup */ }
    await this.stop('SIGKILL');
    await killLeftovers(this.dir);
    await killSandboxerLeftovers(this.dir);
    // its networks' rules and bridges (made at network create, as dockerd's: a network no
    // container joined has one too)
    for (const b of await networkBridges(this.graph)) {
      await removeNetworkRules(b);
      await execFileP('ip', ['link', 'del', b]).catch(() => {});
    }
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Kill conmon/runc containers whose state lives under dir, and unmount what is mounted there. */
export async function killLeftovers(dir: string): Promise<void> {
  const runcRoots = await findDirs(path.join(dir, 'state', 'runtime'), 'root');
  for (const root of runcRoots) {
    const list = await execFileP('runc', ['--root', root, 'list', '-q']).then((r) => r.stdout.split('\n').filter(Boolean), () => []);
    for (const id of list) await execFileP('runc', ['--root', root, 'delete', '--force', id]).catch(() => {});
  }
  // conmon processes of this daemon: their argv names the state dir
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (path.basename(cmd.split('\0')[0]) === 'conmon' && cmd.includes(dir)) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
  }
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
  for (const m of mounts.reverse()) await execFileP('umount', ['-l', m]).catch(() => {});
}

async function findDirs(base: string, name: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(base).catch(() => [] as string[])) {
    const p = path.join(base, e, name);
    if (existsSync(p)) out.push(p);
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, ms = 15_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}
