// Task events on the wire: each encoded as its containerd message and sent with
// containerd.services.events.ttrpc.v1.Events/Forward to the TTRPC_ADDRESS the shim's `start`
// saw (one connection per containerd). A failed send is tried again 5 times, 1 to 5 s
// apart, as containerd's shim publisher requeues (maxRequeue 5, sleeping `count` s): an exit
// lives through a containerd restart of ~15 s. Events to one address stay in order. Loaded with the first event (events.ts): protobuf and the ttrpc client
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

/** Tries after the first, and the wait before try n (1-based): n seconds. */
const RETRIES = 5;
const RETRY_UNIT_MS = 1000;

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
  /** Addresses whose last event was dropped: the next is tried once, not for 15 s each (a backlog). */
  private down = new Set<string>();
  private closed = false;

  constructor(private readonly log?: Logger, private readonly retryUnitMs = RETRY_UNIT_MS) {}

  /** Send one event; failures are logged, not thrown. */
  async send<K extends EventKind>(address: string, namespace: string, topic: string, kind: K, msg: EventInit<K>): Promise<void> {
    const schema: DescMessage = SCHEMAS[kind];
    const value = toBinary(schema, create(schema, msg as MessageInitShape<DescMessage>));
    const typeUrl = schema.typeName; // containerd 1.6 registers events by bare name
    // the envelope's time is the event's, whichever try gets it there
    const timestamp = timestampFromDate(new Date());
    for (let i = 0; ; i++) {
      try {
        const c = await this.client(address);
        await c.service(Events).forward({
          envelope: { timestamp, namespace, topic, event: { typeUrl, value } },
        }, { timeoutMs: 5000, metadata: { [NAMESPACE_KEY]: namespace } });
        this.down.delete(address);
        return;
      } catch (e) {
        this.clients.delete(address);
        if (i >= RETRIES || this.closed || this.down.has(address)) {
          this.down.add(address);
          this.log?.warn('cannot publish task event', { address, topic, err: errorMessage(e) });
          return;
        }
        await new Promise((r) => setTimeout(r, (i + 1) * this.retryUnitMs));
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
    this.closed = true;
    for (const c of this.clients.values()) void c.then((cl) => cl.close(), () => {});
    this.clients.clear();
  }
}
