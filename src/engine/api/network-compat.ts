// What changed between Engine API versions in a create body's networking, applied to the raw
// body before it is parsed (docker-model.ts), as dockerd's postContainersCreate does:
//   1.44  several NetworkingConfig.EndpointsConfig (one before); a MacAddress per endpoint,
//         the container-wide Config.MacAddress deprecated (moved to the main network's
//         endpoint, with a warning);
//   1.46  an endpoint's DriverOpts com.docker.network.endpoint.sysctls (its interface's
//         sysctls); before 1.48 a top-level --sysctl of eth0 is moved there, with a warning;
//   1.48  GwPriority per endpoint (ignored before); a top-level --sysctl naming an
//         interface is refused.
import { internal, invalidArgument } from '../../common/errors.js';
import { versionAtLeast } from './version.js';

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** NetworkMode as dockerd reads it: '' and 'default' are the default bridge. */
function modeName(hc: Json): string {
  const m = typeof hc.NetworkMode === 'string' ? hc.NetworkMode : '';
  return !m || m === 'default' ? 'bridge' : m;
}

/** dockerd's NetworkMode.IsBridge() || IsUserDefined(): a mode that has an endpoint of its own. */
function hasEndpoint(mode: string): boolean {
  return mode !== 'host' && mode !== 'none' && !mode.startsWith('container:') && mode !== 'container';
}

/**
 * Apply the version's rules to a create body's networking (mutated in place); the warnings
 * for the create's answer. Throws dockerd's 400s.
 */
export function networkingForVersion(body: unknown, version: string): string[] {
  if (!isObject(body)) return [];
  const hc = isObject(body.HostConfig) ? body.HostConfig : {};
  const nc = isObject(body.NetworkingConfig) ? body.NetworkingConfig : undefined;
  const eps: Json = nc && isObject(nc.EndpointsConfig) ? nc.EndpointsConfig : {};
  // dockerd keys the default network's endpoint by its name
  const raw = typeof hc.NetworkMode === 'string' ? hc.NetworkMode : '';
  if ((!raw || raw === 'default') && 'default' in eps) {
    eps.bridge = eps.default;
    delete eps.default;
  }
  const keys = Object.keys(eps);
  if (!versionAtLeast(version, '1.44') && keys.length > 1) {
    // 1.41 keeps dockerd 20.10's words (and tsula's of before)
    const what = versionAtLeast(version, '1.42') ? 'created with multiple network endpoints' : 'connected to network endpoints';
    throw invalidArgument(`Container cannot be ${what}: ${keys.join(', ')}`);
  }
  for (const ep of Object.values(eps)) {
    if (isObject(ep) && !versionAtLeast(version, '1.48')) delete ep.GwPriority; // all endpoints had the same before 1.48
    // 1.41 as before: no driver options of an endpoint (docker-runopts.ts refuses them)
    if (isObject(ep) && isObject(ep.DriverOpts) && SYSCTLS in ep.DriverOpts && !versionAtLeast(version, '1.42')) {
      throw invalidArgument('network driver options of an endpoint are not supported by tsulad');
    }
  }
  const add = (n: string) => {
    if (!nc) body.NetworkingConfig = { EndpointsConfig: eps };
    else nc.EndpointsConfig = eps;
    return (eps[n] = {}) as Json;
  };
  const warnings = macAddressCompat(body, hc, eps, version, add);
  const sysctl = versionAtLeast(version, '1.42') ? sysctlCompat(hc, eps, version, add) : '';
  return sysctl ? [...warnings, sysctl] : warnings;
}

/** The DriverOpts key of an endpoint's sysctls (libnetwork's netlabel.EndpointSysctls). */
export const SYSCTLS = 'com.docker.network.endpoint.sysctls';

/**
 * dockerd's handleSysctlBC: a top-level sysctl of an interface ("net.ipv4.conf.eth0.x") can't
 * be set before the interface is there; before 1.48 eth0's go to the main endpoint's
 * DriverOpts (as "net.ipv4.conf.IFNAME.x=v"), with a warning; from 1.48 they are refused.
 * (dockerd's errors here are plain ones: a 500.)
 */
function sysctlCompat(hc: Json, eps: Json, version: string, add: (name: string) => Json): string {
  const mode = modeName(hc);
  if (mode === 'host' || mode.startsWith('container:') || mode === 'container' || !isObject(hc.Sysctls)) return '';
  const sysctls = hc.Sysctls;
  let ep: Json | undefined;
  const moved: string[] = [];
  const values: string[] = [];
  for (const [k, v] of Object.entries(sysctls)) {
    const spl = k.split('.');
    if (spl.length < 5 || spl[0] !== 'net' || !spl[3]!.startsWith('eth')) continue;
    const rest = spl.slice(4).join('.');
    if (!ep) {
      if (versionAtLeast(version, '1.48')) throw internal(`interface specific sysctl setting "${k}" must be supplied using driver option '${SYSCTLS}'`);
      try {
        ep = mainEndpoint(eps, mode, version, add);
      } catch (e) {
        throw invalidArgument(`unable to find a network for sysctl ${k}: ${(e as Error).message}`);
      }
    }
    if (spl[3] !== 'eth0') throw internal(`unable to determine network endpoint for sysctl ${k}, use driver option '${SYSCTLS}' to set per-interface sysctls`);
    moved.push(k);
    values.push(`net.${spl[1]}.${spl[2]}.IFNAME.${rest}=${String(v)}`);
  }
  if (!ep) return '';
  const joined = values.join(',');
  const opts = isObject(ep.DriverOpts) ? ep.DriverOpts : (ep.DriverOpts = {});
  // the endpoint's own come last, so that they win
  opts[SYSCTLS] = typeof opts[SYSCTLS] === 'string' && opts[SYSCTLS] ? `${joined},${opts[SYSCTLS]}` : joined;
  for (const k of moved) delete sysctls[k];
  return `Migrated sysctl ${JSON.stringify(moved.join(','))} to DriverOpts{${JSON.stringify(SYSCTLS)}:${JSON.stringify(joined)}}.`;
}

/**
 * dockerd's handleMACAddressBC: before 1.44 the container-wide MAC address is the main
 * network's (and an endpoint's own is dropped: that API had none); from 1.44 it is moved to
 * the main network's endpoint with a warning, and must agree with an address given there.
 */
function macAddressCompat(body: Json, hc: Json, eps: Json, version: string, add: (name: string) => Json): string[] {
  const mac = typeof body.MacAddress === 'string' ? body.MacAddress : '';
  const mode = modeName(hc);
  if (!versionAtLeast(version, '1.44')) {
    if (!mac) {
      for (const ep of Object.values(eps)) if (isObject(ep)) delete ep.MacAddress;
      return [];
    }
    if (!hasEndpoint(mode)) {
      // 1.41 as before: container: is refused when parsed (docker-runopts.ts), host and none ignore it
      if (!versionAtLeast(version, '1.42')) return [];
      throw invalidArgument('conflicting options: mac-address and the network mode');
    }
    mainEndpoint(eps, mode, version, add).MacAddress = mac;
    return [];
  }
  if (!mac) return [];
  if (hasEndpoint(mode)) {
    let ep: Json;
    try {
      ep = mainEndpoint(eps, mode, version, add);
    } catch (e) {
      throw invalidArgument(`unable to migrate container-wide MAC address to a specific network: ${(e as Error).message}`);
    }
    if (!ep.MacAddress) ep.MacAddress = mac;
    else if (ep.MacAddress !== mac) throw invalidArgument('the container-wide MAC address must match the endpoint-specific MAC address for the main network, or be left empty');
  }
  delete body.MacAddress;
  return ['The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.'];
}

/** dockerd's epConfigForNetMode: the endpoint settings of the NetworkMode network, made if there are none. */
function mainEndpoint(eps: Json, mode: string, version: string, add: (name: string) => Json): Json {
  const keys = Object.keys(eps);
  if (!keys.length) return add(mode);
  if (!versionAtLeast(version, '1.44')) {
    const only = eps[keys[0]!];
    return isObject(only) ? only : add(keys[0]!);
  }
  const ep = eps[mode];
  if (!isObject(ep)) {
    if (mode in eps) return add(mode); // "mynet": null
    throw new Error('HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks');
  }
  return ep;
}
