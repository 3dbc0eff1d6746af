// tsulad's signals, as dockerd takes them, trapped before its start (restoring containers
// and networks can take seconds): SIGTERM/SIGINT stop it cleanly (pid file, socket; the
// containers run on), also when asked for during the start; SIGHUP reloads daemon.json
// (config-reload.ts), once started if asked for before; SIGUSR1 writes a diagnostic report
// and never opens node's inspector (debug-signal.ts); SIGUSR2 is dockerd's no-op.
import { handleDebugSignal } from '../common/debug-signal.js';
import { errorMessage } from '../common/errors.js';
import { Logger } from '../common/log.js';
import type { Daemon } from './daemon.js';

export interface EarlySignals {
  /** The daemon is up: its own handlers replace the early ones; what was asked meanwhile runs. */
  started(daemon: Daemon): void;
}

export function trapSignals(): EarlySignals {
  let stopAsked: string | null = null;
  let reloadAsked = false;
  const early: Array<[NodeJS.Signals, () => void]> = [
    ['SIGTERM', () => { stopAsked ??= 'SIGTERM'; }],
    ['SIGINT', () => { stopAsked ??= 'SIGINT'; }],
    ['SIGHUP', () => { reloadAsked = true; }],
    ['SIGUSR1', () => undefined],
    ['SIGUSR2', () => undefined],
  ];
  for (const [sig, f] of early) process.on(sig, f);
  return {
    started(daemon) {
      for (const [sig, f] of early) process.off(sig, f);
      const log = new Logger(daemon.config.logLevel);
      const stop = (sig: string) => {
        process.stderr.write(`time="${new Date().toISOString()}" level=info msg="received ${sig}, shutting down (containers keep running)"\n`);
        void daemon.close().finally(() => process.exit(0));
      };
      const reload = () => {
        log.info('Got signal to reload configuration', { file: daemon.config.configFile });
        void daemon.reload?.().then(({ applied, atRestart }) => {
          log.info('Reloaded configuration', { applied });
          if (atRestart.length) log.warn('these settings changed but take effect only when tsulad starts again', { keys: atRestart });
        }, (e: unknown) => log.error('Error reconfiguring the daemon: the configuration in use is kept', { err: errorMessage(e) }));
      };
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGHUP', reload);
      handleDebugSignal('tsulad', daemon.config.state, log);
      process.on('SIGUSR2', () => undefined);
      if (stopAsked) stop(stopAsked);
      else if (reloadAsked) reload();
    },
  };
}
