// The tsula CLI entry: global flags, command lookup (registry.ts) and error reporting.
// Commands are loaded with import() only when used, so starting `tsula ps` does not pay
// for the template engine, progress bars or any other command's code.
import { HelpRequested, helpText, parseArgs, UsageError, type CommandSpec } from './args.js';
import { COMMANDS, findSub, GROUPS, groupHelp, specUnder, usage } from './registry.js';
import { ApiError, ConnectError, DEFAULT_HOST } from './client.js';
import { Cli, StatusError, type Streams } from './context.js';

interface Globals { host?: string; config?: string; logLevel?: string; debug: boolean; version: boolean; help: boolean; rest: string[] }

// docker's --log-level values (logrus.ParseLevel's names); anything else stops the CLI
const LOG_LEVELS = new Set(['panic', 'fatal', 'error', 'warn', 'warning', 'info', 'debug', 'trace']);

function parseGlobals(argv: string[]): Globals {
  const g: Globals = { debug: false, version: false, help: false, rest: [] };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-H' || a === '--host') {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: ${a}`, '');
      g.host = argv[++i];
    } else if (a.startsWith('--host=')) g.host = a.slice('--host='.length);
    else if (a.startsWith('-H') && a.length > 2) g.host = a.slice(a[2] === '=' ? 3 : 2);
    else if (a === '-D' || a === '--debug') g.debug = true;
    else if (a === '-v' || a === '--version') g.version = true;
    else if (a === '-h' || a === '--help') g.help = true;
    else if (a === '-l' || a === '--log-level' || a === '--config') {
      if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: ${a === '-l' ? "'l' in -l" : a}`, '');
      if (a === '--config') g.config = argv[++i]; else g.logLevel = argv[++i];
    } else if (a.startsWith('--log-level=')) g.logLevel = a.slice('--log-level='.length);
    else if (a.startsWith('-l') && a.length > 2) g.logLevel = a.slice(a[2] === '=' ? 3 : 2);
    else if (a.startsWith('--config=')) g.config = a.slice('--config='.length);
    else if (a.startsWith('-')) throw new UsageError(`unknown flag: ${a}`, '');
    else break;
  }
  g.rest = argv.slice(i);
  return g;
}

/** The system's words of a failed write ("ENOSPC: no space left on device, write" → its middle). */
function writeFailure(err: NodeJS.ErrnoException): string {
  return /^[A-Z0-9]+: (.*?), write$/.exec(err.message)?.[1] ?? err.message;
}

/**
 * stdout that can't be written: `tsula logs x | head -1` (EPIPE) is no error; a full disk
 * (`tsula save x > file`) is docker's one line, "write /dev/stdout: no space left on
 * device", exit 1, not a trace. A file or tty stdout throws from write() itself, a pipe
 * emits 'error': both end here.
 */
function stdoutFailed(err: NodeJS.ErrnoException): never {
  if (err.code === 'EPIPE') process.exit(0);
  try { process.stderr.write(`write /dev/stdout: ${writeFailure(err)}\n`); } catch { /* nowhere to say it */ }
  process.exit(1);
}

function defaultStreams(): Streams {
  for (const s of [process.stdout, process.stderr]) s.on('error', stdoutFailed);
  process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
    if (err?.syscall === 'write' && typeof err.code === 'string') stdoutFailed(err);
    // anything else: what node prints for it, and its exit code
    process.stderr.write(`${err?.stack ?? String(err)}\n`);
    process.exit(1);
  });
  return {
    // process.stdin is created on first use; commands that never read it never open it.
    get stdin() { return process.stdin; },
    stdout: process.stdout,
    stderr: process.stderr,
  } as Streams;
}

/** Run the CLI with argv (without "node tsula"); resolves to the exit code. */
export async function main(argv: string[], streams: Streams = defaultStreams()): Promise<number> {
  const err = (s: string) => streams.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
  let g: Globals;
  try {
    g = parseGlobals(argv);
  } catch (e) {
    err(`${(e as Error).message}\nSee 'tsula --help'.`);
    return 125;
  }
  if (g.logLevel !== undefined && !LOG_LEVELS.has(g.logLevel.toLowerCase())) {
    err(`Unable to parse logging level: ${g.logLevel}`);
    return 1;
  }
  // docker's --config names the client's config dir; tsula's credentials live in its
  // config.json (credentials.ts reads TSULA_CONFIG)
  if (g.config !== undefined) process.env.TSULA_CONFIG = `${g.config.replace(/\/+$/, '') || '/'}/config.json`;
  if (g.version) {
    const { CLIENT_VERSION } = await import('./commands/system.js');
    streams.stdout.write(`tsula version ${CLIENT_VERSION}\n`);
    return 0;
  }
  let [name, ...rest] = g.rest;
  if (name === 'help') {
    name = rest[0];
    rest = [...rest.slice(1), '--help'];
    g.help = !name;
  }
  if (!name || g.help) {
    streams.stdout.write(usage(DEFAULT_HOST));
    return 0;
  }
  let group: { name: string; found: NonNullable<ReturnType<typeof findSub>> } | undefined;
  if (GROUPS[name]) {
    const [sub, ...more] = rest;
    // docker: the group alone shows its help on stderr, --help on stdout; a word it does
    // not know is an error with the group's usage
    if (sub === undefined || sub === '--help' || sub === '-h') {
      (sub === undefined ? streams.stderr : streams.stdout).write(groupHelp(name));
      return 0;
    }
    const found = findSub(name, sub);
    if (!found) {
      err(`tsula: '${sub}' is not a tsula ${name} command.\n${groupHelp(name).trimEnd()}`);
      return 1;
    }
    group = { name, found };
    name = found.sub.target;
    rest = [...(found.sub.prefix ?? []), ...more];
  }
  const entry = COMMANDS[name];
  if (!entry || (!group && name.includes(' '))) {
    err(`tsula: '${name}' is not a tsula command.\nSee 'tsula --help'`);
    return 1;
  }
  // not DOCKER_HOST: on a host that runs dockerd too, it names dockerd, and `tsula ps`
  // must not list docker's containers (isula's CLI has its own variable too)
  const host = g.host ?? (process.env.TSULA_HOST || DEFAULT_HOST);
  const cli = new Cli(host, streams, g.debug || !!process.env.TSULA_DEBUG);
  const loaded = await entry.load();
  const spec = group ? specUnder(group.name, group.found, loaded.spec) : loaded.spec;
  try {
    const parsed = parseArgs(spec, rest);
    return await loaded.run(cli, parsed);
  } catch (e) {
    return report(cli, e, spec);
  }
}

/** Print an error the way docker does and choose the exit code. */
function report(cli: Cli, e: unknown, spec: CommandSpec): number {
  if (e instanceof HelpRequested) {
    cli.out.write(helpText(spec));
    return 0;
  }
  if (e instanceof UsageError) {
    // Argument-count errors already carry their own help pointer and usage.
    cli.warn(e.exitCode === 125 ? `${e.message}\nSee 'tsula ${spec.name} --help'.` : e.message);
    return e.exitCode;
  }
  if (e instanceof StatusError) {
    if (e.message) cli.warn(e.message);
    return e.exitCode;
  }
  if (e instanceof ApiError || e instanceof ConnectError) {
    cli.warn(e.message);
    return 1;
  }
  if (e instanceof Error && e.name === 'TemplateError') {
    cli.warn(`template parsing error: ${e.message}`);
    return 1;
  }
  const msg = e instanceof Error ? e.message : String(e);
  cli.warn(cli.debug && e instanceof Error && e.stack ? e.stack : msg);
  return 1;
}
