// Helpers of the object commands (network, volume): key=value flags and docker's inspect
// output for one kind of object.
import type { Parsed } from '../args.js';
import { UsageError } from '../args.js';
import { ApiError } from '../client.js';
import type { Cli } from '../context.js';

/** key=value flags (--label, --opt) as a map. */
export function kv(items: string[], flag: string): Record<string, string> {
  const m: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq <= 0 && flag !== 'label') throw new UsageError(`invalid argument "${it}" for "--${flag}" flag: invalid key=value: ${it}`, 'create');
    m[eq < 0 ? it : it.slice(0, eq)] = eq < 0 ? '' : it.slice(eq + 1);
  }
  return m;
}

/** docker's inspect output for one kind of object: a 4-space JSON array, or a template per object. */
export async function printInspect(cli: Cli, p: Parsed, get: (name: string) => Promise<unknown>, kind: string): Promise<number> {
  const format = p.str('format');
  let tmpl: import('../template.js').Template | undefined;
  if (format) {
    const { Template } = await import('../template.js');
    tmpl = new Template(format);
  }
  const found: unknown[] = [];
  let text = '';
  let failed = false;
  for (const name of p.args) {
    let obj: unknown;
    try {
      obj = await get(name);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) throw err;
      failed = true;
      cli.warn(`Error: No such ${kind}: ${name}`);
      continue;
    }
    if (!tmpl) { found.push(obj); continue; }
    try {
      text += `${tmpl.execute(obj)}\n`;
    } catch (err) {
      // docker's inspector reports a template failure per object and goes on
      if (!(err instanceof Error) || err.name !== 'TemplateError') throw err;
      failed = true;
      cli.warn(`template parsing error: ${err.message}`);
    }
  }
  // docker's Flush: a template inspector with nothing to show still writes a newline
  if (tmpl) cli.out.write(text || '\n');
  else cli.print(JSON.stringify(found, null, 4));
  return failed ? 1 : 0;
}

