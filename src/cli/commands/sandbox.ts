// `tsula sandbox ls` and `tsula sandbox shell`: the sandboxes (pods) that tsula-sandboxer holds.
// tsulad (-H) says which sandboxers it uses; their private Admin service lists the records
// (sandboxers.ts), and a VM sandbox's debug console (a unix socket QEMU listens on, a shell
// on the guest's /dev/hvc0 at the other end) is bridged to this terminal, as Kuasar's
// `ncat --vsock CID 1025` does.
import * as net from 'node:net';
import { randomBytes } from '../../common/crypto.js';
import type { CommandSpec, FlagSpec, Parsed } from '../args.js';
import { StatusError, type Cli } from '../context.js';
import { tabwrite } from '../format.js';
import { timeAgo } from '../units.js';
import { DEFAULT_ADDRESS, type SandboxSummary } from '../../sandboxer/admin.js';
import { listAll, sandboxersOf, type SandboxerRef } from '../sandboxers.js';
import { compareStrings } from '../../common/compare.js';

const STATE_FLAG: FlagSpec = {
  long: 'sandboxer-state', kind: 'string', meta: 'string',
  desc: 'Ask the tsula-sandboxer with this state directory (its task.sock), not the daemon\'s',
};
const ADDRESS_FLAG: FlagSpec = {
  long: 'address', kind: 'string', meta: 'string',
  desc: `Ask the tsula-sandboxer listening on this socket (its Controller's, e.g. ${DEFAULT_ADDRESS}), not the daemon's`,
};

const WHICH = '\n\nThe sandboxers asked are the ones the daemon (-H, TSULA_HOST) uses, as its /info names them;\n' +
  '--address or --sandboxer-state ask another (one run by containerd, or started by hand).\n' +
  'The table says which one it lists.';

export const lsSpec: CommandSpec = {
  name: 'sandbox ls',
  usage: '[OPTIONS]',
  desc: 'List the sandboxes (pods) of a tsula-sandboxer' + WHICH,
  maxArgs: 0,
  flags: [
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display sandbox IDs' },
    ADDRESS_FLAG,
    STATE_FLAG,
  ],
};

export const shellSpec: CommandSpec = {
  name: 'sandbox shell',
  usage: '[OPTIONS] SANDBOX',
  desc: 'Open a shell on the debug console of a VM sandbox\n\n' +
    'SANDBOX is a sandbox ID or a unique prefix of one. The sandbox must be of kind vmm and\n' +
    'ready. On a terminal, leave with Ctrl-] (the shell stays running in the guest). With\n' +
    'stdin not a terminal, its lines run as a script and only their output is printed:\n' +
    "echo 'uname -r' | tsula sandbox shell SANDBOX" + WHICH,
  minArgs: 1,
  maxArgs: 1,
  flags: [ADDRESS_FLAG, STATE_FLAG],
};

/** The escape byte that leaves the shell (telnet's Ctrl-]). */
export const ESCAPE = 0x1d;
/** Piped stdin: how long the console may stay silent before we give up on it. */
export const SILENT_MS = 15_000;

/**
 * Piped use of a console that is a tty with echo and a prompt: turn both off, and print
 * markers around the script's output. printf '%s%s' makes the marker appear in the output
 * only, never in the echo of the line that prints it.
 */
export function pipedMarkers(tag: string) {
  return {
    setup: `stty -echo -onlcr; __tsula_ps1=$PS1; PS1=; printf '%s%s\\n' __tsula_ ${tag}_start\n`,
    start: `__tsula_${tag}_start\n`,
    teardown: `printf '%s%s\\n' __tsula_ ${tag}_end; stty echo onlcr; PS1=$__tsula_ps1\n`,
    end: `__tsula_${tag}_end\n`,
  };
}

/** The output between the two markers, as it arrives (a partial marker is held back). */
export class MarkedOutput {
  private buf = '';
  private started = false;
  ended = false;
  constructor(private readonly m: ReturnType<typeof pipedMarkers>, private readonly write: (s: string) => void) {}
  get seenStart(): boolean { return this.started; }
  push(chunk: string): void {
    if (this.ended) return;
    this.buf += chunk;
    if (!this.started) {
      const i = this.buf.indexOf(this.m.start);
      if (i < 0) { this.buf = this.buf.slice(-this.m.start.length); return; }
      this.started = true;
      this.buf = this.buf.slice(i + this.m.start.length);
    }
    const j = this.buf.indexOf(this.m.end);
    if (j >= 0) {
      this.write(this.buf.slice(0, j));
      this.buf = '';
      this.ended = true;
      return;
    }
    const keep = this.m.end.length - 1;
    if (this.buf.length > keep) {
      this.write(this.buf.slice(0, this.buf.length - keep));
      this.buf = this.buf.slice(this.buf.length - keep);
    }
  }
}

/** The sandboxers this invocation asks (the flags' one, else the daemon's). */
function which(cli: Cli, p: Parsed): Promise<SandboxerRef[]> {
  return sandboxersOf(cli, { state: p.str('sandboxer-state') || undefined, address: p.str('address') || undefined });
}

/** The `sandbox ls` table (newest first, as `tsula ps`). */
export function renderTable(list: SandboxSummary[], o: { trunc: boolean; now?: number }): string {
  const now = o.now ?? Date.now();
  const rows = sortNewestFirst(list).map((s) => {
    const created = Date.parse(s.createdAt);
    return [
      o.trunc ? s.id.slice(0, 12) : s.id,
      s.kind,
      s.state,
      s.pid > 0 ? String(s.pid) : '-',
      Number.isNaN(created) ? '' : timeAgo(created / 1000, now),
      s.kernelRelease ?? '',
    ].join('\t');
  });
  return tabwrite(['SANDBOX ID\tKIND\tSTATE\tPID\tCREATED\tKERNEL', ...rows].join('\n') + '\n');
}

function sortNewestFirst(list: SandboxSummary[]): SandboxSummary[] {
  return [...list].sort((a, b) => (Date.parse(b.createdAt) || 0) - (Date.parse(a.createdAt) || 0) || compareStrings(a.id, b.id));
}

/** A full id or a unique prefix of one. */
export function resolveSandbox(list: SandboxSummary[], ref: string): SandboxSummary {
  const exact = list.find((s) => s.id === ref);
  if (exact) return exact;
  const matches = ref ? list.filter((s) => s.id.startsWith(ref)) : [];
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new StatusError(1, `no such sandbox: ${ref}`);
  throw new StatusError(1, `sandbox ID prefix "${ref}" is ambiguous, it matches:\n${matches.map((s) => `  ${s.id}`).sort().join('\n')}`);
}

/** Can `shell` open this sandbox's console? Returns the debug socket's path. */
export function shellTarget(s: SandboxSummary): string {
  if (s.kind !== 'vmm') throw new StatusError(1, `sandbox ${s.id} is of kind ${s.kind}: it has no guest to open a shell in`);
  if (s.state !== 'ready') throw new StatusError(1, `sandbox ${s.id} is ${s.state}: its VM is not running`);
  if (!s.debugSocket) throw new StatusError(1, `sandbox ${s.id} has no debug console recorded`);
  return s.debugSocket;
}

export async function ls(cli: Cli, p: Parsed): Promise<number> {
  const all = await listAll(await which(cli, p));
  const trunc = !p.bool('no-trunc');
  if (p.bool('quiet')) {
    for (const s of sortNewestFirst(all.flatMap((x) => x.sandboxes))) cli.print(trunc ? s.id.slice(0, 12) : s.id);
    return 0;
  }
  all.forEach(({ ref, sandboxes }, i) => {
    if (i > 0) cli.print('');
    cli.print(`tsula-sandboxer ${ref.state ?? ref.address} (${ref.source})`);
    cli.out.write(renderTable(sandboxes, { trunc }));
  });
  return 0;
}

export async function shell(cli: Cli, p: Parsed): Promise<number> {
  const sb = resolveSandbox((await listAll(await which(cli, p))).flatMap((x) => x.sandboxes), p.args[0]!);
  const path = shellTarget(sb);
  // QEMU's socket chardev serves one client at a time: while another one (another
  // `tsula sandbox shell`, an ncat) holds the console, a second connect still succeeds
  // (it waits in the listen backlog) but nothing answers until the first one leaves.
  const sock = await new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(path);
    s.once('connect', () => { s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e: NodeJS.ErrnoException) => reject(new StatusError(1,
      `cannot open the debug console of sandbox ${sb.id} (${path}): ${e.code ?? e.message}`)));
  });
  return bridge(cli, sock);
}

/**
 * stdin → console, console → stdout. On a terminal: raw mode (restored however we leave),
 * Ctrl-] leaves. Piped: the script runs between two markers (see pipedMarkers); we leave
 * at the end marker, or with an error when the console says nothing at all.
 */
function bridge(cli: Cli, sock: net.Socket): Promise<number> {
  const stdin = cli.in;
  const tty = !!stdin.isTTY && typeof stdin.setRawMode === 'function';
  return new Promise<number>((resolve) => {
    let done = false;
    let quiet: NodeJS.Timeout | undefined;
    const restore = () => {
      if (tty) {
        try { stdin.setRawMode!(false); } catch { /* the terminal is gone */ }
      }
    };
    const onSignal = (sig: NodeJS.Signals) => finish(128 + (sig === 'SIGHUP' ? 1 : sig === 'SIGINT' ? 2 : 15));
    const finish = (code: number, msg?: string) => {
      if (done) return;
      done = true;
      clearTimeout(quiet);
      restore();
      process.off('exit', restore);
      for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
      stdin.off('data', onInput);
      stdin.off('end', onInputEnd);
      stdin.pause();
      sock.destroy();
      if (tty) cli.err.write('\r\n');
      if (msg) cli.warn(msg);
      resolve(code);
    };
    const marks = pipedMarkers(randomBytes(6).toString('hex'));
    const marked = new MarkedOutput(marks, (t) => cli.out.write(Buffer.from(t, 'latin1')));
    // QEMU's console serves one client: a second one connects, and nothing ever answers
    const armSilence = () => {
      clearTimeout(quiet);
      quiet = setTimeout(() => finish(1, marked.seenStart
        ? `the debug console went silent for ${SILENT_MS / 1000} s; leaving`
        : 'the debug console does not answer (is another `tsula sandbox shell` attached to it?)'), SILENT_MS);
    };
    const onInput = (chunk: Buffer | string) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      const esc = tty ? b.indexOf(ESCAPE) : -1;
      if (esc >= 0) {
        if (esc > 0) sock.write(b.subarray(0, esc));
        finish(0);
        return;
      }
      sock.write(b);
    };
    const onInputEnd = () => {
      if (tty) return finish(0);
      sock.write(`\n${marks.teardown}`);
    };

    sock.on('data', (d: Buffer) => {
      if (tty) return void cli.out.write(d);
      armSilence();
      marked.push(d.toString('latin1'));
      if (marked.ended) finish(0);
    });
    sock.on('close', () => finish(0));
    sock.on('error', (e: NodeJS.ErrnoException) => finish(1, `debug console: ${e.code ?? e.message}`));

    if (tty) {
      stdin.setRawMode!(true);
      process.on('exit', restore);
      cli.err.write('(Ctrl-] to leave)\r\n');
    }
    // in raw mode ^C reaches the guest's shell; these are kill(1) and a closed terminal
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
    if (tty) {
      sock.write('\n'); // the shell's prompt shows up
    } else {
      sock.write(`\n${marks.setup}`);
      armSilence();
    }
    stdin.on('data', onInput);
    stdin.on('end', onInputEnd);
    stdin.resume();
  });
}
