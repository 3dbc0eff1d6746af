// A task's creation (TaskManager.create delegates): which sandbox it runs in (its pod's, one
// made for it alone, or none), its record, its rootfs mount, its stdio and the runtime's
// container; a step that fails undoes those before it. The manager registers the task.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readJson } from '../../common/fsutil.js';
import { POD_ID_ANNOTATIONS, isEnginePodSandbox } from '../../common/pod-annotations.js';
import { SHIM_INFO_FILE, type ShimInfo } from '../admin.js';
import { VMM_CONFIG_ANNOTATION } from '../kinds/vmm/config.js';
import { HOSTNAME_ANNOTATION, podFromSpec, podAnnotations } from '../podspec.js';
import type { Sandboxes } from '../sandboxes.js';
import { openProcessIo } from './io-direct.js';
import { mountRootfs, unmountRootfs } from './mounts.js';
import { EXIT_ID } from '../../runtime/runc/exits.js';
import { runId, taskKey, type TaskRecord } from './records.js';
import { adaptSpec, readBundleSpec } from './spec.js';
import { Task, type CreateTask } from './task.js';
import type { TaskOps } from './task-ops.js';

/**
 * conmon's own copy of a task's output: containerd has it through the FIFOs, so this file only
 * needs the recent lines, and the state dir is usually a tmpfs (memory).
 */
const CONMON_LOG_MAX = 1 << 20;
/** A task with this annotation and no pod runs in a sandbox of that kind made for it alone. */
export const SANDBOX_KIND_ANNOTATION = 'io.tsula.sandbox-kind';
/** On a sandbox made for one task: that task's key (a sandbox whose task is gone is dropped at start). */
export const OWNER_TASK_ANNOTATION = 'io.tsula.owner-task';

/** What containerd-shim-tsula-v2 `start` left in the bundle; absent when a sandbox client calls us directly. */
export async function shimInfo(c: CreateTask): Promise<ShimInfo | null> {
  const info = await readJson<ShimInfo>(path.join(c.bundle, SHIM_INFO_FILE)).catch(() => null);
  return info?.id === c.id ? info : null;
}

/** The namespace of a task created on the sandboxer's own socket: the launcher's, else its bundle's parent (containerd's layout). */
export function taskNamespace(c: CreateTask, reg: ShimInfo | null): string {
  return reg?.namespace || path.basename(path.dirname(c.bundle)) || 'default';
}

/** The task `c` of `namespace` (`reg`: its shimInfo), created in its runtime and recorded, not yet started. */
export async function createTask(ops: TaskOps, c: CreateTask, namespace: string, reg: ShimInfo | null): Promise<Task> {
  const spec = await readBundleSpec(c.bundle);
  const key = taskKey(namespace, c.id);
  const ann = spec.annotations ?? {};
  let sandboxId = POD_ID_ANNOTATIONS.map((k) => ann[k]).find((v) => v && ops.sandboxes.find(v)) ?? '';
  // iSulad's podsandbox container makes the pod's sandbox, of the kind it names (or the
  // sandboxer's default); the pod's other containers name it and join it
  const ownKind = !sandboxId
    ? ann[SANDBOX_KIND_ANNOTATION] ?? (c.configPath ? 'vmm' : isEnginePodSandbox(ann) ? ops.defaultKind : undefined)
    : undefined;
  if (ownKind) {
    // the task's spec says where the pod is: containerd's CRI sandbox container has the
    // pod's netns (CNI's), hostname and sysctls; no network namespace at all is the host's network
    const pod = podFromSpec(spec);
    sandboxId = await ops.sandboxes.createFor(c.id, ownKind, {
      ...(pod.hostname ? { [HOSTNAME_ANNOTATION]: pod.hostname } : {}), ...podAnnotations(pod), ...ann,
      ...(c.configPath ? { [VMM_CONFIG_ANNOTATION]: c.configPath } : {}),
      [OWNER_TASK_ANNOTATION]: key,
    }, pod);
  }
  const rec: TaskRecord = {
    id: c.id, key, namespace, bundle: c.bundle, dir: ops.records.taskDir(key), sandboxId, ownsSandbox: !!ownKind,
    eventsAddress: reg?.eventsAddress ?? '', terminal: c.terminal,
    stdin: c.stdin, stdout: c.stdout, stderr: c.stderr, rootfsMounted: false, pid: 0, status: 'created',
    ...(spec.linux?.namespaces?.some((n) => n.type === 'pid' && !n.path) ? {} : { killAllOnExit: true }),
  };
  await fs.rm(rec.dir, { recursive: true, force: true });
  await ops.records.save(rec);
  const t = new Task(rec);
  try {
    if (c.rootfs.length) {
      await mountRootfs(c.rootfs, path.join(c.bundle, 'rootfs'));
      rec.rootfsMounted = true;
      await ops.records.save(rec);
    }
    await adaptSpec(spec, c.bundle);
    if (sandboxId) ops.sandboxes.joinSpec(sandboxId, spec);
    const rt = await ops.rt(rec);
    // runc under containerd's own id, as runc-v2 (its hooks' state names it), unless a task of
    // another namespace has that id: the key then. Recorded before runc knows it.
    // (nor a stale state of that name in runc's root: a crash's; nor a name the exit watcher
    // would not take: EXIT_ID)
    if (rt === ops.runtime && EXIT_ID.test(c.id) && !(await rt.hasState?.(c.id)) && ops.claimRuntimeId(c.id)) {
      rec.runcId = c.id;
      await ops.records.save(rec);
    }
    const { io, direct } = await openProcessIo(rt, c, c.terminal, { id: rec.id, namespace: rec.namespace });
    t.io = io;
    // stdinOnce: our attach connection going away (CloseIO) is the container's stdin EOF
    try {
      rec.pid = await rt.create({
        id: runId(rec), bundle: rec.dir, spec, logPath: path.join(rec.dir, 'container.log'), logSizeMax: CONMON_LOG_MAX,
        terminal: c.terminal, stdin: !!c.stdin, stdinOnce: true, ...(direct ? { passthrough: direct.fds } : {}),
      });
    } finally {
      direct?.release();
    }
    if (direct) rec.directIo = true;
    else io.connect(await rt.attach(runId(rec), rec.dir));
    await ops.records.save(rec);
  } catch (e) {
    t.io?.close();
    await (await ops.rt(rec).catch(() => ops.runtime)).delete(runId(rec), rec.dir, true).catch(() => {});
    if (rec.rootfsMounted) await unmountRootfs(path.join(c.bundle, 'rootfs'));
    await dropOwnSandbox(ops.sandboxes, rec);
    await ops.records.remove(rec);
    if (rec.runcId) ops.releaseRuntimeId(rec.runcId);
    throw e;
  }
  return t;
}

/** The sandbox made for this task alone goes with it. */
export async function dropOwnSandbox(sandboxes: Sandboxes, rec: TaskRecord): Promise<void> {
  if (rec.ownsSandbox && rec.sandboxId) await sandboxes.discard(rec.sandboxId);
}
