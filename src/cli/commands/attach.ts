// `tsula attach` (stdin/stdout/stderr of a running container) and `tsula top`.
import type { CommandSpec, Parsed } from '../args.js';
import { parseDetachKeys } from '../../common/detachkeys.js';
import { orNotFound, seg } from '../client.js';
import type { Cli } from '../context.js';
import { tabwrite } from '../format.js';
import { followUntilExit, waitFor } from './run.js';

export const attachSpec: CommandSpec = {
  name: 'attach',
  usage: '[OPTIONS] CONTAINER',
  desc: "Attach local standard input, output, and error streams to a running container",
  minArgs: 1,
  maxArgs: 1,
  flags: [
    { long: 'detach-keys', kind: 'string', desc: 'Override the key sequence for detaching a container' },
    { long: 'no-stdin', kind: 'bool', desc: 'Do not attach STDIN' },
    { long: 'sig-proxy', kind: 'bool', desc: 'Proxy all received signals to the process', dflt: true },
  ],
};

export const topSpec: CommandSpec = {
  name: 'top',
  usage: 'CONTAINER [ps OPTIONS]',
  desc: 'Display the running processes of a container',
  minArgs: 1,
  interspersed: false,
  flags: [],
};

interface Inspect {
  Id: string;
  State?: { Running?: boolean; Paused?: boolean; Restarting?: boolean };
  Config?: { Tty?: boolean; OpenStdin?: boolean };
}

export async function attach(cli: Cli, p: Parsed): Promise<number> {
  const name = p.args[0]!;
  const c = await orNotFound('container', name, cli.client.json<Inspect>('GET', `/containers/${seg(name)}/json`));
  if (!c.State?.Running) {
    cli.warn('You cannot attach to a stopped container, start it first');
    return 1;
  }
  if (c.State.Paused) {
    cli.warn('You cannot attach to a paused container, unpause it first');
    return 1;
  }
  const tty = !!c.Config?.Tty;
  const stdin = !p.bool('no-stdin') && !!c.Config?.OpenStdin;
  if (stdin && tty && !cli.in.isTTY) {
    cli.warn('the input device is not a TTY');
    return 1;
  }
  const dk = p.str('detach-keys');
  const detachKeys = dk ? parseDetachKeys(dk) : undefined;
  // docker attach registers its wait first: the status then comes from the wait, even when
  // the container exits (and an --rm one is removed) before the stream is read
  const waiter = await waitFor(cli, c.Id, 'not-running');
  let conn;
  try {
    conn = await cli.client.hijack('POST', `/containers/${seg(c.Id)}/attach`, {
      stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: dk || undefined,
    });
  } catch (err) {
    waiter.cancel();
    throw err;
  }
  const sigProxy = p.has('sig-proxy') ? p.bool('sig-proxy') : true;
  return followUntilExit(cli, c.Id, conn, waiter, { tty, stdin, detachKeys, sigProxy, detachIsError: true });
}

export async function top(cli: Cli, p: Parsed): Promise<number> {
  const [name, ...psArgs] = p.args as [string, ...string[]];
  const res = await cli.client.json<{ Titles?: string[]; Processes?: string[][] }>(
    'GET', `/containers/${seg(name)}/top`, { ps_args: psArgs.length ? psArgs.join(' ') : undefined });
  let text = `${(res.Titles ?? []).join('\t')}\n`;
  for (const proc of res.Processes ?? []) text += `${proc.join('\t')}\n`;
  // docker top's tabwriter: minimum width 20, padding 3.
  cli.out.write(tabwrite(text, 20, 3));
  return 0;
}
