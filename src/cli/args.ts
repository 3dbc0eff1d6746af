// Flag parsing with docker's (spf13/pflag's) rules: short flags combine (`-tid`), a short
// flag's value may be glued on (`-eA=1`) or follow, `--x=v` or `--x v`, repeatable flags
// collect, `--` ends flags, and for run/create/exec parsing stops at the first positional
// so everything after IMAGE belongs to the container's command.
import { compareStrings } from '../common/compare.js';
import { parseGoBool } from '../common/gobool.js';

export type FlagKind = 'bool' | 'string' | 'list' | 'int' | 'number';

export interface FlagSpec {
  long: string;
  short?: string;
  kind: FlagKind;
  desc: string;
  /** Shown in help ("string", "list", …) after the flag. */
  meta?: string;
  dflt?: string | number | boolean;
  /** Accepted but not shown in help. */
  hidden?: boolean;
}

export interface CommandSpec {
  name: string;
  usage: string;
  desc: string;
  flags: FlagSpec[];
  /** false: flags end at the first positional (run, create, exec). */
  interspersed?: boolean;
  minArgs?: number;
  maxArgs?: number;
  /** Help's "Aliases:" line: the name the command was called by first ("ls, list"). */
  aliases?: string[];
}

export type FlagValue = boolean | string | number | string[];

/**
 * Flags in help order: pflag sorts by name in byte order. (Not localeCompare: its first
 * call sets up ICU collation, ~8 ms of every `tsula run`.)
 */
export const byFlagName = (a: FlagSpec, b: FlagSpec): number => compareStrings(a.long, b.long);

export class Parsed {
  constructor(readonly values: Map<string, FlagValue>, readonly args: string[], private readonly spec: CommandSpec) {}

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }

  str(name: string): string | undefined {
    const v = this.values.get(name);
    if (v === undefined) {
      const d = this.spec.flags.find((f) => f.long === name)?.dflt;
      return d === undefined ? undefined : String(d);
    }
    return typeof v === 'string' ? v : String(v);
  }

  num(name: string): number | undefined {
    const v = this.values.get(name);
    if (v === undefined) {
      const d = this.spec.flags.find((f) => f.long === name)?.dflt;
      return typeof d === 'number' ? d : undefined;
    }
    return typeof v === 'number' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }

  has(name: string): boolean {
    return this.values.has(name);
  }
}

/** A flag error: docker exits 125 for these and points at --help. */
export class UsageError extends Error {
  constructor(message: string, readonly command: string, readonly exitCode = 125) {
    super(message);
    this.name = 'UsageError';
  }
}

/** --help/-h was asked for (-h is only help where it is not a real flag, as in docker). */
export class HelpRequested extends Error {}

function flagLabel(f: FlagSpec): string {
  return f.short ? `-${f.short}, --${f.long}` : `--${f.long}`;
}

function setValue(values: Map<string, FlagValue>, f: FlagSpec, raw: string | true, cmd: string): void {
  if (f.kind === 'bool') {
    const b = raw === true ? true : parseGoBool(raw);
    if (b !== null) values.set(f.long, b);
    else throw new UsageError(`invalid argument "${raw}" for "${flagLabel(f)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`, cmd);
    return;
  }
  const s = raw === true ? '' : raw;
  if (f.kind === 'list') {
    const prev = values.get(f.long);
    values.set(f.long, [...(Array.isArray(prev) ? prev : []), s]);
  } else if (f.kind === 'int' || f.kind === 'number') {
    const n = Number(s);
    const fn = f.kind === 'int' ? 'strconv.ParseInt' : 'strconv.ParseFloat';
    // Go's ParseInt takes digits only ("1e3" is a syntax error) and refuses what int64 can't hold
    if (s.trim() === '' || Number.isNaN(n) || (f.kind === 'int' && !/^[+-]?\d+$/.test(s))) {
      throw new UsageError(`invalid argument "${s}" for "${flagLabel(f)}" flag: ${fn}: parsing "${s}": invalid syntax`, cmd);
    }
    if (f.kind === 'int' && !Number.isSafeInteger(n)) {
      throw new UsageError(`invalid argument "${s}" for "${flagLabel(f)}" flag: ${fn}: parsing "${s}": value out of range`, cmd);
    }
    values.set(f.long, n);
  } else {
    values.set(f.long, s);
  }
}

export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const values = new Map<string, FlagValue>();
  const args: string[] = [];
  const byLong = new Map(spec.flags.map((f) => [f.long, f]));
  const byShort = new Map(spec.flags.filter((f) => f.short).map((f) => [f.short!, f]));
  const interspersed = spec.interspersed ?? true;
  const cmd = spec.name;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const f = byLong.get(name);
      if (!f) {
        if (name === 'help') throw new HelpRequested();
        throw new UsageError(`unknown flag: --${name}`, cmd);
      }
      if (eq >= 0) setValue(values, f, a.slice(eq + 1), cmd);
      else if (f.kind === 'bool') setValue(values, f, true, cmd);
      else if (i + 1 < argv.length) setValue(values, f, argv[++i]!, cmd);
      else throw new UsageError(`flag needs an argument: --${name}`, cmd);
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j]!;
        const f = byShort.get(c);
        if (!f) {
          if (c === 'h') throw new HelpRequested();
          throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`, cmd);
        }
        if (f.kind === 'bool') {
          // pflag allows "-t=false" for booleans.
          if (a[j + 1] === '=') {
            setValue(values, f, a.slice(j + 2), cmd);
            break;
          }
          setValue(values, f, true, cmd);
          continue;
        }
        // The rest of the token is the value ("-eA=1", "-p=80:80"), else the next argument.
        let rest = a.slice(j + 1);
        if (rest.startsWith('=')) rest = rest.slice(1);
        if (rest || a[j + 1] === '=') setValue(values, f, rest, cmd);
        else if (i + 1 < argv.length) setValue(values, f, argv[++i]!, cmd);
        else throw new UsageError(`flag needs an argument: '${c}' in -${c}`, cmd);
        break;
      }
      continue;
    }
    args.push(a);
    if (!interspersed) {
      args.push(...argv.slice(i + 1));
      break;
    }
  }
  const parsed = new Parsed(values, args, spec);
  checkArgCount(spec, args);
  return parsed;
}

function checkArgCount(spec: CommandSpec, args: string[]): void {
  const min = spec.minArgs ?? 0;
  const max = spec.maxArgs ?? Infinity;
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  let what: string | undefined;
  if (min === max && args.length !== min) what = `exactly ${plural(min)}`;
  else if (args.length < min) what = `at least ${plural(min)}`;
  else if (args.length > max) what = max === 0 ? 'no arguments' : `at most ${plural(max)}`;
  if (what) {
    const verb = min === max || args.length < min ? 'requires' : 'accepts';
    throw new UsageError(`"tsula ${spec.name}" ${verb} ${what}.\nSee 'tsula ${spec.name} --help'.\n\n` +
      `Usage:  tsula ${spec.name} ${spec.usage}\n\n${spec.desc}`, spec.name, 1);
  }
}

/** `tsula CMD --help`, docker's layout. */
export function helpText(spec: CommandSpec): string {
  const rows = spec.flags.filter((f) => !f.hidden).map((f) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${f.long}${f.kind === 'bool' ? '' : ` ${f.meta ?? f.kind}`}`;
    const d = f.dflt !== undefined && f.kind !== 'bool' ? ` (default ${typeof f.dflt === 'string' ? `"${f.dflt}"` : f.dflt})` : '';
    return [left, f.desc + d] as const;
  });
  const w = Math.max(0, ...rows.map((r) => r[0].length));
  let text = `\nUsage:  tsula ${spec.name} ${spec.usage}\n\n${spec.desc}\n`;
  if (spec.aliases?.length) text += `\nAliases:\n  ${spec.aliases.join(', ')}\n`;
  if (rows.length) text += `\nOptions:\n${rows.map(([l, d]) => `  ${l.padEnd(w)}   ${d}`).join('\n')}\n`;
  return text;
}
