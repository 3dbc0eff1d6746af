// Every tsula command and docker's management groups (`tsula image ls`, `tsula container rm`,
// `tsula system df`): a group's subcommand runs the same command module as the classic
// name, under the group's name in its help and errors. Command modules are loaded with
// import() only when used, and named only here.
import type { CommandSpec, Parsed } from './args.js';
import type { Cli } from './context.js';
import { compareStrings } from '../common/compare.js';

export type RunFn = (cli: Cli, p: Parsed) => Promise<number>;
export interface Loaded { spec: CommandSpec; run: RunFn }
export interface Entry { desc: string; load: () => Promise<Loaded> }

const cmd = (desc: string, load: () => Promise<Loaded>): Entry => ({ desc, load });

type ObjectModule = Record<string, unknown>;
const OBJECT_MODULES: Record<string, () => Promise<ObjectModule>> = {
  network: () => import('./commands/network.js'),
  volume: () => import('./commands/volume.js'),
};

/** "network ls", "volume rm", ...: each module exports <verb>Spec and <verb>. */
function objectCommands(kind: 'network' | 'volume', verbs: Record<string, string>): Record<string, Entry> {
  return Object.fromEntries(Object.entries(verbs).map(([verb, desc]) => [`${kind} ${verb}`, cmd(desc, async () => {
    const m = await OBJECT_MODULES[kind]!();
    return { spec: m[`${verb}Spec`] as CommandSpec, run: m[verb] as RunFn };
  })]));
}

/** Every command; a name with a space is reached through its group only. */
export const COMMANDS: Record<string, Entry> = {
  attach: cmd('Attach local standard input, output, and error streams to a running container',
    async () => { const m = await import('./commands/attach.js'); return { spec: m.attachSpec, run: m.attach }; }),
  build: cmd('Build an image from a Dockerfile',
    async () => { const m = await import('./commands/build.js'); return { spec: m.spec, run: m.run }; }),
  commit: cmd("Create a new image from a container's changes",
    async () => { const m = await import('./commands/files.js'); return { spec: m.commitSpec, run: m.commit }; }),
  'container prune': cmd('Remove all stopped containers',
    async () => { const m = await import('./commands/prune.js'); return { spec: m.containerPruneSpec, run: m.containerPrune }; }),
  cp: cmd('Copy files/folders between a container and the local filesystem',
    async () => { const m = await import('./commands/cp.js'); return { spec: m.spec, run: m.run }; }),
  create: cmd('Create a new container',
    async () => { const m = await import('./commands/run.js'); return { spec: m.createSpec, run: m.create }; }),
  diff: cmd("Inspect changes to files or directories on a container's filesystem",
    async () => { const m = await import('./commands/files.js'); return { spec: m.diffSpec, run: m.diff }; }),
  events: cmd('Get real time events from the server',
    async () => { const m = await import('./commands/events.js'); return { spec: m.spec, run: m.run }; }),
  exec: cmd('Execute a command in a running container',
    async () => { const m = await import('./commands/exec.js'); return { spec: m.spec, run: m.run }; }),
  export: cmd("Export a container's filesystem as a tar archive",
    async () => { const m = await import('./commands/files.js'); return { spec: m.exportSpec, run: m.exportFs }; }),
  history: cmd('Show the history of an image',
    async () => { const m = await import('./commands/history.js'); return { spec: m.spec, run: m.run }; }),
  images: cmd('List images',
    async () => { const m = await import('./commands/images.js'); return { spec: m.imagesSpec, run: m.images }; }),
  'image prune': cmd('Remove unused images',
    async () => { const m = await import('./commands/prune.js'); return { spec: m.imagePruneSpec, run: m.imagePrune }; }),
  import: cmd('Import the contents from a tarball to create a filesystem image',
    async () => { const m = await import('./commands/files.js'); return { spec: m.importSpec, run: m.importFs }; }),
  info: cmd('Display system-wide information',
    async () => { const m = await import('./commands/system.js'); return { spec: m.infoSpec, run: m.info }; }),
  inspect: cmd('Return low-level information on tsula objects',
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
  ...objectCommands('network', {
    ls: 'List networks', create: 'Create a network', inspect: 'Display detailed information on one or more networks',
    rm: 'Remove one or more networks', prune: 'Remove all unused networks', connect: 'Connect a container to a network',
    disconnect: 'Disconnect a container from a network',
  }),
  ...objectCommands('volume', {
    ls: 'List volumes', create: 'Create a volume', inspect: 'Display detailed information on one or more volumes',
    rm: 'Remove one or more volumes', prune: 'Remove all unused local volumes',
  }),
  pause: cmd('Pause all processes within one or more containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.pauseSpec, run: m.pause }; }),
  port: cmd('List port mappings or a specific mapping for the container',
    async () => { const m = await import('./commands/files.js'); return { spec: m.portSpec, run: m.port }; }),
  ps: cmd('List containers',
    async () => { const m = await import('./commands/ps.js'); return { spec: m.spec, run: m.run }; }),
  pull: cmd('Download an image from a registry',
    async () => { const m = await import('./commands/pull.js'); return { spec: m.spec, run: m.run }; }),
  push: cmd('Push an image or a repository to a registry',
    async () => { const m = await import('./commands/push.js'); return { spec: m.spec, run: m.run }; }),
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
  'sandbox shell': cmd('Open a shell on the debug console of a VM sandbox',
    async () => { const m = await import('./commands/sandbox.js'); return { spec: m.shellSpec, run: m.shell }; }),
  save: cmd('Save one or more images to a tar archive (streamed to STDOUT by default)',
    async () => { const m = await import('./commands/images.js'); return { spec: m.saveSpec, run: m.save }; }),
  start: cmd('Start one or more stopped containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.startSpec, run: m.start }; }),
  stats: cmd('Display a live stream of container(s) resource usage statistics',
    async () => { const m = await import('./commands/stats.js'); return { spec: m.spec, run: m.run }; }),
  stop: cmd('Stop one or more running containers',
    async () => { const m = await import('./commands/lifecycle.js'); return { spec: m.stopSpec, run: m.stop }; }),
  'system df': cmd('Show tsula disk usage',
    async () => { const m = await import('./commands/df.js'); return { spec: m.spec, run: m.run }; }),
  'system prune': cmd('Remove unused data',
    async () => { const m = await import('./commands/prune.js'); return { spec: m.systemPruneSpec, run: m.systemPrune }; }),
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

/** A group's subcommand: the command it runs, and what docker says differently there. */
interface Sub {
  target: string;
  aliases?: string[];
  desc?: string;
  usage?: string;
  /** Arguments put before the user's (`image inspect` is `inspect --type=image`). */
  prefix?: string[];
  /** Flags of the command that docker's subcommand does not have: accepted, not shown. */
  hide?: string[];
}

interface Group { desc: string; subs: Record<string, Sub> }

const same = (target: string, more: Partial<Sub> = {}): Sub => ({ target, ...more });

/** docker's management commands, with tsula's own `sandbox`. */
export const GROUPS: Record<string, Group> = {
  container: {
    desc: 'Manage containers',
    subs: {
      attach: same('attach'), commit: same('commit'), cp: same('cp'), create: same('create'), diff: same('diff'), exec: same('exec'), export: same('export'),
      inspect: same('inspect', { desc: 'Display detailed information on one or more containers', usage: '[OPTIONS] CONTAINER [CONTAINER...]', prefix: ['--type=container'] }),
      kill: same('kill'), logs: same('logs'), ls: same('ps', { aliases: ['ps', 'list'] }), pause: same('pause'), port: same('port'),
      prune: same('container prune'), rename: same('rename'), restart: same('restart'),
      rm: same('rm', { aliases: ['remove'] }), run: same('run'), start: same('start'), stats: same('stats'), stop: same('stop'),
      top: same('top'), unpause: same('unpause'), update: same('update'), wait: same('wait'),
    },
  },
  image: {
    desc: 'Manage images',
    subs: {
      history: same('history'), import: same('import'),
      inspect: same('inspect', { desc: 'Display detailed information on one or more images', usage: '[OPTIONS] IMAGE [IMAGE...]', prefix: ['--type=image'], hide: ['size'] }),
      build: same('build'), load: same('load'), ls: same('images', { aliases: ['list'] }), prune: same('image prune'), pull: same('pull'), push: same('push'),
      rm: same('rmi', { aliases: ['rmi', 'remove'] }), save: same('save'), tag: same('tag'),
    },
  },
  network: {
    desc: 'Manage networks',
    subs: {
      connect: same('network connect'), create: same('network create'), disconnect: same('network disconnect'),
      inspect: same('network inspect'), ls: same('network ls', { aliases: ['list'] }), prune: same('network prune'),
      rm: same('network rm', { aliases: ['remove'] }),
    },
  },
  sandbox: {
    desc: 'Manage the sandboxes of tsula-sandboxer',
    subs: { ls: same('sandbox ls', { aliases: ['list', 'ps'] }), shell: same('sandbox shell') },
  },
  system: {
    desc: 'Manage tsula',
    subs: { df: same('system df'), events: same('events'), info: same('info'), prune: same('system prune') },
  },
  volume: {
    desc: 'Manage volumes',
    subs: {
      create: same('volume create'), inspect: same('volume inspect'), ls: same('volume ls', { aliases: ['list'] }),
      prune: same('volume prune'), rm: same('volume rm', { aliases: ['remove'] }),
    },
  },
};

/** A group's subcommand by its name or an alias. */
export function findSub(group: string, name: string): { name: string; sub: Sub } | undefined {
  const subs = GROUPS[group]?.subs ?? {};
  for (const [n, sub] of Object.entries(subs)) if (n === name || sub.aliases?.includes(name)) return { name: n, sub };
  return undefined;
}

/** The command's spec as docker shows it under the group: `tsula image ls`, aliases `ls, list`. */
export function specUnder(group: string, found: { name: string; sub: Sub }, spec: CommandSpec): CommandSpec {
  const { name, sub } = found;
  return {
    ...spec,
    name: `${group} ${name}`,
    desc: sub.desc ?? spec.desc,
    usage: sub.usage ?? spec.usage,
    aliases: sub.aliases?.length ? [name, ...sub.aliases] : undefined,
    // what the group decides (image inspect's --type) is not the user's to give: not in its help
    flags: spec.flags.map((f) => (sub.hide?.includes(f.long) || sub.prefix?.some((a) => a.startsWith(`--${f.long}=`)) ? { ...f, hidden: true } : f)),
  };
}

/** `tsula GROUP --help`, docker's layout. */
export function groupHelp(group: string): string {
  const g = GROUPS[group]!;
  const rows = Object.entries(g.subs).sort(([a], [b]) => compareStrings(a, b))
    .map(([n, sub]) => [n, sub.desc ?? COMMANDS[sub.target]!.desc] as const);
  // cobra's padding: the longest name, at least 11, and a space
  const w = Math.max(11, ...rows.map(([n]) => n.length)) + 1;
  return `\nUsage:  tsula ${group} COMMAND\n\n${g.desc}\n\nCommands:\n${rows.map(([n, d]) => `  ${n.padEnd(w)}${d}`).join('\n')}\n\n` +
    `Run 'tsula ${group} COMMAND --help' for more information on a command.\n`;
}

/** `tsula --help`. */
export function usage(defaultHost: string): string {
  const top = Object.entries(COMMANDS).filter(([k]) => !k.includes(' '));
  const w = Math.max(...top.map(([k]) => k.length));
  const list = top.map(([k, e]) => `  ${k.padEnd(w)}  ${e.desc}`).join('\n');
  const groups = Object.entries(GROUPS).map(([k, g]) => `  ${k.padEnd(10)}  ${g.desc}`).join('\n');
  return `\nUsage:  tsula [OPTIONS] COMMAND\n\nA container engine: runc via conmon, shim v2, VM sandboxes\n\n` +
    `Options:\n      --config string      Location of client config files (its config.json holds the logins)\n` +
    `  -D, --debug              Enable debug mode\n` +
    `  -H, --host string        Daemon socket to connect to (default "${defaultHost}", env TSULA_HOST)\n` +
    `  -l, --log-level string   Set the logging level ("debug"|"info"|"warn"|"error"|"fatal") (default "info")\n` +
    `  -v, --version            Print version information and quit\n\n` +
    `Management Commands:\n${groups}\n\n` +
    `Commands:\n${list}\n\nRun 'tsula COMMAND --help' for more information on a command.\n`;
}
