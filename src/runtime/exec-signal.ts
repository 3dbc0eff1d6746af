// Signalling an exec where its pid means something: through its runtime (a VM guest's pid is
// no host pid, and a host process of that pid must never get the signal), else the host pid.
import type { ExecHandle } from './types.js';

/** Never throws: a process that is gone already is no error here. */
export async function killExec(h: Pick<ExecHandle, 'pid' | 'kill'>, signal = 9): Promise<void> {
  try {
    if (h.kill) await h.kill(signal);
    else if (h.pid > 0) process.kill(h.pid, signal);
  } catch { /* gone already */ }
}
