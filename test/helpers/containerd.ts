// A private containerd 1.6 (own root, state, sockets) with tsula's bin/ on PATH, and a
// private tsula-sandboxer found through TSULA_SANDBOXER_STATE/_ADDRESS, which containerd
// passes on to containerd-shim-tsula-v2 (shims inherit containerd's env). CRI is disabled,
// or (start({ cri })) on with runtime handlers whose runtime_type is io.containerd.tsula.v2,
// a CNI conf dir of the test's, netns under its state dir and a pause image made here.
// destroy() kills every process and unmounts everything under the test's dir.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, openSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ROOT, IMAGES, sleep, waitFor, type RunResult } from './daemon.js';
import { killSandboxerLeftovers } from './cleanup.js';
import { crictl } from './crictl.js';

const execFileP = promisify(execFile);

/** containerd's CRI plugin, on for a test: what differs from one test to another. */
export interface CriSetup {
  /** The CNI config dir (a conflist of the test's own bridge and subnet). */
  cniConfDir: string;
  /** More [...containerd.runtimes.<handler>] tables: handler → ConfigPath option ('' = none). */
  handlers?: Record<string, string>;
}

/** The sandbox image the CRI config names (built by start() from busybox-static). */
export const PAUSE_IMAGE = 'localhost/tsula-test/pause:1';

export { killSandboxerLeftovers };

export const SANDBOXER = path.join(ROOT, 'build/tsula-sandboxer.mjs');

/** Short dirs: socket paths must stay under 106 bytes. */
export async function shortTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join('/tmp', prefix));
}

export function sandboxerEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    // <dir>/bin: containerd-shim-tsulafast-v2 → bin/containerd-shim-tsula-v2-fast
    PATH: [path.join(dir, 'bin'), path.join(ROOT, 'bin'), '/usr/local/sbin', '/usr/sbin', '/sbin', process.env.PATH ?? '/usr/bin:/bin'].join(':'),
    TSULA_SANDBOXER_STATE: path.join(dir, 'sb'),
    TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'),
  };
}

export class TestContainerd {
  proc: ChildProcess | null = null;
  readonly sock: string;
  readonly env: NodeJS.ProcessEnv;
  readonly sbState: string;

  private constructor(readonly dir: string) {
    this.sock = path.join(dir, 'c.sock');
    this.env = sandboxerEnv(dir);
    this.sbState = path.join(dir, 'sb');
  }

  /** Stop containerd (SIGTERM) and start it again on the same root/state (after `downMs`): shims stay. */
  async restart(downMs = 0): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    if (downMs) await sleep(downMs);
    await this.spawn();
    await this.ctr(['version']);
  }

  private async spawn(): Promise<void> {
    await fs.rm(this.sock, { force: true });
    const log = openSync(path.join(this.dir, 'containerd.log'), 'a');
    this.proc = spawn('containerd', ['--config', path.join(this.dir, 'config.toml')], { stdio: ['ignore', log, log], env: this.env, detached: true });
    closeSync(log);
    for (let i = 0; i < 200 && !existsSync(this.sock); i++) await sleep(50);
    if (!existsSync(this.sock)) throw new Error(`containerd did not come up: ${await this.log()}`);
  }

  static async start(o: { cri?: CriSetup } = {}): Promise<TestContainerd> {
    const c = new TestContainerd(await shortTempDir('tsc-'));
    try {
      await fs.mkdir(path.join(c.dir, 'bin'));
      await fs.symlink(path.join(ROOT, 'bin/containerd-shim-tsula-v2-fast'), path.join(c.dir, 'bin/containerd-shim-tsulafast-v2'));
      await fs.writeFile(path.join(c.dir, 'config.toml'), [
        'version = 2',
        `root = "${c.dir}/root"`,
        `state = "${c.dir}/state"`,
        ...(o.cri ? [] : ['disabled_plugins = ["io.containerd.grpc.v1.cri"]']),
        '[grpc]', `  address = "${c.sock}"`,
        '[ttrpc]', `  address = "${c.sock}.ttrpc"`,
        '[debug]', '  level = "debug"',
        '[plugins."io.containerd.internal.v1.opt"]', `  path = "${c.dir}/opt"`,
        ...(o.cri ? criConfig(o.cri) : []), '',
      ].join('\n'));
      await c.spawn();
      if (o.cri) {
        await c.ctr(['version']);
        await c.ok(['-n', 'k8s.io', 'images', 'import', await buildPauseImage(path.join(c.dir, 'pause'))]);
      }
    } catch (e) {
      await c.destroy();
      throw e;
    }
    return c;
  }

  /** crictl against this containerd's CRI (start({ cri })). */
  crictl(args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    return crictl(this.sock, args, o);
  }

  log(): Promise<string> {
    return fs.readFile(path.join(this.dir, 'containerd.log'), 'utf8').catch(() => '');
  }

  sandboxerLog(): Promise<string> {
    return fs.readFile(path.join(this.sbState, 'sandboxer.log'), 'utf8').catch(() => '');
  }

  ctr(args: string[], o: { timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    // ctr's FIFOs in the test's dir, not /run/containerd/fifo (a task containerd cleans up
    // after a dead shim leaves them behind)
    const fifo = ['--fifo-dir', path.join(this.dir, 'fifo')];
    if (args[0] === 'run') args = ['run', ...fifo, ...args.slice(1)];
    else if (args[0] === 'task' && (args[1] === 'exec' || args[1] === 'start')) args = [...args.slice(0, 2), ...fifo, ...args.slice(2)];
    // a namespace of the caller's (`-n k8s.io ...`: CRI's), else the tests' own
    const ns = args[0] === '-n' ? [] : ['-n', 'tsula'];
    return new Promise((resolve) => {
      const p = spawn('ctr', ['-a', this.sock, ...ns, ...args], { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => { stdout += d; });
      p.stderr.on('data', (d) => { stderr += d; });
      const t = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
      p.on('close', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
      // ctr may exit (or close stdin) before we finish writing: that is not a test failure
      p.stdin.on('error', () => {});
      if (o.input !== undefined) p.stdin.end(o.input); else p.stdin.end();
    });
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.ctr(args);
    if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /**
   * `ctr events` in the tests' namespace, once its subscription is live (an event published
   * after it, a namespace's creation, has arrived): the output so far, and close().
   */
  async events(): Promise<{ text: () => string; close: () => Promise<void> }> {
    const ev = spawn('ctr', ['-a', this.sock, '-n', 'tsula', 'events'], { env: this.env, stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    ev.stdout.on('data', (d) => { text += d; });
    const probes: string[] = [];
    const close = async () => {
      ev.kill();
      if (probes.length) await this.ctr(['namespaces', 'remove', ...probes]);
    };
    try {
      await waitFor(async () => {
        probes.push(`probe${probes.length}`);
        await this.ok(['namespaces', 'create', probes.at(-1)!]);
        return text.includes('/namespaces/create');
      }, 10_000, 'ctr events to subscribe');
    } catch (e) {
      await close();
      throw e;
    }
    return { text: () => text, close };
  }

  async importBusybox(): Promise<void> {
    await this.ok(['images', 'import', path.join(IMAGES, 'busybox.tar')]);
  }

  async sandboxerPid(): Promise<number> {
    return Number.parseInt(await fs.readFile(path.join(this.sbState, 'sandboxer.pid'), 'utf8').catch(() => '0'), 10) || 0;
  }

  async destroy(): Promise<void> {
    if (this.proc && this.proc.exitCode === null) {
      const exited = new Promise((r) => this.proc!.once('exit', r));
      this.proc.kill('SIGKILL');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => { timer = setTimeout(r, 5000); })]);
      clearTimeout(timer);
    }
    await killSandboxerLeftovers(this.dir);
    await fs.rm(this.dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** Node processes whose argv names dir (the sandboxer; never a per-container one). */
export async function nodeProcessesUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    const cmd = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (path.basename(cmd[0] ?? '') === 'node' && cmd.join(' ').includes(dir)) out.push(Number(pid));
  }
  return out;
}

/** Processes whose argv names dir and whose program is name. */
export async function processesNamed(name: string, dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (path.basename(cmd.split('\0')[0]) === name && cmd.includes(dir)) out.push(Number(pid));
  }
  return out;
}

/** Instances of a daemon that forks a helper of its own name (virtiofsd): processes whose parent is not one. */
export async function instancesNamed(name: string, dir: string): Promise<number[]> {
  const all = await processesNamed(name, dir);
  const ppid = async (p: number) => Number((await fs.readFile(`/proc/${p}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.split(' ')[1] ?? 0);
  const out: number[] = [];
  for (const p of all) if (!all.includes(await ppid(p))) out.push(p);
  return out;
}

/** containerd's CRI plugin for a test: tsula as the default handler. */
function criConfig(cri: CriSetup): string[] {
  const rt = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes';
  const handlers = Object.entries(cri.handlers ?? {}).flatMap(([name, configPath]) => [
    `    ${rt}.${name}]`, '      runtime_type = "io.containerd.tsula.v2"',
    ...(configPath ? [`    ${rt}.${name}.options]`, `      ConfigPath = "${configPath}"`] : []),
  ]);
  return [
    '[plugins."io.containerd.grpc.v1.cri"]',
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // no AppArmor profile to load, and root here can't lower oom_score_adj (DESIGN.md)
    '  disable_apparmor = true', '  restrict_oom_score_adj = true',
    // the pods' netns under the test's dir, not /var/run/netns
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"', '  stream_server_port = "0"',
    '  [plugins."io.containerd.grpc.v1.cri".cni]', '    bin_dir = "/usr/lib/cni"', `    conf_dir = "${cri.cniConfDir}"`,
    '  [plugins."io.containerd.grpc.v1.cri".containerd]', '    default_runtime_name = "tsula"', '    snapshotter = "overlayfs"',
    // what the README tells containerd users to write
    `    ${rt}.tsula]`, '      runtime_type = "io.containerd.tsula.v2"', '      pod_annotations = ["io.tsula.sandbox-kind"]',
    ...handlers,
  ];
}

/**
 * A pause image for containerd's sandbox containers: busybox-static sleeping, the only file
 * of a one-layer image (umoci), saved as a docker-archive (skopeo) for `ctr images import`.
 */
export async function buildPauseImage(dir: string): Promise<string> {
  const rootfs = path.join(dir, 'rootfs');
  await fs.mkdir(path.join(rootfs, 'bin'), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  const image = `${path.join(dir, 'oci')}:pause`;
  const run = async (cmd: string, args: string[]) => {
    try {
      await execFileP(cmd, args);
    } catch (e) {
      throw new Error(`building the pause image: ${cmd} ${args.join(' ')}: ${(e as { stderr?: string }).stderr || (e as Error).message}`);
    }
  };
  await run('umoci', ['init', '--layout', path.join(dir, 'oci')]);
  await run('umoci', ['new', '--image', image]);
  await run('umoci', ['insert', '--image', image, rootfs, '/']);
  await run('umoci', ['config', '--image', image, '--config.entrypoint', '/bin/busybox', '--config.entrypoint', 'sleep', '--config.entrypoint', '2147483647']);
  const tar = path.join(dir, 'pause.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${image}`, `docker-archive:${tar}:${PAUSE_IMAGE}`]);
  return tar;
}

