// containerd.services.sandbox.v1.Controller: what iSulad's cri-sandboxers and containerd's
// sandbox API call over gRPC, and tsulad over ttrpc on the task socket. Create records a
// sandbox, Start brings its kind up and answers with the address of the Task API that serves
// the sandbox's containers.
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { Controller } from '../gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import { invalidArgument, unimplemented } from '../common/errors.js';
import { SPEC_TYPE_URL } from '../agent/protocol.js';
import type { Spec } from '../oci/types.js';
import { HOSTNAME_ANNOTATION, limitAnnotations, podFromSpec, podAnnotations } from './podspec.js';
import type { Sandboxes } from './sandboxes.js';
import type { SandboxRecord } from './kinds/types.js';
import { MACHINE_INFO } from './podspec.js';
import type { TaskManager } from './tasks/manager.js';
import type { GrpcImpl } from '../common/grpc.js';
import type { ServiceImpl } from '../ttrpc/server.js';
import { ts } from './tasks/topics.js';

export type ControllerMethods = typeof Controller extends GenService<infer S extends GenServiceMethods> ? S : never;

export { Controller };

export interface ControllerDeps {
  sandboxes: Sandboxes;
  tasks: TaskManager;
  /** ttrpc+unix:///abs/task.sock */
  taskAddress: string;
  /** The kind used when the request names no sandboxer. */
  defaultKind: string;
}

/** Status's verbose info: the kind, the netns, and a VM's size (tsulad shows it as a container's limit). */
function statusInfo(sb: SandboxRecord): Record<string, string> {
  return {
    kind: sb.kind, netns: sb.netnsPath,
    ...(sb.machine ? { [MACHINE_INFO.memoryMib]: String(sb.machine.memoryMib), [MACHINE_INFO.vcpus]: String(sb.machine.vcpus) } : {}),
  };
}

export function controllerService(d: ControllerDeps): GrpcImpl<ControllerMethods> {
  const stopTasks = async (id: string) => {
    for (const t of d.tasks.list()) {
      if (t.rec.sandboxId === id && t.rec.status !== 'stopped') await d.tasks.kill(t, '', 9, true).catch(() => {});
    }
  };
  return {
    create: async (r) => {
      // containerd's sandbox API may give the pod's OCI spec: its hostname, whether the pod
      // has a network namespace at all (netns_path '' alone can't say), its net.* sysctls
      let pod = null;
      if (r.sandbox?.spec?.typeUrl === SPEC_TYPE_URL) {
        try {
          pod = podFromSpec(JSON.parse(Buffer.from(r.sandbox.spec.value).toString('utf8')) as Spec);
        } catch (e) {
          throw invalidArgument(`sandbox ${r.sandboxId}: sandbox.spec is not a JSON OCI spec: ${(e as Error).message}`);
        }
      }
      const sb = await d.sandboxes.create({
        id: r.sandboxId, kind: r.sandboxer || d.defaultKind, netnsPath: r.netnsPath || pod?.netnsPath || '',
        hostNetwork: !r.netnsPath && !!pod?.hostNetwork,
        annotations: { ...(pod?.hostname ? { [HOSTNAME_ANNOTATION]: pod.hostname } : {}), ...(pod ? { ...limitAnnotations(pod), ...podAnnotations(pod) } : {}), ...r.annotations },
      });
      return { sandboxId: sb.id };
    },
    start: async (r) => {
      const sb = await d.sandboxes.start(r.sandboxId);
      return {
        sandboxId: sb.id, pid: sb.pid, createdAt: timestampFromDate(new Date(sb.createdAt)),
        labels: {}, address: d.taskAddress, version: 2,
      };
    },
    platform: async (r) => {
      d.sandboxes.get(r.sandboxId);
      return { platform: { os: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch } };
    },
    stop: async (r) => {
      d.sandboxes.get(r.sandboxId);
      await stopTasks(r.sandboxId);
      await d.sandboxes.stop(r.sandboxId, r.timeoutSecs);
      return {};
    },
    wait: async (r, signal) => {
      const sb = await d.sandboxes.wait(r.sandboxId, signal);
      return { exitStatus: sb.exitStatus ?? 0, exitedAt: ts(sb.exitedAt ? new Date(sb.exitedAt) : null) };
    },
    status: async (r) => {
      const sb = d.sandboxes.get(r.sandboxId);
      return {
        sandboxId: sb.id, pid: sb.pid, state: sb.state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
        info: r.verbose ? statusInfo(sb) : {},
        createdAt: timestampFromDate(new Date(sb.createdAt)), exitedAt: ts(sb.exitedAt ? new Date(sb.exitedAt) : null),
        address: sb.state === 'ready' ? d.taskAddress : '', version: 2,
      };
    },
    shutdown: async (r) => {
      d.sandboxes.get(r.sandboxId);
      await stopTasks(r.sandboxId);
      await d.sandboxes.stop(r.sandboxId, 0);
      await d.sandboxes.remove(r.sandboxId);
      return {};
    },
    metrics: () => Promise.reject(unimplemented('Metrics is not implemented by tsula-sandboxer')),
    // iSulad pushes container lists with fields ["extensions.tasks"]; the runc kind needs none
    update: async (r) => { d.sandboxes.get(r.sandboxId); return {}; },
  };
}

/**
 * The same handlers for ttrpc (the task socket): tsulad drives its own sandboxer there, so
 * that neither process loads grpc-js (~4 MB of the sandboxer's RSS) for its VM pods. Every
 * Controller method is unary; the call's signal is ttrpc's (deadline, connection gone).
 */
export function controllerTtrpcService(d: ControllerDeps): ServiceImpl<ControllerMethods> {
  const impl = controllerService(d) as Record<string, (req: unknown, signal: AbortSignal) => Promise<unknown>>;
  return Object.fromEntries(Object.entries(impl).map(([name, fn]) =>
    [name, (req: unknown, ctx: { signal: AbortSignal }) => fn(req, ctx.signal)])) as ServiceImpl<ControllerMethods>;
}
