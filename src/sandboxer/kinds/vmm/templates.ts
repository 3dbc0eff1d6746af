// VM templates (kata's factory, enable_template): a guest booted once to "agent ready", then
// paused and saved, so that pods start from it instead of booting (clone.ts restores one).
// A template is four files in <template dir>/<key>/: `ram` (the guest's RAM: the template
// VM ran with it in this file, shared), `ram.runs.json` (where in it the pages that are not
// all zeros are: what a clone with virtio-fs copies, ram.ts), `state` (QEMU's device state,
// saved with x-ignore-shared so the RAM is not copied into it) and manifest.json.
//
// The key names the machine (hypervisor binary, machine type, CPU model, vCPUs, memory,
// accelerator, guest asset paths): a clone's devices must be the template's, or the restore
// fails. With `-cpu host` (KVM) the host's CPU is part of it: a template saved on one CPU
// (vendor, model, flags) can't be restored on another; TCG's `max` is the same everywhere. The manifest records what the template was made from (each guest asset's and the
// binary's size and mtime): a template whose recorded assets differ from the current ones is
// refused (removed, said in the log) and made again, never used. Templates live beside the
// agent snapshot cache (`templates` beside the initrd) unless template_path says otherwise.
//
// Like agent snapshots, a template is made in the background after a pod's normal boot, once
// per key (a lock file keeps other sandboxers out); a file a running clone maps is never
// written again: a new template goes to a new dir, renamed into place.
import { sha256Hex } from '../../../common/crypto.js';
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { AccelChoice, HypervisorConfig } from '../../../hypervisor/index.js';
import { hypervisorFor, launchVm, pidFileProcess, stopVmm, vmPathsIn, QmpClient } from '../../../hypervisor/index.js';
import { errorMessage, failedPrecondition } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { shellQuote } from '../../../common/exec.js';
import { takeLock } from './snapshots.js';
import { ramRuns, runsBytes, validRuns } from './ram.js';
import { SingleFlight } from '../../../common/singleflight.js';
import { rehearseClone } from './rehearsal.js';

export const MANIFEST = 'manifest.json';
export const RAM_FILE = 'ram';
export const STATE_FILE = 'state';
export const RUNS_FILE = 'ram.runs.json';
/** 2: ram.runs.json */
const VERSION = 2;

/** What identifies one input file of a template (cheap to check at every pod start). */
export interface AssetId { path: string; size: number; mtimeMs: number }

export interface TemplateManifest {
  version: number;
  key: string;
  /** The machine the key was computed from (for people reading the file). */
  machine: Record<string, string | number>;
  assets: Record<string, AssetId>;
  made: string;
  buildMs: number;
}

/** A usable template: where its files are, and its RAM's non-zero runs (ram.ts). */
export interface Template { dir: string; ram: string; state: string; manifest: TemplateManifest; runs: number[] }

/** The template in `dir`, its files named. */
function templateAt(dir: string, manifest: TemplateManifest, runs: number[]): Template {
  return { dir, ram: path.join(dir, RAM_FILE), state: path.join(dir, STATE_FILE), manifest, runs };
}

/** The template dir of a config: template_path, or `templates` beside the initrd. */
export function templateDir(cfg: HypervisorConfig): string {
  return cfg.templatePath || path.join(path.dirname(cfg.initrd), 'templates');
}

/**
 * The config as a template's VM runs it: no agent snapshot (the template boots without a
 * share to read one from), tsula.template=1 for the agent (it starts CloneSetup's program);
 * the same for its clones, so both command lines match.
 */
export function templateConfig(cfg: HypervisorConfig): HypervisorConfig {
  return { ...cfg, agentSnapshot: false, kernelParams: [cfg.kernelParams, 'tsula.template=1'].filter(Boolean).join(' ') };
}

/** What the machine of a template is made of: a clone must have all of it the same. */
export function templateMachine(cfg: HypervisorConfig, accel: AccelChoice['accel'], cpuinfo = readCpuinfo): Record<string, string | number> {
  const cpu = cfg.cpuModel || (accel === 'kvm' ? 'host' : 'max');
  return {
    hypervisor: cfg.path, machine: cfg.machineType, accelerators: cfg.machineAccelerators, accel,
    cpu, vcpus: cfg.defaultVcpus, memoryMib: cfg.defaultMemory,
    kernel: cfg.kernel, initrd: cfg.initrd, image: cfg.image, kernelParams: cfg.kernelParams, debug: cfg.enableDebug ? 1 : 0,
    ...(cfg.disableImageNvdimm ? { imageOnBlk: 1 } : {}),
    ...(cpu === 'host' ? { hostCpu: hostCpuId(cpuinfo()) } : {}),
  };
}

let cpuinfoText: string | undefined;
function readCpuinfo(): string {
  try { return (cpuinfoText ??= readFileSync('/proc/cpuinfo', 'utf8')); } catch { return ''; }
}

/** The host CPU a `-cpu host` guest sees: vendor, family, model, stepping and flags of the first CPU. */
export function hostCpuId(cpuinfo: string): string {
  const first = cpuinfo.split('\n\n')[0] ?? '';
  const field = (k: string) => new RegExp(`^${k}\\s*:\\s*(.*)$`, 'm').exec(first)?.[1]?.trim() ?? '';
  const id = ['vendor_id', 'cpu family', 'model', 'stepping', 'flags'].map(field).join('|');
  return `${field('vendor_id')} ${field('cpu family')}/${field('model')} ${sha256Hex(id).slice(0, 12)}`;
}

export function templateKey(cfg: HypervisorConfig, accel: AccelChoice['accel'], cpuinfo = readCpuinfo): string {
  return sha256Hex(JSON.stringify(templateMachine(cfg, accel, cpuinfo))).slice(0, 16);
}

/** The files a template is made from: the guest's kernel, initrd, image (the agent is in them) and the VMM. */
export async function templateAssets(cfg: HypervisorConfig): Promise<Record<string, AssetId>> {
  const out: Record<string, AssetId> = {};
  const files: Array<[string, string]> = [['kernel', cfg.kernel], ['initrd', cfg.initrd], ['image', cfg.image], ['hypervisor', cfg.path]];
  for (const [name, p] of files) {
    if (!p) continue;
    const st = await fs.stat(p).catch(() => null);
    out[name] = { path: p, size: st?.size ?? -1, mtimeMs: st ? Math.trunc(st.mtimeMs) : -1 };
  }
  return out;
}

/** Why a template made from `recorded` can't serve a guest of `current` (null: it can). */
export function assetsDiffer(recorded: Record<string, AssetId>, current: Record<string, AssetId>): string | null {
  for (const name of new Set([...Object.keys(recorded), ...Object.keys(current)])) {
    const a = recorded[name];
    const b = current[name];
    if (!a || !b) return `its ${name} ${a ? 'is no longer configured' : 'was not recorded'}`;
    if (a.path !== b.path) return `it was made from ${name} ${a.path}, not ${b.path}`;
    if (a.size !== b.size || a.mtimeMs !== b.mtimeMs) {
      return `the ${name} ${b.path} changed since it was made (size ${a.size} → ${b.size}, mtime ${new Date(a.mtimeMs).toISOString()} → ${b.mtimeMs < 0 ? 'missing' : new Date(b.mtimeMs).toISOString()})`;
    }
  }
  return null;
}

export interface VmTemplatesDeps {
  /** Work dirs of template VMs (their sockets: keep it short). */
  workDir: string;
  log?: Logger;
}

export class VmTemplates {
  private builds = new SingleFlight<Template | null>();
  private abort = new AbortController();
  /** Work dirs of this process's builds; any other in workDir is a dead sandboxer's. */
  private works = new Set<string>();
  private reaped = false;
  /** Keys whose template failed a restore: made again once; failing again, not used any more. */
  private failures = new Map<string, number>();

  constructor(private readonly d: VmTemplatesDeps) {}

  /**
   * The template for this config, if one is there and was made from the current assets. One
   * made from other assets is refused: removed, and the log says why (the caller makes
   * another with ensure()).
   */
  async find(cfg: HypervisorConfig, accel: AccelChoice): Promise<Template | null> {
    const key = templateKey(cfg, accel.accel);
    if ((this.failures.get(key) ?? 0) > 1) return null;
    const dir = path.join(templateDir(cfg), key);
    const text = await fs.readFile(path.join(dir, MANIFEST), 'utf8').catch(() => null);
    if (text === null) return null;
    let why: string | null;
    let manifest: TemplateManifest | null = null;
    try {
      manifest = JSON.parse(text) as TemplateManifest;
      why = manifest.version !== VERSION ? `its format is ${manifest.version}, not ${VERSION}`
        : manifest.key !== key ? `it was made for key ${manifest.key}`
          : assetsDiffer(manifest.assets ?? {}, await templateAssets(cfg));
    } catch (e) {
      why = `its manifest is not JSON (${errorMessage(e)})`;
    }
    let runs: unknown = null;
    if (!why) {
      const size = cfg.defaultMemory * 1024 * 1024;
      const ram = await fs.stat(path.join(dir, RAM_FILE)).catch(() => null);
      const state = await fs.stat(path.join(dir, STATE_FILE)).catch(() => null);
      runs = await fs.readFile(path.join(dir, RUNS_FILE), 'utf8').then((t) => JSON.parse(t) as unknown, () => null);
      if (ram?.size !== size) why = `its RAM file is missing or not ${cfg.defaultMemory} MiB`;
      else if (!state?.size) why = 'its device state is missing';
      else if (!validRuns(runs, size)) why = `its ${RUNS_FILE} is missing or not a list of runs within the RAM`;
    }
    if (why) {
      this.d.log?.warn('VM template refused: it is removed and made again; pods boot normally meanwhile', { dir, reason: why });
      await removeTemplateDir(dir).catch((e) => this.d.log?.warn('cannot remove a refused VM template', { dir, err: errorMessage(e) }));
      return null;
    }
    return templateAt(dir, manifest!, runs as number[]);
  }

  /** Make the template in the background unless it is there or being made; `made` hears of it. */
  ensure(cfg: HypervisorConfig, accel: AccelChoice, made?: (t: Template) => void): void {
    if ((this.failures.get(templateKey(cfg, accel.accel)) ?? 0) > 1) return;
    void this.build(cfg, accel).then((t) => { if (t) made?.(t); });
  }

  /**
   * A restore from `t` failed (the pod booted instead): the template is removed and made
   * again by the next boot; a second failure turns templates off for its key until the
   * sandboxer restarts (said once in the log), so no pod pays for a restore that can't work.
   */
  async restoreFailed(t: Template): Promise<void> {
    const n = (this.failures.get(t.manifest.key) ?? 0) + 1;
    this.failures.set(t.manifest.key, n);
    if (n > 1) this.d.log?.warn('VM template restores fail again: pods with this config boot normally until the sandboxer restarts', { key: t.manifest.key });
    await removeTemplateDir(t.dir).catch((e) => this.d.log?.warn('cannot remove a VM template', { dir: t.dir, err: errorMessage(e) }));
  }

  /** Make the template (or join the build under way); null when it can't be made (logged). */
  build(cfg: HypervisorConfig, accel: AccelChoice, throwErrors = false): Promise<Template | null> {
    const key = templateKey(cfg, accel.accel);
    return this.builds.do(key, () => this.buildOnce(cfg, accel, key, throwErrors));
  }

  /** Resolves when no build runs in this process. */
  idle(): Promise<void> {
    return this.builds.idle();
  }

  /** Stop template VMs being made (the sandboxer is closing). */
  async close(): Promise<void> {
    this.abort.abort();
    await this.builds.settled();
  }

  private async buildOnce(cfg: HypervisorConfig, accel: AccelChoice, key: string, throwErrors: boolean): Promise<Template | null> {
    const found = await this.find(cfg, accel);
    if (found) return found;
    const t0 = Date.now();
    const top = templateDir(cfg);
    await fs.mkdir(top, { recursive: true, mode: 0o700 });
    const lock = path.join(top, `.build-${key}.lock`);
    if (!(await takeLock(lock))) return null;
    // sockets in the (short) work dir; the RAM in the template dir, renamed into place after
    await fs.mkdir(this.d.workDir, { recursive: true, mode: 0o700 });
    if (!this.reaped) {
      this.reaped = true;
      await this.reapStale();
    }
    const work = await fs.mkdtemp(path.join(this.d.workDir, 'tpl-'));
    this.works.add(work);
    let out = '';
    let pid = 0;
    // closing: the template VM goes at once (its pid file names it before launchVm returns)
    const abortKill = () => {
      try {
        const p = Number.parseInt(readFileSync(path.join(work, 'vmm.pid'), 'utf8') || '0', 10);
        if (p > 0) process.kill(p, 'SIGKILL');
      } catch { /* no pid file yet, or gone */ }
    };
    this.abort.signal.addEventListener('abort', abortKill, { once: true });
    let rehearsalMs = 0;
    try {
      // what an earlier build cut short left (we hold the lock: nobody else builds it)
      for (const f of await fs.readdir(top)) if (f.startsWith(`.${key}-`)) await fs.rm(path.join(top, f), { recursive: true, force: true });
      out = await fs.mkdtemp(path.join(top, `.${key}-`));
      const assets = await templateAssets(cfg);
      this.d.log?.info('making the VM template in a template VM', { key, accel: accel.accel, memoryMib: cfg.defaultMemory });
      const paths = vmPathsIn(work);
      const hv = hypervisorFor(templateConfig(cfg));
      const vm = await launchVm(hv, {
        id: `template-${key}`, accel: accel.accel, paths, template: { ramFile: path.join(out, RAM_FILE), shareRam: true, restore: false },
      }, { timeoutMs: (cfg.bootTimeout + 120) * 1000 });
      pid = vm.pid;
      // saved with the agent's channel connected: a clone connects before its restore, and its
      // guest sees no hang-up (launchVm)
      try {
        const r0 = Date.now();
        await rehearseClone(vm, (why) => this.abort.signal.aborted || this.d.log?.warn('the VM template is made without its clone rehearsal: its clones start slower', { key, why }));
        rehearsalMs = Date.now() - r0;
        if (this.abort.signal.aborted) throw failedPrecondition('the sandboxer is closing');
        const qmp = await QmpClient.connect(paths.qmpSocket, `template-${key}`);
        try {
          await qmp.execute('stop');
          await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
          await qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(path.join(out, STATE_FILE))}` });
          await qmp.waitMigration(120_000);
          await qmp.execute('quit').catch(() => { /* it exits */ });
        } finally {
          qmp.close();
        }
      } finally {
        vm.client.close();
      }
      await stopVmm(pid, async () => {}, 5000);
      const runs = await ramRuns(path.join(out, RAM_FILE));
      await fs.writeFile(path.join(out, RUNS_FILE), JSON.stringify(runs) + '\n', { mode: 0o600 });
      const manifest: TemplateManifest = {
        version: VERSION, key, machine: templateMachine(cfg, accel.accel), assets, made: new Date().toISOString(), buildMs: Date.now() - t0,
      };
      await fs.writeFile(path.join(out, MANIFEST), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
      const dir = path.join(top, key);
      await removeTemplateDir(dir);
      await fs.rename(out, dir);
      out = '';
      this.d.log?.info('VM template made', { key, dir, ms: manifest.buildMs, rehearsalMs, ramPagesMiB: Math.round(runsBytes(runs) / (1 << 20)) });
      return templateAt(dir, manifest, runs);
    } catch (e) {
      if (throwErrors) throw e;
      if (!this.abort.signal.aborted) this.d.log?.warn('cannot make the VM template: pods boot normally', { key, err: errorMessage(e) });
      return null;
    } finally {
      this.abort.signal.removeEventListener('abort', abortKill);
      if (pid) await stopVmm(pid, async () => {}, 0);
      if (out) await fs.rm(out, { recursive: true, force: true }).catch(() => {});
      await fs.rm(work, { recursive: true, force: true }).catch(() => {});
      this.works.delete(work);
      await fs.rm(lock, { force: true });
    }
  }

  /**
   * A sandboxer killed while it made a template leaves its template VM running (it waits
   * paused or idle, never powering off): its pid file names it, its command line must name
   * the work dir (pid reuse).
   */
  private async reapStale(): Promise<void> {
    for (const f of await fs.readdir(this.d.workDir).catch(() => [] as string[])) {
      const work = path.join(this.d.workDir, f);
      if (!f.startsWith('tpl-') || this.works.has(work)) continue;
      const pid = await pidFileProcess(path.join(work, 'vmm.pid'), work);
      if (pid) await stopVmm(pid, async () => {}, 0);
      await fs.rm(work, { recursive: true, force: true }).catch(() => {});
    }
  }
}

/**
 * Remove a template dir. Clones may map its RAM file (privately): it is unlinked, never
 * rewritten, so their pages stay as they were.
 */
async function removeTemplateDir(dir: string): Promise<void> {
  const gone = `${dir}.old-${process.pid}-${Date.now()}`;
  try {
    await fs.rename(dir, gone);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  await fs.rm(gone, { recursive: true, force: true });
}

