// `tsula attach` (stdin/stdout/stderr of a running container) and `tsula top`.
import type { CommandSpec, Parsed } from '../args.js';
import { monitorSize, parseDetachKeys, pump } from '../attachio.js';
import { readBody, seg } from '../client.js';
import type { Cli } from '../context.js';
import { tabwrite } from '../format.js';
import { proxySignals } from './run.js';

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
  const c = await cli.client.json<Inspect>('GET', `/containers/${seg(name)}/json`);
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
  const conn = await cli.client.hijack('POST', `/containers/${seg(c.Id)}/attach`, {
    stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: dk || undefined,
  });
  const stopResize = tty
    ? monitorSize(cli, (h, w) => cli.client.call('POST', `/containers/${seg(c.Id)}/resize`, { h, w }))
    : () => {};
  const sigProxy = p.has('sig-proxy') ? p.bool('sig-proxy') : true;
  const stopSignals = sigProxy && !tty ? proxySignals(cli, c.Id) : () => {};
  try {
    const { detached } = await pump(cli, conn, { tty, stdin, detachKeys: dk ? parseDetachKeys(dk) : undefined });
    if (detached) return 0;
  } finally {
    stopResize();
    stopSignals();
  }
  // The stream ended: report the container's exit status, as docker attach does.
  try {
    const res = await cli.client.request({ method: 'POST', path: `/containers/${seg(c.Id)}/wait` });
    const body = JSON.parse((await readBody(res)).toString('utf8') || '{}') as { StatusCode?: number };
    return body.StatusCode ?? 0;
  } catch {
    return 0;
  }
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
