// A bridge network's CNI list per attachment (engine/networks/conflist.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkConfList } from '../../src/engine/networks/conflist.js';
import type { NetworkRecord } from '../../src/engine/networks/model.js';

const net: NetworkRecord = {
  id: 'n1', name: 'n1', driver: 'bridge', created: '', internal: false, attachable: false, labels: {}, options: {},
  ipam: { driver: 'default', options: {}, config: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }] },
  bridge: 'br-n1', ipMasq: true, predefined: false, autoSubnet: false,
};

test('portmap is in the list of an attachment that publishes ports only (each plugin is a process at ADD and DEL)', () => {
  const types = (ports: boolean) => networkConfList(net, { ipamDir: '/x', primary: true, ports }).plugins.map((p) => p.type);
  assert.deepEqual(types(true), ['bridge', 'portmap', 'firewall']);
  assert.deepEqual(types(false), ['bridge', 'firewall']);
});

test('an internal network: no masquerade and no default route', () => {
  const l = networkConfList({ ...net, internal: true }, { ipamDir: '/x', primary: true });
  const bridge = (JSON.parse(l.bytes) as { plugins: Array<{ ipMasq: boolean; ipam: { routes: unknown[] } }> }).plugins[0];
  assert.equal(bridge.ipMasq, false);
  assert.deepEqual(bridge.ipam.routes, []);
});
