// tsulad's command line: its flags, --help and --version, read with node's parseArgs (the
// daemon's only use of a command-line parser did not justify commander's ~0.7 MB of heap).
// Help, version and the refusals read as commander wrote them: `error: unknown option '--x'`.
import { parseArgs } from 'node:util';
import type { DaemonFlags } from './config.js';

interface Flag { long: string; short?: string; arg?: string; key?: keyof DaemonFlags; help: string }

const FLAGS: readonly Flag[] = [
  { long: 'version', short: 'V', help: 'output the version number' },
  { long: 'host', short: 'H', arg: 'unix:///path', key: 'host', help: 'API socket (default unix:///run/tsula/tsulad.sock)' },
  { long: 'graph', arg: 'dir', key: 'graph', help: 'root of persistent state (default /var/lib/tsula)' },
  { long: 'state', arg: 'dir', key: 'state', help: 'root of runtime state (default /run/tsula)' },
  { long: 'config-file', arg: 'file', key: 'configFile', help: 'daemon.json (default /etc/tsula/daemon.json)' },
  { long: 'default-runtime', arg: 'name', key: 'defaultRuntime', help: 'runtime for containers that name none (default runc)' },
  { long: 'storage-driver', arg: 'name', key: 'storageDriver', help: 'overlay or vfs (default: the one the graph holds, else overlay)' },
  { long: 'log-level', arg: 'level', key: 'logLevel', help: 'debug, info, warn or error' },
  { long: 'group', arg: 'name', key: 'group', help: 'group owning the API socket (default tsula)' },
  { long: 'cri-socket', arg: 'unix:///path', key: 'criSocket', help: 'CRI socket for kubelet and crictl, "" for none (default unix:///run/tsula/cri.sock)' },
  { long: 'help', short: 'h', help: 'display help for command' },
];

/** What the command line asks for: a daemon with these flags, or text to print and an exit code. */
export type DaemonCommand = { flags: DaemonFlags } | { exit: number; stdout?: string; stderr?: string };

const term = (f: Flag) => `${f.short ? `-${f.short}, ` : ''}--${f.long}${f.arg ? ` <${f.arg}>` : ''}`;

/** Words of `text` in lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  return [...lines, line];
}

/** --help: commander's layout, descriptions wrapped to 80 columns. */
export function daemonHelp(): string {
  const col = Math.max(...FLAGS.map((f) => term(f).length)) + 2;
  const rows = FLAGS.map((f) => wrap(f.help, 80 - 2 - col).map((l, i) => `  ${(i ? '' : term(f)).padEnd(col)}${l}`).join('\n'));
  return `Usage: tsulad [options]\n\ntsula engine daemon\n\nOptions:\n${rows.join('\n')}\n`;
}

export function parseDaemonArgs(args: string[], version: string): DaemonCommand {
  const { tokens } = parseArgs({
    args, strict: false, allowPositionals: true, tokens: true,
    options: Object.fromEntries(FLAGS.map((f) => [f.long, { type: f.arg ? 'string' : 'boolean', ...(f.short ? { short: f.short } : {}) }] as const)),
  });
  // strict by hand, to word refusals as commander did (parseArgs' strict mode has its own
  // words), in its order: a missing value or --version at once, then --help, then the rest
  const flags: DaemonFlags = {};
  const fail = (msg: string): DaemonCommand => ({ exit: 1, stderr: `error: ${msg}\n` });
  let help = false;
  let unknown: string | undefined;
  let positionals = 0;
  for (const t of tokens) {
    if (t.kind === 'positional') positionals++;
    if (t.kind !== 'option') continue;
    const f = FLAGS.find((x) => x.long === t.name);
    if (!f || (!f.key && t.value !== undefined)) { unknown ??= t.value === undefined ? t.rawName : `${t.rawName}=${t.value}`; continue; }
    if (f.long === 'version') return { exit: 0, stdout: `${version}\n` };
    if (f.long === 'help') { help = true; continue; }
    if (t.value === undefined) return fail(`option '${term(f)}' argument missing`);
    flags[f.key!] = t.value;
  }
  if (help) return { exit: 0, stdout: daemonHelp() };
  if (unknown) return fail(`unknown option '${unknown}'`);
  if (positionals) return fail(`too many arguments. Expected 0 arguments but got ${positionals}.`);
  return { flags };
}
