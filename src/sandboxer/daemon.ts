// tsula-sandboxer: one long-lived process that owns every sandbox (Kuasar's role). It serves
// the sandbox Controller API (gRPC) on --listen and the shim v2 Task API (ttrpc) for all
// containers on <state>/task.sock, runs containers with conmon + runc, and re-adopts every
// sandbox and container from <state> when it starts again.
import { handleDebugSignal } from '../common/debug-signal.js';
import { collectWhenIdle } from '../common/idle-gc.js';
import { dropMallocTunables } from '../common/v8-flags.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { RuncConmonRuntime } from '../runtime/runc/runtime.js';
import { Logger, type Level } from '../common/log.js';
import { errorMessage, internal } from '../common/errors.js';
import { which } from '../common/which.js';
import { Sandboxes } from './sandboxes.js';
import type { VmmConfig } from '../hypervisor/config.js';
import { TaskManager } from './tasks/manager.js';
import { TaskRecords } from './tasks/records.js';
import { EventPublisher } from './tasks/events.js';
import { serveLazily } from '../common/lazy-endpoint.js';
import { faultsFromEnv } from '../common/faults.js';
import { claimSocket } from '../common/unixsocket.js';
import { DEFAULT_ADDRESS, DEFAULT_STATE, taskSocketOf } from './admin.js';
import { NamespaceSockets } from './namespace-sockets.js';
import { VM_CACHE_DIR } from './kinds/vmm/config.js';

export interface SandboxerOptions {
  stateDir: string;
  address: string;         // the Controller's unix socket
  runcPath?: string;
  conmonPath?: string;
  defaultKind?: string;
  /** The VM sandboxes' config, read at each VM start (default /etc/tsula/vmm.toml). */
  vmmConfig?: string;
  log: Logger;
}

export interface Sandboxer {
  taskAddress: string;
  close(): Promise<void>;
}

export async function startSandboxer(o: SandboxerOptions): Promise<Sandboxer> {
  await fs.mkdir(o.stateDir, { recursive: true, mode: 0o700 });
  await claimPidFile(path.join(o.stateDir, 'sandboxer.pid'));
  let tasks: TaskManager | undefined;
  const runtime = new RuncConmonRuntime({
    name: 'runc',
    runtimePath: o.runcPath ?? (await which('runc')) ?? '/usr/sbin/runc',
    conmonPath: o.conmonPath ?? (await which('conmon')) ?? '/usr/bin/conmon',
    stateDir: path.join(o.stateDir, 'runc'),
    log: o.log,
    // runc's ids here are keys (sha256 of namespace/id): errors name the task's own id
    displayName: (key) => tasks?.byKeyId(key) ?? key.slice(0, 12),
  });
  const faults = faultsFromEnv(process.env.TSULA_FAULT);
  if (process.env.TSULA_FAULT) o.log.warn(`fault injection: TSULA_FAULT=${process.env.TSULA_FAULT} kills this sandboxer there`);
  const sandboxes = new Sandboxes({ stateDir: o.stateDir, vmmConfigPath: o.vmmConfig, log: o.log }, o.log, faults);
  await sandboxes.recover();
  // the idle VMs a VM cache (vm_cache_number) of a sandboxer killed meanwhile left: no pod takes them
  const vmCache = path.join(o.stateDir, VM_CACHE_DIR);
  if ((await fs.readdir(vmCache).catch(() => [])).length) await (await import('./kinds/vmm/cache.js')).reapVmCache(vmCache, o.log);
  const events = new EventPublisher(o.log);
  tasks = new TaskManager(runtime, new TaskRecords(path.join(o.stateDir, 'tasks')), sandboxes, events, o.log, o.defaultKind ?? 'runc');
  await tasks.recover();

  // both sockets answer at once; what serves them loads with its first client: the task
  // socket's ttrpc server and protobuf (containerd's shims, tsulad's tasks and its calls to
  // the Controller), the Controller socket's grpc-js (containerd's sandbox API, iSulad)
  const taskSock = taskSocketOf(o.stateDir);
  const taskAddress = `ttrpc+unix://${taskSock}`;
  const deps = { sandboxes, tasks, taskAddress, defaultKind: o.defaultKind ?? 'runc' };
  const serveTasks = async (ns?: string) => (await import('./task-server.js')).taskServer({ tasks, sandboxes, log: o.log, namespaces, controller: deps }, ns);
  const namespaces = new NamespaceSockets(o.stateDir, serveTasks, o.log);
  await namespaces.reset();
  const taskApi = await serveLazily(await claimSocket(taskSock), 'task API', () => serveTasks(), o.log);
  // containerd reconnects to the address a task's bundle holds: its namespace's socket
  for (const ns of new Set(tasks.list().map((t) => t.rec.namespace))) {
    await namespaces.listen(ns).catch((e: unknown) => o.log.debug('no task socket for namespace', { namespace: ns, err: errorMessage(e) }));
  }
  const controller = await serveLazily(await claimSocket(o.address), 'sandbox Controller',
    async () => (await import('./controller-server.js')).controllerServer(deps), o.log);
  // both sockets listen: the launcher's shell fast path trusts this file (with a live pid)
  await fs.writeFile(path.join(o.stateDir, 'sandboxer.ready'), String(process.pid), { mode: 0o600 });
  o.log.info('tsula-sandboxer serving', { controller: o.address, tasks: taskSock, pid: process.pid });
  // behind the sockets: the kinds' work ahead (a VM cache filling), and orphans' stops: a VM's
  // stop takes seconds, and nothing waits for it
  sandboxes.prepareKinds();
  void tasks.dropOrphanSandboxes().catch((e: unknown) => o.log.warn('cannot stop orphaned sandboxes', { err: errorMessage(e) }));
  return {
    taskAddress,
    close: async () => {
      await controller.close();
      await taskApi.close();
      await namespaces.close();
      tasks.close();
      await sandboxes.close();
      events.close();
      await fs.rm(path.join(o.stateDir, 'sandboxer.ready'), { force: true });
      await fs.rm(path.join(o.stateDir, 'sandboxer.pid'), { force: true });
    },
  };
}

/** One sandboxer per state dir: refuse to start beside a live one (it would steal its sockets). */
async function claimPidFile(file: string): Promise<void> {
  const old = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
  if (old > 0 && old !== process.pid) {
    const cmd = await fs.readFile(`/proc/${old}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('sandboxer')) throw internal(`another tsula-sandboxer (pid ${old}) owns ${path.dirname(file)}`);
  }
  await fs.writeFile(file, String(process.pid), { mode: 0o600 });
}

/** Kuasar's vmm-sandboxer takes its file with --config; --vmm-config is tsula's older name. */
const VMM_CONFIG_FLAGS = ['--config', '--vmm-config'];

function flag(argv: string[], names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    for (const n of names) {
      if (argv[i] === n) return argv[i + 1];
      if (argv[i].startsWith(n + '=')) return argv[i].slice(n.length + 1);
    }
  }
  return undefined;
}

export async function main(argv: string[]): Promise<void> {
  // from the first moment: SIGUSR1 never opens node's inspector (a root debugger), a hang-up
  // of the terminal that started it does not end every pod's sandboxer
  const earlyUsr1 = () => undefined;
  process.on('SIGUSR1', earlyUsr1);
  process.on('SIGHUP', () => undefined);
  const args = argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write('usage: tsula-sandboxer [--listen SOCK] [--state DIR] [--config FILE] [--log-level debug|info|warn|error]\n'
      + '       --config FILE (or --vmm-config): the VM sandboxes\' config: vmm.toml, kata\'s configuration.toml or Kuasar\'s config_*.toml\n'
      + '       tsula-sandboxer agent-snapshot [--config FILE] [--guest-dir DIR]   make the VM agent\'s startup snapshot for this host now\n');
    return;
  }
  const level = flag(args, ['--log-level']) as Level | undefined;
  if (args[0] === 'agent-snapshot') {
    process.exitCode = await agentSnapshotCommand(args, new Logger(level ?? 'info'));
    return;
  }
  dropMallocTunables(); // for this node alone, not the VMMs and helpers it starts
  const stateDir = path.resolve(flag(args, ['--state']) ?? process.env.TSULA_SANDBOXER_STATE ?? DEFAULT_STATE);
  const address = path.resolve((flag(args, ['--listen', '--address']) ?? process.env.TSULA_SANDBOXER_ADDRESS ?? DEFAULT_ADDRESS).replace(/^unix:\/\//, ''));
  const given = flag(args, VMM_CONFIG_FLAGS) ?? process.env.TSULA_VMM_CONFIG;
  const vmmConfig = given ? path.resolve(given) : undefined;
  // a config named at start is checked now (as Kuasar's vmm-sandboxer does): a file this
  // host can't honour stops the start with the key's name, not the first VM pod later;
  // its [sandbox] log_level (Kuasar's) applies unless --log-level says otherwise
  // (the parser loads only then: a sandboxer started without one holds none of it)
  let cfg: VmmConfig | undefined;
  let ignored = '';
  try {
    if (vmmConfig) {
      const { ignoredKeysWarning, loadVmmConfig } = await import('../hypervisor/config.js');
      cfg = await loadVmmConfig(vmmConfig);
      ignored = ignoredKeysWarning(cfg, vmmConfig);
    }
  } catch (e) {
    new Logger(level ?? 'info').error('tsula-sandboxer failed to start', { config: vmmConfig, err: errorMessage(e) });
    process.exit(1);
  }
  const log = new Logger(level ?? cfg?.logLevel ?? 'info');
  if (ignored) log.warn(ignored);
  let sb: Sandboxer;
  try {
    sb = await startSandboxer({ stateDir, address, log, vmmConfig });
  } catch (e) {
    log.error('tsula-sandboxer failed to start', { err: errorMessage(e) });
    process.exit(1);
  }
  const stop = () => { void sb.close().finally(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  handleDebugSignal('tsula-sandboxer', stateDir, log);
  process.off('SIGUSR1', earlyUsr1);
  // a lost client connection must never take the daemon (and every pod's stdio) down
  process.on('uncaughtException', (e) => log.error('uncaught exception', { err: errorMessage(e), stack: e.stack }));
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { err: errorMessage(e) }));
  collectWhenIdle();
}

/** `agent-snapshot`: warm the VM agent's snapshot cache for this host's config (ensure-guest.sh). */
async function agentSnapshotCommand(args: string[], log: Logger): Promise<number> {
  const vmmConfig = flag(args, VMM_CONFIG_FLAGS) ?? process.env.TSULA_VMM_CONFIG;
  const guestDir = flag(args, ['--guest-dir']);
  try {
    const { warmAgentSnapshot } = await import('./kinds/vmm/warmup.js');
    const r = await warmAgentSnapshot({ vmmConfig, guestDir: guestDir && path.resolve(guestDir), log });
    if ('off' in r) {
      process.stdout.write(`agent snapshot: off (${r.off})\n`);
    } else {
      const { key, outcome, ms } = r.result;
      const what = outcome === 'made' ? `made in ${(ms / 1000).toFixed(1)} s` : outcome === 'cached' ? 'cached already' : 'being made by another process';
      process.stdout.write(`agent snapshot${key ? ` ${key}` : ''}: ${what} (${r.accel.accel}; cache ${r.dir})\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`tsula-sandboxer agent-snapshot: ${errorMessage(e)}\n`);
    return 1;
  }
}
