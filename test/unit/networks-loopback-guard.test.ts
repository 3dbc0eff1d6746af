import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loopbackRules } from '../../src/engine/networks/loopback-guard.js';

test('loopback guard: one raw DROP per IPv4 loopback binding (any 127/8 address, its protocol), none for other addresses or ::1', () => {
  const id = 'c'.repeat(64);
  const rules = loopbackRules(id, {
    '80/tcp': [{ hostIp: '127.0.0.1', hostPort: '8080' }, { hostIp: '0.0.0.0', hostPort: '8081' }, { hostIp: '::1', hostPort: '8082' }],
    '53/udp': [{ hostIp: '127.0.0.53', hostPort: '5353' }],
    '90/sctp': [{ hostIp: '10.0.0.1', hostPort: '9090' }],
  });
  assert.deepEqual(rules, [
    ['PREROUTING', '-p', 'tcp', '-d', '127.0.0.1', '--dport', '8080', '!', '-i', 'lo', '-m', 'comment', '--comment', `tsula-loopback ${id}`, '-j', 'DROP'],
    ['PREROUTING', '-p', 'udp', '-d', '127.0.0.53', '--dport', '5353', '!', '-i', 'lo', '-m', 'comment', '--comment', `tsula-loopback ${id}`, '-j', 'DROP'],
  ]);
  assert.deepEqual(loopbackRules(id, {}), []);
});
