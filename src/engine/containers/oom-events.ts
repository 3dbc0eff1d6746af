// dockerd logs `oom` at each TaskOOM, while the container runs (a child or an exec killed too),
// not only at its exit. Where the runtime hears kills as they happen (conmon's oom file, a
// sandboxer's TaskOOM), so does tsulad; at the exit, a kill heard this run is the container's
// OOM, and the exit logs no second event.
import type { Runtime } from '../../runtime/types.js';
import type { Container } from './model.js';

export interface OomEventsDeps {
  runtimeOf(rec: Container): Runtime;
  bundle(id: string): string;
  /** Log the `oom` event of a container still running (false: it went meanwhile). */
  heard(rec: Container): boolean;
}

export class OomEvents {
  private readonly watches = new Map<string, () => void>();
  private readonly killed = new Set<string>();

  constructor(private readonly d: OomEventsDeps) {}

  /** A container started (or was adopted running): hear its kills. */
  watch(rec: Container): void {
    const stop = this.d.runtimeOf(rec).watchOom?.(rec.id, this.d.bundle(rec.id), () => {
      if (this.d.heard(rec)) this.killed.add(rec.id);
    });
    if (!stop) return;
    this.watches.get(rec.id)?.();
    this.watches.set(rec.id, stop);
  }

  /** Its exit: stop listening; whether a kill was heard during the run. */
  ended(id: string): boolean {
    this.watches.get(id)?.();
    this.watches.delete(id);
    return this.killed.delete(id);
  }
}
