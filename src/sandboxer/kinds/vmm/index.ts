// Kind "vmm": a pod is a VM (one qemu per sandbox, named `sandbox-<id>`) with tsula-agent
// inside, and one virtiofsd serving the pod's shared dir (rootfs of its containers). The
// sandboxer holds the agent's channel (virtio-serial: these hosts have no vsock, so the
// guest agent has no address of its own and its task traffic goes through us). Containers
// run in the guest under conmon + runc; `runtime(sb)` is the Runtime that drives them.
//
// Stop is graceful then hard: the agent's Shutdown (the guest powers off; -no-reboot makes
// qemu exit), then SIGTERM, then SIGKILL; then virtiofsd and every mount go. When qemu
// dies, every task of the sandbox is reported exited with 255 (GuestTasks).
//
// Network (network.ts): a sandbox created with the pod's netns gets a tap joined to the CNI
// interface there (kata's tcfilter), QEMU runs inside that netns, and the agent configures
// the guest's eth0 before Start answers. Without a netns the guest has lo only. The pod's
// hostname reaches the guest kernel as tsula.hostname=.
//
// enable_template (templates.ts, clone.ts): a pod is restored from a saved, booted guest
// instead, its share and NIC hot-plugged; the first boot with a config makes the template,
// and a restore that fails boots the pod as above.
import * as os from 'node:os';
import { sha256Hex } from '../../../common/crypto.js';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Spec } from '../../../oci/types.js';
import type { SandboxKind, SandboxRecord, SandboxRequest, StartedSandbox } from '../types.js';
import { TtrpcClient } from '../../../ttrpc/client.js';
import { failedPrecondition, unavailable, errorMessage, isKind, withContext } from '../../../common/errors.js';
import { procStat } from '../../../common/proc.js';
import {
  DEFAULT_CONFIG_PATH, detectAccel, hypervisorFor, ignoredKeysWarning, launchVm, loadVmmConfig, pidAlive, pidFileProcess, quitLingeringVmm, stopVirtiofsd, stopVmm, vmPathsIn, SHARED_FS_TAG,
  type AccelChoice, type VmPaths, type VmmConfig,
} from '../../../hypervisor/index.js';
import type { Logger } from '../../../common/log.js';
import { GuestTasks } from './tasks.js';
import { GuestRuntime } from './runtime.js';
import { SharedDir, removeUnmounted } from './shared.js';
import { VMM_CONFIG_ANNOTATION, VM_CACHE_DIR } from './config.js';
import { HOSTNAME_ANNOTATION, netSysctlsOf } from '../../podspec.js';
import { HOSTNAME_RE } from '../../../agent/protocol.js';
import { validateVmRequest, vmSizedFor } from './request.js';
import { AgentSnapshots } from './snapshots.js';
import { VmNetworks, type PlannedNic, type PodNic } from './network.js';
import { VmTemplates, templateKey, type Template } from './templates.js';
import { startClone, type Clone } from './clone.js';
import { claimClone, ORIGIN_FILE, VmCache } from './cache.js';
import { fsSocketIn, startPodFs, VIRTIOFSD_PID } from './podfs.js';
import { joinSandboxCgroup } from './cgroup.js';
import { removeCgroupDirs } from '../../../cgroups/join.js';

export { GuestTasks, VM_DIED_EXIT } from './tasks.js';
export { GuestRuntime } from './runtime.js';

export interface VmmKindDeps {
  stateDir: string;
  /** vmm.toml to read at each sandbox start (default /etc/tsula/vmm.toml). */
  configPath?: string;
  /** A config given directly (tests); wins over configPath. */
  config?: VmmConfig;
  /** Accelerator override (tests); default: detected. */
  accel?: AccelChoice;
  /** The netns plumbing (tests: a fake runner). */
  networks?: VmNetworks;
  log?: Logger;
}

interface Held {
  pid: number;
  tasks: GuestTasks;
  runtime: GuestRuntime;
}

/** What a VM sandbox keeps in its record (kindState) to be found again after a restart. */
interface VmState {
  startTime: string;
  paths: VmPaths;
  vmDir: string;
  sharedDir: string;
  virtiofsdPid: number;
  /** The tap and filters made in the pod's netns (absent: the VM has no NIC). */
  nic?: PodNic;
  /** vmm.toml's disable_guest_seccomp when the VM started (absent: false, as before the key). */
  noGuestSeccomp?: boolean;
  /** The host cgroup dirs its processes joined (sandbox_cgroup_only), removed when it is gone. */
  cgroupDirs?: string[];
}

/** The netns plumbing, written before it is made: a start cut short is undone from it. */
const NIC_FILE = 'nic.json';

// sun_path holds 108 bytes; leave room for the longest socket name
const MAX_SOCK_DIR = 90;

export class VmmSandboxKind implements SandboxKind {
  readonly name = 'vmm';
  private held = new Map<string, Held>();
  private warned = new Set<string>();
  readonly snapshots: AgentSnapshots;
  readonly templates: VmTemplates;
  readonly cache: VmCache;
  private readonly networks: VmNetworks;

  constructor(private readonly d: VmmKindDeps) {
    this.snapshots = new AgentSnapshots({ workDir: path.join(d.stateDir, 'snap'), log: d.log });
    this.templates = new VmTemplates({ workDir: path.join(d.stateDir, 'tpl'), log: d.log });
    this.cache = new VmCache({ workDir: path.join(d.stateDir, VM_CACHE_DIR), log: d.log });
    this.networks = d.networks ?? new VmNetworks();
  }

  /**
   * kata's or Kuasar's keys with no effect here: said once per file content, not at every
   * pod start (the file is read at each one).
   */
  private warnIgnored(msg: string): void {
    if (!msg || this.warned.has(msg)) return;
    this.warned.add(msg);
    this.d.log?.warn(msg);
  }

  private vmDir(sandboxesDir: string, id: string): string {
    const dir = path.join(sandboxesDir, `${id}.vm`);
    if (dir.length <= MAX_SOCK_DIR) return dir;
    return path.join(this.d.stateDir, 'vm', sha256Hex(id).slice(0, 16));
  }

  /** hostNetwork and a bad hostname are refused (request.ts). */
  validate(req: SandboxRequest): void {
    validateVmRequest(req);
  }

  /** o.noCache: a clone the VM cache held failed to become this pod; it is restored or booted instead. */
  async start(sb: SandboxRecord, dir: string, o: { noCache?: boolean } = {}): Promise<StartedSandbox> {
    const named = sb.annotations[VMM_CONFIG_ANNOTATION];
    if (named && !(await fs.stat(named).then((st) => st.isFile(), () => false))) {
      throw failedPrecondition(`sandbox ${sb.id}: vmm config ${named} (${VMM_CONFIG_ANNOTATION} / runtime config path) does not exist`);
    }
    const file = named || this.d.configPath || DEFAULT_CONFIG_PATH;
    const cfg = this.d.config ?? await loadVmmConfig(file);
    this.warnIgnored(ignoredKeysWarning(cfg, file));
    const configured = cfg.hypervisors[cfg.default];
    if (!configured) throw failedPrecondition(`vmm: no [hypervisor.${cfg.default}] configuration`);
    // a sandbox for one container with limits above the configured VM gets a VM that fits them
    const hvCfg = vmSizedFor(configured, sb.annotations, os.cpus().length);
    if (hvCfg !== configured) this.d.log?.info('the VM is sized to the container\'s limits', { id: sb.id, memoryMib: hvCfg.defaultMemory, vcpus: hvCfg.defaultVcpus });
    const hv = hypervisorFor(hvCfg);
    // a pod that names no hostname has the node's, as runc's do (and containerd's /etc/hostname)
    const hostname = sb.annotations[HOSTNAME_ANNOTATION] || (HOSTNAME_RE.test(os.hostname()) ? os.hostname() : '');
    this.validate({ ...sb, hostNetwork: false });
    const sysctls = netSysctlsOf(sb.annotations);
    let accel = this.d.accel ?? await detectAccel();
    const vmDir = this.vmDir(dir, sb.id);
    // enable_template: restore the pod from the template, or take a clone the VM cache holds
    // (cache.ts: its dir becomes vmDir); any failure boots the pod normally
    let template: Template | null = null;
    if (hvCfg.enableTemplate && hvCfg === configured) {
      template = await this.templates.find(hvCfg, accel).catch((e) => {
        this.d.log?.warn('cannot read the VM template: booting the pod normally', { id: sb.id, err: errorMessage(e) });
        return null;
      });
    }
    const cached = template && hvCfg.vmCacheNumber > 0 && !o.noCache ? await this.cache.take(template.manifest.key, vmDir) : null;
    await fs.mkdir(vmDir, { recursive: true, mode: 0o700 });
    const paths: VmPaths = vmPathsIn(vmDir);
    // virtio-fs: the pod's shared dir, served by its own virtiofsd
    const useFs = hvCfg.sharedFs === 'virtio-fs';
    const shared = new SharedDir(path.join(vmDir, 'shared'));
    const fsSocket = fsSocketIn(vmDir);
    let virtiofsdPid = cached?.virtiofsdPid ?? 0;
    const startFs = async () => { virtiofsdPid = await startPodFs(hvCfg, vmDir, shared); };
    // virtiofsd serves one VM connection and exits with it: another VM needs another
    const restartFs = async () => { stopVirtiofsd(virtiofsdPid); await startFs(); };
    let net: PlannedNic | null = null;
    const cgroupDirs: string[] = [];
    let startTime = '';
    const cleanup = async () => {
      stopVirtiofsd(virtiofsdPid);
      await removeCgroupDirs(cgroupDirs);
      if (net) await this.networks.unplumb(net.nic).catch((e) => this.d.log?.warn('cannot remove the VM\'s tap', { id: sb.id, err: errorMessage(e) }));
      await removeUnmounted(vmDir).catch(() => {});
    };
    const timing = { plumbMs: 0, configureMs: 0 };
    let vm = cached?.vm;
    let tasks: GuestTasks | undefined;
    let clone: Clone | undefined;
    let fsReady: Promise<void> | undefined;
    try {
      if (sb.netnsPath && hvCfg.internetworkingModel === 'tcfilter') {
        const t0 = Date.now();
        // recorded before the boot: a sandboxer killed from here on leaves what reapUnfinished undoes
        await fs.writeFile(path.join(vmDir, NIC_FILE), JSON.stringify({ netnsPath: sb.netnsPath }));
        // a cached clone's tap is made by its QEMU (claimClone), not here
        net = cached ? await this.networks.plan(sb.netnsPath) : await this.networks.plumb(sb.netnsPath);
        if (net) await fs.writeFile(path.join(vmDir, NIC_FILE), JSON.stringify(net.nic));
        timing.plumbMs = Date.now() - t0;
      }
      if (cached) {
        const claimed = await claimClone({ id: sb.id, cfg: hvCfg, vm: cached.vm, paths, net, networks: this.networks, hostname: hostname || 'tsula-guest' });
        tasks = claimed.tasks;
        clone = { vm: cached.vm, tasks, timing: { ...cached.timing, ...claimed.timing, cached: true } };
        this.d.log?.info('pod made of a cached VM', { id: sb.id, ...claimed.timing });
      } else if (useFs) {
        await shared.setup();
        // the agent snapshot cache is for a booting guest's /init: a clone's agent runs already
        if (!template) await this.snapshots.share(hvCfg, shared);
        const starting = startFs();
        // a clone needs it only at its hot-plug: it starts while QEMU restores
        if (template) (fsReady = starting).catch(() => { /* awaited by the clone or below */ });
        else await starting;
      }
      if (template && !cached) {
        try {
          clone = await startClone({
            id: sb.id, cfg: hvCfg, accel, template, paths, hostname: hostname || 'tsula-guest',
            ...(sb.netnsPath ? { netns: sb.netnsPath } : {}),
            ...(useFs ? { sharedFs: { socket: fsSocket, tag: SHARED_FS_TAG, ready: fsReady } } : {}),
            ...(net ? { nic: { tap: net.nic.tap, mac: net.nic.mac } } : {}),
          }, hvCfg.bootTimeout * 1000);
          ({ vm, tasks } = clone);
          this.d.log?.info('pod restored from its VM template', { id: sb.id, readyMs: vm.readyMs + clone.timing.setupMs, ...clone.timing });
        } catch (e) {
          this.d.log?.warn('restoring the pod from its VM template failed: booting it normally', { id: sb.id, template: template.dir, err: errorMessage(e) });
          await this.templates.restoreFailed(template);
          if (useFs) {
            await fsReady?.catch(() => {});
            await this.snapshots.share(hvCfg, shared);
            await restartFs();
          }
        }
      }
      const launch = (a: AccelChoice) => launchVm(hv, {
        id: sb.id, accel: a.accel, paths, sharedFs: useFs ? { socket: fsSocket, tag: SHARED_FS_TAG } : undefined,
        ...(sb.netnsPath ? { netns: sb.netnsPath } : {}),
        ...(net ? { nics: [{ tap: net.nic.tap, mac: net.nic.mac }] } : {}),
        ...(hostname ? { kernelParams: [`tsula.hostname=${hostname}`] } : {}),
      }, { timeoutMs: hvCfg.bootTimeout * 1000 });
      if (!vm) vm = await launch(accel).catch(async (e) => {
        // the bounded boot probe: a KVM that the CPU flags vouch for can still hang a stock
        // kernel (nested, paravirtual hosts); one retry under TCG, saying why
        if (accel.accel !== 'kvm') throw e;
        accel = { accel: 'tcg', reason: `KVM boot failed (${errorMessage(e).split('\n')[0]}): using TCG` };
        if (useFs) await restartFs();
        return launch(accel);
      });
      if (net) {
        const t0 = Date.now();
        await (tasks ??= new GuestTasks(vm.client)).configureNetwork(net.guest).catch((e) => {
          throw unavailable(`sandbox ${sb.id}: the agent could not configure the guest's ${net!.guest.interfaces[0]!.name}: ${errorMessage(e)}`);
        });
        timing.configureMs = Date.now() - t0;
      }
      // the pod's net.* sysctls, once, in the guest's network namespace (the pod's); a key the
      // guest kernel lacks or a value it refuses fails the pod, as runc fails a pause container
      if (Object.keys(sysctls).length) {
        await (tasks ??= new GuestTasks(vm.client)).setSysctls(sysctls).catch((e) => {
          if (isKind(e, 'Unimplemented')) throw failedPrecondition(`sandbox ${sb.id}: the guest's agent ${vm!.ping.version} cannot set the pod's net.* sysctls (${Object.keys(sysctls).join(', ')}): rebuild the guest (scripts/ensure-guest.sh)`);
          throw withContext(e, `sandbox ${sb.id}`);
        });
      }
      await joinSandboxCgroup(sb.id, hvCfg, sb.annotations, [vm.pid, virtiofsdPid], paths.qmpSocket, cgroupDirs, this.d.log);
      // (a qemu gone meanwhile fails here, inside: its cgroup, virtiofsd and tap are undone)
      startTime = (await procStat(vm.pid)).startTime;
      // the first boot with this config makes the template, in the background, and the VM
      // cache is filled from it; a pod that took a cached clone leaves a place to fill
      if (hvCfg.enableTemplate && hvCfg === configured) {
        const fillCache = (t: Template) => this.cache.fill(hvCfg, accel, t);
        if (clone && template) fillCache(template);
        else this.templates.ensure(hvCfg, accel, fillCache);
      }
    } catch (e) {
      if (vm) {
        vm.client.close();
        await stopVmm(vm.pid, async () => {}, 0);
      }
      await fsReady?.catch(() => {});
      await cleanup();
      if (cached) {
        this.d.log?.warn('a cached VM could not become the pod: it is restored from the template instead', { id: sb.id, err: errorMessage(e) });
        return this.start(sb, dir, { noCache: true });
      }
      throw e;
    }
    const state: VmState = {
      startTime, paths, vmDir, sharedDir: useFs ? shared.hostDir : '', virtiofsdPid,
      ...(net ? { nic: net.nic } : {}), noGuestSeccomp: hvCfg.disableGuestSeccomp, ...(cgroupDirs.length ? { cgroupDirs } : {}),
    };
    this.hold(sb.id, vm.pid, tasks ?? new GuestTasks(vm.client), state);
    void vm.exited.then((status) => this.vmGone(sb.id, vm.pid, state, `sandbox-${sb.id}: ${hv.name} exited with status ${status}`));
    if (!clone) this.snapshots.afterBoot(hvCfg, accel, vm.ping.startup);
    const ociRuntime = vm.ping.ociRuntime ?? 'runc'; // agents before 0.7 had runc only
    // a cached clone's: the pod's part (its restore was done ahead)
    const readyMs = clone?.timing.cached ? clone.timing.claimMs ?? 0 : vm.readyMs + (clone?.timing.setupMs ?? 0);
    this.d.log?.info('VM ready', {
      id: sb.id, pid: vm.pid, accel: accel.accel, ms: Math.round(readyMs), from: clone?.timing.cached ? 'cache' : clone ? 'template' : 'boot',
      agent: vm.ping.startup?.snapshot ?? 'unknown', oci_runtime: ociRuntime,
      // the guest's clock when its agent answered (a clone's runs on from its template's)
      guest_uptime_ms: Math.round(vm.ping.uptime * 1000),
    });
    return {
      pid: vm.pid,
      machine: { memoryMib: hvCfg.defaultMemory, vcpus: hvCfg.defaultVcpus },
      kindState: {
        ...state, hypervisor: hv.name, accel: accel.accel, accelReason: accel.reason,
        kernelRelease: vm.ping.kernelRelease, readyMs, agentStartup: vm.ping.startup,
        ociRuntime,
        ...(clone ? { template: { key: templateKey(hvCfg, accel.accel), ...clone.timing } } : {}),
        ...(net ? { network: { ...timing, addresses: net.guest.interfaces[0]!.addresses } } : {}),
      },
    };
  }

  /**
   * A start that never finished (the sandboxer died during the boot): its qemu and virtiofsd
   * run on unrecorded. Their pid files in the VM's dir name them; the command line must
   * still name that dir (pid reuse).
   */
  private async reapUnfinished(id: string): Promise<void> {
    const vmDir = this.vmDir(path.join(this.d.stateDir, 'sandboxes'), id);
    if (!(await fs.stat(vmDir).catch(() => null))) return;
    // a cached clone's processes name the dir it was made in (cache.ts)
    const named = (await fs.readFile(path.join(vmDir, ORIGIN_FILE), 'utf8').catch(() => '')) || vmDir;
    for (const [file, group] of [['vmm.pid', false], [VIRTIOFSD_PID, true]] as const) {
      const pid = await pidFileProcess(path.join(vmDir, file), named);
      if (!pid) continue;
      if (group) stopVirtiofsd(pid);
      else await stopVmm(pid, async () => {}, 0);
    }
    const nic = await fs.readFile(path.join(vmDir, NIC_FILE), 'utf8').then((t) => JSON.parse(t) as Partial<PodNic>, () => null);
    if (nic?.netnsPath) await this.unplumb(id, { netnsPath: nic.netnsPath, hostIf: nic.hostIf ?? 'eth0', tap: nic.tap ?? 'tap0_kata', mac: nic.mac ?? '' });
    await removeUnmounted(vmDir).catch((e) => this.d.log?.warn('cannot clean an unfinished VM dir', { id, err: errorMessage(e) }));
  }

  private hold(id: string, pid: number, tasks: GuestTasks, st: VmState): Held {
    const h: Held = {
      pid, tasks,
      runtime: new GuestRuntime(tasks, st.sharedDir ? new SharedDir(st.sharedDir) : null, id, this.d.log, { noSeccomp: st.noGuestSeccomp === true }),
    };
    this.held.set(id, h);
    return h;
  }

  /** The VM exited (asked to, or not): its tasks exit 255, virtiofsd and the mounts go. */
  private async vmGone(id: string, pid: number, st: VmState, reason: string): Promise<void> {
    const h = this.held.get(id);
    if (h?.pid === pid) {
      h.tasks.vmExited(reason);
      this.held.delete(id);
    }
    stopVirtiofsd(st.virtiofsdPid);
    if (st.cgroupDirs) await removeCgroupDirs(st.cgroupDirs);
    if (st.nic) await this.unplumb(id, st.nic);
    await removeUnmounted(st.vmDir).catch((e) => this.d.log?.warn('cannot clean the VM dir', { id, err: errorMessage(e) }));
  }

  /** The VM's tap and filters leave the pod's netns (which CNI DEL may have removed already). */
  private async unplumb(id: string, nic: PodNic): Promise<void> {
    await this.networks.unplumb(nic).catch((e) => this.d.log?.warn('cannot remove the VM\'s tap and filters', { id, err: errorMessage(e) }));
  }

  async alive(sb: SandboxRecord): Promise<boolean> {
    if (sb.pid <= 0) return false;
    const st = await procStat(sb.pid).catch(() => null);
    // a killed qemu stays a zombie until we reap it: dead already
    return st !== null && st.state !== 'Z' && st.startTime === sb.kindState.startTime;
  }

  async stop(sb: SandboxRecord, timeoutSecs: number): Promise<void> {
    if (!(await this.alive(sb))) {
      const st = sb.kindState as unknown as VmState;
      if (st.vmDir) await this.vmGone(sb.id, sb.pid, st, `sandbox-${sb.id} stopped`);
      else await this.reapUnfinished(sb.id);
      return;
    }
    const h = this.held.get(sb.id) ?? await this.connect(sb).catch(() => undefined);
    const vmDir = (sb.kindState as unknown as VmState).vmDir;
    /** How long a guest whose agent shut down is given to power itself off. */
    const POWEROFF_MS = 500;
    const graceful = async () => {
      await h?.tasks.shutdown();
      // the agent has stopped every process and left: the guest powers itself off in ~0.2 s,
      // but one restored from a template never completes its power-off (its /init's
      // `poweroff -f` does not return under TCG; cause not found): QEMU is told to quit
      // rather than waiting out the grace period for SIGTERM (10 s for a kubelet's stop)
      if (h && vmDir) await quitLingeringVmm(sb.pid, path.join(vmDir, 'qmp.sock'), POWEROFF_MS);
    };
    await stopVmm(sb.pid, graceful, Math.max(timeoutSecs, 2) * 1000);
    await this.vmGone(sb.id, h?.pid ?? sb.pid, sb.kindState as unknown as VmState, `sandbox-${sb.id} stopped`);
  }

  /**
   * At the sandboxer's start: the VM cache of the sandboxer's config fills now, when it asks
   * for one and its template is made (kata's `factory init`); else with the first VM pod.
   */
  async prepare(): Promise<void> {
    const cfg = this.d.config ?? await loadVmmConfig(this.d.configPath || DEFAULT_CONFIG_PATH);
    const hv = cfg.hypervisors[cfg.default];
    if (!hv?.enableTemplate || hv.vmCacheNumber === 0) return;
    const accel = this.d.accel ?? await detectAccel();
    const template = await this.templates.find(hv, accel);
    if (template) this.cache.fill(hv, accel, template);
  }

  /** Builder VMs of agent snapshots and cached VMs stop with the sandboxer; pods' VMs don't. */
  async close(): Promise<void> {
    await Promise.all([this.snapshots.close(), this.templates.close(), this.cache.close()]);
  }

  /** Containers live in the guest: nothing of the host's namespaces to join. */
  joinSpec(_sb: SandboxRecord, _spec: Spec): void {}

  /** The Runtime for the sandbox's containers (reconnecting after a sandboxer restart). */
  async runtime(sb: SandboxRecord): Promise<GuestRuntime> {
    const h = this.held.get(sb.id);
    if (h && !h.tasks.closed) return h.runtime;
    return (await this.connect(sb)).runtime;
  }

  /**
   * After a sandboxer restart the VM is still running: reconnect to its agent socket (QEMU
   * accepts one connection at a time).
   */
  private async connect(sb: SandboxRecord): Promise<Held> {
    if (!(await this.alive(sb))) throw failedPrecondition(`sandbox ${sb.id}: its VM is not running`);
    const st = sb.kindState as unknown as VmState;
    const p = st.paths?.agentSocket;
    if (!p) throw unavailable(`sandbox ${sb.id}: no agent socket recorded`);
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(p);
      s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
      s.once('error', (e) => reject(unavailable(`sandbox ${sb.id}: cannot connect to ${p}: ${errorMessage(e)}`)));
    });
    const tasks = new GuestTasks(TtrpcClient.fromStream(sock, `sandbox-${sb.id} agent`));
    await tasks.ping().catch((e) => { tasks.close(); throw unavailable(`sandbox ${sb.id}: the agent does not answer: ${errorMessage(e)}`); });
    const h = this.hold(sb.id, sb.pid, tasks, st);
    // no child handle after a restart: notice the VM's death by polling its pid
    const t = setInterval(() => {
      if (tasks.closed && this.held.get(sb.id) !== h) { clearInterval(t); return; }
      if (!pidAlive(sb.pid)) { clearInterval(t); void this.vmGone(sb.id, sb.pid, st, `sandbox-${sb.id}: the VM exited`); }
    }, 500);
    t.unref();
    return h;
  }
}
