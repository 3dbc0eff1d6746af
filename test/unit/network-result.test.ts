// CNI results of every spec version into one typed shape, with fixtures as the bridge
// plugin (containernetworking-plugins 1.1.1) prints them for each cniVersion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseResult, primaryIp, sandboxAddresses } from '../../src/network/index.js';

const NS = '/run/tsula/netns/0123abcd';
const IFACES = [
  { name: 'tsula0', mac: '22:de:7d:15:85:30' },
  { name: 'vethc2c0a6de', mac: 'f2:13:57:f3:d6:c8' },
  { name: 'eth0', mac: '82:fd:1a:f6:bc:fa', sandbox: NS },
];

// bridge + host-local, cniVersion 1.0.0 (captured from the real plugins)
const V100 = {
  cniVersion: '1.0.0', interfaces: IFACES,
  ips: [{ interface: 2, address: '10.231.77.2/24', gateway: '10.231.77.1' }],
  routes: [{ dst: '0.0.0.0/0' }], dns: {},
};
// the same network at 0.4.0 / 0.3.1: ips carry "version"
const V040 = {
  cniVersion: '0.4.0', interfaces: IFACES,
  ips: [{ version: '4', interface: 2, address: '10.231.77.2/24', gateway: '10.231.77.1' }],
  routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'], domain: 'cluster.local' },
};
// a 0.2.0 result (IPAM-style, no interfaces)
const V020 = {
  cniVersion: '0.2.0',
  ip4: { ip: '10.1.0.5/16', gateway: '10.1.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }] },
  ip6: { ip: 'fd00::5/64', routes: [{ dst: '::/0' }] },
  dns: { nameservers: ['1.1.1.1'] },
};

test('1.0.0: interfaces, ips with their interface, routes, dns', () => {
  const r = parseResult(V100, '1.0.0');
  assert.equal(r.cniVersion, '1.0.0');
  assert.deepEqual(r.interfaces, IFACES);
  assert.deepEqual(r.ips, [{ family: 4, address: '10.231.77.2/24', gateway: '10.231.77.1', interface: 2 }]);
  assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0' }]);
  assert.deepEqual(r.dns, { nameservers: [], search: [], options: [] });
  assert.deepEqual(r.raw, V100); // what the next plugin and the cache get, unchanged
  assert.equal(primaryIp(r, 'eth0'), '10.231.77.2');
  assert.deepEqual(sandboxAddresses(r, 'eth0').map((x) => x.address), ['10.231.77.2/24']);
  assert.equal(primaryIp(r, 'eth1'), undefined); // no such pod interface
});

test('0.4.0 and 0.3.x read into the same shape; dns is kept', () => {
  for (const v of ['0.4.0', '0.3.1', '0.3.0']) {
    const r = parseResult({ ...V040, cniVersion: v }, v);
    assert.equal(r.cniVersion, v);
    assert.deepEqual(r.ips, [{ family: 4, address: '10.231.77.2/24', gateway: '10.231.77.1', interface: 2 }]);
    assert.deepEqual(r.dns, { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'], options: ['ndots:5'], domain: 'cluster.local' });
    assert.equal(r.interfaces[2]!.sandbox, NS);
  }
});

test('0.2.0 (ip4/ip6) becomes ips and routes; every address is the pod\'s', () => {
  const r = parseResult(V020, '0.2.0');
  assert.deepEqual(r.ips, [{ family: 4, address: '10.1.0.5/16', gateway: '10.1.0.1' }, { family: 6, address: 'fd00::5/64' }]);
  assert.deepEqual(r.routes, [{ dst: '0.0.0.0/0', gw: '10.1.0.1' }, { dst: '::/0' }]);
  assert.deepEqual(r.interfaces, []);
  assert.deepEqual(r.dns.nameservers, ['1.1.1.1']);
  assert.equal(primaryIp(r, 'eth0'), '10.1.0.5');
  assert.deepEqual(sandboxAddresses(r, 'eth0').map((x) => x.address), ['10.1.0.5/16', 'fd00::5/64']);
});

test('dual stack: the pod IP is the first IPv4, the others are additional', () => {
  const r = parseResult({
    cniVersion: '1.0.0', interfaces: IFACES,
    ips: [{ interface: 2, address: 'fd00:1::7/64' }, { interface: 2, address: '10.0.0.7/24' }, { interface: 1, address: '192.168.9.9/24' }],
  }, '1.0.0');
  assert.equal(primaryIp(r, 'eth0'), '10.0.0.7');
  assert.deepEqual(sandboxAddresses(r, 'eth0').map((x) => x.address), ['fd00:1::7/64', '10.0.0.7/24']);
});

test('a missing cniVersion is the config\'s (libcni\'s fixup)', () => {
  const { cniVersion, ...noVersion } = V100;
  assert.equal(cniVersion, '1.0.0');
  const r = parseResult(noVersion, '0.4.0');
  assert.equal(r.cniVersion, '0.4.0');
  assert.equal(r.raw.cniVersion, '0.4.0');
  assert.equal(parseResult({}, '1.0.0').ips.length, 0); // an empty result (e.g. from a meta plugin) is valid
});

test('malformed results are errors that name the plugin', () => {
  const who = 'cni plugin "fake" (network "n")';
  const bad = (x: unknown, pattern: RegExp) => assert.throws(() => parseResult(x, '1.0.0', who), (e: Error) => {
    assert.ok(e.message.startsWith(`${who}: invalid result: `), e.message);
    assert.match(e.message, pattern);
    return true;
  });
  bad(null, /want a JSON object, got null/);
  bad([], /want a JSON object/);
  bad({ cniVersion: '2.0.0' }, /unsupported cniVersion "2.0.0"/);
  bad({ ips: [{ address: '10.0.0.300/24' }] }, /ips\[0\]\.address: "10.0.0.300\/24" is not an address\/prefix/);
  bad({ ips: [{ address: '10.0.0.3' }] }, /ips\[0\]\.address/);
  bad({ ips: [{ address: '10.0.0.3/33' }] }, /ips\[0\]\.address/);
  bad({ ips: [{ address: '10.0.0.3/24', gateway: 'nope' }] }, /ips\[0\]\.gateway: "nope" is not an address/);
  bad({ interfaces: [{ name: 'eth0' }], ips: [{ address: '10.0.0.3/24', interface: 1 }] }, /ips\[0\]\.interface: 1 is not an index into interfaces \(1\)/);
  bad({ interfaces: [{ mac: 'x' }] }, /interfaces\[0\]\.name: missing/);
  bad({ ips: {} }, /ips: want a list/);
  bad({ routes: [{ gw: '10.0.0.1' }] }, /routes\[0\]\.dst/);
  bad({ cniVersion: '0.2.0', ip4: { ip: 'x' } }, /ip4\.ip: "x" is not an address\/prefix/);
});

test('an interface named as the pod\'s without a sandbox (a plugin that leaves it out) still gives the pod its address, as go-cni files it by name', () => {
  const r = parseResult({ cniVersion: '0.4.0', interfaces: [{ name: 'eth0' }], ips: [{ version: '4', address: '10.189.9.9/24', interface: 0 }] }, '0.4.0');
  assert.equal(primaryIp(r, 'eth0'), '10.189.9.9');
  // an address on another interface is not the pod's
  const other = parseResult({ cniVersion: '1.0.0', interfaces: [{ name: 'cni0' }, { name: 'eth0', sandbox: NS }], ips: [{ interface: 0, address: '10.9.0.1/24' }] }, '1.0.0');
  assert.deepEqual(sandboxAddresses(other, 'eth0'), []);
});
