// SIGUSR1 in a root daemon. Node starts its inspector on 127.0.0.1:9229 when a process without
// a SIGUSR1 listener gets one (node 20 has no flag against it), and anyone who can connect
// there runs code as root. A listener keeps the inspector off; what it does instead is what
// dockerd does with the signal: a dump of where the process is (node's diagnostic report:
// JS and native stacks, libuv handles, heap figures), its path logged. The report leaves out
// the environment (a proxy's password lives there) and is its owner's alone (0600).
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { errorMessage } from './errors.js';
import type { Logger } from './log.js';

/** On SIGUSR1, a diagnostic report in `dir` (`<name>-report-<time>.json`), never the inspector. */
export function handleDebugSignal(name: string, dir: string, log?: Logger): void {
  process.on('SIGUSR1', () => writeDebugReport(name, dir, log));
}

export function writeDebugReport(name: string, dir: string, log?: Logger): string {
  const file = path.join(dir, `${name}-report-${new Date().toISOString().replace(/[:.]/g, '')}.json`);
  try {
    const report = process.report.getReport() as unknown as Record<string, unknown>;
    delete report.environmentVariables;
    writeFileSync(file, JSON.stringify(report, null, 2), { mode: 0o600, flag: 'wx' });
    log?.info('SIGUSR1: diagnostic report written', { file });
  } catch (e) {
    log?.warn('SIGUSR1: cannot write the diagnostic report', { file, err: errorMessage(e) });
  }
  return file;
}
