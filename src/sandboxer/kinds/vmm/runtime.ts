// A Runtime whose containers live in one pod's VM: the sandboxer's TaskManager drives it
// exactly like the host's conmon + runc runtime. Each call goes to tsula-agent over the
// pod's channel; rootfs and bind-mount sources reach the guest through the shared dir
// (virtio-fs); stdio is a pair of long-polling reads per process; exits come from a Wait
// per task, or 255 for all of them when the VM dies.
import type { CgroupStats } from '../../../cgroups/index.js';
import type { PsProcess } from '../../../common/ps.js';
import type { CreateRequest, ExecHandle, ExecRequest, Runtime, RuntimeState, StdioStream } from '../../../runtime/types.js';
import type { LinuxResources, Spec } from '../../../oci/types.js';
import type { ExitCallback } from '../../../runtime/runc/exits.js';
import { errorMessage, failedPrecondition } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { requireSignalNumber } from '../../../common/signals.js';
import { Phases } from '../../../common/phases.js';
import type { GuestTasks } from './tasks.js';
import type { SharedDir } from './shared.js';

/** How long a forced delete waits for the killed task's exit in the guest. */
const FORCE_DELETE_WAIT_MS = 10_000;

function withoutSeccomp(spec: Spec): Spec {
  if (!spec.linux?.seccomp) return spec;
  const { seccomp: _, ...linux } = spec.linux;
  return { ...spec, linux };
}

/** What a process' stdio keeps for a caller that has not registered onOutput yet (conmon's attach glue keeps as much). */
const EARLY_MAX = 1 << 20;

/** A process' stdio in the guest, as the StdioStream conmon's attach socket gives on the host. */

/**
 * A host block device named by its numbers in the spec (CRI's `devices`, docker's --device)
 * would be the guest's own device of those numbers in the VM: its loop0, its virtio disk, its
 * image on pmem. Nothing is hot-plugged (kata's virtio-blk hot-plug is not built), so a
 * container that asks for one is refused rather than given a different disk. A privileged
 * one (all capabilities, no masked paths) gets the host's whole /dev from containerd's CRI
 * unless privileged_without_host_devices is set: its block devices are left out, said in the
 * log, as kata's docs expect that setting. Character devices (fuse, tun) are the guest
 * kernel's own of their kind.
 */
export function hostBlockDevicesOut(spec: Spec, sandboxId: string, log?: Logger): Spec {
  const block = (spec.linux?.devices ?? []).filter((d) => d.type === 'b');
  if (!block.length) return spec;
  const privileged = !spec.linux?.maskedPaths?.length && !!spec.process?.capabilities?.bounding?.includes('CAP_SYS_ADMIN');
  if (privileged) {
    log?.warn('a privileged VM container gets none of the host\'s block devices (set containerd\'s privileged_without_host_devices = true for this runtime)', { sandbox: sandboxId, left: block.length });
    return { ...spec, linux: { ...spec.linux, devices: spec.linux!.devices!.filter((d) => d.type !== 'b') } };
  }
  const names = block.map((d) => `${d.path} (block ${d.major}:${d.minor})`).join(', ');
  throw failedPrecondition(`${names}: a container of VM sandbox ${sandboxId} cannot be given a host block device (the guest would open its own device of those numbers, and hot-plugging host disks into the VM is not supported); run it with runc`);
}

export class GuestStdio implements StdioStream {
  private outCbs: Array<(s: 1 | 2, d: Buffer) => void> = [];
  private endCbs: Array<() => void> = [];
  private open = 2;
  private readonly abort = new AbortController();
  private stdin: Promise<void> = Promise.resolve();
  /**
   * What came before the caller registered onOutput (an exec's output, read while its start
   * still returns): kept for it. Callers register as soon as they have the stream; until
   * then at most EARLY_MAX is kept and reading stops past it (the agent's queue fills and
   * the process waits, as when paused), so nothing is lost and nothing grows unbounded.
   */
  private early: Array<[1 | 2, Buffer]> | null = [];
  private earlyBytes = 0;
  private registered!: () => void;
  private readonly whenRegistered = new Promise<void>((r) => { this.registered = r; });

  constructor(private readonly g: GuestTasks, private readonly id: string, private readonly execId: string) {
    void this.pump('stdout', 1);
    void this.pump('stderr', 2);
  }

  private async pump(which: 'stdout' | 'stderr', n: 1 | 2): Promise<void> {
    try {
      while (!this.abort.signal.aborted) {
        // paused: no read, so the agent's queue fills and it stops reading the process
        if (this.paused) await this.paused;
        if (this.early && this.earlyBytes >= EARLY_MAX) await this.whenRegistered;
        if (this.abort.signal.aborted) break;
        const r = await this.g.read(this.id, this.execId, which, this.abort.signal);
        if (r.data.length) {
          if (this.early) { this.early.push([n, r.data]); this.earlyBytes += r.data.length; }
          else for (const cb of this.outCbs) cb(n, r.data);
        }
        if (r.eof) break;
      }
    } catch { /* the VM or the connection went: that is the end of the stream */ }
    if (--this.open === 0) for (const cb of this.endCbs.splice(0)) cb();
  }

  onOutput(cb: (stream: 1 | 2, data: Buffer) => void): void {
    this.outCbs.push(cb);
    if (this.early) { for (const [n, d] of this.early) cb(n, d); this.early = null; this.registered(); }
  }
  onEnd(cb: () => void): void { if (this.open === 0) cb(); else this.endCbs.push(cb); }

  /** Writes keep their order: each waits for the one before. */
  write(data: Buffer): void {
    const d = Buffer.from(data);
    this.stdin = this.stdin.then(() => this.g.writeStdin(this.id, this.execId, d)).catch(() => {});
  }
  closeStdin(): void {
    this.stdin = this.stdin.then(() => this.g.closeStdin(this.id, this.execId)).catch(() => {});
  }
  close(): void { this.abort.abort(); this.resume(); this.early = null; this.registered(); }

  private paused: Promise<void> | null = null;
  private unpause: (() => void) | null = null;
  pause(): void { if (!this.paused) this.paused = new Promise((r) => { this.unpause = r; }); }
  resume(): void { this.unpause?.(); this.paused = this.unpause = null; }
}

export class GuestRuntime implements Runtime {
  readonly name = 'vmm';
  private exitCb: ExitCallback | null = null;
  private tracked = new Set<string>();
  private execs = new Map<string, { id: string; execId: string }>();
  /** Execs that ended and that the guest forgets later (by container and exec id): `now` forgets at once. */
  private readonly forgetting = new Map<string, { now(): void; done: Promise<void> }>();

  constructor(
    private readonly g: GuestTasks,
    /** null: the VM has no shared fs (shared_fs = "none"): no container can get a rootfs. */
    private readonly shared: SharedDir | null,
    private readonly sandboxId: string,
    private readonly log?: Logger,
    /** disable_guest_seccomp: the guest's containers get no seccomp filter (kata's default). */
    private readonly o: { noSeccomp?: boolean } = {},
  ) {}

  /** Report the task's exit once (its Wait, or 255 when the VM dies). */
  private track(id: string): void {
    if (this.tracked.has(id)) return;
    this.tracked.add(id);
    void (async () => {
      let x;
      try {
        x = await this.g.wait(id);
      } catch (e) {
        this.log?.warn('guest wait failed', { sandbox: this.sandboxId, id, err: errorMessage(e) });
        x = null;
      }
      this.tracked.delete(id);
      if (x) this.exitCb?.(id, x.exitStatus, x.exitedAt ?? new Date());
    })();
  }

  private get sharedDir(): SharedDir {
    if (!this.shared) throw failedPrecondition(`sandbox ${this.sandboxId} has no shared filesystem (vmm.toml shared_fs = "none"): containers need shared_fs = "virtio-fs"`);
    return this.shared;
  }

  async create(req: CreateRequest): Promise<number> {
    const shared = this.sharedDir;
    const asked = hostBlockDevicesOut(req.spec, this.sandboxId, this.log);
    const ph = new Phases('guest-create', req.id);
    const spec = await shared.share(req.id, this.o.noSeccomp ? withoutSeccomp(asked) : asked);
    ph.mark('share');
    try {
      const pid = await this.g.create(req.id, spec, { terminal: req.terminal, stdin: req.stdin, bundle: `${shared.guestDir}/${req.id}` });
      ph.mark('agent');
      if (this.log) ph.done(this.log);
      this.track(req.id);
      return pid;
    } catch (e) {
      await shared.unshare(req.id).catch(() => {});
      throw e;
    }
  }

  async start(id: string): Promise<void> {
    await this.g.start(id);
  }

  async kill(id: string, signal: string, all = false): Promise<void> {
    await this.g.kill(id, '', requireSignalNumber(signal), all);
  }

  async pause(id: string): Promise<void> { await this.g.pause(id, true); }
  async resume(id: string): Promise<void> { await this.g.pause(id, false); }

  async delete(id: string, _bundle: string, force: boolean): Promise<void> {
    if (!this.g.closed) {
      if (force && (await this.g.state(id).catch(() => null))?.status !== 'stopped') {
        // the agent deletes only a stopped task: kill it and let its exit arrive first
        await this.g.kill(id, '', 9, true).catch(() => {});
        let t: NodeJS.Timeout | undefined;
        await Promise.race([this.g.wait(id).catch(() => null), new Promise((r) => { t = setTimeout(r, FORCE_DELETE_WAIT_MS); })]);
        clearTimeout(t);
      }
      await this.g.delete(id).catch((e) => {
        if (!force) throw e;
        this.log?.warn('guest delete failed', { id, err: errorMessage(e) });
      });
    }
    await this.shared?.unshare(id);
  }

  async state(id: string): Promise<RuntimeState | null> {
    const s = await this.g.state(id).catch(() => null);
    return s ? { status: s.status, pid: s.pid } : null;
  }

  pids(id: string): Promise<number[]> {
    return this.g.pids(id);
  }

  stats(id: string): Promise<CgroupStats | null> {
    return this.g.stats(id);
  }

  processes(id: string): Promise<PsProcess[]> {
    return this.g.processes(id);
  }

  async attach(id: string, _bundle?: string): Promise<StdioStream> {
    return new GuestStdio(this.g, id, '');
  }

  oomKilled(id: string): Promise<boolean> {
    return this.g.oomKilled(id);
  }

  /**
   * Each OOM kill in the task's guest cgroup while it runs (the agent's WaitOom long poll),
   * from now on: the count so far is taken first (a restarted sandboxer watching again does
   * not report the kills its predecessor did; at a create it is 0).
   */
  watchOom(id: string, _bundle: string, cb: () => void): () => void {
    const abort = new AbortController();
    void (async () => {
      let seen = -1;
      while (!abort.signal.aborted && !this.g.closed) {
        const r = await this.g.waitOom(id, seen, abort.signal).catch((e: unknown) => {
          if (!abort.signal.aborted && !this.g.closed) this.log?.warn('watching the task\'s OOM kills in the guest failed', { sandbox: this.sandboxId, id, err: errorMessage(e) });
          return null;
        });
        if (!r || abort.signal.aborted) return; // an older agent, the task or the VM gone
        if (seen < 0) seen = r.count;
        for (; seen < r.count; seen++) cb();
        if (r.stopped) return;
      }
    })();
    return () => abort.abort();
  }

  async update(id: string, _bundle: string, resources: LinuxResources): Promise<void> {
    await this.g.update(id, resources);
  }

  async resize(id: string, _bundle: string, height: number, width: number): Promise<void> {
    await this.g.resize(id, '', height, width);
  }

  async exec(req: ExecRequest): Promise<ExecHandle> {
    // an exec id used again (ctr's --exec-id): the guest forgets the last one first, now, not
    // at its late delete, which would take the new one's record and directory (exit 255)
    const key = `${req.containerId}\0${req.execId}`;
    const before = this.forgetting.get(key);
    if (before) { before.now(); await before.done; }
    await this.g.exec(req.containerId, req.execId, req.process, { stdin: req.stdin, attach: req.attach });
    const pid = await this.g.start(req.containerId, req.execId).catch(async (e) => {
      // the agent keeps a created exec: forget it, so the same exec id can be tried again
      await this.g.delete(req.containerId, req.execId).catch(() => {});
      throw e;
    });
    const stdio = req.attach ? new GuestStdio(this.g, req.containerId, req.execId) : null;
    this.execs.set(req.dir, { id: req.containerId, execId: req.execId });
    const exited = (async () => {
      const x = await this.g.wait(req.containerId, req.execId).catch(() => null);
      // the agent forgets the exec once its output ended (the last holder of its pipes closed
      // them: a background child may write long after the exit, as through runc-v2's FIFOs)
      // or its reader let go (stdio.close(): the exec's delete), or its id is used again
      const drained = stdio ? new Promise<void>((r) => stdio.onEnd(r)) : Promise.resolve();
      let now!: () => void;
      const early = new Promise<void>((r) => { now = r; });
      const done: Promise<void> = Promise.race([drained, early])
        .then(async () => { await this.g.delete(req.containerId, req.execId); }).catch(() => {})
        .finally(() => {
          this.execs.delete(req.dir);
          if (this.forgetting.get(key)?.done === done) this.forgetting.delete(key);
        });
      this.forgetting.set(key, { now, done });
      return x?.exitStatus ?? 255;
    })();
    return { pid, stdio, exited, kill: (sig) => this.g.kill(req.containerId, req.execId, sig) };
  }

  async resizeExec(dir: string, height: number, width: number): Promise<void> {
    const e = this.execs.get(dir);
    if (e) await this.g.resize(e.id, e.execId, height, width);
  }

  async watchExits(cb: ExitCallback): Promise<void> {
    this.exitCb = cb;
  }

  async exitStatus(id: string): Promise<{ code: number; at: Date } | null> {
    if (this.g.closed) return null;
    const s = await this.g.state(id).catch(() => null);
    return s?.status === 'stopped' ? { code: s.exitStatus, at: s.exitedAt ?? new Date() } : null;
  }

  /**
   * After a sandboxer restart: is the task still running in the guest? Either way it is
   * watched again, so an exit that happened meanwhile is reported now.
   */
  async monitorAlive(id: string, _bundle?: string): Promise<boolean> {
    if (this.g.closed) return false;
    const s = await this.g.state(id).catch(() => null);
    if (!s) return false;
    this.track(id);
    return s.status !== 'stopped';
  }

  close(): void {
    this.g.close();
  }
}
