// Small translations between the engine's words and the Task API's.
import { Status } from '../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import type { RuntimeState } from '../types.js';

export function statusName(s: Status): RuntimeState['status'] {
  switch (s) {
    case Status.CREATED: return 'created';
    case Status.RUNNING: return 'running';
    case Status.STOPPED: return 'stopped';
    case Status.PAUSED: case Status.PAUSING: return 'paused';
    default: return 'unknown';
  }
}

export { requireSignalNumber as signalNumber } from '../../common/signals.js';

/** Terminal sizes are uint32 on the wire; keep them sane. */
export function clampDim(n: number): number {
  return Math.max(0, Math.min(65_535, Math.trunc(n)));
}
