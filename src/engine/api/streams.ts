// POST /containers/{id}/attach (and its WebSocket, GET .../attach/ws) and POST
// /exec/{id}/start: a hijacked connection between a client and a process' stdio, with
// docker's framing, detach keys and end-of-input rules (moby's container/stream/attach.go),
// and a stream that ends only once the exit is known.
import type { Ctx, RawStream } from './http.js';
import { boolParam, frame, hijack, readJsonBody, readUpgradedBody, sendStatus } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ExecService } from '../containers/exec.js';
import type { StdioStream } from '../../runtime/types.js';
import { readLogs } from '../containers/logs.js';
import { logFiles } from '../containers/log-rotation.js';
import { invalidArgument, errorMessage } from '../../common/errors.js';
import { DEFAULT_DETACH_KEYS, EscapeProxy, parseDetachKeys } from '../../common/detachkeys.js';
import { dockerdExecStartError } from '../containers/oci-errors.js';
import { versionAtLeast } from './version.js';
import { foldGoKeys } from '../../common/go-json.js';

/** How long the end of a stream may wait for the process' exit to be recorded. */
const EXIT_RECORD_MS = 10_000;

/** dockerd names the framed stream of an upgraded attach or exec from API 1.42 on. */
function multiplexed(ctx: Ctx, tty: boolean): boolean {
  return !tty && !!ctx.upgraded && versionAtLeast(ctx.version, '1.42');
}

export async function attachContainer(ctx: Ctx, cs: ContainerService): Promise<void> {
  const { query } = ctx;
  const want = { stdin: boolParam(query, 'stdin'), stdout: boolParam(query, 'stdout'), stderr: boolParam(query, 'stderr') };
  await attach(ctx, cs, want, (tty) => {
    // from here every path has answered (headers now), and every wait ends: with the
    // client's leaving, the container's removal, or a start that failed. A client that only
    // half-closes has not left (the docker CLI does that at once when it sends no stdin).
    const raw = hijack(ctx, Buffer.alloc(0), multiplexed(ctx, tty));
    return { raw, framed: !tty };
  });
}

/**
 * GET /containers/{id}/attach/ws: the same attach over a WebSocket (dockerd's
 * wsContainersAttach): never multiplexed, each output chunk one message (binary from API
 * 1.28, text before), each message in the container's stdin; below 1.42 every stream is
 * attached whatever the query says.
 */
export async function attachContainerWs(ctx: Ctx, cs: ContainerService): Promise<void> {
  const { query } = ctx;
  const all = !versionAtLeast(ctx.version, '1.42');
  const want = all ? { stdin: true, stdout: true, stderr: true } : { stdin: boolParam(query, 'stdin'), stdout: boolParam(query, 'stdout'), stderr: boolParam(query, 'stderr') };
  // the WebSocket code loads with the first such attach (an idle daemon holds none of it)
  const { webSocketStream } = await import('./websocket-stream.js');
  await attach(ctx, cs, want, () => ({ raw: webSocketStream(ctx, versionAtLeast(ctx.version, '1.28') ? 'binary' : 'text'), framed: false }));
}

type Want = { stdin: boolean; stdout: boolean; stderr: boolean };

async function attach(ctx: Ctx, cs: ContainerService, want: Want, open: (tty: boolean) => { raw: RawStream; framed: boolean }): Promise<void> {
  const { query, params } = ctx;
  // what dockerd refuses is refused before the switch of protocols: a proper HTTP error
  const rec = cs.checkAttach(params[0]);
  // dockerd watches a TTY's input for the detach keys too: clients that send every byte
  // (curl, docker-py) can still detach, and the sequence never reaches the shell
  const dk = query.get('detachKeys');
  let keys: Buffer = DEFAULT_DETACH_KEYS;
  try {
    if (dk) keys = parseDetachKeys(dk);
  } catch (e) {
    throw invalidArgument(`Invalid detach keys (${dk}) provided: ${errorMessage(e)}`);
  }
  const detachKeys = rec.config.tty && want.stdin ? keys : undefined;
  const { raw, framed } = open(rec.config.tty);
  const out = (stream: 1 | 2, data: Buffer) => raw.write(framed ? frame(stream, data) : data);
  const ac = new AbortController();
  let stdio: StdioStream | null = null;
  raw.onClose(() => ac.abort());
  try {
    if (boolParam(query, 'logs')) {
      await readLogs(rec.paths.log, { follow: false, tail: null, maxFiles: logFiles(rec), signal: ac.signal }, (l) => {
        if ((l.stream === 1 && want.stdout) || (l.stream === 2 && want.stderr)) out(l.stream, l.data);
      });
    }
    if (!boolParam(query, 'stream')) { raw.end(); return; } // docker: stream defaults to false
    stdio = await cs.attach(rec.id, ac.signal);
  } catch (e) {
    // the 101/200 is out: the error goes into the stream, as dockerd's "Error attaching"
    out(1, Buffer.from(`Error attaching: ${errorMessage(e)}\n`));
    raw.end();
    return;
  }
  if (!stdio) { raw.end(); return; }
  if (ac.signal.aborted) { stdio.close(); return; }
  // the stream ends once the exit is recorded: a client that inspects or waits right
  // after the end of the stream finds the exit code, not a container still "running"
  const exited = () => Promise.race([cs.wait(rec.id, 'not-running').catch(() => 0), sleep(EXIT_RECORD_MS)]);
  pump(stdio, raw, {
    framed, ...want, detachKeys, beforeEnd: exited,
    // dockerd logs a detach by the keys it watched for (not a client's own close)
    onDetach: () => cs.d.events.emit('container', 'detach', rec.id, cs.attrs(rec)),
    // dockerd: the end of a client's input closes the container's stdin only for StdinOnce
    // without a TTY; otherwise it ends that client's attach, and stdin stays for the next
    inputEnd: rec.config.stdinOnce && !rec.config.tty ? 'close-stdin' : 'end-attach',
  });
}

/** How long an exec's streams may trail its exit (dockerd's monitor: StreamConfig.Wait). */
const EXEC_STREAMS_DRAIN_MS = 2000;

export async function startExec(ctx: Ctx, es: ExecService): Promise<void> {
  const { params } = ctx;
  let body: unknown;
  let rest: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  if (ctx.upgraded) ({ body, rest } = await readUpgradedBody(ctx));
  else body = await readJsonBody(ctx.req, { checkType: true });
  // Go's JSON: {"tty": true} is Tty too
  const b = (foldGoKeys(body ?? {}, ['Detach', 'Tty', 'ConsoleSize']) ?? {}) as { Detach?: boolean; Tty?: boolean; ConsoleSize?: unknown };
  // API 1.42's ConsoleSize, for a TTY only, as dockerd's postContainerExecStart takes it
  const cs = b.ConsoleSize;
  const consoleSize = b.Tty && versionAtLeast(ctx.version, '1.42') && Array.isArray(cs) && cs.length === 2
    && cs.every((n) => Number.isInteger(n) && n >= 0) ? cs as [number, number] : undefined;
  const session = es.get(params[0]); // an unknown exec is a 404 before any upgrade
  const entrypoint = session.ProcessConfig.entrypoint;
  if (b.Detach) {
    try { await es.start(session.ID, true, consoleSize); } catch (e) { throw dockerdExecStartError(e, entrypoint); }
    if (ctx.res) sendStatus(ctx.res, 200); else ctx.upgraded!.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  const tty = session.ProcessConfig.tty;
  // the stream's framing is the start request's Tty, as dockerd's postContainerExecStart
  // sets up its writers (the process' terminal is the create's): a TTY exec started with
  // Tty false gets docker's stream headers
  const rawStream = !!b.Tty;
  // dockerd's order: the switch of protocols, then the process. A client may read past the
  // 101's headers into its own buffer (docker-py, whose raw socket then misses those bytes):
  // output must not come with them. A resize that comes before the process is kept for it.
  const raw = hijack(ctx, rest, multiplexed(ctx, rawStream));
  let started: Awaited<ReturnType<ExecService['start']>>;
  try {
    started = await es.start(session.ID, false, consoleSize, { holdOutput: true });
  } catch (e) {
    // dockerd writes why the start failed into the stream as stdout; the client then reads
    // the exit code (127 or 126) from GET /exec/{id}/json
    const text = Buffer.from(`${errorMessage(dockerdExecStartError(e, entrypoint))}\r\n`);
    raw.write(rawStream ? text : frame(1, text));
    raw.end();
    return;
  }
  const { handle, recorded } = started;
  if (!handle.stdio) { await waitBounded(recorded); raw.end(); return; }
  const stdio = handle.stdio;
  // dockerd's monitor at an exec's exit: its streams get 2 s to end (a child left in the
  // background may still hold and write them), then they are closed
  let running = true;
  void recorded.then(() => {
    running = false;
    let ended = false;
    stdio.onEnd(() => { ended = true; });
    setTimeout(() => { if (!ended) stdio.close(); }, EXEC_STREAMS_DRAIN_MS).unref();
  }, () => {});
  // dockerd watches an exec's TTY input for its detach keys too (exec create's DetachKeys,
  // checked there), and logs exec_detach; the process runs on
  const keys = tty && session.OpenStdin ? (session.body.DetachKeys ? parseDetachKeys(session.body.DetachKeys) : DEFAULT_DETACH_KEYS) : undefined;
  pump(stdio, raw, {
    framed: !rawStream, stdin: session.OpenStdin, stdout: session.OpenStdout, stderr: session.OpenStderr,
    inputEnd: 'close-stdin', beforeEnd: () => waitBounded(recorded), detachKeys: keys,
    onDetach: () => es.detached(session.ID), keepProcess: () => running,
  });
}

interface PumpOptions {
  /** docker's 8-byte stream headers on each chunk (no TTY, not a WebSocket). */
  framed: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Detach when the client types these (swallowed, never written to the process). */
  detachKeys?: Buffer;
  /** The client's EOF: close the process' stdin, or end this client's attach. */
  inputEnd: 'close-stdin' | 'end-attach';
  /** Runs when the process' output ended, before the client's stream is ended. */
  beforeEnd?: () => Promise<unknown>;
  /** The client typed the detach keys. */
  onDetach?: () => void;
  /** Whether a client that leaves should leave the process as it is (an exec running). */
  keepProcess?: () => boolean;
}

/**
 * Copy between a process' stdio and a client connection until either side ends. A detach
 * is close, which leaves stdin open for the next attach (unless the runtime says stdinOnce).
 */
function pump(stdio: StdioStream, raw: RawStream, o: PumpOptions): void {
  let held = false;
  stdio.onOutput((stream, data) => {
    if ((stream === 1 && !o.stdout) || (stream === 2 && !o.stderr)) return;
    // a client that reads slower than the process writes makes the process wait (dockerd's
    // copy blocks on its client) where the stream can pause, rather than tsulad hold it all
    if (raw.write(o.framed ? frame(stream, data) : data) === false && !held && stdio.pause && raw.onDrain) {
      held = true;
      stdio.pause();
      raw.onDrain(() => { held = false; stdio.resume?.(); });
    }
  });
  let detached = false;
  let gone = false;
  const detach = () => {
    detached = true;
    stdio.close();
    raw.end();
  };
  // the process' end, not ours (a detach or a client that left closes stdio too)
  stdio.onEnd(() => {
    if (detached || gone || !o.beforeEnd) raw.end();
    else void o.beforeEnd().then(() => raw.end());
  });
  if (o.stdin) {
    const proxy = o.detachKeys ? new EscapeProxy(o.detachKeys) : null;
    raw.onInput((d) => {
      if (detached) return;
      const r = proxy ? proxy.feed(d) : { data: d, detach: false };
      if (r.data.length) stdio.write(r.data);
      if (r.detach) { detach(); o.onDetach?.(); }
    });
    raw.onInputEnd(() => {
      if (detached) return;
      if (o.inputEnd === 'close-stdin') stdio.closeStdin(); else detach();
    });
  }
  raw.onClose(() => {
    gone = true;
    // an exec still running goes on, its output dropped (dockerd's exec outlives its client)
    if (stdio.discard && o.keepProcess?.()) stdio.discard(); else stdio.close();
  });
}

function waitBounded(p: Promise<unknown>): Promise<unknown> {
  return Promise.race([p.catch(() => undefined), sleep(EXIT_RECORD_MS)]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}
