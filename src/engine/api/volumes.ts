// /volumes/* of the Docker-shaped API (docker volume ls/create/inspect/rm/prune) over the
// engine's volume store (local driver).
import type { Router } from './http.js';
import { boolParam, readJsonBody, sendJson, sendStatus } from './http.js';
import { checkFilterKeys, parseFilters } from '../filters.js';
import type { VolumeStore } from '../volumes/index.js';
import { invalidArgument } from '../../common/errors.js';

export function volumeRoutes(r: Router, vols: VolumeStore): void {
  r.add('GET', '/volumes', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['dangling', 'driver', 'label', 'name']);
    // dockerd's words (volume/service/convert.go), lower-case unlike the other filters'
    const bad = (f.dangling ?? []).filter((v) => !['true', 'false', '1', '0'].includes(v));
    if (bad.length) throw invalidArgument(`invalid filter 'dangling=[${f.dangling!.join(' ')}]'`);
    sendJson(res!, 200, { Volumes: vols.list(f).map((v) => vols.view(v)), Warnings: null });
  });

  r.add('POST', '/volumes/create', async ({ req, res }) => {
    sendJson(res!, 201, vols.view(await vols.create(await readJsonBody(req, { checkType: true }))));
  });

  r.add('POST', '/volumes/prune', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    checkFilterKeys(f, ['label', 'label!']);
    sendJson(res!, 200, await vols.prune(f));
  });

  r.add('GET', '/volumes/{name}', async ({ res, params }) => {
    sendJson(res!, 200, vols.view(vols.get(params[0]!)));
  });

  r.add('DELETE', '/volumes/{name}', async ({ res, params, query }) => {
    await vols.remove(params[0]!, { force: boolParam(query, 'force') });
    sendStatus(res!, 204);
  });
}
