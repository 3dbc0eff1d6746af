// docker's list filters (`?filters=` of /containers/json, /images/json, /events, prunes),
// parsed and matched once, as dockerd 20.10 (API 1.41) does: both JSON encodings, unknown
// keys refused ("Invalid filter 'x'"), values matched exactly, by prefix, by regexp or as
// a path glob, each key where dockerd uses that way.
import { goAtoi } from '../../common/go-strconv.js';
import { internal, invalidArgument, notFound } from '../../common/errors.js';
import { untilTime } from '../filters.js';
import { parseReference, splitReference } from '../../image/reference.js';
import type { EngineEvent } from '../events.js';

/** filters.Args: key → set of values (a value may be recorded false: present, never matching). */
export class FilterArgs {
  constructor(private readonly fields = new Map<string, Map<string, boolean>>()) {}

  /**
   * `{"key": {"value": true}}` (what clients send since API 1.22) or the older
   * `{"key": ["value"]}`; '' or absent is no filter. Malformed JSON is a 400.
   */
  static parse(raw: string | null | undefined): FilterArgs {
    const args = new FilterArgs();
    if (!raw) return args;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (e) {
      throw invalidArgument(`invalid filters (a JSON object of filter names to values was expected): ${(e as Error).message}`);
    }
    if (v === null) return args;
    if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`invalid filters: json: cannot unmarshal ${jsonType(v)} into Go value of type map[string]map[string]bool`);
    for (const [key, values] of Object.entries(v as Record<string, unknown>)) {
      const set = new Map<string, boolean>();
      args.fields.set(key, set);
      if (values === null) continue;
      if (Array.isArray(values)) {
        for (const x of values) {
          if (typeof x !== 'string') throw invalidArgument(`invalid filters: json: cannot unmarshal ${jsonType(x)} into Go value of type string (filter "${key}")`);
          set.set(x, true);
        }
      } else if (typeof values === 'object') {
        for (const [x, on] of Object.entries(values as Record<string, unknown>)) {
          if (typeof on !== 'boolean') throw invalidArgument(`invalid filters: json: cannot unmarshal ${jsonType(on)} into Go value of type bool (filter "${key}")`);
          set.set(x, on);
        }
      } else {
        throw invalidArgument(`invalid filters: json: cannot unmarshal ${jsonType(values)} into Go value of type map[string]bool (filter "${key}")`);
      }
    }
    return args;
  }

  /** The inverse of toRecord. */
  static fromRecord(r: Record<string, string[]>): FilterArgs {
    return new FilterArgs(new Map(Object.entries(r).map(([k, vs]) => [k, new Map(vs.map((v) => [v, true]))])));
  }

  /** docker's Add: one more value of key. */
  add(key: string, value: string): this {
    const set = this.fields.get(key) ?? new Map<string, boolean>();
    set.set(value, true);
    this.fields.set(key, set);
    return this;
  }

  keys(): string[] { return [...this.fields.keys()]; }
  has(key: string): boolean { return this.fields.has(key); }
  /** Every value of key (docker's Get: false ones too). */
  get(key: string): string[] { return [...(this.fields.get(key)?.keys() ?? [])]; }
  /** Values as a plain record, for code that predates this class. */
  toRecord(): Record<string, string[]> { return Object.fromEntries(this.keys().map((k) => [k, this.get(k)])); }

  /** Refuse keys the endpoint does not know, as dockerd: 400 "Invalid filter 'x'". */
  validate(accepted: readonly string[]): this {
    for (const k of this.fields.keys()) if (!accepted.includes(k)) throw invalidFilter(k);
    return this;
  }

  /** True without values for key, else source is one of them. */
  exactMatch(key: string, source: string): boolean {
    const vals = this.fields.get(key);
    if (!vals || vals.size === 0) return true;
    return vals.get(source) === true;
  }

  /** exactMatch, or source starts with one of the values. */
  fuzzyMatch(key: string, source: string): boolean {
    if (this.exactMatch(key, source)) return true;
    for (const v of this.fields.get(key)!.keys()) if (source.startsWith(v)) return true;
    return false;
  }

  /** exactMatch, or one of the values is a regexp found in source (a bad regexp never matches). */
  match(key: string, source: string): boolean {
    if (this.exactMatch(key, source)) return true;
    for (const v of this.fields.get(key)!.keys()) {
      try {
        if (new RegExp(v).test(source)) return true;
      } catch { /* docker skips a value that is no regexp */ }
    }
    return false;
  }

  /** label=k / label=k=v: every value must hold in sources (labels are ANDed, unlike other keys). */
  matchKVList(key: string, sources: Record<string, string> | null | undefined): boolean {
    const vals = this.fields.get(key);
    if (!vals || vals.size === 0) return true;
    if (!sources || Object.keys(sources).length === 0) return false;
    for (const v of vals.keys()) {
      const eq = v.indexOf('=');
      const k = eq < 0 ? v : v.slice(0, eq);
      if (!Object.hasOwn(sources, k)) return false;
      if (eq >= 0 && sources[k] !== v.slice(eq + 1)) return false;
    }
    return true;
  }
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  return typeof v === 'object' ? 'object' : typeof v;
}

/** dockerd's message for a refused filter key or value: Invalid filter 'status=bogus'. */
export function invalidFilter(key: string, value?: string | string[]): Error {
  if (value === undefined) return invalidArgument(`Invalid filter '${key}'`);
  return invalidArgument(`Invalid filter '${key}=${Array.isArray(value) ? `[${value.join(' ')}]` : value}'`);
}

/**
 * Go's path.Match: `*` any run of non-'/' characters, `?` one, `[a-z]`/`[^a-z]` classes,
 * `\` escapes. A malformed pattern is an error, as in Go.
 */
export function pathMatch(pattern: string, name: string): boolean {
  const cps = [...pattern];
  let i = 0;
  const esc = (c: string) => `\\u{${c.codePointAt(0)!.toString(16)}}`;
  // one character of a class: `\x` is x; a bare '-' or ']' (or the end) is malformed
  const classChar = (): string => {
    let c = cps[i];
    if (c === undefined || c === '-' || c === ']') throw badPattern(pattern);
    if (c === '\\') {
      c = cps[++i];
      if (c === undefined) throw badPattern(pattern);
    }
    i++;
    return c;
  };
  let re = '^';
  while (i < cps.length) {
    const c = cps[i++]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (i >= cps.length) throw badPattern(pattern);
      re += esc(cps[i++]!);
    } else if (c === '[') {
      let cls = '[';
      if (cps[i] === '^') { cls += '^'; i++; }
      for (let n = 0; ; n++) {
        if (cps[i] === ']' && n > 0) { i++; break; }
        const lo = classChar();
        let hi = lo;
        if (cps[i] === '-') { i++; hi = classChar(); }
        cls += hi === lo ? esc(lo) : `${esc(lo)}-${esc(hi)}`;
      }
      re += `${cls}]`;
    } else re += esc(c);
  }
  try {
    return new RegExp(`${re}$`, 'su').test(name);
  } catch {
    throw badPattern(pattern); // a range backwards ([z-a])
  }
}

const badPattern = (p: string) => invalidArgument(`syntax error in pattern: ${JSON.stringify(p)}`);

/**
 * reference.FamiliarMatch: the glob against `name:tag` (or `name@digest`), then against the
 * name alone, so `busybox` and `busy*:*` both match busybox:latest.
 */
export function familiarMatch(pattern: string, ref: string): boolean {
  return pathMatch(pattern, ref) || pathMatch(pattern, splitReference(ref).name);
}

// ---- containers (GET /containers/json) -------------------------------------------------

const PS_FILTERS = ['ancestor', 'before', 'exited', 'id', 'isolation', 'label', 'name', 'status', 'health',
  'since', 'volume', 'network', 'is-task', 'publish', 'expose'] as const;
const STATES = new Set(['paused', 'restarting', 'removing', 'running', 'dead', 'created', 'exited']);
const HEALTH = new Set(['starting', 'healthy', 'unhealthy', 'none']);

/** What the container filters look at, read off a container by the API layer. */
export interface ContainerFacts {
  id: string;
  /** Docker's names, with their leading '/'. */
  names: string[];
  createdMs: number;
  /** docker's State.StateString(): created, running, paused, restarting, removing, exited, dead. */
  state: string;
  running: boolean;
  startedAtZero: boolean;
  exitCode: number;
  labels: Record<string, string>;
  imageId: string;
  health: string;
  isolation: string;
  mounts: Array<{ name?: string; source: string; destination: string }>;
  networks: Array<{ name: string; id: string }>;
  /**
   * The running container's ports (ps's Ports: none when it is not running), as the publish
   * and expose filters read them: a binding's host port and its container port.
   */
  ports: Array<{ privatePort: number; publicPort?: number; type: string }>;
}

export interface ContainerLookups {
  /** A container's id by id or name; NotFound otherwise. */
  container(ref: string): string;
  /** An image's id, or undefined when there is none by that name. */
  image(ref: string): Promise<string | undefined>;
  /** Every image's id and the image it was made from (commit, build step): the ancestor filter's children. */
  lineage?(): Promise<Array<{ id: string; parent?: string }>>;
}

/** dockerd's reduceContainers: newest first, before/since/limit by position, then each filter. */
export async function selectContainers<T extends ContainerFacts>(
  all: T[], args: FilterArgs, opts: { all: boolean; limit?: number }, look: ContainerLookups,
): Promise<T[]> {
  args.validate(PS_FILTERS);
  const exited = args.get('exited').map(goAtoi);
  let showAll = opts.all;
  for (const v of args.get('status')) {
    if (!STATES.has(v)) throw invalidFilter('status', v);
    showAll = true;
  }
  let isTask: boolean | undefined;
  if (args.has('is-task')) {
    if (args.exactMatch('is-task', 'true')) isTask = true;
    else if (args.exactMatch('is-task', 'false')) isTask = false;
    else throw invalidFilter('is-task', args.get('is-task'));
  }
  for (const v of args.get('health')) if (!HEALTH.has(v)) throw invalidArgument(`Unrecognised filter value for health: ${v}`);
  const byRef = (v: string) => {
    try { return look.container(v); } catch { throw notFound(`No such container: ${v}`); }
  };
  let before = args.get('before').map(byRef).pop();
  const since = args.get('since').map(byRef).pop();
  const ancestors = new Set<string>();
  for (const v of args.get('ancestor')) {
    const id = await look.image(v);
    if (id) ancestors.add(id);
  }
  // dockerd's populateImageFilterByParents: the containers of every image made from one too
  if (ancestors.size && look.lineage) {
    const children = new Map<string, string[]>();
    for (const i of await look.lineage()) if (i.parent) children.set(i.parent, [...children.get(i.parent) ?? [], i.id]);
    const walk = [...ancestors];
    for (let id = walk.pop(); id !== undefined; id = walk.pop()) {
      for (const c of children.get(id) ?? []) if (!ancestors.has(c)) { ancestors.add(c); walk.push(c); }
    }
  }
  const publish = portSet(args, 'publish');
  const expose = portSet(args, 'expose');
  const limit = opts.limit ?? 0;

  let list = [...all].sort((a, b) => b.createdMs - a.createdMs);
  const ids = args.get('id');
  const names = args.get('name');
  if (ids.length + names.length > 0) list = list.filter((c) => byNameOrId(c, list, ids, names, args));

  const out: T[] = [];
  for (const c of list) {
    if (before !== undefined) {
      if (c.id === before) before = undefined;
      continue;
    }
    if (since !== undefined && c.id === since) break;
    if (!c.running && !showAll && limit <= 0) continue;
    if (!c.names.some((n) => args.match('name', n) || args.match('name', n.replace(/^\//, '')))) continue;
    if (!args.match('id', c.id)) continue;
    if (isTask === true) continue; // tsula runs no swarm tasks: no container is one
    if (!args.matchKVList('label', c.labels)) continue;
    if (!args.match('isolation', c.isolation || 'default')) continue;
    if (limit > 0 && out.length === limit) break;
    if (exited.length && !exited.some((code) => code === c.exitCode && !c.running && !c.startedAtZero)) continue;
    if (!args.match('status', c.state)) continue;
    if (!args.exactMatch('health', c.health)) continue;
    if (args.has('volume') && !args.get('volume').some((v) => c.mounts.some((m) => m.destination === v || (m.name || m.source) === v))) continue;
    if (args.has('ancestor') && !ancestors.has(c.imageId)) continue;
    if (args.has('network') && !args.get('network').some((v) => c.networks.some((n) => n.name === v || (!!n.id && n.id.startsWith(v))))) continue;
    // dockerd 20.10's includeContainerInList (moby#40442): a running container whose ports
    // have a host port publish names, or a container port expose names (either will do)
    if ((publish.size || expose.size) && !c.ports.some((p) =>
      (p.publicPort !== undefined && publish.has(`${p.publicPort}/${p.type}`)) || expose.has(`${p.privatePort}/${p.type}`))) continue;
    out.push(c);
  }
  return out;
}

/** The name/id pre-selection: an id filter is a unique id prefix (then a regexp), names regexps. */
function byNameOrId(c: ContainerFacts, list: ContainerFacts[], ids: string[], names: string[], args: FilterArgs): boolean {
  if (ids.length) {
    const unique = ids.some((p) => list.filter((x) => x.id.startsWith(p)).length === 1 && c.id.startsWith(p));
    if (!unique) return false;
  }
  if (!names.length) return true;
  return c.names.some((n) => args.match('name', n) || args.match('name', n.replace(/^\//, '')));
}

/** publish=80, expose=8000-8002/udp: the ports they name, as "port/proto". */
function portSet(args: FilterArgs, key: string): Set<string> {
  const set = new Set<string>();
  for (const v of args.get(key)) {
    if (v.includes(':')) throw invalidArgument(`filter for '${key}' should not contain ':': ${v}`);
    const [port = '', proto = 'tcp'] = v.split('/', 2);
    const m = /^(\d+)(?:-(\d+))?$/.exec(port);
    const start = m ? Number(m[1]) : NaN;
    const end = m?.[2] !== undefined ? Number(m[2]) : start;
    if (!m || end < start || end > 65535) throw invalidArgument(`error while looking up for ${key} ${v}: invalid port range: ${port}`);
    for (let p = start; p <= end; p++) set.add(`${p}/${proto.toLowerCase()}`);
  }
  return set;
}

// ---- images (GET /images/json) ---------------------------------------------------------

// until: dockerd 25 (API 1.44) added it unversioned, so every version takes it
const IMAGE_FILTERS = ['dangling', 'label', 'before', 'since', 'reference', 'until'] as const;

export interface ImageFacts {
  id: string;
  createdMs: number;
  repoTags: string[];
  repoDigests: string[];
  labels: Record<string, string> | null | undefined;
}

/**
 * dockerd's ImageService.Images: the images that pass, each with the tags and digests that
 * matched `reference` (all of them without one; none for an untagged image, which the view
 * shows as each API version does). until= is a before= by time: the earliest of both holds.
 */
export async function selectImages<T extends ImageFacts>(
  images: T[], args: FilterArgs, lookup: (ref: string) => Promise<{ createdMs: number }>,
): Promise<Array<{ image: T; repoTags: string[]; repoDigests: string[] }>> {
  args.validate(IMAGE_FILTERS);
  let danglingOnly = false;
  if (args.has('dangling')) {
    if (args.exactMatch('dangling', 'true')) danglingOnly = true;
    else if (!args.exactMatch('dangling', 'false')) throw invalidFilter('dangling', args.get('dangling'));
  }
  let before: number | undefined;
  let since: number | undefined;
  for (const v of args.get('before')) before = (await lookup(v)).createdMs;
  for (const v of args.get('since')) since = (await lookup(v)).createdMs;
  for (const v of args.get('until')) {
    let t: number;
    try { t = untilTime(v); } catch { throw internal(`failed to parse value as time or duration: "${v}"`); }
    before = Math.min(before ?? Infinity, t);
  }
  const patterns = args.get('reference');
  const out: Array<{ image: T; repoTags: string[]; repoDigests: string[] }> = [];
  for (const img of images) {
    if (before !== undefined && img.createdMs >= before) continue;
    if (since !== undefined && img.createdMs <= since) continue;
    if (args.has('label') && !args.matchKVList('label', img.labels)) continue;
    const keep = (ref: string) => !args.has('reference') || patterns.some((p) => familiarMatch(p, ref));
    const repoTags = img.repoTags.filter(keep);
    const repoDigests = img.repoDigests.filter(keep);
    if (!repoTags.length && !repoDigests.length) {
      if (args.has('dangling') && !danglingOnly) continue;
      if (args.has('reference')) continue;
    } else if (danglingOnly && repoTags.length) {
      continue;
    }
    out.push({ image: img, repoTags, repoDigests });
  }
  return out.sort((a, b) => b.image.createdMs - a.image.createdMs);
}

// ---- events (GET /events) --------------------------------------------------------------

/**
 * dockerd's events.Filter.Include. Keys it does not know are ignored, as dockerd ignores
 * them (GET /events validates nothing).
 */
export function matchEvent(e: EngineEvent, args: FilterArgs): boolean {
  const attrs = e.Actor.Attributes;
  const byName = (type: string) => args.fuzzyMatch(type, e.Actor.ID) || args.fuzzyMatch(type, attrs.name ?? '');
  const fuzzyEvents = args.get('event').some((v) => v === 'health_status' || v === 'exec_create' || v === 'exec_start');
  return (fuzzyEvents ? args.fuzzyMatch('event', e.Action) : args.exactMatch('event', e.Action))
    && args.exactMatch('type', e.Type)
    && (!args.has('scope') || args.exactMatch('scope', e.scope))
    && ['daemon', 'container', 'plugin', 'volume', 'network', 'node', 'service', 'secret', 'config'].every(byName)
    && matchEventImage(e, args)
    && (!args.has('label') || args.matchKVList('label', attrs));
}

/** image= matches an image event's id or name, or a container event's image, with or without tag. */
function matchEventImage(e: EngineEvent, args: FilterArgs): boolean {
  const id = e.Actor.ID;
  const name = e.Actor.Attributes[e.Type === 'image' ? 'name' : 'image'] ?? '';
  return [id, name, stripTag(id), stripTag(name)].some((x) => args.exactMatch('image', x));
}

/** reference.FamiliarName of a name that parses as one ("docker.io/library/busybox:1" → busybox). */
function stripTag(ref: string): string {
  if (!ref || /^sha256:/.test(ref)) return ref;
  try {
    return parseReference(ref).name;
  } catch {
    return ref;
  }
}
