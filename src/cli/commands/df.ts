// `tsula system df [-v]`: GET /system/df, printed as docker's disk-usage formatter prints it:
// one line per type (Images, Containers, Local Volumes, Build Cache), or with -v a table
// per type.
import type { CommandSpec, Parsed } from '../args.js';
import type { Cli } from '../context.js';
import { writeFormatted } from '../format.js';
import { parseRef } from '../reference.js';
import { humanSize, timeAgo } from '../units.js';
import { containerContext, type ContainerSummary } from './ps.js';
import { imageRows, type ImageSummary } from './images.js';

export const spec: CommandSpec = {
  name: 'system df', usage: '[OPTIONS]', desc: 'Show tsula disk usage', maxArgs: 0,
  flags: [
    { long: 'format', kind: 'string', desc: 'Pretty-print images using a Go template' },
    { long: 'verbose', short: 'v', kind: 'bool', desc: 'Show detailed information on space usage' },
  ],
};

interface Volume { Name: string; UsageData?: { Size: number; RefCount: number } | null }
interface BuildCache { ID: string; Type?: string; Size: number; CreatedAt?: string; LastUsedAt?: string | null; UsageCount?: number; InUse?: boolean; Shared?: boolean }

export interface DiskUsage {
  LayersSize?: number;
  Images?: Array<ImageSummary & { Containers?: number; SharedSize?: number; VirtualSize?: number }> | null;
  Containers?: ContainerSummary[] | null;
  Volumes?: Volume[] | null;
  BuildCache?: BuildCache[] | null;
}

const SUMMARY_FORMAT = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
const SUMMARY_HEADERS = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };

/** "1.2MB (50%)": docker shows the share of the total when there is a total. */
const withShare = (part: number, total: number) => (total > 0 ? `${humanSize(part)} (${Math.trunc((part * 100) / total)}%)` : humanSize(part));

const active = (state = '') => /running|paused|restarting/.test(state);

/** The four summary rows, docker's diskUsage*Context values. */
export function summaryRows(du: DiskUsage): Record<string, string>[] {
  const images = du.Images ?? [];
  const containers = du.Containers ?? [];
  const volumes = du.Volumes ?? [];
  const cache = du.BuildCache ?? [];
  const layers = du.LayersSize ?? 0;
  const usedByImages = images.filter((i) => (i.Containers ?? 0) !== 0 && i.VirtualSize !== -1 && i.SharedSize !== -1)
    .reduce((n, i) => n + (i.VirtualSize ?? 0) - (i.SharedSize ?? 0), 0);
  const rw = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const rwIdle = containers.filter((c) => !active(c.State)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const vSize = volumes.reduce((n, v) => n + (v.UsageData && v.UsageData.Size !== -1 ? v.UsageData.Size : 0), 0);
  const vIdle = volumes.filter((v) => v.UsageData?.RefCount === 0).reduce((n, v) => n + Math.max(0, v.UsageData!.Size), 0);
  const cSize = cache.filter((b) => !b.Shared).reduce((n, b) => n + b.Size, 0);
  const cIdle = cache.filter((b) => !b.Shared && !b.InUse).reduce((n, b) => n + b.Size, 0);
  // keys in the order docker's {{json .}} has them (its contexts marshal through a map: sorted)
  return [
    { Active: String(images.filter((i) => (i.Containers ?? 0) > 0).length), Reclaimable: withShare(layers - usedByImages, layers), Size: humanSize(layers), TotalCount: String(images.length), Type: 'Images' },
    { Active: String(containers.filter((c) => active(c.State)).length), Reclaimable: withShare(rwIdle, rw), Size: humanSize(rw), TotalCount: String(containers.length), Type: 'Containers' },
    { Active: String(volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length), Reclaimable: withShare(vIdle, vSize), Size: humanSize(vSize), TotalCount: String(volumes.length), Type: 'Local Volumes' },
    { Active: String(cache.filter((b) => b.InUse).length), Reclaimable: humanSize(cIdle), Size: humanSize(cSize), TotalCount: String(cache.length), Type: 'Build Cache' },
  ];
}

/** -v: docker's verboseWrite, a table per type. */
async function verbose(cli: Cli, du: DiskUsage): Promise<void> {
  const now = Date.now();
  cli.out.write('Images space usage:\n\n');
  const images = (du.Images ?? []).map((i) => {
    // the first tag only, <none> for an untagged image
    const tag = (i.RepoTags ?? []).find((t) => t !== '<none>:<none>');
    const r = tag ? parseRef(tag) : undefined;
    const row = imageRows([{ ...i, RepoTags: tag ? [tag] : [], RepoDigests: [] }], true, now)[0]!;
    const na = (n: number | undefined) => (n === undefined || n === -1 ? 'N/A' : undefined);
    return {
      ...row, Repository: r?.name ?? '<none>', Tag: r?.tag ?? '<none>',
      VirtualSize: humanSize(i.VirtualSize ?? i.Size ?? 0),
      SharedSize: na(i.SharedSize) ?? humanSize(i.SharedSize!),
      UniqueSize: na(i.SharedSize) ?? na(i.VirtualSize) ?? humanSize(i.VirtualSize! - i.SharedSize!),
      Containers: na(i.Containers) ?? String(i.Containers),
    };
  });
  await writeFormatted(cli.out, 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.VirtualSize}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}',
    images, { Repository: 'REPOSITORY', Tag: 'TAG', ID: 'IMAGE ID', CreatedSince: 'CREATED', VirtualSize: 'SIZE', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE', Containers: 'CONTAINERS' });
  cli.out.write('\nContainers space usage:\n\n');
  await writeFormatted(cli.out, 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}',
    // docker: "Don't display the virtual size" here
    (du.Containers ?? []).map((c) => containerContext({ ...c, SizeRootFs: 0 }, true, now)),
    { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', RunningFor: 'CREATED', Status: 'STATUS', Names: 'NAMES' });
  cli.out.write('\nLocal Volumes space usage:\n\n');
  await writeFormatted(cli.out, 'table {{.Name}}\t{{.Links}}\t{{.Size}}',
    (du.Volumes ?? []).map((v) => ({ Name: v.Name, Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A', Size: v.UsageData ? humanSize(v.UsageData.Size) : 'N/A' })),
    { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' });
  const cache = du.BuildCache ?? [];
  cli.out.write(`\nBuild cache usage: ${humanSize(cache.filter((b) => !b.Shared).reduce((n, b) => n + b.Size, 0))}\n\n`);
  await writeFormatted(cli.out, 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}',
    cache.map((b) => ({
      ID: b.ID.slice(0, 12), CacheType: b.Type ?? '', Size: humanSize(b.Size),
      CreatedSince: b.CreatedAt ? timeAgo(Date.parse(b.CreatedAt) / 1000, now) : '',
      LastUsedSince: b.LastUsedAt ? timeAgo(Date.parse(b.LastUsedAt) / 1000, now) : '',
      UsageCount: String(b.UsageCount ?? 0), Shared: String(!!b.Shared),
    })),
    { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' });
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const du = await cli.client.json<DiskUsage>('GET', '/system/df');
  const format = p.str('format');
  if (p.bool('verbose') && (!format || format === 'table')) {
    await verbose(cli, du ?? {});
    return 0;
  }
  await writeFormatted(cli.out, !format || format === 'table' ? SUMMARY_FORMAT : format, summaryRows(du ?? {}), SUMMARY_HEADERS);
  return 0;
}
