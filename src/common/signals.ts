// Signal names and numbers as Linux and moby/sys's signal package know them: node's
// os.constants.signals for the standard ones, and the real-time ones it lacks (SIGRTMIN is 34
// and SIGRTMAX 64 under glibc: RTMIN, RTMIN+1 … RTMIN+15, RTMAX-14 … RTMAX-1, RTMAX), as
// systemd images stop by SIGRTMIN+3.
import { constants } from 'node:os';
import { invalidArgument } from './errors.js';

const STANDARD = constants.signals as unknown as Record<string, number>;
export const SIGRTMIN = 34;
export const SIGRTMAX = 64;

/** The number of a signal named with or without SIG, any case ("KILL", "sigrtmin+3"); undefined if none. */
export function signalByName(name: string): number | undefined {
  const n = name.trim().toUpperCase().replace(/^SIG/, '');
  const std = STANDARD[`SIG${n}`];
  if (std !== undefined) return std;
  const rt = /^RT(MIN|MAX)(?:([+-])(\d+))?$/.exec(n);
  if (!rt) return undefined;
  const off = rt[3] === undefined ? 0 : Number(rt[3]);
  // moby's map: RTMIN+1..15 and RTMAX-14..1; nothing else (no RTMIN-n, no RTMAX+n)
  if (rt[1] === 'MIN' && (rt[2] === '-' || off > 15)) return undefined;
  if (rt[1] === 'MAX' && (rt[2] === '+' || off > 14)) return undefined;
  return rt[1] === 'MIN' ? SIGRTMIN + off : SIGRTMAX - off;
}

/** A standard signal's name for a number (SIGKILL), or undefined (a real-time one, or none). */
export function standardName(n: number): string | undefined {
  return Object.keys(STANDARD).find((k) => STANDARD[k] === n);
}

/** A signal as a number: "9", "KILL", "SIGKILL", "RTMIN+3"; undefined when it is none of them. */
export function signalNumberOf(s: string): number | undefined {
  if (/^\d+$/.test(s.trim())) {
    const n = Number(s.trim());
    return n >= 1 && n <= SIGRTMAX ? n : undefined;
  }
  return signalByName(s);
}

/** signalNumberOf, or a refusal naming the signal (the runtimes' kill). */
export function requireSignalNumber(s: string): number {
  const n = signalNumberOf(s);
  if (n === undefined) throw invalidArgument(`invalid signal "${s}"`);
  return n;
}
