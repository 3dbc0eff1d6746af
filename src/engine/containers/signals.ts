// Signals as dockerd takes them (moby/sys signal.ParseSignal): a number from 1 to 64, or a name
// with or without SIG in any case, the real-time ones included (systemd images stop by
// SIGRTMIN+3); anything else is refused in its words.
import { invalidArgument } from '../../common/errors.js';
import { signalNumberOf, standardName } from '../../common/signals.js';

/**
 * The signal's canonical form for the runtimes: a standard one's name ("SIGTERM"), a
 * real-time one's number ("37": runc and the agents take numbers, not RT names).
 */
export function parseSignal(s: string): string {
  const n = signalNumberOf(s);
  if (n === undefined) throw invalidArgument(`invalid signal: ${s}`);
  return standardName(n) ?? String(n);
}

/**
 * A kill's signal (docker kill -s): parseSignal, and a number moby/sys parses that Linux's
 * SignalMap lacks (32, 33: glibc's own; past RTMAX) is daemon/kill.go's ValidSignalForPlatform
 * refusal. Only kill checks so: a stop signal or STOPSIGNAL of 32 is taken, as dockerd takes it.
 */
export function parseKillSignal(s: string): string {
  const num = /^\d+$/.test(s.trim()) ? Number(s.trim()) : 0;
  if (num === 32 || num === 33 || (num > 64 && num < 2 ** 32)) throw invalidArgument(`the linux daemon does not support signal ${num}`);
  return parseSignal(s);
}

/**
 * The container's stop signal as dockerd's Container.StopSignal reads it: one it cannot parse
 * (an image's STOPSIGNAL FOO) is SIGTERM, so that a stop always stops.
 */
export function stopSignalOf(stopSignal: string | undefined): string {
  try {
    return parseSignal(stopSignal || 'SIGTERM');
  } catch {
    return 'SIGTERM';
  }
}

export function signalNumber(sig: string): number {
  return signalNumberOf(sig) ?? 0;
}
