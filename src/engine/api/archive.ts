// A container's files over the Docker-shaped API: docker cp (HEAD, GET and PUT
// /containers/{id}/archive), docker diff (/changes), docker export, docker commit and
// docker history; and the routes of docker build (the classic builder, build.ts, loaded with
// the first build).
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ServerResponse } from 'node:http';
import type { Router } from './http.js';
import { boolParam, readJsonBody, sendJson } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ContainerFiles, PathStat } from '../containers/files.js';
import { applyChanges, configFromContainer, mergeConfig } from '../containers/commit.js';
import { argv, running, type Container } from '../containers/model.js';
import type { ImageStore } from '../../image/types.js';
import type { EventBus } from '../events.js';
import { logImageEvent } from '../image-events.js';
import { internal, invalidArgument, unimplemented } from '../../common/errors.js';
import type { MountGuard } from '../../storage/mountguard.js';
import { isValidTag, parseTagTarget } from '../../image/reference.js';
import { VERSION, versionAtLeast } from './version.js';
import { checkImagePlatform, platformParam } from './platform.js';

export interface ArchiveDeps {
  cs: ContainerService;
  files: ContainerFiles;
  images: ImageStore;
  events: EventBus;
  /** docker build's: the snapshot driver (COPY's scratch layers), the work dir, the version it records. */
  build: { driver: MountGuard; workRoot: string; engineVersion: string };
}

const STAT_HEADER = 'X-Docker-Container-Path-Stat';
const statHeader = (s: PathStat) => Buffer.from(JSON.stringify(s)).toString('base64');
const attrs = (c: Container, extra: Record<string, string> = {}) => ({ ...c.config.labels, image: c.config.imageRef, name: c.name, ...extra });

/** Stream a tar to the client; a failure after the head can only cut the connection. */
async function sendTar(res: ServerResponse, tar: AsyncGenerator<Buffer>, headers: Record<string, string> = {}): Promise<void> {
  res.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers });
  try {
    await pipeline(Readable.from(tar), res);
  } catch {
    res.destroy();
  }
}

export function archiveRoutes(r: Router, d: ArchiveDeps): void {
  const { cs, files, images, events } = d;

  r.add('HEAD', '/containers/{id}/archive', async ({ res, params, query }) => {
    const stat = await files.statPath(cs.get(params[0]), query.get('path') ?? '', params[0]);
    res!.writeHead(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/json' });
    res!.end();
  });

  r.add('GET', '/containers/{id}/archive', async ({ res, params, query }) => {
    const c = cs.get(params[0]);
    const { stat, tar } = await files.archive(c, query.get('path') ?? '', params[0]);
    events.emit('container', 'archive-path', c.id, attrs(c, { path: query.get('path') ?? '' }));
    await sendTar(res!, tar, { [STAT_HEADER]: statHeader(stat) });
  });

  // API below 1.24 (docker 1.11 and older clients): the resource as a tar, no stat header;
  // dockerd's postContainersCopy answered a bare 404 from 1.24 on
  r.add('POST', '/containers/{id}/copy', async ({ req, res, params, version }) => {
    if (versionAtLeast(version, '1.24')) { res!.writeHead(404); res!.end(); return; }
    const body = await readJsonBody(req, { checkType: true }) as { Resource?: unknown };
    const resource = typeof body?.Resource === 'string' ? body.Resource : '';
    if (!resource) throw internal('Path cannot be empty');
    const c = cs.get(params[0]);
    const { tar } = await files.archive(c, resource, params[0]);
    events.emit('container', 'copy', c.id, attrs(c));
    await sendTar(res!, tar);
  });

  r.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const c = cs.get(params[0]);
    // the upload through a pipe: a refusal (a directory over a file) drops the pipe, not the
    // connection, whose rest is read and dropped so that the client gets the answer rather
    // than a broken write (Go's server reads a refused request's body on as well)
    const body = new PassThrough();
    req!.pipe(body);
    try {
      await files.extract(c, query.get('path') ?? '', body, {
        noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'), copyUIDGID: boolParam(query, 'copyUIDGID'), ref: params[0],
      });
    } catch (e) {
      req!.unpipe(body);
      req!.resume();
      throw e;
    }
    events.emit('container', 'extract-to-dir', c.id, attrs(c, { path: query.get('path') ?? '' }));
    res!.writeHead(200);
    res!.end();
  });

  r.add('GET', '/containers/{id}/changes', async ({ res, params }) => {
    const changes = await files.changes(cs.get(params[0]));
    sendJson(res!, 200, changes.length ? changes : null);
  });

  r.add('GET', '/containers/{id}/export', async ({ res, params }) => {
    const c = cs.get(params[0]);
    const tar = await files.export(c);
    events.emit('container', 'export', c.id, attrs(c));
    await sendTar(res!, tar);
  });

  r.add('POST', '/commit', async ({ req, res, query }) => {
    const ref = query.get('container');
    if (!ref) throw invalidArgument('commit: the container (container=) is required');
    const c = cs.get(ref);
    const repo = query.get('repo') ?? '';
    const tag = query.get('tag') ?? '';
    if (tag && !repo) throw invalidArgument(`commit: a tag ("${tag}") needs a repository name (repo=)`);
    if (tag && !isValidTag(tag)) throw invalidArgument(`invalid tag format: "${tag}"`);
    const name = repo ? (() => { const p = parseTagTarget(repo); return `${p.name}:${tag || p.tag || 'latest'}`; })() : undefined;
    const image = await images.get(c.image);
    let config = mergeConfig(configFromContainer(c, image.config), await readJsonBody(req, { checkType: true }));
    config = { ...config };
    applyChanges(config, query.getAll('changes').flatMap((x) => x.split('\n')));
    // like dockerd, the container holds still while its layer is read (pause=0 to skip)
    const pause = query.get('pause') === null || boolParam(query, 'pause');
    // a pause that fails (the container exited a moment ago) is no error: dockerd's commit
    // ignores containerPause's and commits what is there
    const paused = pause && running(c.state) && c.state.status !== 'paused'
      && await cs.pause(c.id, 'commit').then(() => true, () => false);
    let id: string;
    try {
      cs.faults.hit('commit:after-pause');
      id = await images.commit(await files.diffTar(c), {
        parent: c.image, containerId: c.id, config, containerConfig: configFromContainer(c, image.config), createdBy: argv(c).join(' '), engineVersion: VERSION,
        author: query.get('author') ?? '', comment: query.get('comment') ?? '',
      }, name);
      // dockerd's CreateImageFromContainer: tag, then commit, while still paused (its unpause is deferred)
      if (name) await logImageEvent(events, images, 'tag', id, name);
      events.emit('container', 'commit', c.id, attrs(c, { comment: query.get('comment') ?? '', imageID: id, imageRef: name ?? '' }));
    } finally {
      if (paused) await cs.unpause(c.id).catch(() => {});
    }
    sendJson(res!, 201, { Id: id });
  });

  r.add('GET', '/images/{name*}/history', async ({ res, params, query, version }) => {
    // platform (1.48): the graphdriver store's image is of one platform, which must be it
    await checkImagePlatform(images, params[0], platformParam(query, version, '1.48'));
    sendJson(res!, 200, await images.history(params[0]));
  });

  // docker build: the classic builder's module and parser load with the first build
  let builder: import('../build/index.js').Builder | undefined;
  r.add('POST', '/build', async ({ req, res, query, version }) => {
    const m = await import('./build.js');
    builder ??= m.newBuilder({ images, containers: cs, files, driver: d.build.driver, engineVersion: d.build.engineVersion }, events, d.build.workRoot);
    return m.postBuild(builder, req, res!, query, version);
  });
  // BuildKit's session and gRPC endpoints: tsulad has the classic builder only
  const noBuildKit = async ({ req }: { req: import('node:http').IncomingMessage }) => {
    req.resume();
    throw unimplemented('BuildKit is not supported by tsulad: build with the classic builder (DOCKER_BUILDKIT=0 docker build ...)');
  };
  // The legacy builder's cache is its step images: nothing else to prune, as dockerd reports
  // with nothing cached (`docker system prune` calls it after the containers and images).
  r.add('POST', '/build/prune', async ({ req, res }) => {
    req.resume();
    sendJson(res!, 200, { CachesDeleted: null, SpaceReclaimed: 0 });
  });
  // BuildKit's session is an h2c upgrade run beside POST /build: an HTTP error on it reads
  // as a bogus HTTP/2 preface to the client (noise before the real error); a switch of
  // protocols closed at once ends it quietly, and /build says why
  r.add('POST', '/session', async (ctx) => {
    if (!ctx.upgraded) return noBuildKit(ctx);
    ctx.upgraded.socket.end('HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
  });
  r.add('POST', '/grpc', noBuildKit);
}
