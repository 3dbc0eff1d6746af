// Reference counts on the blobs and chain ids that work in progress needs (a pull until its
// record is written, a save until its archive is streamed): garbage collection and rmi leave
// a pinned key alone. Pinning takes no lock, so a pin may be held while a client is waited on.
export class Pins {
  private readonly counts = new Map<string, number>();

  has(key: string): boolean {
    return this.counts.has(key);
  }

  keys(): IterableIterator<string> {
    return this.counts.keys();
  }

  /** Pin `keys`; returns the release (idempotent). */
  pin(keys: string[]): () => void {
    for (const k of keys) this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      for (const k of keys) {
        const n = (this.counts.get(k) ?? 1) - 1;
        if (n > 0) this.counts.set(k, n); else this.counts.delete(k);
      }
    };
  }
}
