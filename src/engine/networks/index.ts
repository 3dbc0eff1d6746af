// Docker networks (DESIGN.md "Networking": docker's bridge network and -p on the CRI pods'
// CNI machinery): the network records and their API (service.ts), a container's namespace
// and CNI attachments at each run (attach.ts), ports (ports.ts; their host sockets,
// hostports.ts), /etc files (etc.ts), and
// the container hooks that tie them to the container service (hooks.ts).
// Owns <graph>/networks (records, CNI cache, host-local leases), <state>/networks/netns and
// the host bridges of its networks. May call network/ (CNI, netns), common/.
import * as path from 'node:path';
import type { Logger } from '../../common/log.js';
import type { Faults } from '../../common/faults.js';
import { CniClient, NetnsManager } from '../../network/index.js';
import type { DaemonConfig } from '../config.js';
import type { EventBus } from '../events.js';
import type { Container } from '../containers/model.js';
import { ContainerNetworks } from './attach.js';
import { NetworkHooks, type NetworkHooksDeps } from './hooks.js';
import { DEFAULT_POOLS, NetworkService } from './service.js';
import { NetworkStore } from './store.js';

export { NetworkService } from './service.js';
export { NetworkHooks } from './hooks.js';

export interface Networks {
  service: NetworkService;
  hooks: NetworkHooks;
}

export async function startNetworks(c: DaemonConfig, log: Logger, events: EventBus, deps: Omit<NetworkHooksDeps, 'networks' | 'attach'>, faults?: Faults): Promise<Networks> {
  const root = path.join(c.graph, 'networks');
  const ipamDir = path.join(root, 'ipam');
  const service = new NetworkService({
    store: new NetworkStore(path.join(root, 'records')), ipamDir, bridge: c.bridge, pools: c.addressPools ?? DEFAULT_POOLS, log, events, faults, hostBridges: true,
    ...(c.bip ? { bip: c.bip } : {}), ...(c.fixedCidr ? { fixedCidr: c.fixedCidr } : {}), bridgeIcc: c.bridgeIcc, bridgeMasq: c.bridgeMasq,
    ...(c.bridgeMtu ? { bridgeMtu: c.bridgeMtu } : {}), ...(c.bridgeIpv6 ? { bridgeIpv6: c.bridgeIpv6 } : {}), ...(c.bridgeHostIp ? { bridgeHostIp: c.bridgeHostIp } : {}),
  });
  // dockerd's docker-proxy: tsula has none, it publishes every port with NAT rules
  if (c.userlandProxy) {
    log.warn('daemon.json asks for the userland proxy (userland-proxy true): tsulad has none; it publishes ports without a proxy, through its NAT rules (the CNI portmap plugin\'s DNAT, with SNAT so that hairpin connections and connections to 127.0.0.1 work too)');
  }
  await service.init();
  const containers = (): Container[] => deps.containers.list();
  service.setContainers(containers);
  const attach = new ContainerNetworks({
    netns: new NetnsManager({ dir: path.join(c.state, 'networks', 'netns') }),
    cni: new CniClient({ binDirs: c.cniBinDirs, cacheDir: path.join(root, 'cni'), log }),
    networks: service, ipamDir, containers, log, isVmRuntime: deps.isVmRuntime, faults,
    dnsDefaults: c.dnsDefaults, hostGatewayIps: c.hostGatewayIps,
  });
  return { service, hooks: new NetworkHooks({ ...deps, networks: service, attach }) };
}
