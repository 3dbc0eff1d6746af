// The tsula CLI entry: global flags, command lookup and error reporting. Commands are
// loaded with import() only when used, so starting `tsula ps` does not pay for the
// template engine, progress bars or any other command's code.
import { HelpRequested, helpText, parseArgs, UsageError, type CommandSpec, type Parsed } from './args.js';
import { ApiError, ConnectError, DEFAULT_HOST } from './client.js';
import { Cli, StatusError, type Streams } from './context.js';

type RunFn = (cli: Cli, p: Parsed) => Promise<number>;
interface Loaded { spec: CommandSpec; run: RunFn }
interface Entry { desc: string; load: () => Promise<Loaded> }

const cmd = (desc: string, load: () => Promise<Loaded>): Entry => ({ desc, load });

type ObjectModule = Record<string, unknown>;
const OBJECT_MODULES: Record<string, () => Promise<ObjectModule>> = {
  'network.js': () => import('./commands/network.js'),
  'volume.js': () => import('./commands/volume.js'),
};

/** "network ls", "volume rm", …: each module exports <verb>Spec and <verb>. */
function objectCommands(kind: string, file: string, verbs: Record<string, string>): Record<string, Entry> {
  return Object.fromEntries(Object.entries(verbs).map(([verb, desc]) => [`${kind} ${verb}`, cmd(desc, async () => {
    const m = await OBJECT_MODULES[file]!();
    return { spec: m[`${verb}Spec`] as CommandSpec, run: m[verb] as RunFn };
  })]));
}

/** Every command; the loaders are the only place command modules are named. */
const COMMANDS: Record<string, Entry> = {
  attach: cmd('Attach local standard input, output, and error streams to a running container',
    async () => { const m = await import('./commands/attach.js'); return { spec: m.attachSpec, run: m.attach }; }),
  create: cmd('Create a new container',
    async () => { const m = await import('./commands/run.js'); return { spec: m.createSpec, run: m.create }; }),
  events: cmd('Get real time events from the server',
    async () => { const m = await import('./commands/events.js'); return { spec: m.spec, run: m.run }; }),
  exec: cmd('Execute a command in a running container',
    async () => { const m = await import('./commands/exec.js'); return { spec: m.spec, run: m.run }; }),
  images: cmd('List images',
    async () => { const m = await import('./commands/images.js'); return { spec: m.imagesSpec, run: m.images }; }),
  info: cmd('Display system-wide information',
    async () => { const m = await import('./commands/system.js'); return { spec: m.infoSpec, run: m.info }; }),
  inspect: cmd('Return low-level information on containers and images',
    async () => { const m = await import('./commands/inspect.js'); return { spec: m.spec, run: (c, p) => m.run(c, p) }; }),
  kill: cmd('Kill one or more running containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.killSpec, run: m.kill }; }),
  load: cmd('Load an image from a tar archive or STDIN',
    async () => { const m = await import('./commands/load.js'); return { spec: m.spec, run: m.run }; }),
  login: cmd('Log in to a registry',
    async () => { const m = await import('./commands/login.js'); return { spec: m.loginSpec, run: m.login }; }),
  logout: cmd('Log out from a registry',
    async () => { const m = await import('./commands/login.js'); return { spec: m.logoutSpec, run: m.logout }; }),
  logs: cmd('Fetch the logs of a container',
    async () => { const m = await import('./commands/logs.js'); return { spec: m.spec, run: m.run }; }),
  ...objectCommands('network', 'network.js', {
    ls: 'List networks', create: 'Create a network', inspect: 'Display detailed information on one or more networks',
    rm: 'Remove one or more networks', prune: 'Remove all unused networks', connect: 'Connect a container to a network',
    disconnect: 'Disconnect a container from a network',
  }),
  ...objectCommands('volume', 'volume.js', {
    ls: 'List volumes', create: 'Create a volume', inspect: 'Display detailed information on one or more volumes',
    rm: 'Remove one or more volumes', prune: 'Remove all unused local volumes',
  }),
  'image prune': cmd('Remove unused images',
    async () => { const m = await import('./commands/image-prune.js'); return { spec: m.spec, run: m.run }; }),
  pause: cmd('Pause all processes within one or more containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.pauseSpec, run: m.pause }; }),
  ps: cmd('List containers',
    async () => { const m = await import('./commands/ps.js'); return { spec: m.spec, run: m.run }; }),
  pull: cmd('Download an image from a registry',
    async () => { const m = await import('./commands/pull.js'); return { spec: m.spec, run: m.run }; }),
  rename: cmd('Rename a container',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.renameSpec, run: m.rename }; }),
  restart: cmd('Restart one or more containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.restartSpec, run: m.restart }; }),
  rm: cmd('Remove one or more containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.rmSpec, run: m.rm }; }),
  rmi: cmd('Remove one or more images',
    async () => { const m = await import('./commands/images.js'); return { spec: m.rmiSpec, run: m.rmi }; }),
  run: cmd('Create and run a new container from an image',
    async () => { const m = await import('./commands/run.js'); return { spec: m.runSpec, run: m.run }; }),
  'sandbox ls': cmd('List the sandboxes of tsula-sandboxer',
    async () => { const m = await import('./commands/sandbox.js'); return { spec: m.lsSpec, run: m.ls }; }),
  'sandbox shell': cmd('Open a shell in the guest of a VM sandbox',
    async () => { const m = await import('./commands/sandbox.js'); return { spec: m.shellSpec, run: m.shell }; }),
  save: cmd('Save one or more images to a tar archive (streamed to STDOUT by default)',
    async () => { const m = await import('./commands/images.js'); return { spec: m.saveSpec, run: m.save }; }),
  start: cmd('Start one or more stopped containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.startSpec, run: m.start }; }),
  stop: cmd('Stop one or more running containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.stopSpec, run: m.stop }; }),
  tag: cmd('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    async () => { const m = await import('./commands/images.js'); return { spec: m.tagSpec, run: m.tag }; }),
  top: cmd('Display the running processes of a container',
    async () => { const m = await import('./commands/attach.js'); return { spec: m.topSpec, run: m.top }; }),
  unpause: cmd('Unpause all processes within one or more containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.unpauseSpec, run: m.unpause }; }),
  update: cmd('Update configuration of one or more containers',
    async () => { const m = await import('./commands/update.js'); return { spec: m.updateSpec, run: m.update }; }),
  version: cmd('Show the tsula version information',
    async () => { const m = await import('./commands/system.js'); return { spec: m.versionSpec, run: m.version }; }),
  wait: cmd('Block until one or more containers stop, then print their exit codes',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.waitSpec, run: m.wait }; }),
};

/** docker's management commands ("container ls", "image rm", …) map onto the classic ones. */
const MANAGEMENT: Record<string, Record<string, string>> = {
  container: {
    attach: 'attach', create: 'create', exec: 'exec', inspect: 'inspect', kill: 'kill', logs: 'logs',
    ls: 'ps', list: 'ps', ps: 'ps', pause: 'pause', rename: 'rename', restart: 'restart', rm: 'rm',
    remove: 'rm', run: 'run', start: 'start', stop: 'stop', top: 'top', unpause: 'unpause', update: 'update', wait: 'wait',
  },
  image: {
    inspect: 'inspect', load: 'load', ls: 'images', list: 'images', pull: 'pull', rm: 'rmi', remove: 'rmi',
    save: 'save', tag: 'tag', prune: 'image prune',
  },
  network: {
    ls: 'network ls', list: 'network ls', create: 'network create', inspect: 'network inspect', rm: 'network rm', remove: 'network rm',
    prune: 'network prune', connect: 'network connect', disconnect: 'network disconnect',
  },
  volume: {
    ls: 'volume ls', list: 'volume ls', create: 'volume create', inspect: 'volume inspect', rm: 'volume rm', remove: 'volume rm', prune: 'volume prune',
  },
  sandbox: { ls: 'sandbox ls', list: 'sandbox ls', ps: 'sandbox ls', shell: 'sandbox shell' },
  system: { events: 'events', info: 'info' },
};

function usage(): string {
  // "image prune" and friends are reached through their management command, not listed here
  const top = Object.entries(COMMANDS).filter(([k]) => !k.includes(' '));
  const w = Math.max(...top.map(([k]) => k.length));
  const list = top.map(([k, e]) => `  ${k.padEnd(w)}  ${e.desc}`).join('\n');
  return `\nUsage:  tsula [OPTIONS] COMMAND\n\nA container engine: runc via conmon, shim v2, VM sandboxes\n\n` +
    `Options:\n  -D, --debug          Enable debug mode\n` +
    `  -H, --host string    Daemon socket to connect to (default "${DEFAULT_HOST}", env TSULA_HOST)\n` +
    `  -v, --version        Print version information and quit\n\n` +
    `Management Commands:\n  container   Manage containers\n  image       Manage images\n  network     Manage networks\n` +
    `  sandbox     Manage the sandboxes of tsula-sandboxer\n  system      Manage tsula\n  volume      Manage volumes\n\n` +
    `Commands:\n${list}\n\nRun 'tsula COMMAND --help' for more information on a command.\n`;
}

interface Globals { host?: string; debug: boolean; version: boolean; help: boolean; rest: string[] }

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
    else if (a === '-l' || a === '--log-level') i++;
    else if (a.startsWith('--log-level=')) continue;
    else if (a.startsWith('-')) throw new UsageError(`unknown flag: ${a}`, '');
    else break;
  }
  g.rest = argv.slice(i);
  return g;
}

function defaultStreams(): Streams {
  // `tsula logs x | head -1`: a reader that closed the pipe is not an error worth a trace.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
  }
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
  if (g.version) {
    const { CLIENT_VERSION } = await import('./commands/system.js');
    streams.stdout.write(`tsula version ${CLIENT_VERSION}\n`);
    return 0;
  }
  let [name, ...rest] = g.rest;
  if (name === 'help') {
    name = rest[0];
    rest = ['--help'];
    g.help = !name;
  }
  if (!name || g.help) {
    streams.stdout.write(usage());
    return 0;
  }
  const sub = MANAGEMENT[name];
  let forcedType: string | undefined;
  if (sub) {
    const target = rest[0] ? sub[rest[0]] : undefined;
    if (!target) {
      const cmds = Object.keys(sub).join(', ');
      (rest[0] ? err : (s: string) => streams.stdout.write(`${s}\n`))(
        `${rest[0] ? `tsula: '${name} ${rest[0]}' is not a tsula command.\n` : ''}Usage:  tsula ${name} COMMAND\n\nCommands: ${cmds}`);
      return rest[0] ? 1 : 0;
    }
    if (target === 'inspect') forcedType = name; // network/volume inspect are commands of their own
    name = target;
    rest = rest.slice(1);
  }
  const entry = COMMANDS[name];
  if (!entry) {
    err(`tsula: '${name}' is not a tsula command.\nSee 'tsula --help'`);
    return 1;
  }
  const host = g.host ?? process.env.TSULA_HOST ?? DEFAULT_HOST;
  const cli = new Cli(host, streams, g.debug || !!process.env.TSULA_DEBUG);
  const loaded = await entry.load();
  try {
    if (forcedType) rest = [`--type=${forcedType}`, ...rest];
    const parsed = parseArgs(loaded.spec, rest);
    return await loaded.run(cli, parsed);
  } catch (e) {
    return report(cli, e, loaded.spec);
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
