// What is set on a container's interfaces inside its namespace after their CNI ADD: an
// endpoint's own sysctls (API 1.46), and which interface carries the default route (the
// endpoint libnetwork sorts first: API 1.48's GwPriority), moved on connect and disconnect.
import { existsSync } from 'node:fs';
import { errorMessage } from '../../common/errors.js';
import { execOk } from '../../common/exec.js';
import type { EndpointSpec, NetworkState } from '../containers/model.js';
import { applySysctls as writeSysctls, checkSysctls } from '../pods/sysctls.js';

const inNetns = (netns: string, args: string[]) => execOk('nsenter', [`--net=${netns}`, ...args], { timeoutMs: 10_000 });

type GwEndpoint = Pick<EndpointSpec, 'networkId' | 'name' | 'gwPriority'>;

/** The endpoints' indexes as libnetwork sorts a sandbox's: highest GwPriority, not --internal, then name. */
function sortedIndexes(eps: ReadonlyArray<GwEndpoint>, internal: (networkId: string) => boolean): number[] {
  return eps.map((_, i) => i).sort((x, y) => {
    const [a, b] = [eps[x]!, eps[y]!];
    const [pa, pb] = [a.gwPriority ?? 0, b.gwPriority ?? 0];
    const [ia, ib] = [internal(a.networkId), internal(b.networkId)];
    return pa !== pb ? pb - pa : ia !== ib ? (ia ? 1 : -1) : a.name < b.name ? -1 : a.name > b.name ? 1 : x - y;
  });
}

/**
 * Which endpoint carries the (IPv4) default route and the published ports, as libnetwork's
 * selectGatewayEndpoint over the sorted endpoints (the highest GwPriority, API 1.48; one not
 * --internal; the network whose name sorts first: `run --network b --network a` goes out
 * through a): the first dual-stack one, else the first. `ipv6` says which networks have it.
 */
export function gatewayIndex(eps: ReadonlyArray<GwEndpoint>, internal: (networkId: string) => boolean, ipv6: (networkId: string) => boolean = () => false): number {
  if (!eps.length) return 0;
  const order = sortedIndexes(eps, internal);
  return order.find((i) => !internal(eps[i]!.networkId) && ipv6(eps[i]!.networkId)) ?? order[0]!;
}

/**
 * The endpoint of the IPv6 default route when the gateway's network has no IPv6 (libnetwork's
 * ep6): the first sorted one on a network with IPv6, not --internal; -1 for none.
 */
export function gateway6Index(eps: ReadonlyArray<GwEndpoint>, internal: (networkId: string) => boolean, ipv6: (networkId: string) => boolean): number {
  return sortedIndexes(eps, internal).find((i) => !internal(eps[i]!.networkId) && ipv6(eps[i]!.networkId)) ?? -1;
}

/**
 * An endpoint's sysctls ("net.ipv4.conf.IFNAME.x=v") on its interface, written in its
 * namespace as a pod's are (one nsenter for all); the failed one's error.
 */
let ipv6Kernel: boolean | undefined;

/**
 * dockerd 27+: an interface on a network without IPv6 has IPv6 off, no link-local address
 * either (moby's TestNonIPv6Network), unless its endpoint's own sysctls set disable_ipv6;
 * never where the kernel has no IPv6.
 */
export function ipv6OffFor(networkHasIpv6: boolean, endpointSysctls: readonly string[] | undefined): boolean {
  if (networkHasIpv6 || endpointSysctls?.some((x) => /\.disable_ipv6=/.test(x))) return false;
  return (ipv6Kernel ??= existsSync('/proc/sys/net/ipv6/conf/all/disable_ipv6'));
}

export async function applySysctls(netns: string, ifName: string, sysctls: readonly string[]): Promise<void> {
  const values = Object.fromEntries(sysctls.map((sc) => {
    const [k, ...v] = sc.split('=');
    return [k!.replace(/\.(IFNAME|ifname)\./, `.${ifName}.`), v.join('=')];
  }));
  try {
    // (the keys become paths under /proc/sys: checked as a pod's are, in runc's words)
    checkSysctls(values, { net: true, ipc: false, uts: false });
    await writeSysctls(values, { net: netns });
  } catch (e) {
    throw new Error(`failed to set the sysctls of ${ifName}: ${errorMessage(e)}`);
  }
}

/** The endpoint's link-local addresses on its interface (libnetwork adds an IPv4 one as /16, an IPv6 one as /64). */
export async function addLinkLocalIps(netns: string, ifName: string, ips: readonly string[]): Promise<void> {
  for (const ip of ips) await inNetns(netns, ['ip', 'addr', 'replace', `${ip}/${ip.includes(':') ? 64 : 16}`, 'dev', ifName, ...(ip.includes(':') ? ['nodad'] : [])]);
}

/**
 * As dockerd's sandbox after a connect or disconnect: the default route goes through the
 * endpoint that sorts first (gatewayIndex), moved there if another one has it; one on an
 * --internal network has no way out (the route stays where it is, if any).
 */
export async function moveDefaultRoute(st: NetworkState | undefined, specs: readonly EndpointSpec[], internal: (networkId: string) => boolean): Promise<void> {
  if (!st?.endpoints.length) return;
  const live = st.endpoints.map((e) => ({ networkId: e.networkId, name: e.name, gwPriority: specs.find((x) => x.networkId === e.networkId)?.gwPriority }));
  const v6 = (networkId: string) => !!st.endpoints.find((e) => e.networkId === networkId)?.gateway6;
  const best = st.endpoints[gatewayIndex(live, internal, v6)]!;
  if (!internal(best.networkId) && best.gateway) await defaultRouteVia(st.sandboxKey, '-4', best.gateway, best.ifName);
  await ensureDefaultRoute6(st, live, internal, v6);
}

/** The family's default route through gateway on ifName, unless it goes out there already. */
async function defaultRouteVia(netns: string, family: '-4' | '-6', gateway: string, ifName: string): Promise<void> {
  const now = JSON.parse(await inNetns(netns, ['ip', '-j', family, 'route', 'show', 'default']).catch(() => '[]') || '[]') as Array<{ dev?: string }>;
  if (!now.some((r) => r.dev === ifName)) await inNetns(netns, ['ip', family, 'route', 'replace', 'default', 'via', gateway, 'dev', ifName]);
}

/** The IPv6 default route through libnetwork's ep6 (gateway6Index), where one is and it is not there yet. */
export async function ensureDefaultRoute6(st: NetworkState, eps: ReadonlyArray<GwEndpoint>, internal: (networkId: string) => boolean, v6: (networkId: string) => boolean): Promise<void> {
  const i = gateway6Index(eps, internal, v6);
  const ep = i < 0 ? undefined : st.endpoints[i];
  if (ep?.gateway6) await defaultRouteVia(st.sandboxKey, '-6', ep.gateway6, ep.ifName);
}
