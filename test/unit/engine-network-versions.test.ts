// The pure parts of the networking changes of Engine API 1.42-1.52: a create body's
// networking by version (several endpoints, the MAC address's moves and refusals,
// GwPriority), which endpoint carries the default route, and a network's IPAM Status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkingForVersion } from '../../src/engine/api/network-compat.js';
import { subnetStatus } from '../../src/engine/api/network-views.js';
import { jsonText } from '../../src/engine/api/http.js';
import { gatewayIndex, gateway6Index } from '../../src/engine/networks/interfaces.js';
import { endpointSysctls } from '../../src/engine/api/docker-runopts.js';
import type { NetworkRecord } from '../../src/engine/networks/model.js';

/** A create body, read and written field by field. */
type Body = Record<string, any>;

const body = (o: Body): Body => ({ Image: 'busybox', ...o });
const WARNING = 'The container-wide MacAddress field is now deprecated. It should be specified in EndpointsConfig instead.';

test('several endpoints: refused before 1.44 (1.41 and 1.42 words), kept from 1.44', () => {
  const two = () => body({ HostConfig: { NetworkMode: 'a' }, NetworkingConfig: { EndpointsConfig: { a: {}, b: {} } } });
  assert.throws(() => networkingForVersion(two(), '1.41'), /Container cannot be connected to network endpoints: a, b/);
  assert.throws(() => networkingForVersion(two(), '1.43'), /Container cannot be created with multiple network endpoints: a, b/);
  const b = two();
  assert.deepEqual(networkingForVersion(b, '1.44'), []);
  assert.deepEqual(Object.keys(b.NetworkingConfig.EndpointsConfig), ['a', 'b']);
});

test('the default network\'s endpoint is keyed "bridge"', () => {
  const b = body({ NetworkingConfig: { EndpointsConfig: { default: { Aliases: [] } } } });
  networkingForVersion(b, '1.44');
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { bridge: { Aliases: [] } });
});

test('MAC address before 1.44: the container-wide one goes to the main endpoint; an endpoint\'s own without it is dropped', () => {
  let b = body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'n' } });
  assert.deepEqual(networkingForVersion(b, '1.43'), []);
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { n: { MacAddress: '02:42:00:00:00:01' } });
  assert.equal(b.MacAddress, '02:42:00:00:00:01', 'kept before 1.44');
  b = body({ HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { MacAddress: '02:42:00:00:00:02' } } } });
  networkingForVersion(b, '1.41');
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { n: {} });
  // 1.42-1.43: dockerd 29 refuses it with host, none, container:; 1.41 leaves that as before
  assert.throws(() => networkingForVersion(body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'host' } }), '1.42'),
    /conflicting options: mac-address and the network mode/);
  assert.deepEqual(networkingForVersion(body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'host' } }), '1.41'), []);
});

test('MAC address from 1.44: moved to the main endpoint with a warning, or refused', () => {
  let b = body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'n' } });
  assert.deepEqual(networkingForVersion(b, '1.44'), [WARNING]);
  assert.equal(b.MacAddress, undefined);
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { n: { MacAddress: '02:42:00:00:00:01' } });
  b = body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { MacAddress: '02:42:00:00:00:01' }, m: {} } } });
  assert.deepEqual(networkingForVersion(b, '1.52'), [WARNING]);
  assert.throws(() => networkingForVersion(body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { n: { MacAddress: '02:42:00:00:00:02' } } } }), '1.44'),
    /must match the endpoint-specific MAC address for the main network, or be left empty/);
  assert.throws(() => networkingForVersion(body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'n' }, NetworkingConfig: { EndpointsConfig: { m: {} } } }), '1.44'),
    /^.*unable to migrate container-wide MAC address to a specific network: HostConfig.NetworkMode must match the identity of a network in NetworkSettings.Networks$/);
  // host mode: dropped, with the warning
  b = body({ MacAddress: '02:42:00:00:00:01', HostConfig: { NetworkMode: 'host' } });
  assert.deepEqual(networkingForVersion(b, '1.44'), [WARNING]);
  assert.equal(b.MacAddress, undefined);
  assert.equal(b.NetworkingConfig, undefined);
});

test('GwPriority: dropped before 1.48', () => {
  const eps = () => ({ HostConfig: { NetworkMode: 'a' }, NetworkingConfig: { EndpointsConfig: { a: { GwPriority: 3 }, b: { GwPriority: 9 } } } });
  let b = body(eps());
  networkingForVersion(b, '1.47');
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { a: {}, b: {} });
  b = body(eps());
  networkingForVersion(b, '1.48');
  assert.deepEqual(b.NetworkingConfig.EndpointsConfig, { a: { GwPriority: 3 }, b: { GwPriority: 9 } });
});

test('a top-level eth0 sysctl: moved to the main endpoint before 1.48 (with a warning), refused from 1.48; 1.41 untouched', () => {
  const SC = 'com.docker.network.endpoint.sysctls';
  const mk = () => body({ HostConfig: { NetworkMode: 'n', Sysctls: { 'net.ipv4.conf.eth0.log_martians': '1', 'net.core.somaxconn': '5' } },
    NetworkingConfig: { EndpointsConfig: { n: { DriverOpts: { [SC]: 'net.ipv4.conf.IFNAME.arp_ignore=2' } } } } });
  let b = mk();
  assert.deepEqual(networkingForVersion(b, '1.47'),
    [`Migrated sysctl "net.ipv4.conf.eth0.log_martians" to DriverOpts{"${SC}":"net.ipv4.conf.IFNAME.log_martians=1"}.`]);
  assert.deepEqual(b.HostConfig.Sysctls, { 'net.core.somaxconn': '5' });
  assert.equal(b.NetworkingConfig.EndpointsConfig.n.DriverOpts[SC], 'net.ipv4.conf.IFNAME.log_martians=1,net.ipv4.conf.IFNAME.arp_ignore=2');
  assert.throws(() => networkingForVersion(mk(), '1.48'), /interface specific sysctl setting "net.ipv4.conf.eth0.log_martians" must be supplied using driver option/);
  assert.throws(() => networkingForVersion(body({ HostConfig: { Sysctls: { 'net.ipv4.conf.eth1.x': '1' } } }), '1.47'), /unable to determine network endpoint for sysctl net.ipv4.conf.eth1.x/);
  b = body({ HostConfig: { NetworkMode: 'host', Sysctls: { 'net.ipv4.conf.eth0.x': '1' } } });
  assert.deepEqual(networkingForVersion(b, '1.48'), [], 'not a private network: nothing to move');
  b = body({ HostConfig: { NetworkMode: 'n', Sysctls: { 'net.ipv4.conf.eth0.x': '1' } } });
  assert.deepEqual(networkingForVersion(b, '1.41'), []);
  assert.deepEqual(b.HostConfig.Sysctls, { 'net.ipv4.conf.eth0.x': '1' });
});

test('an endpoint\'s DriverOpts: its sysctls, checked; any other option refused', () => {
  const SC = 'com.docker.network.endpoint.sysctls';
  assert.deepEqual(endpointSysctls({ [SC]: 'net.ipv4.conf.IFNAME.a=1,net.ipv6.conf.ifname.b=0' }), ['net.ipv4.conf.IFNAME.a=1', 'net.ipv6.conf.ifname.b=0']);
  assert.deepEqual(endpointSysctls(null), []);
  assert.throws(() => endpointSysctls({ [SC]: 'net.core.x.IFNAME.y=1' }), /unrecognised network interface sysctl 'net.core.x.IFNAME.y=1'/);
  assert.throws(() => endpointSysctls({ other: 'x' }), /not supported by tsulad/);
});

test('the default route: highest GwPriority, then not --internal, then the name that sorts first (libnetwork\'s order)', () => {
  const internal = (id: string) => id.startsWith('int');
  const ep = (name: string, gwPriority?: number, networkId = name) => ({ networkId, name, ...(gwPriority !== undefined ? { gwPriority } : {}) });
  assert.equal(gatewayIndex([ep('a'), ep('b')], internal), 0);
  assert.equal(gatewayIndex([ep('b'), ep('a')], internal), 1);
  assert.equal(gatewayIndex([ep('a'), ep('b', 1)], internal), 1);
  assert.equal(gatewayIndex([ep('a', 5), ep('b', -1)], internal), 0);
  assert.equal(gatewayIndex([ep('int1'), ep('x'), ep('y')], internal), 1);
  assert.equal(gatewayIndex([ep('int1', 2), ep('b')], internal), 0);
});

test('per family, as libnetwork\'s selectGatewayEndpoint: the first dual-stack endpoint carries both routes; else IPv4 through the first and IPv6 through the first with IPv6', () => {
  const internal = (id: string) => id.startsWith('int');
  const v6 = (id: string) => id.endsWith('46') || id.endsWith('6only');
  const ep = (name: string, gwPriority?: number) => ({ networkId: name, name, ...(gwPriority !== undefined ? { gwPriority } : {}) });
  assert.equal(gatewayIndex([ep('net4'), ep('net46')], internal, v6), 1, 'dual-stack wins over the name order');
  assert.equal(gatewayIndex([ep('a4', 9), ep('b46')], internal, v6), 1, 'and over a higher priority (moby\'s FIXME)');
  assert.equal(gatewayIndex([ep('int46'), ep('b4')], internal, v6), 1, 'an --internal one never');
  assert.equal(gatewayIndex([ep('a4'), ep('b4')], internal, v6), 0);
  assert.equal(gateway6Index([ep('a4'), ep('z6only'), ep('m6only')], internal, v6), 2);
  assert.equal(gateway6Index([ep('a4'), ep('int46')], internal, v6), -1);
});

test('IPAM Status: network, broadcast, gateway and containers in use; the range\'s others available', () => {
  const rec = (config: NetworkRecord['ipam']['config']) => ({ ipam: { driver: 'default', options: {}, config } }) as unknown as NetworkRecord;
  assert.deepEqual(subnetStatus(rec([{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }]), []), { '10.1.0.0/24': { IPsInUse: 3, DynamicIPsAvailable: 253 } });
  assert.deepEqual(subnetStatus(rec([{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }]), [{ ipv4: '10.1.0.2/24' }, { ipv4: '10.1.0.3/24' }]),
    { '10.1.0.0/24': { IPsInUse: 5, DynamicIPsAvailable: 251 } });
  // an IPRange: only its addresses are handed out; the gateway outside it takes none of them
  assert.deepEqual(subnetStatus(rec([{ subnet: '10.1.0.0/24', gateway: '10.1.0.1', ipRange: '10.1.0.128/25' }]), [{ ipv4: '10.1.0.130/24' }]),
    { '10.1.0.0/24': { IPsInUse: 4, DynamicIPsAvailable: 126 } });
});

test('IPAM Status of an IPv6 pool: the subnet-router anycast address, gateway and containers in use, no broadcast; counts saturate at 2^64-1 and are written as exact integers', () => {
  const rec = (ipv6: NetworkRecord['ipv6']) => ({ ipam: { driver: 'default', options: {}, config: [{ subnet: '10.1.0.0/24', gateway: '10.1.0.1' }] }, ipv6 }) as unknown as NetworkRecord;
  // moby's TestMacvlanIPAM: a /64 with a /120 range and no gateway, one container
  const st = subnetStatus(rec({ subnet: '2001:db8:abcd::/64', gateway: '', ipRange: '2001:db8:abcd::/120' }), [{ ipv4: '10.1.0.2/24', ipv6: '2001:db8:abcd::2/64' }]);
  assert.deepEqual(Object.keys(st), ['10.1.0.0/24', '2001:db8:abcd::/64'], 'Go\'s map order');
  assert.deepEqual(st['2001:db8:abcd::/64'], { IPsInUse: 2n, DynamicIPsAvailable: 254n });
  // a bridge's /64: 2^64 addresses less the anycast one and the gateway
  const big = subnetStatus(rec({ subnet: 'fd00:1::/64', gateway: 'fd00:1::1' }), []);
  assert.deepEqual(big['fd00:1::/64'], { IPsInUse: 2n, DynamicIPsAvailable: (1n << 64n) - 2n });
  assert.deepEqual(subnetStatus(rec({ subnet: 'fd00:1::/48', gateway: 'fd00:1::1' }), [])['fd00:1::/48'], { IPsInUse: 2n, DynamicIPsAvailable: (1n << 64n) - 1n });
  assert.equal(jsonText({ Status: big, n: 'x' }), '{"Status":{"10.1.0.0/24":{"IPsInUse":3,"DynamicIPsAvailable":253},"fd00:1::/64":{"IPsInUse":2,"DynamicIPsAvailable":18446744073709551614}},"n":"x"}');
});
