// Legacy links (`docker run --link NAME:ALIAS` on the default bridge), as dockerd makes them:
// at create the linked container ("child") is found and the link named "<parent>/<alias>"
// (registerLinks: a name of the child's, in `docker ps` and for `docker rm --link`); at the
// parent's start every child must be on the default bridge and running, the parent's
// /etc/hosts gets a line per child (buildSandboxOptions) and its process the child's
// variables (setupLinkedContainers, links.ToEnv); a child that starts again rewrites the
// line's address in its running parents (libnetwork's parent updates). With --network none
// links are kept and do nothing, as dockerd's.
import { internal, invalidArgument, isKind } from '../../common/errors.js';
import { running, type Container, type LegacyLink } from '../containers/model.js';
import { parseLink } from './links.js';
import { linkAccepts } from './firewall.js';
import type { NetworkRecord } from './model.js';

export const HOST_AND_LINKS = 'conflicting options: host type networking can\'t be used with links. This would result in undefined behavior';

/** What resolving needs: container lookup and the name registry. */
export interface LinkResolver {
  get(ref: string): Container;
  /** Reserve a link's name for the child; false when another container holds it. */
  reserve(name: string, childId: string): boolean;
  warn(msg: string, fields: Record<string, unknown>): void;
}

/**
 * HostConfig.Links resolved at create (dockerd's registerLinks): each child found (a missing
 * one is a 400, not a 404 the CLI would take for a missing image), a child sharing another's
 * network followed to that one, a host-network child refused; a link name another container
 * holds is skipped with a warning, as dockerd does.
 */
export function resolveLegacyLinks(parent: Container, links: string[], r: LinkResolver): LegacyLink[] {
  const out: LegacyLink[] = [];
  for (const l of links) {
    const [name, given] = parseLink(l);
    // dockerd's path.Join(parent, alias): "db:/mysql" is the link /app/mysql
    const alias = given.replace(/^\/+/, '');
    let child = lookup(r, name, 'could not get container for');
    while (child.config.network === 'container') {
      const ref = child.config.networking?.container ?? '';
      child = lookup(r, ref, 'Could not get container for');
    }
    if (child.config.network === 'host') throw invalidArgument(HOST_AND_LINKS);
    const full = `${parent.name}/${alias}`;
    if (!r.reserve(full, child.id)) {
      r.warn('a link\'s name is in use: link ignored, as dockerd does', { parent: parent.id, child: child.id, alias });
      continue;
    }
    if (!out.some((x) => x.alias === alias)) out.push({ child: child.id, alias });
  }
  return out;
}

function lookup(r: LinkResolver, ref: string, words: string): Container {
  try {
    return r.get(ref);
  } catch (e) {
    if (isKind(e, 'NotFound')) throw invalidArgument(`${words} ${ref}: ${(e as Error).message}`);
    throw e;
  }
}

/** The links whose child still exists (a removed one is only a name: `gone`). */
export function linkedChildren(rec: Container, byId: (id: string) => Container | undefined): Array<{ alias: string; child: Container }> {
  return (rec.config.networking?.legacyLinks ?? []).flatMap((l) => {
    const child = l.gone ? undefined : byId(l.child);
    return child ? [{ alias: l.alias, child }] : [];
  });
}

/** inspect's HostConfig.Links: "/child:/parent/alias" (dockerd's getInspectData, a removed child's too), null when none. */
export function hostLinksView(rec: Container, byId: (id: string) => Container | undefined): string[] | null {
  const l = (rec.config.networking?.legacyLinks ?? []).flatMap(({ alias, child, gone }) => {
    const name = gone ?? byId(child)?.name;
    return name ? [`/${name}:/${rec.name}/${alias}`] : [];
  });
  return l.length ? l : null;
}

/**
 * A child's removal: its parents keep the link by name (dockerd's linkIndex keeps the removed
 * container: their starts fail until a restart of tsulad finds the name again). The parents changed.
 */
export function childRemoved(child: Container, all: Container[]): Container[] {
  const parents = all.filter((c) => c.config.networking?.legacyLinks?.some((l) => l.child === child.id && !l.gone));
  for (const p of parents) {
    for (const l of p.config.networking!.legacyLinks!) if (l.child === child.id) l.gone = child.name;
  }
  return parents;
}

/** A child's address on the default bridge: its own while it runs, else the one it last had (the line dockerd leaves). */
export function childIp(child: Container, bridgeId: string): string {
  return child.state.network?.endpoints.find((e) => e.networkId === bridgeId)?.ip || child.state.lastIps?.[bridgeId] || '';
}

/**
 * The checks of a parent's start and its variables: each child on the default bridge
 * (buildSandboxOptions' isLinkable), then running (setupLinkedContainers); errors in
 * dockerd's words (its 500s).
 */
export function startLinks(rec: Container, byId: (id: string) => Container | undefined, bridgeId: string): string[] {
  const gone = rec.config.networking?.legacyLinks?.find((l) => l.gone);
  if (gone) throw internal(`Cannot link to a non running container: /${gone.gone} AS /${rec.name}/${gone.alias}`);
  const children = linkedChildren(rec, byId);
  for (const { child } of children) {
    if (!child.config.networking?.endpoints.some((e) => e.networkId === bridgeId)) {
      throw internal(`Cannot link to /${child.name}, as it does not belong to the default network`);
    }
  }
  const env: string[] = [];
  for (const { alias, child } of children) {
    const ip = child.state.network?.endpoints.find((e) => e.networkId === bridgeId)?.ip;
    if (!ip || !running(child.state)) {
      throw internal(`Cannot link to a non running container: /${child.name} AS /${rec.name}/${alias}`);
    }
    env.push(...linkEnv(`/${rec.name}/${alias}`, ip, child.config.env, child.config.networking?.exposedPorts ?? []));
  }
  return env;
}

/** The parent's /etc/hosts lines: "IP\talias hostname [name]" (the name unless it is the alias), an IPv6 one too. */
export function linkHostsLines(rec: Container, byId: (id: string) => Container | undefined, bridgeId: string): string[] {
  return linkedChildren(rec, byId).flatMap(({ alias, child }) => {
    const ip = childIp(child, bridgeId);
    if (!ip) return [];
    const names = [alias, child.config.hostname, ...(alias !== child.name ? [child.name] : [])].join(' ');
    const ip6 = child.state.network?.endpoints.find((e) => e.networkId === bridgeId)?.ipv6;
    return [`${ip}\t${names}`, ...(ip6 ? [`${ip6}\t${names}`] : [])];
  });
}

interface Port { num: number; proto: string }

/**
 * moby's links.ToEnv: ALIAS_PORT (the first port), per port ALIAS_PORT_N_PROTO with _ADDR,
 * _PORT, _PROTO, per run of consecutive ports _START, _PORT_START, _END, _PORT_END, then
 * ALIAS_NAME and the child's own variables as ALIAS_ENV_X (but HOME and PATH). Ports sort TCP
 * first, then by protocol and number.
 */
export function linkEnv(name: string, ip: string, childEnv: string[], exposed: string[]): string[] {
  const alias = name.slice(name.lastIndexOf('/') + 1).toUpperCase().replaceAll('-', '_');
  const ports: Port[] = exposed.map((p) => {
    const [n, proto] = p.split('/');
    return { num: Number(n), proto: (proto || 'tcp').toLowerCase() };
  }).filter((p) => Number.isInteger(p.num));
  ports.sort((a, b) => {
    if (a.proto === b.proto) return a.num - b.num;
    if (a.proto === 'tcp') return -1;
    if (b.proto === 'tcp') return 1;
    return a.proto < b.proto ? -1 : 1;
  });
  const env: string[] = [];
  let start: Port | undefined;
  let end: Port | undefined;
  ports.forEach((p, i) => {
    if (i === 0) {
      start = end = p;
      env.push(`${alias}_PORT=${p.proto}://${ip}:${p.num}`);
    }
    const prefix = `${alias}_PORT_${p.num}_${p.proto.toUpperCase()}`;
    env.push(`${prefix}=${p.proto}://${ip}:${p.num}`, `${prefix}_ADDR=${ip}`, `${prefix}_PORT=${p.num}`, `${prefix}_PROTO=${p.proto}`);
    if (p.num === end!.num + 1 && p.proto === end!.proto) {
      end = p;
      if (i < ports.length - 1) return;
    }
    if (end !== start) {
      const s = start!;
      const e = end!;
      const rp = `${alias}_PORT_${s.num}_${s.proto.toUpperCase()}`;
      env.push(`${rp}_START=${s.proto}://${ip}:${s.num}`, `${rp}_PORT_START=${s.num}`, `${rp}_END=${e.proto}://${ip}:${e.num}`, `${rp}_PORT_END=${e.num}`);
    }
    start = end = p;
  });
  env.push(`${alias}_NAME=${name}`);
  for (const v of childEnv) {
    const i = v.indexOf('=');
    if (i < 0) continue;
    const k = v.slice(0, i);
    if (k === 'HOME' || k === 'PATH') continue;
    env.push(`${alias}_ENV_${k}=${v.slice(i + 1)}`);
  }
  return env;
}

/**
 * A network's legacy links' openings (enable_icc=false), from the containers' state: each
 * parent with an address on it to each linked child with one, on the child's exposed ports.
 */
export function legacyLinkAccepts(containers: Container[], n: Pick<NetworkRecord, 'id' | 'bridge'>): string[] {
  const ipOn = (c: Container) => c.state.network?.endpoints.find((e) => e.networkId === n.id)?.ip;
  const out: string[] = [];
  for (const parent of containers) {
    const pip = parent.config.networking?.legacyLinks?.length ? ipOn(parent) : undefined;
    if (!pip) continue;
    for (const { child } of linkedChildren(parent, (id) => containers.find((c) => c.id === id))) {
      const cip = ipOn(child);
      if (cip) out.push(...linkAccepts(n.bridge, pip, cip, child.config.networking?.exposedPorts ?? []));
    }
  }
  return out;
}
