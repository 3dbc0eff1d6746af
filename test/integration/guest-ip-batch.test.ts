// tsula-boot ip-batch (scripts/guest/ip-batch.c), the guest agent's ConfigureNetwork applier,
// built as build-guest.sh builds it and run against the kernel's rtnetlink in a private
// network namespace: the agent's own commands for a request (rename while down, MTU, IPv4 and
// IPv6 addresses, up, routes direct and via gateways) give what `ip` would, a repeat changes
// nothing and fails nothing, and a failure stops the batch naming its command.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { networkBatch, networkCommands } from '../../src/agent/network.js';
import type { ConfigureNetworkRequest } from '../../src/agent/protocol.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('guest-ip-batch', { root: true, files: { '/usr/bin/gcc': 'gcc', '/usr/lib/x86_64-linux-gnu/libc.a': 'libc6-dev', '/usr/sbin/ip': 'iproute2' } });

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');
const NS = `tsula-test-ipb-${process.pid}`;
const MAC = '0a:58:0a:c8:01:05';
let tmp: string, bin: string;

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-ipbatch-'));
  bin = path.join(tmp, 'tsula-boot');
  // the flags of scripts/build-guest.sh
  execFileSync('gcc', ['-static', '-Os', '-s', '-march=x86-64', '-mtune=generic', '-Wall', '-Wextra', '-Werror', '-o', bin,
    path.join(ROOT, 'scripts/guest/tsula-boot.c'), path.join(ROOT, 'scripts/guest/ip-batch.c')]);
  execFileSync('ip', ['netns', 'add', NS]);
  // the guest's NIC as the kernel named it (its probe order), with the MAC the host gave it
  execFileSync('ip', ['-n', NS, 'link', 'add', 'eth3', 'address', MAC, 'type', 'veth', 'peer', 'name', 'peer0']);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'peer0', 'up']);
});

after(() => {
  spawnSync('ip', ['netns', 'del', NS]);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const batch = (input: string) => spawnSync('ip', ['netns', 'exec', NS, bin, 'ip-batch'], { input, encoding: 'utf8' });
const ipJson = (...args: string[]) => JSON.parse(execFileSync('ip', ['-n', NS, '-j', ...args], { encoding: 'utf8' })) as Array<Record<string, unknown>>;

const req: ConfigureNetworkRequest = {
  interfaces: [{ name: 'eth0', mac: MAC.toUpperCase(), mtu: 1450, addresses: ['10.200.1.5/24', 'fd00:1::5/64'] }],
  routes: [
    { family: 4, dst: 'default', gateway: '10.200.1.1', dev: 'eth0' },
    { family: 4, dst: '10.99.0.0/16', dev: 'eth0' },
    { family: 6, dst: 'default', gateway: 'fd00:1::1', dev: 'eth0' },
  ],
};

test('the agent\'s commands for a request: the NIC renamed, its MTU, addresses and routes as ip sets them; a repeat is no error', () => {
  const input = networkBatch(networkCommands(req, [{ name: 'eth3', mac: MAC }]));
  const r = batch(input);
  assert.equal(r.stderr, '');
  assert.equal(r.status, 0);
  const [link] = ipJson('addr', 'show', 'dev', 'eth0');
  assert.equal(link!.mtu, 1450);
  assert.ok((link!.flags as string[]).includes('UP'));
  const addrs = (link!.addr_info as Array<{ local: string; prefixlen: number }>).map((a) => `${a.local}/${a.prefixlen}`);
  assert.ok(addrs.includes('10.200.1.5/24') && addrs.includes('fd00:1::5/64'), addrs.join(' '));
  const v4 = ipJson('-4', 'route').map((x) => `${x.dst} ${x.gateway ?? '-'} ${x.dev} ${x.scope ?? 'global'}`);
  assert.ok(v4.includes('default 10.200.1.1 eth0 global'), v4.join('; '));
  assert.ok(v4.includes('10.99.0.0/16 - eth0 link'), v4.join('; '));
  const v6 = ipJson('-6', 'route').map((x) => `${x.dst} ${x.gateway ?? '-'} ${x.dev}`);
  assert.ok(v6.includes('default fd00:1::1 eth0'), v6.join('; '));
  // the same request again (a retried ConfigureNetwork): the NIC is eth0 by now
  const again = batch(networkBatch(networkCommands(req, [{ name: 'eth0', mac: MAC }])));
  assert.equal(again.stderr, '');
  assert.equal(again.status, 0);
  assert.equal((ipJson('-4', 'addr', 'show', 'dev', 'eth0')[0]!.addr_info as unknown[]).length, 1, 'one IPv4 address still');
});

test('a failure stops the batch and says which command and why; a line it does not know is refused', () => {
  const r = batch('-4 route replace 10.98.0.0/16 via 10.50.0.1 dev eth0\nlink set dev eth0 mtu 1400\n');
  assert.equal(r.status, 1);
  assert.equal(r.stderr.trim(), 'ip -4 route replace 10.98.0.0/16 via 10.50.0.1 dev eth0: RTNETLINK answers: Network is unreachable');
  assert.equal(ipJson('link', 'show', 'dev', 'eth0')[0]!.mtu, 1450, 'nothing after the failed command');
  const gone = batch('link set dev eth9 up\n');
  assert.equal(gone.status, 1);
  assert.equal(gone.stderr.trim(), 'ip link set dev eth9 up: RTNETLINK answers: No such device');
  const odd = batch('route add 10.0.0.0/8 dev eth0\n');
  assert.equal(odd.status, 1);
  assert.equal(odd.stderr.trim(), 'ip route add 10.0.0.0/8 dev eth0: not a command tsula-boot ip-batch knows');
});
