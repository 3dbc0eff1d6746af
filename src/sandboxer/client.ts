// Runtime "sandboxer" inside tsulad (iSulad's cri-sandboxers): a container runs in a sandbox
// of a sandboxer daemon. create() asks the sandbox Controller (gRPC; ttrpc for tsulad's own
// sandboxer: controller-client.ts) for a sandbox (one per container, or the pod's when the
// spec names one that exists), then speaks the shim v2 Task API (ttrpc) to the address Start
// returned. stdio: FIFOs in the bundle, pumped into the k8s-file log by the shim v2 client's
// ProcessIO; exits from the Wait RPC. The Task API side is the shim v2 client's
// TaskApiRuntime; here: the sandbox Controller.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import type { CreateRequest, RuntimeMachine } from '../runtime/types.js';
import type { ShimTask, TaskRecord } from '../runtime/shimv2/task.js';
import { TaskApiRuntime, CALL, type Provisioned } from '../runtime/shimv2/task-runtime.js';
import { writeJsonAtomic } from '../common/fsutil.js';
import { ADMIN_SERVICE, decodeJson, encodeJson, SHIM_INFO_FILE, type ProcessesRequest, type ProcessesResponse, type ShimInfo } from './admin.js';
import type { PsProcess } from '../common/ps.js';
import { errorMessage, failedPrecondition, isKind } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { socketPath } from '../ttrpc/address.js';
import { controllerClient, type ControllerClient } from './controller-client.js';
import { ensureSandboxer } from './launch.js';
import { POD_ID_ANNOTATIONS } from '../common/pod-annotations.js';
import { SPEC_TYPE_URL } from '../agent/protocol.js';
import { MACHINE_INFO, podFromSpec } from './podspec.js';

export interface SandboxerRuntimeOptions {
  /** The runtime's name in tsula (the cri-runtimes value, e.g. io.containerd.tsula.v1). */
  name: string;
  /** The sandboxer's Controller socket (cri-sandboxers.<x>.address). */
  address: string;
  /** The sandboxer's kind name (cri-sandboxers.<x>.name): runc, vmm. */
  sandboxer: string;
  /** <state>/runtime/<name>: task records that outlive tsulad */
  stateDir: string;
  /** Start the sandboxer (with this state dir) when it isn't running: tsulad's built-in vmm runtime. */
  autoStart?: { state: string };
  /** tsulad's ttrpc Events socket, started on demand: the sandboxer publishes task events there (TaskOOM). */
  eventsAddress?: () => Promise<string>;
  log?: Logger;
}


/**
 * Start boots a VM: under TCG on a busy host that takes longer than a Task call's 30 s; the
 * sandboxer bounds the boot itself (vmm.toml boot_timeout), as tsulad's pods do (300 s).
 */
const START = { timeoutMs: 300_000 };
/** sandboxId: the sandbox we made for this container alone ('' for the pod's); inSandbox: the one it runs in. */
type SandboxTaskRecord = TaskRecord & { sandboxId?: string; inSandbox?: string };

/** How soon a task whose sandboxer went is connected to again, and the longest wait between tries. */
const RECONNECT_FIRST_MS = 200;
const RECONNECT_MAX_MS = 10_000;
/** How long after a failed start of the sandboxer calls fail at once instead of waiting for another. */
const START_RETRY_MS = 5_000;

export class SandboxerRuntime extends TaskApiRuntime {
  private ctl: ControllerClient;
  /** Tasks whose sandboxer went, with the timer of the next try to connect again. */
  private readonly reconnecting = new Map<string, NodeJS.Timeout>();
  /** Until when a failed start of the sandboxer is not tried again. */
  private upFailedUntil = 0;
  /** The vmm kind's pods are VMs (its runc kind's share the host's kernel). */
  readonly guestKernel: boolean;

  constructor(private readonly o: SandboxerRuntimeOptions) {
    super(o);
    this.ctl = controllerClient(o.address, o.autoStart?.state);
    this.guestKernel = o.sandboxer === 'vmm';
  }

  /** The pod's sandbox when the spec names one the sandboxer has, else a new one for id. */
  private async sandboxFor(req: CreateRequest): Promise<{ sandboxId: string; address: string; owned: boolean }> {
    await this.ensureUp();
    for (const k of POD_ID_ANNOTATIONS) {
      const sb = req.spec.annotations?.[k];
      if (!sb || sb === req.id) continue;
      const st = await this.controller((c) => c.status({ sandboxId: sb, sandboxer: this.o.sandboxer }, CALL)).catch(() => null);
      if (st?.state === 'SANDBOX_READY') return { sandboxId: sb, address: st.address, owned: false };
    }
    // the container's own sandbox is in the netns its spec names (--network), with its
    // hostname; the spec itself goes along (containerd's sandbox API), so that a spec with no
    // network namespace (--network host) reaches the sandboxer as the host's network
    const spec = create(AnySchema, { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(req.spec)) });
    await this.controller((c) => c.create({
      sandboxId: req.id, sandboxer: this.o.sandboxer, annotations: req.spec.annotations ?? {},
      netnsPath: podFromSpec(req.spec).netnsPath, sandbox: { sandboxId: req.id, spec },
    }, CALL));
    const st = await this.ctl.start({ sandboxId: req.id, sandboxer: this.o.sandboxer }, START).catch(async (e: unknown) => {
      // the sandboxer drops a sandbox whose start failed; an older one keeps it: ask
      await this.ctl.shutdown({ sandboxId: req.id, sandboxer: this.o.sandboxer }, CALL).catch(() => {});
      throw e;
    });
    if (st.version !== 2) throw failedPrecondition(`sandbox ${req.id}: task API version ${st.version} is not supported`);
    return { sandboxId: req.id, address: st.address, owned: true };
  }

  protected async claim(req: CreateRequest): Promise<void> {
    if (this.tasks.has(req.id)) throw failedPrecondition(`task ${req.id} already exists in runtime ${this.name}`);
  }

  protected async provision(req: CreateRequest, rec: SandboxTaskRecord): Promise<Provisioned> {
    const sb = await this.sandboxFor(req);
    // address: the task address as a shim's (unix:///path); sandboxId: a sandbox we own
    rec.address = `unix://${socketPath(sb.address)}`;
    rec.sandboxId = sb.owned ? sb.sandboxId : '';
    rec.inSandbox = sb.sandboxId;
    const spec = { ...req.spec, annotations: { ...req.spec.annotations, 'io.tsula.sandbox-id': sb.sandboxId } };
    await this.writeBundle(req.bundle, spec, rec);
    // where the task's events go, as containerd-shim-tsula-v2's start leaves it for containerd;
    // no namespace: the sandboxer keeps naming the task after the bundle's parent, as before
    if (this.o.eventsAddress) {
      const info: ShimInfo = { id: req.id, namespace: '', eventsAddress: await this.o.eventsAddress(), containerdAddress: '' };
      await writeJsonAtomic(path.join(req.bundle, SHIM_INFO_FILE), info);
    }
    return {};
  }

  /** Tasks a previous tsulad left publish their events (TaskOOM) to our socket: open it first. */
  protected override async adopting(): Promise<void> {
    await this.o.eventsAddress?.().catch(() => {});
  }

  /** The sandboxer keeps the container: only our connection goes. */
  protected async release(t: ShimTask): Promise<void> {
    t.detach();
  }

  protected async unreachable(_id: string, _bundle: string, _rec: TaskRecord | null, err: unknown): Promise<void> {
    if (err) throw err;
  }

  /**
   * The Wait ended without an exit. The sandboxer went away (it keeps the container): a
   * sandboxer tsulad starts is started again and the task connected again at once (Wait,
   * output), not at the next call. One that no longer knows the task lost it with its VM:
   * that is the container's exit (255, as a VM that died).
   */
  protected waitLost(t: ShimTask, e: unknown): void {
    t.waiting = false;
    if (t.detached || this.closing) return;
    if (isKind(e, 'NotFound')) {
      this.log?.warn('the sandboxer no longer has the task: it ended with its sandbox', { id: t.rec.id });
      this.report(t, 255, new Date());
      return;
    }
    this.log?.warn('lost the sandboxer while waiting; connecting again', { id: t.rec.id, err: errorMessage(e) });
    this.reconnectLater(t.rec.id, RECONNECT_FIRST_MS);
  }

  private reconnectLater(id: string, delayMs: number): void {
    if (this.reconnecting.has(id)) return;
    const timer = setTimeout(() => {
      this.reconnecting.delete(id);
      void (async () => {
        if (this.closing || !(await this.records.load(id).catch(() => null))) return;
        try {
          if (await this.reconnect(id)) { this.log?.info('connected to the sandboxer again', { id }); return; }
        } catch (err) {
          this.log?.debug('connecting to the sandboxer again failed', { id, err: errorMessage(err) });
        }
        this.reconnectLater(id, Math.min(delayMs * 2, RECONNECT_MAX_MS));
      })();
    }, delayMs);
    timer.unref();
    this.reconnecting.set(id, timer);
  }

  /** A sandboxer tsulad starts is started again before a task is connected to anew. */
  protected override async tryTask(id: string, bundle?: string): Promise<ShimTask | null> {
    const have = this.tasks.get(id);
    if (this.o.autoStart && (!have || have.client.closed)) await this.ensureUp().catch(() => undefined);
    return super.tryTask(id, bundle);
  }

  /**
   * The sandboxer tsulad starts, running. A start that failed is not tried again for a while:
   * the tasks adopted at tsulad's start would each wait for it in turn.
   */
  private async ensureUp(): Promise<void> {
    if (!this.o.autoStart) return;
    if (Date.now() < this.upFailedUntil) throw failedPrecondition(`tsula-sandboxer did not start a moment ago (see ${this.o.autoStart.state}/sandboxer.log)`);
    await ensureSandboxer(this.o.autoStart.state, this.o.address).catch((e: unknown) => {
      this.upFailedUntil = Date.now() + START_RETRY_MS;
      throw e;
    });
  }

  /**
   * A Controller call; when it finds no sandboxer (a channel still backing off from a dead
   * one), the sandboxer is made sure of and the call made once more on a new channel.
   */
  private async controller<T>(call: (ctl: ControllerClient) => Promise<T>): Promise<T> {
    try {
      return await call(this.ctl);
    } catch (e) {
      if (!this.o.autoStart || !isKind(e, 'Unavailable')) throw e;
      await this.ensureUp();
      this.ctl.close();
      this.ctl = controllerClient(this.o.address, this.o.autoStart?.state);
      return call(this.ctl);
    }
  }

  /** The size of the VM a container runs in (its sandbox's Status); null: not a VM, or unknown. */
  async machine(id: string): Promise<RuntimeMachine | null> {
    const rec: SandboxTaskRecord | null = this.tasks.get(id)?.rec ?? await this.records.load(id).catch(() => null);
    const sandboxId = rec?.inSandbox;
    if (!sandboxId) return null;
    const st = await this.controller((c) => c.status({ sandboxId, sandboxer: this.o.sandboxer, verbose: true }, CALL)).catch(() => null);
    const memoryMib = Number(st?.info[MACHINE_INFO.memoryMib]);
    return memoryMib > 0 ? { memoryBytes: memoryMib * 1024 * 1024 } : null;
  }

  /** A container's processes as its kernel tells them (a VM's guest): the sandboxer's Admin.Processes. */
  async processes(id: string): Promise<PsProcess[]> {
    const t = await this.task(id);
    try {
      return decodeJson<ProcessesResponse>(await t.client.callRaw(ADMIN_SERVICE, 'Processes', encodeJson({ id } satisfies ProcessesRequest), CALL)).processes;
    } catch (e) {
      if (isKind(e, 'Unimplemented')) throw failedPrecondition(`the sandboxer of container ${id.slice(0, 12)} is older than this tsulad and cannot list its processes: restart it (its pods keep running)`);
      throw e;
    }
  }

  protected async orphan(rec: TaskRecord): Promise<void> {
    this.log?.warn('sandboxer task unreachable', { id: rec.id });
  }

  /** Drop our files and the sandbox we made for this container. */
  protected async forget(rec: SandboxTaskRecord): Promise<void> {
    if (rec.sandboxId) {
      await this.controller((c) => c.stop({ sandboxId: rec.sandboxId!, sandboxer: this.o.sandboxer }, CALL)).catch(() => {});
      await this.controller((c) => c.shutdown({ sandboxId: rec.sandboxId!, sandboxer: this.o.sandboxer }, CALL)).catch(() => {});
    }
    await Promise.all([rec.io.stdin, rec.io.stdout, rec.io.stderr].filter(Boolean).map((f) => fs.rm(f, { force: true })));
    await this.records.remove(rec.id);
  }

  override close(): void {
    super.close();
    for (const t of this.reconnecting.values()) clearTimeout(t);
    this.reconnecting.clear();
    this.ctl.close();
  }
}
