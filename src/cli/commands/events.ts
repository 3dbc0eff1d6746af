// `tsula events`: GET /events, a JSON-lines stream, printed as docker prints it:
// `2026-11-22T10:00:00.000000000Z container start <id> (image=busybox, name=x)`.
import type { CommandSpec, Parsed } from '../args.js';
import { lines } from '../client.js';
import { StatusError, type Cli } from '../context.js';
import { rfc3339NanoFixed, toApiTimestamp } from '../units.js';
import { filtersJson } from './ps.js';

export const spec: CommandSpec = {
  name: 'events',
  usage: '[OPTIONS]',
  desc: 'Get real time events from the server',
  maxArgs: 0,
  flags: [
    { long: 'filter', short: 'f', kind: 'list', desc: 'Filter output based on conditions provided', meta: 'filter' },
    { long: 'format', kind: 'string', desc: 'Format the output using the given Go template' },
    { long: 'since', kind: 'string', desc: 'Show all events created since timestamp' },
    { long: 'until', kind: 'string', desc: 'Stream events until this timestamp' },
  ],
};

export interface EventMessage {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> | null };
  status?: string;
  id?: string;
  from?: string;
  time?: number;
  timeNano?: number;
  scope?: string;
}

/**
 * One event in docker's plain format. timeNano is taken from the raw text when given, as
 * nanoseconds since 1970 do not fit a double exactly.
 */
export function formatEvent(ev: EventMessage, rawTimeNano?: string): string {
  let out = '';
  if (rawTimeNano && rawTimeNano !== '0') out += `${rfc3339NanoFixed(BigInt(rawTimeNano))} `;
  else if (ev.timeNano) out += `${rfc3339NanoFixed(BigInt(Math.round(ev.timeNano)))} `;
  else if (ev.time) out += `${rfc3339NanoFixed(BigInt(ev.time) * 1_000_000_000n)} `;
  out += `${ev.Type ?? ''} ${ev.Action ?? ev.status ?? ''} ${ev.Actor?.ID ?? ev.id ?? ''}`;
  const attrs = ev.Actor?.Attributes ?? {};
  const keys = Object.keys(attrs).sort();
  if (keys.length) out += ` (${keys.map((k) => `${k}=${attrs[k]}`).join(', ')})`;
  return out;
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const format = p.str('format');
  let render: ((ev: EventMessage) => string) | undefined;
  if (format && format !== 'json') {
    const [{ Template }, { EVENT_MESSAGE, typed }] = await Promise.all([import('../template.js'), import('../gotypes.js')]);
    // docker's makeTemplate: parsed, and run once on an empty &events.Message, before any event
    let tmpl: InstanceType<typeof Template>;
    try {
      // as written: docker's events take no "table" and no \\t
      tmpl = new Template(format);
      tmpl.execute(typed({}, EVENT_MESSAGE));
    } catch (err) {
      throw new StatusError(64, `Error parsing format: ${(err as Error).message.replace(/ in type events\.Message$/, ' in type *events.Message')}`);
    }
    // then on each event's events.Message
    render = (ev) => tmpl.execute(typed(ev, EVENT_MESSAGE));
  }
  const since = p.str('since');
  const until = p.str('until');
  const res = await cli.client.request({
    method: 'GET',
    path: '/events',
    query: {
      since: since ? toApiTimestamp(since) : undefined,
      until: until ? toApiTimestamp(until) : undefined,
      filters: filtersJson(p.list('filter')),
    },
  });
  for await (const line of lines(res)) {
    const text = line.trim();
    if (!text) continue;
    const ev = JSON.parse(text) as EventMessage;
    // The daemon's own text keeps timeNano exact (a double cannot hold it): templates get it as a bigint
    const rawNano = /"timeNano"\s*:\s*(\d+)/.exec(text)?.[1];
    if (format === 'json' || /^\{\{\s*json\s+\.\s*\}\}$/.test(format ?? '')) cli.print(text);
    else if (render) cli.print(render(rawNano ? { ...ev, timeNano: BigInt(rawNano) as unknown as number } : ev));
    else cli.print(formatEvent(ev, rawNano));
  }
  return 0;
}
