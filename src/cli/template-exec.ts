// Executing a parsed template against JSON data, with Go's semantics where users notice:
// missing map keys are errors (docker runs its raw fallback with missingkey=error), nil
// prints as <nil>, maps range in key order, and `and`/`or` return an operand.
import { goSprint, goSprintf, goSprintln, goSprintPlain, goTypeName } from './gofmt.js';
import type { Arg, Cmd, Node, Pipe } from './template.js';
import { asType, elemOf, field, goName, isNil, typeOf } from './gotypes.js';

export type TemplateFunc = (...args: unknown[]) => unknown;
export type FuncMap = Record<string, TemplateFunc>;

export class TemplateError extends Error {
  override name = 'TemplateError';
}

/** "template: :L:C: " prefix, Go's way: column is the 0-based byte offset on its line. */
export function location(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  const line = 1 + (before.match(/\n/g)?.length ?? 0);
  const col = nl < 0 ? pos : pos - (nl + 1);
  return `:${line}:${col}`;
}

class Break { constructor(readonly cont: boolean) {} }

/**
 * The Go type name of a list command's row (docker's *formatter.ContainerContext, …): a
 * field the row lacks is "can't evaluate field X in type <name>", and {{json .}} marshals it
 * as docker's context MarshalJSON does (formatContextJson).
 */
export const GO_CONTEXT = Symbol.for('tsula.formatterContext');

/**
 * docker's marshalMap of a formatter context: its methods without arguments as a map, so
 * json.Marshal's sorted keys and HTML escaping (<, >, & as \u003c, \u003e, \u0026).
 */
export function formatContextJson(row: Record<string, unknown>): string {
  const keys = Object.keys(row).filter((k) => typeof row[k] !== 'function').sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, row[k]])))
    .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false. */
export function isTrue(v: unknown): boolean {
  if (v === undefined || v === null) return false;
  if (typeOf(v)?.k === 'struct') return true; // a Go struct is never "empty"
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function lengthOf(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (isMap(v)) return Object.keys(v).length;
  throw new Error(`len of type ${goTypeName(v)}`);
}

function indexOne(item: unknown, key: unknown): unknown {
  if (Array.isArray(item) || typeof item === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new Error(`cannot index slice/array with type ${goTypeName(key)}`);
    if (key < 0 || key >= item.length) throw new Error(`index out of range: ${key}`);
    return typeof item === 'string' ? item.charCodeAt(key) : item[key];
  }
  const elem = elemOf(item);
  if (elem && Array.isArray(item)) return asType(indexOne(item.slice(), key), elem);
  if (isMap(item)) {
    if (typeof key !== 'string') throw new Error(`value has type ${goTypeName(key)}; should be string`);
    // a typed map: a missing key is the element type's zero value, as Go's index gives it
    if (elem) return asType(Object.hasOwn(item, key) ? item[key] : undefined, elem);
    if (key in item) return item[key];
    // Docker's typed structs hold labels as map[string]string: a missing one is "".
    const vals = Object.values(item);
    return vals.length > 0 && vals.every((x) => typeof x === 'string') || vals.length === 0 ? '' : null;
  }
  if (item === null || item === undefined) throw new Error('index of untyped nil');
  throw new Error(`can't index item of type ${goTypeName(item)}`);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new Error('incompatible types for comparison');
}

function basic(v: unknown): boolean {
  return v === null || v === undefined || ['string', 'number', 'boolean'].includes(typeof v);
}

function toStrings(v: unknown): string[] {
  if (!Array.isArray(v)) throw new Error(`wrong type for value; expected []string; got ${goTypeName(v)}`);
  return v.map((x) => (typeof x === 'string' ? x : goSprint(x)));
}

function jsonOf(v: unknown): string {
  // Docker's json func: encoding/json without HTML escaping, trailing newline trimmed.
  if (isNil(v)) return 'null';
  if (isMap(v) && GO_CONTEXT in v) return formatContextJson(v);
  if (typeof v === 'bigint') return String(v); // an int64 past 2^53 (an event's timeNano), exact
  return JSON.stringify(v === undefined ? null : v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? 'null';
}

/** Docker's template functions (cli/templates) plus Go's builtins. */
const BUILTINS: FuncMap = {
  json: jsonOf,
  split: (s, sep) => String(s).split(String(sep)),
  join: (l, sep) => toStrings(l).join(String(sep)),
  title: (s) => String(s).replace(/\b\w/g, (c) => c.toUpperCase()),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  pad: (s, l, r) => `${' '.repeat(Number(l))}${goSprint(s)}${' '.repeat(Number(r))}`,
  truncate: (s, n) => [...String(s)].slice(0, Number(n)).join(''),
  print: (...a) => goSprintPlain(a),
  printf: (f, ...a) => goSprintf(String(f), a),
  println: (...a) => goSprintln(a),
  len: (v) => lengthOf(v),
  index: (item, ...keys) => keys.reduce((acc, k) => indexOne(acc, k), item),
  slice: (item, ...ix) => {
    if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${goTypeName(item)}`);
    const [a = 0, b = item.length] = ix as number[];
    if (a < 0 || b > item.length || a > b) throw new Error(`index out of range: ${a}:${b}`);
    return item.slice(a, b);
  },
  not: (v) => !isTrue(v),
  eq: (a, ...bs) => {
    if (!bs.length) throw new Error('missing argument for comparison');
    return bs.some((b) => {
      if (!basic(a) || !basic(b)) throw new Error('incompatible types for comparison');
      return a === b || (a == null && b == null);
    });
  },
  ne: (a, b) => {
    if (!basic(a) || !basic(b)) throw new Error('incompatible types for comparison');
    return a !== b;
  },
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  urlquery: (...a) => encodeURIComponent(goSprintPlain(a)),
  html: (...a) => goSprintPlain(a).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`),
};
// and/or short-circuit, so they are evaluated in evalCall rather than as plain functions.
export const BUILTIN_NAMES = new Set([...Object.keys(BUILTINS), 'and', 'or']);

/** For `table` headers docker swaps in functions that pass their argument through. */
const HEADER_PASS = new Set(['json', 'split', 'join', 'title', 'lower', 'upper', 'pad', 'truncate']);

interface State {
  src: string;
  funcs: FuncMap;
  vars: { name: string; value: unknown }[];
  out: string[];
  header: boolean;
}

export function execute(src: string, root: Node[], data: unknown, funcs: FuncMap, header: boolean): string {
  const s: State = { src, funcs, vars: [{ name: '$', value: data }], out: [], header };
  try {
    walk(s, root, data);
  } catch (err) {
    if (err instanceof Break) throw new TemplateError('template: :1: {{break}} outside {{range}}');
    throw err;
  }
  return s.out.join('');
}

function fail(s: State, pos: number, ctx: string, msg: string): never {
  throw new TemplateError(`template: ${location(s.src, pos)}: executing "" at <${ctx}>: ${msg}`);
}

function walk(s: State, list: Node[], dot: unknown): void {
  for (const n of list) {
    switch (n.k) {
      case 'text':
        s.out.push(n.text);
        break;
      case 'action': {
        const v = evalPipe(s, n.pipe, dot);
        if (!n.pipe.decl.length) s.out.push(goSprint(v));
        break;
      }
      case 'if':
      case 'with': {
        const mark = s.vars.length;
        const v = evalPipe(s, n.pipe, dot);
        if (isTrue(v)) walk(s, n.list, n.k === 'with' ? v : dot);
        else walk(s, n.elseList, dot);
        s.vars.length = mark;
        break;
      }
      case 'range':
        walkRange(s, n.pipe, n.list, n.elseList, dot);
        break;
      case 'break':
      case 'continue':
        throw new Break(n.k === 'continue');
    }
  }
}

function walkRange(s: State, pipe: Pipe, list: Node[], elseList: Node[], dot: unknown): void {
  const mark = s.vars.length;
  const v = evalPipe(s, { ...pipe, decl: [] }, dot);
  let entries: [unknown, unknown][];
  const elem = elemOf(v);
  const el = (x: unknown) => (elem ? asType(x, elem) : x);
  if (Array.isArray(v)) entries = v.map((x, i) => [i, el(x)]);
  else if (isMap(v)) entries = Object.keys(v).sort().map((k) => [k, el(v[k])]);
  else if (typeof v === 'number' && Number.isInteger(v)) entries = Array.from({ length: Math.max(0, v) }, (_, i) => [i, i]);
  else if (v === null || v === undefined) entries = [];
  else fail(s, pipe.pos, pipe.src, `range can't iterate over ${goSprint(v)}`);
  if (!entries.length) {
    walk(s, elseList, dot);
    return;
  }
  for (const [k, x] of entries) {
    s.vars.length = mark;
    // One variable gets the element; two get index/key and element, as in Go.
    if (pipe.decl.length === 1) s.vars.push({ name: pipe.decl[0]!, value: x });
    if (pipe.decl.length >= 2) {
      s.vars.push({ name: pipe.decl[0]!, value: k });
      s.vars.push({ name: pipe.decl[1]!, value: x });
    }
    try {
      walk(s, list, x);
    } catch (err) {
      if (!(err instanceof Break)) throw err;
      if (!err.cont) break;
    }
  }
  s.vars.length = mark;
}

function evalPipe(s: State, pipe: Pipe, dot: unknown): unknown {
  let v: unknown;
  let has = false;
  for (const cmd of pipe.cmds) {
    v = evalCmd(s, cmd, dot, has ? { v } : undefined);
    has = true;
  }
  if (pipe.decl.length) {
    const name = pipe.decl[0]!;
    if (pipe.assign) {
      const slot = [...s.vars].reverse().find((x) => x.name === name);
      if (!slot) fail(s, pipe.pos, pipe.src, `undefined variable: ${name}`);
      slot.value = v;
    } else {
      s.vars.push({ name, value: v });
    }
  }
  return v;
}

type Final = { v: unknown } | undefined;

function evalCmd(s: State, cmd: Cmd, dot: unknown, final: Final): unknown {
  const [first, ...rest] = cmd.args;
  switch (first!.k) {
    case 'field':
      return evalChain(s, first!, dot, first!.names, rest, final, dot);
    case 'var': {
      const base = lookupVar(s, first!);
      if (!first!.names.length) {
        notAFunction(s, cmd, rest, final);
        return base;
      }
      return evalChain(s, first!, base, first!.names, rest, final, dot);
    }
    case 'pipe': {
      const base = evalPipe(s, first!.pipe, dot);
      if (!first!.names.length) {
        notAFunction(s, cmd, rest, final);
        return base;
      }
      return evalChain(s, first!, base, first!.names, rest, final, dot);
    }
    case 'ident':
      return evalCall(s, cmd, first!.name, rest, final, dot);
    case 'dot':
      notAFunction(s, cmd, rest, final);
      return dot;
    case 'lit':
      notAFunction(s, cmd, rest, final);
      return first!.v;
  }
  return undefined;
}

function notAFunction(s: State, cmd: Cmd, rest: Arg[], final: Final): void {
  if (rest.length || final) fail(s, cmd.pos, cmd.src, `can't give argument to non-function ${cmd.args[0]!.src}`);
}

function lookupVar(s: State, a: Arg & { k: 'var' }): unknown {
  for (let i = s.vars.length - 1; i >= 0; i--) if (s.vars[i]!.name === a.name) return s.vars[i]!.value;
  fail(s, a.pos, a.src, `undefined variable: ${a.name}`);
}

/** Walk .A.B.C; the last element may be a method (a function value) taking the args. */
function evalChain(s: State, node: Arg, recv: unknown, names: string[], args: Arg[], final: Final, dot: unknown): unknown {
  let v = recv;
  names.forEach((name, idx) => {
    const last = idx === names.length - 1;
    // <no value> (a typed map's missing key) has no fields, and is no error: Go gives <no value> again
    if (v === undefined && idx > 0) return;
    if (v === null || v === undefined) fail(s, node.pos, node.src, `nil pointer evaluating interface {}.${name}`);
    const t = typeOf(v);
    if (t?.k === 'struct' && !s.header) {
      // docker's Go struct: a field it has (its zero value if the JSON left it out), else an error
      const f = field(v as Record<string, unknown>, t, name);
      if (!f) fail(s, node.pos, node.src, `can't evaluate field ${name} in type ${goName(t)}`);
      if (last && (args.length || final)) fail(s, node.pos, node.src, `${name} has arguments but cannot be invoked as function`);
      v = f.value;
      return;
    }
    if (t?.k === 'map' && !s.header) {
      const m = v as Record<string, unknown>;
      v = Object.hasOwn(m, name) ? asType(m[name], t.elem) : undefined;
      return;
    }
    if (!isMap(v)) fail(s, node.pos, node.src, `can't evaluate field ${name} in type ${goTypeName(v)}`);
    if (!(name in v)) {
      if (s.header) { v = ''; return; }
      if (GO_CONTEXT in v) fail(s, node.pos, node.src, `can't evaluate field ${name} in type ${String((v as Record<symbol, unknown>)[GO_CONTEXT])}`);
      fail(s, node.pos, node.src, `map has no entry for key "${name}"`);
    }
    const f = v[name];
    if (typeof f === 'function') {
      const argv = last ? args.map((a) => evalArg(s, a, dot)) : [];
      if (last && final) argv.push(final.v);
      try {
        v = (f as TemplateFunc)(...argv);
      } catch (err) {
        fail(s, node.pos, node.src, `error calling ${name}: ${(err as Error).message}`);
      }
      return;
    }
    if (last && (args.length || final) && !s.header) {
      fail(s, node.pos, node.src, `${name} has arguments but cannot be invoked as function`);
    }
    v = f;
  });
  return v;
}

function evalArg(s: State, a: Arg, dot: unknown): unknown {
  switch (a.k) {
    case 'field': return evalChain(s, a, dot, a.names, [], undefined, dot);
    case 'var': {
      const base = lookupVar(s, a);
      return a.names.length ? evalChain(s, a, base, a.names, [], undefined, dot) : base;
    }
    case 'pipe': {
      const base = evalPipe(s, a.pipe, dot);
      return a.names.length ? evalChain(s, a, base, a.names, [], undefined, dot) : base;
    }
    case 'dot': return dot;
    case 'lit': return a.v;
    case 'ident': return evalCall(s, { args: [a], pos: a.pos, src: a.src }, a.name, [], undefined, dot);
  }
}

function evalCall(s: State, cmd: Cmd, name: string, args: Arg[], final: Final, dot: unknown): unknown {
  if (name === 'and' || name === 'or') {
    // Short-circuit: stop at the first false (and) / true (or) operand and return it.
    const ops: (() => unknown)[] = args.map((a) => () => evalArg(s, a, dot));
    if (final) ops.push(() => final.v);
    if (!ops.length) fail(s, cmd.pos, cmd.src, `wrong number of args for ${name}: want at least 1 got 0`);
    let v: unknown;
    for (const op of ops) {
      v = op();
      if (isTrue(v) === (name === 'or')) return v;
    }
    return v;
  }
  const argv = args.map((a) => evalArg(s, a, dot));
  if (final) argv.push(final.v);
  if (s.header && HEADER_PASS.has(name)) return argv[0];
  const f = s.funcs[name] ?? BUILTINS[name];
  if (!f) fail(s, cmd.pos, cmd.src, `function "${name}" not defined`);
  try {
    return f(...argv);
  } catch (err) {
    if (err instanceof TemplateError) throw err;
    fail(s, cmd.pos, cmd.src, `error calling ${name}: ${(err as Error).message}`);
  }
}
