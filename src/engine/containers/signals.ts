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

export function signalNumber(sig: string): number {
  return signalNumberOf(sig) ?? 0;
}
