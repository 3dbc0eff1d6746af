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
  const keys = new Set([...Object.keys(config), ...Object.keys(next)] as Array<keyof DaemonConfig>);
  for (const k of keys) {
    if (JSON.stringify(config[k]) === JSON.stringify(next[k])) continue;
    if (k === 'logLevel') {
      logger.setLevel(next.logLevel);
      config.logLevel = next.logLevel;
      applied.push('log-level');
    } else if (k !== 'registryMirrorsByHost' || !keys.has('registryMirrors')) {
      // daemon.json's spelling of the key (registryMirrors -> registry-mirrors)
      atRestart.push(k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`));
    }
  }
  return { applied, atRestart };
}
