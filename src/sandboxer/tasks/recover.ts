// A sandboxer's start, for the tasks its records hold: a running one's stdio taken up again
// (the FIFOs containerd reads, fed from the monitor's attach stream or handed to the process
// itself), or its exit when its monitor or its sandbox went while no sandboxer ran; and the
// sandboxes made for a task that is gone, stopped.
import type { Runtime } from '../../runtime/types.js';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import { runId, type TaskRecord } from './records.js';
import { FifoPump } from './io.js';
import { FifoPassthrough } from './io-direct.js';
import type { Task } from './task.js';
import type { Sandboxes } from '../sandboxes.js';
import { OWNER_TASK_ANNOTATION } from './create.js';

export interface ReadoptDeps {
  /** The task's runtime; rejects when its sandbox is gone. */
  rt(rec: TaskRecord): Promise<Runtime>;
  /** The task exited (by its key) with `code`, heard now. */
  exited(key: string, code: number): Promise<void>;
  log?: Logger;
}

export async function readopt(t: Task, d: ReadoptDeps): Promise<void> {
  const rec = t.rec;
  // a sandbox whose VM died while we were down: its tasks died with it
  const rt = await d.rt(rec).catch(() => null);
  if (!rt) return d.exited(rec.key, 255);
  if (rec.pid > 0 && await rt.monitorAlive(runId(rec), rec.dir)) {
    try {
      if (rec.directIo) {
        t.io = await FifoPassthrough.reopen(rec);
      } else {
        t.io = await FifoPump.open(rec, { id: rec.id, namespace: rec.namespace });
        t.io.connect(await rt.attach(runId(rec), rec.dir));
      }
    } catch (e) {
      d.log?.warn('cannot reattach task stdio', { id: rec.id, err: errorMessage(e) });
    }
    return;
  }
  // the monitor died without an exit file: nobody knows the code (with one, the exit
  // watcher reports it)
  if (!(await rt.exitStatus(runId(rec)))) await d.exited(rec.key, 255);
}

/**
 * Drop the sandboxes made for a task that is gone: containerd's cleanup after a sandboxer
 * crash removed the task (the launcher's `delete` without us), but its VM ran on and the
 * restarted sandboxer found it again. kata's shim stops the VM in that case.
 */
export async function dropOrphanSandboxes(sandboxes: Sandboxes, taskKnown: (key: string) => boolean, log?: Logger): Promise<void> {
  for (const sb of sandboxes.list()) {
    const owner = sb.annotations[OWNER_TASK_ANNOTATION];
    if (!owner || taskKnown(owner)) continue;
    log?.info('the task this sandbox was made for is gone: stopping it', { sandbox: sb.id, task: owner });
    await sandboxes.discard(sb.id);
  }
}
