// Signal names as docker accepts them: "SIGKILL", "KILL", "9", case-insensitive; anything
// else is refused in dockerd's words (pkg/signal.ParseSignal).
import { constants } from 'node:os';
import { invalidArgument } from '../../common/errors.js';

const SIGNALS = constants.signals as unknown as Record<string, number>;

export function parseSignal(s: string): string {
  const t = s.trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (!name || n < 1 || n > 64) throw invalidArgument(`Invalid signal: ${s}`);
    return name;
  }
  const name = t.startsWith('SIG') ? t : 'SIG' + t;
  if (!(name in SIGNALS)) throw invalidArgument(`Invalid signal: ${s}`);
  return name;
}

export function signalNumber(name: string): number {
  return SIGNALS[name] ?? 0;
}
