/**
 * Order strings as Go's sort.Strings does (by code unit), what docker's lists follow.
 * Not localeCompare: that orders by locale and loads ICU's collation data (MBs of RSS).
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Dotted numeric versions ("0.4.0" < "1.0.0", "1.41" < "1.43"): -1, 0 or 1; a missing part is 0 (Go's versions.Compare). */
export function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return Math.sign(d);
  }
  return 0;
}
