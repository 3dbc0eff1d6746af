// A container's /etc/hosts as dockerd writes it: the loopback and IPv6 entries, --add-host
// lines, the container's own address, and a line per peer on the same user network; and the
// DNS settings' checks and defaults (daemon.json's dns, dns-search, dns-opts). Its
// resolv.conf is resolvconf.ts's.
import { promises as fs } from 'node:fs';
import { isIP } from 'node:net';
import { invalidArgument } from '../../common/errors.js';
import { parseResolvConf } from './resolvconf.js';

/** libnetwork's etchosts defaults (dockerd 27+'s spelling: fe00::, ff00::). */
export const HOSTS_HEADER = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::\tip6-localnet',
  'ff00::\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/**
 * --add-host entries "name:ip", checked, as hosts lines; host-gateway stands for `gateways`
 * (daemon.json host-gateway-ips, else the default bridge's gateway): a line for each, as
 * dockerd's buildSandboxOptions adds one per host gateway address.
 */
export function extraHostLines(entries: string[], gateways: string[]): string[] {
  return entries.flatMap((e) => {
    const i = e.indexOf(':');
    const name = e.slice(0, i);
    const ip = e.slice(i + 1);
    if (i > 0 && ip === 'host-gateway') {
      if (!gateways.length) throw invalidArgument(`--add-host ${e}: unable to derive the IP value for host-gateway: there is no default bridge network (daemon.json "bridge" is "none") and daemon.json sets no "host-gateway-ips"`);
      return gateways.map((g) => `${g}\t${name}`);
    }
    if (i <= 0 || !isIP(ip.replace(/^\[|\]$/g, ''))) throw invalidArgument(`invalid IP address in add-host: "${ip}" (want host:ip)`);
    return [`${ip.replace(/^\[|\]$/g, '')}\t${name}`];
  });
}

/** Check --add-host syntax at create (host-gateway resolved at start). */
export function checkExtraHosts(entries: string[]): void {
  extraHostLines(entries, ['0.0.0.0']);
}

export interface HostsInput {
  hostname: string;
  domainname: string;
  /** The container's addresses (one line each), first network first. */
  ips: string[];
  extra: string[];
  /** Peers on its user networks: ip and names (container name, aliases). */
  peers: Array<{ ip: string; names: string[] }>;
  /** IPv6 turned off in the container (--sysctl net.ipv6.conf.all.disable_ipv6=1): no IPv6 defaults, as dockerd 27+. */
  noIpv6?: boolean;
}

export function hostsFile(h: HostsInput): string {
  // libnetwork's updateHostsFile: the FQDN (hostname[.domainname]) and, when it has a dot, its
  // first label: --hostname a.b.c gives "a.b.c a", as --hostname a --domainname b.c does
  const fqdn = h.domainname ? `${h.hostname}.${h.domainname}` : h.hostname;
  const own = fqdn.includes('.') ? `${fqdn} ${fqdn.slice(0, fqdn.indexOf('.'))}` : fqdn;
  const lines = [...(h.noIpv6 ? HOSTS_HEADER.slice(0, 1) : HOSTS_HEADER), ...h.extra, ...h.ips.map((ip) => `${ip}\t${own}`)];
  const seen = new Set<string>();
  for (const p of h.peers) {
    const key = `${p.ip}\t${p.names.join(' ')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    lines.push(key);
  }
  return lines.join('\n') + '\n';
}

/** The host's hosts file plus --add-host lines (--network host). */
export async function hostNetworkHosts(extra: string[]): Promise<string> {
  const base = await fs.readFile('/etc/hosts', 'utf8').catch(() => '127.0.0.1\tlocalhost\n');
  return extra.length ? `${base.replace(/\n?$/, '\n')}${extra.join('\n')}\n` : base;
}

export interface DnsInput { dns: string[]; dnsSearch: string[]; dnsOptions: string[] }

/**
 * A container's DNS settings with the daemon's (daemon.json dns, dns-search, dns-opts) for
 * each it gives none of, as dockerd's buildSandboxOptions picks them one by one.
 */
export function withDnsDefaults(own: DnsInput, daemon?: DnsInput): DnsInput {
  if (!daemon) return own;
  const pick = (a: string[], b: string[]) => (a.length ? a : b);
  return { dns: pick(own.dns, daemon.dns), dnsSearch: pick(own.dnsSearch, daemon.dnsSearch), dnsOptions: pick(own.dnsOptions, daemon.dnsOptions) };
}

/** The nameservers of a resolv.conf. */
export function hostNameservers(text: string): string[] {
  return parseResolvConf(text).servers;
}

/** --dns entries are addresses. */
export function checkDns(d: DnsInput): void {
  for (const s of d.dns) if (!isIP(s)) throw invalidArgument(`invalid --dns "${s}": want an IP address`);
}

/**
 * Rewrite a hosts file a running container has bind-mounted: in place (a rename would leave
 * the container on the old inode), so the container sees the change.
 */
export async function rewriteInPlace(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'r+').catch(() => null);
  if (!fh) return;
  try {
    await fh.truncate(0);
    await fh.write(text, 0);
  } finally {
    await fh.close();
  }
}
