// docker's --pid container:<x> and --ipc container:<x> / shareable: a container joins another's
// PID or IPC namespace at each start, by path, with dockerd's checks and words
// (getPidContainer, getIpcContainer). As dockerd does, a shareable container's /dev/shm is a
// tmpfs mounted on the host (its bundle's shm/) and bound in, so that a container joining its
// IPC namespace binds the same one: POSIX shared memory is shared with System V IPC. The
// tmpfs is unmounted when the donor stops (joiners keep their bind while they run).
import * as path from 'node:path';
import { failedPrecondition, internal, invalidArgument, notFound } from '../../common/errors.js';
import { ensureShm, unmountPath } from '../../storage/mounts.js';
import type { ContainerHooks } from './hooks.js';
import type { Container } from './model.js';

export interface SharedNamespaceDeps {
  /** A container by name or id. */
  find(ref: string): Container | undefined;
  /** The container's state dir, where a shareable one's /dev/shm tmpfs is mounted. */
  bundle(id: string): string;
  /** Runtimes whose containers run in a VM (their namespaces are the guest's). */
  isVmRuntime(name: string): boolean;
}

export class SharedNamespaceHooks implements ContainerHooks {
  constructor(private readonly d: SharedNamespaceDeps) {}

  private shmDir(id: string): string { return path.join(this.d.bundle(id), 'shm'); }

  async beforeStart(rec: Container): Promise<void> {
    delete rec.state.joinedNamespaces;
    delete rec.state.ipcShm;
    const k = rec.config;
    if (k.ipcShareable) {
      rec.state.ipcShm = await ensureShm(this.shmDir(rec.id), k.shmSize || undefined);
    }
    const shared = k.sharedNamespaces;
    if (!shared) return;
    const joined: { pid?: string; ipc?: string } = {};
    for (const ns of ['pid', 'ipc'] as const) {
      const ref = shared[ns];
      if (!ref) continue;
      // dockerd 28+'s words: createSpec's "failed to join PID namespace" (a 500), getIpcContainer's
      const what = ns === 'pid' ? 'failed to join PID namespace' : `can't join IPC of container ${ref}`;
      const other = this.d.find(ref);
      if (!other) throw ns === 'pid' ? internal(`${what}: No such container: ${ref}`) : notFound(`${what}: No such container: ${ref}`);
      if (other.id === rec.id) throw invalidArgument(`${what}: a container cannot join its own namespace`);
      // a VM's namespaces are its guest kernel's: no path on the host names them (its pid is
      // the guest's: /proc/<pid> would be some host process), and a VM can't join the host's
      for (const c of [rec, other]) {
        if (this.d.isVmRuntime(c.runtime)) throw invalidArgument(`--${ns} container:${ref}: container ${c.name} runs in a VM (runtime ${c.runtime}), whose namespaces are its guest kernel's: they cannot be shared with another container`);
      }
      if ((other.state.status !== 'running' && other.state.status !== 'paused') || !other.state.pid) {
        throw ns === 'pid' ? internal(`${what}: container ${other.id} is not running`) : failedPrecondition(`${what}: Container ${other.id} is not running`);
      }
      if (ns === 'ipc') {
        const shm = other.config.hostNamespaces?.ipc ? '/dev/shm' : other.state.ipcShm;
        if (!shm) throw failedPrecondition(`${what}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
        rec.state.ipcShm = shm;
      }
      joined[ns] = `/proc/${other.state.pid}/ns/${ns}`;
    }
    rec.state.joinedNamespaces = joined;
  }

  async stopped(rec: Container): Promise<void> {
    if (rec.config.ipcShareable) await unmountPath(this.shmDir(rec.id));
  }

  async removed(rec: Container): Promise<void> {
    if (rec.config.ipcShareable) await unmountPath(this.shmDir(rec.id));
  }

  /** After a restart: a shareable container that no longer runs lets its /dev/shm go. */
  async recovered(list: Container[]): Promise<void> {
    for (const rec of list) {
      const live = rec.state.status === 'running' || rec.state.status === 'paused';
      if (rec.config.ipcShareable && !live) await unmountPath(this.shmDir(rec.id)).catch(() => undefined);
    }
  }
}
