// `tsula logs`: GET /containers/{id}/logs. A container with a TTY logs raw bytes; without
// one the stream is multiplexed, so inspect first (as docker does) to know which.
import type { CommandSpec, Parsed } from '../args.js';
import { orNotFound, seg } from '../client.js';
import type { Cli } from '../context.js';
import { copyTo, demuxTo } from '../stdcopy.js';
import { toApiTimestamp } from '../units.js';

export const spec: CommandSpec = {
  name: 'logs',
  usage: '[OPTIONS] CONTAINER',
  desc: 'Fetch the logs of a container',
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { long: 'details', kind: 'bool', desc: 'Show extra details provided to logs' },
    { long: 'follow', short: 'f', kind: 'bool', desc: 'Follow log output' },
    { long: 'since', kind: 'string', desc: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
    { long: 'tail', short: 'n', kind: 'string', desc: 'Number of lines to show from the end of the logs', dflt: 'all' },
    { long: 'timestamps', short: 't', kind: 'bool', desc: 'Show timestamps' },
    { long: 'until', kind: 'string', desc: 'Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
  ],
};

/** docker's client names the option whose value is no time ("invalid value for \"since\": …"). */
function timestamp(option: string, value: string): string {
  try {
    return toApiTimestamp(value);
  } catch (err) {
    throw new Error(`invalid value for "${option}": ${(err as Error).message}`);
  }
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const name = p.args[0]!;
  const c = await orNotFound('container', name, cli.client.json<{ Id: string; Config?: { Tty?: boolean } }>('GET', `/containers/${seg(name)}/json`));
  const since = p.str('since');
  const until = p.str('until');
  const res = await cli.client.request({
    method: 'GET',
    path: `/containers/${seg(name)}/logs`,
    query: {
      stdout: 1,
      stderr: 1,
      follow: p.bool('follow') || undefined,
      tail: p.str('tail') ?? 'all',
      timestamps: p.bool('timestamps') || undefined,
      details: p.bool('details') || undefined,
      since: since ? timestamp('since', since) : undefined,
      until: until ? timestamp('until', until) : undefined,
    },
  });
  if (c.Config?.Tty) await copyTo(res, cli.out);
  else await demuxTo(res, cli.out, cli.err);
  return 0;
}
