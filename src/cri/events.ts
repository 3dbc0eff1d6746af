// CRI's container events (GetContainerEvents: kubelet's evented PLEG, `crictl events`), as
// containerd sends them: CREATED, STARTED, STOPPED and DELETED of each CRI container (from
// the engine's create, start, die and destroy) and of each pod (its id as the container id:
// run, stop, remove), each with its pod's status and the statuses of the pod's containers
// at that moment. Every subscriber gets every event from its subscription on; nothing is
// built while nobody listens.
import type { MessageInitShape } from '@bufbuild/protobuf';
import {
  ContainerEventType, type ContainerEventResponseSchema, type ContainerStatusSchema,
} from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { resourceExhausted } from '../common/errors.js';
import type { Container } from '../engine/containers/model.js';
import type { ContainerService } from '../engine/containers/service.js';
import type { EngineEvent } from '../engine/events.js';
import type { PodService } from '../engine/pods/service.js';
import type { PodRecord } from '../engine/pods/record.js';
import { podStatusToCri } from './pods.js';

type Event = MessageInitShape<typeof ContainerEventResponseSchema>;
type ContainerStatus = MessageInitShape<typeof ContainerStatusSchema>;

/** Events queued for one client before it is let go (containerd's buffer holds 1000). */
const MAX_PENDING = 1000;

const ENGINE_ACTIONS: Record<string, ContainerEventType> = {
  create: ContainerEventType.CONTAINER_CREATED_EVENT,
  start: ContainerEventType.CONTAINER_STARTED_EVENT,
  die: ContainerEventType.CONTAINER_STOPPED_EVENT,
  destroy: ContainerEventType.CONTAINER_DELETED_EVENT,
};

export interface CriEventsDeps {
  cs: ContainerService;
  pods: PodService;
  /** A CRI container's full status (the image by its names, as ContainerStatus gives it). */
  status(c: Container): Promise<ContainerStatus>;
}

export class CriEvents {
  private subscribers = new Set<(e: Event) => void>();
  /** A CRI container's pod, kept past its removal (its destroy event comes after). */
  private podOf = new Map<string, string>();
  /** Events are built one at a time, so that they reach subscribers in the order they came. */
  private queue: Promise<void> = Promise.resolve();
  private ends = new Set<() => void>();

  constructor(private readonly d: CriEventsDeps) {
    for (const c of d.cs.list()) if (c.config.cri && c.config.pod) this.podOf.set(c.id, c.config.pod.id);
    d.cs.d.events.subscribe({ filters: { type: ['container'] } }, (e) => this.onEngine(e));
  }

  /** Stream every event to send until signal aborts (the client went) or close() (tsulad stops). */
  async stream(signal: AbortSignal, send: (e: Event) => Promise<void>): Promise<void> {
    let chain = Promise.resolve();
    let failed: unknown;
    let pending = 0;
    let end = () => {};
    const sub = (e: Event) => {
      // a client that stopped reading is let go, not buffered for without bound
      if (++pending > MAX_PENDING) { failed ??= resourceExhausted(`container events: the client read none of the last ${MAX_PENDING}`); end(); return; }
      chain = chain.then(() => send(e)).catch((err: unknown) => { failed ??= err; }).finally(() => { pending--; });
    };
    this.subscribers.add(sub);
    try {
      await new Promise<void>((resolve) => {
        end = resolve;
        this.ends.add(end);
        if (signal.aborted) resolve(); else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      this.subscribers.delete(sub);
      this.ends.delete(end);
    }
    if (signal.aborted) return;
    // a client let go may never drain what was written: its error goes now
    if (failed) throw failed;
    await chain;
    if (failed) throw failed;
  }

  /** End every stream (with OK: the client sees the end of the events, not an error). */
  close(): void {
    for (const end of [...this.ends]) end();
  }

  /** A pod's own event: its id is the container id (the pod record may be gone already: pass it). */
  pod(rec: PodRecord, type: ContainerEventType): void {
    this.publish(rec.id, rec.id, type, rec);
  }

  private onEngine(e: EngineEvent): void {
    const type = ENGINE_ACTIONS[e.Action];
    if (type === undefined) return;
    const id = e.Actor.ID;
    let pod = this.podOf.get(id);
    if (!pod) {
      const c = this.find(id);
      if (!c?.config.cri || !c.config.pod) return; // not kubelet's
      pod = c.config.pod.id;
      this.podOf.set(id, pod);
    }
    if (type === ContainerEventType.CONTAINER_DELETED_EVENT) this.podOf.delete(id);
    this.publish(id, pod, type);
  }

  private publish(containerId: string, podId: string, type: ContainerEventType, podRec?: PodRecord): void {
    if (!this.subscribers.size) return;
    const createdAt = BigInt(Date.now()) * 1_000_000n;
    this.queue = this.queue.then(async () => {
      const rec = podRec ?? this.findPod(podId);
      const event: Event = {
        containerId, containerEventType: type, createdAt,
        ...(rec ? { podSandboxStatus: podStatusToCri(rec, rec.state === 'ready' || await this.d.pods.networkOpen(rec)) } : {}),
        containersStatuses: await this.statuses(podId),
      };
      for (const s of this.subscribers) s(event);
    }).catch(() => { /* a status that could not be read: the event goes without it */ });
  }

  /** The statuses of a pod's CRI containers, now (PodSandboxStatus gives the same). */
  async statuses(podId: string): Promise<ContainerStatus[]> {
    const mine = this.d.cs.list().filter((c) => c.config.cri && c.config.pod?.id === podId);
    return Promise.all(mine.map((c) => this.d.status(c)));
  }

  private find(id: string): Container | undefined {
    try { return this.d.cs.get(id); } catch { return undefined; }
  }

  private findPod(id: string): PodRecord | undefined {
    try { return this.d.pods.get(id); } catch { return undefined; }
  }
}
