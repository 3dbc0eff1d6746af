// Kind "runc": a pod is a set of namespaces on the host held by one tiny process.
//
// Why `unshare --ipc --uts [--net] sleep infinity` and not a runc "pause" container: it is
// one exec (no rootfs, no config.json, no conmon, ~1 MB RSS, a few ms), the namespaces
// live exactly as long as the process, and containers join them through
// /proc/<pid>/ns/<type>, which runc opens itself. The holder runs in its own session so it
// outlives the sandboxer; after a restart we recognise it by pid + start time (pid reuse),
// or, when a crash came before its pid was recorded, by the mark in its environment.
// The pid namespace is not shared (the Kubernetes default), nor the mount namespace. The
// IPC namespace's /dev/shm is: a tmpfs per sandbox, bound into each of its containers.
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Spec } from '../../../oci/types.js';
import type { SandboxKind, SandboxRecord, StartedSandbox } from '../types.js';
import { internal } from '../../../common/errors.js';
import { markedEnv, procStat, processesMarked } from '../../../common/proc.js';
import { bindSharedShm } from '../../../oci/shm.js';
import { ensureShm, unmountPath } from '../../../storage/mounts.js';

const SHARED = ['ipc', 'uts', 'network'] as const;
const NS_FILE: Record<string, string> = { ipc: 'ipc', uts: 'uts', network: 'net' };

const MARK = 'TSULA_SANDBOX';
const HOLDER_COMMS: ReadonlySet<string> = new Set(['unshare', 'sleep']);

export class RuncSandboxKind implements SandboxKind {
  readonly name = 'runc';

  /** stateDir: the sandboxer's; a holder is marked with <stateDir>/sandboxes/<id>. */
  constructor(private readonly stateDir: string) {}

  private mark(sb: SandboxRecord): string {
    return path.join(this.stateDir, 'sandboxes', sb.id);
  }

  /** The sandbox's /dev/shm (containerd's sandbox shm). */
  private shm(sb: SandboxRecord): string {
    return path.join(this.stateDir, 'runc-shm', sb.id);
  }

  async start(sb: SandboxRecord): Promise<StartedSandbox> {
    await ensureShm(this.shm(sb));
    try {
      return await this.startHolder(sb);
    } catch (e) {
      await this.dropShm(sb).catch(() => { /* the error below says more */ });
      throw e;
    }
  }

  private async startHolder(sb: SandboxRecord): Promise<StartedSandbox> {
    const args = ['--ipc', '--uts', ...(sb.netnsPath ? [] : ['--net']), 'sleep', 'infinity'];
    const child = spawn('unshare', args, { detached: true, stdio: 'ignore', cwd: '/', env: markedEnv(MARK, this.mark(sb)) });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (e) => reject(internal(`start sandbox ${sb.id}: unshare: ${e.message}`)));
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    // unshare execs sleep: the namespaces exist once /proc/<pid>/ns/uts differs from ours
    const mine = await fs.readlink('/proc/self/ns/uts');
    for (let i = 0; i < 200; i++) {
      const ns = await fs.readlink(`/proc/${pid}/ns/uts`).catch(() => null);
      if (ns === null) throw internal(`start sandbox ${sb.id}: the holder process exited`);
      if (ns !== mine) return { pid, kindState: { startTime: await startTime(pid) } };
      await new Promise((r) => setTimeout(r, 5));
    }
    process.kill(pid, 'SIGKILL');
    throw internal(`start sandbox ${sb.id}: namespaces did not appear`);
  }

  async alive(sb: SandboxRecord): Promise<boolean> {
    if (sb.pid <= 0) return false;
    const st = await startTime(sb.pid).catch(() => null);
    return st !== null && st === sb.kindState.startTime;
  }

  async stop(sb: SandboxRecord): Promise<void> {
    if (await this.alive(sb)) {
      try { process.kill(sb.pid, 'SIGKILL'); } catch { /* already gone */ }
    } else if (sb.pid <= 0) {
      // a start cut short before its pid was recorded: find the holder by its mark
      for (const h of await processesMarked(MARK, this.mark(sb), HOLDER_COMMS)) {
        if (h.value === this.mark(sb)) { try { process.kill(h.pid, 'SIGKILL'); } catch { /* gone */ } }
      }
    }
    await this.dropShm(sb);
  }

  private async dropShm(sb: SandboxRecord): Promise<void> {
    await unmountPath(this.shm(sb));
    await fs.rm(this.shm(sb), { recursive: true, force: true });
  }

  joinSpec(sb: SandboxRecord, spec: Spec): void {
    const nss = (spec.linux.namespaces ??= []);
    for (const type of SHARED) {
      const p = type === 'network' && sb.netnsPath ? sb.netnsPath : `/proc/${sb.pid}/ns/${NS_FILE[type]}`;
      const cur = nss.find((n) => n.type === type);
      if (cur) cur.path = p; else nss.push({ type, path: p });
    }
    spec.mounts = bindSharedShm(spec, this.shm(sb)).mounts;
  }
}

async function startTime(pid: number): Promise<string> {
  return (await procStat(pid)).startTime;
}
