// GET /system/df per Engine API version, as dockerd's getDiskUsage answers: every kind of
// object before 1.42; from 1.42 only the kinds ?type= names (container, image, volume,
// build-cache); images without VirtualSize from 1.44 and without the "<none>" placeholders
// from 1.43; from 1.52 a summary per kind (ImagesUsage, ContainersUsage, VolumesUsage,
// BuildCacheUsage), with the legacy lists too unless ?verbose= is given (then the lists are
// the summaries' Items, or nothing).
import { invalidArgument } from '../../common/errors.js';
import { versionAtLeast } from './version.js';
import { parseGoBool } from '../../common/gobool.js';

export type Kind = 'container' | 'image' | 'volume' | 'build-cache';
const KINDS: readonly Kind[] = ['container', 'image', 'volume', 'build-cache'];

/** The kinds a request asks for (all of them before 1.42 or without ?type=). */
export function dfKinds(query: URLSearchParams, version: string): Set<Kind> {
  const types = query.getAll('type');
  if (!versionAtLeast(version, '1.42') || !query.has('type')) return new Set(KINDS);
  for (const t of types) if (!KINDS.includes(t as Kind)) throw invalidArgument(`unknown object type: ${t}`);
  return new Set(types as Kind[]);
}

/** How the answer is shaped: legacy lists, summaries, and whether the summaries list their items. */
export function dfShape(query: URLSearchParams, version: string): { legacy: boolean; summaries: boolean; items: boolean } {
  const v = query.get('verbose');
  if (!versionAtLeast(version, '1.52')) return { legacy: true, summaries: false, items: false };
  if (v === null || v === '') return { legacy: true, summaries: true, items: false };
  const items = parseGoBool(v);
  if (items === null) throw invalidArgument(`invalid value for verbose: ${v}`);
  return { legacy: false, summaries: true, items };
}

export interface ImageRow { Size: number; SharedSize: number; Containers: number; [k: string]: unknown }
export interface ContainerRow { SizeRw?: number; State?: unknown; [k: string]: unknown }
export interface VolumeRow { UsageData: { Size: number; RefCount: number }; [k: string]: unknown }

export interface DfParts {
  layersSize?: number;
  images?: ImageRow[];
  containers?: ContainerRow[];
  volumes?: VolumeRow[];
  buildCache?: unknown[];
}

/** An image row for the version (1.43: no "<none>" placeholders; 1.44: no VirtualSize). */
export function dfImageRow<T extends Record<string, unknown>>(row: T, version: string): T {
  if (versionAtLeast(version, '1.43')) {
    if ((row.RepoTags as string[]).length === 1 && (row.RepoTags as string[])[0] === '<none>:<none>') (row as Record<string, unknown>).RepoTags = [];
    if ((row.RepoDigests as string[]).length === 1 && (row.RepoDigests as string[])[0] === '<none>@<none>') (row as Record<string, unknown>).RepoDigests = [];
  }
  if (versionAtLeast(version, '1.44')) delete row.VirtualSize;
  return row;
}

/** The answer's body from the parts computed (only the kinds asked for are there). */
export function dfBody(p: DfParts, shape: ReturnType<typeof dfShape>, version: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (shape.legacy) {
    // dockerd 29 leaves out the kinds not asked for, and LayersSize when 0 (from 1.42: before, all are)
    if (p.images) { if (p.layersSize || !versionAtLeast(version, '1.42')) out.LayersSize = p.layersSize ?? 0; out.Images = p.images; }
    if (p.containers) out.Containers = p.containers;
    if (p.volumes) out.Volumes = p.volumes;
    if (p.buildCache) out.BuildCache = p.buildCache;
  }
  if (!shape.summaries) return out;
  const nz = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== 0 && v !== undefined));
  if (p.images) {
    const active = p.images.filter((i) => i.Containers > 0);
    out.ImagesUsage = nz({
      ActiveImages: active.length, TotalImages: p.images.length, TotalSize: p.layersSize ?? 0,
      // what removing the unused images would free: their layers no other image has
      Reclaimable: p.images.filter((i) => i.Containers <= 0).reduce((a, i) => a + Math.max(0, i.Size - i.SharedSize), 0),
      ...(shape.items ? { Items: p.images } : {}),
    });
  }
  if (p.containers) {
    const running = (c: ContainerRow) => c.State === 'running' || c.State === 'paused' || c.State === 'restarting';
    out.ContainersUsage = nz({
      ActiveContainers: p.containers.filter(running).length, TotalContainers: p.containers.length,
      TotalSize: p.containers.reduce((a, c) => a + (c.SizeRw ?? 0), 0),
      Reclaimable: p.containers.filter((c) => !running(c)).reduce((a, c) => a + (c.SizeRw ?? 0), 0),
      ...(shape.items ? { Items: p.containers } : {}),
    });
  }
  if (p.volumes) {
    const size = (v: VolumeRow) => Math.max(0, v.UsageData.Size);
    out.VolumesUsage = nz({
      ActiveVolumes: p.volumes.filter((v) => v.UsageData.RefCount > 0).length, TotalVolumes: p.volumes.length,
      TotalSize: p.volumes.reduce((a, v) => a + size(v), 0),
      Reclaimable: p.volumes.filter((v) => v.UsageData.RefCount <= 0).reduce((a, v) => a + size(v), 0),
      ...(shape.items ? { Items: p.volumes } : {}),
    });
  }
  if (p.buildCache) out.BuildCacheUsage = nz({ TotalBuildCacheRecords: p.buildCache.length, ...(shape.items && p.buildCache.length ? { Items: p.buildCache } : {}) });
  return out;
}
