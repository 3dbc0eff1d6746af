// The host's side of a guest's tasks: containerd's Task API and the agent's stdio methods,
// over the one connection the sandboxer holds to the agent. When the VM dies every task
// still known here is reported exited with 255 (nothing in the guest can report it now).
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import type { GenService } from '@bufbuild/protobuf/codegenv2';
import { Task as TaskService } from '../../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import type { TtrpcClient, ServiceClient } from '../../../ttrpc/client.js';
import { unavailable } from '../../../common/errors.js';
import {
  AGENT_SERVICE, SPEC_TYPE_URL, dec, enc,
  type PingResponse, type ReadStreamResponse,
} from '../../../agent/protocol.js';

type TaskMethods = typeof TaskService extends GenService<infer S> ? S : never;

export const VM_DIED_EXIT = 255;

export interface ExitInfo {
  exitStatus: number;
  exitedAt: Date | null;
}

export interface GuestProcess {
  args: string[];
  env?: string[];
  cwd?: string;
}

export class GuestTasks {
  private readonly task: ServiceClient<TaskMethods>;
  private dead: string | null = null;
  private deathCbs: Array<() => void> = [];
  private known = new Set<string>();

  constructor(private readonly client: TtrpcClient) {
    this.task = client.service(TaskService);
    client.onClose(() => { if (!this.dead) this.dead = 'the agent connection closed'; });
  }

  get closed(): boolean {
    return this.dead !== null || this.client.closed;
  }

  /** The VM is gone: fail what is pending, answer waits with 255. */
  vmExited(reason: string): void {
    this.dead ??= reason;
    for (const cb of this.deathCbs.splice(0)) cb();
    this.client.close();
  }

  /** Drop the connection (the VM keeps running; a new GuestTasks can connect again). */
  close(): void {
    this.dead ??= 'closed';
    this.client.close();
  }

  private died(): Promise<null> {
    if (this.dead && this.client.closed) return Promise.resolve(null);
    return new Promise((resolve) => this.deathCbs.push(() => resolve(null)));
  }

  async ping(timeoutMs = 5000): Promise<PingResponse> {
    return dec<PingResponse>(await this.client.callRaw(AGENT_SERVICE, 'Ping', new Uint8Array(), { timeoutMs }));
  }

  /** Create a task in the guest; the process travels as an OCI spec in `options`. */
  async create(id: string, proc: GuestProcess, o: { stdin?: boolean; bundle?: string } = {}): Promise<number> {
    const options = create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: enc({ ociVersion: '1.0.2', process: proc }) });
    const r = await this.task.create({ id, bundle: o.bundle ?? `/run/tsula/${id}`, stdin: o.stdin ? 'agent' : '', options });
    this.known.add(id);
    return r.pid;
  }

  async start(id: string): Promise<number> {
    return (await this.task.start({ id })).pid;
  }

  state(id: string) {
    return this.task.state({ id });
  }

  /** Blocks until the task exits, or the VM dies (then 255). */
  async wait(id: string): Promise<ExitInfo> {
    if (this.dead) return { exitStatus: VM_DIED_EXIT, exitedAt: new Date() };
    const r = await Promise.race([this.task.wait({ id }).catch((e: Error) => (this.dead ? null : Promise.reject(e))), this.died()]);
    if (!r) return { exitStatus: VM_DIED_EXIT, exitedAt: new Date() };
    return { exitStatus: r.exitStatus, exitedAt: r.exitedAt ? new Date(Number(r.exitedAt.seconds) * 1000 + r.exitedAt.nanos / 1e6) : null };
  }

  async kill(id: string, signal = 15): Promise<void> {
    await this.task.kill({ id, signal });
  }

  async delete(id: string): Promise<ExitInfo> {
    const r = await this.task.delete({ id });
    this.known.delete(id);
    return { exitStatus: r.exitStatus, exitedAt: null };
  }

  /** One long-poll read: what the task wrote since the last read, or eof. */
  async read(id: string, stream: 'stdout' | 'stderr'): Promise<{ data: Buffer; eof: boolean }> {
    if (this.dead) throw unavailable(`read ${stream} of ${id}: ${this.dead}`);
    const r = dec<ReadStreamResponse>(await this.client.callRaw(AGENT_SERVICE, stream === 'stdout' ? 'ReadStdout' : 'ReadStderr', enc({ id })));
    return { data: Buffer.from(r.data, 'base64'), eof: r.eof };
  }

  /** Everything the task writes to a stream until it closes it. */
  async readAll(id: string, stream: 'stdout' | 'stderr'): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      const r = await this.read(id, stream);
      if (r.data.length) parts.push(r.data);
      if (r.eof) return Buffer.concat(parts);
    }
  }

  async writeStdin(id: string, data: Uint8Array): Promise<void> {
    await this.client.callRaw(AGENT_SERVICE, 'WriteStdin', enc({ id, data: Buffer.from(data).toString('base64') }));
  }

  async closeStdin(id: string): Promise<void> {
    await this.client.callRaw(AGENT_SERVICE, 'CloseStdin', enc({ id }));
  }

  /** Ask the agent to end; the guest powers off. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.task.shutdown({ id: '', now: true }, { timeoutMs: 2000 }).catch(() => { /* it may go before answering */ });
  }
}
