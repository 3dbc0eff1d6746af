// Table output as docker writes it: Go's text/tabwriter (minwidth 10, padding 3) and the
// `--format` convention ("table …" adds a header row; `\t` and `\n` typed literally work).
import type { Writable } from 'node:stream';

const width = (s: string) => [...s].length;

/**
 * Go's tabwriter.NewWriter(w, 10, 1, 3, ' ', 0): cells end at a tab; a column is as wide as
 * its widest cell plus 3, at least 10; text after the last tab is not padded. Columns are
 * measured per block of consecutive lines that have that cell, as tabwriter does.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const trailingNl = text.endsWith('\n');
  const lines = (trailingNl ? text.slice(0, -1) : text).split('\n').map((l) => l.split('\t'));
  const widths: number[][] = lines.map((cells) => cells.map(() => 0));
  const maxCols = Math.max(0, ...lines.map((c) => c.length - 1));
  for (let col = 0; col < maxCols; col++) {
    let i = 0;
    while (i < lines.length) {
      if (lines[i]!.length - 1 <= col) { i++; continue; }
      let j = i;
      let w = minWidth;
      while (j < lines.length && lines[j]!.length - 1 > col) {
        w = Math.max(w, width(lines[j]![col]!) + padding);
        j++;
      }
      for (let k = i; k < j; k++) widths[k]![col] = w;
      i = j;
    }
  }
  const out = lines.map((cells, li) => cells.map((c, ci) => {
    if (ci === cells.length - 1) return c;
    return c + ' '.repeat(Math.max(0, widths[li]![ci]! - width(c)));
  }).join(''));
  return out.join('\n') + (trailingNl ? '\n' : '');
}

export interface FormatSpec {
  /** The template after "table " and escape processing. */
  body: string;
  table: boolean;
}

/** docker's formatter preFormat: strip "table", trim spaces, turn `\t`/`\n` into real ones. */
export function parseFormat(format: string): FormatSpec {
  const table = format.startsWith('table');
  let body = table ? format.slice('table'.length) : format;
  body = body.replace(/^ +| +$/g, '').replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return { body, table };
}

/**
 * Render rows with a format: each row is the template output plus a newline; "table"
 * formats get the header (the template run on header names) and tab alignment. `context`
 * is the Go type docker's rows have (template-exec's GO_CONTEXT): its errors and {{json .}}.
 */
export async function writeFormatted(
  out: Writable, format: string, rows: object[], headers: Record<string, unknown>, context?: string,
): Promise<void> {
  const { Template, GO_CONTEXT } = await import('./template.js');
  const spec = parseFormat(format);
  const tmpl = new Template(spec.body);
  let text = '';
  for (const row of rows) {
    if (context) Object.defineProperty(row, GO_CONTEXT, { value: context });
    text += `${tmpl.execute(row)}\n`;
  }
  if (spec.table) {
    const head = tmpl.execute(headers, { header: true });
    text = tabwrite(`${head}\n${text}`);
  }
  out.write(text);
}

/** docker's Ellipsis: cut to n display characters, the last one being "…". */
export function ellipsis(s: string, n: number): string {
  const chars = [...s];
  if (chars.length <= n) return s;
  if (n <= 0) return '';
  return `${chars.slice(0, n - 1).join('')}…`;
}

/** stringid.TruncateID: drop an algorithm prefix, keep 12 characters. */
export function truncateId(id: string): string {
  const colon = id.indexOf(':');
  const bare = colon >= 0 ? id.slice(colon + 1) : id;
  return bare.slice(0, 12);
}
