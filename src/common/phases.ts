// Where an operation's time goes: named phases, logged at debug level as one line
// (`phases op=start ms="mount=0.4 spec=0.9 ..."`) that bench/engine.mjs sums per phase.
// Costs two performance.now() calls per mark when debug logging is off.
import type { Logger } from './log.js';

export class Phases {
  private last = performance.now();
  private readonly t0 = this.last;
  private readonly ms: Array<[string, number]> = [];

  constructor(private readonly op: string, private readonly id: string) {}

  /** The time since the previous mark (or the start) was spent in `phase`. */
  mark(phase: string): void {
    const now = performance.now();
    this.ms.push([phase, now - this.last]);
    this.last = now;
  }

  done(log: Logger): void {
    if (!log.enabled('debug')) return;
    const parts = this.ms.map(([p, ms]) => `${p}=${ms.toFixed(2)}`).join(' ');
    log.debug('phases', { op: this.op, id: this.id.slice(0, 12), total: Number((performance.now() - this.t0).toFixed(2)), ms: parts });
  }
}
