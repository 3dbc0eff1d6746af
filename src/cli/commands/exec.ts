// `tsula exec`: POST /containers/{id}/exec, then POST /exec/{eid}/start hijacked (or
// detached), then GET /exec/{eid}/json for the exit code, as the docker CLI does.
import { readFileSync } from 'node:fs';
import type { CommandSpec, Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { monitorSize, pump, ttySize } from '../attachio.js';
import { parseDetachKeys } from '../../common/detachkeys.js';
import { orNotFound, seg } from '../client.js';
import { errorText, type Cli } from '../context.js';

export const spec: CommandSpec = {
  name: 'exec',
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  desc: 'Execute a command in a running container',
  interspersed: false,
  minArgs: 2,
  flags: [
    { long: 'detach', short: 'd', kind: 'bool', desc: 'Detached mode: run command in the background' },
    { long: 'detach-keys', kind: 'string', desc: 'Override the key sequence for detaching a container' },
    { long: 'env', short: 'e', kind: 'list', desc: 'Set environment variables', meta: 'list' },
    { long: 'env-file', kind: 'list', desc: 'Read in a file of environment variables', meta: 'list' },
    { long: 'interactive', short: 'i', kind: 'bool', desc: 'Keep STDIN open even if not attached' },
    { long: 'privileged', kind: 'bool', desc: 'Give extended privileges to the command' },
    { long: 'tty', short: 't', kind: 'bool', desc: 'Allocate a pseudo-TTY' },
    { long: 'user', short: 'u', kind: 'string', desc: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { long: 'workdir', short: 'w', kind: 'string', desc: 'Working directory inside the container' },
  ],
};

interface ExecInspect { Running?: boolean; ExitCode?: number | null }

function envFrom(p: Parsed): string[] {
  const out: string[] = [];
  for (const f of p.list('env-file')) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new UsageError(`open ${f}: ${(err as Error).message}`, 'exec');
    }
    for (const raw of text.split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      out.push(line.includes('=') || process.env[line] === undefined ? line : `${line}=${process.env[line]}`);
    }
  }
  for (const e of p.list('env')) {
    out.push(e.includes('=') || process.env[e] === undefined ? e : `${e}=${process.env[e]}`);
  }
  return out;
}

/**
 * The exec's exit code. The stream can end a moment before the daemon records the exit,
 * so ask again briefly while it still says Running.
 */
async function exitCode(cli: Cli, eid: string): Promise<number | undefined> {
  for (let i = 0; i < 40; i++) {
    const info = await cli.client.json<ExecInspect>('GET', `/exec/${seg(eid)}/json`);
    if (typeof info.ExitCode === 'number' && !info.Running) return info.ExitCode;
    if (!info.Running && i > 0) return info.ExitCode ?? undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const [container, ...cmd] = p.args as [string, ...string[]];
  const detach = p.bool('detach');
  const tty = p.bool('tty');
  const interactive = p.bool('interactive');
  const body = {
    User: p.str('user') ?? '',
    Privileged: p.bool('privileged'),
    Tty: tty,
    AttachStdin: interactive && !detach,
    AttachStdout: !detach,
    AttachStderr: !detach,
    Detach: detach,
    DetachKeys: p.str('detach-keys') ?? '',
    Env: envFrom(p),
    WorkingDir: p.str('workdir') ?? '',
    Cmd: cmd,
  };
  // docker's fillConsoleSize: a TTY starts at our terminal's size (API 1.42's ConsoleSize,
  // in the exec's config and again in its start)
  const size = tty ? ttySize(cli) : undefined;
  const sized = size ? { ConsoleSize: size } : {};
  const version = size ? '1.42' : undefined;
  // docker checks the terminal before the exec's create (an exec created and never started
  // would stay in the container's ExecIDs), after its inspect (a missing container says so first)
  if (!detach && tty && interactive && !cli.in.isTTY) {
    await orNotFound('container', container, cli.client.json('GET', `/containers/${seg(container)}/json`));
    cli.warn('the input device is not a TTY');
    return 1;
  }
  // docker inspects the container first: a missing one is its client's "No such container"
  const { Id: eid } = await orNotFound('container', container, cli.client.json<{ Id: string }>('POST', `/containers/${seg(container)}/exec`, undefined, { ...body, ...sized }, version));
  if (!eid) {
    cli.warn('exec ID empty');
    return 1;
  }
  if (detach) {
    await cli.client.call('POST', `/exec/${seg(eid)}/start`, undefined, { Detach: true, Tty: tty, ...sized }, version);
    return 0;
  }
  let conn;
  try {
    conn = await cli.client.hijack('POST', `/exec/${seg(eid)}/start`, undefined, { Detach: false, Tty: tty, ...sized }, version);
  } catch (err) {
    cli.warn(errorText(err));
    // The daemon records why the process did not start (126 cannot run, 127 not found).
    const code = await exitCode(cli, eid).catch(() => undefined);
    if (code) return code;
    const msg = errorText(err);
    if (/executable file not found|no such file or directory/.test(msg)) return 127;
    if (/permission denied|is a directory/.test(msg)) return 126;
    return 1;
  }
  const dk = p.str('detach-keys');
  const stopResize = tty
    ? monitorSize(cli, (h, w) => cli.client.call('POST', `/exec/${seg(eid)}/resize`, { h, w }))
    : () => {};
  try {
    const { detached } = await pump(cli, conn, { tty, stdin: interactive, detachKeys: dk ? parseDetachKeys(dk) : undefined });
    if (detached) return 0;
  } finally {
    stopResize();
  }
  return (await exitCode(cli, eid)) ?? 0;
}
