// tsulad's SIGHUP, as dockerd's: the flags and daemon.json read and checked again. The log
// level applies at once; every other change is named as waiting for the next start (dockerd
// reloads a few more live: labels, registries, max-concurrent-*). A bad file changes nothing.
import type { Logger } from '../common/log.js';
import { loadDaemonConfig, type DaemonConfig, type DaemonFlags } from './config.js';

export interface ReloadResult { applied: string[]; atRestart: string[] }

export async function reloadConfig(config: DaemonConfig, flags: DaemonFlags, logger: Logger): Promise<ReloadResult> {
  const next = await loadDaemonConfig(flags);
  const applied: string[] = [];
  const atRestart: string[] = [];
  if (next.logLevel !== config.logLevel) {
    logger.setLevel(next.logLevel);
    config.logLevel = next.logLevel;
    applied.push('log-level');
  }
  // the flags are the process' own: what can change is daemon.json, named by its own keys
  const before = config.file ?? {};
  const after = next.file ?? {};
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (k !== 'log-level' && JSON.stringify(before[k]) !== JSON.stringify(after[k])) atRestart.push(k);
  }
  config.file = { ...before, 'log-level': after['log-level'] };
  return { applied, atRestart };
}
