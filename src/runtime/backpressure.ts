// A pausable stream feeding several sinks (stdout, stderr): paused while any sink is full,
// resumed once none is.
import type { StdioStream } from './types.js';

export class Backpressure<K> {
  private full = new Set<K>();

  constructor(private readonly stream: Required<Pick<StdioStream, 'pause' | 'resume'>>) {}

  /** A pausable stream's gate; null for one that cannot pause. */
  static of<K>(stream: StdioStream | null | undefined): Backpressure<K> | null {
    return stream?.pause && stream.resume ? new Backpressure<K>({ pause: () => stream.pause!(), resume: () => stream.resume!() }) : null;
  }

  /** `sink` is full: the stream waits. */
  hold(sink: K): void {
    this.full.add(sink);
    this.stream.pause();
  }

  /** `sink` took what it had: the stream goes on when no other sink is full. */
  release(sink: K): void {
    if (this.full.delete(sink) && !this.full.size) this.stream.resume();
  }

  holds(sink: K): boolean { return this.full.has(sink); }
}
