// /volumes/* of the Docker-shaped API (docker volume ls/create/inspect/rm/prune) over the
// engine's volume store (local driver).
import type { Router } from './http.js';
import { boolParam, readJsonBody, sendJson, sendStatus } from './http.js';
import { checkFilterKeys, matchLabels, parseFilters, type Filters } from '../filters.js';
import { ANONYMOUS_LABEL, isAnonymous, type VolumeRecord, type VolumeStore } from '../volumes/index.js';
import { invalidArgument, unavailable } from '../../common/errors.js';
import { versionAtLeast } from './version.js';
import { NOT_MANAGER } from './swarm.js';
import { parseGoBool } from '../../common/gobool.js';

/** A boolean filter's value (any true wins); dockerd's words for another value, lower-case as its volume filters'. */
function boolFilter(f: Filters, key: string): boolean {
  const vals = f[key] ?? [];
  if (vals.some((v) => !['true', 'false', '1', '0'].includes(v))) throw invalidArgument(`invalid filter '${key}=[${vals.join(' ')}]'`);
  return vals.some((v) => v === 'true' || v === '1');
}

/** The prune's `all` filter as dockerd's withPrune reads it: one value (a set: repeats are one), Go's bool. */
function pruneAll(f: Filters): boolean {
  const vals = [...new Set(f.all ?? [])];
  if (vals.length > 1) throw invalidArgument(`invalid filter 'all=[${vals.join(' ')}]': only one value is expected`);
  if (!vals.length) return false;
  const all = parseGoBool(vals[0]!);
  if (all === null) throw invalidArgument(`invalid filter 'all': strconv.ParseBool: parsing ${JSON.stringify(vals[0])}: invalid syntax`);
  return all;
}

/** A volume's labels as dockerd 29 keeps them: an anonymous one's own label among them. */
function labelsOf(v: VolumeRecord): Record<string, string> {
  return isAnonymous(v) ? { ...v.labels, [ANONYMOUS_LABEL]: '' } : v.labels;
}

/** `docker volume inspect`'s JSON: 1.41 as before, from 1.42 with the anonymous label. */
function view(vols: VolumeStore, v: VolumeRecord, version: string) {
  const base = vols.view(v);
  return versionAtLeast(version, '1.42') && isAnonymous(v) ? { ...base, Labels: labelsOf(v) } : base;
}

export function volumeRoutes(r: Router, vols: VolumeStore): void {
  r.add('GET', '/volumes', async ({ res, query, version }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['dangling', 'driver', 'label', 'name']);
    boolFilter(f, 'dangling');
    const labelled = versionAtLeast(version, '1.42');
    // from 1.42 an anonymous volume's label is there to match, as dockerd stores it
    const list = labelled && f.label?.length
      ? vols.list({ ...f, label: [] }).filter((v) => matchLabels(labelsOf(v), f.label!))
      : vols.list(f);
    sendJson(res!, 200, { Volumes: list.map((v) => view(vols, v, version)), Warnings: null });
  });

  r.add('POST', '/volumes/create', async ({ req, res, version }) => {
    const body = await readJsonBody(req, { checkType: true });
    // 1.42's cluster volumes are swarm's: dockerd without a swarm answers so
    if (versionAtLeast(version, '1.42') && body && typeof body === 'object' && (body as { ClusterVolumeSpec?: unknown }).ClusterVolumeSpec) {
      throw unavailable(NOT_MANAGER);
    }
    sendJson(res!, 201, view(vols, await vols.create(body), version));
  });

  r.add('POST', '/volumes/prune', async ({ res, query, version }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['label', 'label!', 'all']);
    if (!versionAtLeast(version, '1.42')) {
      // before 1.42 every unused volume: dockerd adds all=true itself (an all=false then makes two values)
      pruneAll({ ...f, all: [...(f.all ?? []), 'true'] });
      sendJson(res!, 200, await vols.prune({ ...f, all: [] }));
      return;
    }
    // 1.42: only anonymous volumes, unless the `all` filter says otherwise
    sendJson(res!, 200, await vols.prune(f, { anonymousOnly: !pruneAll(f), skipOptions: true, labels: labelsOf }));
  });

  r.add('GET', '/volumes/{name}', async ({ res, params, version }) => {
    sendJson(res!, 200, view(vols, vols.get(params[0]!), version));
  });

  // 1.42's update of a cluster volume: swarm's, which dockerd without one refuses so; before
  // 1.42 the route did not exist (the router's 405, as before)
  r.add('PUT', '/volumes/{name}', async ({ res, params, version }) => {
    if (!versionAtLeast(version, '1.42')) {
      sendJson(res!, 405, { message: `method PUT not allowed on /volumes/${params[0]!}` });
      return;
    }
    throw unavailable('volume update only valid for cluster volumes, but swarm is unavailable');
  });

  r.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await vols.remove(params[0]!, { force: boolParam(query, 'force') });
    sendStatus(res!, 204);
  });
}
