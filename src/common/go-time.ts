// Go's time.Time in JSON (RFC 3339 with nanoseconds, trailing zeros dropped), as dockerd's
// structures carry times; tsulad runs in UTC, so the zone is "Z".

/** Nanoseconds since the epoch as Go's json.Marshal of a UTC time.Time writes them. */
export function goTimeJson(ns: bigint): string {
  const sec = ns >= 0n ? ns / 1_000_000_000n : -((-ns + 999_999_999n) / 1_000_000_000n);
  const frac = ns - sec * 1_000_000_000n;
  const base = new Date(Number(sec) * 1000).toISOString().slice(0, 19);
  return `${base}${frac ? `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}` : ''}Z`;
}
