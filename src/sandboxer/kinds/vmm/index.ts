// Kind "vmm": a pod is a VM (one qemu per sandbox, named `sandbox-<id>`) with tsula-agent
// inside. The sandboxer holds the agent's channel (virtio-serial: these hosts have no vsock,
// so the guest agent has no address of its own and its task traffic goes through us).
// Containers run in the guest; `tasks(id)` is the host-side Task API for them.
//
// Stop is graceful then hard: the agent's Shutdown (the guest powers off; -no-reboot makes
// qemu exit), then SIGTERM, then SIGKILL. When qemu dies, every task of the sandbox is
// reported exited with 255 (GuestTasks).
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Spec } from '../../../oci/types.js';
import type { SandboxKind, SandboxRecord, StartedSandbox } from '../types.js';
import { TtrpcClient } from '../../../ttrpc/client.js';
import { failedPrecondition, unavailable, errorMessage } from '../../../common/errors.js';
import {
  detectAccel, hypervisorFor, launchVm, loadVmmConfig, pidAlive, stopVmm,
  type AccelChoice, type VmPaths, type VmmConfig,
} from '../../../hypervisor/index.js';
import { GuestTasks } from './tasks.js';

export { GuestTasks, VM_DIED_EXIT } from './tasks.js';

export interface VmmKindDeps {
  stateDir: string;
  /** vmm.toml to read at each sandbox start (default /etc/tsula/vmm.toml). */
  configPath?: string;
  /** A config given directly (tests); wins over configPath. */
  config?: VmmConfig;
  /** Accelerator override (tests); default: detected. */
  accel?: AccelChoice;
}

interface Held {
  pid: number;
  tasks: GuestTasks;
}

// sun_path holds 108 bytes; leave room for the longest socket name
const MAX_SOCK_DIR = 90;

export class VmmSandboxKind implements SandboxKind {
  readonly name = 'vmm';
  private held = new Map<string, Held>();

  constructor(private readonly d: VmmKindDeps) {}

  private vmDir(sandboxesDir: string, id: string): string {
    const dir = path.join(sandboxesDir, `${id}.vm`);
    if (dir.length <= MAX_SOCK_DIR) return dir;
    return path.join(this.d.stateDir, 'vm', createHash('sha256').update(id).digest('hex').slice(0, 16));
  }

  async start(sb: SandboxRecord, dir: string): Promise<StartedSandbox> {
    const cfg = this.d.config ?? await loadVmmConfig(this.d.configPath);
    const hvCfg = cfg.hypervisors[cfg.default];
    if (!hvCfg) throw failedPrecondition(`vmm: no [hypervisor.${cfg.default}] configuration`);
    const hv = hypervisorFor(hvCfg);
    let accel = this.d.accel ?? await detectAccel();
    const vmDir = this.vmDir(dir, sb.id);
    await fs.mkdir(vmDir, { recursive: true, mode: 0o700 });
    const paths: VmPaths = {
      agentSocket: path.join(vmDir, 'agent.sock'), debugSocket: path.join(vmDir, 'debug.sock'),
      qmpSocket: path.join(vmDir, 'qmp.sock'), consoleLog: path.join(vmDir, 'console.log'), pidFile: path.join(vmDir, 'vmm.pid'),
    };
    const launch = (a: AccelChoice) => launchVm(hv, { id: sb.id, accel: a.accel, paths }, { timeoutMs: hvCfg.bootTimeout * 1000 });
    let vm;
    try {
      vm = await launch(accel);
    } catch (e) {
      // the bounded boot probe: a KVM that the CPU flags vouch for can still hang a stock
      // kernel (nested, paravirtual hosts); one retry under TCG, saying why
      if (accel.accel !== 'kvm') throw e;
      accel = { accel: 'tcg', reason: `KVM boot failed (${errorMessage(e).split('\n')[0]}): using TCG` };
      vm = await launch(accel);
    }
    const tasks = new GuestTasks(vm.client);
    this.held.set(sb.id, { pid: vm.pid, tasks });
    void vm.exited.then((status) => {
      tasks.vmExited(`sandbox-${sb.id}: ${hv.name} exited with status ${status}`);
      if (this.held.get(sb.id)?.pid === vm.pid) this.held.delete(sb.id);
    });
    return {
      pid: vm.pid,
      kindState: {
        startTime: (await procStat(vm.pid)).startTime, hypervisor: hv.name, accel: accel.accel, accelReason: accel.reason,
        paths, kernelRelease: vm.ping.kernelRelease, readyMs: vm.readyMs,
      },
    };
  }

  async alive(sb: SandboxRecord): Promise<boolean> {
    if (sb.pid <= 0) return false;
    const st = await procStat(sb.pid).catch(() => null);
    // a killed qemu stays a zombie until we reap it: dead already
    return st !== null && st.state !== 'Z' && st.startTime === sb.kindState.startTime;
  }

  async stop(sb: SandboxRecord, timeoutSecs: number): Promise<void> {
    if (!(await this.alive(sb))) return;
    const h = this.held.get(sb.id);
    const graceful = async () => {
      const tasks = h?.tasks ?? await this.tasks(sb).catch(() => null);
      await tasks?.shutdown();
    };
    await stopVmm(sb.pid, graceful, Math.max(timeoutSecs, 2) * 1000);
    h?.tasks.vmExited(`sandbox-${sb.id} stopped`);
    this.held.delete(sb.id);
  }

  /** Containers live in the guest: nothing of the host's namespaces to join. */
  joinSpec(_sb: SandboxRecord, _spec: Spec): void {}

  /**
   * The Task API of the sandbox's guest. After a sandboxer restart the VM is still running:
   * reconnect to its agent socket (QEMU accepts one connection at a time).
   */
  async tasks(sb: SandboxRecord): Promise<GuestTasks> {
    const h = this.held.get(sb.id);
    if (h && !h.tasks.closed) return h.tasks;
    if (!(await this.alive(sb))) throw failedPrecondition(`sandbox ${sb.id}: its VM is not running`);
    const p = (sb.kindState.paths as VmPaths | undefined)?.agentSocket;
    if (!p) throw unavailable(`sandbox ${sb.id}: no agent socket recorded`);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(p);
      s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
      s.once('error', (e) => reject(unavailable(`sandbox ${sb.id}: cannot connect to ${p}: ${errorMessage(e)}`)));
    });
    const tasks = new GuestTasks(TtrpcClient.fromStream(sock, `sandbox-${sb.id} agent`));
    this.held.set(sb.id, { pid: sb.pid, tasks });
    // no child handle after a restart: notice the VM's death by polling its pid
    const t = setInterval(() => {
      if (!pidAlive(sb.pid)) { clearInterval(t); tasks.vmExited(`sandbox-${sb.id}: the VM exited`); }
    }, 500);
    t.unref();
    return tasks;
  }
}

/** /proc/<pid>/stat: state (field 3) and start time (field 22, ticks since boot: tells pid reuse apart). */
async function procStat(pid: number): Promise<{ state: string; startTime: string }> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: f[0], startTime: f[19] };
}
