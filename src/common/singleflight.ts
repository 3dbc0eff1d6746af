// One run per key at a time: a caller that asks for a key being worked on joins that run
// (a snapshot or template build, a registry token fetch) instead of starting another.

export class SingleFlight<T> {
  private runs = new Map<string, Promise<T>>();

  /** The run under way for key, else fn's, which is forgotten once it settles. */
  do(key: string, fn: () => Promise<T>): Promise<T> {
    const running = this.runs.get(key);
    if (running) return running;
    const p = fn().finally(() => this.runs.delete(key));
    this.runs.set(key, p);
    return p;
  }

  /** Settles once the runs under way have (not those started meanwhile). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.runs.values()]);
  }

  /** Resolves once no run is under way, later ones included. */
  async idle(): Promise<void> {
    while (this.runs.size) await this.settled();
  }
}
