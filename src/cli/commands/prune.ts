// The prunes: `image prune` (POST /images/prune), `container prune` (POST /containers/prune)
// and `system prune`, which runs them all (and networks', volumes' when the daemon has them)
// after one confirmation, printed as docker prints them.
import type { CommandSpec, FlagSpec, Parsed } from '../args.js';
import { ApiError } from '../client.js';
import { promptForConfirmation, type Cli } from '../context.js';
import { humanSize } from '../units.js';
import { filtersJson } from './ps.js';

const FORCE: FlagSpec = { long: 'force', short: 'f', kind: 'bool', desc: 'Do not prompt for confirmation' };
const FILTER: FlagSpec = { long: 'filter', kind: 'list', desc: 'Provide filter values (e.g. \'until=<timestamp>\')', meta: 'filter' };

export const imagePruneSpec: CommandSpec = {
  name: 'image prune', usage: '[OPTIONS]', desc: 'Remove unused images', maxArgs: 0,
  flags: [{ long: 'all', short: 'a', kind: 'bool', desc: 'Remove all unused images, not just dangling ones' }, FILTER, FORCE],
};

export const containerPruneSpec: CommandSpec = {
  name: 'container prune', usage: '[OPTIONS]', desc: 'Remove all stopped containers', maxArgs: 0, flags: [FILTER, FORCE],
};

export const systemPruneSpec: CommandSpec = {
  name: 'system prune', usage: '[OPTIONS]', desc: 'Remove unused data', maxArgs: 0,
  flags: [
    { long: 'all', short: 'a', kind: 'bool', desc: 'Remove all unused images not just dangling ones' },
    FILTER, FORCE,
    { long: 'volumes', kind: 'bool', desc: 'Prune volumes' },
  ],
};

/** What one prune removed: docker's "Deleted X:" block (or '') and the bytes it freed. */
interface Pruned { output: string; space: number }

async function pruneContainers(cli: Cli, filters: string[]): Promise<Pruned> {
  const r = await cli.client.json<{ ContainersDeleted?: string[] | null; SpaceReclaimed?: number }>(
    'POST', '/containers/prune', { filters: filtersJson(filters) });
  const ids = r?.ContainersDeleted ?? [];
  return ids.length ? { output: `Deleted Containers:\n${ids.map((id) => `${id}\n`).join('')}`, space: r?.SpaceReclaimed ?? 0 } : { output: '', space: 0 };
}

async function pruneNetworks(cli: Cli, filters: string[]): Promise<Pruned> {
  const r = await cli.client.json<{ NetworksDeleted?: string[] | null }>('POST', '/networks/prune', { filters: filtersJson(filters) });
  const names = r?.NetworksDeleted ?? [];
  return { output: names.length ? `Deleted Networks:\n${names.map((n) => `${n}\n`).join('')}` : '', space: 0 };
}

async function pruneVolumes(cli: Cli, filters: string[]): Promise<Pruned> {
  const r = await cli.client.json<{ VolumesDeleted?: string[] | null; SpaceReclaimed?: number }>(
    'POST', '/volumes/prune', { filters: filtersJson(filters) });
  const names = r?.VolumesDeleted ?? [];
  return names.length ? { output: `Deleted Volumes:\n${names.map((n) => `${n}\n`).join('')}`, space: r?.SpaceReclaimed ?? 0 } : { output: '', space: 0 };
}

async function pruneImages(cli: Cli, filters: string[], all: boolean): Promise<Pruned> {
  // docker always says which: dangling=true, or dangling=false for -a
  const r = await cli.client.json<{ ImagesDeleted?: Array<{ Untagged?: string; Deleted?: string }> | null; SpaceReclaimed?: number }>(
    'POST', '/images/prune', { filters: filtersJson([...filters, `dangling=${!all}`]) });
  const deleted = r?.ImagesDeleted ?? [];
  if (!deleted.length) return { output: '', space: 0 };
  const lines = deleted.map((d) => (d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`));
  return { output: `Deleted Images:\n${lines.join('')}`, space: r?.SpaceReclaimed ?? 0 };
}

/** Print the prunes' blocks and the total, as docker: each block then a blank line. */
function report(cli: Cli, results: Pruned[]): number {
  for (const r of results) if (r.output) cli.print(r.output);
  cli.print(`Total reclaimed space: ${humanSize(results.reduce((n, r) => n + r.space, 0))}`);
  return 0;
}

export async function imagePrune(cli: Cli, p: Parsed): Promise<number> {
  const all = p.bool('all');
  const warning = all
    ? 'WARNING! This will remove all images without at least one container associated to them.'
    : 'WARNING! This will remove all dangling images.';
  if (!p.bool('force') && !(await promptForConfirmation(cli, `${warning}\nAre you sure you want to continue?`))) return report(cli, []);
  return report(cli, [await pruneImages(cli, p.list('filter'), all)]);
}

export async function containerPrune(cli: Cli, p: Parsed): Promise<number> {
  if (!p.bool('force') && !(await promptForConfirmation(cli, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?'))) {
    return report(cli, []);
  }
  return report(cli, [await pruneContainers(cli, p.list('filter'))]);
}

/** Does the daemon have networks at all (tsula's may not): GET /networks answers. */
async function hasNetworks(cli: Cli): Promise<boolean> {
  try {
    await cli.client.json('GET', '/networks');
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return false;
    throw e;
  }
}

export async function systemPrune(cli: Cli, p: Parsed): Promise<number> {
  const filters = p.list('filter');
  const all = p.bool('all');
  const volumes = p.bool('volumes');
  if (volumes && filters.some((f) => f.trim().toLowerCase().startsWith('until='))) {
    cli.warn('ERROR: The "until" filter is not supported with "--volumes"');
    return 1;
  }
  const networks = await hasNetworks(cli);
  const warnings = [
    'all stopped containers',
    ...(networks ? ['all networks not used by at least one container'] : []),
    ...(volumes ? ['all volumes not used by at least one container'] : []),
    all ? 'all images without at least one container associated to them' : 'all dangling images',
  ];
  const shown = filters.filter((f) => /^\s*(label!?|until)=/i.test(f)).map((f) => f.trim()).sort();
  let message = `WARNING! This will remove:\n${warnings.map((w) => `  - ${w}\n`).join('')}`;
  if (shown.length) message += `\n  Items to be pruned will be filtered with:\n${shown.map((f) => `  - ${f}\n`).join('')}`;
  if (!p.bool('force') && !(await promptForConfirmation(cli, `${message}\nAre you sure you want to continue?`))) return 0;
  const results = [await pruneContainers(cli, filters)];
  if (networks) results.push(await pruneNetworks(cli, filters));
  if (volumes) results.push(await pruneVolumes(cli, filters));
  results.push(await pruneImages(cli, filters, all));
  return report(cli, results);
}
