// Small translations between the engine's words and the Task API's.
import * as os from 'node:os';
import { Status } from '../../gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import type { RuntimeState } from '../types.js';
import { invalidArgument } from '../../common/errors.js';

export function statusName(s: Status): RuntimeState['status'] {
  switch (s) {
    case Status.CREATED: return 'created';
    case Status.RUNNING: return 'running';
    case Status.STOPPED: return 'stopped';
    case Status.PAUSED: case Status.PAUSING: return 'paused';
    default: return 'unknown';
  }
}

export function signalNumber(signal: string): number {
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`).toUpperCase() as keyof typeof os.constants.signals;
  const n = os.constants.signals[name];
  if (n === undefined) throw invalidArgument(`invalid signal "${signal}"`);
  return n;
}

/** Terminal sizes are uint32 on the wire; keep them sane. */
export function clampDim(n: number): number {
  return Math.max(0, Math.min(65_535, Math.trunc(n)));
}
