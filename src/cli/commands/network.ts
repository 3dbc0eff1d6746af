// `tsula network ls|create|inspect|rm|prune|connect|disconnect`, as docker's network
// commands: the same flags, the same request bodies, the same output.
import type { CommandSpec, Parsed } from '../args.js';
import { orNotFound, seg } from '../client.js';
import { forEach, promptForConfirmation as confirm, type Cli } from '../context.js';
import { truncateId, writeFormatted } from '../format.js';
import { goTimeStringOf } from '../units.js';
import { kv, printInspect } from './objects.js';
import { filtersJson } from './ps.js';
import { compareStrings } from '../../common/compare.js';

const S = (long: string, desc: string, short?: string) => ({ long, short, kind: 'string' as const, desc, meta: 'string' });
const L = (long: string, desc: string, short?: string) => ({ long, short, kind: 'list' as const, desc, meta: 'list' });
const B = (long: string, desc: string, short?: string) => ({ long, short, kind: 'bool' as const, desc });

export const lsSpec: CommandSpec = {
  name: 'network ls', usage: '[OPTIONS]', desc: 'List networks', maxArgs: 0, aliases: ['network list'],
  flags: [
    L('filter', 'Provide filter values (e.g. \'driver=bridge\')', 'f'), S('format', 'Pretty-print networks using a Go template'),
    B('no-trunc', 'Do not truncate the output'), B('quiet', 'Only display network IDs', 'q'),
  ],
};
export const createSpec: CommandSpec = {
  name: 'network create', usage: '[OPTIONS] NETWORK', desc: 'Create a network', minArgs: 1, maxArgs: 1,
  flags: [
    B('attachable', 'Enable manual container attachment'), L('aux-address', 'Auxiliary IPv4 or IPv6 addresses used by Network driver'),
    S('config-from', 'The network from which to copy the configuration'), B('config-only', 'Create a configuration only network'),
    { ...S('driver', 'Driver to manage the Network', 'd'), dflt: 'bridge' }, L('gateway', 'IPv4 or IPv6 Gateway for the master subnet'),
    B('ingress', 'Create swarm routing-mesh network'), B('internal', 'Restrict external access to the network'),
    L('ip-range', 'Allocate container ip from a sub-range'), { ...S('ipam-driver', 'IP Address Management Driver'), dflt: 'default' },
    L('ipam-opt', 'Set IPAM driver specific options'), B('ipv6', 'Enable IPv6 networking'), L('label', 'Set metadata on a network'),
    L('opt', 'Set driver specific options', 'o'), S('scope', "Control the network's scope"), L('subnet', 'Subnet in CIDR format that represents a network segment'),
  ],
};
export const inspectSpec: CommandSpec = {
  name: 'network inspect', usage: '[OPTIONS] NETWORK [NETWORK...]', desc: 'Display detailed information on one or more networks', minArgs: 1,
  flags: [S('format', 'Format the output using the given Go template', 'f'), B('verbose', 'Verbose output for diagnostics', 'v')],
};
export const rmSpec: CommandSpec = {
  name: 'network rm', usage: 'NETWORK [NETWORK...]', desc: 'Remove one or more networks', minArgs: 1, aliases: ['network remove'], flags: [],
};
export const pruneSpec: CommandSpec = {
  name: 'network prune', usage: '[OPTIONS]', desc: 'Remove all unused networks', maxArgs: 0,
  flags: [L('filter', 'Provide filter values (e.g. \'until=<timestamp>\')'), B('force', 'Do not prompt for confirmation', 'f')],
};
export const connectSpec: CommandSpec = {
  name: 'network connect', usage: '[OPTIONS] NETWORK CONTAINER', desc: 'Connect a container to a network', minArgs: 2, maxArgs: 2,
  flags: [
    L('alias', 'Add network-scoped alias for the container'), L('driver-opt', 'driver options for the network'),
    { long: 'gw-priority', kind: 'int', desc: 'Highest gw-priority provides the default gateway. Accepts positive and negative values.', meta: 'int' },
    S('ip', 'IPv4 address (e.g., 172.30.100.104)'), S('ip6', 'IPv6 address (e.g., 2001:db8::33)'),
    L('link', 'Add link to another container'), L('link-local-ip', 'Add a link-local address for the container'),
  ],
};
export const disconnectSpec: CommandSpec = {
  name: 'network disconnect', usage: '[OPTIONS] NETWORK CONTAINER', desc: 'Disconnect a container from a network', minArgs: 2, maxArgs: 2,
  flags: [B('force', 'Force the container to disconnect from a network', 'f')],
};

interface NetworkJson { Id: string; Name: string; Driver: string; Scope: string; Created: string; Internal: boolean; EnableIPv6: boolean; Labels?: Record<string, string> }

export async function ls(cli: Cli, p: Parsed): Promise<number> {
  const list = await cli.client.json<NetworkJson[]>('GET', '/networks', { filters: filtersJson(p.list('filter')) });
  const trunc = !p.bool('no-trunc');
  list.sort((a, b) => compareStrings(a.Name, b.Name));
  if (p.bool('quiet')) {
    for (const n of list) cli.print(trunc ? truncateId(n.Id) : n.Id);
    return 0;
  }
  const rows = list.map((n) => ({
    ID: trunc ? truncateId(n.Id) : n.Id, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: String(n.EnableIPv6), Internal: String(n.Internal),
    CreatedAt: goTimeStringOf(n.Created), Labels: Object.entries(n.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Label: (name: unknown) => n.Labels?.[String(name)] ?? '',
  }));
  await writeFormatted(cli.out, p.str('format') ?? 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', rows,
    { ID: 'NETWORK ID', Name: 'NAME', Driver: 'DRIVER', Scope: 'SCOPE', IPv6: 'IPV6', Internal: 'INTERNAL', CreatedAt: 'CREATED AT', Labels: 'LABELS', Label: 'LABEL' },
    '*network.networkContext');
  return 0;
}

export async function create(cli: Cli, p: Parsed): Promise<number> {
  const subnets = p.list('subnet');
  const gateways = p.list('gateway');
  const ranges = p.list('ip-range');
  if (gateways.length > subnets.length || ranges.length > subnets.length) {
    throw new Error('every ip-range or gateway must have a corresponding subnet');
  }
  const aux = auxBySubnet(subnets, kv(p.list('aux-address'), 'aux-address'));
  const config = subnets.map((s, i) => ({
    Subnet: s, ...(ranges[i] ? { IPRange: ranges[i] } : {}), ...(gateways[i] ? { Gateway: gateways[i] } : {}),
    ...(Object.keys(aux[i]!).length ? { AuxiliaryAddresses: aux[i] } : {}),
  }));
  const body = {
    Name: p.args[0], CheckDuplicate: true, Driver: p.str('driver') ?? 'bridge', Scope: p.str('scope') ?? '', EnableIPv6: p.bool('ipv6'),
    IPAM: { Driver: p.str('ipam-driver') ?? 'default', Options: kv(p.list('ipam-opt'), 'ipam-opt'), Config: config },
    Internal: p.bool('internal'), Attachable: p.bool('attachable'), Ingress: p.bool('ingress'), ConfigOnly: p.bool('config-only'),
    ConfigFrom: p.str('config-from') ? { Network: p.str('config-from') } : null,
    Options: kv(p.list('opt'), 'opt'), Labels: kv(p.list('label'), 'label'),
  };
  const r = await cli.client.json<{ Id: string }>('POST', '/networks/create', undefined, body);
  cli.print(r.Id);
  return 0;
}

/**
 * docker's consolidateIpam: each aux address goes with the subnets that hold it, and one that
 * none holds (or with no --subnet at all) is its error. IPv4 here; other subnets hold none.
 */
export function auxBySubnet(subnets: string[], aux: Record<string, string>): Array<Record<string, string>> {
  const out = subnets.map(() => ({} as Record<string, string>));
  const v4 = (ip: string): number | null => {
    const o = ip.split('.').map(Number);
    return o.length === 4 && o.every((x) => Number.isInteger(x) && x >= 0 && x <= 255) ? o.reduce((n, x) => n * 256 + x, 0) : null;
  };
  for (const [name, addr] of Object.entries(aux)) {
    const ip = v4(addr.split('/')[0]!);
    let match = false;
    subnets.forEach((s, i) => {
      const [base, bits] = s.split('/');
      const b = v4(base ?? ''), span = 2 ** (32 - Number(bits));
      if (ip === null || b === null || !(span >= 1 && span <= 2 ** 32)) return;
      if (Math.floor(ip / span) === Math.floor(b / span)) { out[i]![name] = addr; match = true; }
    });
    if (!match) throw new Error(`no matching subnet for aux-address ${addr}`);
  }
  return out;
}

export async function inspect(cli: Cli, p: Parsed): Promise<number> {
  return printInspect(cli, p, (name) => cli.client.json('GET', `/networks/${seg(name)}`, { verbose: p.bool('verbose') || undefined }), 'network');
}

export async function rm(cli: Cli, p: Parsed): Promise<number> {
  return forEach(cli, p.args, async (name) => {
    await orNotFound('network', name, cli.client.call('DELETE', `/networks/${seg(name)}`));
    cli.print(name);
  });
}

export async function prune(cli: Cli, p: Parsed): Promise<number> {
  if (!p.bool('force') && !(await confirm(cli, 'WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?'))) return 0;
  const r = await cli.client.json<{ NetworksDeleted?: string[] | null }>('POST', '/networks/prune', { filters: filtersJson(p.list('filter')) });
  const names = r?.NetworksDeleted ?? [];
  if (names.length) cli.print(`Deleted Networks:\n${names.join('\n')}\n`);
  return 0;
}

export async function connect(cli: Cli, p: Parsed): Promise<number> {
  const [net, ctr] = p.args as [string, string];
  const ip = p.str('ip');
  const ip6 = p.str('ip6');
  const llips = p.list('link-local-ip');
  const gwPriority = p.num('gw-priority') ?? 0;
  const res = await cli.client.request({
    method: 'POST', path: `/networks/${seg(net)}/connect`,
    body: {
      Container: ctr,
      EndpointConfig: {
        IPAMConfig: ip || ip6 || llips.length ? { IPv4Address: ip ?? '', IPv6Address: ip6 ?? '', LinkLocalIPs: llips } : null,
        Links: p.list('link').length ? p.list('link') : null, Aliases: p.list('alias'),
        DriverOpts: kv(p.list('driver-opt'), 'driver-opt'),
        ...(gwPriority ? { GwPriority: gwPriority } : {}),
      },
    },
    // GwPriority came in API 1.48; below it dockerd ignores the field
    apiVersion: gwPriority ? '1.48' : undefined,
  });
  res.resume();
  return 0;
}

export async function disconnect(cli: Cli, p: Parsed): Promise<number> {
  const [net, ctr] = p.args as [string, string];
  await cli.client.call('POST', `/networks/${seg(net)}/disconnect`, undefined, { Container: ctr, Force: p.bool('force') });
  return 0;
}
