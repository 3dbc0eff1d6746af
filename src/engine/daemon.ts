// tsulad: the engine daemon. Wires config, storage, images, runtimes and the API together.
import { trapSignals } from './daemon-signals.js';
import { reloadConfig, type ReloadResult } from './config-reload.js';
import { collectWhenIdle } from '../common/idle-gc.js';
import { dropMallocTunables } from '../common/v8-flags.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_FILE, loadDaemonConfig, type DaemonConfig, type DaemonFlags } from './config.js';
import { parseDaemonArgs } from './daemon-flags.js';
import { Logger } from '../common/log.js';
import { alreadyExists, errorMessage, invalidArgument, isKind, isNoSpace, noSpaceLeft } from '../common/errors.js';
import { faultsFromEnv } from '../common/faults.js';
import { claimSocket, takeLock, type Lock, type SocketClaim } from '../common/unixsocket.js';
import { which } from '../common/which.js';
import { ContainerStore } from './containers/store.js';
import { ContainerService } from './containers/service.js';
import { ExecService } from './containers/exec.js';
import { HealthMonitors } from './containers/health.js';
import { LogRotation } from './containers/log-rotation.js';
import { EventBus } from './events.js';
import { Router } from './api/http.js';
import { createApiServer, listenUnix } from './api/server.js';
import { serveLazily } from '../common/lazy-endpoint.js';
import { startPods } from './pods/index.js';

import { containerRoutes } from './api/containers.js';
import { networkRoutes } from './api/networks.js';
import { volumeRoutes } from './api/volumes.js';
import { startNetworks } from './networks/index.js';
import { ImageMountHooks } from './containers/image-mounts.js';
import { VolumeHooks, VolumeStore } from './volumes/index.js';
import { SharedNamespaceHooks } from './containers/shared-namespaces.js';
import { RunOptionHooks } from './containers/run-options.js';
import { imageRoutes } from './api/images.js';
import { systemRoutes, VERSION } from './api/system.js';
import { swarmRoutes } from './api/swarm.js';
import { archiveRoutes } from './api/archive.js';
import { statsRoutes } from './api/stats.js';
import { containerSize, usageRoutes } from './api/usage.js';
import { ContainerFiles } from './containers/files.js';
import { MountGuard } from '../storage/mountguard.js';
import { newStatsService } from './stats/index.js';
import { createDriver, checkOverlaySupported } from '../storage/index.js';
import { LocalImageStore } from '../image/store.js';
import { RuncConmonRuntime } from '../runtime/runc/runtime.js';
import type { Runtime } from '../runtime/types.js';
import type { Container } from './containers/model.js';
import { findShimBinary, isShimV2RuntimeName, shimBinaryName } from '../runtime/shimv2/names.js';
import type { EventsServer } from '../runtime/shimv2/index.js';
import type { SandboxerInfo } from './api/system.js';
import { DEFAULT_ADDRESS as DEFAULT_SANDBOXER_ADDRESS, DEFAULT_STATE as DEFAULT_SANDBOXER_STATE } from '../sandboxer/admin.js';

/** The runtime name that runs a container in its own VM (tsula run --runtime vmm). */
const VMM_RUNTIME = 'vmm';

export interface Daemon {
  config: DaemonConfig;
  close(): Promise<void>;
  /** SIGHUP, as dockerd's (config-reload.ts). */
  reload?(): Promise<ReloadResult>;
}

/**
 * Refuse to share a graph or state dir with a live tsulad (two engines on one store corrupt
 * it). The lock dies with its holder, even by SIGKILL; the pid file is for people and tools.
 */
async function lockDir(kind: 'graph' | 'state', dir: string): Promise<Lock> {
  const lock = await takeLock(`${kind}:${await fs.realpath(dir)}`);
  if ('heldBy' in lock) throw alreadyExists(`another tsulad${lock.heldBy ? ` (pid ${lock.heldBy})` : ''} is using the ${kind} dir ${dir}`);
  return lock;
}

export async function startDaemon(flags: DaemonFlags, log?: Logger): Promise<Daemon> {
  const config = await loadDaemonConfig(flags);
  const logger = log ?? new Logger(config.logLevel);
  try {
    const d = await startWith(config, logger);
    d.reload = () => reloadConfig(config, flags, logger);
    return d;
  } catch (e) {
    // "ENOSPC: no space left on device, write" alone names neither the disk nor the fix
    throw isNoSpace(e) && !isKind(e, 'ResourceExhausted') ? noSpaceLeft(fullFs(e, config.graph), 'starting tsulad', e) : e;
  }
}

async function startWith(config: DaemonConfig, log: Logger): Promise<Daemon> {
  const faults = faultsFromEnv(process.env.TSULA_FAULT);
  if (process.env.TSULA_FAULT) log.warn(`fault injection: TSULA_FAULT=${process.env.TSULA_FAULT} kills this daemon there`);
  // before anything is touched: a daemon already serving our socket, graph or state stays alone
  await fs.mkdir(path.dirname(config.host), { recursive: true, mode: 0o711 });
  const locks: Array<{ release(): void | Promise<void> }> = [];
  const unlock = async () => { for (const l of locks.splice(0).reverse()) await l.release(); };
  let apiClaim: SocketClaim;
  let criClaim: SocketClaim | undefined;
  try {
    apiClaim = await claimSocket(config.host);
    locks.push(apiClaim);
    if (config.criSocket) {
      await fs.mkdir(path.dirname(config.criSocket), { recursive: true, mode: 0o711 });
      criClaim = await claimSocket(config.criSocket);
      locks.push(criClaim);
    }
    await fs.mkdir(config.graph, { recursive: true, mode: 0o711 });
    await fs.mkdir(config.state, { recursive: true, mode: 0o711 });
    // the real paths, as dockerd's and iSulad's: runc refuses a rootfs with a symlink in its
    // path, and every path made from these reaches runc
    config.graph = await fs.realpath(config.graph);
    config.state = await fs.realpath(config.state);
    locks.push(await lockDir('graph', config.graph), await lockDir('state', config.state));
  } catch (e) {
    await unlock();
    throw e;
  }
  // daemon.json's pidfile (iSulad's key), else in the state dir
  const pidFile = config.pidFile ?? path.join(config.state, 'tsulad.pid');
  await fs.mkdir(path.dirname(pidFile), { recursive: true });
  await fs.writeFile(pidFile, `${process.pid}\n`);
  for (const note of config.notes) log.warn(note);

  const driverRoot = path.join(config.graph, config.storageDriver);
  if (config.storageDriver === 'overlay') {
    const check = await checkOverlaySupported(driverRoot);
    // a full disk: a graph that holds overlay layers already had overlay working; start, so
    // that rm and rmi can free space
    const used = check.noSpace && (await fs.readdir(path.join(driverRoot, 'layers')).catch(() => [])).length > 0;
    if (used) log.warn(`${check.reason}: starting with the overlay layers already there; free space on ${config.graph}`);
    else if (check.noSpace) throw new Error(`cannot start: ${check.reason}; free space on ${config.graph}`);
    else if (!check.supported) throw new Error(`storage driver overlay cannot be used for ${config.graph}: ${check.reason} (or set "storage-driver": "vfs" in daemon.json)`);
  }
  // held mounts: docker cp of a container that exits meanwhile keeps its files until done
  const driver = new MountGuard(await createDriver(config.storageDriver, driverRoot));
  await driver.cleanup();
  const images = new LocalImageStore(path.join(config.graph, 'image'), driver, {
    registry: {
      insecureRegistries: config.insecureRegistries, mirrors: config.registryMirrorsByHost, certsDirs: config.registryCertsDirs,
      configFile: config.configFile ?? DEFAULT_CONFIG_FILE, debug: (msg) => log!.debug(msg),
    },
    faults,
  });
  await images.init();

  const conmon = await which(config.conmonPath);
  if (!conmon) throw new Error(`conmon not found (looked for "${config.conmonPath}" on PATH): install Debian's conmon package`);
  const runtimes = new Map<string, Runtime>();
  const runtimePaths: Record<string, string> = {};
  const events = new EventBus();

  // shim v2 runtimes publish task events to our ttrpc Events/Forward socket (TTRPC_ADDRESS).
  // The shim client (protobuf, ttrpc) and that server load with the first shim v2 runtime:
  // a daemon that runs only runc never pays their memory.
  const ttrpcSock = path.join(config.state, 'tsulad-ttrpc.sock');
  let shimEvents: Promise<EventsServer> | undefined;
  const shimClient = async () => {
    const m = await import('../runtime/shimv2/index.js');
    shimEvents ??= m.startEventsServer(ttrpcSock, (e) => {
      log!.debug('task event', { topic: e.topic, id: e.containerId, ns: e.namespace });
      // the runtime keeps what the exit needs (a TaskOOM: OOMKilled, and the `oom` event the
      // engine emits before the `die`); start/die/exec_* come from the engine's own bookkeeping
      if (e.containerId) for (const rt of runtimes.values()) rt.taskEvent?.(e.topic, e.containerId);
    }, log);
    await shimEvents;
    return m;
  };
  /** Where a sandboxer publishes its tasks' events (the server starts with the first task). */
  const eventsAddress = async () => { await shimClient(); return ttrpcSock; };
  /** io.containerd.<name>.v2 → containerd-shim-<name>-v2, found on PATH or at a configured path. */
  const shimV2 = async (name: string, configured?: string): Promise<Runtime | null> => {
    if (runtimes.has(name)) return runtimes.get(name)!;
    const binary = configured ? await which(configured) : await findShimBinary(name);
    if (!binary) {
      log!.warn(`runtime ${name}: ${configured ?? shimBinaryName(name)} not found on PATH`);
      return null;
    }
    runtimePaths[name] = binary;
    const { ShimV2Runtime } = await shimClient();
    const rt = new ShimV2Runtime({
      name, binary, stateDir: path.join(config.state, 'runtime', name),
      engineAddress: ttrpcSock, eventsAddress: ttrpcSock, publishBinary: process.argv[1] ?? process.execPath, log,
    });
    runtimes.set(name, rt);
    return rt;
  };
  for (const [name, r] of Object.entries(config.runtimes)) {
    if (isShimV2RuntimeName(name)) { await shimV2(name, r.path); continue; }
    const bin = await which(r.path);
    if (!bin) {
      log.warn(`runtime ${name}: binary "${r.path}" not found; containers using it will fail to start`);
      continue;
    }
    runtimePaths[name] = bin;
    runtimes.set(name, new RuncConmonRuntime({
      name, runtimePath: bin, runtimeArgs: r.runtimeArgs, conmonPath: conmon,
      stateDir: path.join(config.state, 'runtime', name), faults, log,
    }));
  }
  // a runtime handler named in cri-sandboxers runs its containers in sandboxes of that
  // sandboxer; the gRPC client is loaded only when one is configured
  if (Object.keys(config.criSandboxers).length) {
    const { SandboxerRuntime } = await import('../sandboxer/client.js');
    for (const [handler, sb] of Object.entries(config.criSandboxers)) {
      runtimes.set(handler, new SandboxerRuntime({
        name: config.criRuntimes[handler] ?? `io.containerd.${sb.name}.v1`,
        address: sb.address, sandboxer: sb.name, eventsAddress,
        stateDir: path.join(config.state, 'runtime', handler), log,
      }));
      runtimePaths[handler] = `sandboxer ${sb.name} at ${sb.address}`;
    }
  }
  /**
   * `--runtime vmm` without any configuration: a VM per container, in the one
   * tsula-sandboxer at its default address (TSULA_SANDBOXER_STATE/ADDRESS move it), started
   * on first use. Loaded lazily: the gRPC client costs memory tsulad doesn't otherwise need.
   */
  const vmmState = path.resolve(process.env.TSULA_SANDBOXER_STATE || DEFAULT_SANDBOXER_STATE);
  const vmmAddress = path.resolve((process.env.TSULA_SANDBOXER_ADDRESS || DEFAULT_SANDBOXER_ADDRESS).replace(/^unix:\/\//, ''));
  // which sandboxers this daemon uses (GET /info): `tsula sandbox ls` lists this daemon's pods
  const sandboxers: SandboxerInfo[] = [
    { Runtime: VMM_RUNTIME, Name: 'vmm', Address: vmmAddress, State: vmmState },
    ...Object.entries(config.criSandboxers).map(([handler, sb]) => ({ Runtime: handler, Name: sb.name, Address: sb.address })),
  ];
  const builtinVmm = async (): Promise<Runtime | null> => {
    if (runtimes.has(VMM_RUNTIME)) return runtimes.get(VMM_RUNTIME)!;
    const { SandboxerRuntime } = await import('../sandboxer/client.js');
    const state = vmmState;
    const address = vmmAddress;
    const rt = new SandboxerRuntime({
      name: 'io.containerd.vmm.v1', address, sandboxer: 'vmm', autoStart: { state }, eventsAddress,
      stateDir: path.join(config.state, 'runtime', VMM_RUNTIME), log,
    });
    runtimes.set(VMM_RUNTIME, rt);
    runtimePaths[VMM_RUNTIME] = `tsula-sandboxer (vmm) at ${address}`;
    return rt;
  };
  if (!runtimes.has(config.defaultRuntime) && !(isShimV2RuntimeName(config.defaultRuntime) && await shimV2(config.defaultRuntime))) {
    throw new Error(`default runtime "${config.defaultRuntime}" is not available`);
  }

  const store = new ContainerStore(path.join(config.graph, 'containers'), undefined, { log });
  // networks and volumes look containers up through the service, made just below
  let cs: ContainerService | null = null;
  const containers = {
    get: (ref: string) => cs!.get(ref), list: () => cs!.list(), save: (rec: Container) => store.save(rec),
  };
  /**
   * Containers of the vmm runtime or a vmm-kind sandboxer run in a VM: their pids and
   * namespaces are the guest's (a runc-kind sandboxer's are the host's). Known by name: a
   * runtime may be resolved only at its first start.
   */
  const isVmRuntime = (name: string) => name === VMM_RUNTIME || config.criSandboxers[name]?.name === 'vmm';
  const networks = await startNetworks(config, log, events, { containers, isVmRuntime, names: store.names, log }, faults);
  const volumes = new VolumeStore(path.join(config.graph, 'volumes'), events, log, faults);
  await volumes.load();
  volumes.setContainers(containers.list);
  const rotation = new LogRotation({ log, reopen: (id) => cs!.reopenLog(id), canReopen: (rec) => { try { return !!cs!.runtimeOf(rec).reopenLog; } catch { return false; } } });
  const health = new HealthMonitors({
    events, log, attrs: (rec) => cs!.attrs(rec), get: (id) => { try { return cs!.get(id); } catch { return undefined; } },
  });
  const volumeHooks = new VolumeHooks({ store: volumes, containers, log });
  const sharedNamespaces = new SharedNamespaceHooks({ find: (ref) => { try { return cs!.get(ref); } catch { return undefined; } }, bundle: (id) => cs!.bundle(id), isVmRuntime });
  cs = new ContainerService({
    store, images, driver, runtimes, defaultRuntime: config.defaultRuntime, events, log,
    stateDir: path.join(config.state, 'containers'), graph: config.graph, faults,
    // any io.containerd.<name>.v2 not configured is resolved on first use, `vmm` too
    resolveRuntime: (name) => (isShimV2RuntimeName(name) ? shimV2(name) : name === VMM_RUNTIME ? builtinVmm() : Promise.resolve(null)),
    hooks: [new RunOptionHooks({ initPath: config.initPath }), sharedNamespaces, volumeHooks, new ImageMountHooks({ driver, images }), networks.hooks, health, rotation],
    ...(config.initPath ? { initPath: config.initPath } : {}),
    ...(config.umask !== undefined ? { umask: config.umask } : {}),
    ...(config.realtime ? { realtime: config.realtime } : {}),
    ...(config.defaultUlimits ? { defaultUlimits: config.defaultUlimits } : {}),
    ...(config.hookSpec ? { hookSpec: config.hookSpec } : {}),
  });
  await cs.recover();
  const es = new ExecService(cs);
  health.setExec(es);
  const pods = await startPods({
    config, cs, log, faults,
    handler: async (h) => {
      const name = h || config.defaultRuntime;
      if (name === VMM_RUNTIME) return { runtime: VMM_RUNTIME, sandboxer: { kind: 'vmm', address: vmmAddress, autoStartState: vmmState } };
      const sb = config.criSandboxers[name];
      if (sb) return { runtime: name, sandboxer: { kind: sb.name, address: sb.address } };
      const rt = config.criRuntimes[name] ?? name;
      if (config.runtimes[rt] || isShimV2RuntimeName(rt)) return { runtime: rt };
      throw invalidArgument(`unknown runtime handler "${h}" (configured: ${['vmm', ...Object.keys(config.runtimes), ...Object.keys(config.criRuntimes), ...Object.keys(config.criSandboxers)].join(', ')})`);
    },
  });

  const router = new Router();
  systemRoutes(router, { cs, images, driver, config, events, runtimePaths, sandboxers });
  swarmRoutes(router);
  // a stopped container's volumes with options are mounted for a docker cp, as dockerd does
  const files = new ContainerFiles(driver, (c) => volumeHooks.holdForCopy(c));
  containerRoutes(router, cs, es, {
    networkId: (name) => { try { return networks.service.get(name).id; } catch { return ''; } },
    sizeOf: (c) => containerSize(files, images, c),
    graphData: (c) => driver.graphData(c.id),
    links: { remove: (ref) => networks.hooks.removeLink(ref), hostLinks: (c) => networks.hooks.hostLinks(c) },
    ...(config.logDefaults ? { logDefaults: config.logDefaults } : {}),
    ...(config.namespaceDefaults ? { namespaceDefaults: config.namespaceDefaults } : {}),
  });
  networkRoutes(router, networks.service, networks.hooks);
  volumeRoutes(router, volumes);
  imageRoutes(router, images, cs, events, driver);
  // docker build unpacks contexts under <graph>/build: what a crash left goes now
  const buildRoot = path.join(config.graph, 'build');
  await fs.rm(buildRoot, { recursive: true, force: true });
  archiveRoutes(router, { cs, files, images, events, build: { driver, workRoot: buildRoot, engineVersion: VERSION } });
  statsRoutes(router, cs, newStatsService({ storageDriver: config.storageDriver, driverRoot, pods, cs }));
  usageRoutes(router, { cs, files, images, events, volumes });
  // a write a handler did not expect to fail for lack of space names the disk and the fix
  const server = createApiServer(router, log, (e, method, p) =>
    (isNoSpace(e) && !isKind(e, 'ResourceExhausted') ? noSpaceLeft(fullFs(e, config.graph), `serving ${method} ${p}`, e) : e));
  await listenUnix(server, apiClaim, config.group, log);
  log.info(`tsulad ${VERSION} listening`, { host: `unix://${config.host}`, graph: config.graph, state: config.state, driver: driver.name });
  // the CRI front end is loaded when its first client connects (grpc-js and the CRI messages cost memory)
  const cri = criClaim
    ? await serveLazily(criClaim, 'CRI', async () => (await import('../cri/index.js')).startCri({ config, images, cs, es, pods, driverRoot, version: VERSION, log }), log)
    : null;

  return {
    config,
    async close() {
      await cri?.close();
      server.close();
      server.closeAllConnections();
      cs.close();
      health.close();
      rotation.close();
      for (const rt of runtimes.values()) rt.close();
      await store.flushPending(); // a last try for what a full disk kept in memory
      store.close();
      await (await shimEvents?.catch(() => undefined))?.close();
      images.close();
      await fs.rm(pidFile, { force: true });
      await unlock(); // the API socket goes only if it is still ours
    },
  };
}

/** Where a no-space error happened: the path it names when that is outside the graph, else the graph. */
function fullFs(e: unknown, graph: string): string {
  const p = (e as NodeJS.ErrnoException).path;
  return p && !path.resolve(p).startsWith(path.resolve(graph) + path.sep) ? path.dirname(p) : graph;
}

export async function main(argv: string[]): Promise<void> {
  const cmd = parseDaemonArgs(argv.slice(2), VERSION);
  if ('exit' in cmd) {
    if (cmd.stdout) process.stdout.write(cmd.stdout);
    if (cmd.stderr) process.stderr.write(cmd.stderr);
    process.exit(cmd.exit);
  }
  dropMallocTunables(); // for this node alone, not the runtimes and plugins it starts
  const signals = trapSignals();
  let daemon: Daemon;
  try {
    daemon = await startDaemon(cmd.flags);
  } catch (e) {
    process.stderr.write(`tsulad: ${errorMessage(e)}\n`);
    process.exit(1);
  }
  signals.started(daemon);
  // a bug on one request's path must not take the API down for every client: logged with its
  // stack, as the sandboxer does (the containers never depended on this process being up)
  const errors = new Logger('error');
  process.on('uncaughtException', (e) => errors.error('uncaught exception', { err: errorMessage(e), stack: e.stack }));
  process.on('unhandledRejection', (e) => errors.error('unhandled rejection', { err: errorMessage(e) }));
  collectWhenIdle();
}
