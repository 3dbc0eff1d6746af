// /containers/* and /exec/* of the Docker-shaped API.
import type { Router, Ctx, RawStream } from './http.js';
import { sendJson, sendStatus, readJsonBody, boolParam, intParam, frame, hijack, readUpgradedBody } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ExecService } from '../containers/exec.js';
import { running, type Container } from '../containers/model.js';
import { createBodySchema, createSpecFromDocker, inspectView } from './docker-model.js';
import { resourcesFromBody } from '../containers/resources.js';
import type { StdioStream } from '../../runtime/types.js';
import { readLogs } from '../containers/logs.js';
import { invalidArgument, errorMessage } from '../../common/errors.js';
import { humanStatus } from './format.js';
import { DEFAULT_DETACH_KEYS, EscapeProxy, parseDetachKeys } from '../../common/detachkeys.js';
import { networkSettingsView, psPorts } from './docker-views.js';

/** A network's id by name (host, none, and networks a stopped container names): '' if unknown. */
export type NetworkIdOf = (name: string) => string;

export function containerRoutes(r: Router, cs: ContainerService, es: ExecService, o: { networkId?: NetworkIdOf } = {}): void {
  const netId: NetworkIdOf = o.networkId ?? (() => '');
  r.add('POST', '/containers/create', async ({ req, res, query }) => {
    const parsed = createBodySchema.safeParse(await readJsonBody(req));
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw invalidArgument(`invalid container config: ${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const spec = createSpecFromDocker(parsed.data, resourcesFromBody(parsed.data.HostConfig ?? {}));
    const platform = query.get('platform') || undefined;
    sendJson(res!, 201, await cs.create({ ...spec, name: query.get('name') || undefined, ...(platform ? { platform } : {}) }));
  });

  r.add('GET', '/containers/json', async ({ res, query }) => {
    const all = boolParam(query, 'all');
    const filters = parseFilters(query.get('filters'));
    let list = cs.list().filter((c) => all || running(c.state) || filters.status?.length);
    list = list.filter((c) => matchFilters(c, filters));
    const limit = intParam(query, 'limit');
    if (limit && limit > 0) list = list.slice(0, limit);
    sendJson(res!, 200, list.map((c) => summary(c, netId)));
  });

  r.add('GET', '/containers/{id}/json', async ({ res, params }) => {
    sendJson(res!, 200, inspect(cs.get(params[0]), netId));
  });

  r.add('POST', '/containers/{id}/start', async ({ res, params }) => {
    sendStatus(res!, (await cs.start(params[0])) === 'already' ? 304 : 204);
  });

  r.add('POST', '/containers/{id}/stop', async ({ res, params, query }) => {
    sendStatus(res!, (await cs.stop(params[0], intParam(query, 't'))) === 'already' ? 304 : 204);
  });

  r.add('POST', '/containers/{id}/restart', async ({ res, params, query }) => {
    await cs.restart(params[0], intParam(query, 't'));
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/kill', async ({ res, params, query }) => {
    await cs.kill(params[0], query.get('signal') || 'SIGKILL');
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/update', async ({ req, res, params }) => {
    sendJson(res!, 200, await cs.update(params[0], await readJsonBody(req)));
  });

  r.add('POST', '/containers/{id}/pause', async ({ res, params }) => { await cs.pause(params[0]); sendStatus(res!, 204); });
  r.add('POST', '/containers/{id}/unpause', async ({ res, params }) => { await cs.unpause(params[0]); sendStatus(res!, 204); });

  r.add('POST', '/containers/{id}/rename', async ({ res, params, query }) => {
    const name = query.get('name');
    if (!name) throw invalidArgument('rename: the new name is required (name=)');
    await cs.rename(params[0], name);
    sendStatus(res!, 204);
  });

  r.add('DELETE', '/containers/{id}', async ({ res, params, query }) => {
    const rec = cs.get(params[0]);
    await cs.remove(params[0], { force: boolParam(query, 'force'), volumes: boolParam(query, 'v') });
    es.forgetContainer(rec.id);
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/wait', async ({ res, params, query }) => {
    const cond = query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
    const rec = cs.get(params[0]);
    const code = cs.wait(rec.id, cond as 'not-running');
    // headers now, so a client can tell the wait is registered (docker does the same)
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    const c = await code;
    res!.end(JSON.stringify({ StatusCode: c, Error: null }) + '\n');
  });

  r.add('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    sendJson(res!, 200, await cs.top(params[0], query.get('ps_args') || '-ef'));
  });

  r.add('POST', '/containers/{id}/resize', async ({ res, params, query }) => {
    await cs.resize(params[0], intParam(query, 'h') ?? 24, intParam(query, 'w') ?? 80);
    sendStatus(res!, 200);
  });

  r.add('GET', '/containers/{id}/logs', async (ctx) => {
    const { res, params, query, req } = ctx;
    const rec = cs.get(params[0]);
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw invalidArgument('you must choose at least one stream (stdout=1 and/or stderr=1)');
    const tailQ = query.get('tail');
    const tail = !tailQ || tailQ === 'all' ? null : Number(tailQ);
    if (tail !== null && (!Number.isInteger(tail) || tail < 0)) throw invalidArgument(`invalid tail value "${tailQ}"`);
    const follow = boolParam(query, 'follow');
    const timestamps = boolParam(query, 'timestamps');
    const since = query.get('since') ? Number(query.get('since')) : undefined;
    const until = query.get('until') ? Number(query.get('until')) : undefined;
    res!.writeHead(200, { 'Content-Type': rec.config.tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
    res!.flushHeaders();
    const ac = new AbortController();
    req.on('close', () => ac.abort());
    const stopped = running(rec.state) || rec.state.status === 'created'
      ? cs.wait(rec.id, running(rec.state) ? 'not-running' : 'next-exit').then(() => {}) : Promise.resolve();
    await readLogs(rec.paths.log, { follow, tail, since, until, stopped, signal: ac.signal }, (l) => {
      if ((l.stream === 1 && !stdout) || (l.stream === 2 && !stderr)) return;
      const data = timestamps ? Buffer.concat([Buffer.from(l.time + ' '), l.data]) : l.data;
      res!.write(rec.config.tty ? data : frame(l.stream, data));
    });
    res!.end();
  });

  r.add('POST', '/containers/{id}/attach', async (ctx) => {
    const { query, params } = ctx;
    // what dockerd refuses is refused before the switch of protocols: a proper HTTP error
    const rec = cs.checkAttach(params[0]);
    const want = { stdin: boolParam(query, 'stdin'), stdout: boolParam(query, 'stdout'), stderr: boolParam(query, 'stderr') };
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
    // from here every path has answered (headers now), and every wait ends: with the
    // client's leaving, the container's removal, or a start that failed
    const raw = hijack(ctx);
    const out = (stream: 1 | 2, data: Buffer) => raw.write(rec.config.tty ? data : frame(stream, data));
    const ac = new AbortController();
    let stdio: StdioStream | null = null;
    raw.onClose(() => ac.abort());
    // a client that reads only has nothing to end: its EOF while we wait means it left
    if (!want.stdin) raw.onInputEnd(() => { if (!stdio) { ac.abort(); raw.end(); } });
    try {
      if (boolParam(query, 'logs')) {
        await readLogs(rec.paths.log, { follow: false, tail: null, signal: ac.signal }, (l) => {
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
    pump(stdio, raw, { tty: rec.config.tty, ...want, detachKeys, beforeEnd: exited });
  });

  r.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    sendJson(res!, 201, es.create(params[0], await readJsonBody(req)));
  });

  r.add('POST', '/exec/{id}/start', async (ctx) => {
    const { params } = ctx;
    let body: unknown;
    let rest: Buffer<ArrayBufferLike> = Buffer.alloc(0);
    if (ctx.upgraded) ({ body, rest } = await readUpgradedBody(ctx));
    else body = await readJsonBody(ctx.req);
    const b = (body ?? {}) as { Detach?: boolean; Tty?: boolean };
    const session = es.get(params[0]);
    if (b.Detach) {
      await es.start(session.ID, true);
      if (ctx.res) sendStatus(ctx.res, 200); else ctx.upgraded!.socket.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    // Start before switching protocols so a failure is still a proper HTTP error
    const { handle } = await es.start(session.ID, false);
    const raw = hijack(ctx, rest);
    if (!handle.stdio) { raw.end(); return; }
    pump(handle.stdio, raw, { tty: session.ProcessConfig.tty, stdin: session.OpenStdin, stdout: session.OpenStdout, stderr: session.OpenStderr });
  });

  r.add('POST', '/exec/{id}/resize', async ({ res, params, query }) => {
    await es.resize(params[0], intParam(query, 'h') ?? 24, intParam(query, 'w') ?? 80);
    sendStatus(res!, 200);
  });

  r.add('GET', '/exec/{id}/json', async ({ res, params }) => {
    sendJson(res!, 200, es.inspect(params[0]));
  });
}

/** How long the end of an attach stream may wait for the container's exit to be recorded. */
const EXIT_RECORD_MS = 10_000;

interface PumpOptions {
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  /** Detach when the client types these (swallowed, never written to the process). */
  detachKeys?: Buffer;
  /** Runs when the process' output ended, before the client's stream is ended. */
  beforeEnd?: () => Promise<unknown>;
}

/**
 * Copy between a process' stdio and a client connection until either side ends. The
 * client's EOF is closeStdin (the runtime closes the process' stdin if stdinOnce); a detach
 * is close, which leaves stdin open for the next attach.
 */
function pump(stdio: StdioStream, raw: RawStream, o: PumpOptions): void {
  stdio.onOutput((stream, data) => {
    if ((stream === 1 && !o.stdout) || (stream === 2 && !o.stderr)) return;
    raw.write(o.tty ? data : frame(stream, data));
  });
  let detached = false;
  let gone = false;
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
      if (r.detach) {
        detached = true;
        stdio.close();
        raw.end();
      }
    });
    raw.onInputEnd(() => { if (!detached) stdio.closeStdin(); });
  }
  raw.onClose(() => {
    gone = true;
    stdio.close();
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

function parseFilters(s: string | null): Record<string, string[]> {
  if (!s) return {};
  try {
    const f = JSON.parse(s) as Record<string, string[] | Record<string, boolean>>;
    return Object.fromEntries(Object.entries(f).map(([k, v]) => [k, Array.isArray(v) ? v : Object.keys(v).filter((x) => v[x])]));
  } catch (e) {
    throw invalidArgument(`invalid filters: ${errorMessage(e)}`);
  }
}

function matchFilters(c: Container, f: Record<string, string[]>): boolean {
  const test = (key: string, pred: (v: string) => boolean) => !f[key]?.length || f[key].some(pred);
  return test('status', (v) => c.state.status === v)
    && test('name', (v) => c.name.includes(v))
    && test('id', (v) => c.id.startsWith(v))
    && test('label', (v) => { const [k, val] = v.split('='); return val === undefined ? k in c.config.labels : c.config.labels[k] === val; });
}

function summary(c: Container, netId: NetworkIdOf): Record<string, unknown> {
  const v = inspectView(c);
  return {
    Id: c.id,
    Names: [v.Name],
    Image: c.config.imageRef,
    ImageID: c.image,
    Command: [v.Path, ...v.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(c.createdAt) / 1000),
    Ports: psPorts(c),
    Labels: c.config.labels,
    State: c.state.status,
    Status: humanStatus(v.State),
    HostConfig: { NetworkMode: v.HostConfig.NetworkMode },
    NetworkSettings: { Networks: networkSettingsView(c, netId).Networks },
    Mounts: v.Mounts,
  };
}

export function inspect(c: Container, netId: NetworkIdOf = () => ''): Record<string, unknown> {
  const v = inspectView(c);
  return { ...v, AppArmorProfile: '', ExecIDs: null, SizeRw: undefined, NetworkSettings: networkSettingsView(c, netId) };
}
