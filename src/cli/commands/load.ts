// `tsula load`: POST /images/load with a tar (from -i FILE or stdin) as the body; the
// answer is a JSON-lines stream of progress and "Loaded image: …" lines.
import type { Readable } from 'node:stream';
import type { CommandSpec, Parsed } from '../args.js';
import { copyTo } from '../stdcopy.js';
import type { Cli } from '../context.js';
import { displayJsonMessages } from '../jsonmessage.js';
import { fileBody } from '../transfer.js';

export const spec: CommandSpec = {
  name: 'load',
  usage: '[OPTIONS]',
  desc: 'Load an image from a tar archive or STDIN',
  maxArgs: 0,
  flags: [
    { long: 'input', short: 'i', kind: 'string', desc: 'Read from tar archive file, instead of STDIN' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Suppress the load output' },
  ],
};

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const input = p.str('input');
  let body: Readable;
  let headers: Record<string, string> = {};
  if (input) {
    ({ body, headers } = fileBody(input));
  } else {
    // Nothing piped in: reading the terminal would just hang.
    if (cli.in.isTTY) {
      cli.warn('requested load from stdin, but stdin is empty');
      return 1;
    }
    body = cli.in;
  }
  // Like docker: progress only helps a person at a terminal; elsewhere ask for quiet.
  const bars = !p.bool('quiet') && !!cli.out.isTTY;
  const res = await cli.client.request({
    method: 'POST',
    path: '/images/load',
    query: { quiet: bars ? 0 : 1 },
    body,
    contentType: 'application/x-tar',
    headers,
  });
  if (!String(res.headers['content-type'] ?? '').includes('json')) {
    await copyTo(res, cli.out);
    return 0;
  }
  await displayJsonMessages(res, { out: cli.out, tty: bars });
  return 0;
}
