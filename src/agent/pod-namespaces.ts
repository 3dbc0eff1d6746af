// A VM pod's shared namespaces in the guest. containerd's CRI names them by its pause
// container's pid (a task of ours); tsulad's CRI has no pause container in a VM pod and marks
// the container instead (POD_NAMESPACES_ANNOTATION): the pod's UTS, IPC and PID namespaces
// are then a holder's, one per VM, made on first use (busybox unshare + catatonit -P, as
// pause is: PID 1 of the pod's PID namespace, reaping its orphans; busybox sleep in an image
// without catatonit), and gone with the VM. With the IPC namespace goes the pod's /dev/shm:
// one tmpfs in the guest that its containers bind (containerd's sandbox shm, on the host for
// a host pod: engine/pods/namespaces.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { NamespaceType, Spec } from '../oci/types.js';
import { POD_NAMESPACES_ANNOTATION } from '../common/pod-annotations.js';
import { GUEST_POD_SHM } from './paths.js';
import { internal } from '../common/errors.js';
import { childPids } from '../common/proc.js';
import type { Logger } from './deps.js';
import { ensureShm } from '../storage/mounts.js';
import { bindSharedShm } from '../oci/shm.js';

const PATH = /^\/proc\/(\d+)\/ns\/([a-z]+)$/;
const SHAREABLE = new Set(['uts', 'ipc', 'pid']);

export class PodNamespaces {
  private holder: Promise<number> | null = null;
  private holderPid = 0;
  private shm: Promise<string> | null = null;

  constructor(private readonly log?: Logger, private readonly busybox = '/bin/busybox', private readonly pause = '/usr/bin/catatonit',
    private readonly shmDir = GUEST_POD_SHM) {}

  /**
   * The spec with its namespaces as the guest has them: those the annotation lists are the
   * pod's (the holder's), a path naming one of `tasks` (running tasks' pids) is kept, and any
   * other path is dropped: the container gets a namespace of its own.
   */
  async resolve(spec: Spec, tasks: Set<number>): Promise<Spec> {
    const wanted = new Set((spec.annotations?.[POD_NAMESPACES_ANNOTATION] ?? '').split(',').filter((t): t is NamespaceType => SHAREABLE.has(t)));
    const ns = spec.linux?.namespaces ?? [];
    if (!wanted.size && !ns.some((n) => n.path)) return spec;
    const holder = wanted.size ? await this.holderOf() : 0;
    const namespaces = ns.map((n) => {
      if (wanted.has(n.type)) return { type: n.type, path: `/proc/${holder}/ns/${n.type}` };
      if (!n.path) return n;
      const pid = Number(PATH.exec(n.path)?.[1]);
      if (tasks.has(pid)) return n;
      this.log?.warn('namespace path is not a task of this VM: the container gets its own', { type: n.type, path: n.path });
      return { type: n.type };
    });
    for (const t of wanted) if (!namespaces.some((n) => n.type === t)) namespaces.push({ type: t, path: `/proc/${holder}/ns/${t}` });
    // the pod's UTS namespace has the pod's hostname already (the guest's, which it copied)
    const out: Spec = { ...spec, linux: { ...spec.linux, namespaces } };
    if (wanted.has('uts')) delete out.hostname;
    // the pod's IPC: its /dev/shm too (mounted on first use, 64 MiB, as containerd's)
    if (!wanted.has('ipc')) return out;
    this.shm ??= ensureShm(this.shmDir).catch((e) => { this.shm = null; throw e; });
    return bindSharedShm(out, await this.shm);
  }

  /** The holder's pid; started on first use, and again if it died. */
  private async holderOf(): Promise<number> {
    if (this.holder && this.holderPid && !alive(this.holderPid)) this.holder = null;
    this.holder ??= this.start().then((pid) => { this.holderPid = pid; return pid; }, (e) => { this.holder = null; throw e; });
    return this.holder;
  }

  private async start(): Promise<number> {
    // unshare moves itself into the new UTS and IPC namespaces and forks the holder into the
    // new PID namespace: the holder holds all three
    const init = existsSync(this.pause) ? [this.pause, '-P'] : [this.busybox, 'sleep', '2147483647'];
    const u = spawn(this.busybox, ['unshare', '-u', '-i', '-p', '-f', ...init], { stdio: 'ignore', detached: true });
    u.unref();
    const parent = await new Promise<number>((resolve, reject) => {
      u.once('spawn', () => resolve(u.pid!));
      u.once('error', (e) => reject(internal(`cannot make the pod's namespaces (${this.busybox} unshare): ${e.message}`)));
    });
    for (let i = 0; i < 200; i++) {
      const kids = await childPids(parent);
      if (kids.length) {
        const pid = kids[0]!;
        this.log?.info('pod namespaces made', { pid });
        return pid;
      }
      if (!alive(parent)) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    try { process.kill(parent, 'SIGKILL'); } catch { /* gone */ }
    throw internal(`cannot make the pod's namespaces: ${this.busybox} unshare did not start ${init[0]}`);
  }

  /** The holder goes (the agent stops; in a VM, the VM goes with it anyway). */
  close(): void {
    if (this.holderPid) try { process.kill(this.holderPid, 'SIGKILL'); } catch { /* gone */ }
    this.holder = null;
    this.holderPid = 0;
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}
