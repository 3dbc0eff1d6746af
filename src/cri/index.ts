// The CRI front end (kubelet, crictl): runtime.v1.RuntimeService and ImageService over gRPC,
// translated into calls on the engine's services (images, containers, pods) and the CNI
// network; streaming (exec, attach, port-forward) through its own HTTP server. Owns no state
// of its own: what it makes lives in the engine's stores. May call engine/, image/,
// network/ and common/.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../common/log.js';
import type { DaemonConfig } from '../engine/config.js';
import type { ContainerService } from '../engine/containers/service.js';
import type { ExecService } from '../engine/containers/exec.js';
import { criContainerService, fullStatus, requireCriRunning, streamingRuntime } from './container-rpcs.js';
import { CriEvents } from './events.js';
import { ContainerEventType } from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import type { LocalImageStore } from '../image/store.js';
import type { PodService } from '../engine/pods/index.js';
import { criPodService } from './pods.js';
import { StreamingServer, type StreamingRuntime } from './streaming/index.js';
import { forwardToPod } from './forward.js';
import { createCriServer, type CriServer, type RuntimeServiceImpl } from './server.js';
import { criImageService, qualified } from './images.js';
import { criRuntimeBasics, unimplementedRuntime } from './runtime.js';
import { criStatsService } from './stats.js';
import { newStatsService } from '../engine/stats/index.js';

export interface CriDeps {
  config: DaemonConfig;
  images: LocalImageStore;
  cs: ContainerService;
  es: ExecService;
  pods: PodService;
  /** The snapshot driver's root: containers' writable layers (ImageFsInfo). */
  driverRoot: string;
  version: string;
  log: Logger;
}

/** Why pods can't get a network yet (CNI), or null. */
async function cniNotReady(c: DaemonConfig): Promise<string | null> {
  if (c.networkPlugin !== 'cni') return null;
  const files = await fs.readdir(c.cniConfDir).catch(() => []);
  if (!files.some((f) => /\.(conflist|conf|json)$/.test(f))) return `cni config uninitialized: no network config in ${c.cniConfDir}`;
  return null;
}

export async function startCri(d: CriDeps): Promise<CriServer> {
  const c = d.config;
  const imageNames = async (id: string) => {
    const img = await d.images.get(id).catch(() => null);
    return img && { repoTags: img.repoTags.map(qualified), repoDigests: img.repoDigests.map(qualified) };
  };
  const engine = { cs: d.cs, es: d.es, pods: d.pods, imageNames };
  const events = new CriEvents({ cs: d.cs, pods: d.pods, status: (ctr) => fullStatus(engine, ctr) });
  d.pods.onLost((pod) => events.pod(pod, ContainerEventType.CONTAINER_STOPPED_EVENT));
  const streamRuntime: StreamingRuntime = {
    ...streamingRuntime(engine),
    portForward: async (podId, port, stream, signal) => forwardToPod(d.pods.get(podId), port, stream, signal),
  };
  const streaming = new StreamingServer({ runtime: streamRuntime, address: c.streamServer.address, port: c.streamServer.port, log: d.log });
  await streaming.start();
  const runtime = {
    ...unimplementedRuntime(),
    ...criRuntimeBasics({
      version: d.version,
      networkNotReady: () => cniNotReady(c),
      config: () => ({
        podSandboxImage: c.podSandboxImage, networkPlugin: c.networkPlugin, cniBinDirs: c.cniBinDirs, cniConfDir: c.cniConfDir,
        streamServer: c.streamServer, criRuntimes: c.criRuntimes, criSandboxers: c.criSandboxers, defaultRuntime: c.defaultRuntime,
      }),
    }),
    ...criPodService(d.pods, events),
    getContainerEvents: async (_req: Parameters<RuntimeServiceImpl['getContainerEvents']>[0], signal: AbortSignal,
      send: Parameters<RuntimeServiceImpl['getContainerEvents']>[2]) => events.stream(signal, send),
    ...criContainerService(engine),
    ...criStatsService({ cs: d.cs, pods: d.pods, driverRoot: d.driverRoot, stats: newStatsService({ storageDriver: c.storageDriver, driverRoot: d.driverRoot, pods: d.pods, cs: d.cs }) }),
    exec: async (req: Parameters<RuntimeServiceImpl['exec']>[0]) => { requireCriRunning(d.cs, req.containerId); return streaming.getExec(req); },
    attach: async (req: Parameters<RuntimeServiceImpl['attach']>[0]) => { requireCriRunning(d.cs, req.containerId); return streaming.getAttach(req); },
    portForward: async (req: Parameters<RuntimeServiceImpl['portForward']>[0]) => {
      const pod = d.pods.requireReady(req.podSandboxId);
      return streaming.getPortForward({ ...req, podSandboxId: pod.id });
    },
  };
  const images = criImageService({
    images: d.images, imageRoot: path.join(c.graph, 'image'), containerRoot: d.driverRoot,
    inUse: (id) => d.cs.imageInUse(id), pinned: () => c.podSandboxImage || undefined,
  });
  const server = createCriServer({ runtime, images, log: d.log });
  return { serve: (c) => server.serve(c), close: async () => { events.close(); await server.close(); await streaming.stop(); } };
}
