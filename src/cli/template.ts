// A Go text/template subset for `inspect -f` and `--format`: fields, variables, pipelines,
// function calls, if/else if/else, range (with $i, $e and else), with, break/continue,
// comments and the `{{-` / `-}}` trim markers. Errors read like Go's, since users paste
// them into searches: `template: :1:8: executing "" at <.Nope>: map has no entry for key "Nope"`.
import { BUILTIN_NAMES, execute, location, TemplateError, type FuncMap } from './template-exec.js';

export { formatContextJson, GO_CONTEXT, TemplateError, type FuncMap, type TemplateFunc } from './template-exec.js';

export type Arg =
  | { k: 'field'; names: string[]; pos: number; src: string }
  | { k: 'var'; name: string; names: string[]; pos: number; src: string }
  | { k: 'dot'; pos: number; src: string }
  | { k: 'lit'; v: string | number | boolean | null; pos: number; src: string }
  | { k: 'ident'; name: string; pos: number; src: string }
  | { k: 'pipe'; pipe: Pipe; names: string[]; pos: number; src: string };

export interface Cmd { args: Arg[]; pos: number; src: string }
export interface Pipe { decl: string[]; assign: boolean; cmds: Cmd[]; pos: number; src: string }

export type Node =
  | { k: 'text'; text: string }
  | { k: 'action'; pipe: Pipe }
  | { k: 'if' | 'with' | 'range'; pipe: Pipe; list: Node[]; elseList: Node[] }
  | { k: 'break' | 'continue'; pos: number };

type TokT = 'field' | 'var' | 'dot' | 'ident' | 'str' | 'num' | 'bool' | 'nil' | '(' | ')' | '|' | ':=' | '=' | ',';
interface Tok { t: TokT; v: string; pos: number; end: number; names?: string[] }

/** A piece of the source between delimiters: literal text or an action's tokens. */
type Item = { k: 'text'; text: string } | { k: 'action'; toks: Tok[]; pos: number; end: number };

const SPACE = /[ \t\r\n]/;

function lex(src: string, fail: (pos: number, msg: string) => never): Item[] {
  const items: Item[] = [];
  let i = 0;
  let trimNext = false;
  while (i <= src.length) {
    let open = src.indexOf('{{', i);
    if (open < 0) open = src.length;
    let text = src.slice(i, open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    trimNext = false;
    if (open === src.length) {
      if (text) items.push({ k: 'text', text });
      break;
    }
    let p = open + 2;
    // "{{- " trims the text before; "{{-3}}" is the number -3, hence the space rule.
    if (src[p] === '-' && SPACE.test(src[p + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 2;
    }
    if (text) items.push({ k: 'text', text });
    const isClose = (at: number) => {
      if (src.startsWith('}}', at)) return 2;
      if (SPACE.test(src[at] ?? '') && src.startsWith('-}}', at + 1)) return 4;
      return 0;
    };
    const toks: Tok[] = [];
    while (SPACE.test(src[p] ?? '')) p++;
    if (src.startsWith('/*', p)) {
      const endC = src.indexOf('*/', p + 2);
      if (endC < 0) fail(open, 'unclosed comment');
      p = endC + 2;
      const c = isClose(p);
      if (!c) fail(open, 'comment ends before closing delimiter');
      trimNext = c === 4;
      i = p + c;
      continue;
    }
    for (;;) {
      if (p >= src.length) fail(open, 'unclosed action');
      const c = isClose(p);
      if (c) {
        trimNext = c === 4;
        i = p + c;
        break;
      }
      const ch = src[p]!;
      if (SPACE.test(ch)) { p++; continue; }
      const start = p;
      const push = (t: TokT, v: string, extra?: Partial<Tok>) => toks.push({ t, v, pos: start, end: p, ...extra });
      if (ch === '(' || ch === ')' || ch === '|' || ch === ',') { p++; push(ch, ch); continue; }
      if (src.startsWith(':=', p)) { p += 2; push(':=', ':='); continue; }
      if (ch === '=') { p++; push('=', '='); continue; }
      if (ch === '"') {
        p++;
        while (p < src.length && src[p] !== '"') {
          if (src[p] === '\\') p++;
          if (src[p] === '\n') fail(start, 'unterminated quoted string');
          p++;
        }
        if (p >= src.length) fail(start, 'unterminated quoted string');
        p++;
        let v: string;
        try { v = JSON.parse(src.slice(start, p).replace(/\\x([0-9a-fA-F]{2})/g, '\\u00$1')) as string; } catch { fail(start, `bad string syntax: ${src.slice(start, p)}`); }
        push('str', v);
        continue;
      }
      if (ch === '`') {
        const e = src.indexOf('`', p + 1);
        if (e < 0) fail(start, 'unterminated raw quoted string');
        p = e + 1;
        push('str', src.slice(start + 1, e));
        continue;
      }
      const num = /^[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][+-]?\d+)?)/.exec(src.slice(p));
      if (num && (/\d/.test(ch) || ((ch === '-' || ch === '+' || ch === '.') && /\d/.test(src[p + 1] ?? '')))) {
        p += num[0].length;
        const n = Number(num[0].replace(/_/g, ''));
        if (Number.isNaN(n)) fail(start, `bad number syntax: "${num[0]}"`);
        push('num', num[0]);
        continue;
      }
      if (ch === '.' || ch === '$') {
        // A variable, a field chain, or dot itself; ".A.B" stays one token.
        let head = '';
        if (ch === '$') {
          p++;
          while (p < src.length && /\w/.test(src[p]!)) p++;
          head = src.slice(start, p);
        }
        const names: string[] = [];
        while (src[p] === '.' && /[A-Za-z_]/.test(src[p + 1] ?? '')) {
          const s = ++p;
          while (p < src.length && /\w/.test(src[p]!)) p++;
          names.push(src.slice(s, p));
        }
        if (ch === '$') push('var', head, { names });
        else if (names.length) push('field', src.slice(start, p), { names });
        else { p++; push('dot', '.'); }
        continue;
      }
      if (/[A-Za-z_]/.test(ch)) {
        while (p < src.length && /\w/.test(src[p]!)) p++;
        const w = src.slice(start, p);
        if (w === 'true' || w === 'false') push('bool', w);
        else if (w === 'nil') push('nil', w);
        else push('ident', w);
        continue;
      }
      fail(start, `unexpected "${ch}" in operand`);
    }
    items.push({ k: 'action', toks, pos: open, end: i });
  }
  return items;
}

/** A parsed template, reusable for many objects. */
export class Template {
  private readonly root: Node[];

  constructor(readonly text: string, private readonly funcs: FuncMap = {}) {
    const fail = (pos: number, msg: string): never => {
      const line = location(text, pos).split(':')[1];
      throw new TemplateError(`template: :${line}: ${msg}`);
    };
    const items = lex(text, fail);
    this.root = new Parser(text, items, fail, (n) => BUILTIN_NAMES.has(n) || n in funcs).parseList(true);
  }

  /** Render for one object. `header` mode renders a `table` header row (docker's way). */
  execute(data: unknown, opts: { header?: boolean } = {}): string {
    return execute(this.text, this.root, data, this.funcs, opts.header ?? false);
  }
}

/** Parse and render once. */
export function renderTemplate(text: string, data: unknown, funcs?: FuncMap): string {
  return new Template(text, funcs).execute(data);
}

class Parser {
  private idx = 0;

  constructor(
    private readonly src: string,
    private readonly items: Item[],
    private readonly fail: (pos: number, msg: string) => never,
    private readonly hasFunc: (name: string) => boolean,
  ) {}

  /** Nodes up to {{end}}/{{else}} (returned to the caller through this.stop) or the end. */
  private stop: { word: 'end' | 'else'; item: Item & { k: 'action' } } | undefined;

  parseList(top: boolean): Node[] {
    const list: Node[] = [];
    while (this.idx < this.items.length) {
      const it = this.items[this.idx++]!;
      if (it.k === 'text') {
        list.push({ k: 'text', text: it.text });
        continue;
      }
      const first = it.toks[0];
      if (!first) this.fail(it.pos, 'missing value for command');
      if (first.t === 'ident') {
        switch (first.v) {
          case 'end':
          case 'else':
            if (top) this.fail(it.pos, `unexpected {{${first.v}}}`);
            this.stop = { word: first.v, item: it };
            return list;
          case 'if':
          case 'with':
          case 'range':
            list.push(this.parseControl(first.v, it, it.toks.slice(1)));
            continue;
          case 'break':
          case 'continue':
            list.push({ k: first.v, pos: first.pos });
            continue;
          case 'define':
          case 'template':
          case 'block':
            this.fail(it.pos, `{{${first.v}}} is not supported`);
            break;
          default:
            break;
        }
      }
      const pipe = this.parsePipe(it.toks, it.pos, it.end, true);
      list.push({ k: 'action', pipe });
    }
    if (!top) this.fail(this.src.length, 'unexpected EOF');
    return list;
  }

  private parseControl(kind: 'if' | 'with' | 'range', it: Item & { k: 'action' }, toks: Tok[]): Node {
    const pipe = this.parsePipe(toks, it.pos, it.end, true);
    const list = this.parseList(false);
    let elseList: Node[] = [];
    const stop = this.stop!;
    this.stop = undefined;
    if (stop.word === 'else') {
      const rest = stop.item.toks.slice(1);
      const chained = rest[0];
      if (chained && chained.t === 'ident' && (chained.v === 'if' || chained.v === 'with')) {
        // {{else if x}} is {{else}}{{if x}}…{{end}} sharing the outer {{end}}.
        elseList = [this.parseControl(chained.v, stop.item, rest.slice(1))];
      } else {
        if (rest.length) this.fail(stop.item.pos, 'unexpected tokens after else');
        elseList = this.parseList(false);
        const s2 = this.stop!;
        this.stop = undefined;
        if (s2.word !== 'end') this.fail(s2.item.pos, 'expected end; found {{else}}');
      }
    }
    return { k: kind, pipe, list, elseList };
  }

  private parsePipe(toks: Tok[], pos: number, end: number, allowDecl: boolean): Pipe {
    let i = 0;
    const decl: string[] = [];
    let assign = false;
    // Declarations: $x := …, $x = …, or (range) $i, $e := …
    const hasDecl = toks.findIndex((t) => t.t === ':=' || t.t === '=');
    if (hasDecl > 0 && toks.slice(0, hasDecl).every((t) => t.t === 'var' || t.t === ',')) {
      for (; i < hasDecl; i++) if (toks[i]!.t === 'var') decl.push(toks[i]!.v);
      if (!allowDecl && decl.length) this.fail(pos, 'declaration not allowed here');
      assign = toks[hasDecl]!.t === '=';
      i = hasDecl + 1;
    }
    const [pipe, next] = this.parseCmds(toks, i, pos);
    if (next < toks.length) this.fail(toks[next]!.pos, `unexpected "${toks[next]!.v}" in command`);
    if (!pipe.length) this.fail(pos, 'missing value for command');
    const startPos = toks[i]?.pos ?? pos;
    return { decl, assign, cmds: pipe, pos: startPos, src: this.src.slice(startPos, toks.at(-1)?.end ?? end) };
  }

  /** Commands separated by "|", up to a ")" or the end; returns the index it stopped at. */
  private parseCmds(toks: Tok[], i: number, pos: number): [Cmd[], number] {
    const cmds: Cmd[] = [];
    for (;;) {
      const args: Arg[] = [];
      while (i < toks.length && toks[i]!.t !== '|' && toks[i]!.t !== ')') {
        const [arg, n] = this.parseOperand(toks, i, pos);
        args.push(arg);
        i = n;
      }
      if (!args.length) {
        if (i < toks.length && toks[i]!.t === '|') this.fail(toks[i]!.pos, 'missing value for command');
        break;
      }
      const first = args[0]!;
      if (first.k === 'lit' && first.v === null) this.fail(first.pos, 'nil is not a command');
      cmds.push({ args, pos: first.pos, src: this.src.slice(first.pos, (toks[i - 1]?.end ?? first.pos)) });
      if (i < toks.length && toks[i]!.t === '|') {
        i++;
        continue;
      }
      break;
    }
    return [cmds, i];
  }

  private parseOperand(toks: Tok[], i: number, pos: number): [Arg, number] {
    const t = toks[i]!;
    const src = this.src.slice(t.pos, t.end);
    let arg: Arg;
    switch (t.t) {
      case 'field': arg = { k: 'field', names: t.names!, pos: t.pos, src }; break;
      case 'var': arg = { k: 'var', name: t.v, names: t.names!, pos: t.pos, src }; break;
      case 'dot': arg = { k: 'dot', pos: t.pos, src }; break;
      case 'str': arg = { k: 'lit', v: t.v, pos: t.pos, src }; break;
      case 'num': arg = { k: 'lit', v: Number(t.v.replace(/_/g, '')), pos: t.pos, src }; break;
      case 'bool': arg = { k: 'lit', v: t.v === 'true', pos: t.pos, src }; break;
      case 'nil': arg = { k: 'lit', v: null, pos: t.pos, src }; break;
      case 'ident':
        if (!this.hasFunc(t.v)) this.fail(t.pos, `function "${t.v}" not defined`);
        arg = { k: 'ident', name: t.v, pos: t.pos, src };
        break;
      case '(': {
        const [cmds, n] = this.parseCmds(toks, i + 1, pos);
        if (toks[n]?.t !== ')') this.fail(t.pos, 'unclosed left paren');
        if (!cmds.length) this.fail(t.pos, 'missing value for command');
        const end = toks[n]!.end;
        const inner: Pipe = { decl: [], assign: false, cmds, pos: t.pos + 1, src: this.src.slice(t.pos + 1, end - 1) };
        arg = { k: 'pipe', pipe: inner, names: [], pos: t.pos, src: this.src.slice(t.pos, end) };
        i = n;
        // (pipeline).Field.Chain
        const nx = toks[i + 1];
        if (nx && nx.t === 'field' && nx.pos === end) {
          arg.names = nx.names!;
          arg.src = this.src.slice(t.pos, nx.end);
          i++;
        }
        return [arg, i + 1];
      }
      default:
        this.fail(t.pos, `unexpected "${t.v}" in operand`);
    }
    return [arg, i + 1];
  }
}
