// The guest side of ConfigureNetwork: the `ip` commands for a request and the NICs present
// (found by MAC, renamed, MTU, addresses, up, routes without a gateway first), the checks on
// what the host sent, the wait for a NIC that probes late, and the batch they are applied as
// (the applier itself, tsula-boot ip-batch over rtnetlink, runs for real in
// test/integration/guest-ip-batch.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequest, configureNetwork, networkBatch, networkCommands } from '../../src/agent/network.js';
import type { ConfigureNetworkRequest } from '../../src/agent/protocol.js';

const req: ConfigureNetworkRequest = {
  interfaces: [{ name: 'eth0', mac: '0A:58:0A:C8:01:05', mtu: 1450, addresses: ['10.200.1.5/24', 'fd00:1::5/64'] }],
  routes: [
    { family: 4, dst: 'default', gateway: '10.200.1.1', dev: 'eth0' },
    { family: 4, dst: '10.99.0.0/16', dev: 'eth0' },
    { family: 6, dst: 'default', gateway: 'fd00:1::1', dev: 'eth0' },
  ],
};

test('the ip commands: the NIC with that MAC, renamed while down, MTU, addresses, up, then routes (direct ones first)', () => {
  assert.deepEqual(networkCommands(req, [{ name: 'eth0', mac: '52:54:00:12:34:56' }, { name: 'eth1', mac: '0a:58:0a:c8:01:05' }]), [
    ['link', 'set', 'dev', 'eth1', 'down'],
    ['link', 'set', 'dev', 'eth1', 'name', 'eth0'],
    ['link', 'set', 'dev', 'eth0', 'mtu', '1450'],
    ['addr', 'add', '10.200.1.5/24', 'dev', 'eth0'],
    ['-6', 'addr', 'add', 'fd00:1::5/64', 'dev', 'eth0'],
    ['link', 'set', 'dev', 'eth0', 'up'],
    ['-4', 'route', 'replace', '10.99.0.0/16', 'dev', 'eth0'],
    ['-4', 'route', 'replace', 'default', 'via', '10.200.1.1', 'dev', 'eth0'],
    ['-6', 'route', 'replace', 'default', 'via', 'fd00:1::1', 'dev', 'eth0'],
  ]);
  // already named eth0: no rename
  assert.deepEqual(networkCommands(req, [{ name: 'eth0', mac: '0a:58:0a:c8:01:05' }])[0], ['link', 'set', 'dev', 'eth0', 'mtu', '1450']);
  assert.throws(() => networkCommands(req, [{ name: 'eth0', mac: '52:54:00:12:34:56' }]), /no NIC with MAC 0A:58:0A:C8:01:05 \(has: eth0 52:54:00:12:34:56\)/);
});

test('what the host sent is checked before it becomes an argument', () => {
  const bad = (patch: (r: ConfigureNetworkRequest) => void, re: RegExp) => {
    const r = structuredClone(req);
    patch(r);
    assert.throws(() => checkRequest(r), re);
  };
  checkRequest(req);
  bad((r) => { r.interfaces[0]!.name = 'eth0; reboot'; }, /bad interface name/);
  bad((r) => { r.interfaces[0]!.mac = '0a:58'; }, /bad MAC/);
  bad((r) => { r.interfaces[0]!.mtu = 20; }, /bad MTU 20/);
  bad((r) => { r.interfaces[0]!.addresses = ['10.200.1.5']; }, /bad address/);
  bad((r) => { r.interfaces[0]!.addresses = ['10.200.1.5/40']; }, /bad address/);
  bad((r) => { r.routes[0]!.gateway = 'fd00::1'; }, /bad gateway/);
  bad((r) => { r.routes[1]!.dst = '-net'; }, /bad route destination/);
  bad((r) => { r.routes[1]!.dev = 'eth9'; }, /unknown device "eth9"/);
});

test('configureNetwork waits for a NIC that probes late and applies the commands as one batch; a failure names its command', async () => {
  const batches: string[] = [];
  const apply = (result: { code: number; stderr: string }) => async (batch: string) => { batches.push(batch); return result; };
  let polls = 0;
  const links = async () => (++polls < 3 ? [] : [{ name: 'eth0', mac: '0a:58:0a:c8:01:05' }]);
  // (never the host's /proc/sys: the NIC's name is eth0 here too)
  const sysctls: string[] = [];
  const sysctl = (f: string, v: string) => { sysctls.push(`${f}=${v}`); };
  await configureNetwork(req, { links, apply: apply({ code: 0, stderr: '' }), waitMs: 2000, sysctl });
  assert.ok(polls >= 3);
  assert.deepEqual(sysctls, ['/proc/sys/net/ipv6/conf/eth0/accept_dad=0'], 'no DAD on a NIC given an IPv6 address');
  const cmds = networkCommands(req, [{ name: 'eth0', mac: '0a:58:0a:c8:01:05' }]);
  assert.deepEqual(batches, [networkBatch(cmds)]);
  assert.deepEqual(batches[0]!.split('\n'), [...cmds.map((c) => c.join(' ')), ''], 'one command a line');
  // the applier's word on a failure is the error
  const said = 'ip -4 route replace 10.99.0.0/16 dev eth0: RTNETLINK answers: Network is unreachable';
  await assert.rejects(configureNetwork(req, { links, apply: apply({ code: 1, stderr: said }), sysctl }), (e: Error) => e.message === `ConfigureNetwork: ${said}`);
  await assert.rejects(configureNetwork(req, { links, apply: apply({ code: 137, stderr: '' }), sysctl }), /ConfigureNetwork: \/bin\/tsula-boot ip-batch exited 137/);
  // no such NIC after the wait
  await assert.rejects(configureNetwork(req, { links: async () => [], apply: apply({ code: 0, stderr: '' }), waitMs: 100, sysctl: () => {} }), /no NIC with MAC/);
});

test('a template\'s rehearsal of ConfigureNetwork: no wait for its NIC, no command applied, no sysctl but a stand-in\'s', async () => {
  const batches: string[] = [];
  const sysctls: string[] = [];
  const t0 = Date.now();
  // the host's own NICs are read (the path runs), the request's MAC is on none of them
  await configureNetwork({ ...req, rehearse: true }, {
    apply: async (b) => { batches.push(b); return { code: 0, stderr: '' }; }, sysctl: (f) => { sysctls.push(f); }, waitMs: 5000,
  });
  assert.ok(Date.now() - t0 < 2000, 'the stand-in NIC is there at once');
  assert.deepEqual(batches, ['']);
  assert.deepEqual(sysctls, ['/proc/sys/net/ipv6/conf/rehearsal0/accept_dad']);
});
