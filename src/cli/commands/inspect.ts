// `tsula inspect`: GET /containers/{id}/json, falling back to /images/{name}/json, printed
// as a 4-space-indented JSON array like docker, or through a Go template per object.
import type { CommandSpec, Parsed } from '../args.js';
import { ApiError, imageSeg, seg } from '../client.js';
import type { Cli } from '../context.js';
import { CONTAINER_JSON, IMAGE_INSPECT, typed, type GoType } from '../gotypes.js';
import type { Template } from '../template.js';

export const spec: CommandSpec = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  desc: 'Return low-level information on tsula objects (containers and images)',
  minArgs: 1,
  flags: [
    { long: 'format', short: 'f', kind: 'string', desc: 'Format output using a custom template' },
    { long: 'size', short: 's', kind: 'bool', desc: 'Display total file sizes if the type is container' },
    { long: 'type', kind: 'string', desc: 'Return JSON for specified type (container|image)' },
  ],
};

type Kind = 'container' | 'image';

async function fetchOne(cli: Cli, name: string, kinds: Kind[], size: boolean): Promise<unknown> {
  for (const kind of kinds) {
    try {
      if (kind === 'container') {
        return await cli.client.json('GET', `/containers/${seg(name)}/json`, { size: size ? 1 : undefined });
      }
      return await cli.client.json('GET', `/images/${imageSeg(name)}/json`);
    } catch (err) {
      // Not this kind of object: try the next kind; anything else is a real failure.
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
    }
  }
  const what = kinds.length === 1 ? kinds[0] : 'object';
  throw new Error(`Error: No such ${what}: ${name}`);
}

export async function run(cli: Cli, p: Parsed, forced?: Kind): Promise<number> {
  const type = forced ?? p.str('type');
  if (type !== undefined && type !== 'container' && type !== 'image') {
    cli.warn(`"${type}" is not a valid value for --type`);
    return 1;
  }
  const kinds: Kind[] = type ? [type] : ['container', 'image'];
  const format = p.str('format');
  let tmpl: Template | undefined;
  if (format) {
    const { Template } = await import('../template.js');
    try {
      tmpl = new Template(format);
    } catch (err) {
      cli.warn(`template parsing error: ${(err as Error).message}`);
      return 1;
    }
  }
  const found: unknown[] = [];
  let failed = false;
  for (const name of p.args) {
    try {
      const obj = await fetchOne(cli, name, kinds, p.bool('size'));
      if (tmpl) {
        let text: string;
        try {
          text = render(tmpl, obj, kindOf(obj));
        } catch (err) {
          cli.warn(`template parsing error: ${(err as Error).message}`);
          return 1;
        }
        cli.out.write(`${text}\n`);
      } else {
        found.push(obj);
      }
    } catch (err) {
      failed = true;
      cli.warn((err as Error).message);
    }
  }
  if (!tmpl) cli.print(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

/** Which of docker's structs an inspected object is (a container has State, an image not). */
function kindOf(obj: unknown): GoType {
  return obj !== null && typeof obj === 'object' && 'State' in obj ? CONTAINER_JSON : IMAGE_INSPECT;
}

/**
 * docker's TemplateInspector: the template on the typed struct first (Go field names, zero
 * values for what the JSON lacks); if that fails, on the raw JSON with missingkey=error
 * (so {{.Id}} works as well as {{.ID}}), and that run's error is the one reported.
 */
function render(tmpl: Template, obj: unknown, type: GoType): string {
  try {
    return tmpl.execute(typed(structuredClone(obj), type));
  } catch {
    return tmpl.execute(structuredClone(obj));
  }
}
