// Image references as the docker CLI splits them for the API: "repo[:tag][@digest]",
// where a ":" before the last "/" belongs to a registry host (127.0.0.1:5000/busybox).

import { splitReference } from '../image/reference.js';

export interface ImageRef {
  /** Repository without tag or digest ("127.0.0.1:5000/busybox"). */
  name: string;
  tag?: string;
  digest?: string;
}

/** The daemon validates; the CLI only splits (the same rule as the daemon's parser). */
export function parseRef(ref: string): ImageRef {
  return splitReference(ref);
}

/** "busybox" → "busybox:latest"; a digest reference stays as it is. */
export function withDefaultTag(ref: string): string {
  const r = parseRef(ref);
  if (r.digest || r.tag) return ref;
  return `${r.name}:latest`;
}

/** The fromImage/tag query of POST /images/create (docker's getAPITagFromNamedRef). */
export function pullQuery(ref: string): { fromImage: string; tag: string } {
  const r = parseRef(ref);
  return { fromImage: r.name, tag: r.digest ?? r.tag ?? 'latest' };
}

/** The repo/tag query of POST /images/{name}/tag. */
export function tagQuery(target: string): { repo: string; tag: string } {
  const r = parseRef(target);
  return { repo: r.name, tag: r.tag ?? 'latest' };
}
