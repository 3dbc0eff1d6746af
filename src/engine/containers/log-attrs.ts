// json-file's log attributes (--log-opt labels, labels-regex, env, env-regex): the container's
// labels and environment variables they name, which `docker logs --details` puts before each
// line as dockerd does (logger.Info.ExtraAttributes, then the API's attrsByteSlice).
import type { Container } from './model.js';

/** Go's url.QueryEscape: unreserved characters as they are, a space as "+", the rest %XX. */
export function goQueryEscape(s: string): string {
  return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The attributes of a container's log lines, by key. */
export function logAttributes(c: Pick<Container, 'config'>): Record<string, string> {
  const opts = c.config.logOpts ?? {};
  const labels = c.config.labels ?? {};
  const out: Record<string, string> = {};
  if (opts.labels) for (const l of opts.labels.split(',')) if (l in labels) out[l] = labels[l]!;
  // dockerd reads labels-regex only when labels is set too (as its code does)
  if (opts['labels-regex'] && opts.labels) {
    const re = new RegExp(opts['labels-regex']);
    for (const [k, v] of Object.entries(labels)) if (re.test(k)) out[k] = v;
  }
  const env = new Map<string, string>();
  for (const e of c.config.env ?? []) {
    const i = e.indexOf('=');
    if (i >= 0) env.set(e.slice(0, i), e.slice(i + 1));
  }
  if (opts.env) for (const k of opts.env.split(',')) if (env.has(k)) out[k] = env.get(k)!;
  if (opts['env-regex']) {
    const re = new RegExp(opts['env-regex']);
    for (const [k, v] of env) if (re.test(k)) out[k] = v;
  }
  return out;
}

/** `docker logs --details`' head of each line: "k=v,k2=v2 " sorted by key (" " for none). */
export function detailsHead(c: Pick<Container, 'config'>): string {
  const a = logAttributes(c);
  return Object.keys(a).sort().map((k) => `${goQueryEscape(k)}=${goQueryEscape(a[k]!)}`).join(',') + ' ';
}
