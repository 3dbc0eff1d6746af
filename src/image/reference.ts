// Image references as docker parses them (github.com/distribution/reference): a name made
// of an optional registry host[:port] and lowercase path components, then an optional
// :tag and/or @digest. Names are stored and shown in docker's "familiar" form:
// docker.io/library/busybox:latest is displayed (and keyed) as busybox:latest.
import { invalidArgument, printable } from '../common/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64 = /^[a-f0-9]{64}$/;
const NAME_TOTAL_MAX = 255;

export interface ParsedReference {
  /** Registry host[:port], docker.io when none was given. */
  domain: string;
  /** Repository path within the registry: library/busybox. */
  path: string;
  /** Fully qualified name: docker.io/library/busybox. */
  fullName: string;
  /** Familiar name as docker displays it: busybox, localhost:5000/foo/bar. */
  name: string;
  tag?: string;
  digest?: string;
}

export function isValidTag(tag: string): boolean {
  return TAG.test(tag);
}

/**
 * "name[:tag][@digest]" split as docker's CLI does, nothing validated: a ":" before the
 * last "/" belongs to a registry host (127.0.0.1:5000/busybox).
 */
export function splitReference(ref: string): { name: string; tag?: string; digest?: string } {
  let name = ref;
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return { name, tag, digest };
}

/** Parse and normalise a reference; throws invalidArgument with docker's wording when invalid. */
export function parseReference(ref: string): ParsedReference {
  if (typeof ref !== 'string' || ref === '') throw invalidArgument('invalid reference format: empty reference');
  if (ref.length > 4096 || ref.includes('\0')) throw invalidArgument(`invalid reference format: "${printable(ref)}"`);
  // docker refuses a bare 64-hex name: it would shadow the image id of the same spelling.
  if (HEX64.test(ref)) {
    throw invalidArgument(`invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  }
  const { name: rest, tag, digest } = splitReference(ref);
  const { domain, path } = splitDomain(rest, ref);
  // docker checks the case of the whole repository path before its grammar
  if (path.toLowerCase() !== path) throw invalidArgument('invalid reference format: repository name must be lowercase');
  if (digest !== undefined) checkDigest(digest);
  if (tag !== undefined && !TAG.test(tag)) throw invalidArgument(`invalid reference format: invalid tag "${printable(tag)}" in "${printable(ref)}"`);
  for (const c of path.split('/')) {
    if (!PATH_COMPONENT.test(c)) throw invalidArgument(`invalid reference format: "${printable(ref)}"`);
  }
  const fullName = `${domain}/${path}`;
  if (fullName.length > NAME_TOTAL_MAX) {
    throw invalidArgument(`invalid reference format: repository name must not be more than ${NAME_TOTAL_MAX} characters`);
  }
  return { domain, path, fullName, name: familiarName(domain, path), tag, digest };
}

/** Hex lengths of the algorithms go-digest knows: anything else is no digest docker accepts. */
const DIGEST_HEX: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/** The digest part of a reference: the grammar, then go-digest's algorithm and length. */
function checkDigest(digest: string): void {
  if (!DIGEST.test(digest)) throw invalidArgument(`invalid reference format: invalid digest "${printable(digest)}"`);
  const [alg, hex] = digest.split(':') as [string, string];
  const want = DIGEST_HEX[alg];
  if (want === undefined) throw invalidArgument(`unsupported digest algorithm: "${printable(digest)}"`);
  if (hex.length !== want) throw invalidArgument(`invalid checksum digest length: "${printable(digest)}"`);
  if (!/^[a-f0-9]+$/.test(hex)) throw invalidArgument(`invalid checksum digest format: "${printable(digest)}"`);
}

function splitDomain(name: string, ref: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = name;
  if (slash >= 0) {
    const first = name.slice(0, slash);
    // docker's rule: the first component is a registry only if it looks like a host.
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = name.slice(slash + 1);
      if (!DOMAIN.test(domain)) throw invalidArgument(`invalid reference format: invalid registry "${printable(domain)}" in "${printable(ref)}"`);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (path === '') throw invalidArgument(`invalid reference format: "${printable(ref)}"`);
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  return { domain, path };
}

function familiarName(domain: string, path: string): string {
  if (domain !== DEFAULT_DOMAIN) return `${domain}/${path}`;
  if (path.startsWith('library/') && !path.slice('library/'.length).includes('/')) return path.slice('library/'.length);
  return path;
}

/**
 * The key an image name is stored and displayed under: `name:tag` (tag defaults to latest),
 * or `name@digest` for a digest reference.
 */
export function normalizeName(ref: string): string {
  return familiarString(parseReference(ref));
}

export function familiarString(p: ParsedReference): string {
  if (p.digest) return `${p.name}@${p.digest}`;
  return `${p.name}:${p.tag ?? DEFAULT_TAG}`;
}

/** A reference that may be used as a tag target: a name with an optional tag, no digest. */
export function parseTagTarget(ref: string): ParsedReference {
  const p = parseReference(ref);
  if (p.digest) throw invalidArgument(`refusing to create a tag with a digest reference: "${printable(ref)}"`);
  return p;
}
