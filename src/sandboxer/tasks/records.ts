// A container (task) as the sandboxer keeps it across its own restarts:
// <state>/tasks/<key>/task.json next to the runc bundle conmon uses (config.json, attach,
// ctl, conmon.pid). key = sha256(namespace/id): ids from different containerd namespaces
// can't collide in runc's state, and conmon's exit watcher wants 64 hex digits.
import { sha256Hex } from '../../common/crypto.js';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from '../../common/fsutil.js';

export interface TaskRecord {
  id: string;              // containerd's container id
  key: string;             // sha256 of namespace/id: the record's name
  /** runc's and conmon's id: containerd's own where no other task holds it (OCI hooks see it), else the key. */
  runcId?: string;
  namespace: string;
  bundle: string;          // containerd's bundle (config.json, rootfs)
  dir: string;             // our runc bundle
  sandboxId: string;       // '' = standalone (its own namespaces, as the spec says)
  ownsSandbox?: boolean;   // the sandbox was made for this task alone (annotation io.tsula.sandbox-kind)
  eventsAddress: string;   // containerd's TTRPC_ADDRESS ('' = publish nothing)
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  rootfsMounted: boolean;  // we mounted CreateTaskRequest.rootfs on <bundle>/rootfs
  /** The process has containerd's FIFOs as its stdio (FifoPassthrough): no attach stream to reconnect. */
  directIo?: boolean;
  /**
   * No PID namespace of its own (the pod's, the host's): what its init leaves running when it
   * exits is killed before the exit is told, as containerd-shim-runc-v2 does
   * (ShouldKillAllOnExit), so nothing holds containerd's FIFOs past it.
   */
  killAllOnExit?: boolean;
  pid: number;
  status: 'created' | 'running' | 'paused' | 'stopped';
  exitStatus?: number;
  exitedAt?: string;
}

/** The id the task's runtime knows it by (records made before runcId: the key). */
export function runId(rec: Pick<TaskRecord, 'key' | 'runcId'>): string {
  return rec.runcId ?? rec.key;
}

export function taskKey(namespace: string, id: string): string {
  return sha256Hex(`${namespace}/${id}`);
}

export class TaskRecords {
  constructor(readonly dir: string) {}

  taskDir(key: string): string {
    return path.join(this.dir, key);
  }

  async save(r: TaskRecord): Promise<void> {
    await fs.mkdir(r.dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(path.join(r.dir, 'task.json'), r);
  }

  /**
   * Save a task's record again only while its directory is there: a launcher's `delete`
   * with no sandboxer to ask removes it (containerd forgot the task), and nothing may bring
   * it back. False when it is gone.
   */
  async update(r: TaskRecord): Promise<boolean> {
    if (!(await this.present(r))) return false;
    await writeJsonAtomic(path.join(r.dir, 'task.json'), r);
    return true;
  }

  present(r: TaskRecord): Promise<boolean> {
    return fs.access(path.join(r.dir, 'task.json')).then(() => true, () => false);
  }

  async list(): Promise<TaskRecord[]> {
    const out: TaskRecord[] = [];
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      const r = await readJson<TaskRecord>(path.join(this.dir, name, 'task.json')).catch(() => null);
      if (r) out.push(r);
    }
    return out;
  }

  async remove(r: TaskRecord): Promise<void> {
    await fs.rm(r.dir, { recursive: true, force: true });
  }
}
