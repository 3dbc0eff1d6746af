// The daemons' launchers (what users and install.sh run) carry the V8 flags the sandboxer
// launch and the test daemons use, and set NODE_EXTRA_CA_CERTS aside: one definition, checked here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DAEMON_V8_FLAGS, EXTRA_CA_CERTS_DEFERRED, daemonEnv, daemonShebang } from '../../src/common/v8-flags.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

for (const bin of ['tsulad', 'tsula-sandboxer'] as const) {
  test(`bin/${bin}'s shebang runs node with DAEMON_V8_FLAGS`, () => {
    const first = readFileSync(path.join(ROOT, 'bin', bin), 'utf8').split('\n')[0];
    assert.equal(first, daemonShebang(bin));
    assert.ok(first!.length < 256, 'Linux reads 256 bytes of a shebang');
  });
}

test('node accepts DAEMON_V8_FLAGS without a warning', () => {
  const r = spawnSync(process.execPath, [...DAEMON_V8_FLAGS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout).slice(0, DAEMON_V8_FLAGS.length), DAEMON_V8_FLAGS);
});

test("env(1) runs tsulad's shebang with NODE_EXTRA_CA_CERTS moved aside, a name with spaces intact", () => {
  const args = daemonShebang('tsulad').slice('#!/usr/bin/env '.length);
  const probe = `process.stdout.write(JSON.stringify([process.env.NODE_EXTRA_CA_CERTS ?? null, process.env.${EXTRA_CA_CERTS_DEFERRED} ?? null]))`;
  for (const [value, want] of [['/etc/my cas/ca.pem', [null, '/etc/my cas/ca.pem']], [undefined, [null, '']]] as const) {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: value };
    if (value === undefined) delete env.NODE_EXTRA_CA_CERTS;
    const r = spawnSync('/usr/bin/env', [args, '-e', probe], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), want);
  }
});

test('daemonEnv: as the shebangs do, the rest of the environment kept', () => {
  const env = { PATH: '/bin', NODE_EXTRA_CA_CERTS: '/x.pem' };
  assert.deepEqual(daemonEnv('tsula-sandboxer', env), { PATH: '/bin' });
  assert.deepEqual(daemonEnv('tsula-sandboxer', { PATH: '/bin', [EXTRA_CA_CERTS_DEFERRED]: '/x.pem' }), { PATH: '/bin' });
  assert.deepEqual(daemonEnv('tsulad', env), { PATH: '/bin', [EXTRA_CA_CERTS_DEFERRED]: '/x.pem' });
  assert.deepEqual(daemonEnv('tsulad', { PATH: '/bin' }), { PATH: '/bin', [EXTRA_CA_CERTS_DEFERRED]: '' });
});
