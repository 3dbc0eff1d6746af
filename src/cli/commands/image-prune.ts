// `tsula image prune [-a] [-f] [--filter until=…|label=…]`: POST /images/prune, printed
// as docker prints it (Deleted Images: … then Total reclaimed space).
import type { CommandSpec, Parsed } from '../args.js';
import type { Cli } from '../context.js';
import { humanSize } from '../units.js';

export const spec: CommandSpec = {
  name: 'image prune',
  usage: '[OPTIONS]',
  desc: 'Remove unused images',
  maxArgs: 0,
  flags: [
    { long: 'all', short: 'a', kind: 'bool', desc: 'Remove all unused images, not just dangling ones' },
    { long: 'filter', kind: 'list', desc: 'Provide filter values (e.g. "until=<timestamp>")', meta: 'filter' },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
};

/** Ask a y/N question on stdin (docker's prune prompt). */
export async function confirm(cli: Cli, question: string): Promise<boolean> {
  cli.out.write(`${question} [y/N] `);
  const input = cli.in;
  input.setEncoding('utf8');
  input.resume();
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: string) => { buf += d; const nl = buf.indexOf('\n'); if (nl >= 0) { done(); resolve(buf.slice(0, nl)); } };
    const onEnd = () => { done(); resolve(buf); };
    const done = () => { input.off('data', onData); input.off('end', onEnd); input.pause(); };
    input.on('data', onData);
    input.on('end', onEnd);
  });
  return /^\s*y(es)?\s*$/i.test(line);
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const all = p.bool('all');
  const filters: Record<string, string[]> = {};
  for (const f of p.list('filter')) {
    const eq = f.indexOf('=');
    const k = eq < 0 ? f : f.slice(0, eq);
    (filters[k] ??= []).push(eq < 0 ? '' : f.slice(eq + 1));
  }
  if (all) filters.dangling = ['false'];
  const warning = all
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  if (!p.bool('force') && !(await confirm(cli, `${warning}\nAre you sure you want to continue?`))) return 0;
  const r = await cli.client.json<{ ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed?: number }>(
    'POST', '/images/prune', { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined });
  const deleted = r?.ImagesDeleted ?? [];
  if (deleted.length) {
    cli.print('Deleted Images:');
    for (const d of deleted) {
      if (d.Untagged) cli.print(`untagged: ${d.Untagged}`);
      if (d.Deleted) cli.print(`deleted: ${d.Deleted}`);
    }
    cli.print('');
  }
  cli.print(`Total reclaimed space: ${humanSize(r?.SpaceReclaimed ?? 0)}`);
  return 0;
}
