// `tsula history IMAGE` (also `tsula image history`): GET /images/{name}/history, printed
// through docker's history formatter (IMAGE, CREATED, CREATED BY, SIZE, COMMENT).
import type { CommandSpec, Parsed } from '../args.js';
import { imageSeg } from '../client.js';
import type { Cli } from '../context.js';
import { ellipsis, truncateId, writeFormatted } from '../format.js';
import { humanSizeWithPrecision, rfc3339, timeAgo } from '../units.js';

export const spec: CommandSpec = {
  name: 'history', usage: '[OPTIONS] IMAGE', desc: 'Show the history of an image', minArgs: 1, maxArgs: 1,
  flags: [
    { long: 'format', kind: 'string', desc: 'Pretty-print images using a Go template' },
    { long: 'human', short: 'H', kind: 'bool', desc: 'Print sizes and dates in human readable format', dflt: true },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only show image IDs' },
  ],
};

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags?: string[] | null;
  Size: number;
  Comment: string;
}

const DEFAULT_FORMAT = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
const HEADERS = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };

/** docker's historyContext: what a --format template sees of one layer. */
export function historyRow(h: HistoryItem, o: { trunc: boolean; human: boolean; now?: number }): Record<string, string> {
  const createdBy = h.CreatedBy.replace(/\t/g, ' ');
  const createdAt = rfc3339(h.Created);
  return {
    ID: h.Id === '<missing>' || !o.trunc ? h.Id : truncateId(h.Id),
    CreatedSince: o.human ? timeAgo(h.Created, o.now) : createdAt,
    CreatedAt: createdAt,
    CreatedBy: o.trunc ? ellipsis(createdBy, 45) : createdBy,
    Size: o.human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size),
    Comment: h.Comment,
  };
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const items = await cli.client.json<HistoryItem[]>('GET', `/images/${imageSeg(p.args[0]!)}/history`);
  const trunc = !p.bool('no-trunc');
  // -H is on unless turned off (-H=false)
  const human = p.has('human') ? p.bool('human') : true;
  let format = p.str('format');
  if (p.bool('quiet')) format = '{{.ID}}';
  else if (!format || format === 'table') format = DEFAULT_FORMAT;
  const rows = (items ?? []).map((h) => historyRow(h, { trunc, human }));
  // docker's history table calls the CREATED column CREATED AT when dates are not humanized
  await writeFormatted(cli.out, format, rows, human ? HEADERS : { ...HEADERS, CreatedSince: 'CREATED AT' }, '*image.historyContext');
  return 0;
}
