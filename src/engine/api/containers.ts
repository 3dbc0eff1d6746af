// /containers/* and /exec/* of the Docker-shaped API.
import type { Router } from './http.js';
import { sendJson, sendStatus, readJsonBody, boolParam, intParam, frame } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ExecService } from '../containers/exec.js';
import { running, type Container } from '../containers/model.js';
import { createBodySchema, createSpecFromDocker, inspectView } from './docker-model.js';
import { resourcesFromBody } from '../containers/resources.js';
import { readLogs } from '../containers/logs.js';
import { invalidArgument, errorMessage } from '../../common/errors.js';
import { dockerTimestamp, humanStatus } from './format.js';
import { attachContainer, startExec } from './streams.js';

/** SizeRw and SizeRootFs of a container (ps -s, inspect -s): api/usage.ts. */
export type SizeOf = (c: Container) => Promise<{ SizeRw: number; SizeRootFs: number }>;

export function containerRoutes(r: Router, cs: ContainerService, es: ExecService, sizeOf?: SizeOf): void {
  r.add('POST', '/containers/create', async ({ req, res, query }) => {
    const parsed = createBodySchema.safeParse(await readJsonBody(req));
    if (!parsed.success) {
      const i = parsed.error.issues[0]!;
      throw invalidArgument(`invalid container config: ${i.path.join('.') || 'body'}: ${i.message}`);
    }
    const spec = createSpecFromDocker(parsed.data, resourcesFromBody(parsed.data.HostConfig ?? {}));
    sendJson(res!, 201, await cs.create({ ...spec, name: query.get('name') || undefined }));
  });

  r.add('GET', '/containers/json', async ({ res, query }) => {
    const all = boolParam(query, 'all');
    const filters = parseFilters(query.get('filters'));
    let list = cs.list().filter((c) => all || running(c.state) || filters.status?.length);
    list = list.filter((c) => matchFilters(c, filters));
    const limit = intParam(query, 'limit');
    if (limit && limit > 0) list = list.slice(0, limit);
    const views = list.map(summary);
    if (sizeOf && boolParam(query, 'size')) for (const [i, c] of list.entries()) Object.assign(views[i]!, await sizeOf(c));
    sendJson(res!, 200, views);
  });

  r.add('GET', '/containers/{id}/json', async ({ res, params, query }) => {
    const c = cs.get(params[0]);
    sendJson(res!, 200, { ...inspect(c), ...(sizeOf && boolParam(query, 'size') ? await sizeOf(c) : {}) });
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
    await cs.remove(params[0], { force: boolParam(query, 'force') });
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
      const data = timestamps ? Buffer.concat([Buffer.from(dockerTimestamp(l.time) + ' '), l.data]) : l.data;
      res!.write(rec.config.tty ? data : frame(l.stream, data));
    });
    res!.end();
  });

  r.add('POST', '/containers/{id}/attach', (ctx) => attachContainer(ctx, cs));

  r.add('POST', '/containers/{id}/exec', async ({ req, res, params }) => {
    sendJson(res!, 201, es.create(params[0], await readJsonBody(req)));
  });

  r.add('POST', '/exec/{id}/start', (ctx) => startExec(ctx, es));

  r.add('POST', '/exec/{id}/resize', async ({ res, params, query }) => {
    await es.resize(params[0], intParam(query, 'h') ?? 24, intParam(query, 'w') ?? 80);
    sendStatus(res!, 200);
  });

  r.add('GET', '/exec/{id}/json', async ({ res, params }) => {
    sendJson(res!, 200, es.inspect(params[0]));
  });
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

export function summary(c: Container): Record<string, unknown> {
  const v = inspectView(c);
  return {
    Id: c.id,
    Names: [v.Name],
    Image: c.config.imageRef,
    ImageID: c.image,
    Command: [v.Path, ...v.Args].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' '),
    Created: Math.floor(Date.parse(c.createdAt) / 1000),
    Ports: [],
    Labels: c.config.labels,
    State: c.state.status,
    Status: humanStatus(v.State),
    HostConfig: { NetworkMode: v.HostConfig.NetworkMode },
    Mounts: v.Mounts,
  };
}

export function inspect(c: Container): Record<string, unknown> {
  const v = inspectView(c);
  return { ...v, NetworkSettings: { Networks: { [v.HostConfig.NetworkMode]: {} } } };
}
