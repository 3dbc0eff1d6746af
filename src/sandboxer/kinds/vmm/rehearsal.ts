// A clone's first requests, rehearsed in the template VM before it is saved, as a clone sends
// them (CloneSetup, and a Ping along; then a pod network's ConfigureNetwork): its agent then
// holds the JS of that path compiled, which a clone's cold guest would otherwise compile
// under TCG (src/agent/clone.ts, src/agent/network.ts). Nothing is changed in the guest: the
// setup program checks its input and exits, the network's NICs are stand-ins and no command
// is applied. Its failure costs speed only: the template is still made.
//
// A container's life (create, start, wait, delete of a throwaway container from the image)
// was rehearsed too, and taken out again: a clone's first container took as long with it
// (~1.0 s in the guest against ~0.35 s for its second). What the first pays is QEMU
// translating conmon's, crun's and the kernel's code afresh (a clone's translation cache
// starts empty), not the agent's JavaScript: a throwaway container helps only in the QEMU
// that runs the pod, which is what the VM cache does (warm-container.ts).
import { errorMessage } from '../../../common/errors.js';
import { compareVersions } from '../../../common/compare.js';
import type { RunningVm } from '../../../hypervisor/index.js';
import type { ConfigureNetworkRequest } from '../../../agent/protocol.js';
import { GuestTasks } from './tasks.js';
import { guestNetwork } from './network.js';

/** The agent that knows the rehearsals (an older one would really set its guest up). */
const REHEARSAL_AGENT = '0.11.0';
/** A pod network's request as the sandboxer makes it (guestNetwork), both families. */
const REHEARSAL_NETWORK: ConfigureNetworkRequest = {
  ...guestNetwork({
    name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, up: true,
    addresses: [{ family: 4, address: '10.88.0.2/16', scope: 'global' }, { family: 6, address: 'fd00::2/64', scope: 'global' }],
    routes: [{ family: 4, dst: 'default', gateway: '10.88.0.1', dev: 'eth0' }, { family: 6, dst: 'fd00::/64', dev: 'eth0' }],
  }),
  rehearse: true,
};

/** Rehearse a clone's first requests in the template VM `vm` (see above); `skipped` hears why it was not. */
export async function rehearseClone(vm: RunningVm, skipped: (why: string) => void): Promise<void> {
  if (compareVersions(vm.ping.version, REHEARSAL_AGENT) < 0) return skipped(`agent ${vm.ping.version} is older than ${REHEARSAL_AGENT}`);
  const tasks = new GuestTasks(vm.client);
  try {
    await Promise.all([
      tasks.cloneSetup({ rehearse: true, hostname: 'template', mountShared: false, network: false }),
      tasks.ping(),
    ]);
    await tasks.configureNetwork(REHEARSAL_NETWORK);
  } catch (e) {
    skipped(errorMessage(e));
  }
}
