// docker's `filters` query parameter ({"label":["a=b"]}, or the older {"label":{"a=b":true}})
// and its label matching, shared by the list and prune endpoints.
import { errorMessage, invalidArgument } from '../common/errors.js';

export type Filters = Record<string, string[]>;

export function parseFilters(s: string | null | undefined): Filters {
  if (!s) return {};
  let f: unknown;
  try {
    f = JSON.parse(s);
  } catch (e) {
    throw invalidArgument(`invalid filters: ${errorMessage(e)}`);
  }
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw invalidArgument('invalid filters: want a JSON object');
  return Object.fromEntries(Object.entries(f as Record<string, unknown>).map(([k, v]) => {
    if (Array.isArray(v)) return [k, v.map(String)];
    if (v && typeof v === 'object') return [k, Object.keys(v).filter((x) => (v as Record<string, unknown>)[x])];
    throw invalidArgument(`invalid filters: "${k}" wants a list`);
  }));
}

/** Every `label` filter (key, key=value, or label!=… for prune's negation) holds. */
export function matchLabels(labels: Record<string, string>, want: string[], negated: string[] = []): boolean {
  const has = (v: string) => {
    const eq = v.indexOf('=');
    return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
  };
  return want.every(has) && !negated.some(has);
}

/** Only these filter keys are known: docker answers 400 for any other. */
export function checkFilterKeys(f: Filters, known: string[]): void {
  for (const k of Object.keys(f)) if (!known.includes(k)) throw invalidArgument(`invalid filter '${k}'`);
}
