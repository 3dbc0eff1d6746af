// run/create's healthcheck flags as docker's cli/command/container/opts.go reads them:
// --health-cmd becomes ["CMD-SHELL", cmd], the durations are Go durations sent in
// nanoseconds, --no-healthcheck is ["NONE"] and cannot be mixed with the others.
import { UsageError, type FlagSpec, type Parsed } from '../args.js';
import { parseGoDuration } from '../units.js';

export const HEALTH_FLAGS: FlagSpec[] = [
  { long: 'health-cmd', kind: 'string', desc: 'Command to run to check health', meta: 'string' },
  { long: 'health-interval', kind: 'string', desc: 'Time between running the check (ms|s|m|h) (default 0s)', meta: 'duration' },
  { long: 'health-retries', kind: 'int', desc: 'Consecutive failures needed to report unhealthy', meta: 'int' },
  { long: 'health-start-interval', kind: 'string', desc: 'Time between running the check during the start period (ms|s|m|h) (default 0s)', meta: 'duration' },
  { long: 'health-start-period', kind: 'string', desc: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)', meta: 'duration' },
  { long: 'health-timeout', kind: 'string', desc: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)', meta: 'duration' },
  { long: 'no-healthcheck', kind: 'bool', desc: 'Disable any container-specified HEALTHCHECK' },
];

/** A duration flag in nanoseconds; pflag's message for one that is not a Go duration. */
function durationNs(p: Parsed, flag: string): number {
  const v = p.str(flag);
  if (v === undefined) return 0;
  // Go's ParseDuration takes "0" without a unit, and nothing else without one
  const ms = v === '0' || v === '-0' || v === '+0' ? 0 : parseGoDuration(v.replace(/^\+/, ''));
  if (ms === undefined) throw new UsageError(`invalid argument "${v}" for "--${flag}" flag: time: invalid duration ${JSON.stringify(v)}`, 'run');
  return Math.round(ms * 1e6);
}

/** Config.Healthcheck, or undefined when no health flag was given (the image's stays). */
export function healthcheck(p: Parsed): Record<string, unknown> | undefined {
  const cmd = p.str('health-cmd') ?? '';
  const interval = durationNs(p, 'health-interval');
  const timeout = durationNs(p, 'health-timeout');
  const startPeriod = durationNs(p, 'health-start-period');
  const startInterval = durationNs(p, 'health-start-interval');
  const retries = p.num('health-retries') ?? 0;
  const any = cmd !== '' || interval !== 0 || timeout !== 0 || startPeriod !== 0 || retries !== 0 || startInterval !== 0;
  if (p.bool('no-healthcheck')) {
    if (any) throw new UsageError('--no-healthcheck conflicts with --health-* options', 'run');
    return { Test: ['NONE'] };
  }
  if (!any) return undefined;
  if (interval < 0) throw new UsageError('--health-interval cannot be negative', 'run');
  if (timeout < 0) throw new UsageError('--health-timeout cannot be negative', 'run');
  if (retries < 0) throw new UsageError('--health-retries cannot be negative', 'run');
  if (startPeriod < 0) throw new UsageError('--health-start-period cannot be negative', 'run');
  if (startInterval < 0) throw new UsageError('--health-start-interval cannot be negative', 'run');
  return {
    Test: cmd ? ['CMD-SHELL', cmd] : null, Interval: interval, Timeout: timeout, StartPeriod: startPeriod,
    StartInterval: startInterval, Retries: retries,
  };
}
