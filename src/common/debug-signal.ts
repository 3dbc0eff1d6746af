// SIGUSR1 in a root daemon. Node starts its inspector on 127.0.0.1:9229 when a process without
// a SIGUSR1 listener gets one (node 20 has no flag against it), and anyone who can connect
// there runs code as root. A listener keeps the inspector off; what it does instead is what
// dockerd does with the signal: a dump of where the process is (node's diagnostic report:
// JS and native stacks, libuv handles, heap figures), its path logged.
import * as path from 'node:path';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

/** On SIGUSR1, a diagnostic report in `dir` (`<name>-report-<time>.json`), never the inspector. */
export function handleDebugSignal(name: string, dir: string, log?: Logger): void {
  process.on('SIGUSR1', () => {
    const file = path.join(dir, `${name}-report-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
    try {
      process.report.writeReport(file);
      log?.info('SIGUSR1: diagnostic report written', { file });
    } catch (e) {
      log?.warn('SIGUSR1: cannot write the diagnostic report', { file, err: errorMessage(e) });
    }
  });
}
