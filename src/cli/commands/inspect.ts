// `tsula inspect`: GET /containers/{id}/json, falling back to images, networks and volumes, printed
// as a 4-space-indented JSON array like docker, or through a Go template per object.
import type { CommandSpec, Parsed } from '../args.js';
import { ApiError, imageSeg, seg } from '../client.js';
import type { Cli } from '../context.js';
import { CONTAINER_JSON, IMAGE_INSPECT, typed, type GoType } from '../gotypes.js';
import type { Template } from '../template.js';

export const spec: CommandSpec = {
  name: 'inspect',
  usage: '[OPTIONS] NAME|ID [NAME|ID...]',
  desc: 'Return low-level information on tsula objects',
  minArgs: 1,
  flags: [
    { long: 'format', short: 'f', kind: 'string', desc: 'Format output using a custom template' },
    { long: 'size', short: 's', kind: 'bool', desc: 'Display total file sizes if the type is container' },
    { long: 'type', kind: 'string', desc: 'Return JSON for specified type' },
  ],
};

type Kind = 'container' | 'image' | 'network' | 'volume';
// docker's inspect looks an unqualified name up in this order (swarm's kinds need a swarm)
const KINDS: Kind[] = ['container', 'image', 'network', 'volume'];

async function fetchOne(cli: Cli, name: string, kinds: Kind[], size: boolean): Promise<{ obj: unknown; kind: Kind }> {
  for (const kind of kinds) {
    try {
      const path = kind === 'container' ? `/containers/${seg(name)}/json` : kind === 'image' ? `/images/${imageSeg(name)}/json`
        : kind === 'network' ? `/networks/${seg(name)}` : `/volumes/${seg(name)}`;
      return { obj: await cli.client.json('GET', path, kind === 'container' && size ? { size: 1 } : undefined), kind };
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
  if (type !== undefined && !(KINDS as string[]).includes(type)) {
    cli.warn(`"${type}" is not a valid value for --type`);
    return 1;
  }
  const kinds: Kind[] = type ? [type as Kind] : KINDS;
  const format = p.str('format');
  let tmpl: Template | undefined;
  if (format) {
    const { Template } = await import('../template.js');
    try {
      tmpl = new Template(format);
    } catch (err) {
      // docker's inspect: a template that does not parse is a StatusError 64
      cli.warn(`template parsing error: ${(err as Error).message}`);
      return 64;
    }
  }
  const found: unknown[] = [];
  let text = '';
  let failed = false;
  // as docker's inspector: each object on its own; a failure is reported and the rest go on
  for (const name of p.args) {
    try {
      const { obj, kind } = await fetchOne(cli, name, kinds, p.bool('size'));
      if (tmpl) text += `${render(tmpl, obj, kind)}\n`;
      else found.push(obj);
    } catch (err) {
      failed = true;
      const msg = (err as Error).message;
      cli.warn(err instanceof Error && err.name === 'TemplateError' ? `template parsing error: ${msg}` : msg);
    }
  }
  // docker's Flush: a template inspector with nothing to show still writes a newline
  if (tmpl) cli.out.write(text || '\n');
  else cli.print(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

/**
 * docker's TemplateInspector: the template on the typed struct first (Go field names, zero
 * values for what the JSON lacks); if that fails, on the raw JSON with missingkey=error
 * (so {{.Id}} works as well as {{.ID}}), and that run's error is the one reported.
 */
function render(tmpl: Template, obj: unknown, kind: Kind): string {
  // networks and volumes have no typed struct here: the raw run is what docker falls back to
  const type: GoType | undefined = kind === 'container' ? CONTAINER_JSON : kind === 'image' ? IMAGE_INSPECT : undefined;
  try {
    if (type) return tmpl.execute(typed(structuredClone(obj), type));
  } catch {
    // the raw run below reports
  }
  return tmpl.execute(structuredClone(obj));
}
