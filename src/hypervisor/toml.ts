// The TOML subset vmm.toml needs (kata's configuration files use no more): `[a.b]` tables,
// `key = value` with basic/literal strings, integers, floats, booleans and one-line arrays
// of those, `#` comments. Anything else is an error naming the line, so a file that uses
// more TOML than we read fails loudly instead of being half-understood. Written here
// rather than pulling a dependency into the sandboxer for ~100 lines.
import { invalidArgument } from '../common/errors.js';

export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable { [key: string]: TomlValue }

export function parseToml(text: string, file = 'toml'): TomlTable {
  const root: TomlTable = {};
  let cur = root;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const where = `${file}:${i + 1}`;
    const line = stripComment(lines[i], where).trim();
    if (!line) continue;
    const table = /^\[\s*([A-Za-z0-9_.\-"]+)\s*\]$/.exec(line);
    if (table) {
      cur = root;
      for (const part of splitKey(table[1], where)) {
        const next = cur[part] ??= {};
        if (typeof next !== 'object' || Array.isArray(next)) throw invalidArgument(`${where}: [${table[1]}] redefines the key ${part}`);
        cur = next;
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${where}: expected "key = value" or "[table]", got ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_\-]+$/.test(key)) throw invalidArgument(`${where}: unsupported key ${JSON.stringify(key)}`);
    if (key in cur) throw invalidArgument(`${where}: duplicate key ${key}`);
    const [value, rest] = parseValue(line.slice(eq + 1).trim(), where);
    if (rest.trim()) throw invalidArgument(`${where}: unexpected ${JSON.stringify(rest.trim())} after the value of ${key}`);
    cur[key] = value;
  }
  return root;
}

function splitKey(k: string, where: string): string[] {
  return k.split('.').map((p) => {
    const s = p.trim().replace(/^"(.*)"$/, '$1');
    if (!s) throw invalidArgument(`${where}: empty table name in [${k}]`);
    return s;
  });
}

/** Drop a `#` comment that is not inside a string. */
function stripComment(line: string, where: string): string {
  let q: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q) {
      if (c === '\\' && q === '"') i++;
      else if (c === q) q = null;
    } else if (c === '"' || c === "'") q = c;
    else if (c === '#') return line.slice(0, i);
  }
  if (q) throw invalidArgument(`${where}: unterminated string`);
  return line;
}

const ESC: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\', b: '\b', f: '\f' };

function parseValue(s: string, where: string): [TomlValue, string] {
  if (s.startsWith('"')) {
    let out = '';
    for (let i = 1; i < s.length; i++) {
      const c = s[i];
      if (c === '"') return [out, s.slice(i + 1)];
      if (c === '\\') {
        const e = s[++i];
        if (e === 'u') { out += String.fromCodePoint(parseInt(s.slice(i + 1, i + 5), 16)); i += 4; continue; }
        if (!(e in ESC)) throw invalidArgument(`${where}: bad escape \\${e}`);
        out += ESC[e];
      } else out += c;
    }
    throw invalidArgument(`${where}: unterminated string`);
  }
  if (s.startsWith("'")) {
    const end = s.indexOf("'", 1);
    if (end < 0) throw invalidArgument(`${where}: unterminated string`);
    return [s.slice(1, end), s.slice(end + 1)];
  }
  if (s.startsWith('[')) {
    const arr: TomlValue[] = [];
    let rest = s.slice(1).trim();
    while (!rest.startsWith(']')) {
      if (!rest) throw invalidArgument(`${where}: unterminated array (arrays must be on one line)`);
      const [v, r] = parseValue(rest, where);
      arr.push(v);
      rest = r.trim();
      if (rest.startsWith(',')) rest = rest.slice(1).trim();
      else if (!rest.startsWith(']')) throw invalidArgument(`${where}: expected , or ] in array`);
    }
    return [arr, rest.slice(1)];
  }
  const m = /^([^\s,\]]+)(.*)$/.exec(s);
  if (!m) throw invalidArgument(`${where}: missing value`);
  const tok = m[1];
  if (tok === 'true' || tok === 'false') return [tok === 'true', m[2]];
  if (/^[+-]?\d[\d_]*$/.test(tok)) return [Number(tok.replaceAll('_', '')), m[2]];
  if (/^[+-]?\d[\d_]*(\.\d+)?([eE][+-]?\d+)?$/.test(tok)) return [Number(tok.replaceAll('_', '')), m[2]];
  throw invalidArgument(`${where}: unsupported value ${JSON.stringify(tok)} (strings need quotes)`);
}
