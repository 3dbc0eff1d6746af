// Where an operation's time goes: named phases, logged at debug level as one line
// (`phases op=start ms="mount=0.4 spec=0.9 ..."`) that bench/engine.mjs sums per phase.
// Costs two clock reads per mark when debug logging is off. The clock is process.uptime()
// (monotonic, µs and finer): the guest agent times every create, and `performance`'s first
// use loads node's perf_hooks modules, which a VM's first container paid under TCG.
import type { Logger } from './log.js';

const now = (): number => process.uptime() * 1000;

export class Phases {
  private last = now();
  private readonly t0 = this.last;
  private readonly ms: Array<[string, number]> = [];

  constructor(private readonly op: string, private readonly id: string) {}

  /** The time since the previous mark (or the start) was spent in `phase`. */
  mark(phase: string): void {
    const t = now();
    this.ms.push([phase, t - this.last]);
    this.last = t;
  }

  done(log: Logger): void {
    if (!log.enabled('debug')) return;
    const parts = this.ms.map(([p, ms]) => `${p}=${ms.toFixed(2)}`).join(' ');
    log.debug('phases', { op: this.op, id: this.id.slice(0, 12), total: Number((now() - this.t0).toFixed(2)), ms: parts });
  }
}
