// CRI's container RPCs on the engine's container service, and the engine behind the
// streaming server (exec, attach). Only containers made through CRI (they belong to a pod)
// are CRI's: a `tsula run` container is not listed to kubelet.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CgroupDriver } from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { deadlineExceeded, failedPrecondition, internal, invalidArgument, isKind, notFound } from '../common/errors.js';
import { running, type Container } from '../engine/containers/model.js';
import type { ContainerService } from '../engine/containers/service.js';
import type { ExecService } from '../engine/containers/exec.js';
import { checkPropagation } from '../engine/containers/spec.js';
import type { PodService } from '../engine/pods/service.js';
import type { StdioStream } from '../runtime/types.js';
import type { StreamingRuntime, StreamIO } from './streaming/index.js';
import { checkApparmorProfile } from '../oci/apparmor.js';
import { checkSeccompProfile, containerStatusToCri, containerToCri, createSpecFromCri, criStateName, matchesFilter } from './containers.js';
import type { RuntimeServiceImpl } from './server.js';
import { killExec } from '../runtime/exec-signal.js';

export interface CriContainerDeps {
  cs: ContainerService;
  es: ExecService;
  pods: PodService;
  /** An image's names as CRI shows them (fully qualified), or null when it is gone. */
  imageNames?: (id: string) => Promise<{ repoTags: string[]; repoDigests: string[] } | null>;
}

type Rpcs = Pick<RuntimeServiceImpl, 'createContainer' | 'startContainer' | 'stopContainer' | 'removeContainer' | 'listContainers'
  | 'containerStatus' | 'updateContainerResources' | 'reopenContainerLog' | 'execSync' | 'runtimeConfig'>;

/** A CRI container by id or unique prefix (crictl passes prefixes); NotFound otherwise. */
function getCri(cs: ContainerService, ref: string): Container {
  const c = cs.get(ref);
  // a container of the Docker-shaped API is not kubelet's to see
  if (!c.config.cri) throw notFound(`container "${ref}" not found`);
  return c;
}

/**
 * Exec and Attach refuse a container that is not running in the RPC itself, before handing
 * out a stream URL (containerd's words; its code is Unknown, ours FailedPrecondition).
 */
export function requireCriRunning(cs: ContainerService, ref: string): void {
  const c = getCri(cs, ref);
  const state = criStateName(c);
  if (state !== 'CONTAINER_RUNNING') throw failedPrecondition(`container is in ${state} state`);
}

/** A detach at the client's EOF waits for the output to pause this long, and no longer than the max. */
const DETACH_QUIET_MS = 150;
const DETACH_MAX_MS = 3000;

/**
 * Copy a process' stdio to a streaming client until the process' output ends. A client that
 * reads slower than the process writes makes the process wait (the stdio pauses until the
 * client's stream drains), rather than tsulad hold what it has not read. The client's stdin
 * ending closes the process' stdin, or, with `detachOnStdinEnd`, ends the session and leaves
 * the process as it is (containerd's ContainerIO.Attach: a detach, ctrl-p ctrl-q in kubectl).
 */
export function connectStdio(stdio: StdioStream, io: StreamIO, onResize: (w: number, h: number) => Promise<void>, o: { detachOnStdinEnd?: boolean } = {}): Promise<void> {
  let detached!: () => void;
  const ended = new Promise<void>((resolve) => { detached = resolve; stdio.onEnd(resolve); });
  const full = new Set<NodeJS.WritableStream>();
  let lastOutput = 0;
  stdio.onOutput((stream, data) => {
    lastOutput = Date.now();
    const out = stream === 2 && !io.tty ? io.stderr : io.stdout;
    if (!out || out.write(data) || !stdio.pause || full.has(out)) return;
    full.add(out);
    stdio.pause();
    // drained, or gone (a client that left must not keep the process waiting)
    const go = () => {
      out.off('drain', go);
      out.off('close', go);
      full.delete(out);
      if (!full.size) stdio.resume?.();
    };
    out.on('drain', go);
    out.on('close', go);
  });
  io.stdin?.on('data', (d: Buffer) => stdio.write(d));
  io.stdin?.on('end', () => {
    if (!o.detachOnStdinEnd) return stdio.closeStdin();
    // what the process answers to the last input still reaches the client: the detach waits
    // for its output to pause a moment (at most a few), which containerd's does not
    const end = Date.now() + DETACH_MAX_MS;
    const detach = () => {
      if (Date.now() - lastOutput < DETACH_QUIET_MS && Date.now() < end) return void setTimeout(detach, DETACH_QUIET_MS).unref();
      stdio.close();
      detached();
    };
    setTimeout(detach, DETACH_QUIET_MS).unref();
  });
  if (io.resize) {
    void (async () => {
      for await (const s of io.resize!) await onResize(s.width, s.height).catch(() => { /* the process may be gone */ });
    })().catch(() => {});
  }
  return ended;
}

/** A CRI container's status as ContainerStatus gives it (and container events carry it). */
export async function fullStatus(d: Pick<CriContainerDeps, 'imageNames'>, c: Container): Promise<ReturnType<typeof containerStatusToCri>> {
  const status = containerStatusToCri(c);
  // containerd's (dockershim's) view: the image by its first tag, image_ref its first repo
  // digest (kubelet shows it as the pod's imageID); the config's name and the id otherwise
  const names = await d.imageNames?.(c.image).catch(() => null);
  if (names?.repoTags[0]) status.image = { image: names.repoTags[0], annotations: {} };
  if (names?.repoDigests[0]) status.imageRef = names.repoDigests[0];
  return status;
}

export function streamingRuntime(d: CriContainerDeps): Pick<StreamingRuntime, 'exec' | 'attach'> {
  return {
    exec: async (req, io, signal) => {
      const c = getCri(d.cs, req.containerId);
      d.cs.requireRunning(c);
      const { id, handle } = await d.es.run(c.id, { cmd: req.cmd, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr });
      // the client leaving does not end the process (containerd runs it on a background
      // context, as dockerd does): it runs on, its output dropped; once it exited, what a
      // child left in the background holds is let go (nobody will read it)
      let exited = false;
      void handle.exited.then(() => { exited = true; if (signal.aborted) handle.stdio?.close(); }, () => {});
      const onAbort = () => {
        if (!exited && handle.stdio?.discard) handle.stdio.discard(); else handle.stdio?.close();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        if (handle.stdio) await connectStdio(handle.stdio, io, (w, h) => d.es.resize(id, h, w));
        return { exitCode: await handle.exited };
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
    attach: async (req, io, signal) => {
      const c = getCri(d.cs, req.containerId);
      if (!running(c.state)) throw failedPrecondition(`container ${c.id} is not running`);
      const stdio = await d.cs.attach(c.id, signal);
      if (!stdio) return;
      // the client leaving is a detach: the container keeps its stdin for the next attach
      const onAbort = () => stdio.close();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        // only a stdin-once container without a TTY takes the client's EOF as its own
        await connectStdio(stdio, io, (w, h) => d.cs.resize(c.id, h, w), { detachOnStdinEnd: !(c.config.stdinOnce && !c.config.tty) });
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

const REOPEN_WAIT_MS = 3000;

/** Whether `file` exists within `ms` (polled: the writer is another process). */
async function fileAppears(file: string, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; ;) {
    if (await fs.access(file).then(() => true, () => false)) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * containerd's ExecSync keeps at most 16 MiB of each stream and drops the rest (its
 * cappedWriter, since 1.6.6: a probe's output must not eat the daemon's memory). A reply that
 * still exceeds the 16 MiB gRPC limit fails with RESOURCE_EXHAUSTED there, as it does here.
 */
export const EXEC_SYNC_MAX_STREAM = 16 * 1024 * 1024;

export function cappedBuffer(max: number): { write(b: Buffer): void; bytes(): Buffer } {
  const parts: Buffer[] = [];
  let size = 0;
  return {
    write: (b) => {
      if (size >= max) return;
      const part = b.length > max - size ? b.subarray(0, max - size) : b;
      parts.push(part);
      size += part.length;
    },
    bytes: () => Buffer.concat(parts, size),
  };
}

/** Run a command to its end and keep its output (ExecSync), within `timeoutSecs` when > 0. */
async function execSync(d: CriContainerDeps, ref: string, cmd: string[], timeoutSecs: number, signal?: AbortSignal): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
  if (!cmd.length) throw invalidArgument('ExecSync: cmd is required');
  const c = getCri(d.cs, ref);
  const state = criStateName(c);
  if (state !== 'CONTAINER_RUNNING') throw failedPrecondition(`failed to exec in container: container is in ${state} state`); // containerd's words
  const { handle } = await d.es.run(c.id, { cmd, tty: false, stdin: false, stdout: true, stderr: true });
  const out = cappedBuffer(EXEC_SYNC_MAX_STREAM);
  const err = cappedBuffer(EXEC_SYNC_MAX_STREAM);
  const ended = new Promise<void>((resolve) => {
    if (!handle.stdio) { resolve(); return; }
    handle.stdio.onOutput((s, b) => (s === 2 ? err : out).write(b));
    handle.stdio.onEnd(resolve);
  });
  const done = Promise.all([ended, handle.exited]).then(([, code]) => code);
  let timer: NodeJS.Timeout | undefined;
  const limit = timeoutSecs > 0
    ? new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), timeoutSecs * 1000); })
    : new Promise<never>(() => {});
  // the client gone (its deadline, or it left): containerd's exec context ends with its call
  const gone = new Promise<'gone'>((r) => signal?.addEventListener('abort', () => r('gone'), { once: true }));
  try {
    const r = await Promise.race([done, limit, gone]);
    if (r === 'timeout' || r === 'gone') {
      // killed where it runs (a VM's guest, through the task's API), then its exit waited for
      // a moment, as containerd's execInternal does; the answer is DeadlineExceeded either way
      // (kubelet counts only that as a probe's timeout)
      await killExec(handle);
      await Promise.race([handle.exited.catch(() => 0), new Promise((res) => setTimeout(res, 5000).unref())]);
      // what a child left in the background still holds is let go (containerd 1.7 deletes
      // the exec for it after drain_exec_sync_io_timeout): nobody reads it any more
      handle.stdio?.close();
      // containerd's words (kubelet's and iSulad's tests look for "timeout")
      // the client left: nobody reads this answer, which says so in containerd's words
      if (r === 'gone') throw deadlineExceeded('failed to exec in container: context canceled');
      throw deadlineExceeded(`failed to exec in container: timeout ${timeoutSecs}s exceeded: context deadline exceeded`);
    }
    return { stdout: out.bytes(), stderr: err.bytes(), exitCode: r };
  } finally {
    clearTimeout(timer);
  }
}

export function criContainerService(d: CriContainerDeps): Rpcs {
  const { cs, pods } = d;
  const pidOf = (ref: string) => { try { const t = getCri(cs, ref); return running(t.state) ? t.state.pid : 0; } catch { return 0; } };
  return {
    createContainer: async (req) => {
      if (!req.config) throw invalidArgument('CreateContainer: config is required');
      // a container joins only a ready pod (CRI: the pod's namespaces must still be there)
      const pod = pods.requireReady(req.podSandboxId);
      const spec = createSpecFromCri(req.config, pod, pidOf);
      await checkSeccompProfile(spec);
      await checkApparmorProfile(spec.security.apparmor);
      // as containerd's spec at create (ensureShared / ensureSharedOrSlave): a propagation the
      // host's mount can't give fails CreateContainer, not a start that leaves a StartError
      checkPropagation(spec.binds);
      if (spec.logPath) await fs.mkdir(path.dirname(spec.logPath), { recursive: true });
      const { Id } = await cs.create(spec);
      return { containerId: Id };
    },
    startContainer: async (req) => {
      const c = getCri(cs, req.containerId);
      if (c.state.status !== 'created') throw failedPrecondition(`container ${c.id} is in ${c.state.status} state: only a created container can be started`);
      // under the pod's lock: a StopPodSandbox racing it stops it too, or comes first and refuses it
      await pods.whileReady(c.config.pod!.id, () => cs.start(c.id));
      return {};
    },
    stopContainer: async (req, signal) => {
      let c: Container;
      try {
        c = getCri(cs, req.containerId);
      } catch (e) {
        if (isKind(e, 'NotFound')) return {}; // CRI: stopping what is gone is no error (containerd)
        throw e;
      }
      await cs.stopCri(c.id, Number(req.timeout), signal);
      return {};
    },
    removeContainer: async (req) => {
      let c: Container;
      try {
        c = getCri(cs, req.containerId);
      } catch (e) {
        if (isKind(e, 'NotFound')) return {}; // CRI: removing what is gone is no error
        throw e;
      }
      // its image's VOLUMEs go with it: containerd keeps them in the container's root dir
      await cs.remove(c.id, { force: true, volumes: true });
      return {};
    },
    listContainers: async (req) => ({
      containers: cs.list().filter((c) => c.config.cri && matchesFilter(c, req.filter)).map(containerToCri),
    }),
    containerStatus: async (req) => {
      const c = getCri(cs, req.containerId);
      const info: Record<string, string> = {};
      if (req.verbose) {
        // the spec the start wrote; for one not started yet, the spec a start would write
        // (containerd builds it at CreateContainer, and its status always shows it)
        const spec = await fs.readFile(path.join(cs.bundle(c.id), 'config.json'), 'utf8').then((t) => JSON.parse(t) as unknown, () => null)
          ?? (c.state.status === 'created' ? await specOfCreated(cs, c.id).catch(() => null) : null);
        info.info = JSON.stringify({ pid: c.state.pid, sandboxID: c.config.pod?.id ?? '', runtime: c.runtime, config: c.config, runtimeSpec: spec });
      }
      return { status: await fullStatus(d, c), info };
    },
    updateContainerResources: async (req) => {
      const c = getCri(cs, req.containerId);
      const r = req.linux;
      if (!r) return {};
      const memory = Number(r.memoryLimitInBytes);
      const swap = Number(r.memorySwapLimitInBytes);
      await cs.update(c.id, {
        CpuPeriod: Number(r.cpuPeriod), CpuQuota: Number(r.cpuQuota), CpuShares: Number(r.cpuShares), Memory: memory,
        CpusetCpus: r.cpusetCpus, CpusetMems: r.cpusetMems,
        // as at create (containerd): a memory limit without a swap one means no swap
        ...(swap || memory ? { MemorySwap: swap || memory } : {}),
      });
      return {};
    },
    reopenContainerLog: async (req) => {
      const c = getCri(cs, req.containerId);
      if (!running(c.state)) throw failedPrecondition('container is not running'); // containerd's words
      await cs.reopenLog(c.id);
      // conmon reopens in its own time: the call returns once the new file is there (CRI-O
      // waits the same, 3 s at most), as kubelet and critest look for it at once
      if (!await fileAppears(c.paths.log, REOPEN_WAIT_MS)) throw internal(`ReopenContainerLog: ${c.paths.log} of container ${c.id} was not reopened within ${REOPEN_WAIT_MS / 1000}s`);
      return {};
    },
    execSync: async (req, signal) => {
      const r = await execSync(d, req.containerId, req.cmd, Number(req.timeout), signal);
      return { stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode };
    },
    // containers' cgroups are cgroupfs paths under /tsula (or the pod's cgroup_parent)
    runtimeConfig: async () => ({ linux: { cgroupDriver: CgroupDriver.CGROUPFS } }),
  };
}

/** The OCI spec a created container's start would give runc: its rootfs mounted for the lookups (users, workdir) and left as it was. */
function specOfCreated(cs: ContainerService, id: string): Promise<unknown> {
  return cs.locked(id, async () => {
    const c = cs.get(id);
    if (c.state.status !== 'created') return null;
    const rootfs = await cs.d.driver.mount(c.id);
    try {
      return await cs.specFor(c, rootfs);
    } finally {
      await cs.d.driver.unmount(c.id).catch(() => {});
    }
  });
}
