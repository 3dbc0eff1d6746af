// Pods (DESIGN.md "Pods"): the engine's typed pod model, kept apart from any wire format.
// A host pod is namespaces on the host (network from CNI, UTS/IPC pinned, a PID holder when
// shared); a sandboxer pod is a sandbox (a VM) of tsula-sandboxer or another sandboxer.
// Owns <graph>/pods (records), <state>/pods (namespace files, /etc files), <state>/netns and
// the CNI result cache. May call network/, sandboxer/ (launch, Controller protos), common/.
import * as path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { Faults } from '../../common/faults.js';
import type { DaemonConfig } from '../config.js';
import type { ContainerService } from '../containers/service.js';
import { CniClient, NetnsManager, PodNetwork, loadNetworkConfig } from '../../network/index.js';
import { PodStore } from './store.js';
import { PodService, type HandlerInfo } from './service.js';
import type { PodRecord } from './record.js';
import type { PodSandboxes } from './service.js';

export { PodService, type HandlerInfo } from './service.js';
export type { PodRecord, PodSpec } from './record.js';

export interface PodDeps {
  config: DaemonConfig;
  cs: ContainerService;
  handler(runtimeHandler: string): Promise<HandlerInfo>;
  log: Logger;
  faults?: Faults;
}

export async function startPods(d: PodDeps): Promise<PodService> {
  const c = d.config;
  const netns = new NetnsManager({ dir: path.join(c.state, 'netns') });
  // the result cache outlives a reboot, as libcni's: DEL then still frees the IPAM leases
  const network = c.networkPlugin === 'cni'
    ? new PodNetwork({
      netns, log: d.log,
      cni: new CniClient({ binDirs: c.cniBinDirs, cacheDir: path.join(c.graph, 'cni', 'results') }),
      config: () => loadNetworkConfig(c.cniConfDir),
    })
    : null;
  const pods = new PodService({
    store: new PodStore(path.join(c.graph, 'pods')), stateDir: path.join(c.state, 'pods'), netns, network,
    containers: { stopAll: (id, t) => d.cs.stopPod(id, t), removeAll: (id) => d.cs.removePod(id) },
    sandboxes: new LazySandboxes(), handler: d.handler, log: d.log, faults: d.faults,
  });
  await pods.recover();
  pods.watch();
  return pods;
}

/**
 * The sandboxer's Controller client (gRPC, protobuf) loads with the first VM pod: a node
 * with runc pods only never pays its memory.
 */
class LazySandboxes implements PodSandboxes {
  private impl?: Promise<PodSandboxes>;
  private get(): Promise<PodSandboxes> {
    return (this.impl ??= import('./sandboxer.js').then((m) => new m.ControllerSandboxes()));
  }
  async start(pod: PodRecord, signal?: AbortSignal): Promise<void> { return (await this.get()).start(pod, signal); }
  async stop(pod: PodRecord): Promise<void> { return (await this.get()).stop(pod); }
  async remove(pod: PodRecord): Promise<void> { return (await this.get()).remove(pod); }
  async status(pod: PodRecord): Promise<{ pid: number; ready: boolean }> { return (await this.get()).status(pod); }
}
