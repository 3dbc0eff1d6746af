// Identifier rules, checked before any id or name touches the filesystem.
import { randomBytes } from './crypto.js';
import { invalidArgument } from './errors.js';

// docker's validContainerNamePattern: two characters at least
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
const FULL_ID_RE = /^[0-9a-f]{64}$/;
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export function newId(): string {
  return randomBytes(32).toString('hex');
}

export function isFullId(s: string): boolean {
  return FULL_ID_RE.test(s);
}

/**
 * The longest container name. dockerd has none; kubelet's names for CRI containers
 * (k8s_<container>_<pod>_<namespace>_<uid>_<attempt>) reach ~430 characters with a 253-long
 * pod name. A name is never a file's name (records are by id): the bound only keeps a
 * name from being a request body's worth.
 */
export const MAX_CONTAINER_NAME = 65536;

/**
 * A container name as docker accepts it (a leading "/" is tolerated, as docker does). The
 * message is dockerd's reserveName wording, the name quoted as given. `max`: a name that
 * becomes a file's name (a network's) must fit in one (255 bytes).
 */
export function validateName(name: string, max = MAX_CONTAINER_NAME): string {
  const n = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(n) || n.includes('..')) {
    throw invalidArgument(`Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (n.length > max) throw invalidArgument(`Invalid name (${n.slice(0, 40)}...): ${n.length} characters, at most ${max} are allowed`);
  return n;
}

/** A reference a user typed for an object (id, id prefix or name): never a path. */
export function validateRef(ref: string, what = 'container'): string {
  if (!ref || ref.includes('/') || ref.includes('..') || ref.includes('\0') || ref.length > MAX_CONTAINER_NAME + 1) {
    throw invalidArgument(`invalid ${what} reference "${ref}"`);
  }
  return ref;
}

export function validateDigest(d: string): string {
  if (!DIGEST_RE.test(d)) throw invalidArgument(`invalid digest "${d}": want sha256:<64 hex>`);
  return d;
}

export function shortId(id: string): string {
  return id.slice(0, 12);
}
