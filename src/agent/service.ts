// tsula-agent's ttrpc services: containerd.task.v2.Task for the guest's containers, and the
// agent's own tsula.agent.v1.Agent (health, stdio, the pod's network and net.* sysctls, power
// off). See protocol.ts.
import * as os from 'node:os';
import { readFileSync } from 'node:fs';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { Task as TaskService } from '../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import type { LinuxResources, Spec, Process } from '../oci/types.js';
import { TtrpcServer, type Logger } from './deps.js';
import { invalidArgument } from '../common/errors.js';
import { toMetricsAny } from '../cgroups/metrics.js';
import { TaskTable, type GuestExec } from './tasks.js';
import { configureNetwork as applyNetwork } from './network.js';
import { cloneSetup as applyCloneSetup } from './clone.js';
import { applyNetSysctls } from './sysctls.js';
import { readProcesses } from '../common/ps.js';
import {
  AGENT_SERVICE, AGENT_VERSION, parseAgentStartup, PROCESS_TYPE_URL, RESOURCES_TYPE_URL, SPEC_TYPE_URL, dec, enc,
  type CloneSetupRequest, type CloneSetupResponse, type CloseStdinRequest, type ListProcessesRequest, type ListProcessesResponse, type OomKilledRequest, type OomKilledResponse, type WaitOomRequest, type WaitOomResponse, type ConfigureNetworkRequest, type ConfigureNetworkResponse, type PingResponse, type SetSysctlsRequest, type SetSysctlsResponse, type ReadStreamRequest,
  type ReadStreamResponse, type WriteStdinRequest,
} from './protocol.js';

const STATUS = { created: Status.CREATED, running: Status.RUNNING, paused: Status.PAUSED, stopped: Status.STOPPED } as const;
const NEVER: Timestamp = { seconds: -62135596800n, nanos: 0 } as Timestamp;
const ts = (d: Date | null): Timestamp => (d ? timestampFromDate(d) : NEVER);

function jsonOf<T>(any: { typeUrl: string; value: Uint8Array } | undefined, want: string, what: string): T {
  if (any?.typeUrl !== want) throw invalidArgument(`${what}: expected ${want}, got ${JSON.stringify(any?.typeUrl ?? '')}`);
  try {
    return JSON.parse(Buffer.from(any.value).toString('utf8')) as T;
  } catch (e) {
    throw invalidArgument(`${what}: not JSON: ${(e as Error).message}`);
  }
}

export interface AgentOptions {
  log?: Logger;
  /** Called after Shutdown has been answered (the guest's /init then powers off). */
  onShutdown: () => void;
  /** Tests run the agent on the host with their own table. */
  tasks?: TaskTable;
  /** ConfigureNetwork's work (tests on the host must not touch its NICs); default: network.ts. */
  configureNetwork?: (r: ConfigureNetworkRequest) => Promise<void>;
  /** CloneSetup's work (it sets the clock: never on a host); default: clone.ts. */
  cloneSetup?: (r: CloneSetupRequest) => Promise<void>;
  /** SetSysctls' work (a host's /proc/sys is not the guest's); default: sysctls.ts. */
  setSysctls?: (sysctls: Record<string, string>) => void;
}

export function agentServer(o: AgentOptions): { server: TtrpcServer; tasks: TaskTable } {
  const tasks = o.tasks ?? new TaskTable({ log: o.log });
  const server = new TtrpcServer({ log: o.log });
  server.registerService(TaskService, {
    create: async (r) => {
      const spec = jsonOf<Spec>(r.options, SPEC_TYPE_URL, `create ${r.id}: options`);
      const t = await tasks.create({ id: r.id, bundle: r.bundle, spec, terminal: r.terminal, stdin: !!r.stdin });
      return { pid: t.pid };
    },
    start: async (r) => ({ pid: await tasks.start(r.id, r.execId) }),
    exec: (r) => {
      const process = jsonOf<Process>(r.spec, PROCESS_TYPE_URL, `exec ${r.execId}: spec`);
      process.terminal = r.terminal;
      tasks.addExec(r.id, r.execId, { process, stdin: !!r.stdin, attach: !!(r.stdout || r.stderr || r.stdin) });
      return {};
    },
    state: (r) => {
      const t = tasks.get(r.id);
      const p = tasks.proc(r.id, r.execId);
      return {
        id: r.execId || t.id, execId: r.execId, bundle: t.bundle, pid: p.pid, status: STATUS[p.status],
        exitStatus: p.exit.status, exitedAt: ts(p.exit.at),
      };
    },
    wait: async (r, ctx) => {
      const p = tasks.proc(r.id, r.execId);
      await p.wait(ctx.signal);
      return { exitStatus: p.exit.status, exitedAt: ts(p.exit.at) };
    },
    kill: async (r) => { await tasks.kill(r.id, r.execId, r.signal || 15, r.all); return {}; },
    delete: async (r) => {
      const p = await tasks.delete(r.id, r.execId);
      return { pid: p.pid, exitStatus: p.exit.status, exitedAt: ts(p.exit.at) };
    },
    stats: async (r) => {
      const st = await tasks.stats(r.id);
      return st ? { stats: toMetricsAny(st.version, st.usage) } : {};
    },
    update: async (r) => {
      await tasks.update(r.id, jsonOf<LinuxResources>(r.resources, RESOURCES_TYPE_URL, `update ${r.id}: resources`));
      return {};
    },
    pids: async (r) => ({ processes: (await tasks.pids(r.id)).map((pid) => ({ pid })) }),
    resizePty: async (r) => { await tasks.resize(r.id, r.execId, r.height, r.width); return {}; },
    closeIO: (r) => {
      if (r.stdin) tasks.proc(r.id, r.execId).io?.closeStdin();
      return {};
    },
    pause: async (r) => { await tasks.pause(r.id, true); return {}; },
    resume: async (r) => { await tasks.pause(r.id, false); return {}; },
    connect: (r) => {
      const t = r.id ? tasks.get(r.id) : null;
      return { shimPid: process.pid, taskPid: t?.pid ?? 0, version: AGENT_VERSION };
    },
    shutdown: () => {
      setImmediate(o.onShutdown);
      return {};
    },
  });

  const ioOf = (id: string, execId?: string) => {
    const io = tasks.proc(id, execId ?? '').io;
    if (!io) throw invalidArgument(`${execId ? `exec ${execId}` : `task ${id}`} has no stdio yet`);
    return io;
  };
  const read = (which: 'stdout' | 'stderr') => async (payload: Uint8Array, ctx: { signal: AbortSignal }) => {
    const r = dec<ReadStreamRequest>(payload);
    const out = await ioOf(r.id, r.execId)[which].read(ctx.signal);
    return enc({ data: out.data.toString('base64'), eof: out.eof } satisfies ReadStreamResponse);
  };
  server.register(AGENT_SERVICE, {
    Ping: async () => {
      // read in place: a trip through the thread pool costs a restored guest (cold code under
      // TCG) more than these reads of two small /proc files
      const uptime = Number(readProc('/proc/uptime', () => '0').split(' ')[0]);
      // not os.release(): node reads uname once at start-up, and a startup snapshot keeps
      // the value of the machine that built it
      const kernelRelease = readProc('/proc/sys/kernel/osrelease', os.release).trim();
      const startup = parseAgentStartup(process.env.TSULA_AGENT_SNAPSHOT);
      return enc({ version: AGENT_VERSION, kernelRelease, uptime, pid: process.pid, startup, ociRuntime: tasks.runtime.name } satisfies PingResponse);
    },
    ReadStdout: read('stdout'),
    ReadStderr: read('stderr'),
    WriteStdin: (payload) => {
      const r = dec<WriteStdinRequest>(payload);
      const data = Buffer.from(r.data ?? '', 'base64');
      ioOf(r.id, r.execId).write(data);
      return enc({ len: data.length });
    },
    ListProcesses: async (payload) => {
      const r = dec<ListProcessesRequest>(payload);
      return enc({ processes: await readProcesses(await tasks.pids(r.id)) } satisfies ListProcessesResponse);
    },
    OomKilled: async (payload) => {
      const r = dec<OomKilledRequest>(payload);
      return enc({ oomKilled: await tasks.oomKilled(r.id) } satisfies OomKilledResponse);
    },
    WaitOom: async (payload, ctx) => {
      const r = dec<WaitOomRequest>(payload);
      return enc((await tasks.waitOom(r.id, Number(r.seen) || 0, ctx.signal)) satisfies WaitOomResponse);
    },
    CloseStdin: (payload) => {
      const r = dec<CloseStdinRequest>(payload);
      ioOf(r.id, r.execId).closeStdin();
      return enc({});
    },
    ConfigureNetwork: async (payload) => {
      const t0 = Date.now();
      await (o.configureNetwork ?? applyNetwork)(dec<ConfigureNetworkRequest>(payload));
      return enc({ ms: Date.now() - t0 } satisfies ConfigureNetworkResponse);
    },
    SetSysctls: (payload) => {
      const t0 = process.uptime();
      (o.setSysctls ?? applyNetSysctls)(dec<SetSysctlsRequest>(payload).sysctls ?? {});
      return enc({ ms: Math.round((process.uptime() - t0) * 1000) } satisfies SetSysctlsResponse);
    },
    CloneSetup: async (payload) => {
      // a monotonic clock (CloneSetup sets the wall clock forward by the template's age): the
      // process's uptime, already used at start-up, where any code run for the first time
      // costs a clone's cold guest (performance.now()'s first use loads modules: ~60 ms)
      const t0 = process.uptime();
      await (o.cloneSetup ?? applyCloneSetup)(dec<CloneSetupRequest>(payload));
      return enc({ ms: Math.round((process.uptime() - t0) * 1000) } satisfies CloneSetupResponse);
    },
  });
  return { server, tasks };
}

export type { GuestExec };

/** A small /proc file's text, or fallback's when it can't be read. */
function readProc(file: string, fallback: () => string): string {
  try { return readFileSync(file, 'utf8'); } catch { return fallback(); }
}
