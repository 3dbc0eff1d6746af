// /images/* of the Docker-shaped API (local images: load, save, tag, rmi, list, inspect).
import type { Router } from './http.js';
import { sendJson, boolParam } from './http.js';
import type { ImageRecord, ImageStore, LoadProgress } from '../../image/types.js';
import type { ContainerService } from '../containers/service.js';
import type { EventBus } from '../events.js';
import { errorMessage, invalidArgument } from '../../common/errors.js';

export function imageRoutes(r: Router, images: ImageStore, cs: ContainerService, events: EventBus): void {
  r.add('GET', '/images/json', async ({ res }) => {
    // no intermediate images exist in tsula's store, so all=1 lists the same set
    sendJson(res!, 200, (await images.list()).map((i) => ({
      Id: i.id, ParentId: '', RepoTags: i.repoTags.length ? i.repoTags : ['<none>:<none>'], RepoDigests: i.repoDigests,
      Created: Math.floor(Date.parse(i.created) / 1000), Size: i.size, SharedSize: -1, VirtualSize: i.size,
      Labels: i.config.Labels ?? null, Containers: cs.list().filter((c) => c.Image === i.id).length,
    })));
  });

  r.add('GET', '/images/{name*}/json', async ({ res, params }) => {
    sendJson(res!, 200, inspectImage(await images.get(params[0])));
  });

  r.add('POST', '/images/load', async ({ req, res, query }) => {
    const quiet = boolParam(query, 'quiet');
    let started = false;
    const out = (obj: unknown) => {
      if (!started) {
        res!.writeHead(200, { 'Content-Type': 'application/json' });
        started = true;
      }
      res!.write(JSON.stringify(obj) + '\n');
    };
    try {
      const names = await images.load(req, quiet ? undefined : (p: LoadProgress) => out(progressMessage(p)));
      for (const n of names) {
        out({ stream: n.startsWith('sha256:') ? `Loaded image ID: ${n}\n` : `Loaded image: ${n}\n` });
        events.emit('image', 'load', n, { name: n });
      }
      if (!started) out({ stream: '' });
      res!.end();
    } catch (e) {
      req.resume();
      if (!started) throw e;
      out({ errorDetail: { message: errorMessage(e) }, error: errorMessage(e) });
      res!.end();
    }
  });

  const save = async (names: string[], res: import('node:http').ServerResponse) => {
    if (!names.length) throw invalidArgument('no image names given (names=)');
    for (const n of names) await images.get(n); // 404 before any byte is sent
    res.writeHead(200, { 'Content-Type': 'application/x-tar' });
    await images.save(names, res);
    res.end();
    for (const n of names) events.emit('image', 'save', n, { name: n });
  };
  r.add('GET', '/images/get', async ({ res, query }) => save(query.getAll('names'), res!));
  r.add('GET', '/images/{name*}/get', async ({ res, params }) => save([params[0]], res!));

  r.add('POST', '/images/{name*}/tag', async ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalidArgument('tag: repository name (repo=) is required');
    const target = `${repo}:${query.get('tag') || 'latest'}`;
    await images.tag(params[0], target);
    const img = await images.get(target);
    events.emit('image', 'tag', img.id, { name: target });
    res!.writeHead(201);
    res!.end();
  });

  r.add('DELETE', '/images/{name*}', async ({ res, params, query }) => {
    const result = await images.remove(params[0], {
      force: boolParam(query, 'force'),
      inUse: (id) => cs.imageInUse(id),
    });
    for (const x of result) {
      if (x.Untagged) events.emit('image', 'untag', x.Untagged, { name: x.Untagged });
      if (x.Deleted) events.emit('image', 'delete', x.Deleted, { name: x.Deleted });
    }
    sendJson(res!, 200, result);
  });
}

function progressMessage(p: LoadProgress): Record<string, unknown> {
  if (p.status !== 'Loading layer') return { status: p.status, progressDetail: {}, id: p.layer };
  return { status: p.status, progressDetail: { current: p.current, total: p.total }, id: p.layer };
}

export function inspectImage(i: ImageRecord): Record<string, unknown> {
  return {
    Id: i.id, RepoTags: i.repoTags, RepoDigests: i.repoDigests, Parent: '', Comment: '',
    Created: i.created, Container: '', ContainerConfig: null, DockerVersion: '', Author: '',
    Config: { ...i.config }, Architecture: i.architecture, Os: i.os, Size: i.size, VirtualSize: i.size,
    GraphDriver: { Name: '', Data: null },
    RootFS: { Type: 'layers', Layers: i.rootfs.diffIds },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
  };
}
