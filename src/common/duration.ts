// docker's go-units HumanDuration, the one both ends use: the daemon for a container's
// Status ("Up 2 minutes") and the CLI for CREATED ("2 minutes ago"), so the two agree; and
// Go's time.Duration.String(), which dockerd and the docker CLI print durations with.

/** go-units HumanDuration, given milliseconds: whole seconds and minutes, hours rounded. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.trunc(ms / 3_600_000 + 0.5);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(Math.trunc(ms / 3_600_000) / 24 / 365)} years`;
}

/** Go's time.Duration.String(), given nanoseconds: 0s, 500ms, 1.5s, 1m1.5s, 1h0m0s. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const neg = ns < 0;
  let n = Math.abs(ns);
  let out: string;
  if (n < 1e9) {
    const [unit, div] = n < 1e3 ? ['ns', 1] : n < 1e6 ? ['µs', 1e3] : ['ms', 1e6];
    out = `${trimFrac(n / (div as number))}${unit}`;
  } else {
    const h = Math.floor(n / 3600e9); n -= h * 3600e9;
    const m = Math.floor(n / 60e9); n -= m * 60e9;
    out = `${h ? `${h}h` : ''}${h || m ? `${m}m` : ''}${trimFrac(n / 1e9)}s`;
  }
  return neg ? `-${out}` : out;
}
const trimFrac = (x: number) => String(Number(x.toFixed(9)));
