// A container's files and ports from the CLI, as the docker CLI does them: `tsula commit`
// (POST /commit), `tsula diff` (GET /containers/{id}/changes), `tsula export` (GET
// /containers/{id}/export), `tsula import` (POST /images/create?fromSrc=) and `tsula port`
// (the container's NetworkSettings.Ports).
import type { Readable } from 'node:stream';
import { StatusError, type Cli } from '../context.js';
import type { CommandSpec, Parsed } from '../args.js';
import { orNotFound, seg } from '../client.js';
import { displayJsonMessages } from '../jsonmessage.js';
import { parseRef } from '../reference.js';
import { fileBody, refuseTerminal, validateOutputPath, writeOutput } from '../transfer.js';

const CHANGE = { long: 'change', short: 'c', kind: 'list', desc: 'Apply Dockerfile instruction to the created image', meta: 'list' } as const;

export const commitSpec: CommandSpec = {
  name: 'commit', usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]', desc: "Create a new image from a container's changes", minArgs: 1, maxArgs: 2,
  flags: [
    { long: 'author', short: 'a', kind: 'string', desc: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    CHANGE,
    { long: 'message', short: 'm', kind: 'string', desc: 'Commit message' },
    { long: 'pause', short: 'p', kind: 'bool', desc: 'Pause container during commit', dflt: true },
  ],
};

/** docker's repository and tag of a name to create: a digest is refused, no tag is latest. */
function repoTag(ref: string | undefined): { repo?: string; tag?: string } {
  if (!ref) return {};
  const r = parseRef(ref);
  if (r.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
  return { repo: r.name, tag: r.tag ?? 'latest' };
}

export async function commit(cli: Cli, p: Parsed): Promise<number> {
  const [container, ref] = p.args as [string, string | undefined];
  const res = await cli.client.json<{ Id: string }>('POST', '/commit', {
    container, ...repoTag(ref), comment: p.str('message'), author: p.str('author'),
    pause: p.has('pause') ? p.bool('pause') : true, changes: p.list('change'),
  }, null);
  cli.print(res.Id);
  return 0;
}

export const diffSpec: CommandSpec = {
  name: 'diff', usage: 'CONTAINER', desc: "Inspect changes to files or directories on a container's filesystem", minArgs: 1, maxArgs: 1, flags: [],
};

export async function diff(cli: Cli, p: Parsed): Promise<number> {
  const changes = await cli.client.json<Array<{ Kind: number; Path: string }> | null>('GET', `/containers/${seg(p.args[0]!)}/changes`);
  for (const c of changes ?? []) cli.print(`${['C', 'A', 'D'][c.Kind] ?? '?'} ${c.Path}`);
  return 0;
}

export const exportSpec: CommandSpec = {
  name: 'export', usage: '[OPTIONS] CONTAINER', desc: "Export a container's filesystem as a tar archive", minArgs: 1, maxArgs: 1,
  flags: [{ long: 'output', short: 'o', kind: 'string', desc: 'Write to a file, instead of STDOUT' }],
};

export async function exportFs(cli: Cli, p: Parsed): Promise<number> {
  const output = p.str('output');
  refuseTerminal(cli, output);
  validateOutputPath(output, 'failed to export container');
  const res = await cli.client.request({ method: 'GET', path: `/containers/${seg(p.args[0]!)}/export` });
  await writeOutput(cli, res, output, 'failed to export container');
  return 0;
}

export const importSpec: CommandSpec = {
  name: 'import', usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]', desc: 'Import the contents from a tarball to create a filesystem image', minArgs: 1, maxArgs: 2,
  flags: [
    CHANGE,
    { long: 'message', short: 'm', kind: 'string', desc: 'Set commit message for imported image' },
    { long: 'platform', kind: 'string', desc: 'Set platform if server is multi-platform capable' },
  ],
};

export async function importFs(cli: Cli, p: Parsed): Promise<number> {
  const [source, ref] = p.args as [string, string | undefined];
  let body: Readable | undefined;
  let fromSrc = '-';
  let headers: Record<string, string> = {};
  if (source === '-') {
    body = cli.in;
  } else if (/^https?:\/\//.test(source)) {
    fromSrc = source; // the daemon downloads it
  } else {
    ({ body, headers } = fileBody(source));
  }
  // as the docker CLI sends it: the name whole in repo= (the daemon splits off the tag)
  const res = await cli.client.request({
    method: 'POST', path: '/images/create', body, headers, contentType: 'application/x-tar',
    query: { fromSrc, repo: ref, message: p.str('message'), platform: p.str('platform')?.toLowerCase(), changes: p.list('change') },
  });
  await displayJsonMessages(res, { out: cli.out, tty: !!cli.out.isTTY });
  return 0;
}

export const portSpec: CommandSpec = {
  name: 'port', usage: 'CONTAINER [PRIVATE_PORT[/PROTO]]', desc: 'List port mappings or a specific mapping for the container', minArgs: 1, maxArgs: 2, flags: [],
};

type PortMap = Record<string, Array<{ HostIp: string; HostPort: string }> | null>;

export async function port(cli: Cli, p: Parsed): Promise<number> {
  const [name, want] = p.args as [string, string | undefined];
  const c = await orNotFound('container', name, cli.client.json<{ NetworkSettings?: { Ports?: PortMap | null } }>('GET', `/containers/${seg(name)}/json`));
  const ports = c.NetworkSettings?.Ports ?? {};
  const show = (b: { HostIp: string; HostPort: string }) => `${b.HostIp.includes(':') ? `[${b.HostIp}]` : b.HostIp}:${b.HostPort}`;
  if (want) {
    const [num, proto = 'tcp'] = want.split('/');
    if (!/^\d+$/.test(num!)) throw new StatusError(1, `Error: invalid port (${want}): must be a number`);
    const bindings = ports[`${num}/${proto}`];
    if (!bindings?.length) throw new StatusError(1, `Error: No public port '${num}/${proto}' published for ${name}`);
    for (const b of bindings) cli.print(show(b));
    return 0;
  }
  // docker sorts the mappings by port, then protocol
  const keys = Object.keys(ports).sort((a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b));
  for (const k of keys) for (const b of ports[k] ?? []) cli.print(`${k} -> ${show(b)}`);
  return 0;
}
