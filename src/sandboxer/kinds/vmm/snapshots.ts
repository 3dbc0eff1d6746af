// The guest agent's V8 startup snapshots (see /init in scripts/build-guest.sh). Starting the
// agent from a snapshot saves seconds under TCG, but V8 takes a snapshot only on the CPU
// features it was made with, and a guest's CPU is QEMU's (-cpu max under TCG, the host's
// under KVM, or vmm.toml's cpu_model), never the build host's. So a snapshot is made in a
// guest: a builder VM booted with the pod's hypervisor config and tsula.agent_snapshot=build,
// which runs no container, writes <key>.blob into its own share and powers off. The key is
// computed by the guest (image, node flags, CPU). The cache is given to every pod's guest
// read-only; /init picks its key's blob, and starts the agent from its script when there is
// none or V8 refuses it. A guest that had none makes us build one in the background, once
// per key. Only builder VMs write the cache: a pod's guest, which runs untrusted
// containers, never can.
import { promises as fs, constants as C } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HypervisorConfig, AccelChoice } from '../../../hypervisor/index.js';
import { hypervisorFor, pidAlive, runVmToEnd, startVirtiofsd, stopVirtiofsd, consoleTail, vmPathsIn, SHARED_FS_TAG } from '../../../hypervisor/index.js';
import { fsSocketIn } from './podfs.js';
import type { AgentStartup } from '../../../agent/protocol.js';
import { errorMessage, failedPrecondition } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { SharedDir, removeUnmounted } from './shared.js';
import { SingleFlight } from '../../../common/singleflight.js';

/** Where a pod's guest finds the cache (below its shared dir; /init reads it there). */
export const SNAPSHOTS_IN_SHARED = '.agent-snapshots';

export interface SnapshotResult {
  /** The key the builder guest computed ('' when it made nothing). */
  key: string;
  /** made: a new blob is in the cache; cached: it was there already; busy: another process builds it. */
  outcome: 'made' | 'cached' | 'busy';
  ms: number;
}

export interface AgentSnapshotsDeps {
  /** Work dirs of builder VMs go below (sockets: keep it short). */
  workDir: string;
  log?: Logger;
}

/** The cache of a hypervisor config: agent_snapshot_dir, or `snapshots` beside the initrd. */
export function snapshotDir(cfg: HypervisorConfig): string {
  return cfg.agentSnapshotDir || path.join(path.dirname(cfg.initrd), 'snapshots');
}

export class AgentSnapshots {
  /** Builds under way in this process, by the key that asked for them. */
  private builds = new SingleFlight<SnapshotResult>();
  /** Keys whose cached blob a guest refused: dropped once, not again (no rebuild loop). */
  private dropped = new Set<string>();
  private abort = new AbortController();

  constructor(private readonly d: AgentSnapshotsDeps) {}

  /** Give a pod's guest the cache, read-only. A failure costs the guest its snapshot, never its boot. */
  async share(cfg: HypervisorConfig, shared: SharedDir): Promise<void> {
    if (!cfg.agentSnapshot) return;
    const dir = snapshotDir(cfg);
    try {
      await fs.mkdir(dir, { recursive: true, mode: 0o755 });
      await shared.shareReadOnly(dir, SNAPSHOTS_IN_SHARED);
    } catch (e) {
      this.d.log?.warn('cannot share the agent snapshot cache with the guest: its agent starts without one', { dir, err: errorMessage(e) });
    }
  }

  /**
   * After a boot: a guest that started its agent without a snapshot gets one made for its key
   * in the background (a refused blob is dropped first: V8 knows better than our key).
   */
  afterBoot(cfg: HypervisorConfig, accel: AccelChoice, startup: AgentStartup | undefined): void {
    if (!cfg.agentSnapshot || !startup?.key || !['missing', 'refused'].includes(startup.snapshot)) return;
    const { key } = startup;
    const replace = startup.snapshot === 'refused';
    if (replace) {
      if (this.dropped.has(key)) return;
      this.dropped.add(key);
      this.d.log?.warn('the guest refused its agent snapshot: making another', { key, detail: startup.detail });
    }
    void this.build(cfg, accel, key, replace);
  }

  /**
   * Make the snapshot for cfg's guest CPU in a builder VM, unless it is cached (the builder
   * then stops after its boot; `replace` drops the cached one first) or another build for
   * `key` runs (here or in another process). Errors are logged and resolve as outcome 'busy'
   * with no key: a snapshot is an optimisation.
   */
  build(cfg: HypervisorConfig, accel: AccelChoice, key = '', replace = false): Promise<SnapshotResult> {
    return this.builds.do(key, () => this.buildOnce(cfg, accel, key, replace));
  }

  /** Resolves when no build runs in this process. */
  idle(): Promise<void> {
    return this.builds.idle();
  }

  /** Like build(), but a failure throws (the warm-up command reports it). */
  async buildOrThrow(cfg: HypervisorConfig, accel: AccelChoice): Promise<SnapshotResult> {
    return this.buildOnce(cfg, accel, '', false, true);
  }

  private async buildOnce(cfg: HypervisorConfig, accel: AccelChoice, key: string, replace: boolean, throwErrors = false): Promise<SnapshotResult> {
    const t0 = Date.now();
    const dir = snapshotDir(cfg);
    if (key && replace) await fs.rm(path.join(dir, `${key}.blob`), { force: true });
    if (key && await fs.access(path.join(dir, `${key}.blob`), C.R_OK).then(() => true, () => false)) return { key, outcome: 'cached', ms: 0 };
    await fs.mkdir(dir, { recursive: true, mode: 0o755 });
    const lock = path.join(dir, `.build-${key || 'any'}.lock`);
    if (!(await takeLock(lock))) return { key, outcome: 'busy', ms: 0 };
    await fs.mkdir(this.d.workDir, { recursive: true, mode: 0o700 });
    const work = await fs.mkdtemp(path.join(this.d.workDir, 'snap-'));
    const out = new SharedDir(path.join(work, 'shared'));
    let virtiofsd = 0;
    try {
      this.d.log?.info('making the agent snapshot in a builder VM', { key: key || '(this config)', accel: accel.accel, cpu: cfg.cpuModel || '(default)' });
      await out.setup();
      await out.shareReadOnly(dir, SNAPSHOTS_IN_SHARED);
      const fsSocket = fsSocketIn(work);
      virtiofsd = await startVirtiofsd({ binary: cfg.virtioFsDaemon, socket: fsSocket, source: out.hostDir, logFile: path.join(work, 'virtiofsd.log') });
      const paths = vmPathsIn(work);
      const hv = hypervisorFor({ ...cfg, agentSnapshot: true });
      // booting (bootTimeout) and then ~10 s of work under TCG; generous: it runs in the background
      const status = await runVmToEnd(hv, {
        id: `snapshot-${path.basename(work)}`, accel: accel.accel, paths,
        sharedFs: { socket: fsSocket, tag: SHARED_FS_TAG }, kernelParams: ['tsula.agent_snapshot=build'],
      }, { timeoutMs: (cfg.bootTimeout + 240) * 1000, signal: this.abort.signal });
      const console = await fs.readFile(paths.consoleLog, 'utf8').catch(() => '');
      const cached = /init: agent snapshot (\w+): cached already/.exec(console);
      if (cached) return { key: cached[1], outcome: 'cached', ms: Date.now() - t0 };
      const made = (await fs.readdir(out.hostDir)).find((f) => /^[0-9a-f]{16}\.blob$/.test(f));
      if (!made) throw failedPrecondition(`the builder VM made no agent snapshot (exit ${status}):\n${await consoleTail(paths.consoleLog)}`);
      const got = made.slice(0, -'.blob'.length);
      // copy, then rename: a guest never sees half a blob
      const tmp = path.join(dir, `.${got}.${process.pid}.tmp`);
      await fs.copyFile(path.join(out.hostDir, made), tmp);
      await fs.chmod(tmp, 0o644);
      await fs.rename(tmp, path.join(dir, made));
      if (key && got !== key) this.d.log?.warn('the builder VM computed another snapshot key than the pod (another CPU?)', { asked: key, made: got });
      this.d.log?.info('agent snapshot made', { key: got, ms: Date.now() - t0 });
      return { key: got, outcome: 'made', ms: Date.now() - t0 };
    } catch (e) {
      if (throwErrors) throw e;
      if (!this.abort.signal.aborted) this.d.log?.warn('cannot make the agent snapshot: guests start their agent without one', { key, err: errorMessage(e) });
      return { key: '', outcome: 'busy', ms: Date.now() - t0 };
    } finally {
      stopVirtiofsd(virtiofsd);
      await removeUnmounted(work).catch((e) => this.d.log?.warn('cannot remove a builder VM dir', { work, err: errorMessage(e) }));
      await fs.rm(lock, { force: true });
    }
  }

  /** Stop every builder VM (the sandboxer is closing); resolves once they are cleaned up. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.builds.settled();
  }
}

/** An O_EXCL lock file holding our pid; a dead holder's lock is taken over. */
export async function takeLock(file: string): Promise<boolean> {
  for (let i = 0; i < 2; i++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx', mode: 0o644 });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number.parseInt(await fs.readFile(file, 'utf8').catch(() => ''), 10);
      if (holder > 0 && holder !== process.pid && pidAlive(holder)) return false;
      await fs.rm(file, { force: true });
    }
  }
  return false;
}

/** A work dir for builder VMs when no sandboxer state dir is at hand (the warm-up command). */
export function defaultWorkDir(): string {
  return path.join(os.tmpdir(), 'tsula-snapshots');
}
