// CNI network configuration: parsing `.conflist` / `.conf` files and picking the one the
// runtime uses, as the CRI plugins do (containerd's go-cni, CRI-O's ocicni): the files of
// the conf dir ending in .conf, .conflist or .json, sorted by name; the first one is the
// pod network. A single-plugin `.conf`/`.json` is wrapped into a list of one (libcni's
// ConfListFromConf). A broken first file is an error naming it, not a silent skip to the
// next: a pod network that changes because a file has a typo would be worse.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { failedPrecondition, internal, invalidArgument } from '../../common/errors.js';

/** Spec versions the runtime speaks (Debian's plugins 1.1.1 speak 0.1.0 … 1.0.0). */
export const SUPPORTED_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] as const;

export interface PluginConf {
  /** The plugin binary's name, looked up in the bin dirs. */
  type: string;
  /** Capabilities the plugin declares (`portMappings`, `dns`, `bandwidth`, …) set to true. */
  capabilities: string[];
  /** The plugin's object as written, passed on stdin with name/cniVersion/prevResult added. */
  raw: Record<string, unknown>;
}

export interface NetworkConfigList {
  cniVersion: string;
  name: string;
  /** libcni: skip CHECK for this network. */
  disableCheck: boolean;
  plugins: PluginConf[];
  /** The list as JSON (a `.conf` already wrapped): what the result cache stores. */
  bytes: string;
  /** Where it came from, for error messages. */
  source: string;
}

const CONF_EXTS = ['.conf', '.conflist', '.json'];
// libcni's utils.ValidateNetworkName; a network name ends up in cache file names
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Whether `name` is one CNI takes for a network (libcni's ValidateNetworkName; plugins' skel checks it too). */
export function isCniNetworkName(name: string): boolean {
  return NAME_RE.test(name);
}
// a plugin type is a file name in the bin dirs, never a path
const TYPE_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]*$/;

/** Parse a `.conflist` document. Errors name `source` and the key. */
export function parseConfList(text: string, source: string): NetworkConfigList {
  const doc = parseObject(text, source);
  const bad = (key: string, what: string) => invalidArgument(`cni config ${source}: ${key}: ${what}`);
  const name = requireName(doc, source);
  const cniVersion = requireVersion(doc, source);
  if (!('plugins' in doc)) throw bad('plugins', 'missing (a single plugin belongs in a .conf file)');
  if (!Array.isArray(doc.plugins)) throw bad('plugins', `must be a list, not ${jsonType(doc.plugins)}`);
  if (doc.plugins.length === 0) throw bad('plugins', 'the list is empty');
  const plugins = doc.plugins.map((p: unknown, i: number) => parsePlugin(p, `plugins[${i}]`, source));
  return { cniVersion, name, disableCheck: readBool(doc, 'disableCheck', source), plugins, bytes: text, source };
}

/** Parse a single-plugin `.conf` / `.json` document into a list of one. */
export function parseConf(text: string, source: string): NetworkConfigList {
  const doc = parseObject(text, source);
  if (doc.type === undefined && 'plugins' in doc) {
    throw invalidArgument(`cni config ${source}: type: missing (this looks like a conflist: name the file .conflist)`);
  }
  const name = requireName(doc, source);
  const cniVersion = requireVersion(doc, source);
  const plugin = parsePlugin(doc, '', source);
  const bytes = JSON.stringify({ cniVersion, name, plugins: [doc] });
  return { cniVersion, name, disableCheck: false, plugins: [plugin], bytes, source };
}

/** Parse a config file by its extension. */
export function parseConfigFile(text: string, file: string): NetworkConfigList {
  return file.endsWith('.conflist') ? parseConfList(text, file) : parseConf(text, file);
}

/** The config files of a dir in the order the runtime considers them. */
export async function configFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw internal(`read cni conf dir ${dir}: ${(e as Error).message}`, e);
  }
  return entries
    .filter((e) => !e.isDirectory() && CONF_EXTS.includes(path.extname(e.name)))
    .map((e) => e.name).sort() // byte order, as Go's sort.Strings
    .map((n) => path.join(dir, n));
}

/** The pod network: the first config file of `dir`. FailedPrecondition when there is none. */
export async function loadNetworkConfig(dir: string): Promise<NetworkConfigList> {
  const [first] = await configFiles(dir);
  if (!first) throw failedPrecondition(`no network config found in ${dir}: cni plugin not initialized`);
  let text: string;
  try {
    text = await fs.readFile(first, 'utf8');
  } catch (e) {
    throw internal(`read cni config ${first}: ${(e as Error).message}`, e);
  }
  return parseConfigFile(text, first);
}

/** Compare two spec versions ("0.4.0" < "1.0.0"). */
export { compareVersions } from '../../common/compare.js';

function parseObject(text: string, source: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`cni config ${source}: invalid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw invalidArgument(`cni config ${source}: must be a JSON object, not ${jsonType(doc)}`);
  return doc;
}

function requireName(doc: Record<string, unknown>, source: string): string {
  const n = doc.name;
  if (n === undefined) throw invalidArgument(`cni config ${source}: name: missing`);
  if (typeof n !== 'string') throw invalidArgument(`cni config ${source}: name: must be a string, not ${jsonType(n)}`);
  if (!NAME_RE.test(n)) throw invalidArgument(`cni config ${source}: name: "${n}" may hold only [a-zA-Z0-9_.-] and must start with a letter or digit`);
  return n;
}

function requireVersion(doc: Record<string, unknown>, source: string): string {
  const v = doc.cniVersion;
  // libcni still reads a missing version as 0.1.0; containerd 1.6+ and CRI-O want it said
  if (v === undefined) throw invalidArgument(`cni config ${source}: cniVersion: missing (e.g. "1.0.0")`);
  if (typeof v !== 'string') throw invalidArgument(`cni config ${source}: cniVersion: must be a string, not ${jsonType(v)}`);
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(v)) {
    throw invalidArgument(`cni config ${source}: cniVersion: "${v}" is not supported (${SUPPORTED_VERSIONS.join(', ')})`);
  }
  return v;
}

function parsePlugin(p: unknown, key: string, source: string): PluginConf {
  const at = (k: string) => (key ? `${key}.${k}` : k);
  if (!isObject(p)) throw invalidArgument(`cni config ${source}: ${key}: must be an object, not ${jsonType(p)}`);
  if (p.type === undefined || p.type === '') throw invalidArgument(`cni config ${source}: ${at('type')}: missing`);
  if (typeof p.type !== 'string') throw invalidArgument(`cni config ${source}: ${at('type')}: must be a string, not ${jsonType(p.type)}`);
  if (!TYPE_RE.test(p.type)) throw invalidArgument(`cni config ${source}: ${at('type')}: "${p.type}" is not a plugin name`);
  const caps: string[] = [];
  if (p.capabilities !== undefined) {
    if (!isObject(p.capabilities)) throw invalidArgument(`cni config ${source}: ${at('capabilities')}: must be an object of booleans`);
    for (const [k, v] of Object.entries(p.capabilities)) {
      if (typeof v !== 'boolean') throw invalidArgument(`cni config ${source}: ${at(`capabilities.${k}`)}: must be true or false`);
      if (v) caps.push(k);
    }
  }
  return { type: p.type, capabilities: caps, raw: p };
}

function readBool(doc: Record<string, unknown>, key: string, source: string): boolean {
  const v = doc[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  // libcni also takes the strings "true"/"false"
  if (typeof v === 'string' && ['true', 'false'].includes(v.toLowerCase())) return v.toLowerCase() === 'true';
  throw invalidArgument(`cni config ${source}: ${key}: must be true or false`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
