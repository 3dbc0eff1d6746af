// docker's daemon-wide networking keys of daemon.json (src/engine/config-network.ts): their
// rules and refusals, and where they take effect without a host: the default bridge network's
// record (mtu, ip, fixed-cidr: networks/service.ts), containers' resolv.conf and hosts lines
// (dns, dns-search, dns-opts, host-gateway-ips: networks/etc.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDaemonConfig } from '../../src/engine/config.js';
import { dnsSearchOk } from '../../src/engine/config-network.js';
import { extraHostLines, withDnsDefaults, type DnsInput } from '../../src/engine/networks/etc.js';
import { containerResolvConf } from '../../src/engine/networks/resolvconf.js';
import { NetworkService, type NetworkServiceDeps } from '../../src/engine/networks/service.js';
import { NetworkStore } from '../../src/engine/networks/store.js';
import { EventBus } from '../../src/engine/events.js';
import { Logger } from '../../src/common/log.js';

/** The directives of a container's resolv.conf (no comments, no blank lines). */
const directives = (t: string) => t.split('\n').filter((l) => l && !l.startsWith('#')).join('\n') + '\n';
const resolvConf = (host: string, d: DnsInput) => directives(containerResolvConf(host, d, { kind: 'legacy', ipv6: false }));
const embeddedResolvConf = (host: string, d: DnsInput, server: string) => directives(containerResolvConf(host, d, { kind: 'internal', server }));

async function withDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-netcfg-'));
  try { return await fn(dir); } finally { await fs.rm(dir, { recursive: true, force: true }); }
}

const load = (cfg: unknown) => withDir(async (dir) => {
  const file = path.join(dir, 'daemon.json');
  await fs.writeFile(file, JSON.stringify(cfg));
  return loadDaemonConfig({ configFile: file });
});

test('daemon.json networking keys: docker\'s values are taken, with dockerd\'s defaults', async () => {
  const none = await load({});
  assert.deepEqual(none.dnsDefaults, { dns: [], dnsSearch: [], dnsOptions: [] });
  assert.deepEqual([none.bridgeMtu, none.bridgeHostIp, none.fixedCidr, none.hostGatewayIps, none.userlandProxy], [undefined, undefined, undefined, [], false]);
  const c = await load({
    dns: ['10.255.255.53', '2001:db8::53'], 'dns-search': ['example.com', 'b.example.org.'], 'dns-opts': ['ndots:2', 'timeout:1'],
    mtu: 1400, ip: '127.0.0.1', 'fixed-cidr': '10.244.1.0/25', bip: '10.244.1.1/24', 'host-gateway-ip': '10.244.1.1',
    'userland-proxy': true, iptables: true, 'ip-forward': true, 'live-restore': true,
    'default-ipc-mode': 'shareable', 'default-cgroupns-mode': 'private',
  });
  assert.deepEqual(c.namespaceDefaults, { ipc: 'shareable', cgroupns: 'private' });
  assert.deepEqual(c.dnsDefaults, { dns: ['10.255.255.53', '2001:db8::53'], dnsSearch: ['example.com', 'b.example.org.'], dnsOptions: ['ndots:2', 'timeout:1'] });
  assert.deepEqual([c.bridgeMtu, c.bridgeHostIp, c.fixedCidr, c.hostGatewayIps, c.userlandProxy], [1400, '127.0.0.1', '10.244.1.0/25', ['10.244.1.1'], true]);
  // dockerd 25+'s list: one IPv4 and one IPv6 address
  assert.deepEqual((await load({ 'host-gateway-ips': ['192.0.2.1', 'fd00::1'] })).hostGatewayIps, ['192.0.2.1', 'fd00::1']);
  // mtu 0 is dockerd's default (1500); userland-proxy false is what tsula does
  assert.equal((await load({ mtu: 0 })).bridgeMtu, undefined);
  assert.equal((await load({ 'userland-proxy': false })).userlandProxy, false);
});

test('daemon.json networking keys: bad values and what tsula cannot do stop the daemon, naming the key and why', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ dns: ['8.8.8.x'] }, /key "dns\.0": want an IP address/],
    [{ dns: '8.8.8.8' }, /key "dns"/],
    [{ 'dns-search': ['-bad-.com'] }, /key "dns-search\.0": is not a valid domain/],
    [{ 'dns-search': ['123'] }, /key "dns-search\.0": is not a valid domain/],
    [{ 'dns-opts': [1] }, /key "dns-opts\.0"/],
    [{ mtu: 10 }, /key "mtu": must be an MTU from 68 to 65535/],
    [{ mtu: -1 }, /key "mtu"/],
    [{ mtu: '1400' }, /key "mtu"/],
    [{ ip: '::1' }, /key "ip": must be an IPv4 address \(tsula publishes ports on IPv4 only\)/],
    [{ ip: 'localhost' }, /key "ip"/],
    [{ 'fixed-cidr': '10.1.0.0' }, /key "fixed-cidr": must be an IPv4 CIDR/],
    [{ 'fixed-cidr': '10.1.0.0/33' }, /key "fixed-cidr"/],
    [{ 'host-gateway-ip': 'gw' }, /key "host-gateway-ip": want an IP address/],
    [{ 'host-gateway-ip': '10.0.0.1', 'host-gateway-ips': ['10.0.0.1'] }, /host-gateway-ip and host-gateway-ips must not both be specified in the config file/],
    [{ 'host-gateway-ips': ['10.0.0.1', '10.0.0.2'] }, /only one IPv4 host gateway IP address can be specified/],
    [{ 'host-gateway-ips': ['fd00::1', 'fd00::2'] }, /only one IPv6 host gateway IP address can be specified/],
    [{ 'userland-proxy': 'yes' }, /key "userland-proxy"/],
    [{ iptables: false }, /key "iptables": false is not supported: tsula's networks need their iptables rules .*; remove the key or set it true/],
    [{ 'ip-forward': false }, /key "ip-forward": false is not supported: .*net\.ipv4\.ip_forward=1.*; remove the key or set it true/],
    [{ 'default-ipc-mode': 'host' }, /key "default-ipc-mode": invalid default IPC mode: want "private" or "shareable"/],
    [{ 'default-cgroupns-mode': 'x' }, /key "default-cgroupns-mode": invalid default cgroup namespace mode/],
    [{ 'live-restore': false }, /key "live-restore": false is not supported: tsulad always leaves containers running across its own stop and restart/],
    // unknown keys still stop it (iSulad's rule)
    [{ 'userland-proxy-path': '/usr/bin/docker-proxy' }, /unknown key "userland-proxy-path"/],
  ];
  for (const [cfg, re] of cases) await assert.rejects(load(cfg), re, JSON.stringify(cfg));
});

test('dns-search: dockerd\'s ValidateDNSSearch', () => {
  for (const ok of ['example.com', 'a', 'a.b-c.d.', '.', ' example.com ']) assert.ok(dnsSearchOk(ok), ok);
  for (const bad of ['', '1.2.3', 'a..b', '-a.com', 'a-.com', 'a_b.com', `${'a'.repeat(255)}`]) assert.ok(!dnsSearchOk(bad), bad);
});

test('dns, dns-search, dns-opts: the defaults of containers that give none, each on its own', () => {
  const daemon = { dns: ['10.9.9.9'], dnsSearch: ['corp.test'], dnsOptions: ['ndots:3'] };
  const none = { dns: [], dnsSearch: [], dnsOptions: [] };
  const host = 'nameserver 192.0.2.53\nsearch host.test\noptions edns0\n';
  assert.deepEqual(withDnsDefaults(none, undefined), none);
  assert.equal(resolvConf(host, withDnsDefaults(none, daemon)), 'nameserver 10.9.9.9\nsearch corp.test\noptions ndots:3\n');
  // the container's own --dns wins, the daemon's search and options stay
  assert.equal(resolvConf(host, withDnsDefaults({ ...none, dns: ['1.1.1.1'] }, daemon)), 'nameserver 1.1.1.1\nsearch corp.test\noptions ndots:3\n');
  assert.equal(resolvConf(host, withDnsDefaults({ ...none, dnsSearch: ['.'] }, daemon)), 'nameserver 10.9.9.9\noptions ndots:3\n');
  // no daemon default: the host's, as before
  assert.equal(resolvConf(host, withDnsDefaults(none, { ...none, dnsOptions: ['rotate'] })), 'nameserver 192.0.2.53\nsearch host.test\noptions rotate\n');
  // a user network's: its DNS server, the daemon's search and options
  assert.equal(embeddedResolvConf(host, withDnsDefaults(none, daemon), '127.0.0.11'), 'nameserver 127.0.0.11\nsearch corp.test\noptions ndots:3\n');
});

test('host-gateway: each address it stands for gets its line; none known is refused', () => {
  assert.deepEqual(extraHostLines(['gw:host-gateway', 'x:10.0.0.5'], ['192.0.2.1', 'fd00::1']), ['192.0.2.1\tgw', 'fd00::1\tgw', '10.0.0.5\tx']);
  assert.deepEqual(extraHostLines(['gw:host-gateway'], ['10.244.1.1']), ['10.244.1.1\tgw']);
  assert.throws(() => extraHostLines(['gw:host-gateway'], []), /unable to derive the IP value for host-gateway/);
  assert.throws(() => extraHostLines(['host-gateway'], ['10.0.0.1']), /invalid IP address in add-host/);
});

/** The default bridge network a NetworkService makes with these daemon.json settings (no host bridge touched). */
async function defaultBridge(dir: string, d: Partial<NetworkServiceDeps>) {
  const s = new NetworkService({
    store: new NetworkStore(path.join(dir, 'records')), ipamDir: path.join(dir, 'ipam'), pools: [{ base: '10.251.0.0/16', size: 24 }],
    log: new Logger('error'), events: new EventBus(), bridge: `tsnx${process.pid % 100000}`, ...d,
  });
  await s.init();
  return s.defaultBridge()!;
}

test('mtu, ip, fixed-cidr: the default bridge network\'s driver options and address range, as dockerd\'s initBridgeDriver sets them', async () => {
  await withDir(async (dir) => {
    const plain = await defaultBridge(dir, { bip: '10.244.1.1/24' });
    assert.equal(plain.mtu, undefined);
    assert.equal(plain.options['com.docker.network.driver.mtu'], '1500');
    assert.equal(plain.options['com.docker.network.bridge.host_binding_ipv4'], '0.0.0.0');
    assert.deepEqual(plain.ipam.config, [{ subnet: '10.244.1.0/24', gateway: '10.244.1.1' }]);
    // a restart with new values reconfigures the record (same id)
    const n = await defaultBridge(dir, { bip: '10.244.1.1/24', bridgeMtu: 1400, bridgeHostIp: '127.0.0.1', fixedCidr: '10.244.1.130/25' });
    assert.equal(n.id, plain.id);
    assert.equal(n.mtu, 1400);
    assert.equal(n.options['com.docker.network.driver.mtu'], '1400');
    assert.equal(n.options['com.docker.network.bridge.host_binding_ipv4'], '127.0.0.1');
    assert.deepEqual(n.ipam.config, [{ subnet: '10.244.1.0/24', gateway: '10.244.1.1', ipRange: '10.244.1.128/25' }]);
    // and back
    const back = await defaultBridge(dir, { bip: '10.244.1.1/24' });
    assert.deepEqual([back.mtu, back.options['com.docker.network.driver.mtu'], back.ipam.config[0]!.ipRange], [undefined, '1500', undefined]);
  });
  await withDir(async (dir) => {
    // no bip, no address on the bridge: fixed-cidr is the subnet too (dockerd's PreferredPool)
    const n = await defaultBridge(dir, { fixedCidr: '10.252.7.0/24' });
    assert.deepEqual(n.ipam.config, [{ subnet: '10.252.7.0/24', gateway: '10.252.7.1', ipRange: '10.252.7.0/24' }]);
    // a subnet picked before keeps when it holds the new fixed-cidr
    const kept = await defaultBridge(dir, { fixedCidr: '10.252.7.64/26' });
    assert.deepEqual(kept.ipam.config, [{ subnet: '10.252.7.0/24', gateway: '10.252.7.1', ipRange: '10.252.7.64/26' }]);
  });
  await withDir(async (dir) => {
    await assert.rejects(defaultBridge(dir, { bip: '10.244.1.1/24', fixedCidr: '10.244.2.0/24' }),
      /daemon.json "fixed-cidr" 10.244.2.0\/24 is not inside the subnet 10.244.1.0\/24 of "bip" 10.244.1.1\/24/);
    await assert.rejects(defaultBridge(dir, { bip: '10.244.1.1/24', fixedCidr: '10.244.0.0/16' }), /is not inside the subnet 10.244.1.0\/24/);
    await assert.rejects(defaultBridge(dir, { fixedCidr: '10.244.0.4/31' }), /too small to be the default bridge's subnet/);
  });
});
