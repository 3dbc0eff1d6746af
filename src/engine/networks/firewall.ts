// A bridge network's iptables rules, kept per network as dockerd's bridge driver keeps them,
// not per container: the CNI bridge plugin's ipMasq and the firewall plugin program a chain
// and rules at every ADD and take them away at every DEL (~25 iptables processes per
// `docker run`, ~80 ms of a default-network run --rm: bench/engine.mjs), for rules that only
// ever name the network's subnet and bridge. So tsulad sets them once, at the network's first
// attachment in its lifetime (again after a restart: a firewall reload may have flushed
// them), and removes them with the network. Three chains, named after the bridge (≤ 15
// characters, one per host: two daemons on one host never share them):
//   mangle  TSULA-ISO-<bridge>, jumped to first from mangle's FORWARD: what the network
//           refuses, as docker 28's isolation: no new connection into the bridge from
//           elsewhere (another network, another host routing to the subnet) unless it was
//           DNATed to a published port (not for a family whose gateway_mode_ipv4 /
//           gateway_mode_ipv6 is nat-unprotected, docker's way out); an --internal network's traffic stays on its bridge;
//           enable_icc=false drops what goes from one of its containers to another (bridged
//           traffic meets iptables only with br_netfilter's bridge-nf-call-iptables, which such
//           a network turns on, as dockerd does), but a legacy link's exposed ports between
//           its parent and child (dockerd's linkContainers; the chain is made again when a
//           link's ends come or go, from the containers' state). The kernel runs mangle's FORWARD before
//           filter's, so no network's ACCEPT below can come before another's refusal.
//   filter  TSULA-FWD-<bridge>, jumped to from FORWARD: replies, published ports and
//           whatever the containers send accepted (a host whose FORWARD policy is DROP,
//           docker's own, still forwards them). Before it, always first in FORWARD, the
//           administrator's TSULA-USER (docker's DOCKER-USER): made empty once, never flushed
//           by tsulad, for rules of their own (`iptables -I TSULA-USER -d 169.254.169.254 -j
//           DROP`) that no network tsulad adds later can jump ahead of.
//   nat     TSULA-NAT-<bridge>, jumped to from POSTROUTING: the subnet masqueraded on the way
//           out of the bridge (docker's `-s <subnet> ! -o <bridge> -j MASQUERADE`), unless
//           internal or enable_ip_masquerade=false.
import { internal } from '../../common/errors.js';
import { exec } from '../../common/exec.js';
import type { Logger } from '../../common/log.js';
import type { NetworkRecord } from './model.js';

const TIMEOUT_MS = 15_000;

type Net = Pick<NetworkRecord, 'id' | 'name' | 'bridge' | 'internal' | 'ipMasq' | 'icc' | 'unprotected' | 'unprotected6' | 'ipam' | 'ipv6'>;

/** The administrator's chain, first in FORWARD (docker's DOCKER-USER). */
export const USER_CHAIN = 'TSULA-USER';
export const isoChain = (bridge: string): string => `TSULA-ISO-${bridge}`;
export const fwdChain = (bridge: string): string => `TSULA-FWD-${bridge}`;
export const natChain = (bridge: string): string => `TSULA-NAT-${bridge}`;

/** The chains and where each is jumped to from: [table, built-in chain, ours]. */
const CHAINS = (b: string): Array<[string, string, string]> => [['mangle', 'FORWARD', isoChain(b)], ['filter', 'FORWARD', fwdChain(b)], ['nat', 'POSTROUTING', natChain(b)]];

/**
 * A legacy link's openings under enable_icc=false, as dockerd's linkContainers: the parent to
 * each exposed port of the child, and the replies from it.
 */
export function linkAccepts(bridge: string, parentIp: string, childIp: string, ports: string[]): string[] {
  return ports.flatMap((p) => {
    const [port, proto = 'tcp'] = p.split('/');
    const io = `-i ${bridge} -o ${bridge} -p ${proto}`;
    return [`${io} -s ${parentIp} -d ${childIp} --dport ${port} -j ACCEPT`, `${io} -s ${childIp} -d ${parentIp} --sport ${port} -j ACCEPT`];
  });
}

/**
 * iptables-restore input: the three chains declared (made, or emptied when they exist) and
 * filled; `family` 6: ip6tables-restore's, for the network's IPv6 subnet (the same rules).
 */
export function firewallRules(n: Net, accepts: string[] = [], family: 4 | 6 = 4): string {
  const b = n.bridge;
  const [iso, fwd, nat] = [isoChain(b), fwdChain(b), natChain(b)];
  const subnet = family === 6 ? n.ipv6?.subnet : n.ipam.config[0]?.subnet;
  if (!subnet) throw internal(`network ${n.name} has no subnet`);
  // gateway modes are per family (libnetwork's bridge driver: GwModeIPv4, GwModeIPv6)
  const unprotected = family === 6 ? n.unprotected6 : n.unprotected;
  const refuse = [
    ...(n.icc === false ? [...accepts.map((r) => `-A ${iso} ${r}`), `-A ${iso} -i ${b} -o ${b} -j DROP`] : []),
    ...(n.internal
      ? [`-A ${iso} -i ${b} ! -o ${b} -j DROP`, `-A ${iso} ! -i ${b} -o ${b} -j DROP`]
      : unprotected ? [] : [`-A ${iso} ! -i ${b} -o ${b} -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP`]),
  ];
  const accept = n.internal
    ? [`-A ${fwd} -i ${b} -o ${b} -j ACCEPT`]
    : [`-A ${fwd} -o ${b} -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT`, `-A ${fwd} -i ${b} -j ACCEPT`];
  const masq = n.ipMasq && !n.internal ? [`-A ${nat} -s ${subnet} ! -o ${b} -j MASQUERADE`] : [];
  return [
    '*mangle', `:${iso} - [0:0]`, ...refuse, 'COMMIT',
    '*filter', `:${fwd} - [0:0]`, ...accept, 'COMMIT',
    '*nat', `:${nat} - [0:0]`, ...masq, 'COMMIT', '',
  ].join('\n');
}

/** Per network: its rules set once per daemon lifetime, removed with it. */
export class NetworkFirewall {
  private readonly set = new Map<string, Promise<void>>();

  /** `accepts`: a network's legacy links' openings now (its icc=false DROP comes after them). */
  constructor(private readonly log: Logger, private readonly accepts: (n: Net) => string[] = () => []) {}

  /** The network's chains filled and jumped to (idempotent; concurrent callers share one run). */
  ensure(n: Net): Promise<void> {
    return this.set.get(n.bridge) ?? this.track(n.bridge, this.apply(n));
  }

  /** Fill the network's chains again (its links' ends came or went), after any run under way. */
  refresh(n: Net): Promise<void> {
    const prev = this.set.get(n.bridge) ?? Promise.resolve();
    return this.track(n.bridge, prev.catch(() => {}).then(() => this.apply(n)));
  }

  /** The bridge's run now; a failure is retried by the next attachment. */
  private track(bridge: string, p: Promise<void>): Promise<void> {
    this.set.set(bridge, p);
    p.catch(() => { if (this.set.get(bridge) === p) this.set.delete(bridge); });
    return p;
  }

  private async apply(n: Net): Promise<void> {
    // FORWARD's jumps go first (other rules there may drop); POSTROUTING's after the rest
    const jump = (ipt: string) => ([table, from, chain]: [string, string, string]) =>
      `${ipt} -w -t ${table} -C ${from} -j ${chain} 2>/dev/null || ${ipt} -w -t ${table} ${from === 'FORWARD' ? '-I' : '-A'} ${from} -j ${chain}`;
    const family = (ipt: string, input: string) => [
      `${ipt}-restore -w --noflush <<'EOF'`, input.trimEnd(), 'EOF',
      ...CHAINS(n.bridge).map(jump(ipt)),
      // the administrator's chain back to the top of FORWARD, above the jump just inserted
      `${ipt} -w -N ${USER_CHAIN} 2>/dev/null || true`,
      `while ${ipt} -w -D FORWARD -j ${USER_CHAIN} 2>/dev/null; do :; done`,
      `${ipt} -w -I FORWARD -j ${USER_CHAIN}`,
    ];
    const script = [
      'set -e',
      // bridged frames meet FORWARD only through br_netfilter (dockerd loads it for icc=false)
      ...(n.icc === false ? ['[ -e /proc/sys/net/bridge ] || modprobe br_netfilter', 'echo 1 > /proc/sys/net/bridge/bridge-nf-call-iptables',
        ...(n.ipv6 ? ['echo 1 > /proc/sys/net/bridge/bridge-nf-call-ip6tables'] : [])] : []),
      ...family('iptables', firewallRules(n, n.icc === false ? this.accepts(n) : [])),
      // a network with IPv6: ip6tables the same, for its IPv6 subnet
      ...(n.ipv6 ? family('ip6tables', firewallRules(n, [], 6)) : []),
    ].join('\n');
    const r = await exec('sh', ['-c', script], { timeoutMs: TIMEOUT_MS });
    if (r.code !== 0) {
      throw internal(`setting the iptables rules of network ${n.name} (bridge ${n.bridge}): ${r.stderr.trim() || `exit ${r.code}`}; is iptables installed and the kernel's nf_tables or ip_tables there?`);
    }
  }

  /** The network's chains and the jumps to them gone (nothing there is no error). */
  async remove(n: Pick<NetworkRecord, 'name' | 'bridge'>): Promise<void> {
    this.set.delete(n.bridge);
    // ip6tables' too, whether or not the network has IPv6 now (the default bridge's can lose it)
    const script = ['iptables', 'ip6tables'].flatMap((ipt) => CHAINS(n.bridge).flatMap(([table, from, chain]) => [
      `while ${ipt} -w -t ${table} -D ${from} -j ${chain} 2>/dev/null; do :; done`,
      `if ${ipt} -w -t ${table} -F ${chain} 2>/dev/null; then ${ipt} -w -t ${table} -X ${chain}; fi`,
    ])).join('\n');
    const r = await exec('sh', ['-c', script], { timeoutMs: TIMEOUT_MS });
    if (r.code !== 0) this.log.warn('removing the iptables rules of a network', { network: n.name, bridge: n.bridge, err: r.stderr.trim() || `exit ${r.code}` });
  }
}
