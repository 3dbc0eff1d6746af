// A bridge network's CNI list per attachment (engine/networks/conflist.ts) and its iptables
// rules (engine/networks/firewall.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkConfList } from '../../src/engine/networks/conflist.js';
import { firewallRules } from '../../src/engine/networks/firewall.js';
import type { NetworkRecord } from '../../src/engine/networks/model.js';

const net: NetworkRecord = {
  id: 'n1', name: 'n1', driver: 'bridge', created: '', internal: false, attachable: false, labels: {}, options: {},
  ipam: { driver: 'default', options: {}, config: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] },
  bridge: 'br-n1', ipMasq: true, predefined: false, autoSubnet: false,
};

test('portmap is in the list of an attachment that publishes ports only (each plugin is a process at ADD and DEL)', () => {
  const types = (ports: boolean) => networkConfList(net, { ipamDir: '/x', primary: true, ports }).plugins.map((p) => p.type);
  assert.deepEqual(types(true), ['bridge', 'portmap']);
  assert.deepEqual(types(false), ['bridge']);
});

test('the masquerade and FORWARD rules are the network\'s (firewall.ts), not the attachment\'s', () => {
  const bridge = (JSON.parse(networkConfList(net, { ipamDir: '/x', primary: true }).bytes) as { plugins: Array<{ ipMasq: boolean }> }).plugins[0];
  assert.equal(bridge.ipMasq, false);
});

test('a network\'s iptables rules: docker 28\'s isolation in mangle, replies, published ports and what leaves the bridge accepted, its masquerade', () => {
  assert.equal(firewallRules(net), [
    '*mangle', ':TSULA-ISO-br-n1 - [0:0]',
    '-A TSULA-ISO-br-n1 ! -i br-n1 -o br-n1 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP',
    'COMMIT',
    '*filter', ':TSULA-FWD-br-n1 - [0:0]',
    '-A TSULA-FWD-br-n1 -o br-n1 -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT',
    '-A TSULA-FWD-br-n1 -i br-n1 -j ACCEPT',
    'COMMIT',
    '*nat', ':TSULA-NAT-br-n1 - [0:0]',
    '-A TSULA-NAT-br-n1 -s 10.9.0.0/24 ! -o br-n1 -j MASQUERADE',
    'COMMIT', '',
  ].join('\n'));
  // enable_ip_masquerade=false: the nat chain stays empty
  assert.doesNotMatch(firewallRules({ ...net, ipMasq: false }), /MASQUERADE/);
});

test('an internal network\'s traffic stays on its bridge (docker\'s isolation rules), unmasqueraded', () => {
  const r = firewallRules({ ...net, internal: true });
  assert.match(r, /:TSULA-ISO-br-n1 - \[0:0\]\n-A TSULA-ISO-br-n1 -i br-n1 ! -o br-n1 -j DROP\n-A TSULA-ISO-br-n1 ! -i br-n1 -o br-n1 -j DROP\nCOMMIT\n/);
  assert.match(r, /:TSULA-FWD-br-n1 - \[0:0\]\n-A TSULA-FWD-br-n1 -i br-n1 -o br-n1 -j ACCEPT\nCOMMIT\n/);
  assert.doesNotMatch(r, /MASQUERADE/);
});

test('enable_icc=false: what goes from one container of the network to another is refused first', () => {
  assert.match(firewallRules({ ...net, icc: false }), /:TSULA-ISO-br-n1 - \[0:0\]\n-A TSULA-ISO-br-n1 -i br-n1 -o br-n1 -j DROP\n/);
  assert.match(firewallRules({ ...net, icc: false, internal: true }), /:TSULA-ISO-br-n1 - \[0:0\]\n-A TSULA-ISO-br-n1 -i br-n1 -o br-n1 -j DROP\n/);
  assert.doesNotMatch(firewallRules(net), /-i br-n1 -o br-n1 -j DROP/);
});

test('gateway_mode_ipv4=nat-unprotected: no refusal of direct connections into the bridge, the rest as nat', () => {
  const r = firewallRules({ ...net, unprotected: true });
  assert.match(r, /:TSULA-ISO-br-n1 - \[0:0\]\nCOMMIT\n/);
  assert.match(r, /-A TSULA-NAT-br-n1 -s 10.9.0.0\/24 ! -o br-n1 -j MASQUERADE/);
});

test('gateway modes are per family: nat-unprotected lifts the refusal of its own family only (a record with the old unprotected alone: IPv4)', () => {
  const dual = { ...net, ipv6: { subnet: 'fd00:9::/64', gateway: 'fd00:9::1' } };
  const refusal = /-A TSULA-ISO-br-n1 ! -i br-n1 -o br-n1 -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j DROP/;
  assert.doesNotMatch(firewallRules({ ...dual, unprotected: true }, [], 4), refusal);
  assert.match(firewallRules({ ...dual, unprotected: true }, [], 6), refusal);
  assert.match(firewallRules({ ...dual, unprotected6: true }, [], 4), refusal);
  assert.doesNotMatch(firewallRules({ ...dual, unprotected6: true }, [], 6), refusal);
  for (const f of [4, 6] as const) assert.doesNotMatch(firewallRules({ ...dual, unprotected: true, unprotected6: true }, [], f), refusal);
});
