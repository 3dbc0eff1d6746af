// Docker's views of a container's networks, ports, mounts and restart policy (inspect's
// HostConfig fields, Mounts, Config.ExposedPorts/Volumes, NetworkSettings; ps' Ports), with
// dockerd 20.10's zero values: what `docker port`, `docker ps` and `inspect -f` read.
import { running, type Container } from '../containers/model.js';
import { versionAtLeast } from './version.js';
import { SYSCTLS } from './network-compat.js';
import { modeEndpointId } from '../networks/model.js';

/** HostConfig's network, port, mount and restart fields. */
export function networkHostConfigView(c: Container) {
  const k = c.config;
  const n = k.networking;
  const binds = k.binds.filter((b) => !b.origin).map((b) => b.spec ?? `${b.source}:${b.destination}${b.readonly ? ':ro' : ''}`);
  const volumeBinds = (k.volumes ?? []).filter((v) => v.spec && v.spec.includes(':')).map((v) => v.spec!);
  const all = [...binds, ...volumeBinds];
  return {
    Binds: all.length ? all : null,
    NetworkMode: k.network === 'pod' ? `container:${k.pod?.id ?? ''}` : n?.mode ?? k.network,
    PortBindings: n ? Object.fromEntries(Object.entries(n.portBindings).map(([p, l]) => [p, l.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort }))])) : {},
    RestartPolicy: { Name: k.restartPolicy?.name ?? 'no', MaximumRetryCount: k.restartPolicy?.maxRetries ?? 0 },
    VolumeDriver: '',
    VolumesFrom: k.mountRequest?.volumesFrom ?? null,
    Dns: n?.dns ?? [],
    DnsOptions: n?.dnsOptions ?? [],
    DnsSearch: n?.dnsSearch ?? [],
    ExtraHosts: n?.extraHosts.length ? n.extraHosts : null,
    Links: null,
    PublishAllPorts: n?.publishAll ?? false,
    ...(k.mountRequest?.tmpfs ? { Tmpfs: k.mountRequest.tmpfs } : {}),
    ...(k.mountRequest?.mounts ? { Mounts: k.mountRequest.mounts } : {}),
  };
}

/** Config.ExposedPorts and Config.Volumes. */
export function portsConfigView(c: Container) {
  const k = c.config;
  const exposed = k.networking?.exposedPorts ?? [];
  const vols = (k.volumes ?? []).filter((v) => v.anonymous && !v.origin).map((v) => v.destination);
  return {
    ...(exposed.length ? { ExposedPorts: Object.fromEntries(exposed.map((p) => [p, {}])) } : {}),
    Volumes: vols.length ? Object.fromEntries(vols.map((v) => [v, {}])) : null,
  };
}

/** The top-level Mounts list. */
export function mountsView(c: Container) {
  const k = c.config;
  return [
    ...k.binds.map((b) => ({
      Type: 'bind', Source: b.source, Destination: b.destination, Mode: b.spec?.split(':')[2] ?? '', RW: !b.readonly, Propagation: b.propagation,
    })),
    ...(k.volumes ?? []).map((v) => ({
      Type: 'volume', Name: v.name, Source: v.source, Destination: v.destination, Driver: 'local', Mode: v.origin === 'mount' ? '' : v.spec?.split(':')[2] || (v.anonymous ? '' : 'z'), RW: !v.readonly, Propagation: '',
    })),
    ...(k.tmpfs ?? []).filter((t) => t.origin === 'mount').map((t) => ({
      Type: 'tmpfs', Source: '', Destination: t.destination, Mode: '', RW: !t.options.includes('ro'), Propagation: '',
    })),
    // dockerd's MountPoint of an image mount (registerMountPoints): the image as named its
    // Name, the host path of its snapshot the Source, read-only
    ...(k.imageMounts ?? []).map((m) => ({
      Type: 'image', Name: m.image, Source: m.source ?? m.image, Destination: m.destination, Mode: '', RW: false, Propagation: 'rprivate',
    })),
  ];
}

/**
 * How an endpoint reads in an answer of `version`: 1.41 as dockerd 20.10 wrote it; from 1.42
 * as dockerd 29 (MacAddress the configured one while stopped, DNSNames from 1.44, inspect's
 * Aliases without the short id from 1.45, GwPriority from 1.48); `list`: GET
 * /containers/json, whose Aliases dockerd never padded.
 */
export interface SettingsOptions { version?: string; list?: boolean }

/** inspect's NetworkSettings; `networkId` names the ids of host/none (and networks not running). */
export function networkSettingsView(c: Container, networkId: (name: string) => string, o: SettingsOptions = {}) {
  const version = o.version ?? '1.41';
  const legacy = !versionAtLeast(version, '1.42');
  const k = c.config;
  const st = running(c.state) ? c.state.network : undefined;
  const n = k.networking;
  const zero = {
    IPAMConfig: null, Links: null, Aliases: null, NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
  };
  const networks: Record<string, Record<string, unknown>> = {};
  if (k.network === 'host' || k.network === 'none') {
    // joined at the start, left at the stop, as dockerd's endpoint on the network
    const joined = running(c.state) ? { EndpointID: modeEndpointId(c.id, k.network, c.state.startedAt) } : {};
    networks[k.network] = legacy ? { ...zero, NetworkID: networkId(k.network), ...joined } : endpointV2(version, { NetworkID: networkId(k.network), ...joined });
  }
  const short = c.id.slice(0, 12);
  for (const ep of k.network === 'cni' ? n?.endpoints ?? [] : []) {
    const live = st?.endpoints.find((e) => e.networkId === ep.networkId);
    const userNet = ep.name !== 'bridge';
    const ipam = ep.ipv4Address || ep.ipv6Address || ep.linkLocalIps?.length
      ? { ...(ep.ipv4Address ? { IPv4Address: ep.ipv4Address } : {}), ...(ep.ipv6Address ? { IPv6Address: ep.ipv6Address } : {}), ...(ep.linkLocalIps?.length ? { LinkLocalIPs: ep.linkLocalIps } : {}) } : null;
    const liveFields = live ? {
      EndpointID: live.endpointId, Gateway: live.gateway, IPAddress: live.ip, IPPrefixLen: live.prefixLen, MacAddress: live.mac,
      ...(live.ipv6 ? { IPv6Gateway: live.gateway6 ?? '', GlobalIPv6Address: live.ipv6, GlobalIPv6PrefixLen: live.prefixLen6 ?? 0 } : {}),
    } : {};
    const joined = !!(c.state.startedAt || ep.connected);
    if (legacy) {
      // dockerd 20.10's updateNetworkConfig, run when the endpoint joins (a start, a connect):
      // the short id appended to the stored aliases unless the client gave it already
      const stored = userNet && joined && !ep.aliases.includes(short) ? [...ep.aliases, short] : ep.aliases;
      networks[ep.name] = { ...zero, IPAMConfig: ipam, Links: ep.links ?? null, Aliases: userNet && stored.length ? stored : null, NetworkID: ep.networkId, ...liveFields };
      continue;
    }
    // dockerd's inspect before 1.45 adds the short id and the hostname to a user network's aliases
    const aliases = userNet && !o.list && !versionAtLeast(version, '1.45') ? dedup([...ep.aliases, short, k.hostname]) : ep.aliases;
    // set when the endpoint joins (a start, or a connect), kept once stopped: the names it answers to there
    const dnsNames = userNet && joined ? dedup([c.name, ...ep.aliases, short, k.hostname]) : null;
    networks[ep.name] = endpointV2(version, {
      IPAMConfig: ipam, Links: ep.links ?? null, Aliases: aliases.length ? aliases : null, GwPriority: ep.gwPriority ?? 0, NetworkID: ep.networkId,
      DriverOpts: ep.sysctls?.length ? { [SYSCTLS]: ep.sysctls.join(',') } : null,
      MacAddress: ep.mac ?? '', ...liveFields, DNSNames: dnsNames,
    });
  }
  const bridge = st?.endpoints.find((e) => e.name === 'bridge');
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  if (st) {
    for (const p of n?.exposedPorts ?? []) ports[p] = null;
    for (const [p, l] of Object.entries(st.ports)) ports[p] = l.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort }));
  }
  const sandboxId = st?.sandboxKey && k.network === 'cni' ? c.id : '';
  const sandboxKey = k.network === 'cni' ? st?.sandboxKey ?? '' : '';
  // 1.52 drops the fields deprecated since 1.21 (the default bridge's endpoint at the top level)
  if (versionAtLeast(version, '1.52')) return { SandboxID: sandboxId, SandboxKey: sandboxKey, Ports: ports, Networks: networks };
  return {
    Bridge: '', SandboxID: sandboxId, HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: ports, SandboxKey: sandboxKey, SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
    EndpointID: bridge?.endpointId ?? '', Gateway: bridge?.gateway ?? '', GlobalIPv6Address: bridge?.ipv6 ?? '', GlobalIPv6PrefixLen: bridge?.prefixLen6 ?? 0,
    IPAddress: bridge?.ip ?? '', IPPrefixLen: bridge?.prefixLen ?? 0, IPv6Gateway: bridge?.gateway6 ?? '', MacAddress: bridge?.mac ?? '',
    Networks: networks,
  };
}

/** An endpoint in dockerd 29's field order (its network.EndpointSettings), by version. */
function endpointV2(version: string, f: Record<string, unknown>): Record<string, unknown> {
  return {
    IPAMConfig: f.IPAMConfig ?? null, Links: f.Links ?? null, Aliases: f.Aliases ?? null, DriverOpts: f.DriverOpts ?? null,
    ...(versionAtLeast(version, '1.48') ? { GwPriority: f.GwPriority ?? 0 } : {}),
    NetworkID: f.NetworkID ?? '', EndpointID: f.EndpointID ?? '', Gateway: f.Gateway ?? '', IPAddress: f.IPAddress ?? '',
    MacAddress: f.MacAddress ?? '', IPPrefixLen: f.IPPrefixLen ?? 0, IPv6Gateway: f.IPv6Gateway ?? '', GlobalIPv6Address: f.GlobalIPv6Address ?? '', GlobalIPv6PrefixLen: f.GlobalIPv6PrefixLen ?? 0,
    ...(versionAtLeast(version, '1.44') ? { DNSNames: f.DNSNames ?? null } : {}),
  };
}

/** Each once, in order of first appearance (dockerd's sliceutil.Dedup); empty ones dropped. */
function dedup(list: string[]): string[] {
  return [...new Set(list.filter((x) => x))];
}

/**
 * ps' Ports: each published binding, and each exposed port without one, of a running
 * container; dockerd lists them from NetworkSettings.Ports, which a stop empties.
 */
export function psPorts(c: Container): Array<Record<string, unknown>> {
  const st = running(c.state) ? c.state.network : undefined;
  if (!st || c.config.network !== 'cni') return [];
  const out: Array<Record<string, unknown>> = [];
  const bound = st.ports;
  for (const p of c.config.networking?.exposedPorts ?? []) {
    const [port, type] = p.split('/');
    const list = bound[p] ?? [];
    if (!list.length) out.push({ PrivatePort: Number(port), Type: type });
    for (const b of list) out.push({ IP: b.hostIp, PrivatePort: Number(port), PublicPort: Number(b.hostPort), Type: type });
  }
  return out;
}
