// Pod networking (DESIGN.md "Networking"): pinned network namespaces and a CNI client
// (libcni's job: config loading, ADD/DEL/CHECK/VERSION/GC, the result cache), plus
// PodNetwork, which ties them into setup / teardown / status / crash recovery for the CRI
// service and, later, docker's bridge network.
// Owns: the netns files under the dir it is given (e.g. <state>/netns) and the CNI result
// cache under its cache dir. Everything else (veths, bridges, iptables chains, IPAM leases)
// belongs to the plugins and is released only through DEL.
// May call: common/, host tools (unshare, umount, nsenter, ip) and the CNI plugin binaries.
export { NetnsManager, isMounted, type NetnsOptions, type PinnedNetns } from './netns.js';
export {
  SUPPORTED_VERSIONS, isCniNetworkName, parseConfList, parseConf, parseConfigFile, configFiles, loadNetworkConfig, compareVersions,
  type NetworkConfigList, type PluginConf,
} from './cni/config.js';
export {
  parseResult, sandboxAddresses, primaryIp,
  type CniResult, type CniInterface, type CniIpConfig, type CniRoute, type CniDns,
} from './cni/result.js';
export { CniPluginError, findPlugin, type CniCommand } from './cni/invoke.js';
export { ResultCache, type CachedAttachment } from './cni/cache.js';
export {
  CniClient, podArgs, pluginConfig,
  type CniClientOptions, type RuntimeConf, type CapabilityArgs, type PortMapping, type DnsCapability,
  type BandwidthCapability, type PluginVersionInfo, type GcReport,
} from './cni/client.js';
export { inspectLink, type LinkInfo, type LinkAddress, type LinkRoute } from './link.js';
export { PodNetwork, type PodNetworkOptions, type PodNetworkRequest, type PodNetworkInfo, type RecoveryReport } from './pod.js';
export { defaultConfList, defaultConfListText, DEFAULT_NETWORK, type DefaultNetworkOptions } from './defaults.js';
