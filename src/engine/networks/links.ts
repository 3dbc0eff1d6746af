// Links on a user network (EndpointSettings.Links, "name:alias" or "name"): dockerd's
// buildJoinOptions makes each a DNS alias that only the linking container resolves, to the
// linked one's address on that network (libnetwork's CreateOptionAlias). Like dockerd, the
// format is checked when the endpoint joins (a start, or a running container's connect).
import { internal } from '../../common/errors.js';
import type { Container } from '../containers/model.js';

/** An endpoint's links on a predefined network (legacy links are HostConfig.Links: legacy-links.ts), in the docker CLI's words. */
export const ENDPOINT_LINKS = 'links are only supported for user-defined networks';

/** dockerd's opts.ParseLink: [name, alias]; a bad one fails in its words (a 500, as dockerd's join error). */
export function parseLink(v: string): [string, string] {
  if (v === '') throw internal('empty string specified for links');
  const parts = v.split(':');
  if (parts.length > 2) throw internal(`bad format for links: ${v}`);
  if (parts.length === 1) return [v, v];
  // the "/name:/parent/alias" form dockerd keeps for links read back from a container
  if (parts[0]!.startsWith('/')) return [parts[0]!.slice(1), parts[1]!.slice(parts[1]!.lastIndexOf('/') + 1)];
  return [parts[0]!, parts[1]!];
}

export function checkLinks(links: string[] | undefined): void {
  for (const l of links ?? []) parseLink(l);
}

/**
 * The name `query` stands for as one of c's link aliases on a network ("alias", or
 * "alias.<network>" as libnetwork's resolver splits it), lower-cased; undefined if none.
 */
export function linkTarget(c: Container, networkId: string, query: string): string | undefined {
  const ep = c.config.networking?.endpoints.find((e) => e.networkId === networkId);
  if (!ep?.links?.length) return undefined;
  const suffix = `.${ep.name.toLowerCase()}`;
  const bare = query.endsWith(suffix) ? query.slice(0, -suffix.length) : query;
  for (const l of ep.links) {
    let link: [string, string];
    try { link = parseLink(l); } catch { continue; } // never joined with it: the start refused it
    const alias = link[1].toLowerCase();
    if (alias === query || alias === bare) return link[0].toLowerCase();
  }
  return undefined;
}
