// The guest side of ConfigureNetwork: the busybox `ip` commands for a request and the NICs
// present (found by MAC, renamed, MTU, addresses, up, routes without a gateway first), the
// checks on what the host sent, the wait for a NIC that probes late, the script they run as
// (under a real sh, with a fake ip), and idempotence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { exec } from '../../src/common/exec.js';
import { checkRequest, configureNetwork, networkCommands } from '../../src/agent/network.js';
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

test('configureNetwork waits for a NIC that probes late and runs the commands as one script; a repeat finds the addresses there', async () => {
  // a fake `ip` first on PATH: logs its arguments, says "File exists" for an address it
  // added before, fails on whatever matches $FAIL
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tsula-agentnet-'));
  try {
    writeFileSync(path.join(dir, 'ip'), [
      '#!/bin/sh',
      `echo "$*" >> ${dir}/log`,
      'case "$*" in *addr\\ add*) if grep -qxF -- "$*" ' + `${dir}/added 2>/dev/null; then echo "ip: RTNETLINK answers: File exists" >&2; exit 2; fi; echo "$*" >> ${dir}/added;; esac`,
      'if [ -n "$FAIL" ]; then case "$*" in *$FAIL*) echo "ip: RTNETLINK answers: Network is unreachable" >&2; exit 2;; esac; fi',
      'exit 0', '',
    ].join('\n'), { mode: 0o755 });
    const sh = (fail = '') => (script: string) => exec('sh', ['-c', script], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FAIL: fail } });
    let polls = 0;
    const links = async () => (++polls < 3 ? [] : [{ name: 'eth0', mac: '0a:58:0a:c8:01:05' }]);
    // (never the host's /proc/sys: the NIC's name is eth0 here too)
    const sysctls: string[] = [];
    const sysctl = (f: string, v: string) => { sysctls.push(`${f}=${v}`); };
    await configureNetwork(req, { links, sh: sh(), waitMs: 2000, sysctl });
    assert.ok(polls >= 3);
    assert.deepEqual(sysctls, ['/proc/sys/net/ipv6/conf/eth0/accept_dad=0'], 'no DAD on a NIC given an IPv6 address');
    const log = () => readFileSync(path.join(dir, 'log'), 'utf8').trim().split('\n');
    assert.deepEqual(log(), networkCommands(req, [{ name: 'eth0', mac: '0a:58:0a:c8:01:05' }]).map((c) => c.join(' ')));
    await configureNetwork(req, { links, sh: sh(), sysctl });
    assert.equal(log().length, 14);
    // a real failure stops the script and names its command
    await assert.rejects(configureNetwork(req, { links, sh: sh('route'), sysctl }), /ip -4 route replace 10\.99\.0\.0\/16 dev eth0: ip: RTNETLINK answers: Network is unreachable/);
    assert.equal(log().length, 19, 'nothing after the failed command (mtu, 2 addr, up, the route)');
    // no such NIC after the wait
    await assert.rejects(configureNetwork(req, { links: async () => [], sh: sh(), waitMs: 100, sysctl: () => {} }), /no NIC with MAC/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
