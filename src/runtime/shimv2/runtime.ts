// Runtime io.containerd.<name>.v2: tsulad as a shim v2 client (iSulad's lib-shim-v2 role).
// Per container: `containerd-shim-<name>-v2 start` leaves a shim daemon that owns the
// container; we speak containerd.task.v2.Task to it over ttrpc, hold the stdio FIFOs, copy
// output into the k8s-file log, and learn the exit from Wait. The shim survives tsulad;
// the next tsulad reconnects through <bundle>/address and reopens the FIFOs.
// The Task API side is TaskApiRuntime's (task-runtime.ts); here: the shim binary.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { CreateRequest } from '../types.js';
import { isKind, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { startShim, deleteShim, readAddress, type ShimArgs } from './binary.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { shimSocketPath } from '../../ttrpc/address.js';
import type { DeleteResponse } from '../../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { followShimLog, type ShimTask, type TaskRecord } from './task.js';
import { TaskApiRuntime, type Provisioned } from './task-runtime.js';
import { signalNumber } from './util.js';

export { signalNumber }; // index.ts re-exports it from here

export interface ShimV2RuntimeOptions {
  /** The runtime's name in tsula: io.containerd.runc.v2 */
  name: string;
  /** containerd-shim-<name>-v2, resolved (findShimBinary) */
  binary: string;
  /** <state>/runtime/<name>: task records that outlive tsulad */
  stateDir: string;
  /** -address for the shim (containerd's socket; the runc shim hashes it into its socket name) */
  engineAddress: string;
  /** TTRPC_ADDRESS: the engine's Events/Forward socket (startEventsServer) */
  eventsAddress: string;
  /** -publish-binary: tsulad's own path */
  publishBinary: string;
  /** containerd namespace the shim works in (runc state: /run/containerd/runc/<ns>) */
  namespace?: string;
  /** CreateTaskRequest.options, e.g. containerd.runc.v1.Options */
  taskOptions?: { typeUrl: string; value: Uint8Array };
  log?: Logger;
  debug?: boolean;
}

export class ShimV2Runtime extends TaskApiRuntime {
  /** Tasks whose dead shim was already cleaned up (delete action run once). */
  private cleaned = new Set<string>();

  constructor(private readonly o: ShimV2RuntimeOptions) {
    super(o);
  }

  private shimArgs(id: string, bundle: string): ShimArgs {
    return {
      binary: this.o.binary, id, bundle, namespace: this.o.namespace ?? 'tsula', address: this.o.engineAddress,
      ttrpcAddress: this.o.eventsAddress, publishBinary: this.o.publishBinary, debug: this.o.debug,
    };
  }

  /** The engine creates only what is not running: a task left from before is stale. */
  protected async claim(req: CreateRequest): Promise<void> {
    if (this.tasks.has(req.id) || await this.records.load(req.id)) await this.delete(req.id, req.bundle, true);
    this.cleaned.delete(req.id);
  }

  protected async provision(req: CreateRequest, rec: TaskRecord): Promise<Provisioned> {
    // the log FIFO must have a reader before `start`, or the shim daemon dies opening it
    await this.writeBundle(req.bundle, req.spec, rec, [path.join(req.bundle, 'log')]);
    const shimLog = followShimLog(req.bundle, req.id, this.log);
    try {
      rec.address = await startShim(this.shimArgs(req.id, req.bundle));
    } catch (e) {
      shimLog?.destroy();
      throw e;
    }
    return { shimLog };
  }

  override async delete(id: string, bundle: string, force: boolean): Promise<void> {
    await super.delete(id, bundle, force);
    this.cleaned.delete(id);
  }

  /** Shutdown, then wait for the shim to go (its socket path is reused by the next start). */
  protected async release(t: ShimTask): Promise<void> {
    t.detached = true;
    const gone = new Promise<void>((r) => t.client.onClose(() => r()));
    await t.api.shutdown({ id: t.rec.id }, { timeoutMs: 5_000 }).catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    // a shim that still serves other tasks (grouping) stays; don't wait on it forever
    await Promise.race([gone, new Promise<void>((r) => { timer = setTimeout(r, 3_000); })]);
    clearTimeout(timer);
    t.detach();
  }

  protected async unreachable(id: string, bundle: string, rec: TaskRecord | null, err: unknown): Promise<void> {
    if (err) {
      if (!isKind(err, 'Unavailable') && !isKind(err, 'DeadlineExceeded')) throw err;
      await this.deadShim(id, bundle); // it died while we deleted
    } else if (rec && await fs.stat(bundle).catch(() => null)) {
      await this.deadShim(id, bundle);
    }
  }

  /** The shim died under us: clean up as containerd does, with the binary's delete. */
  protected async waitLost(t: ShimTask, e: unknown): Promise<void> {
    if (t.detached || this.closing) return;
    const id = t.rec.id;
    this.log?.warn('shim connection lost; cleaning up', { id, err: errorMessage(e) });
    const r = await this.deadShim(id, t.rec.bundle);
    t.detach();
    this.report(t, r?.exitStatus ?? 255, r?.exitedAt ? timestampDate(r.exitedAt) : new Date());
  }

  /** Nobody can report this one any more: its shim is gone; clean what is left. */
  protected async orphan(rec: TaskRecord): Promise<void> {
    this.log?.warn('shim of a task is gone; cleaning up', { id: rec.id });
    await this.deadShim(rec.id, rec.bundle);
    await this.forget(rec);
  }

  /**
   * Clean up after a shim that is gone, as containerd does: the binary's `delete` action
   * (runc delete -f, unmount), then the socket a SIGKILLed shim could not remove.
   */
  private async deadShim(id: string, bundle: string): Promise<DeleteResponse | null> {
    if (this.cleaned.has(id)) return null;
    this.cleaned.add(id);
    const r = await deleteShim(this.shimArgs(id, bundle)).catch((e) => {
      this.log?.warn('shim delete action failed', { id, err: errorMessage(e) });
      return null;
    });
    const address = await readAddress(bundle);
    if (address?.startsWith('unix://')) {
      const alive = await TtrpcClient.connect(shimSocketPath(address), { timeoutMs: 1_000 }).then((c) => { c.close(); return true; }, () => false);
      if (!alive) await fs.rm(shimSocketPath(address), { force: true });
    }
    return r;
  }

  protected async forget(rec: TaskRecord): Promise<void> {
    const files = ['log', 'address', 'stdin', 'stdout', 'stderr'];
    await Promise.all(files.map((f) => fs.rm(path.join(rec.bundle, f), { force: true })));
    await this.records.remove(rec.id);
  }
}
