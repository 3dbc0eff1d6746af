// Task events on the wire: each encoded as its containerd message and sent with
// containerd.services.events.ttrpc.v1.Events/Forward to the TTRPC_ADDRESS the shim's `start`
// saw (one connection per containerd), retried a few times (containerd 1.6's shim publisher
// does the same). Loaded with the first event (events.ts): protobuf and the ttrpc client
// are not held by an idle sandboxer.
import { create, toBinary, type DescMessage, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import {
  TaskCreateSchema, TaskDeleteSchema, TaskExecAddedSchema, TaskExecStartedSchema, TaskExitSchema, TaskOOMSchema,
  TaskPausedSchema, TaskResumedSchema, TaskStartSchema,
} from '../../gen/github.com/containerd/containerd/api/events/task_pb.js';
import { Events } from '../../gen/github.com/containerd/containerd/api/services/ttrpc/events/v1/events_pb.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { NAMESPACE_KEY } from '../../ttrpc/server.js';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { EventInit, EventKind, EventSchemas } from './topics.js';

const RETRIES = 5;

const SCHEMAS: EventSchemas = {
  create: TaskCreateSchema,
  start: TaskStartSchema,
  exit: TaskExitSchema,
  delete: TaskDeleteSchema,
  execAdded: TaskExecAddedSchema,
  execStarted: TaskExecStartedSchema,
  oom: TaskOOMSchema,
  paused: TaskPausedSchema,
  resumed: TaskResumedSchema,
};

export class EventSender {
  private clients = new Map<string, Promise<TtrpcClient>>();

  constructor(private readonly log?: Logger) {}

  /** Send one event; failures are logged, not thrown. */
  async send<K extends EventKind>(address: string, namespace: string, topic: string, kind: K, msg: EventInit<K>): Promise<void> {
    const schema: DescMessage = SCHEMAS[kind];
    const value = toBinary(schema, create(schema, msg as MessageInitShape<DescMessage>));
    const typeUrl = schema.typeName; // containerd 1.6 registers events by bare name
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

  close(): void {
    for (const c of this.clients.values()) void c.then((cl) => cl.close(), () => {});
    this.clients.clear();
  }
}
