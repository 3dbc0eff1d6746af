// The host's client of one guest's agent: containerd's Task API and the agent's stdio
// methods, over the one connection the sandboxer holds to the agent. When the VM dies every
// wait still pending is answered with 255 (nothing in the guest can report it now).
import { create } from '@bufbuild/protobuf';
import { AnySchema, timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { Task as TaskService } from '../../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import type { TtrpcClient, ServiceClient } from '../../../ttrpc/client.js';
import type { LinuxResources, Spec, Process } from '../../../oci/types.js';
import { failedPrecondition, isKind, unavailable } from '../../../common/errors.js';
import { randomBytes } from '../../../common/crypto.js';
import type { CgroupStats } from '../../../cgroups/index.js';
import type { PsProcess } from '../../../common/ps.js';
import { fromMetricsAny } from '../../../cgroups/metrics.js';
import {
  AGENT_SERVICE, PROCESS_TYPE_URL, RESOURCES_TYPE_URL, SPEC_TYPE_URL, dec, enc,
  type CloneSetupRequest, type CloneSetupResponse, type ConfigureNetworkRequest, type ListProcessesResponse, type SetSysctlsResponse, type OomKilledResponse, type WaitOomResponse, type ConfigureNetworkResponse, type PingResponse, type ReadStreamResponse,
} from '../../../agent/protocol.js';

type TaskMethods = typeof TaskService extends GenService<infer S> ? S : never;

export const VM_DIED_EXIT = 255;

export interface ExitInfo {
  exitStatus: number;
  exitedAt: Date | null;
}

const STATUS: Record<number, 'created' | 'running' | 'paused' | 'stopped' | 'unknown'> = {
  [Status.CREATED]: 'created', [Status.RUNNING]: 'running', [Status.PAUSED]: 'paused', [Status.STOPPED]: 'stopped',
};

function dateOf(t: Timestamp | undefined): Date | null {
  return t && t.seconds > 0n ? timestampDate(t) : null;
}

/** How long a dropped connection waits to learn whether the VM died (then: 255) or not. */
const DEATH_GRACE_MS = 2000;

export class GuestTasks {
  private readonly task: ServiceClient<TaskMethods>;
  private lost: string | null = null;
  private vmDead: string | null = null;
  /** When the VM's death was heard: the exit time of what ran in it. */
  private diedAt: Date | null = null;
  private markDead!: (reason: string) => void;
  private readonly death = new Promise<string>((r) => { this.markDead = r; });

  constructor(private readonly client: TtrpcClient) {
    this.task = client.service(TaskService);
    client.onClose(() => { this.lost ??= 'the agent connection closed'; });
  }

  get closed(): boolean {
    return this.lost !== null || this.client.closed;
  }

  /** Why calls fail now (null while connected). */
  get deathReason(): string | null {
    return this.vmDead ?? this.lost;
  }

  /** The VM is gone: fail what is pending, answer waits with 255. */
  vmExited(reason: string): void {
    this.diedAt ??= new Date();
    this.vmDead ??= reason;
    this.lost ??= reason;
    this.markDead(reason);
    this.client.close();
  }

  /** Drop the connection (the VM keeps running; a new GuestTasks can connect again). */
  close(): void {
    this.lost ??= 'closed';
    this.client.close();
  }

  async ping(timeoutMs = 5000): Promise<PingResponse> {
    return dec<PingResponse>(await this.client.callRaw(AGENT_SERVICE, 'Ping', new Uint8Array(), { timeoutMs }));
  }

  /** Give the guest's NICs the pod interface's config (an agent older than 0.4 answers UNIMPLEMENTED). */
  async configureNetwork(req: ConfigureNetworkRequest, timeoutMs = 30_000): Promise<ConfigureNetworkResponse> {
    return dec<ConfigureNetworkResponse>(await this.client.callRaw(AGENT_SERVICE, 'ConfigureNetwork', enc(req), { timeoutMs }));
  }

  /** Write the pod's net.* sysctls in the guest (an agent older than 0.8 answers UNIMPLEMENTED). */
  async setSysctls(sysctls: Record<string, string>, timeoutMs = 30_000): Promise<SetSysctlsResponse> {
    return dec<SetSysctlsResponse>(await this.client.callRaw(AGENT_SERVICE, 'SetSysctls', enc({ sysctls }), { timeoutMs }));
  }

  /**
   * Make a guest restored from a VM template its own, with the host's clock now and 64 fresh
   * random bytes (an agent older than 0.5 answers UNIMPLEMENTED).
   */
  async cloneSetup(req: Omit<CloneSetupRequest, 'timeMs' | 'entropy'>, timeoutMs = 30_000): Promise<CloneSetupResponse> {
    const full: CloneSetupRequest = { ...req, timeMs: Date.now(), entropy: randomBytes(64).toString('base64') };
    return dec<CloneSetupResponse>(await this.client.callRaw(AGENT_SERVICE, 'CloneSetup', enc(full), { timeoutMs }));
  }

  /** Create a container in the guest from a spec already rewritten for it. */
  async create(id: string, spec: Spec, o: { terminal: boolean; stdin: boolean; bundle: string }): Promise<number> {
    const options = create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: enc(spec) });
    const r = await this.task.create({ id, bundle: o.bundle, terminal: o.terminal, stdin: o.stdin ? 'agent' : '', stdout: 'agent', options });
    return r.pid;
  }

  /** Add an exec; `attach` = the agent keeps its output for ReadStdout/ReadStderr. */
  async exec(id: string, execId: string, p: Process, o: { stdin: boolean; attach: boolean }): Promise<void> {
    const spec = create(AnySchema, { typeUrl: PROCESS_TYPE_URL, value: enc(p) });
    const io = o.attach ? 'agent' : '';
    await this.task.exec({ id, execId, terminal: !!p.terminal, stdin: o.stdin ? 'agent' : '', stdout: io, stderr: io, spec });
  }

  async start(id: string, execId = ''): Promise<number> {
    return (await this.task.start({ id, execId })).pid;
  }

  async state(id: string, execId = ''): Promise<{ status: 'created' | 'running' | 'paused' | 'stopped' | 'unknown'; pid: number } & ExitInfo> {
    const r = await this.task.state({ id, execId });
    return { status: STATUS[r.status] ?? 'unknown', pid: r.pid, exitStatus: r.exitStatus, exitedAt: dateOf(r.exitedAt) };
  }

  /**
   * Blocks until the process exits: its exit, 255 when the VM died, null when only our
   * connection went (the VM runs on; a sandboxer restart waits again).
   */
  async wait(id: string, execId = ''): Promise<ExitInfo | null> {
    // the time of the death (kata stamps its wait's return), not of the wait's start
    const vmDied = () => ({ exitStatus: VM_DIED_EXIT, exitedAt: this.diedAt ?? new Date() });
    if (this.vmDead) return vmDied();
    if (this.closed) return null;
    const r = await Promise.race([
      this.task.wait({ id, execId }).catch((e: Error) => (this.closed ? undefined : Promise.reject(e))),
      this.death.then(() => 'vm' as const),
    ]);
    if (r === 'vm') return vmDied();
    if (r === undefined) {
      // the connection dropped: a dying VM takes it down first, its exit is noticed just after
      let t: NodeJS.Timeout | undefined;
      const dead = await Promise.race([this.death.then(() => true), new Promise<boolean>((res) => { t = setTimeout(() => res(false), DEATH_GRACE_MS); })]);
      clearTimeout(t);
      return dead ? vmDied() : null;
    }
    // the host's time of the wait's return, as kata's shim stamps it: the guest's clock
    // (TCG, a restored template) can run behind, and an exit must not predate its kill
    return { exitStatus: r.exitStatus, exitedAt: new Date() };
  }

  async kill(id: string, execId: string, signal: number, all = false): Promise<void> {
    await this.task.kill({ id, execId, signal, all });
  }

  async delete(id: string, execId = ''): Promise<ExitInfo> {
    const r = await this.task.delete({ id, execId });
    return { exitStatus: r.exitStatus, exitedAt: dateOf(r.exitedAt) };
  }

  /** New limits for the task's guest cgroup (runc update in the guest). */
  async update(id: string, resources: LinuxResources): Promise<void> {
    await this.task.update({ id, resources: create(AnySchema, { typeUrl: RESOURCES_TYPE_URL, value: enc(resources) }), annotations: {} });
  }

  async pids(id: string): Promise<number[]> {
    return (await this.task.pids({ id })).processes.map((p) => p.pid);
  }

  /** The task's processes as the guest's /proc tells them (an agent before 0.10 can't: Unimplemented). */
  async processes(id: string): Promise<PsProcess[]> {
    try {
      return dec<ListProcessesResponse>(await this.client.callRaw(AGENT_SERVICE, 'ListProcesses', enc({ id }))).processes;
    } catch (e) {
      if (isKind(e, 'Unimplemented')) throw failedPrecondition(`the agent of task ${id.slice(0, 12)}'s VM is older than this sandboxer and cannot list its processes: a new pod gets the new agent`);
      throw e;
    }
  }

  /** The guest cgroup's usage (the agent answers in io.containerd.cgroups.v2.Metrics). */
  async stats(id: string): Promise<CgroupStats | null> {
    const r = await this.task.stats({ id });
    return r.stats ? fromMetricsAny(r.stats) : null;
  }

  async resize(id: string, execId: string, height: number, width: number): Promise<void> {
    await this.task.resizePty({ id, execId, height, width });
  }

  async pause(id: string, pause: boolean): Promise<void> {
    if (pause) await this.task.pause({ id }); else await this.task.resume({ id });
  }

  /** Did the OOM killer act in the task's guest cgroup? An agent before 0.6 can't say: no. */
  async oomKilled(id: string): Promise<boolean> {
    try {
      return dec<OomKilledResponse>(await this.client.callRaw(AGENT_SERVICE, 'OomKilled', enc({ id }))).oomKilled === true;
    } catch (e) {
      if (isKind(e, 'Unimplemented')) return false;
      throw e;
    }
  }

  /**
   * One long poll for the task's OOM kills: the count once it passes `seen`, or at the task's
   * exit. null from an agent before 0.9 (it cannot tell while the task runs).
   */
  async waitOom(id: string, seen: number, signal?: AbortSignal): Promise<WaitOomResponse | null> {
    try {
      return dec<WaitOomResponse>(await this.client.callRaw(AGENT_SERVICE, 'WaitOom', enc({ id, seen }), { signal }));
    } catch (e) {
      if (isKind(e, 'Unimplemented')) return null;
      throw e;
    }
  }

  /** One long-poll read: what the process wrote since the last read, or eof. */
  async read(id: string, execId: string, stream: 'stdout' | 'stderr', signal?: AbortSignal): Promise<{ data: Buffer; eof: boolean }> {
    if (this.closed) throw unavailable(`read ${stream} of ${id}: ${this.deathReason}`);
    const r = dec<ReadStreamResponse>(await this.client.callRaw(AGENT_SERVICE, stream === 'stdout' ? 'ReadStdout' : 'ReadStderr', enc({ id, execId }), { signal }));
    return { data: Buffer.from(r.data, 'base64'), eof: r.eof };
  }

  async writeStdin(id: string, execId: string, data: Uint8Array): Promise<void> {
    await this.client.callRaw(AGENT_SERVICE, 'WriteStdin', enc({ id, execId, data: Buffer.from(data).toString('base64') }));
  }

  async closeStdin(id: string, execId: string): Promise<void> {
    await this.client.callRaw(AGENT_SERVICE, 'CloseStdin', enc({ id, execId }));
  }

  /** Ask the agent to end; the guest powers off. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.task.shutdown({ id: '', now: true }, { timeoutMs: 2000 }).catch(() => { /* it may go before answering */ });
  }
}
