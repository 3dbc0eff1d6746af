// Container lifecycle commands that act on one or more containers by name or id:
// start, stop, kill, rm, restart, pause, unpause, wait, rename. Each prints the name it was
// given on success and reports failures per container, exit 1 if any failed (docker's way).
import type { CommandSpec, Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { parseDetachKeys } from '../../common/detachkeys.js';
import { readBody, seg } from '../client.js';
import { errorText, forEach, StatusError, type Cli } from '../context.js';
import { followUntilExit, waitFor } from './run.js';

const multi = (name: string, desc: string, flags: CommandSpec['flags'] = []): CommandSpec => ({
  name, usage: '[OPTIONS] CONTAINER [CONTAINER...]', desc, minArgs: 1, flags,
});

export const startSpec = multi('start', 'Start one or more stopped containers', [
  { long: 'attach', short: 'a', kind: 'bool', desc: 'Attach STDOUT/STDERR and forward signals' },
  { long: 'detach-keys', kind: 'string', desc: 'Override the key sequence for detaching a container' },
  { long: 'interactive', short: 'i', kind: 'bool', desc: "Attach container's STDIN" },
]);
export const stopSpec = multi('stop', 'Stop one or more running containers', [
  { long: 'signal', short: 's', kind: 'string', desc: 'Signal to send to the container' },
  // docker 25+'s name; --time stays, hidden, as in docker's CLI
  { long: 'timeout', short: 't', kind: 'int', desc: 'Seconds to wait before killing the container', meta: 'int' },
  { long: 'time', kind: 'int', desc: 'Seconds to wait before killing the container', hidden: true },
]);
export const restartSpec = multi('restart', 'Restart one or more containers', [
  { long: 'signal', short: 's', kind: 'string', desc: 'Signal to send to the container' },
  // docker 25+'s name; --time stays, hidden, as in docker's CLI
  { long: 'timeout', short: 't', kind: 'int', desc: 'Seconds to wait before killing the container', meta: 'int' },
  { long: 'time', kind: 'int', desc: 'Seconds to wait before killing the container', hidden: true },
]);
export const killSpec = multi('kill', 'Kill one or more running containers', [
  { long: 'signal', short: 's', kind: 'string', desc: 'Signal to send to the container' },
]);
export const rmSpec = multi('rm', 'Remove one or more containers', [
  { long: 'force', short: 'f', kind: 'bool', desc: 'Force the removal of a running container (uses SIGKILL)' },
  { long: 'link', short: 'l', kind: 'bool', desc: 'Remove the specified link' },
  { long: 'volumes', short: 'v', kind: 'bool', desc: 'Remove anonymous volumes associated with the container' },
]);
export const pauseSpec = multi('pause', 'Pause all processes within one or more containers');
export const unpauseSpec = multi('unpause', 'Unpause all processes within one or more containers');
export const waitSpec = multi('wait', 'Block until one or more containers stop, then print their exit codes');
export const renameSpec: CommandSpec = {
  name: 'rename', usage: 'CONTAINER NEW_NAME', desc: 'Rename a container', minArgs: 2, maxArgs: 2, flags: [],
};

const path = (id: string, action = '') => `/containers/${seg(id)}${action ? `/${action}` : ''}`;

function simple(action: string, query: (p: Parsed) => Record<string, string | number | undefined> = () => ({})) {
  return (cli: Cli, p: Parsed) => forEach(cli, p.args, async (name) => {
    await cli.client.call('POST', path(name, action), query(p));
    cli.print(name);
  });
}

export const stop = simple('stop', (p) => ({ t: p.num('timeout') ?? p.num('time'), signal: p.str('signal') }));
export const restart = simple('restart', (p) => ({ t: p.num('timeout') ?? p.num('time'), signal: p.str('signal') }));
export const kill = simple('kill', (p) => ({ signal: p.str('signal') }));
export const pause = simple('pause');
export const unpause = simple('unpause');

export function rm(cli: Cli, p: Parsed): Promise<number> {
  const query = { force: p.bool('force') || undefined, v: p.bool('volumes') || undefined, link: p.bool('link') || undefined };
  return forEach(cli, p.args, async (name) => {
    await cli.client.call('DELETE', path(name), query);
    cli.print(name);
  }, { kind: 'container', force: p.bool('force') });
}

export function wait(cli: Cli, p: Parsed): Promise<number> {
  return forEach(cli, p.args, async (name) => {
    const res = await cli.client.request({ method: 'POST', path: path(name, 'wait') });
    const body = JSON.parse((await readBody(res)).toString('utf8') || '{}') as { StatusCode?: number; Error?: { Message?: string } | null };
    if (body.Error?.Message) throw new Error(body.Error.Message);
    cli.print(String(body.StatusCode ?? ''));
  });
}

export async function rename(cli: Cli, p: Parsed): Promise<number> {
  const [oldName, newName] = p.args as [string, string];
  if (!newName.trim()) throw new UsageError('Error: Neither old nor new names may be empty', 'rename', 1);
  try {
    await cli.client.call('POST', path(oldName, 'rename'), { name: newName.trim() });
  } catch (err) {
    // docker prints the daemon's error, then its own
    cli.warn(errorText(err));
    throw new StatusError(1, `Error: failed to rename container named ${oldName}`);
  }
  return 0;
}

interface Inspect {
  Id: string;
  Config: { Tty?: boolean; OpenStdin?: boolean };
  HostConfig?: { AutoRemove?: boolean };
}

export async function start(cli: Cli, p: Parsed): Promise<number> {
  if (!p.bool('attach') && !p.bool('interactive')) {
    const failed: string[] = [];
    for (const name of p.args) {
      try {
        // a running one is answered 304, which docker's client takes as done: the name
        await cli.client.call('POST', path(name, 'start'));
        cli.print(name);
      } catch (err) {
        cli.warn(errorText(err));
        failed.push(name);
      }
    }
    if (failed.length) {
      cli.warn(`Error: failed to start containers: ${failed.join(', ')}`);
      return 1;
    }
    return 0;
  }
  if (p.args.length > 1) {
    cli.warn('you cannot start and attach multiple containers at once');
    return 1;
  }
  const name = p.args[0]!;
  const c = await cli.client.json<Inspect>('GET', path(name, 'json'));
  const tty = !!c.Config.Tty;
  const stdin = p.bool('interactive') && !!c.Config.OpenStdin;
  // no CheckTty here: docker's start (unlike run, exec and attach) takes piped input for a TTY container
  const dk = p.str('detach-keys');
  const conn = await cli.client.hijack('POST', path(c.Id, 'attach'), {
    stream: 1, stdin: stdin ? 1 : undefined, stdout: 1, stderr: 1, detachKeys: dk || undefined,
  });
  const waiter = await waitFor(cli, c.Id, c.HostConfig?.AutoRemove ? 'removed' : 'next-exit');
  try {
    await cli.client.call('POST', path(c.Id, 'start'));
  } catch (err) {
    conn.destroy();
    waiter.cancel();
    throw err;
  }
  // docker's start -a forwards signals too (without a TTY; with one the terminal sends them)
  return followUntilExit(cli, c.Id, conn, waiter, { tty, stdin, detachKeys: dk ? parseDetachKeys(dk) : undefined, sigProxy: true });
}
