// tsula-agent's ttrpc services: containerd.task.v2.Task for the guest's tasks, and the
// agent's own tsula.agent.v1.Agent (health, stdio, power off). See protocol.ts.
import * as os from 'node:os';
import { promises as fs } from 'node:fs';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Task as TaskService } from '../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import { TtrpcServer, type Logger } from './deps.js';
import { invalidArgument, unimplemented } from '../common/errors.js';
import { TaskTable, type Task, type TaskProcess } from './tasks.js';
import {
  AGENT_SERVICE, AGENT_VERSION, SPEC_TYPE_URL, dec, enc,
  type CloseStdinRequest, type PingResponse, type ReadStreamRequest, type ReadStreamResponse, type WriteStdinRequest,
} from './protocol.js';

const STATUS = { created: Status.CREATED, running: Status.RUNNING, stopped: Status.STOPPED } as const;
const NEVER: Timestamp = { seconds: -62135596800n, nanos: 0 } as Timestamp;
const ts = (d: Date | null): Timestamp => (d ? timestampFromDate(d) : NEVER);

function noExec(execId: string): void {
  if (execId) throw unimplemented('exec processes are not supported by tsula-agent yet');
}

export interface AgentOptions {
  log?: Logger;
  /** Called after Shutdown has been answered (the guest's /init then powers off). */
  onShutdown: () => void;
}

export function agentServer(o: AgentOptions): { server: TtrpcServer; tasks: TaskTable } {
  const tasks = new TaskTable();
  const server = new TtrpcServer({ log: o.log });
  server.registerService(TaskService, {
    create: (r) => {
      let p: TaskProcess;
      if (r.options?.typeUrl !== SPEC_TYPE_URL) {
        throw invalidArgument(`create ${r.id}: options must carry the OCI spec (${SPEC_TYPE_URL}), got ${JSON.stringify(r.options?.typeUrl ?? '')}`);
      }
      try {
        p = (JSON.parse(Buffer.from(r.options.value).toString('utf8')) as { process: TaskProcess }).process;
      } catch (e) {
        throw invalidArgument(`create ${r.id}: the spec is not JSON: ${(e as Error).message}`);
      }
      return { pid: tasks.create(r.id, r.bundle, p ?? { args: [] }, !!r.stdin).pid };
    },
    start: (r) => {
      noExec(r.execId);
      const t = tasks.get(r.id);
      if (t.status !== 'created') throw invalidArgument(`start ${r.id}: task is ${t.status}`);
      t.start();
      return { pid: t.pid };
    },
    state: (r) => {
      noExec(r.execId);
      const t = tasks.get(r.id);
      return {
        id: t.id, bundle: t.bundle, pid: t.pid, status: STATUS[t.status],
        exitStatus: t.exitStatus, exitedAt: ts(t.exitedAt),
      };
    },
    wait: async (r, ctx) => {
      noExec(r.execId);
      const t = tasks.get(r.id);
      await Promise.race([t.wait(), new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }))]);
      return { exitStatus: t.exitStatus, exitedAt: ts(t.exitedAt) };
    },
    kill: (r) => {
      noExec(r.execId);
      const t = tasks.get(r.id);
      if (t.status !== 'stopped') {
        try { process.kill(t.pid, r.signal || 15); } catch { /* exited meanwhile */ }
      }
      return {};
    },
    delete: (r) => {
      noExec(r.execId);
      const t = tasks.delete(r.id);
      return { pid: t.pid, exitStatus: t.exitStatus, exitedAt: ts(t.exitedAt) };
    },
    pids: (r) => {
      const t = tasks.get(r.id);
      return { processes: t.status === 'stopped' ? [] : [{ pid: t.pid }] };
    },
    connect: (r) => {
      const t = r.id ? tasks.get(r.id) : null;
      return { shimPid: process.pid, taskPid: t?.pid ?? 0, version: AGENT_VERSION };
    },
    shutdown: () => {
      setImmediate(o.onShutdown);
      return {};
    },
  });

  const read = (which: 'stdout' | 'stderr') => async (payload: Uint8Array, ctx: { signal: AbortSignal }) => {
    const r = dec<ReadStreamRequest>(payload);
    noExec(r.execId ?? '');
    const out = await tasks.get(r.id)[which].read(ctx.signal);
    return enc({ data: out.data.toString('base64'), eof: out.eof } satisfies ReadStreamResponse);
  };
  const stdinOf = (t: Task, id: string) => {
    if (!t.stdin) throw invalidArgument(`task ${id} was created without stdin`);
    return t.stdin;
  };
  server.register(AGENT_SERVICE, {
    Ping: async () => {
      const uptime = Number((await fs.readFile('/proc/uptime', 'utf8').catch(() => '0')).split(' ')[0]);
      return enc({ version: AGENT_VERSION, kernelRelease: os.release(), uptime, pid: process.pid } satisfies PingResponse);
    },
    ReadStdout: read('stdout'),
    ReadStderr: read('stderr'),
    WriteStdin: async (payload) => {
      const r = dec<WriteStdinRequest>(payload);
      const data = Buffer.from(r.data ?? '', 'base64');
      const w = stdinOf(tasks.get(r.id), r.id);
      await new Promise<void>((resolve, reject) => w.write(data, (e) => (e ? reject(e) : resolve())));
      return enc({ len: data.length });
    },
    CloseStdin: (payload) => {
      const r = dec<CloseStdinRequest>(payload);
      stdinOf(tasks.get(r.id), r.id).end();
      return enc({});
    },
  });
  return { server, tasks };
}
