// What a task or exec refuses in its present state, worded as containerd-shim-runc-v2's
// pkg/process state machine words it (ctr prints these to the user).
import { failedPrecondition } from '../../common/errors.js';
import type { TaskRecord } from './records.js';

/**
 * A call the process' state does not allow, in containerd-shim-runc-v2's words (its
 * pkg/process state machine), which ctr prints; the code stays FailedPrecondition.
 */
export function stateError(op: 'start' | 'exec' | 'pause' | 'resume' | 'update' | 'delete', status: TaskRecord['status']): Error {
  const words: Record<string, string> = {
    'start:running': 'cannot start a running process', 'start:paused': 'cannot start a paused process',
    'start:stopped': 'cannot start a stopped process', 'exec:paused': 'cannot exec in a paused state',
    'exec:stopped': 'cannot exec in a stopped state', 'exec:created': 'cannot exec in a created state',
    'pause:created': 'cannot pause task in created state', 'pause:paused': 'cannot pause a paused container',
    'pause:stopped': 'cannot pause a stopped container', 'resume:created': 'cannot resume task in created state',
    'resume:running': 'cannot resume a running process', 'resume:stopped': 'cannot resume a stopped container',
    'update:stopped': 'cannot update a stopped container', 'delete:running': 'cannot delete a running process',
    'delete:paused': 'cannot delete a paused process',
  };
  return failedPrecondition(words[`${op}:${status}`] ?? `cannot ${op} a ${status} process`);
}
