// containerd.task.v2.Task over ttrpc for every task of every sandbox: protobuf in and out,
// the work is TaskManager's. Errors are TsulaErrors; the ttrpc server maps them to codes.
import { create, toBinary } from '@bufbuild/protobuf';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { ProcessDetailsSchema } from '../../gen/github.com/containerd/containerd/runtime/v2/runc/options/oci_pb.js';
import { Task as TaskService } from '../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import type { ServiceImpl } from '../../ttrpc/server.js';
import type { LinuxResources, Process } from '../../oci/types.js';
import { invalidArgument, unimplemented } from '../../common/errors.js';
import type { TaskManager } from './manager.js';
import { ts } from './topics.js';
import { runtimeConfigPath } from './options.js';
import { toMetricsAny } from '../../cgroups/metrics.js';
import { RESOURCES_TYPE_URL } from '../../agent/protocol.js';

type TaskMethods = typeof TaskService extends GenService<infer S> ? S : never;

const STATUS = { created: Status.CREATED, running: Status.RUNNING, paused: Status.PAUSED, stopped: Status.STOPPED } as const;

export { TaskService };

/**
 * The Task API for the tasks of namespace `ns` (its own socket, see namespace-sockets.ts), or
 * for every namespace's (the sandboxer's own task socket: an id names one task of any).
 */
export function taskService(m: TaskManager, ns?: string): ServiceImpl<TaskMethods> {
  const get = (id: string) => m.get(id, ns);
  return {
    create: async (r) => ({
      pid: await m.create({
        id: r.id, bundle: r.bundle, terminal: r.terminal, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr,
        rootfs: r.rootfs.map((x) => ({ type: x.type, source: x.source, options: x.options })),
        configPath: runtimeConfigPath(r.options),
      }, ns),
    }),
    start: async (r) => ({ pid: await m.start(get(r.id), r.execId) }),
    delete: async (r) => {
      const x = await m.delete(get(r.id), r.execId);
      return { pid: x.pid, exitStatus: x.exitStatus, exitedAt: ts(x.exitedAt) };
    },
    state: (r) => {
      const t = get(r.id);
      if (r.execId) {
        const e = m.exec(t, r.execId);
        return {
          id: r.execId, execId: r.execId, bundle: t.rec.bundle, pid: e.pid, status: STATUS[e.status],
          stdin: e.paths.stdin, stdout: e.paths.stdout, stderr: e.paths.stderr, terminal: !!e.process.terminal,
          exitStatus: e.exitStatus, exitedAt: ts(e.exitedAt),
        };
      }
      const c = t.rec;
      return {
        id: c.id, bundle: c.bundle, pid: c.pid, status: STATUS[c.status], stdin: c.stdin, stdout: c.stdout,
        stderr: c.stderr, terminal: c.terminal, exitStatus: c.exitStatus ?? 0, exitedAt: ts(c.exitedAt ? new Date(c.exitedAt) : null),
      };
    },
    pids: async (r) => {
      const t = get(r.id);
      const pids = t.rec.status === 'stopped' ? [] : await m.pids(t);
      // an exec's process says which exec it is, as containerd-shim-runc-v2 tells it (`ctr t ps`)
      const execOf = new Map([...t.execs.values()].filter((e) => e.status === 'running' && e.pid).map((e) => [e.pid, e.execId]));
      return { processes: pids.map((pid) => ({ pid, info: processDetails(execOf.get(pid)) })) };
    },
    kill: async (r) => { await m.kill(get(r.id), r.execId, r.signal, r.all); return {}; },
    exec: async (r) => {
      let process: Process;
      try {
        process = JSON.parse(Buffer.from(r.spec?.value ?? new Uint8Array()).toString('utf8')) as Process;
      } catch (e) {
        throw invalidArgument(`exec ${r.execId}: the process spec is not JSON: ${(e as Error).message}`);
      }
      if (!Array.isArray(process?.args) || !process.args.length) throw invalidArgument(`exec ${r.execId}: the process has no args`);
      process.terminal = r.terminal;
      await m.addExec(get(r.id), r.execId, process, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr });
      return {};
    },
    resizePty: async (r) => { await m.resize(get(r.id), r.execId, r.height, r.width); return {}; },
    closeIO: (r) => {
      const t = get(r.id);
      if (r.stdin) (r.execId ? m.exec(t, r.execId).io : t.io)?.closeStdin();
      return {};
    },
    wait: async (r) => {
      const x = await m.wait(get(r.id), r.execId);
      return { exitStatus: x.exitStatus, exitedAt: ts(x.exitedAt) };
    },
    // containerd calls Connect right after `start`, before Create: an unknown id is fine
    connect: (r) => ({ shimPid: process.pid, taskPid: m.find(r.id, ns)?.rec.pid ?? 0, version: '2' }),
    // one sandboxer serves every task: a task's Shutdown must not end the daemon
    shutdown: () => ({}),
    pause: async (r) => { await m.pause(get(r.id), true); return {}; },
    resume: async (r) => { await m.pause(get(r.id), false); return {}; },
    stats: async (r) => {
      const st = await m.stats(get(r.id));
      return st ? { stats: toMetricsAny(st.version, st.usage) } : {};
    },
    update: async (r) => { await m.update(get(r.id), resourcesOf(r.id, r.resources)); return {}; },
    // no CRIU here: say so plainly (runc-v2 would try, and fail without criu on PATH)
    checkpoint: (r) => {
      throw unimplemented(`checkpoint task ${r.id}: tsula-sandboxer cannot checkpoint tasks (no CRIU support); run the container with --runtime io.containerd.runc.v2 to checkpoint it`);
    },
  };
}

/** ProcessInfo.info of an exec's process: a containerd.runc.v1.ProcessDetails, bare type URL (gogo's). */
function processDetails(execId: string | undefined): { typeUrl: string; value: Uint8Array } | undefined {
  if (!execId) return undefined;
  return { typeUrl: ProcessDetailsSchema.typeName, value: toBinary(ProcessDetailsSchema, create(ProcessDetailsSchema, { execId })) };
}

/**
 * UpdateTaskRequest.resources: a spec LinuxResources as JSON (containerd's typeurl; the type
 * URL with or without its types.containerd.io/ prefix), as containerd-shim-runc-v2 reads it.
 */
function resourcesOf(id: string, a: { typeUrl: string; value: Uint8Array } | undefined): LinuxResources {
  const want = RESOURCES_TYPE_URL.slice(RESOURCES_TYPE_URL.indexOf('/') + 1);
  if (!a || !(a.typeUrl === RESOURCES_TYPE_URL || a.typeUrl === want)) {
    throw invalidArgument(`update ${id}: resources must be a ${RESOURCES_TYPE_URL}, got ${JSON.stringify(a?.typeUrl ?? '')}`);
  }
  try {
    const r = JSON.parse(Buffer.from(a.value).toString('utf8')) as unknown;
    if (r && typeof r === 'object' && !Array.isArray(r)) return r as LinuxResources;
    throw new Error('not an object');
  } catch (e) {
    throw invalidArgument(`update ${id}: the resources are not a JSON object: ${(e as Error).message}`);
  }
}
