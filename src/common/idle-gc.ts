// After a spell of work (a pull, a burst of runs) a daemon's heap holds garbage and pages V8
// keeps until it next needs to collect, which an idle daemon never does. A browser's V8 has
// a memory reducer for that; node has no idle hook. So: once the process has been busy and
// then quiet for one interval, full collections give those pages back (the malloc tunables
// the launchers set return freed native memory too). Two, 100 ms apart: what the first
// leaves (what its weak callbacks and finalizers let go of, pages not yet released) the
// second gives back, ~1 MB of tsulad's idle RSS; more give nothing more. Apart, so that a
// request arriving meanwhile waits for one collection (~9 ms on a 10 MB heap); work in
// between stops them (the next quiet interval starts over). Needs --expose-gc
// (DAEMON_V8_FLAGS); without it this does nothing.

export interface IdleCollectOptions {
  intervalMs?: number;   // how often CPU use is sampled
  busyCpuMs?: number;    // CPU in one interval that counts as work done
  quietCpuMs?: number;   // CPU in one interval that counts as idle
  gc?: () => void;       // the collector (tests); default: the global one --expose-gc gives
  rounds?: number;       // full collections per quiet spell
  roundGapMs?: number;   // between them
}

const ROUNDS = 2;

/** Start watching; returns the stop function. */
export function collectWhenIdle(o: IdleCollectOptions = {}): () => void {
  const gc = o.gc ?? (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => {};
  const busy = o.busyCpuMs ?? 20;
  const quiet = o.quietCpuMs ?? 5;
  const rounds = o.rounds ?? ROUNDS;
  const gapMs = o.roundGapMs ?? 100;
  let since = process.cpuUsage();
  let worked = false;
  let pending: NodeJS.Timeout | undefined;
  const collect = (left: number) => {
    pending = undefined;
    const d = process.cpuUsage(since);
    // work since the last round: stop, and count it (the next quiet interval starts over)
    if (worked || (d.user + d.system) / 1000 > quiet) { worked = true; return; }
    gc();
    since = process.cpuUsage(); // the collections' own CPU is not work
    if (left > 1) { pending = setTimeout(collect, gapMs, left - 1); pending.unref(); }
  };
  const timer = setInterval(() => {
    const d = process.cpuUsage(since);
    since = process.cpuUsage();
    const ms = (d.user + d.system) / 1000;
    if (ms >= busy) worked = true;
    else if (worked && ms <= quiet) {
      worked = false;
      if (!pending) collect(rounds);
    }
  }, o.intervalMs ?? 3000);
  timer.unref();
  return () => { clearInterval(timer); clearTimeout(pending); };
}
