// The Dockerfile parser, with the rules of moby's (buildkit's frontend/dockerfile/parser
// that dockerd 20.10 vendors): parser directives (`# escape=`, `# syntax=`) only before
// anything else; `#` comment lines dropped, also between continued lines; a line ending in
// the escape token (`\` or `` ` ``) continues on the next, whose leading whitespace is kept;
// empty continuation lines are skipped with dockerd's warning; instruction names are case
// insensitive; leading `--flag=value` words are builder flags. Each instruction's arguments
// are split as moby splits them (JSON or shell form, key=value pairs, whitespace words). What
// the instructions mean is instructions.ts; this file only makes nodes.
import { invalidArgument } from '../../common/errors.js';

export interface Node {
  /** The instruction, lower case ("run", "from"; unknown ones too). */
  cmd: string;
  /** Builder flags as written: "--from=build". */
  flags: string[];
  /** The arguments: a JSON array's strings, the shell form's one string, or split words. */
  args: string[];
  /** The exec (JSON array) form was used. */
  json: boolean;
  /** ENV/LABEL: their key=value pairs (values as written, expanded later). */
  pairs?: Array<[string, string]>;
  /** ONBUILD: the instruction it holds. */
  sub?: Node;
  /** The logical line (continuations joined): what "Step N/M :" prints. */
  original: string;
  startLine: number;
  endLine: number;
}

export interface ParseResult {
  nodes: Node[];
  escape: string;
  /** dockerd's [WARNING] lines, printed to the build's stderr. */
  warnings: string[];
}

const DIRECTIVE = /^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$/;
const isComment = (line: string) => /^#/.test(line.trimStart());
const WS = /[\t\v\f\r ]+/;

/** A line's parse error, located as moby locates them. */
function located(e: unknown, line: number): Error {
  const msg = e instanceof Error ? e.message : String(e);
  return invalidArgument(`dockerfile parse error line ${line}: ${msg}`);
}

export function parseDockerfile(text: string): ParseResult {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  let escape = '\\';
  let directivesDone = false;
  const seen = new Set<string>();
  const nodes: Node[] = [];
  const warnings: string[] = [];
  const continues = (_line: string) => new RegExp(`${escape === '\\' ? '\\\\' : '`'}[ \\t]*$`);

  // directives: only while every line before was one
  const directive = (line: string) => {
    if (directivesDone) return;
    const m = DIRECTIVE.exec(line);
    if (!m) { directivesDone = true; return; }
    const key = m[1]!.toLowerCase();
    if (key === 'escape') {
      if (seen.has(key)) throw new Error('only one escape parser directive can be used');
      if (m[2] !== '`' && m[2] !== '\\') throw new Error(`invalid ESCAPE '${m[2]}'. Must be \` or \\`);
      escape = m[2];
    }
    seen.add(key);
  };

  let i = 0;
  let anyEmptyContinuation = false;
  while (i < lines.length) {
    const raw = lines[i]!.replace(/^\s+/, '');
    i++;
    const startLine = i;
    try { directive(raw); } catch (e) { throw located(e, startLine); }
    if (isComment(raw)) continue;
    let line = raw;
    let re = continues(line);
    let more = re.test(line);
    if (more) line = line.replace(re, '');
    else if (line === '') continue;
    let emptyContinuation = false;
    while (more && i < lines.length) {
      const next = lines[i]!;
      i++;
      if (isComment(next)) continue;
      if (next.trim() === '') { emptyContinuation = true; continue; }
      re = continues(next);
      more = re.test(next);
      line += more ? next.replace(re, '') : next;
    }
    if (emptyContinuation) {
      anyEmptyContinuation = true;
      warnings.push(`[WARNING]: Empty continuation line found in:\n    ${line}`);
    }
    if (line.trim() === '') continue;
    try {
      nodes.push({ ...nodeFromLine(line, escape), startLine, endLine: i });
    } catch (e) {
      throw located(e, startLine);
    }
  }
  if (anyEmptyContinuation) warnings.push('[WARNING]: Empty continuation lines will become errors in a future release.');
  return { nodes, escape, warnings };
}

type Parsed = Pick<Node, 'args' | 'json' | 'pairs' | 'sub'>;

/** One logical line as a node: the instruction, its flags, its arguments split. */
export function nodeFromLine(line: string, escape: string): Omit<Node, 'startLine' | 'endLine'> {
  const trimmed = line.trim();
  const sp = trimmed.search(/\s/);
  const cmd = (sp < 0 ? trimmed : trimmed.slice(0, sp)).toLowerCase();
  let rest = sp < 0 ? '' : trimmed.slice(sp).trim();
  let flags: string[] = [];
  if (rest) ({ rest, flags } = extractFlags(rest));
  rest = rest.trim();
  const parsed = argsOf(cmd, rest, escape);
  return { cmd, flags, ...parsed, original: line };
}

function argsOf(cmd: string, rest: string, escape: string): Parsed {
  switch (cmd) {
    case 'run': case 'cmd': case 'entrypoint': case 'shell': return maybeJson(rest);
    case 'add': case 'copy': case 'volume': return maybeJsonToList(rest);
    case 'expose': case 'from': return { args: whitespaceWords(rest), json: false };
    case 'env': case 'label': return nameVal(rest, cmd.toUpperCase(), escape);
    case 'arg': return { args: parseWords(rest, escape), json: false };
    case 'maintainer': case 'stopsignal': case 'user': case 'workdir': return { args: rest ? [rest] : [], json: false };
    case 'healthcheck': {
      const sp = rest.search(/\s/);
      const typ = sp < 0 ? rest : rest.slice(0, sp);
      const more = sp < 0 ? '' : rest.slice(sp).trim();
      if (!typ) return { args: [], json: false };
      const tail = more ? maybeJson(more) : { args: [], json: false };
      return { args: [typ, ...tail.args], json: tail.json };
    }
    case 'onbuild': {
      if (!rest) return { args: [], json: false };
      const sub = nodeFromLine(rest, escape);
      return { args: [rest], json: false, sub: { ...sub, startLine: 0, endLine: 0 } };
    }
    default: return { args: rest ? [rest] : [], json: false }; // unknown: refused by instructions.ts
  }
}

function whitespaceWords(rest: string): string[] {
  return rest === '' ? [] : rest.split(WS).filter((w) => w !== '');
}

/** The exec form when `rest` is a JSON array of strings, else the shell form (one string). */
function maybeJson(rest: string): Parsed {
  if (rest.startsWith('[')) {
    let v: unknown;
    try { v = JSON.parse(rest); } catch { v = undefined; }
    if (Array.isArray(v)) {
      if (!v.every((x) => typeof x === 'string')) throw new Error('when using JSON array syntax, arrays must be comprised of strings only');
      return { args: v as string[], json: true };
    }
  }
  return { args: rest === '' ? [] : [rest], json: false };
}

/** ADD/COPY/VOLUME: a JSON array, or whitespace-separated words. */
function maybeJsonToList(rest: string): Parsed {
  const j = maybeJson(rest);
  return j.json ? j : { args: whitespaceWords(rest), json: false };
}

/**
 * Words as moby's parseWords splits them: whitespace separates, quotes group (and are kept:
 * the later expansion removes them), the escape token keeps the next character with it.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOk = false;
  const chars = [...rest];
  for (let i = 0; i <= chars.length; i++) {
    const end = i === chars.length;
    let ch = end ? '' : chars[i]!;
    if (phase === 'spaces') {
      if (end) break;
      if (/\s/.test(ch)) continue;
      phase = 'word';
    }
    if (end) {
      if (blankOk || word.length) words.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (blankOk || word.length) words.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOk = true; phase = 'quote'; }
      if (ch === escape) {
        if (i + 1 === chars.length) continue; // an escape at the end is dropped
        word += ch;
        ch = chars[++i]!;
      }
      word += ch;
      continue;
    }
    // in a quote: the escape token works except inside single quotes
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (i + 1 === chars.length) { phase = 'word'; continue; }
      word += ch;
      ch = chars[++i]!;
    }
    word += ch;
  }
  return words;
}

/** ENV/LABEL: `key=value ...`, or the old `KEY value` form (the rest of the line is the value). */
function nameVal(rest: string, what: string, escape: string): Parsed {
  const words = parseWords(rest, escape);
  if (!words.length) return { args: [], json: false, pairs: [] };
  if (!words[0]!.includes('=')) {
    const parts = rest.split(WS);
    if (parts.length < 2) throw new Error(`${what} must have two arguments`);
    const key = parts[0]!;
    const value = rest.slice(rest.indexOf(key) + key.length).replace(/^[\t\v\f\r ]+/, '');
    return { args: [key, value], json: false, pairs: [[key, value]] };
  }
  const pairs: Array<[string, string]> = words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new Error(`Syntax error - can't find = in "${w}". Must be of the form: name=value`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
  return { args: pairs.flat(), json: false, pairs };
}

/** Leading `--name[=value]` words (quotes and \ as moby's extractBuilderFlags); "--" ends them. */
function extractFlags(line: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let word = '';
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const end = pos === line.length;
    let ch = end ? '' : line[pos]!;
    if (phase === 'spaces') {
      if (end) break;
      if (/\s/.test(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (end) {
      if (word !== '--' && (blankOk || word.length)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (/\s/.test(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOk || word.length) flags.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') { quote = ch; blankOk = true; phase = 'quote'; continue; }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos]!;
      }
      word += ch;
      continue;
    }
    if (ch === quote) { phase = 'word'; continue; }
    if (ch === '\\') {
      if (pos + 1 === line.length) { phase = 'word'; continue; }
      ch = line[++pos]!;
    }
    word += ch;
  }
  return { rest: '', flags };
}
