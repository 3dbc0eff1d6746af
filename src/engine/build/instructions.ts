// Parsed nodes as typed instructions grouped into stages, with the checks and words of
// moby's instructions package (buildkit's, as dockerd 20.10 vendors it): an ARG before the
// first FROM is a meta arg, anything else there has no stage; unknown instructions and
// flags are "dockerfile parse error line N: ...".
import { invalidArgument } from '../../common/errors.js';
import type { Node, ParseResult } from './parser.js';

export interface HealthConfig { Test: string[]; Interval?: number; Timeout?: number; StartPeriod?: number; StartInterval?: number; Retries?: number }

interface Base { original: string; line: number }
export type Command = Base & (
  | { kind: 'env' | 'label'; pairs: Array<[string, string]>; noExpand?: boolean }
  | { kind: 'maintainer'; text: string }
  | { kind: 'add' | 'copy'; sources: string[]; dest: string; chown: string; from: string; chmod: string }
  | { kind: 'onbuild'; expression: string }
  | { kind: 'workdir'; path: string }
  | { kind: 'run' | 'cmd' | 'entrypoint'; cmdLine: string[]; prependShell: boolean }
  | { kind: 'healthcheck'; health: HealthConfig }
  | { kind: 'expose'; ports: string[] }
  | { kind: 'user'; user: string }
  | { kind: 'volume'; volumes: string[] }
  | { kind: 'stopsignal'; signal: string }
  | { kind: 'arg'; args: Array<{ key: string; value?: string }> }
  | { kind: 'shell'; shell: string[] }
);

export interface Stage extends Base {
  /** `AS name`, lower case; '' when unnamed. */
  name: string;
  baseName: string;
  platform: string;
  commands: Command[];
}

export interface Instructions {
  stages: Stage[];
  metaArgs: Array<Extract<Command, { kind: 'arg' }>>;
}

const atLeastOne = (c: string) => new Error(`${c} requires at least one argument`);
const exactlyOne = (c: string) => new Error(`${c} requires exactly one argument`);

/** Builder flags (`--name=value`), as moby's BFlags parse them, for the names allowed. */
function flags(n: Node, allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of n.flags) {
    if (!f.startsWith('--')) throw new Error(`Arg "${f}" must start with "--"`);
    const eq = f.indexOf('=');
    const name = eq < 0 ? f.slice(2) : f.slice(2, eq);
    if (!allowed.includes(name)) throw new Error(`Unknown flag: ${name}`);
    if (name in out) throw new Error(`Duplicate flag specified: ${name}`);
    if (eq < 0) throw new Error(`Missing a value on flag: ${f}`);
    out[name] = f.slice(eq + 1);
  }
  return out;
}

/** Go's time.ParseDuration, for HEALTHCHECK's intervals (nanoseconds). */
export function parseGoDuration(s: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const m = /^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/.exec(s);
  if (!m && s !== '0') throw new Error(`time: invalid duration "${s}"`);
  if (s === '0') return 0;
  let total = 0;
  for (const part of s.replace(/^[-+]/, '').matchAll(/(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(part[1]) * units[part[2]!]!;
  return Math.round(s.startsWith('-') ? -total : total);
}

function interval(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const d = parseGoDuration(v);
  if (d < 1e6) throw new Error(`Interval "${name}" cannot be less than 1ms`);
  return d;
}

function healthcheck(n: Node): HealthConfig {
  if (!n.args.length) throw atLeastOne('HEALTHCHECK');
  const typ = n.args[0]!.toUpperCase();
  const rest = n.args.slice(1);
  if (typ === 'NONE') {
    if (rest.length) throw new Error('HEALTHCHECK NONE takes no arguments');
    return { Test: ['NONE'] };
  }
  const f = flags(n, ['interval', 'timeout', 'start-period', 'start-interval', 'retries']);
  if (typ !== 'CMD') throw new Error(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`);
  if (!rest.length) throw new Error('Missing command after HEALTHCHECK CMD');
  const h: HealthConfig = { Test: [n.json ? 'CMD' : 'CMD-SHELL', ...rest] };
  const iv = interval('interval', f.interval);
  const to = interval('timeout', f.timeout);
  const sp = interval('start-period', f['start-period']);
  const si = interval('start-interval', f['start-interval']);
  if (iv !== undefined) h.Interval = iv;
  if (to !== undefined) h.Timeout = to;
  if (sp !== undefined) h.StartPeriod = sp;
  if (si !== undefined) h.StartInterval = si;
  if (f.retries !== undefined && f.retries !== '') {
    const r = Number(f.retries);
    if (!/^[-+]?\d+$/.test(f.retries)) throw new Error(`strconv.ParseInt: parsing "${f.retries}": invalid syntax`);
    if (r < 1) throw new Error(`--retries must be at least 1 (not ${r})`);
    h.Retries = r;
  }
  return h;
}

function stageOf(n: Node): Stage {
  const f = flags(n, ['platform']);
  const a = n.args;
  let name = '';
  if (a.length === 3 && a[1]!.toLowerCase() === 'as') {
    name = a[2]!.toLowerCase();
    if (!/^[a-z][a-z0-9-_.]*$/.test(name)) throw new Error(`invalid name for build stage: "${a[2]}", name can't start with a number or contain symbols`);
  } else if (a.length !== 1) {
    throw new Error('FROM requires either one or three arguments');
  }
  return { name, baseName: a[0]!, platform: f.platform ?? '', commands: [], original: n.original.trim(), line: n.startLine };
}

/** One node as a command (moby's ParseCommand); FROM is handled by the caller. */
export function commandOf(n: Node): Command {
  const base = { original: n.original.trim(), line: n.startLine };
  const noFlags = () => flags(n, []);
  switch (n.cmd) {
    case 'env': case 'label': {
      noFlags();
      if (!n.pairs?.length) throw atLeastOne(n.cmd.toUpperCase());
      for (const [k] of n.pairs) if (!k) throw new Error(`${n.cmd.toUpperCase()} names can not be blank`);
      return { ...base, kind: n.cmd, pairs: n.pairs };
    }
    case 'maintainer':
      noFlags();
      if (n.args.length !== 1) throw exactlyOne('MAINTAINER');
      return { ...base, kind: 'maintainer', text: n.args[0]! };
    case 'add': case 'copy': {
      // --chmod parses (BuildKit's parser, which dockerd's classic builder uses) and is refused
      // when its step runs (dispatch.ts)
      const f = flags(n, n.cmd === 'copy' ? ['from', 'chown', 'chmod'] : ['chown', 'chmod']);
      const what = n.cmd.toUpperCase();
      if (n.args.length < 2) throw new Error(`${what} requires at least two arguments, but only one was provided. Destination could not be determined.`);
      return { ...base, kind: n.cmd, sources: n.args.slice(0, -1), dest: n.args[n.args.length - 1]!, chown: f.chown ?? '', from: f.from ?? '', chmod: f.chmod ?? '' };
    }
    case 'onbuild': {
      noFlags();
      if (!n.sub) throw atLeastOne('ONBUILD');
      const trigger = n.sub.cmd.toUpperCase();
      if (trigger === 'ONBUILD') throw new Error('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (trigger === 'MAINTAINER' || trigger === 'FROM') throw new Error(`${trigger} isn't allowed as an ONBUILD trigger`);
      return { ...base, kind: 'onbuild', expression: n.args[0]! };
    }
    case 'workdir':
      noFlags();
      if (n.args.length !== 1) throw exactlyOne('WORKDIR');
      return { ...base, kind: 'workdir', path: n.args[0]! };
    case 'run': case 'cmd': case 'entrypoint':
      noFlags();
      // RUN [] is a JSON form with nothing in it, which buildkit's parseRun takes
      if (n.cmd === 'run' && !n.args.length && !n.json) throw atLeastOne('RUN');
      return { ...base, kind: n.cmd, cmdLine: n.args, prependShell: !n.json };
    case 'healthcheck': return { ...base, kind: 'healthcheck', health: healthcheck(n) };
    case 'expose':
      noFlags();
      if (!n.args.length) throw atLeastOne('EXPOSE');
      // sorted as buildkit's parseExpose does: the order written changes no cache key
      return { ...base, kind: 'expose', ports: [...n.args].sort() };
    case 'user':
      noFlags();
      if (n.args.length !== 1) throw exactlyOne('USER');
      return { ...base, kind: 'user', user: n.args[0]! };
    case 'volume':
      noFlags();
      if (!n.args.length) throw atLeastOne('VOLUME');
      return { ...base, kind: 'volume', volumes: n.args };
    case 'stopsignal':
      noFlags();
      if (n.args.length !== 1) throw exactlyOne('STOPSIGNAL');
      return { ...base, kind: 'stopsignal', signal: n.args[0]! };
    case 'arg': {
      noFlags();
      if (!n.args.length) throw atLeastOne('ARG');
      return {
        ...base, kind: 'arg', args: n.args.map((a) => {
          const eq = a.indexOf('=');
          if (eq === 0) throw new Error('ARG names can not be blank');
          return eq < 0 ? { key: a } : { key: a.slice(0, eq), value: a.slice(eq + 1) };
        }),
      };
    }
    case 'shell':
      noFlags();
      if (!n.args.length) throw atLeastOne('SHELL');
      if (!n.json) throw new Error('SHELL requires the arguments to be in JSON form');
      return { ...base, kind: 'shell', shell: n.args };
    default:
      throw new Error(`unknown instruction: ${n.cmd.toUpperCase()}`);
  }
}

/** Stages and meta args, every node checked (dockerd refuses the file before the first step). */
export function toInstructions(parsed: ParseResult): Instructions {
  const stages: Stage[] = [];
  const metaArgs: Instructions['metaArgs'] = [];
  for (const n of parsed.nodes) {
    try {
      if (n.cmd === 'from') { stages.push(stageOf(n)); continue; }
      const c = commandOf(n);
      if (!stages.length) {
        if (c.kind === 'arg') { metaArgs.push(c); continue; }
        throw invalidArgument('No build stage in current context');
      }
      stages[stages.length - 1]!.commands.push(c);
    } catch (e) {
      if (e instanceof Error && e.message === 'No build stage in current context') throw e;
      throw invalidArgument(`dockerfile parse error line ${n.startLine}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return { stages, metaArgs };
}

/**
 * The stages a build runs, as dockerd's build() makes them: cut at --target, then each --label
 * (in key order) a LABEL step of its own on the last stage left, the target (buildkit's
 * NewLabelCommand with noExpand: shown as `LABEL key=value`, its words taken as they are).
 */
export function stagesToBuild(stages: Stage[], target: string, labels: Record<string, string>): Stage[] {
  let out = stages;
  if (target) {
    const ix = stages.findIndex((s) => s.name === target.toLowerCase());
    if (ix < 0) throw invalidArgument(`failed to reach build target ${target} in Dockerfile`);
    out = stages.slice(0, ix + 1);
  }
  const last = out[out.length - 1];
  for (const key of last ? Object.keys(labels).sort() : []) {
    last!.commands.push({ kind: 'label', pairs: [[key, labels[key]!]], noExpand: true, original: `LABEL ${key}=${labels[key]}`, line: 0 });
  }
  return out;
}
