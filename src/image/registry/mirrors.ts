// Registry mirrors, as daemon.json's "registry-mirrors" gives them: docker's list (mirrors of
// docker.io) or a map registry host → mirror URLs (containerd's hosts.toml idea, for any
// registry: kubernetes pulls from registry.k8s.io, quay.io, … too). Both become one map keyed
// by the registry host as image references name it ("docker.io", never "index.docker.io").
// A mirror URL is http(s)://host[:port] with an optional path prefix under which its /v2/
// lives; it is kept in docker's canonical form, with one trailing slash.
import { DEFAULT_DOMAIN, parseReference } from '../reference.js';

/** Registry host (lower case, as references name it) → canonical mirror URLs, in order. */
export type MirrorMap = Record<string, string[]>;

/** What daemon.json may hold: docker's list, or the map. */
export type MirrorConfig = string[] | Record<string, string[]>;

const URL_HINT = 'want http://host[:port][/path] or https://host[:port][/path]';

/**
 * Why `raw` is no mirror URL, or undefined when it is one. docker's rules (ValidateMirror):
 * http or https, a host, no credentials, no query or fragment.
 */
export function mirrorUrlProblem(raw: string): string | undefined {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    return `invalid mirror "${raw}": not a URL (${URL_HINT})`;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return `invalid mirror "${raw}": unsupported scheme "${u.protocol.slice(0, -1)}" (${URL_HINT})`;
  if (!u.hostname) return `invalid mirror "${raw}": no host (${URL_HINT})`;
  // the password would end up in logs and `tsula info`; credentials come from the pull's auth
  if (u.username || u.password) return `invalid mirror "${raw}": a user or password in the URL is not allowed`;
  if (u.search || u.hash || raw.includes('?') || raw.includes('#')) return `invalid mirror "${raw}": a query or fragment is not allowed (${URL_HINT})`;
  return undefined;
}

/**
 * The canonical form of a valid mirror URL: scheme://host[:port][/prefix]/ (docker's, with
 * the trailing slash). A prefix ending in /v2 is taken as the /v2 root itself, as containerd's
 * hosts.toml does: "http://m/v2" and "http://m" are the same mirror, not a /v2/v2/ one.
 */
export function canonicalMirror(raw: string): string {
  const problem = mirrorUrlProblem(raw);
  if (problem) throw new Error(problem);
  const u = new URL(raw.trim());
  const prefix = u.pathname.replace(/\/+$/, '').replace(/\/v2$/, '');
  return `${u.protocol}//${u.host}${prefix}/`;
}

/** Why `key` is no registry host an image reference can name, or undefined when it is one. */
export function registryHostProblem(key: string): string | undefined {
  const want = 'want a registry host[:port] as image references name it, e.g. "registry.k8s.io" or "docker.io"';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(key) || key.includes('/')) return `"${key}" is not a registry host (${want}; the mirror URLs go in the list)`;
  let domain: string;
  try {
    domain = parseReference(`${key}/x`).domain;
  } catch {
    return `"${key}" is not a registry host (${want})`;
  }
  // "myregistry" alone (no dot, no port, not localhost) is a docker.io path component to a reference
  if (domain.toLowerCase() !== registryHostKey(key)) return `"${key}" is not a registry host: a reference "${key}/image" names ${DEFAULT_DOMAIN}/${key}/image (${want})`;
  return undefined;
}

/** The map key for a registry host: lower case, index.docker.io is docker.io. */
export function registryHostKey(host: string): string {
  const h = host.trim().toLowerCase();
  return h === 'index.docker.io' ? DEFAULT_DOMAIN : h;
}

/**
 * daemon.json's value (already validated) as one map. The list form is docker.io's; in the
 * map, "docker.io" and "index.docker.io" are one registry, their lists joined in file order.
 * Duplicates are dropped (the first place wins), as are registries left with no mirror.
 */
export function mirrorMap(cfg: MirrorConfig | undefined): MirrorMap {
  const out: MirrorMap = {};
  const add = (host: string, urls: string[]) => {
    const list = (out[registryHostKey(host)] ??= []);
    for (const u of urls.map(canonicalMirror)) if (!list.includes(u)) list.push(u);
  };
  if (Array.isArray(cfg)) add(DEFAULT_DOMAIN, cfg);
  else for (const [host, urls] of Object.entries(cfg ?? {})) add(host, urls);
  for (const [host, list] of Object.entries(out)) if (!list.length) delete out[host];
  return out;
}
