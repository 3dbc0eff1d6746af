// Docker's views of a container's networks, ports, mounts and restart policy (inspect's
// HostConfig fields, Mounts, Config.ExposedPorts/Volumes, NetworkSettings; ps' Ports), with
// dockerd 20.10's zero values: what `docker port`, `docker ps` and `inspect -f` read.
import { running, type Container } from '../containers/model.js';

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
  ];
}

/** inspect's NetworkSettings; `networkId` names the ids of host/none (and networks not running). */
export function networkSettingsView(c: Container, networkId: (name: string) => string) {
  const k = c.config;
  const st = running(c.state) ? c.state.network : undefined;
  const n = k.networking;
  const zero = {
    IPAMConfig: null, Links: null, Aliases: null, NetworkID: '', EndpointID: '', Gateway: '', IPAddress: '', IPPrefixLen: 0,
    IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0, MacAddress: '', DriverOpts: null,
  };
  const networks: Record<string, typeof zero | Record<string, unknown>> = {};
  if (k.network === 'host' || k.network === 'none') networks[k.network] = { ...zero, NetworkID: networkId(k.network) };
  for (const ep of k.network === 'cni' ? n?.endpoints ?? [] : []) {
    const live = st?.endpoints.find((e) => e.networkId === ep.networkId);
    const userNet = ep.name !== 'bridge';
    networks[ep.name] = {
      ...zero,
      IPAMConfig: ep.ipv4Address ? { IPv4Address: ep.ipv4Address } : null,
      Aliases: userNet ? [c.id.slice(0, 12), ...ep.aliases] : null,
      NetworkID: ep.networkId,
      ...(live ? { EndpointID: live.endpointId, Gateway: live.gateway, IPAddress: live.ip, IPPrefixLen: live.prefixLen, MacAddress: live.mac } : {}),
    };
  }
  const bridge = st?.endpoints.find((e) => e.name === 'bridge');
  const ports: Record<string, Array<{ HostIp: string; HostPort: string }> | null> = {};
  if (st) {
    for (const p of n?.exposedPorts ?? []) ports[p] = null;
    for (const [p, l] of Object.entries(st.ports)) ports[p] = l.map((b) => ({ HostIp: b.hostIp, HostPort: b.hostPort }));
  }
  return {
    Bridge: '', SandboxID: st?.sandboxKey && k.network === 'cni' ? c.id : '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0,
    Ports: ports, SandboxKey: k.network === 'cni' ? st?.sandboxKey ?? '' : '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
    EndpointID: bridge?.endpointId ?? '', Gateway: bridge?.gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
    IPAddress: bridge?.ip ?? '', IPPrefixLen: bridge?.prefixLen ?? 0, IPv6Gateway: '', MacAddress: bridge?.mac ?? '',
    Networks: networks,
  };
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
