// The default pod network, what install.sh writes into an empty /etc/cni/net.d (the file
// scripts/cni/10-tsula.conflist is this function's output; a unit test keeps them equal):
//   bridge     a host bridge "tsula0" with a veth per pod; the bridge is the pods' gateway
//              (isGateway) and traffic leaving the subnet is masqueraded (ipMasq); hairpin
//              lets a pod reach itself through its own hostPort;
//   host-local leases from 172.19.0.0/16, gateway 172.19.0.1 (the address the guides ping);
//   portmap    hostPort → containerPort DNAT from runtimeConfig.portMappings, with snat so
//              that connections from the host itself (127.0.0.1) are answered too.
// No loopback plugin: the runtime brings `lo` up when it creates the netns (netns.ts), so
// the conflist is only the pod's eth0, and there is no second attachment to cache and DEL.
export interface DefaultNetworkOptions {
  /** Network name (cache and IPAM dir key). */
  name?: string;
  /** Host bridge name (≤ 15 chars). */
  bridge?: string;
  subnet?: string;
  gateway?: string;
  /** host-local's lease dir; unset: the plugin's default /var/lib/cni/networks/<name>. */
  dataDir?: string;
  cniVersion?: string;
}

export const DEFAULT_NETWORK = {
  name: 'tsula',
  bridge: 'tsula0',
  subnet: '172.19.0.0/16',
  gateway: '172.19.0.1',
  cniVersion: '1.0.0',
  file: '10-tsula.conflist',
} as const;

export function defaultConfList(o: DefaultNetworkOptions = {}): Record<string, unknown> {
  const ipam: Record<string, unknown> = {
    type: 'host-local',
    ranges: [[{ subnet: o.subnet ?? DEFAULT_NETWORK.subnet, gateway: o.gateway ?? DEFAULT_NETWORK.gateway }]],
    routes: [{ dst: '0.0.0.0/0' }],
  };
  if (o.dataDir) ipam.dataDir = o.dataDir;
  return {
    cniVersion: o.cniVersion ?? DEFAULT_NETWORK.cniVersion,
    name: o.name ?? DEFAULT_NETWORK.name,
    plugins: [
      { type: 'bridge', bridge: o.bridge ?? DEFAULT_NETWORK.bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipam },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** The conflist as the file holds it. */
export function defaultConfListText(o: DefaultNetworkOptions = {}): string {
  return JSON.stringify(defaultConfList(o), null, 2) + '\n';
}
