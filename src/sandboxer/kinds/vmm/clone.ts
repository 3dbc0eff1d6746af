// A pod's VM restored from a VM template (templates.ts) instead of booted: QEMU starts with
// the template's machine and waits (-incoming defer); over QMP it loads the saved device
// state (x-ignore-shared: the RAM is not in the stream, it is the template's RAM file); then
// the pod's own devices are hot-plugged (QEMU 7.2 can't migrate vhost-user-fs, and the tap is
// the pod's) and the agent makes the guest unique (CloneSetup: CRNG reseed, clock, hostname,
// the share's mount). The caller configures the NIC as for a booted pod.
//
// The RAM: without virtio-fs the clone maps the template's file privately (copy-on-write:
// every clone shares the template's pages until it writes them). virtiofsd maps the guest's
// RAM from the same fd as QEMU and must see the guest's writes, which a private mapping keeps
// from it (virtiofsd fails at once on the virtqueue it can't see, and would write into the
// template's file): with virtio-fs the clone's RAM is QEMU's own memfd, shared, into which
// the template's pages in use are copied while QEMU and QMP start (ram.ts).
import type { AccelChoice, HypervisorConfig, RunningVm, VmPaths } from '../../../hypervisor/index.js';
import { hypervisorFor, launchVm, stopVmm, QmpClient, TEMPLATE_SLOTS } from '../../../hypervisor/index.js';
import { errorMessage, unavailable } from '../../../common/errors.js';
import { GuestTasks } from './tasks.js';
import { shellQuote } from '../../../common/exec.js';
import { templateConfig, type Template } from './templates.js';
import { copyRuns, findQemuMemfd } from './ram.js';
import type { TtrpcClient } from '../../../ttrpc/client.js';

export interface CloneRequest {
  id: string;
  cfg: HypervisorConfig;
  accel: AccelChoice;
  template: Template;
  paths: VmPaths;
  netns?: string;
  /** A cached clone (cache.ts): QEMU in a netns of its own, for a pod that does not exist yet. */
  ownNetns?: boolean;
  /** A cached clone: no CloneSetup now (the pod that takes it sends one). */
  deferSetup?: boolean;
  /** QEMU's niceness (a cached clone's: cache.ts). */
  nice?: number;
  /** The pod's virtio-fs: virtiofsd listening on socket (or once `ready` resolves: before the hot-plug). */
  sharedFs?: { socket: string; tag: string; ready?: Promise<void> };
  nic?: { tap: string; mac: string };
  hostname: string;
}

export interface Clone {
  vm: RunningVm;
  tasks: GuestTasks;
  /** ms: QEMU start to device state loaded; the hot-plugs; the agent's first answer to CloneSetup done. */
  timing: {
    restoreMs: number; hotplugMs: number; setupMs: number; ram: 'shared' | 'memfd'; ramCopyMs?: number;
    /** A clone the VM cache held (cache.ts): restored ahead; the pod's own part took claimMs. */
    cached?: boolean; claimMs?: number;
    /** A cached clone's throwaway container (warm-container.ts), run before it waited. */
    warmUpMs?: number;
  };
}

/** The QMP arguments that hot-plug a clone's devices, in order (pure: unit-tested). */
export function hotplugCommands(cfg: HypervisorConfig, r: Pick<CloneRequest, 'sharedFs' | 'nic'>): Array<[string, Record<string, unknown>]> {
  const bus = (slot: string) => (cfg.machineType === 'q35' ? { bus: slot } : {});
  const out: Array<[string, Record<string, unknown>]> = [];
  if (r.nic) {
    out.push(['netdev_add', { type: 'tap', id: 'net0', ifname: r.nic.tap, script: 'no', downscript: 'no', ...(cfg.disableVhostNet ? {} : { vhost: true }) }]);
    out.push(['device_add', { driver: 'virtio-net-pci', id: 'nic0', netdev: 'net0', mac: r.nic.mac, ...bus(TEMPLATE_SLOTS.nic) }]);
  }
  if (r.sharedFs) {
    out.push(['chardev-add', { id: 'fs0', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: r.sharedFs.socket } }, server: false } } }]);
    out.push(['device_add', { driver: 'vhost-user-fs-pci', id: 'fs0dev', chardev: 'fs0', tag: r.sharedFs.tag, ...bus(TEMPLATE_SLOTS.fs) }]);
  }
  return out;
}

export async function startClone(r: CloneRequest, timeoutMs: number): Promise<Clone> {
  const t0 = Date.now();
  const copy = !!r.sharedFs;
  let ramCopyMs = 0;
  let qmp: QmpClient | null = null;
  let vm: RunningVm | null = null;
  let restoreMs = 0;
  let hotplugMs = 0;
  let setup: Promise<unknown> | null = null;
  let setupDone = 0;
  try {
    const hv = hypervisorFor(templateConfig(r.cfg));
    vm = await launchVm(hv, {
      id: r.id, accel: r.accel.accel, paths: r.paths, ...(r.netns ? { netns: r.netns } : {}), ...(r.ownNetns ? { ownNetns: true } : {}), ...(r.nice ? { nice: r.nice } : {}),
      template: copy ? { shareRam: true, restore: true } : { ramFile: r.template.ram, shareRam: false, restore: true },
    }, {
      timeoutMs,
      prepare: async (vmm) => {
        // the RAM is filled while QMP connects; it must be whole before the device state
        // loads (virtio's state is checked against the rings in guest memory)
        const filled = copy ? fillRam(r.template, vmm, t0 + timeoutMs).then((ms) => { ramCopyMs = ms; }) : null;
        filled?.catch(() => { /* awaited below */ });
        qmp = await QmpClient.connect(r.paths.qmpSocket, `sandbox-${r.id}`, timeoutMs);
        await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
        await filled;
        await qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(r.template.state)}` });
        await qmp.waitMigration(timeoutMs);
        restoreMs = Date.now() - t0;
        // plugged while the guest is still paused: it sees them as soon as it runs, and
        // probes them while the agent answers
        await r.sharedFs?.ready;
        const t1 = Date.now();
        for (const [cmd, args] of hotplugCommands(r.cfg, r)) await qmp.execute(cmd, args);
        hotplugMs = Date.now() - t1;
        // the template was saved paused, and a restored VM keeps the state it was saved in
        await qmp.execute('cont');
      },
      // CloneSetup goes with the first Ping; nothing runs in the guest before it is done
      ...(r.deferSetup ? {} : {
        onConnect: (client: TtrpcClient) => {
          setup = new GuestTasks(client).cloneSetup({ hostname: r.hostname, mountShared: copy, network: !!r.nic })
            .then(() => { setupDone = Date.now(); });
          setup.catch(() => { /* awaited below */ });
        },
      }),
    });
    const t2 = Date.now();
    const tasks = new GuestTasks(vm.client);
    if (!r.deferSetup) {
      if (!setup) throw unavailable('the agent connection was made without CloneSetup');
      await setup;
    }
    return { vm, tasks, timing: { restoreMs, hotplugMs, setupMs: Math.max(setupDone - t2, 0), ...(copy ? { ram: 'memfd', ramCopyMs } : { ram: 'shared' }) } };
  } catch (e) {
    if (vm) {
      vm.client.close();
      await stopVmm(vm.pid, async () => {}, 0);
    }
    throw e;
  } finally {
    (qmp as QmpClient | null)?.close();
  }
}

/** Copy the template's pages in use into the clone's memfd: ms taken. */
async function fillRam(t: Template, vmm: { pid: number; alive: () => boolean }, deadline: number): Promise<number> {
  const memfd = await findQemuMemfd(vmm.pid, deadline, vmm.alive);
  const t0 = Date.now();
  await copyRuns(t.ram, memfd, t.runs).catch((e: unknown) => {
    throw unavailable(`cannot copy the VM template's RAM (${t.ram}) into the guest's: ${errorMessage(e)}`);
  });
  return Date.now() - t0;
}
