// Image commands: images (GET /images/json), tag (POST /images/{name}/tag),
// rmi (DELETE /images/{name}) and save (GET /images/get → a tar file).
import type { CommandSpec, Parsed } from '../args.js';
import { imageSeg } from '../client.js';
import { forEach, type Cli } from '../context.js';
import { truncateId, writeFormatted } from '../format.js';
import { parseReference } from '../../image/reference.js';
import { parseRef, tagQuery } from '../reference.js';
import { refuseTerminal, validateOutputPath, writeOutput } from '../transfer.js';
import { goTimeString, humanSize, humanSizeWithPrecision, timeAgo } from '../units.js';
import { filtersJson } from './ps.js';

export const imagesSpec: CommandSpec = {
  name: 'images', usage: '[OPTIONS] [REPOSITORY[:TAG]]', desc: 'List images', maxArgs: 1,
  flags: [
    { long: 'all', short: 'a', kind: 'bool', desc: 'Show all images (default hides intermediate images)' },
    { long: 'digests', kind: 'bool', desc: 'Show digests' },
    { long: 'filter', short: 'f', kind: 'list', desc: 'Filter output based on conditions provided', meta: 'filter' },
    { long: 'format', kind: 'string', desc: 'Format output using a custom template' },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only show image IDs' },
  ],
};
export const tagSpec: CommandSpec = {
  name: 'tag', usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]', desc: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  minArgs: 2, maxArgs: 2, flags: [],
};
export const rmiSpec: CommandSpec = {
  name: 'rmi', usage: '[OPTIONS] IMAGE [IMAGE...]', desc: 'Remove one or more images', minArgs: 1,
  flags: [
    { long: 'force', short: 'f', kind: 'bool', desc: 'Force removal of the image' },
    { long: 'no-prune', kind: 'bool', desc: 'Do not delete untagged parents' },
  ],
};
export const saveSpec: CommandSpec = {
  name: 'save', usage: '[OPTIONS] IMAGE [IMAGE...]', desc: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  minArgs: 1,
  flags: [{ long: 'output', short: 'o', kind: 'string', desc: 'Write to a file, instead of STDOUT' }],
};

export interface ImageSummary {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Created?: number;
  Size?: number;
  VirtualSize?: number;
  Labels?: Record<string, string> | null;
}

const DEFAULT_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
const DIGEST_FORMAT = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}';
const HEADERS = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED',
  CreatedAt: 'CREATED AT', Size: 'SIZE', VirtualSize: 'VIRTUAL SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
};

/**
 * docker's image formatter (imageFormatTaggedAndDigest): a row per tag of each repository
 * (with --digests, per tag and digest of that repository), then a `<none>` row for each
 * repository named by digest only; a dangling image is one `<none>` row.
 */
export function imageRows(images: ImageSummary[], trunc: boolean, now = Date.now(), digests = false): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const img of images) {
    const base = {
      ID: trunc ? truncateId(img.Id) : img.Id,
      CreatedSince: timeAgo(img.Created ?? 0, now),
      CreatedAt: goTimeString(new Date((img.Created ?? 0) * 1000)),
      Size: humanSizeWithPrecision(img.Size ?? 0, 3),
      // docker's VirtualSize: units.HumanSize (4 significant digits)
      VirtualSize: humanSize(img.VirtualSize ?? img.Size ?? 0),
      Containers: 'N/A',
      SharedSize: 'N/A',
      UniqueSize: 'N/A',
    };
    const add = (repo: string, tag: string, digest: string) => rows.push({ ...base, Repository: repo, Tag: tag, Digest: digest });
    const tags = new Map<string, string[]>();
    const byDigest = new Map<string, string[]>();
    const group = (m: Map<string, string[]>, k: string, v: string) => m.set(k, [...(m.get(k) ?? []), v]);
    for (const t of img.RepoTags ?? []) {
      if (t === '<none>:<none>') continue;
      const r = parseRef(t);
      if (r.tag) group(tags, r.name, r.tag);
    }
    for (const rd of img.RepoDigests ?? []) {
      if (rd === '<none>@<none>') continue;
      const r = parseRef(rd);
      if (r.digest) group(byDigest, r.name, r.digest);
    }
    if (!tags.size && !byDigest.size) { add('<none>', '<none>', '<none>'); continue; }
    for (const [repo, list] of tags) {
      const ds = digests ? byDigest.get(repo) ?? [] : [];
      byDigest.delete(repo); // never a row of their own
      for (const t of list) {
        if (!ds.length) add(repo, t, '<none>');
        for (const d of ds) add(repo, t, d);
      }
    }
    for (const [repo, ds] of byDigest) {
      if (digests) for (const d of ds) add(repo, '<none>', d);
      else add(repo, '<none>', '');
    }
  }
  return rows;
}

export async function images(cli: Cli, p: Parsed): Promise<number> {
  const filters = [...p.list('filter')];
  if (p.args[0]) filters.push(`reference=${p.args[0]}`);
  const list = await cli.client.json<ImageSummary[]>('GET', '/images/json', {
    all: p.bool('all') || undefined,
    digests: p.bool('digests') || undefined,
    filters: filtersJson(filters),
  });
  const trunc = !p.bool('no-trunc');
  let format = p.str('format');
  // -q is the {{.ID}} of each row, as docker 20.10 prints it: an image with two tags twice
  if (p.bool('quiet')) format = '{{.ID}}';
  else if (!format || format === 'table') format = p.bool('digests') ? DIGEST_FORMAT : DEFAULT_FORMAT;
  const rows = imageRows(list ?? [], trunc, Date.now(), p.bool('digests') || format.includes('{{.Digest}}'));
  if (format === 'json') {
    const { formatContextJson } = await import('../template.js');
    for (const r of rows) cli.print(formatContextJson(r));
    return 0;
  }
  await writeFormatted(cli.out, format, rows, HEADERS, '*formatter.imageContext');
  return 0;
}

export async function tag(cli: Cli, p: Parsed): Promise<number> {
  const [src, target] = p.args as [string, string];
  // docker's client parses the target itself (reference.ParseNormalizedNamed) before asking
  let parsed: { digest?: string };
  try {
    parsed = parseReference(target);
  } catch (err) {
    throw new Error(`Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: ${(err as Error).message}`);
  }
  if (parsed.digest) throw new Error('refusing to create a tag with a digest reference');
  await cli.client.call('POST', `/images/${imageSeg(src)}/tag`, tagQuery(target));
  return 0;
}

export function rmi(cli: Cli, p: Parsed): Promise<number> {
  return forEach(cli, p.args, async (name) => {
    const items = await cli.client.json<{ Untagged?: string; Deleted?: string }[]>(
      'DELETE', `/images/${imageSeg(name)}`, { force: p.bool('force') || undefined, noprune: p.bool('no-prune') || undefined });
    for (const it of items ?? []) {
      if (it.Untagged) cli.print(`Untagged: ${it.Untagged}`);
      if (it.Deleted) cli.print(`Deleted: ${it.Deleted}`);
    }
  }, { kind: 'image', force: p.bool('force') });
}

export async function save(cli: Cli, p: Parsed): Promise<number> {
  const output = p.str('output');
  refuseTerminal(cli, output);
  validateOutputPath(output, 'failed to save image');
  const res = await cli.client.request({ method: 'GET', path: '/images/get', query: { names: p.args } });
  await writeOutput(cli, res, output, 'failed to save image');
  return 0;
}
