// IPv6 arithmetic for network subnets (engine/networks/ipv6.ts) and the CNI config of a
// network with IPv6 (a range set of each family, the IPv6 default route, an IPRange's bounds).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bigToIp6, contains6, ip6ToBig, last6, nth6, overlaps6, parseCidr6, ulaSubnet } from '../../src/engine/networks/ipv6.js';
import { networkConfList } from '../../src/engine/networks/conflist.js';
import type { NetworkRecord } from '../../src/engine/networks/model.js';

test('ip6: parse and print as Go does (RFC 5952: lower case, the longest zero run as ::, a lone zero group kept)', () => {
  for (const [given, canonical] of [
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'], ['::1', '::1'], ['fd00::', 'fd00::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8::0:1', '2001:db8::1'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
  ]) assert.equal(bigToIp6(ip6ToBig(given)!), canonical, given);
  for (const bad of ['1.2.3.4', 'fe80::1%eth0', 'x::1', '']) assert.equal(ip6ToBig(bad), null, bad);
});

test('cidr6: taken to its network, containment, overlap, the n-th and last address; a bad one in the words of the IPv4 ones', () => {
  const c = parseCidr6('2001:389::1/64');
  assert.equal(bigToIp6(c.base), '2001:389::');
  assert.ok(contains6(c, '2001:389::ffff:1'));
  assert.ok(!contains6(c, '2001:389:0:1::1'));
  assert.equal(nth6(c, 1n), '2001:389::1');
  assert.equal(bigToIp6(last6(c)), '2001:389::ffff:ffff:ffff:ffff');
  assert.ok(overlaps6(c, parseCidr6('2001:389::/96')));
  assert.ok(overlaps6(parseCidr6('2001:389::/32'), c));
  assert.ok(!overlaps6(c, parseCidr6('2001:389:0:1::/64')));
  assert.throws(() => parseCidr6('2001:389::/129'), /invalid subnet "2001:389::\/129": want an IPv6 CIDR/);
  assert.throws(() => parseCidr6('10.0.0.0/8'), /want an IPv6 CIDR/);
});

test('ulaSubnet: a /64 of fd00::/8 with a 40-bit id of the network, the same for the same id', () => {
  const a = ulaSubnet('a'.repeat(64));
  assert.match(a, /^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);
  assert.equal(ulaSubnet('a'.repeat(64)), a);
  assert.notEqual(ulaSubnet('b'.repeat(64)), a);
  assert.notEqual(ulaSubnet('a'.repeat(64), 1), a);
});

test('conflist: a network with IPv6 has a range set of each family and both default routes; an IPRange bounds the IPv6 leases unless --ip6', () => {
  const net = {
    id: 'c'.repeat(64), name: 'v6', bridge: 'br-v6', internal: false, ipMasq: true,
    ipam: { driver: 'default', options: null, config: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] },
    ipv6: { subnet: 'fd00:1::/64', gateway: 'fd00:1::ffff', ipRange: 'fd00:1::/96' },
  } as unknown as NetworkRecord;
  const ipam = (requestedIp6: boolean) => (networkConfList(net, { ipamDir: '/x', primary: true, requestedIp6 }).plugins[0]!.raw as unknown as { ipam: { ranges: unknown[][]; routes: unknown[] } }).ipam;
  assert.deepEqual(ipam(false).ranges[1], [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::ffff', rangeStart: 'fd00:1::1', rangeEnd: 'fd00:1::ffff:ffff' }]);
  assert.deepEqual(ipam(true).ranges[1], [{ subnet: 'fd00:1::/64', gateway: 'fd00:1::ffff' }]);
  assert.deepEqual(ipam(false).routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
});
