// After a spell of work (a pull, a burst of runs) a daemon's heap holds garbage and pages V8
// keeps until it next needs to collect, which an idle daemon never does. A browser's V8 has
// a memory reducer for that; node has no idle hook. So: once the process has been busy and
// then quiet for one interval, a single full collection gives those pages back (the malloc
// tunables the launchers set return freed native memory too). Needs --expose-gc
// (DAEMON_V8_FLAGS); without it this does nothing.

export interface IdleCollectOptions {
  intervalMs?: number;   // how often CPU use is sampled
  busyCpuMs?: number;    // CPU in one interval that counts as work done
  quietCpuMs?: number;   // CPU in one interval that counts as idle
  gc?: () => void;       // the collector (tests); default: the global one --expose-gc gives
}

/** Start watching; returns the stop function. */
export function collectWhenIdle(o: IdleCollectOptions = {}): () => void {
  const gc = o.gc ?? (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => {};
  const busy = o.busyCpuMs ?? 20;
  const quiet = o.quietCpuMs ?? 5;
  let since = process.cpuUsage();
  let worked = false;
  const timer = setInterval(() => {
    const d = process.cpuUsage(since);
    since = process.cpuUsage();
    const ms = (d.user + d.system) / 1000;
    if (ms >= busy) worked = true;
    else if (worked && ms <= quiet) {
      worked = false;
      gc();
      since = process.cpuUsage(); // the collection's own CPU is not work
    }
  }, o.intervalMs ?? 3000);
  timer.unref();
  return () => clearInterval(timer);
}
