// Task events to containerd, in order per address. The encoding and the connections
// (event-sender.ts: protobuf, the ttrpc client) load with the first event: a sandboxer that
// published none holds neither.
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { EventSender } from './event-sender.js';
import type { EventInit, EventKind } from './topics.js';

export class EventPublisher {
  private queues = new Map<string, Promise<void>>();
  private sender: Promise<EventSender> | undefined;

  constructor(private readonly log?: Logger) {}

  /**
   * Queue an event for containerd at `address` (none: no containerd to tell). `msg` is
   * encoded when its turn comes: callers pass a message of their own, never changed after.
   * Resolves once it was sent (or given up on); never rejects.
   */
  publish<K extends EventKind>(address: string, namespace: string, topic: string, kind: K, msg: EventInit<K>): Promise<void> {
    if (!address) return Promise.resolve();
    const prev = this.queues.get(address) ?? Promise.resolve();
    const next = prev
      .then(async () => (await this.load()).send(address, namespace, topic, kind, msg))
      .catch((e: unknown) => this.log?.warn('cannot publish task event', { address, topic, err: errorMessage(e) }));
    this.queues.set(address, next);
    void next.finally(() => { if (this.queues.get(address) === next) this.queues.delete(address); });
    return next;
  }

  private load(): Promise<EventSender> {
    return (this.sender ??= import('./event-sender.js').then(
      (m) => new m.EventSender(this.log),
      (e: unknown) => { this.sender = undefined; throw e; },
    ));
  }

  close(): void {
    void this.sender?.then((s) => s.close(), () => {});
  }
}
