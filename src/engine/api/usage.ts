// Disk use over the Docker-shaped API: a container's SizeRw/SizeRootFs (ps -s, inspect -s),
// docker system df (/system/df) and docker container prune (/containers/prune).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Router } from './http.js';
import { sendJson } from './http.js';
import type { ContainerService } from '../containers/service.js';
import type { ContainerFiles } from '../containers/files.js';
import { running, type Container } from '../containers/model.js';
import type { ImageStore } from '../../image/types.js';
import type { EventBus } from '../events.js';
import { invalidArgument } from '../../common/errors.js';
import { imageShown, summary } from './containers.js';
import { summaryForVersion } from './compat-views.js';
import { dfBody, dfImageRow, dfKinds, dfShape, type DfParts } from './system-df.js';
import type { VolumeStore } from '../volumes/index.js';
import { matchLabels, parseFilters, pruneUntil } from '../filters.js';
import { sharedSize } from './image-views.js';

export interface ContainerSize { SizeRw: number; SizeRootFs: number }

/**
 * dockerd's sizes: SizeRw the bytes of the files the container added or changed (its
 * writable layer's diff), SizeRootFs that plus its image. 0 when the snapshot is gone.
 */
export async function containerSize(files: ContainerFiles, images: ImageStore, c: Container): Promise<ContainerSize> {
  let rw = 0;
  const wc = await files.writableChanges(c).catch(() => null);
  for (const ch of wc?.changes ?? []) {
    if (ch.Kind === 2) continue;
    const st = await fs.lstat(path.join(wc!.source, ch.Path)).catch(() => null);
    if (st && !st.isDirectory()) rw += st.size;
  }
  const image = await images.get(c.image).catch(() => null);
  return { SizeRw: rw, SizeRootFs: rw + (image?.size ?? 0) };
}

export function usageRoutes(r: Router, d: { cs: ContainerService; files: ContainerFiles; images: ImageStore; events: EventBus; volumes?: VolumeStore }): void {
  const { cs, files, images, events } = d;

  r.add('GET', '/system/df', async ({ res, query, version }) => {
    const kinds = dfKinds(query, version);
    const shape = dfShape(query, version);
    const parts: DfParts = {};
    const containers = cs.list();
    if (kinds.has('image')) {
      const list = await images.list();
      const layers = new Map<string, number>();
      for (const i of list) i.chainIds.forEach((c, k) => layers.set(c, i.layerSizes?.[k] ?? 0));
      parts.layersSize = [...layers.values()].reduce((a, b) => a + b, 0);
      parts.images = list.map((i) => dfImageRow({
        // the <none> placeholders only for an image with neither tag nor digest, as the image list's
        Id: i.id, ParentId: '', ...noneRefs(i.repoTags, i.repoDigests),
        Created: Math.floor(Date.parse(i.created) / 1000) || 0, Size: i.size, SharedSize: sharedSize(i, list), VirtualSize: i.size,
        Labels: i.config.Labels ?? null, Containers: containers.filter((c) => c.image === i.id).length,
      }, version));
    }
    if (kinds.has('container')) {
      parts.containers = [];
      const image = imageShown(images);
      for (const c of containers) {
        parts.containers.push(summaryForVersion({ ...summary(c, undefined, version), Image: await image(c), ...(await containerSize(files, images, c)) }, c, version));
      }
    }
    if (kinds.has('volume')) parts.volumes = d.volumes ? await d.volumes.usage() : [];
    if (kinds.has('build-cache')) parts.buildCache = [];
    sendJson(res!, 200, dfBody(parts, shape, version));
  });

  r.add('POST', '/containers/prune', async ({ res, query }) => {
    const f = parseFilters(query.get('filters'));
    for (const k of Object.keys(f)) if (!['until', 'label', 'label!'].includes(k)) throw invalidArgument(`Invalid filter '${k}'`);
    const until = pruneUntil(f.until);
    const victims = cs.list().filter((c) => !running(c.state) && c.state.status !== 'removing'
      && (until === undefined || Date.parse(c.createdAt) < until) && matchLabels(c.config.labels, f.label ?? [], f['label!']));
    const deleted: string[] = [];
    let reclaimed = 0;
    for (const c of victims) {
      const size = await containerSize(files, images, c);
      try {
        await cs.remove(c.id, { force: false });
      } catch {
        continue; // started or removed meanwhile: not ours to prune (dockerd skips it too)
      }
      deleted.push(c.id);
      reclaimed += size.SizeRw;
    }
    events.emit('container', 'prune', '', { reclaimed: String(reclaimed) });
    sendJson(res!, 200, { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed });
  });
}

/** An image's references in a df row below API 1.43: `<none>` for both where it has neither, else its own (dfImageRow empties the placeholders from 1.43). */
function noneRefs(tags: string[], digests: string[]): { RepoTags: string[]; RepoDigests: string[] } {
  if (!tags.length && !digests.length) return { RepoTags: ['<none>:<none>'], RepoDigests: ['<none>@<none>'] };
  return { RepoTags: tags, RepoDigests: digests };
}
