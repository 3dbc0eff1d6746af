// `tsula ps`: GET /containers/json, printed through docker's container formatter
// (the default is itself a "table" template, so --format and the default share one path).
import { UsageError, type CommandSpec, type Parsed } from '../args.js';
import { StatusError, type Cli } from '../context.js';
import { ellipsis, truncateId, writeFormatted } from '../format.js';
import { goTimeString, humanSizeWithPrecision, timeAgo } from '../units.js';

export const spec: CommandSpec = {
  name: 'ps',
  usage: '[OPTIONS]',
  desc: 'List containers',
  maxArgs: 0,
  flags: [
    { long: 'all', short: 'a', kind: 'bool', desc: 'Show all containers (default shows just running)' },
    { long: 'filter', short: 'f', kind: 'list', desc: 'Filter output based on conditions provided', meta: 'filter' },
    { long: 'format', kind: 'string', desc: 'Format output using a Go template ("table", "json" or a template)' },
    { long: 'last', short: 'n', kind: 'int', desc: 'Show n last created containers (includes all states)', meta: 'int', dflt: -1 },
    { long: 'latest', short: 'l', kind: 'bool', desc: 'Show the latest created container (includes all states)' },
    { long: 'no-trunc', kind: 'bool', desc: "Don't truncate output" },
    { long: 'quiet', short: 'q', kind: 'bool', desc: 'Only display container IDs' },
    { long: 'size', short: 's', kind: 'bool', desc: 'Display total file sizes' },
  ],
};

export const DEFAULT_PS_FORMAT = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

const HEADERS = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED',
  Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', State: 'STATE', Size: 'SIZE', Labels: 'LABELS',
  Label: 'LABEL', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

export interface ContainerSummary {
  Id: string;
  Names?: string[] | null;
  Image?: string;
  ImageID?: string;
  Command?: string;
  Created?: number;
  Ports?: { IP?: string; PrivatePort: number; PublicPort?: number; Type: string }[] | null;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
  SizeRw?: number;
  SizeRootFs?: number;
  Mounts?: { Name?: string; Source?: string }[] | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
}

/**
 * docker's filters.Args JSON: {"key": {"value": true}}. Each -f is key=value, the key
 * lowercased, both trimmed (docker's FilterOpt); an empty -f is no filter.
 */
export function filtersJson(items: string[]): string | undefined {
  const f: Record<string, Record<string, boolean>> = {};
  for (const it of items) {
    if (it === '') continue;
    const eq = it.indexOf('=');
    if (eq < 0) throw new UsageError(`invalid argument "${it}" for "-f, --filter" flag: bad format of filter (expected name=value)`, '');
    (f[it.slice(0, eq).trim().toLowerCase()] ??= {})[it.slice(eq + 1).trim()] = true;
  }
  return Object.keys(f).length ? JSON.stringify(f) : undefined;
}

/**
 * docker's DisplayablePorts (cli/command/formatter/container.go): sorted by container port,
 * IP, host port and protocol; runs of consecutive ports (exposed ones, and ones published on
 * the same host port) as `a-b` groups, in the order their keys first came; then the other
 * host mappings one by one.
 */
export function displayablePorts(ports: ContainerSummary['Ports']): string {
  const sorted = [...(ports ?? [])].sort((a, b) => a.PrivatePort - b.PrivatePort || cmp(a.IP ?? '', b.IP ?? '')
    || (a.PublicPort ?? 0) - (b.PublicPort ?? 0) || cmp(a.Type, b.Type));
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  const host = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip);
  const form = (key: string, g: { first: number; last: number }) => {
    const [ip, type] = key.includes('/') ? key.split('/') as [string, string] : ['', key];
    const range = g.first === g.last ? String(g.first) : `${g.first}-${g.last}`;
    return `${ip ? `${host(ip)}:${range}->${range}` : range}/${type}`;
  };
  for (const p of sorted) {
    const cur = p.PrivatePort;
    let key = p.Type;
    if (p.IP) {
      if (p.PublicPort !== cur) { hostMappings.push(`${host(p.IP)}:${p.PublicPort ?? 0}->${cur}/${p.Type}`); continue; }
      key = `${p.IP}/${p.Type}`;
    }
    const g = groups.get(key);
    if (!g) { groups.set(key, { first: cur, last: cur }); continue; }
    if (cur === g.last + 1) { g.last = cur; continue; }
    result.push(form(key, g));
    // a gap: the next group of the key goes where the key came first (Go's map value replaced)
    groups.set(key, { first: cur, last: cur });
  }
  for (const [key, g] of groups) result.push(form(key, g));
  return [...result, ...hostMappings].join(', ');
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The object templates see: docker's containerContext, as plain values and methods. */
export function containerContext(c: ContainerSummary, trunc: boolean, now = Date.now()): Record<string, unknown> {
  const names = (c.Names ?? []).map((n) => n.replace(/^\//, ''));
  let shown = names;
  if (trunc) {
    const plain = names.find((n) => !n.includes('/'));
    shown = plain ? [plain] : names.slice(0, 1);
  }
  let image = c.Image || '<no image>';
  if (trunc && image.startsWith('sha256:')) image = truncateId(image);
  else if (trunc && image.includes('@sha256:')) image = image.slice(0, image.indexOf('@'));
  const labels = c.Labels ?? {};
  // docker: the writable layer's size, and the whole (virtual) size when there is one
  const rw = humanSizeWithPrecision(c.SizeRw ?? 0, 3);
  const size = (c.SizeRootFs ?? 0) > 0 ? `${rw} (virtual ${humanSizeWithPrecision(c.SizeRootFs!, 3)})` : rw;
  return {
    ID: trunc ? truncateId(c.Id) : c.Id,
    Names: shown.join(','),
    Image: image,
    Command: JSON.stringify(trunc ? ellipsis(c.Command ?? '', 20) : (c.Command ?? '')),
    CreatedAt: goTimeString(new Date((c.Created ?? 0) * 1000)),
    RunningFor: timeAgo(c.Created ?? 0, now),
    Ports: displayablePorts(c.Ports),
    State: c.State ?? '',
    Status: c.Status ?? capitalize(c.State ?? ''),
    Size: size,
    Labels: Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(','),
    Label: (name: unknown) => labels[String(name)] ?? '',
    Mounts: (c.Mounts ?? []).map((m) => (m.Name ? (trunc ? ellipsis(m.Name, 15) : m.Name) : m.Source ?? '')).join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Name).length),
  };
}

const capitalize = (s: string) => (s ? s[0]!.toUpperCase() + s.slice(1) : s);

const CONTEXT = '*formatter.ContainerContext';

/**
 * docker's buildContainerListOptions: a --format is parsed and run once on an empty
 * container before anything is listed, so a bad one fails with no rows to show, and a
 * template that reads .Size (as {{json .}} does) asks the daemon for sizes.
 */
async function probeFormat(format: string): Promise<{ size: boolean }> {
  const { Template, GO_CONTEXT } = await import('../template.js');
  let tmpl: InstanceType<typeof Template>;
  try {
    tmpl = new Template(format);
  } catch (err) {
    throw new StatusError(1, `failed to parse template: ${(err as Error).message}`);
  }
  let size = false;
  const probe = containerContext({ Id: '' }, true);
  Object.defineProperty(probe, 'Size', { get: () => { size = true; return ''; }, enumerable: true });
  Object.defineProperty(probe, GO_CONTEXT, { value: CONTEXT });
  try {
    tmpl.execute(probe);
  } catch (err) {
    throw new StatusError(1, `failed to execute template: ${(err as Error).message}`);
  }
  return { size };
}

export async function run(cli: Cli, p: Parsed): Promise<number> {
  const last = p.bool('latest') ? 1 : p.num('last') ?? -1;
  const given = p.str('format');
  const probed = given && given !== 'json' ? await probeFormat(given) : { size: given === 'json' };
  const query = {
    all: p.bool('all') || last > 0 ? 1 : undefined,
    limit: last > 0 ? last : undefined,
    size: p.bool('size') || probed.size ? 1 : undefined,
    filters: filtersJson(p.list('filter')),
  };
  const list = await cli.client.json<ContainerSummary[]>('GET', '/containers/json', query);
  const trunc = !p.bool('no-trunc');
  let format = p.str('format');
  if (p.bool('quiet')) format = '{{.ID}}';
  else if (!format || format === 'table') {
    format = p.bool('size') ? `${DEFAULT_PS_FORMAT}\t{{.Size}}` : DEFAULT_PS_FORMAT;
  }
  if (format === 'json') {
    // the context's plain fields, as docker marshals its context
    const { formatContextJson } = await import('../template.js');
    for (const c of list ?? []) cli.print(formatContextJson(containerContext(c, trunc)));
    return 0;
  }
  const rows = (list ?? []).map((c) => containerContext(c, trunc));
  await writeFormatted(cli.out, format, rows, HEADERS, CONTEXT);
  return 0;
}
