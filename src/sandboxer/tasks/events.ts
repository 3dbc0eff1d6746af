// Task events to containerd: containerd.services.events.ttrpc.v1.Events/Forward on the
// TTRPC_ADDRESS the shim's `start` saw (one connection per containerd), in order per
// address, retried a few times (containerd 1.6's shim publisher does the same).
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Events } from '../../gen/github.com/containerd/containerd/api/services/ttrpc/events/v1/events_pb.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { NAMESPACE_KEY } from '../../ttrpc/server.js';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';

const RETRIES = 5;

export class EventPublisher {
  private clients = new Map<string, Promise<TtrpcClient>>();
  private queues = new Map<string, Promise<void>>();

  constructor(private readonly log?: Logger) {}

  publish<D extends DescMessage>(address: string, namespace: string, topic: string, schema: D, msg: MessageInitShape<D>): void {
    if (!address) return;
    const value = toBinary(schema, create(schema, msg));
    const typeUrl = schema.typeName; // containerd 1.6 registers events by bare name
    const prev = this.queues.get(address) ?? Promise.resolve();
    const next = prev.then(() => this.send(address, namespace, topic, typeUrl, value));
    this.queues.set(address, next);
    void next.finally(() => { if (this.queues.get(address) === next) this.queues.delete(address); });
  }

  private async client(address: string): Promise<TtrpcClient> {
    let c = this.clients.get(address);
    if (c) {
      const cl = await c.catch(() => null);
      if (cl && !cl.closed) return cl;
    }
    c = TtrpcClient.connect(address, { timeoutMs: 2000 });
    this.clients.set(address, c);
    return c;
  }

  private async send(address: string, namespace: string, topic: string, typeUrl: string, value: Uint8Array): Promise<void> {
    for (let i = 0; i < RETRIES; i++) {
      try {
        const c = await this.client(address);
        await c.service(Events).forward({
          envelope: { timestamp: timestampFromDate(new Date()), namespace, topic, event: { typeUrl, value } },
        }, { timeoutMs: 5000, metadata: { [NAMESPACE_KEY]: namespace } });
        return;
      } catch (e) {
        this.clients.delete(address);
        if (i === RETRIES - 1) this.log?.warn('cannot publish task event', { address, topic, err: errorMessage(e) });
        else await new Promise((r) => setTimeout(r, 100 * 2 ** i));
      }
    }
  }

  close(): void {
    for (const c of this.clients.values()) void c.then((cl) => cl.close(), () => {});
    this.clients.clear();
  }
}
