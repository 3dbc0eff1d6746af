// `tsula update`: change the resource limits of one or more containers (docker update);
// a running container's cgroups change at once, a stopped one's at its next start.
import { byFlagName, type CommandSpec, type FlagSpec, type Parsed } from '../args.js';
import { seg } from '../client.js';
import { forEach, type Cli } from '../context.js';
import { UPDATE_RESOURCE_FLAGS, resourceFields } from './resource-opts.js';

export const updateSpec: CommandSpec = {
  name: 'update', usage: '[OPTIONS] CONTAINER [CONTAINER...]', desc: 'Update configuration of one or more containers', minArgs: 1,
  flags: ([...UPDATE_RESOURCE_FLAGS, { long: 'restart', kind: 'string', desc: 'Restart policy to apply when a container exits', meta: 'string' }] satisfies FlagSpec[])
    .sort(byFlagName),
};

export async function update(cli: Cli, p: Parsed): Promise<number> {
  if (p.values.size === 0) throw new Error('you must provide one or more flags when using this command');
  const body: Record<string, unknown> = { ...resourceFields(p, 'update', true) };
  const restart = p.str('restart');
  if (restart !== undefined) {
    const [name, max] = restart.split(':');
    body.RestartPolicy = { Name: name, MaximumRetryCount: max ? Number(max) : 0 };
  }
  // docker prints the names, then the daemon's warnings, all on stdout
  const warnings: string[] = [];
  const code = await forEach(cli, p.args, async (name) => {
    const res = await cli.client.json<{ Warnings?: string[] | null }>('POST', `/containers/${seg(name)}/update`, undefined, body);
    warnings.push(...(res.Warnings ?? []));
    cli.print(name);
  });
  if (warnings.length) cli.print(warnings.join('\n'));
  return code;
}
