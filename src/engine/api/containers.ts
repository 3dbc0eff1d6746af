// /containers/* and /exec/* of the Docker-shaped API.
import type { Router } from './http.js';
import { sendJson, sendStatus, readJsonBody, boolParam, intParam, frame, resizeParam } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ExecService } from '../containers/exec.js';
import { running, type Container } from '../containers/model.js';
import type { ImageStore } from '../../image/types.js';
import { createSpecFromBody, inspectView } from './docker-model.js';
import { detailsHead } from '../containers/log-attrs.js';
import { apiTimestampNs, readLogs } from '../containers/logs.js';
import { logFiles } from '../containers/log-rotation.js';
import { invalidArgument, isKind, notFound, unimplemented } from '../../common/errors.js';
import { dockerTimestamp, humanStatus } from './format.js';
import { attachContainer, attachContainerWs, startExec } from './streams.js';
import { FilterArgs, selectContainers, type ContainerFacts } from './filters.js';
import { networkSettingsView, psPorts } from './docker-views.js';
import { networkingForVersion } from './network-compat.js';
import { versionAtLeast } from './version.js';
import { inspectForVersion, summaryForVersion } from './compat-views.js';
import { dropRemovedResources } from './compat-create.js';
import { withDaemonLogConfig } from './docker-runopts.js';
import type { LogDefaults } from '../config-isulad.js';
import type { DaemonConfig } from '../config.js';
import { daemonRootBinds } from '../containers/binds.js';

/** SizeRw and SizeRootFs of a container (ps -s, inspect -s): api/usage.ts. */
export type SizeOf = (c: Container) => Promise<{ SizeRw: number; SizeRootFs: number }>;
/** A network's id by name (host, none, and networks a stopped container names): '' if unknown. */
export type NetworkIdOf = (name: string) => string;

/** A container's GraphDriver.Data (the snapshot's dirs), or null. */
export type GraphDataOf = (c: Container) => Promise<Record<string, string> | null>;

/** Legacy links (networks/legacy-links.ts): `docker rm --link` and inspect's HostConfig.Links. */
export interface LinksOf {
  remove(ref: string): Promise<void>;
  hostLinks(c: Container): string[] | null;
}

export function containerRoutes(r: Router, cs: ContainerService, es: ExecService, o: { networkId?: NetworkIdOf; sizeOf?: SizeOf; graphData?: GraphDataOf; links?: LinksOf; logDefaults?: LogDefaults; namespaceDefaults?: DaemonConfig['namespaceDefaults'] } = {}): void {
  const netId: NetworkIdOf = o.networkId ?? (() => '');
  // a container's names: its own and its legacy links' ("/parent/alias"), sorted as dockerd's name index lists them
  const namesOf = (c: Container) => cs.d.store.names.namesOf(c.id).map((n) => `/${n}`).sort();
  const sizeOf = o.sizeOf;
  r.add('POST', '/containers/create', async ({ req, res, query, version }) => {
    const body = await readJsonBody(req, { checkType: true });
    // daemon.json's log-driver and log-opts for a container that names no driver of its own
    if (o.logDefaults && body && typeof body === 'object') {
      const b = body as { HostConfig?: { LogConfig?: { Type?: string | null; Config?: Record<string, string> | null } | null } | null };
      b.HostConfig = { ...b.HostConfig, LogConfig: withDaemonLogConfig(b.HostConfig?.LogConfig, o.logDefaults) };
    }
    // daemon.json's default-ipc-mode / default-cgroupns-mode (dockerd's setHostConfigDefaults),
    // after the old clients' own defaults (shareable IPC below 1.40, the host's cgroupns below 1.41)
    const nsd = o.namespaceDefaults;
    if (nsd && body && typeof body === 'object') {
      const b = body as { HostConfig?: { IpcMode?: string | null; CgroupnsMode?: string | null } | null };
      const hc = { ...b.HostConfig };
      if (nsd.ipc && !hc.IpcMode && versionAtLeast(version, '1.40')) hc.IpcMode = nsd.ipc;
      if (nsd.cgroupns && !hc.CgroupnsMode && versionAtLeast(version, '1.41')) hc.CgroupnsMode = nsd.cgroupns;
      b.HostConfig = hc;
    }
    const netWarnings = networkingForVersion(body, version);
    const { spec, warnings } = await createSpecFromBody(body, version);
    if (spec.binds) daemonRootBinds(spec.binds, cs.d.graph);
    const platform = query.get('platform') || undefined;
    const made = await cs.create({ ...spec, name: query.get('name') || undefined, ...(platform ? { platform } : {}) });
    const extra = [...netWarnings, ...warnings];
    sendJson(res!, 201, extra.length ? { ...made, Warnings: [...made.Warnings, ...extra] } : made);
  });

  r.add('GET', '/containers/json', async ({ res, query, version }) => {
    const limit = intParam(query, 'limit');
    const list = await selectContainers(cs.list().map((c) => facts(c, netId, version, namesOf(c))), FilterArgs.parse(query.get('filters')),
      { all: boolParam(query, 'all'), limit }, {
        container: (ref) => cs.get(ref).id,
        image: (ref) => cs.d.images.get(ref).then((i) => i.id, () => undefined),
        lineage: () => cs.d.images.list(),
      });
    const size = sizeOf && boolParam(query, 'size');
    const image = imageShown(cs.d.images);
    sendJson(res!, 200, await Promise.all(list.map(async (f) => summaryForVersion({
      ...f.summary, Image: await image(f.c), ...(size ? await sizeOf(f.c) : {}),
    }, f.c, version))));
  });

  // "{id*}": a legacy link's name ("parent/alias") names its child, as in dockerd's routes
  r.add('GET', '/containers/{id*}/json', async ({ res, params, query, version }) => {
    const c = cs.get(params[0]);
    const v = inspect(c, netId, version);
    const links = o.links?.hostLinks(c);
    if (links) (v.HostConfig as { Links: string[] | null }).Links = links;
    // a snapshot removed meanwhile (rm racing) has none: null, as dockerd's for a gone layer
    const data = await o.graphData?.(c).catch(() => null) ?? null;
    sendJson(res!, 200, inspectForVersion({
      ...v, GraphDriver: { ...(v.GraphDriver as object), Data: data },
      ExecIDs: es.pendingIds(c.id), ...(sizeOf && boolParam(query, 'size') ? await sizeOf(c) : {}),
    }, version));
  });

  r.add('POST', '/containers/{id}/start', async ({ res, params }) => {
    sendStatus(res!, (await cs.start(params[0])) === 'already' ? 304 : 204);
  });

  // API 1.42: stop and restart take the signal to stop with (else the container's StopSignal)
  const stopSignal = (query: URLSearchParams, version: string) => (versionAtLeast(version, '1.42') ? query.get('signal') || undefined : undefined);

  r.add('POST', '/containers/{id}/stop', async ({ res, params, query, version }) => {
    sendStatus(res!, (await cs.stop(params[0], intParam(query, 't'), stopSignal(query, version))) === 'already' ? 304 : 204);
  });

  r.add('POST', '/containers/{id}/restart', async ({ res, params, query, version }) => {
    await cs.restart(params[0], intParam(query, 't'), stopSignal(query, version));
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/kill', async ({ res, params, query, version }) => {
    await cs.kill(params[0], query.get('signal') || 'SIGKILL').catch((e: unknown) => {
      // below API 1.20 a stopped container's kill is no error (dockerd's postContainersKill)
      if (!(isKind(e, 'FailedPrecondition') && !versionAtLeast(version, '1.20'))) throw e;
    });
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/update', async ({ req, res, params, version }) => {
    const body = await readJsonBody(req, { checkType: true });
    dropRemovedResources(body as Record<string, unknown>, version);
    // dockerd ignores an update's PidsLimit before API 1.40
    if (!versionAtLeast(version, '1.40') && body && typeof body === 'object') delete (body as Record<string, unknown>).PidsLimit;
    sendJson(res!, 200, await cs.update(params[0], body));
  });

  r.add('POST', '/containers/{id}/pause', async ({ res, params }) => { await cs.pause(params[0]); sendStatus(res!, 204); });
  r.add('POST', '/containers/{id}/unpause', async ({ res, params }) => { await cs.unpause(params[0]); sendStatus(res!, 204); });

  r.add('POST', '/containers/{id}/rename', async ({ res, params, query }) => {
    const name = query.get('name');
    if (!name) throw invalidArgument('rename: the new name is required (name=)');
    await cs.rename(params[0], name);
    sendStatus(res!, 204);
  });

  r.add('DELETE', '/containers/{id*}', async ({ res, params, query }) => {
    if (boolParam(query, 'link')) {
      // `docker rm --link`: the link goes, never the container (dockerd's rmLink)
      if (!o.links) throw notFound(`No such container: ${params[0]}`);
      await o.links.remove(params[0]);
      sendStatus(res!, 204);
      return;
    }
    const rec = cs.get(params[0]);
    await cs.remove(params[0], { force: boolParam(query, 'force'), volumes: boolParam(query, 'v') });
    es.forgetContainer(rec.id);
    sendStatus(res!, 204);
  });

  r.add('POST', '/containers/{id}/wait', async ({ res, params, query, version }) => {
    const cond = query.get('condition') || 'not-running';
    if (!['not-running', 'next-exit', 'removed'].includes(cond)) throw invalidArgument(`invalid condition: "${cond}"`);
    const rec = cs.get(params[0]);
    const code = cs.wait(rec.id, cond as 'not-running');
    // headers now, so a client can tell the wait is registered (docker does the same)
    res!.writeHead(200, { 'Content-Type': 'application/json' });
    res!.flushHeaders();
    const c = await code;
    // dockerd 23's WaitResponse (API 1.42) leaves a null Error out; 20.10's sent it
    res!.end(JSON.stringify(versionAtLeast(version, '1.42') ? { StatusCode: c } : { StatusCode: c, Error: null }) + '\n');
  });

  r.add('GET', '/containers/{id}/top', async ({ res, params, query }) => {
    sendJson(res!, 200, await cs.top(params[0], query.get('ps_args') || '-ef'));
  });

  r.add('POST', '/containers/{id}/resize', async ({ res, params, query }) => {
    await cs.resize(params[0], resizeParam(query, 'h'), resizeParam(query, 'w'));
    sendStatus(res!, 200);
  });

  r.add('GET', '/containers/{id}/logs', async (ctx) => {
    const { res, params, query, req } = ctx;
    const rec = cs.get(params[0]);
    // dockerd's ErrReadLogsNotSupported (501)
    if (rec.config.logDriver === 'none') throw unimplemented('configured logging driver does not support reading');
    const stdout = boolParam(query, 'stdout');
    const stderr = boolParam(query, 'stderr');
    if (!stdout && !stderr) throw invalidArgument('You must choose at least one stream');
    // dockerd reads tail with strconv.Atoi and takes anything else ("all", "abc") or a
    // negative count as the whole log, without an error
    const tailQ = query.get('tail') ?? '';
    const tailN = /^[+-]?\d+$/.test(tailQ) ? Number(tailQ) : -1;
    const tail = tailN < 0 ? null : tailN;
    const follow = boolParam(query, 'follow');
    const timestamps = boolParam(query, 'timestamps');
    const details = boolParam(query, 'details');
    const since = query.get('since') ? apiTimestampNs(query.get('since')!) : undefined;
    // dockerd: until "0" is no bound
    const untilQ = query.get('until');
    const until = untilQ && untilQ !== '0' ? apiTimestampNs(untilQ) : undefined;
    // dockerd names the multiplexed stream from API 1.42 on (raw-stream before, framed all the same)
    const muxed = !rec.config.tty && versionAtLeast(ctx.version, '1.42');
    res!.writeHead(200, { 'Content-Type': muxed ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream' });
    res!.flushHeaders();
    const ac = new AbortController();
    req.on('close', () => ac.abort());
    // dockerd follows only a running container's logger: a created one's -f ends at once
    const stopped = running(rec.state) ? cs.wait(rec.id, 'not-running').then(() => {}) : Promise.resolve();
    // per stream, whether its last record was a partial line (conmon's P: no newline yet)
    const midLine = { 1: false, 2: false };
    const attrs = details ? detailsHead(rec) : '';
    // a slow client holds the read back: a big log is not queued in memory for it
    const drain = () => (!res!.writableNeedDrain || res!.destroyed ? Promise.resolve() : new Promise<void>((resolve) => {
      const done = () => { res!.off('drain', done); res!.off('close', done); resolve(); };
      res!.on('drain', done);
      res!.on('close', done);
    }));
    await readLogs(rec.paths.log, { follow, tail, since, until, stopped, maxFiles: logFiles(rec), signal: ac.signal, drain }, (l) => {
      if ((l.stream === 1 && !stdout) || (l.stream === 2 && !stderr)) return;
      const cont = midLine[l.stream];
      midLine[l.stream] = l.data.length > 0 && l.data[l.data.length - 1] !== 0x0a;
      // --details: dockerd puts the record's attributes (log-opts labels/env) and a space
      // first; neither they nor -t's time go inside a line written in parts (dockerd logs a
      // line once it is whole)
      const head = cont ? '' : (timestamps ? dockerTimestamp(l.time) + ' ' : '') + attrs;
      const data = head ? Buffer.concat([Buffer.from(head), l.data]) : l.data;
      res!.write(rec.config.tty ? data : frame(l.stream, data));
    });
    res!.end();
  });

  r.add('POST', '/containers/{id}/attach', (ctx) => attachContainer(ctx, cs));
  r.add('GET', '/containers/{id}/attach/ws', (ctx) => attachContainerWs(ctx, cs));

  r.add('POST', '/containers/{id}/exec', async ({ req, res, params, version }) => {
    const body = await readJsonBody(req, { checkType: true });
    // ConsoleSize came in API 1.42: dockerd drops it from older requests
    if (!versionAtLeast(version, '1.42') && body && typeof body === 'object') delete (body as { ConsoleSize?: unknown }).ConsoleSize;
    sendJson(res!, 201, await es.create(params[0], body));
  });

  r.add('POST', '/exec/{id}/start', (ctx) => startExec(ctx, es));

  r.add('POST', '/exec/{id}/resize', async ({ res, params, query }) => {
    await es.resize(params[0], resizeParam(query, 'h'), resizeParam(query, 'w'));
    sendStatus(res!, 200);
  });

  r.add('GET', '/exec/{id}/json', async ({ res, params }) => {
    sendJson(res!, 200, es.inspect(params[0]));
  });
}

type Summary = ReturnType<typeof summary> & {
  Mounts: Array<{ Name?: string; Source: string; Destination: string }>;
};

/** What the list filters look at (filters.ts), with the summary it was read from. */
function facts(c: Container, netId: NetworkIdOf, version: string, names: string[]): ContainerFacts & { c: Container; summary: Summary } {
  const s = summary(c, netId, version) as Summary;
  if (names.length) s.Names = names;
  const nets = (inspect(c, netId, version).NetworkSettings as { Networks?: Record<string, { NetworkID?: string } | null> } | undefined)?.Networks ?? {};
  return {
    // the name filter looks at the container's own name only (dockerd's list.go), not its link names
    c, summary: s, id: c.id, names: [`/${c.name}`], createdMs: Date.parse(c.createdAt) || 0,
    state: c.state.status, running: running(c.state), startedAtZero: !c.state.startedAt, exitCode: c.state.exitCode,
    labels: c.config.labels, imageId: c.image, health: c.state.health?.status ?? 'none', isolation: 'default',
    mounts: s.Mounts.map((m) => ({ name: m.Name, source: m.Source, destination: m.Destination })),
    networks: Object.entries(nets).map(([name, n]) => ({ name, id: n?.NetworkID ?? '' })),
    ports: (s.Ports as Array<{ PrivatePort: number; PublicPort?: number; Type: string }>)
      .map((p) => ({ privatePort: p.PrivatePort, ...(p.PublicPort !== undefined ? { publicPort: p.PublicPort } : {}), type: p.Type })),
  };
}

/**
 * A list's Image of a container (moby's refreshImage): the reference it was created from
 * while that still names its image, else the image's ID, so that `docker ps` shows a
 * container runs an image whose tag has moved on (a rebuild, a pull) or was removed. One
 * resolver per listing: each reference is looked up once.
 */
export function imageShown(images: Pick<ImageStore, 'get'>): (c: Container) => Promise<string> {
  const seen = new Map<string, Promise<string | undefined>>();
  return async (c) => {
    const ref = c.config.imageRef;
    if (!ref || ref === c.image) return c.image;
    let id = seen.get(ref);
    if (!id) seen.set(ref, id = images.get(ref).then((i) => i.id, () => undefined));
    return (await id) === c.image ? ref : c.image;
  };
}

/** `version`: the API version asked for (networks.ts's views); 1.41's answer by default. */
export function summary(c: Container, netId: NetworkIdOf = () => '', version = '1.41'): Record<string, unknown> {
  const v = inspectView(c);
  return {
    Id: c.id,
    Names: [v.Name],
    Image: c.config.imageRef,
    ImageID: c.image,
    // moby's list: an argument with a space goes in single quotes, nothing else is escaped
    Command: [v.Path, ...v.Args.map((a) => (a.includes(' ') ? `'${a}'` : a))].join(' '),
    Created: Math.floor(Date.parse(c.createdAt) / 1000),
    Ports: psPorts(c),
    Labels: c.config.labels,
    State: c.state.status,
    Status: humanStatus(v.State),
    HostConfig: { NetworkMode: v.HostConfig.NetworkMode },
    NetworkSettings: { Networks: networkSettingsView(c, netId, { version, list: true }).Networks },
    Mounts: v.Mounts,
  };
}

export function inspect(c: Container, netId: NetworkIdOf = () => '', version = '1.41'): Record<string, unknown> {
  const v = inspectView(c);
  // 1.52 drops the container-wide MacAddress (deprecated in 1.44): the endpoints' is the one
  const config = versionAtLeast(version, '1.52') && 'MacAddress' in v.Config ? (({ MacAddress: _, ...rest }) => rest)(v.Config) : v.Config;
  return { ...v, Config: config, NetworkSettings: networkSettingsView(c, netId, { version }) };
}
