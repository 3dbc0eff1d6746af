// Launch a VM from a hypervisor's argv and bring it to "agent answers", within a bound.
// Every failure path kills the VMM and waits for it, so no hung qemu is ever left behind;
// the error says what happened, names the guest kernel, and carries QEMU's stderr and the tail
// of the guest console. A VM that never got to its agent is not a passing outage for a client
// to retry (UNAVAILABLE): one whose VMM exited is a guest QEMU cannot boot (FAILED_PRECONDITION),
// one whose agent never answered an internal failure (INTERNAL).
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, constants as C, openSync, closeSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TtrpcClient } from '../ttrpc/client.js';
import { parseProcStat } from '../common/proc.js';
import { failedPrecondition, internal, unavailable, errorMessage } from '../common/errors.js';
import { AGENT_SERVICE, dec, type PingResponse } from '../agent/protocol.js';
import type { Hypervisor, VmPaths, VmSpec } from './types.js';
import { QmpClient } from './qmp.js';

export interface RunningVm {
  pid: number;
  argv: string[];
  client: TtrpcClient;
  ping: PingResponse;
  /** ms from spawn to the agent's first answer. */
  readyMs: number;
  /** Resolves with the VMM's exit (code, or 128+signal) when it dies. */
  exited: Promise<number>;
}

/** A VM's sockets and files in its dir (keep the dir short: sun_path holds 108 bytes). */
export function vmPathsIn(dir: string): VmPaths {
  return {
    agentSocket: path.join(dir, 'agent.sock'), debugSocket: path.join(dir, 'debug.sock'),
    qmpSocket: path.join(dir, 'qmp.sock'), consoleLog: path.join(dir, 'console.log'), pidFile: path.join(dir, 'vmm.pid'),
  };
}

export interface LaunchOptions {
  timeoutMs: number;
  /**
   * Run once QEMU is up and the agent's channel connected, before the agent is asked (a
   * template's restore over QMP), with the VMM's pid; a throw kills the VMM and fails the
   * launch with its message.
   */
  prepare?: (vmm: { pid: number; alive: () => boolean }) => Promise<void>;
  /**
   * Called with the agent's connection as soon as it is made, before the first Ping is sent
   * (a clone sends its CloneSetup first, the Ping along: one trip through a guest whose code
   * runs cold).
   */
  onConnect?: (client: TtrpcClient) => void;
}

async function executable(p: string): Promise<boolean> {
  return fs.access(p, C.X_OK).then(() => true, () => false);
}

/** The last lines of the guest console, for error messages. */
export async function consoleTail(file: string, lines = 15): Promise<string> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).slice(-lines).join('\n');
}

/** A spawned VMM: its exit (code, or 128+signal) and a way to kill it and read why it failed. */
interface SpawnedVmm {
  child: ChildProcess;
  argv: string[];
  started: number;
  exited: Promise<number>;
  exitCode(): number | null;
  /** Kill it (when still running) and wait for its exit. */
  kill(): Promise<void>;
  /** qemu's stderr and the tail of the guest console, for error messages. */
  report(): Promise<string>;
}

async function spawnVmm(hv: Hypervisor, spec: VmSpec): Promise<SpawnedVmm> {
  const c = hv.config;
  if (!(await executable(c.path))) {
    throw failedPrecondition(`${hv.name}: binary ${c.path} not found or not executable (set hypervisor.${hv.name}.path in vmm.toml)`);
  }
  for (const [key, p] of [['kernel', c.kernel], ['initrd', c.initrd], ...(c.image ? [['image', c.image]] : [])] as const) {
    if (!(await fs.stat(p).catch(() => null))?.isFile()) {
      throw failedPrecondition(`${hv.name}: guest ${key} ${p} is missing (build it with scripts/build-guest.sh ${path.dirname(p)})`);
    }
  }
  if (c.useVsock) throw failedPrecondition(`hypervisor.${hv.name}.use_vsock: vsock is not supported yet; the agent channel is virtio-serial`);
  const p = spec.paths;
  await fs.mkdir(path.dirname(p.agentSocket), { recursive: true });
  for (const f of [p.agentSocket, p.debugSocket, p.qmpSocket, p.pidFile]) await fs.rm(f, { force: true });
  await fs.writeFile(p.consoleLog, '');
  const argv = hv.argv(spec);
  // in the pod's netns (Kuasar's way): QEMU opens the pod's taps by name there. nsenter
  // setns()es and execs QEMU: the pid is QEMU's own, the rest of the host is unchanged
  // (virtiofsd and the agent's sockets stay in the sandboxer's namespaces).
  // (ownNetns: unshare(1) execs QEMU in a new netns, as nsenter does in an existing one)
  const inNetns = spec.netns ? ['nsenter', `--net=${spec.netns}`, '--', ...argv] : spec.ownNetns ? ['unshare', '--net', '--', ...argv] : argv;
  const run = spec.nice ? ['nice', '-n', String(spec.nice), ...inNetns] : inNetns;
  const started = Date.now();
  // its own process group: the VM outlives a sandboxer restart, and signals to the
  // sandboxer's group don't reach it; stderr (qemu's own errors) goes to a file beside
  const errFile = path.join(path.dirname(p.consoleLog), `${hv.name}.stderr`);
  const errFd = openSync(errFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(run[0], run.slice(1), { detached: true, stdio: ['ignore', 'ignore', errFd] });
  } finally {
    closeSync(errFd);
  }
  let exitCode: number | null = null;
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, sig) => { exitCode = code ?? 128 + (sig ? 9 : 0); resolve(exitCode); });
    child.once('error', () => { exitCode = 127; resolve(127); });
  });
  child.unref();
  return {
    child, argv, started, exited, exitCode: () => exitCode,
    kill: async () => {
      if (exitCode !== null) return;
      try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ }
      child.ref(); // unref'd above: without this the loop may end before 'exit' arrives
      await exited;
    },
    report: async () => {
      const stderr = (await fs.readFile(errFile, 'utf8').catch(() => '')).trim();
      const tail = await consoleTail(p.consoleLog);
      return (stderr ? `\n${hv.name} stderr: ${stderr}` : '') + (tail ? `\nguest console (last lines):\n${tail}` : '');
    },
  };
}

/**
 * Run a VM that does one job and powers itself off (an agent snapshot builder), within a
 * bound: its exit status. A VM still running at the deadline or on abort is killed.
 */
export async function runVmToEnd(hv: Hypervisor, spec: VmSpec, o: LaunchOptions & { signal?: AbortSignal }): Promise<number> {
  const vm = await spawnVmm(hv, spec);
  let timer: NodeJS.Timeout | undefined;
  const stop = () => { void vm.kill(); };
  o.signal?.addEventListener('abort', stop, { once: true });
  try {
    const r = await Promise.race([vm.exited, new Promise<null>((r) => { timer = setTimeout(() => r(null), o.timeoutMs); })]);
    if (r === null || o.signal?.aborted) {
      await vm.kill();
      throw unavailable(`sandbox-${spec.id}: ${o.signal?.aborted ? 'stopped' : `still running after ${o.timeoutMs} ms: killed`}${await vm.report()}`);
    }
    return r;
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', stop);
  }
}

export async function launchVm(hv: Hypervisor, spec: VmSpec, o: LaunchOptions): Promise<RunningVm> {
  const p = spec.paths;
  const vm = await spawnVmm(hv, spec);
  const { child, argv, started, exited } = vm;
  const fail = async (why: string): Promise<never> => {
    const exited = vm.exitCode() !== null;
    await vm.kill();
    const msg = `sandbox-${spec.id}: the VM did not come up: ${why} (kernel ${hv.config.kernel})${await vm.report()}`;
    throw exited ? failedPrecondition(msg) : internal(msg);
  };
  const deadline = started + o.timeoutMs;
  const left = () => deadline - Date.now();
  const died = () => (vm.exitCode() !== null ? `${hv.name} exited with status ${vm.exitCode()} before the agent answered` : null);

  // 1. the agent socket appears once qemu has parsed its command line
  while (!(await fs.stat(p.agentSocket).catch(() => null))) {
    if (died()) return fail(died()!);
    if (left() <= 0) return fail(`${hv.name} did not create ${p.agentSocket} within ${o.timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  // 2. connect: bytes sent before the guest opens the port wait in QEMU, so one Ping with the
  // remaining time as its deadline is enough. The file exists from bind(); until QEMU's
  // listen() a connect is refused: retry that.
  const connectOnce = () => new Promise<net.Socket | NodeJS.ErrnoException>((resolve) => {
    const s = net.connect(p.agentSocket);
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e));
  });
  let sock = await connectOnce();
  while (!(sock instanceof net.Socket) && sock.code === 'ECONNREFUSED' && left() > 0 && !died()) {
    await new Promise((r) => setTimeout(r, 20));
    sock = await connectOnce();
  }
  if (!(sock instanceof net.Socket)) {
    // a qemu that is exiting resets the connection before its exit is seen (a kernel it cannot
    // boot): wait for that a moment, so the error says qemu died rather than blaming the channel
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    return fail(died() ?? `cannot connect to the agent channel ${p.agentSocket}: ${errorMessage(sock)}`);
  }
  const client = TtrpcClient.fromStream(sock, `sandbox-${spec.id} agent`);
  // 3. a template's restore, with the agent's channel connected already: QEMU then restores a
  // port whose host was connected (as the template builder left it) without telling the
  // guest of a hang-up and a new connection, which its agent would handle in code that runs
  // cold in a clone
  if (o.prepare) {
    try {
      await o.prepare({ pid: child.pid!, alive: () => vm.exitCode() === null });
    } catch (e) {
      client.close();
      return fail(died() ?? errorMessage(e));
    }
  }
  let ping: PingResponse;
  try {
    // onConnect's request goes first: a clone's CloneSetup is the longer one
    o.onConnect?.(client);
    const answer = client.callRaw(AGENT_SERVICE, 'Ping', new Uint8Array(), { timeoutMs: Math.max(left(), 1) });
    const r = await Promise.race([answer, exited.then(() => null)]);
    if (r === null) { client.close(); return fail(died()!); }
    ping = dec<PingResponse>(r);
  } catch (e) {
    client.close();
    // a guest that powers off closes the channel before qemu's exit is seen: wait for it a
    // moment, so the error says the VM died rather than blaming the channel
    await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
    const why = died() ?? (left() <= 0
      ? `the agent did not answer within ${o.timeoutMs} ms (${errorMessage(e)}); ${hv.name} killed`
      : `the agent channel failed before the agent answered (${errorMessage(e)}); ${hv.name} killed`);
    return fail(why);
  }
  return { pid: child.pid!, argv, client, ping, readyMs: Date.now() - started, exited };
}

/** Is `pid` still alive? (signal 0 probes without signalling; a zombie has exited already) */
export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).state !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The process a pid file names, if it still runs with `dir` on its command line (a VM's or
 * virtiofsd's of a start a dead sandboxer left; the check guards against a reused pid); else 0.
 */
export async function pidFileProcess(pidFile: string, dir: string): Promise<number> {
  const pid = Number.parseInt(await fs.readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!(pid > 0)) return 0;
  const cmd = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmd.includes(dir) ? pid : 0;
}

/**
 * Stop a VMM: ask nicely (the caller's graceful step, e.g. the agent's Shutdown), wait up to
 * `graceMs` for it to exit, then SIGTERM (QEMU exits cleanly on it), then SIGKILL.
 */
/** Whether the process is gone within ms (polled). */
async function goneWithin(pid: number, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (!pidAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !pidAlive(pid);
}

/**
 * A VM whose guest has nothing left to run (its agent shut down): given `ms` to power itself
 * off, then told to quit over QMP, QEMU's own exit.
 */
export async function quitLingeringVmm(pid: number, qmpSocket: string, ms: number): Promise<void> {
  if (await goneWithin(pid, ms)) return;
  const qmp = await QmpClient.connect(qmpSocket, `vmm ${pid}`, 2000).catch(() => null);
  if (!qmp) return;
  try {
    await qmp.execute('quit').catch(() => { /* the connection closes as it quits */ });
  } finally {
    qmp.close();
  }
}

export async function stopVmm(pid: number, graceful: () => Promise<void>, graceMs: number): Promise<void> {
  const gone = (ms: number) => goneWithin(pid, ms);
  if (!pidAlive(pid)) return;
  await graceful().catch(() => { /* the hard way below */ });
  if (await gone(graceMs)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  if (await gone(1000)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  await gone(2000);
}
