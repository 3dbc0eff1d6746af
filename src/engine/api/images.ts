// /images/* of the Docker-shaped API (load, save, tag, rmi, list, inspect, pull, prune),
// GET /distribution/{name}/json and POST /auth (docker's login check).
import type { ServerResponse } from 'node:http';
import type { Router } from './http.js';
import { sendJson, boolParam, readBody, readJsonBody, endAfterRequest } from './http.js';
import type { ImageStore, LoadProgress, PullProgress } from '../../image/types.js';
import type { ContainerService } from '../containers/service.js';
import type { EventBus } from '../events.js';
import { errorMessage, internal, invalidArgument, isKind, permissionDenied, TsulaError, unimplemented } from '../../common/errors.js';
import { throttleProgress } from '../../common/progress.js';
import { decodeRegistryAuth, normalizeAuth } from '../../image/registry/auth.js';
import { isValidTag, parseReference, parseTagTarget } from '../../image/reference.js';
import { FilterArgs, invalidFilter, selectImages } from './filters.js';
import { imageSummaryFor, inspectImageFor, sharedSize } from './image-views.js';
import { checkImagePlatform, checkPlatform, decodePlatforms, platformParam, formatPlatform, imagePlatform, platformMatches, type Platform } from './platform.js';
import { versionAtLeast } from './version.js';
import { pruneUntil } from '../filters.js';
import { logImageEvent, type Labels } from '../image-events.js';
import { chainIds } from '../../image/layers.js';
import { parsePlatformSpecifier } from '../../image/platforms.js';
import type { SnapshotDriver } from '../../storage/types.js';

export function imageRoutes(r: Router, images: ImageStore, cs: ContainerService, events: EventBus, storage?: Pick<SnapshotDriver, 'name' | 'layerGraphData'>): void {
  const driver = storage?.name ?? '';
  /** The ids of the images these names (or ids) name, each once; a name gone meanwhile is left out. */
  const idsOf = async (names: string[]) => [...new Set((await Promise.all(names.map((n) => images.get(n).then((x) => x.id, () => null)))).filter((x): x is string => !!x))];

  r.add('GET', '/images/json', async ({ res, query, version }) => {
    const filters = FilterArgs.parse(query.get('filters'));
    // below API 1.41 the old `filter` (a reference glob) is a reference filter (dockerd 20.10's getImagesJSON)
    if (!versionAtLeast(version, '1.41') && query.get('filter')) filters.add('reference', query.get('filter')!);
    const list = await images.list();
    // a nameless image a commit was made from is an intermediate one: dockerd lists it with
    // all=1 only, and never as dangling
    const parents = new Set(list.map((i) => i.parent).filter(Boolean));
    const showParents = boolParam(query, 'all') && !(filters.has('dangling') && filters.exactMatch('dangling', 'true'));
    const all = list.filter((i) => showParents || !parents.has(i.id) || i.repoTags.length + i.repoDigests.length > 0).map((i) => ({
      ...i, createdMs: Date.parse(i.created) || 0, labels: i.config.Labels ?? null,
    }));
    const picked = await selectImages(all, filters,
      async (ref) => ({ createdMs: Date.parse((await images.get(ref)).created) || 0 }));
    // shared-size (1.42) costs a pass over every image's layers: only when asked
    const withShared = versionAtLeast(version, '1.42') && boolParam(query, 'shared-size');
    const containers = cs.list();
    sendJson(res!, 200, picked.map(({ image: i, repoTags, repoDigests }) => imageSummaryFor(version, i, {
      repoTags, repoDigests, containers: containers.filter((c) => c.image === i.id).length,
      ...(withShared ? { sharedSize: sharedSize(i, list) } : {}),
    })));
  });

  r.add('GET', '/images/{name*}/json', async ({ res, params, query, version }) => {
    // manifests (1.48) lists an index's manifests: the graphdriver store has none to list,
    // but asking for them and a platform (1.49) at once is still refused
    const manifests = versionAtLeast(version, '1.48') && !!query.get('manifests') && boolParam(query, 'manifests');
    const platform = platformParam(query, version, '1.49');
    if (manifests && platform) throw invalidArgument('conflicting options: manifests and platform options cannot both be set');
    const img = await images.get(params[0]);
    const blob = await images.configBlob(img.id).catch(() => null);
    checkPlatform(params[0], img, blob, platform);
    const graphData = storage?.layerGraphData(chainIds(img.rootfs.diffIds)) ?? null;
    sendJson(res!, 200, inspectImageFor(version, img, blob, driver, graphData));
  });

  r.add('POST', '/images/create', async ({ req, res, query, version }) => {
    // dockerd's postImagesCreate parses a platform as containerd does before a pull or an
    // import starts (a 400); what follows takes it as os/arch[/variant]
    if (query.get('platform')) query.set('platform', formatPlatform(parsePlatformSpecifier(query.get('platform')!)));
    // docker import's code (gzip, the layer writer) loads with the first import
    if (query.get('fromSrc')) return (await import('./image-import.js')).importImage(req, res!, query, images, events);
    req.resume();
    const from = query.get('fromImage');
    if (!from) throw invalidArgument('fromImage is required');
    if (versionAtLeast(version, '1.48') && boolParam(query, 'clientAuth')) throw unimplemented(NO_CLIENT_AUTH);
    const tag = query.get('tag') ?? '';
    const auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    const platform = query.get('platform') || undefined;
    // Like docker: a digest in "tag" makes name@digest; no tag at all on a bare name means all tags.
    const ref = !tag ? from : /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,}$/i.test(tag) ? `${from}@${tag}` : `${from}:${tag}`;
    // FROM scratch's name: dockerd refuses to pull it (403 since dockerd 25, at every version)
    // (a malformed name is the pull's to refuse, in its words)
    const familiar = (() => { try { return parseReference(from.replace(/:$/, '')).name; } catch { return ''; } })();
    if (familiar === 'scratch') throw permissionDenied("'scratch' is a reserved name");
    const out = progressWriter(res!);
    // the client leaving (docker pull's Ctrl-C) stops the pull, as dockerd's request context does
    const abort = new AbortController();
    res!.on('close', () => { if (!res!.writableFinished) abort.abort(); });
    try {
      const hasTag = /@|:[^/]*$/.test(from);
      const opts = { auth, platform, onProgress: out.progress, signal: abort.signal };
      const results = !tag && !hasTag ? await images.pullAllTags(from, opts) : [await images.pull(ref, opts)];
      for (const r of results) await logImageEvent(events, images, 'pull', r.ref, r.ref);
      out.end();
    } catch (e) {
      // dockerd answers a registry it cannot reach (refused, no such host, TLS, 5xx) with 500,
      // not 503: clients (docker-py, compose) key their retries and messages on that
      out.fail(isKind(e, 'Unavailable') ? new TsulaError('Internal', errorMessage(e), { cause: e }) : e);
    }
  });

  r.add('POST', '/images/{name*}/push', async ({ req, res, params, query, version }) => {
    // clientAuth (1.48): dockerd's graphdriver store cannot hand a registry's challenge back
    if (versionAtLeast(version, '1.48') && boolParam(query, 'clientAuth')) throw unimplemented(NO_CLIENT_AUTH);
    // platform (1.46): older clients sent PullOptions' platform along, which dockerd ignores
    const platform = platformParam(query, version, '1.46');
    // dockerd takes the credentials from X-Registry-Auth, else (old clients) from the body
    let auth = decodeRegistryAuth(req.headers['x-registry-auth']);
    if (req.headers['x-registry-auth'] === undefined) {
      const raw = await readBody(req);
      let body: unknown;
      try { body = JSON.parse(raw.toString('utf8')); } catch { body = undefined; }
      if (!body || typeof body !== 'object') throw invalidArgument(`Bad parameters and missing X-Registry-Auth: ${raw.length ? 'invalid JSON' : 'EOF'}`);
      auth = normalizeAuth(body);
    } else {
      req.resume();
    }
    // the graphdriver store pushes the image as it is: it must be of the platform asked
    await checkImagePlatform(images, query.get('tag') ? `${params[0]}:${query.get('tag')}` : params[0], platform);
    const out = progressWriter(res!);
    // the client leaving (docker push's Ctrl-C) stops the push before its next blob and its tag
    const abort = new AbortController();
    res!.on('close', () => { if (!res!.writableFinished) abort.abort(); });
    try {
      // dockerd names the repository before it looks for the image: every error is in the stream
      const results = await images.push(params[0], query.get('tag') ?? '', { auth, onProgress: out.progress, signal: abort.signal });
      for (const r of results) {
        out.aux({ Tag: r.tag, Digest: r.digest, Size: r.size });
        await logImageEvent(events, images, 'push', `${params[0]}:${r.tag}`, `${params[0]}:${r.tag}`);
      }
      out.end();
    } catch (e) {
      out.fail(e);
    }
  });

  r.add('POST', '/images/prune', async ({ res, query }) => {
    const args = FilterArgs.parse(query.get('filters')).validate(['dangling', 'until', 'label', 'label!']);
    const f = args.toRecord();
    const dangling = f.dangling?.[0];
    if (dangling !== undefined && !['true', 'false', '1', '0'].includes(dangling)) throw invalidFilter('dangling', f.dangling);
    const until = pruneUntil(f.until);
    // dockerd's matchLabels: label= must all match, and an image matching every label!= stays
    const labelsOk = (l: Record<string, string> | null | undefined) =>
      args.matchKVList('label', l ?? {}) && !(args.has('label!') && args.matchKVList('label!', l ?? {}));
    // each image's labels as they were (its untag events carry them)
    const before = new Map((await images.list()).map((i) => [i.id, i.config.Labels ?? {}]));
    const result = await images.prune({ all: dangling === 'false' || dangling === '0', inUse: (id) => cs.imageInUse(id), until, labelsOk });
    removalEvents(events, result.deleted, (id) => before.get(id) ?? {});
    events.emit('image', 'prune', '', { reclaimed: String(result.reclaimed) });
    sendJson(res!, 200, { ImagesDeleted: result.deleted.length ? result.deleted : null, SpaceReclaimed: result.reclaimed });
  });

  // docker's distribution router: what a registry serves under a name, without pulling it
  r.add('GET', '/distribution/{name*}/json', async ({ res, params, req }) => {
    // a full image id names nothing in a registry (dockerd's plain error)
    if (/^(sha256:)?[0-9a-f]{64}$/.test(params[0])) throw internal('no manifest found for full image ID');
    sendJson(res!, 200, await images.inspectRemote(params[0], decodeRegistryAuth(req.headers['x-registry-auth'])));
  });

  r.add('POST', '/auth', async ({ req, res }) => {
    const auth = normalizeAuth(await readJsonBody(req));
    if (!auth?.username || auth.password === undefined) throw invalidArgument('username and password are required');
    await images.checkLogin(auth);
    sendJson(res!, 200, { Status: 'Login Succeeded', IdentityToken: '' });
  });

  r.add('POST', '/images/load', async ({ req, res, query, version }) => {
    const platforms = platformsParam(query, version);
    // dockerd's BoolValueOrDefault(quiet, true): no progress unless asked (docker's CLIs send quiet=0)
    const quiet = query.has('quiet') ? boolParam(query, 'quiet') : true;
    let started = false;
    const out = (obj: unknown) => {
      if (!started) {
        res!.writeHead(200, { 'Content-Type': 'application/json' });
        started = true;
      }
      res!.write(JSON.stringify(obj) + '\n');
    };
    try {
      if (platforms.length > 1) throw invalidArgument(SINGLE_PLATFORM_STORE);
      // dockerd's graphdriver store loads only the archive's images of the platform asked
      const select = platforms.length ? (p: Platform) => platformMatches(platforms[0], p) : undefined;
      // dockerd says when a name moves from another image, quiet or not
      const names = await images.load(req, quiet ? undefined : throttleProgress((p: LoadProgress) => out(progressMessage(p)), (p) => `${p.layer}\0${p.status}`, (p) => p.current < p.total),
        (name, old) => out({ stream: `The image ${name} already exists, renaming the old one with ID ${old} to empty string\n` }), { select });
      for (const n of names) out({ stream: n.startsWith('sha256:') ? `Loaded image ID: ${n}\n` : `Loaded image: ${n}\n` });
      // dockerd's: one event per image loaded, named by its id
      for (const id of await idsOf(names)) await logImageEvent(events, images, 'load', id, id);
      if (!started) out({ stream: '' });
      res!.end();
    } catch (e) {
      // dockerd answers 200 and puts a load's failure in the stream (the CLI prints it bare)
      out({ errorDetail: { message: errorMessage(e) }, error: errorMessage(e) });
      endAfterRequest(req, res!);
    }
  });

  const save = async (names: string[], res: import('node:http').ServerResponse, query: URLSearchParams, version: string) => {
    const platforms = platformsParam(query, version);
    if (platforms.length > 1) throw invalidArgument(SINGLE_PLATFORM_STORE);
    if (!names.length) throw invalidArgument('no image names given (names=)');
    if (platforms.length) {
      // every image must be of that platform (dockerd's tarexport, a plain error: 500)
      for (const n of names) {
        const img = await images.get(n);
        if (!platformMatches(platforms[0], imagePlatform(img, await images.configBlob(img.id).catch(() => null)))) {
          throw internal(`no suitable export target found for platform ${formatPlatform(platforms[0])}`);
        }
      }
    }
    // the head goes with the first byte: a name the store refuses first is still a 404
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/x-tar');
    await images.save(names, res);
    res.end();
    for (const id of await idsOf(names)) await logImageEvent(events, images, 'save', id, id);
  };
  r.add('GET', '/images/get', async ({ res, query, version }) => save(query.getAll('names'), res!, query, version));
  r.add('GET', '/images/{name*}/get', async ({ res, params, query, version }) => save([params[0]], res!, query, version));

  // docker search asks Docker Hub's v1 index, which tsulad does not speak
  r.add('GET', '/images/search', async () => {
    throw unimplemented('searching a registry (docker search) is not supported by tsulad: browse the registry (hub.docker.com) or list its tags with `skopeo list-tags docker://REPOSITORY`');
  });

  r.add('POST', '/images/{name*}/tag', async ({ res, params, query }) => {
    const repo = query.get('repo');
    if (!repo) throw invalidArgument('tag: repository name (repo=) is required');
    // docker: repo may carry its own tag; a tag= replaces it; neither means latest
    const parsed = parseTagTarget(repo);
    const tag = query.get('tag');
    if (tag && !isValidTag(tag)) throw invalidArgument(`invalid tag format: "${tag}"`);
    // dockerd 25+ (unversioned): a repository called sha256 would read as an image id
    if (parsed.name === 'sha256') throw invalidArgument('refusing to create an ambiguous tag using digest algorithm as name');
    const target = `${parsed.name}:${tag || parsed.tag || 'latest'}`;
    // by the id the tag named: an rmi of the target right after must not make this a 404
    const id = await images.tag(params[0], target);
    await logImageEvent(events, images, 'tag', id, target);
    res!.writeHead(201);
    res!.end();
  });

  r.add('DELETE', '/images/{name*}', async ({ res, params, query, version }) => {
    // dockerd's ImageDelete, before any lookup
    if (!params[0]!.trim()) throw invalidArgument('image name cannot be blank');
    // platforms (1.50) removes an index's variants in the containerd store; the graphdriver
    // store's images have one platform each and it goes unused, once decoded
    if (versionAtLeast(version, '1.50')) decodePlatforms(query.getAll('platforms'));
    const img = await images.get(params[0]).catch(() => null);
    const imageId = img?.id;
    const result = await images.remove(params[0], {
      force: boolParam(query, 'force'),
      inUse: (id) => cs.imageInUse(id),
      running: (id) => cs.imageRunning(id),
      noPrune: boolParam(query, 'noprune'),
    });
    removalEvents(events, result, () => img?.config.Labels ?? {}, imageId);
    sendJson(res!, 200, result);
  });
}

const NO_CLIENT_AUTH = 'engine is using the graphdriver image store, which does not support client auth handling';
const SINGLE_PLATFORM_STORE = 'multiple platforms not supported for this image store; use a multi-platform image store such as containerd-snapshotter';

/**
 * save's and load's platform= (1.48), repeated from 1.52 (dockerd refuses the repeat below);
 * older versions ignore it.
 */
function platformsParam(query: URLSearchParams, version: string): Platform[] {
  if (!versionAtLeast(version, '1.48')) return [];
  const raw = query.getAll('platform');
  if (!versionAtLeast(version, '1.52') && raw.length > 1) {
    throw invalidArgument('multiple platform parameters are not supported in this API version; use API version 1.52 or later');
  }
  return decodePlatforms(raw);
}

/**
 * A JSON-lines progress stream whose 200 head is only sent with the first message, so an
 * error before it (bad reference, unknown manifest, refused login) gets its own status.
 */
function progressWriter(res: ServerResponse): { progress: (p: PullProgress) => void; aux: (a: unknown) => void; end: () => void; fail: (e: unknown) => void } {
  let started = false;
  const write = (obj: unknown) => {
    if (res.writableEnded || res.destroyed) return;
    if (!started) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      started = true;
    }
    res.write(JSON.stringify(obj) + '\n');
  };
  return {
    progress: (p) => write(p.current !== undefined
      ? { status: p.status, progressDetail: { current: p.current, total: p.total }, progress: progressBar(p.current, p.total ?? 0), id: p.id }
      : p.id !== undefined && !p.status.startsWith('Pulling from ') ? { status: p.status, progressDetail: {}, id: p.id }
        : p.id !== undefined ? { status: p.status, id: p.id } : { status: p.status }),
    aux: (a) => write({ progressDetail: {}, aux: a }),
    end: () => { if (!started) write({ status: '' }); res.end(); },
    fail: (e) => {
      if (!started) throw e;
      write({ errorDetail: { message: errorMessage(e) }, error: errorMessage(e) });
      res.end();
    },
  };
}

/** docker's JSONProgress.String(): "[=====>      ]  1.05MB/2.1MB". */
function progressBar(current: number, total: number): string {
  const size = (n: number) => {
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return `${Number(n.toPrecision(3))}${u[i]}`;
  };
  if (total <= 0) return size(current);
  const w = 50;
  const done = Math.min(w, Math.floor((current / total) * w));
  const bar = `[${'='.repeat(done)}${done < w ? '>' : ''}${' '.repeat(Math.max(0, w - done - 1))}]`;
  return `${bar} ${size(current).padStart(8)}/${size(total)}`;
}

function progressMessage(p: LoadProgress): Record<string, unknown> {
  return { status: p.status, progressDetail: { current: p.current, total: p.total }, id: p.layer };
}

/**
 * dockerd's events for a removal's records: untag and delete both carry the image's id (its
 * name attribute too), so that a filter by image id sees them. An Untagged record's image is
 * `imageId` (rmi of one image) or the next Deleted record's (prune lists each image's tags,
 * then its id). An untag carries the image's labels (`labelsOf`, read before the removal);
 * a delete none: dockerd logs it once the image has left its store.
 */
function removalEvents(events: EventBus, records: Array<{ Untagged?: string; Deleted?: string }>, labelsOf: (id: string) => Labels, imageId?: string): void {
  records.forEach((x, i) => {
    const id = imageId ?? records.slice(i).find((y) => y.Deleted)?.Deleted ?? x.Untagged ?? '';
    if (x.Untagged) events.emit('image', 'untag', id, { ...labelsOf(id), name: id });
    if (x.Deleted) events.emit('image', 'delete', x.Deleted, { name: x.Deleted });
  });
}
