// A container's files over the Docker-shaped API: docker cp (HEAD, GET and PUT
// /containers/{id}/archive), docker diff (/changes), docker export, docker commit and
// docker history. (docker build is build.ts.)
import { Readable } from 'node:stream';
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
import { invalidArgument } from '../../common/errors.js';
import { isValidTag, parseTagTarget } from '../../image/reference.js';
import { VERSION } from './system.js';

export interface ArchiveDeps {
  cs: ContainerService;
  files: ContainerFiles;
  images: ImageStore;
  events: EventBus;
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
    const stat = await files.statPath(cs.get(params[0]), query.get('path') ?? '');
    res!.writeHead(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/json' });
    res!.end();
  });

  r.add('GET', '/containers/{id}/archive', async ({ res, params, query }) => {
    const c = cs.get(params[0]);
    const { stat, tar } = await files.archive(c, query.get('path') ?? '');
    events.emit('container', 'archive-path', c.id, attrs(c, { path: query.get('path') ?? '' }));
    await sendTar(res!, tar, { [STAT_HEADER]: statHeader(stat) });
  });

  r.add('PUT', '/containers/{id}/archive', async ({ req, res, params, query }) => {
    const c = cs.get(params[0]);
    await files.extract(c, query.get('path') ?? '', req, {
      noOverwriteDirNonDir: boolParam(query, 'noOverwriteDirNonDir'), copyUIDGID: boolParam(query, 'copyUIDGID'),
    });
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
    const paused = pause && running(c.state) && c.state.status !== 'paused';
    if (paused) await cs.pause(c.id);
    let id: string;
    try {
      id = await images.commit(await files.diffTar(c), {
        parent: c.image, containerId: c.id, config, containerConfig: configFromContainer(c, image.config), createdBy: argv(c).join(' '), engineVersion: VERSION,
        author: query.get('author') ?? '', comment: query.get('comment') ?? '',
      }, name);
    } finally {
      if (paused) await cs.unpause(c.id).catch(() => {});
    }
    events.emit('container', 'commit', c.id, attrs(c, { comment: query.get('comment') ?? '', imageID: id, imageRef: name ?? '' }));
    if (name) events.emit('image', 'tag', id, { name });
    sendJson(res!, 201, { Id: id });
  });

  r.add('GET', '/images/{name*}/history', async ({ res, params }) => {
    sendJson(res!, 200, await images.history(params[0]));
  });
}
