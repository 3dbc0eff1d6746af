/**
 * Order strings as Go's sort.Strings does (by code unit), what docker's lists follow.
 * Not localeCompare: that orders by locale and loads ICU's collation data (MBs of RSS).
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
