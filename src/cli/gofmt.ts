// Go's fmt, as far as templates print values: %v of values decoded from JSON (maps as
// `map[k:v]` with sorted keys, slices as `[a b]`, nil as `<nil>`), and a printf with the
// verbs people use in --format strings.
import { goFormatG } from './units.js';
import { asType, fieldValues, typeOf } from './gotypes.js';

/** The Go type name a JSON-decoded value would have, for error messages. */
export function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'function') return 'func';
  return 'map[string]interface {}';
}

/** A float as Go's %v prints it: shortest digits, exponent form below 1e-4 or from 1e6. */
function goFloat(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e21) return String(v);
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
  const [mant, expStr] = v.toExponential().split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= 6) {
    const abs = Math.abs(exp);
    return `${mant}e${exp < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
  }
  return String(v);
}

/** %v. Integers print as integers: docker's typed structs hold ints, not float64s. */
export function goSprint(v: unknown, nested = false): string {
  if (v === undefined) return nested ? '<nil>' : '<no value>';
  if (v === null) return '<nil>';
  switch (typeof v) {
    case 'string': return v;
    case 'number': return goFloat(v);
    case 'bigint': return String(v);
    case 'boolean': return v ? 'true' : 'false';
    case 'function': return '<func>';
    default: break;
  }
  // docker's structs print as Go prints them: {fields in order}; typed elements likewise
  const t = typeOf(v);
  if (t?.k === 'struct') return `{${fieldValues(v as Record<string, unknown>, t).map((x) => goSprint(x, true)).join(' ')}}`;
  const el = (x: unknown) => (t && (t.k === 'slice' || t.k === 'map') ? asType(x, t.elem) : x);
  if (Array.isArray(v)) return `[${v.map((x) => goSprint(el(x), true)).join(' ')}]`;
  const obj = v as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return `map[${keys.map((k) => `${k}:${goSprint(el(obj[k]), true)}`).join(' ')}]`;
}

/** Go's strconv.Quote, close enough: JSON escaping without HTML escapes. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

interface Spec {
  minus: boolean;
  plus: boolean;
  zero: boolean;
  space: boolean;
  sharp: boolean;
  width?: number;
  prec?: number;
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (spec.width === undefined || s.length >= spec.width) return s;
  const n = spec.width - s.length;
  if (spec.minus) return s + ' '.repeat(n);
  if (spec.zero && numeric) {
    const sign = /^[+-]/.test(s) ? s[0]! : '';
    return sign + '0'.repeat(n) + s.slice(sign.length);
  }
  return ' '.repeat(n) + s;
}

function bad(verb: string, v: unknown): string {
  return `%!${verb}(${goTypeName(v)}=${goSprint(v)})`;
}

function fmtOne(verb: string, v: unknown, spec: Spec): string {
  const sign = (n: number, s: string) => (n >= 0 && spec.plus ? `+${s}` : n >= 0 && spec.space ? ` ${s}` : s);
  switch (verb) {
    case 'v': {
      const s = goSprint(v);
      return pad(spec.prec !== undefined && typeof v === 'string' ? s.slice(0, spec.prec) : s, spec, false);
    }
    case 's': {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return pad(goSprint(v), spec, false);
      const s = goSprint(v);
      return pad(spec.prec !== undefined ? s.slice(0, spec.prec) : s, spec, false);
    }
    case 'q':
      if (typeof v !== 'string') return bad(verb, v);
      return pad(goQuote(v), spec, false);
    case 'd':
      if (typeof v !== 'number' || !Number.isInteger(v)) return typeof v === 'boolean' || typeof v === 'string' || v === null ? bad(verb, v) : pad(goSprint(v), spec, true);
      return pad(sign(v, String(v)), spec, true);
    case 't':
      return typeof v === 'boolean' ? pad(String(v), spec, false) : bad(verb, v);
    case 'x':
    case 'X': {
      let s: string;
      if (typeof v === 'number' && Number.isInteger(v)) s = (v < 0 ? '-' : '') + Math.abs(v).toString(16);
      else if (typeof v === 'string') s = Buffer.from(v).toString('hex');
      else return bad(verb, v);
      if (spec.sharp) s = `0x${s}`;
      return pad(verb === 'X' ? s.toUpperCase() : s, spec, true);
    }
    case 'f':
    case 'F':
    case 'e':
    case 'g': {
      if (typeof v !== 'number') return bad(verb, v);
      let s: string;
      if (verb === 'g') s = spec.prec === undefined ? goFloat(v) : goFormatG(v, spec.prec);
      else if (verb === 'e') {
        const [m, e] = v.toExponential(spec.prec ?? 6).split('e');
        const abs = Math.abs(Number(e));
        s = `${m}e${Number(e) < 0 ? '-' : '+'}${abs < 10 ? '0' : ''}${abs}`;
      } else s = v.toFixed(spec.prec ?? 6);
      return pad(sign(v, s), spec, true);
    }
    case 'c':
      return typeof v === 'number' ? pad(String.fromCodePoint(v), spec, false) : bad(verb, v);
    default:
      return `%!${verb}(${goTypeName(v)}=${goSprint(v)})`;
  }
}

/** fmt.Sprintf for the common verbs: v s q d t x X f F e g c, flags - + 0 space #, width, precision. */
export function goSprintf(format: string, args: unknown[]): string {
  let out = '';
  let argi = 0;
  let i = 0;
  while (i < format.length) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      i++;
      continue;
    }
    i++;
    if (format[i] === '%') {
      out += '%';
      i++;
      continue;
    }
    const spec: Spec = { minus: false, plus: false, zero: false, space: false, sharp: false };
    for (; i < format.length; i++) {
      const f = format[i];
      if (f === '-') spec.minus = true;
      else if (f === '+') spec.plus = true;
      else if (f === '0') spec.zero = true;
      else if (f === ' ') spec.space = true;
      else if (f === '#') spec.sharp = true;
      else break;
    }
    const num = () => {
      if (format[i] === '*') {
        i++;
        const a = args[argi++];
        return typeof a === 'number' ? a : 0;
      }
      const m = /^\d+/.exec(format.slice(i));
      if (!m) return undefined;
      i += m[0].length;
      return Number(m[0]);
    };
    spec.width = num();
    if (format[i] === '.') {
      i++;
      spec.prec = num() ?? 0;
    }
    const verb = format[i];
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    i++;
    if (argi >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += fmtOne(verb, args[argi++], spec);
  }
  if (argi < args.length) {
    out += `%!(EXTRA ${args.slice(argi).map((a) => `${goTypeName(a)}=${goSprint(a)}`).join(', ')})`;
  }
  return out;
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function goSprintPlain(args: unknown[]): string {
  let out = '';
  args.forEach((a, idx) => {
    if (idx > 0 && typeof a !== 'string' && typeof args[idx - 1] !== 'string') out += ' ';
    out += goSprint(a);
  });
  return out;
}

/** fmt.Sprintln: always spaces between operands, and a newline. */
export function goSprintln(args: unknown[]): string {
  return `${args.map((a) => goSprint(a)).join(' ')}\n`;
}
