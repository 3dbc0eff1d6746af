// The task sockets' server: containerd.task.v2.Task over ttrpc for every task (or one
// namespace's), and on the sandboxer's own socket the sandbox Controller (tsulad's calls)
// and the JSON Admin service for the shim launcher (Listen, Cleanup) and `tsula sandbox`
// (List). Loaded on
// the first connection to the socket (common/lazy-endpoint): the ttrpc server, the Task
// API's descriptors and protobuf's runtime are not held by an idle sandboxer.
import type { ConnectionServer } from '../common/lazy-endpoint.js';
import { TtrpcServer } from '../ttrpc/server.js';
import type { Logger } from '../common/log.js';
import type { Sandboxes } from './sandboxes.js';
import type { TaskManager } from './tasks/manager.js';
import { taskService, TaskService } from './tasks/service.js';
import { Controller, controllerTtrpcService, type ControllerDeps } from './controller.js';
import { ADMIN_SERVICE, decodeJson, encodeJson, sandboxSummary, type CleanupRequest, type CleanupResponse, type ListenRequest, type ListenResponse, type ListResponse, type ProcessesRequest, type ProcessesResponse } from './admin.js';
import type { NamespaceSockets } from './namespace-sockets.js';

export interface TaskServerDeps {
  tasks: TaskManager;
  sandboxes: Sandboxes;
  log: Logger;
  namespaces: NamespaceSockets;
  /** The Controller's dependencies (the sandboxer's own socket serves it). */
  controller: ControllerDeps;
}

/** The sandboxer's own task socket (every namespace's tasks, and Admin), or namespace `ns`'s (its tasks only). */
export function taskServer(d: TaskServerDeps, ns?: string): ConnectionServer {
  const ttrpc = new TtrpcServer({ log: d.log });
  ttrpc.registerService(TaskService, taskService(d.tasks, ns));
  if (ns !== undefined) return ttrpc;
  ttrpc.registerService(Controller, controllerTtrpcService(d.controller));
  ttrpc.register(ADMIN_SERVICE, {
    Listen: async (p) => {
      const r = decodeJson<ListenRequest>(p);
      return encodeJson({ address: await d.namespaces.listen(r.namespace) } satisfies ListenResponse);
    },
    Cleanup: async (p) => {
      const r = decodeJson<CleanupRequest>(p);
      const x = await d.tasks.cleanup(r.id, r.namespace, r.bundle);
      const res: CleanupResponse = x
        ? { known: true, pid: x.pid, exitStatus: x.exitStatus, exitedAt: x.exitedAt?.getTime() ?? Date.now() }
        : { known: false, pid: 0, exitStatus: 137, exitedAt: Date.now() };
      return encodeJson(res);
    },
    List: () => encodeJson({ sandboxes: d.sandboxes.list().map(sandboxSummary) } satisfies ListResponse),
    Processes: async (p) => {
      const r = decodeJson<ProcessesRequest>(p);
      return encodeJson({ processes: await d.tasks.processes(d.tasks.get(r.id)) } satisfies ProcessesResponse);
    },
  });
  return ttrpc;
}
