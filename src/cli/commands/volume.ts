// `tsula volume ls|create|inspect|rm|prune`, as docker's volume commands (local driver).
import type { CommandSpec, Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { orNotFound, seg } from '../client.js';
import { forEach, promptForConfirmation as confirm, type Cli } from '../context.js';
import { writeFormatted } from '../format.js';
import { humanSize } from '../units.js';
import { kv, printInspect } from './objects.js';
import { filtersJson } from './ps.js';
import { compareStrings } from '../../common/compare.js';

export const lsSpec: CommandSpec = {
  name: 'volume ls', usage: '[OPTIONS]', desc: 'List volumes', maxArgs: 0, aliases: ['volume list'],
  flags: [
    { long: 'filter', short: 'f', kind: 'list', desc: "Provide filter values (e.g. 'dangling=true')", meta: 'filter' },
    { long: 'format', kind: 'string', desc: 'Pretty-print volumes using a Go template' },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display volume names' },
  ],
};
export const createSpec: CommandSpec = {
  name: 'volume create', usage: '[OPTIONS] [VOLUME]', desc: 'Create a volume', maxArgs: 1,
  flags: [
    { long: 'driver', short: 'd', kind: 'string', desc: 'Specify volume driver name', meta: 'string', dflt: 'local' },
    { long: 'label', kind: 'list', desc: 'Set metadata for a volume', meta: 'list' },
    { long: 'name', kind: 'string', desc: 'Specify volume name', meta: 'string' },
    { long: 'opt', short: 'o', kind: 'list', desc: 'Set driver specific options', meta: 'map' },
  ],
};
export const inspectSpec: CommandSpec = {
  name: 'volume inspect', usage: '[OPTIONS] VOLUME [VOLUME...]', desc: 'Display detailed information on one or more volumes', minArgs: 1,
  flags: [{ long: 'format', short: 'f', kind: 'string', desc: 'Format the output using the given Go template' }],
};
export const rmSpec: CommandSpec = {
  name: 'volume rm', usage: '[OPTIONS] VOLUME [VOLUME...]', desc: 'Remove one or more volumes', minArgs: 1, aliases: ['volume remove'],
  flags: [{ long: 'force', short: 'f', kind: 'bool', desc: 'Force the removal of one or more volumes' }],
};
export const pruneSpec: CommandSpec = {
  name: 'volume prune', usage: '[OPTIONS]', desc: 'Remove all unused local volumes', maxArgs: 0,
  flags: [
    { long: 'filter', kind: 'list', desc: "Provide filter values (e.g. 'label=<label>')", meta: 'filter' },
    { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' },
  ],
};

interface VolumeJson { Name: string; Driver: string; Mountpoint: string; Scope: string; Labels?: Record<string, string> | null }

export async function ls(cli: Cli, p: Parsed): Promise<number> {
  const r = await cli.client.json<{ Volumes?: VolumeJson[] | null }>('GET', '/volumes', { filters: filtersJson(p.list('filter')) });
  const list = (r?.Volumes ?? []).sort((a, b) => compareStrings(a.Name, b.Name));
  if (p.bool('quiet')) {
    for (const v of list) cli.print(v.Name);
    return 0;
  }
  const rows = list.map((v) => ({
    Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint,
    Labels: Object.entries(v.Labels ?? {}).map(([k, x]) => `${k}=${x}`).join(','),
    Label: (name: unknown) => v.Labels?.[String(name)] ?? '',
    // docker's volumeContext: a listing has no usage data
    Links: 'N/A', Size: 'N/A',
  }));
  await writeFormatted(cli.out, p.str('format') ?? 'table {{.Driver}}\t{{.Name}}', rows,
    { Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Label: 'LABEL', Links: 'LINKS', Size: 'SIZE' },
    '*formatter.volumeContext');
  return 0;
}

export async function create(cli: Cli, p: Parsed): Promise<number> {
  const name = p.str('name');
  if (name && p.args[0] && name !== p.args[0]) {
    throw new UsageError(`conflicting options: either specify --name or provide positional arg, not both`, 'volume create');
  }
  const v = await cli.client.json<VolumeJson>('POST', '/volumes/create', undefined, {
    Driver: p.str('driver') ?? 'local', DriverOpts: kv(p.list('opt'), 'opt'), Labels: kv(p.list('label'), 'label'), Name: name ?? p.args[0] ?? '',
  });
  cli.print(v.Name);
  return 0;
}

export async function inspect(cli: Cli, p: Parsed): Promise<number> {
  return printInspect(cli, p, (name) => cli.client.json('GET', `/volumes/${seg(name)}`), 'volume');
}

export async function rm(cli: Cli, p: Parsed): Promise<number> {
  return forEach(cli, p.args, async (name) => {
    await orNotFound('volume', name, cli.client.call('DELETE', `/volumes/${seg(name)}`, { force: p.bool('force') || undefined }));
    cli.print(name);
  });
}

export async function prune(cli: Cli, p: Parsed): Promise<number> {
  if (!p.bool('force') && !(await confirm(cli, 'WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?'))) return 0;
  const r = await cli.client.json<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>('POST', '/volumes/prune', { filters: filtersJson(p.list('filter')) });
  const names = r?.VolumesDeleted ?? [];
  if (names.length) cli.print(`Deleted Volumes:\n${names.join('\n')}\n`);
  cli.print(`Total reclaimed space: ${humanSize(r?.SpaceReclaimed ?? 0)}`);
  return 0;
}
