// containerd-shim-tsula-v2 `delete`: containerd cleans up after a task whose connection it
// lost (and after every normal removal). Ask the sandboxer to kill and forget the task; if
// the sandboxer is gone, do what containerd-shim-runc-v2 does (runc delete --force in the
// sandboxer's runc root, unmount the rootfs). stdout: a bare DeleteResponse.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import { DeleteResponseSchema } from '../gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { adminCall } from '../sandboxer/admin-call.js';
import type { CleanupRequest, CleanupResponse } from '../sandboxer/admin.js';
import { runId, taskKey, type TaskRecord } from '../sandboxer/tasks/records.js';
import { readJson } from '../common/fsutil.js';
import { canConnect, config, type Args } from './main.js';
import { ensureSandboxer } from '../sandboxer/launch.js';

const execFileP = promisify(execFile);

export async function del(a: Args): Promise<void> {
  const c = config();
  const bundle = a.bundle || process.cwd();
  let res: CleanupResponse | null = null;
  if (await canConnect(c.taskSock)) {
    // a sandboxer that does not answer: clean up ourselves
    res = await adminCall<CleanupResponse>(c.taskSock, 'Cleanup', { id: a.id, namespace: a.namespace, bundle } satisfies CleanupRequest, 30_000).catch(() => null);
  }
  if (!res) {
    const key = taskKey(a.namespace, a.id);
    // the task's pid, for containerd's TaskExit/TaskDelete (runc-v2's Cleanup reads init.pid)
    const rec = await readJson<TaskRecord>(path.join(c.state, 'tasks', key, 'task.json')).catch(() => null);
    const root = `--root=${path.join(c.state, 'runc', 'root')}`;
    // runc knows the task by its runtime id (containerd's id, or the key: records.ts runId);
    // without a record, containerd's id only where runc's state of it has our bundle (another
    // namespace's task may hold that id)
    const dir = path.join(c.state, 'tasks', key);
    const ours = async () => (await readJson<{ config?: { labels?: string[] } }>(path.join(c.state, 'runc', 'root', a.id, 'state.json')).catch(() => null))
      ?.config?.labels?.includes(`bundle=${dir}`) ?? false;
    const rid = rec ? runId(rec) : (await ours()) ? a.id : key;
    await execFileP('runc', [root, 'resume', rid]).catch(() => {}); // a frozen task can't die
    await execFileP('runc', [root, 'delete', '--force', rid]).catch(() => {});
    await execFileP('umount', [path.join(bundle, 'rootfs')]).catch(() => {});
    // containerd forgets the task now: so must the sandboxer's state, or its next start
    // would re-adopt a task nobody will ever delete
    await fs.rm(path.join(c.state, 'tasks', key), { recursive: true, force: true });
    await fs.rm(path.join(c.state, 'runc', 'exits', rid), { force: true });
    // a sandbox made for it alone (a VM pod's) runs on without us: a new sandboxer finds it
    // again at its start and, its task gone, stops it (TaskManager.dropOrphanSandboxes)
    if (rec?.ownsSandbox) await ensureSandboxer(c.state, c.address).catch(() => {});
    const exited = rec?.status === 'stopped' && rec.exitStatus !== undefined;
    res = {
      known: false, pid: rec?.pid ?? 0, exitStatus: exited ? rec.exitStatus! : 137,
      exitedAt: exited && rec.exitedAt ? Date.parse(rec.exitedAt) : Date.now(),
    };
  }
  process.stdout.write(toBinary(DeleteResponseSchema, create(DeleteResponseSchema, {
    pid: res.pid, exitStatus: res.exitStatus, exitedAt: timestampFromDate(new Date(res.exitedAt || Date.now())),
  })));
}
