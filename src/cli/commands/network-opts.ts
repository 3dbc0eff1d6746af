// run/create's --network as docker's CLIs read it. One plain name keeps docker 20.10's
// reading (API 1.41): --network-alias, --ip, --ip6, --link-local-ip make the endpoint of that
// network, refused on a network that is not user-defined. Several --network flags, or one in
// the CSV syntax (`name=n,alias=a,ip=…,ip6=…,mac-address=…,link-local-ip=…,driver-opt=k=v,
// gw-priority=N`), read as docker 28's opts.NetworkOpt and parseNetworkOpts do: the legacy
// flags apply to the first network, each network gets an EndpointsConfig entry, and the
// request goes at API 1.44 (several endpoints, a MacAddress per endpoint), or 1.48 where a
// GwPriority is set.
import { UsageError, type Parsed } from '../args.js';

export interface NetworkRequest {
  /** HostConfig.NetworkMode: the first network. */
  mode: string;
  endpoints: Record<string, unknown>;
  /** The API version the endpoints need; undefined: the CLI's own. */
  apiVersion?: string;
  /** --mac-address went into the first endpoint (so not the container-wide field). */
  macInEndpoint: boolean;
}

interface Attachment {
  target: string;
  aliases: string[];
  links: string[];
  ip: string;
  ip6: string;
  mac: string;
  llips: string[];
  driverOpts: Record<string, string>;
  gwPriority: number;
}

const isUserDefined = (n: string) => !['default', 'bridge', 'host', 'none'].includes(n) && !n.startsWith('container:');
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** One --network value; docker's pflag error for a bad one. */
function parseAttachment(value: string): Attachment {
  const a: Attachment = { target: value, aliases: [], links: [], ip: '', ip6: '', mac: '', llips: [], driverOpts: {}, gwPriority: 0 };
  // docker's test is an unanchored \w+=\w+: a plain network name has no '='
  if (!/\w+=\w+(,\w+=\w+)*/.test(value)) return a;
  const bad = (why: string) => new UsageError(`invalid argument "${value}" for "--network" flag: ${why}`, 'run');
  a.target = '';
  for (const field of value.split(',')) {
    const eq = field.indexOf('=');
    if (eq <= 0) throw bad(`invalid field ${field}`);
    const key = field.slice(0, eq).trim(), val = field.slice(eq + 1).trim();
    switch (key) {
      case 'name': a.target = val; break;
      case 'alias': a.aliases.push(val); break;
      case 'ip': a.ip = val; break;
      case 'ip6': a.ip6 = val; break;
      case 'mac-address': a.mac = val; break;
      case 'link-local-ip': a.llips.push(val); break;
      case 'driver-opt': {
        const i = val.indexOf('=');
        if (i <= 0) throw bad('invalid key value pair format in driver options');
        a.driverOpts[val.slice(0, i).trim()] = val.slice(i + 1).trim();
        break;
      }
      case 'gw-priority':
        if (!/^[+-]?\d+$/.test(val)) throw bad(`invalid gw-priority (${val}): invalid syntax`);
        a.gwPriority = Number(val);
        break;
      default: throw bad(`invalid field key ${key}`);
    }
  }
  if (!a.target) throw bad('network name/id is not specified');
  return a;
}

/** docker 28's applyContainerOptions: the legacy flags onto the first network. */
function applyLegacyFlags(a: Attachment, p: Parsed): void {
  const conflict = (what: string) => new UsageError(`conflicting options: cannot specify both ${what}`, 'run');
  const [aliases, links, llips] = [p.list('network-alias'), p.list('link'), p.list('link-local-ip')];
  const [ip, ip6, mac] = [p.str('ip') ?? '', p.str('ip6') ?? '', p.str('mac-address') ?? ''];
  if (a.aliases.length && aliases.length) throw conflict('--network-alias and per-network alias');
  if (a.ip && ip) throw conflict('--ip and per-network IPv4 address');
  if (a.ip6 && ip6) throw conflict('--ip6 and per-network IPv6 address');
  if (a.mac && mac) throw conflict('--mac-address and per-network MAC address');
  if (a.llips.length && llips.length) throw conflict('--link-local-ip and per-network link-local IP addresses');
  if (aliases.length) a.aliases = [...aliases];
  // on a user-defined network --link is an endpoint's alias; on the default bridge, a legacy link
  if (isUserDefined(a.target) && links.length) a.links = [...links];
  a.ip ||= ip; a.ip6 ||= ip6; a.mac ||= mac;
  if (llips.length) a.llips = [...llips];
}

/** docker 28's parseNetworkAttachmentOpt. */
function endpointOf(a: Attachment): Record<string, unknown> {
  if (!isUserDefined(a.target)) {
    if (a.aliases.length) throw new UsageError('network-scoped aliases are only supported for user-defined networks', 'run');
    if (a.links.length) throw new UsageError('links are only supported for user-defined networks', 'run');
  }
  if (a.mac && !MAC.test(a.mac)) throw new UsageError(`${a.mac} is not a valid mac address`, 'run');
  const ipam = a.ip || a.ip6 || a.llips.length
    ? { IPv4Address: a.ip, IPv6Address: a.ip6, LinkLocalIPs: a.llips.length ? a.llips : null } : null;
  return {
    IPAMConfig: ipam, Links: a.links.length ? a.links : null, Aliases: a.aliases.length ? a.aliases : null,
    MacAddress: a.mac, DriverOpts: Object.keys(a.driverOpts).length ? a.driverOpts : null, GwPriority: a.gwPriority,
  };
}

/** docker 20.10's: the endpoint of the one network, from the legacy flags. */
function legacyRequest(p: Parsed, mode: string): NetworkRequest {
  const aliases = p.list('network-alias');
  const ip = p.str('ip');
  const ip6 = p.str('ip6');
  const llips = p.list('link-local-ip');
  if (!aliases.length && !ip && !ip6 && !llips.length) return { mode, endpoints: {}, macInEndpoint: false };
  if (!isUserDefined(mode)) {
    throw new UsageError(ip || ip6 ? 'user specified IP address is supported on user defined networks only'
      : 'network-scoped alias is supported only for containers in user defined networks', 'run');
  }
  const ipam = ip || ip6 || llips.length ? { IPv4Address: ip ?? '', IPv6Address: ip6 ?? '', LinkLocalIPs: llips.length ? llips : null } : null;
  return { mode, endpoints: { [mode]: { IPAMConfig: ipam, Aliases: aliases.length ? aliases : null } }, macInEndpoint: false };
}

const isBare = (a: Attachment) => !a.aliases.length && !a.ip && !a.ip6 && !a.mac && !a.llips.length
  && !Object.keys(a.driverOpts).length && !a.gwPriority;

/** HostConfig.NetworkMode and NetworkingConfig.EndpointsConfig from the flags. */
export function networkRequest(p: Parsed): NetworkRequest {
  const values = [...p.list('network'), ...p.list('net')];
  const attachments = values.map(parseAttachment);
  // one network and nothing but its name (`name=n` too): docker sends no endpoint for it
  const one = attachments.length === 1 ? attachments[0]! : undefined;
  if (!attachments.length) return legacyRequest(p, 'default');
  if (one && (one.target === values[0] || isBare(one))) return legacyRequest(p, one.target);

  const endpoints: Record<string, unknown> = {};
  let userDefined = false, other = false;
  attachments.forEach((a, i) => {
    if (isUserDefined(a.target)) userDefined = true;
    else other = true;
    if (i === 0) applyLegacyFlags(a, p);
    const ep = endpointOf(a);
    if (a.target in endpoints) throw new UsageError(`network "${a.target}" is specified multiple times`, 'run');
    endpoints[a.target] = ep;
  });
  if (userDefined && other) throw new UsageError('conflicting options: cannot attach both user-defined and non-user-defined network-modes', 'run');
  const gw = attachments.some((a) => a.gwPriority !== 0);
  return { mode: attachments[0]!.target, endpoints, apiVersion: gw ? '1.48' : '1.44', macInEndpoint: true };
}
