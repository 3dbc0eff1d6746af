// docker's `filters` query parameter ({"label":["a=b"]}, or the older {"label":{"a=b":true}})
// and its label matching, shared by the list and prune endpoints.
import { invalidArgument } from '../common/errors.js';
import { FilterArgs } from './api/filters.js';

export type Filters = Record<string, string[]>;

/** The filters as a plain record (api/filters.ts parses both encodings, as dockerd). */
export function parseFilters(s: string | null | undefined): Filters {
  return FilterArgs.parse(s).toRecord();
}

/**
 * Every `label` filter (key, or key=value) holds, and not every `label!` one (prune's
 * negation: dockerd's matchLabels spares what MatchKVList("label!") matches, all of them).
 */
export function matchLabels(labels: Record<string, string>, want: string[], negated: string[] = []): boolean {
  const has = (v: string) => {
    const eq = v.indexOf('=');
    return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
  };
  return want.every(has) && !(negated.length && negated.every(has));
}

/** dockerd's filters.Args.Match: no values, one equal to source, or one a regexp found in it. */
export function matchRegexp(values: readonly string[], source: string): boolean {
  return FilterArgs.fromRecord({ v: [...values] }).match('v', source);
}

/** Only these filter keys are known: docker answers 400 "Invalid filter 'x'" for any other. */
export function checkFilterKeys(f: Filters, known: string[]): void {
  FilterArgs.fromRecord(f).validate(known);
}

/**
 * A prune's until (dockerd's getUntilFromPruneFilters): one value at most, else refused; the
 * cutoff in ms since the epoch, undefined when there is none.
 */
export function pruneUntil(values: readonly string[] | undefined): number | undefined {
  if (!values?.length) return undefined;
  if (values.length > 1) throw invalidArgument('more than one until filter specified');
  try {
    return untilTime(values[0]!);
  } catch {
    throw invalidArgument(`failed to parse value as time or duration: "${values[0]}"`);
  }
}

/** docker's until filter: unix seconds, an RFC 3339 time, or a Go duration before now (10m, 1h30m). */
export function untilTime(v: string): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)];
  if (parts.length && parts.map((p) => p[0]).join('') === v) {
    const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3, m: 6e4, h: 3.6e6 } as const;
    return Date.now() - parts.reduce((a, p) => a + Number(p[1]) * unit[p[2] as keyof typeof unit], 0);
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`invalid until filter "${v}": want a time or a duration such as 24h`);
  return t;
}
