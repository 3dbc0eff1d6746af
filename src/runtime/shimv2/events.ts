// The engine's end of shim events: containerd.services.events.ttrpc.v1.Events/Forward on a
// ttrpc socket whose path shims get as TTRPC_ADDRESS. A 1.6 shim publishes TaskCreate,
// TaskStart, TaskExit, TaskDelete, exec and OOM events there, each an Envelope with a
// google.protobuf.Any whose type_url is the bare message name (containerd.events.TaskExit).
import { createRegistry, type Message } from '@bufbuild/protobuf';
import { anyUnpack, timestampDate } from '@bufbuild/protobuf/wkt';
import { Events } from '../../gen/github.com/containerd/containerd/api/services/ttrpc/events/v1/events_pb.js';
import { file_github_com_containerd_containerd_api_events_task } from '../../gen/github.com/containerd/containerd/api/events/task_pb.js';
import { TtrpcServer } from '../../ttrpc/server.js';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';

const registry = createRegistry(file_github_com_containerd_containerd_api_events_task);

export interface TaskEvent {
  /** /tasks/create, /tasks/start, /tasks/exit, /tasks/delete, /tasks/exec-added, ... */
  topic: string;
  namespace: string;
  timestamp: Date;
  /** containerd.events.TaskExit, ... */
  type: string;
  /** The task's container id (every task event carries one). */
  containerId: string;
  /** The decoded containerd.events.* message; null for a type we don't know. */
  event: (Message & Record<string, unknown>) | null;
}

export interface EventsServer {
  server: TtrpcServer;
  socketPath: string;
  close(): Promise<void>;
}

/**
 * Serve Events/Forward on socketPath. onEvent runs for each event; it must not throw
 * (errors are logged and the shim still gets OK, or it would re-send the event).
 */
export async function startEventsServer(socketPath: string, onEvent: (e: TaskEvent) => void, log?: Logger): Promise<EventsServer> {
  const server = new TtrpcServer({ log });
  server.registerService(Events, {
    forward: (req, ctx) => {
      const env = req.envelope;
      if (!env) return {};
      const type = env.event?.typeUrl.replace(/^.*\//, '') ?? '';
      let event: TaskEvent['event'] = null;
      try {
        event = env.event ? (anyUnpack(env.event, registry) as TaskEvent['event'] ?? null) : null;
      } catch (e) {
        log?.warn('undecodable shim event', { topic: env.topic, type, err: errorMessage(e) });
      }
      const containerId = typeof event?.containerId === 'string' ? event.containerId : '';
      try {
        onEvent({
          topic: env.topic, namespace: env.namespace || ctx.namespace || '', type, containerId, event,
          timestamp: env.timestamp ? timestampDate(env.timestamp) : new Date(),
        });
      } catch (e) {
        log?.error('shim event handler failed', { topic: env.topic, err: errorMessage(e) });
      }
      return {};
    },
  });
  await server.listen(socketPath);
  return { server, socketPath, close: () => server.close() };
}
