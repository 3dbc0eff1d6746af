// The daemons' launchers (what users and install.sh run) carry the V8 flags the sandboxer
// launch and the test daemons use, and set NODE_EXTRA_CA_CERTS aside: one definition, checked here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DAEMON_V8_FLAGS, EXTRA_CA_CERTS_DEFERRED, MALLOC_TUNABLES, daemonEnv, daemonShebang, dropMallocTunables } from '../../src/common/v8-flags.js';
import { collectWhenIdle } from '../../src/common/idle-gc.js';

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
  assert.deepEqual(daemonEnv('tsula-sandboxer', env), { PATH: '/bin', ...MALLOC_TUNABLES });
  assert.deepEqual(daemonEnv('tsula-sandboxer', { PATH: '/bin', [EXTRA_CA_CERTS_DEFERRED]: '/x.pem' }), { PATH: '/bin', ...MALLOC_TUNABLES });
  assert.deepEqual(daemonEnv('tsulad', env), { PATH: '/bin', ...MALLOC_TUNABLES, [EXTRA_CA_CERTS_DEFERRED]: '/x.pem' });
  assert.deepEqual(daemonEnv('tsulad', { PATH: '/bin' }), { PATH: '/bin', ...MALLOC_TUNABLES, [EXTRA_CA_CERTS_DEFERRED]: '' });
});

test('the shebangs set the malloc tunables for node, which the daemon keeps from its children', () => {
  for (const bin of ['tsulad', 'tsula-sandboxer'] as const) {
    const args = daemonShebang(bin).slice('#!/usr/bin/env '.length);
    const probe = 'process.stdout.write(JSON.stringify([typeof gc, process.env.MALLOC_TRIM_THRESHOLD_, process.env.MALLOC_MMAP_THRESHOLD_, process.env.MALLOC_ARENA_MAX]))';
    const r = spawnSync('/usr/bin/env', [args, '-e', probe], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), ['function', MALLOC_TUNABLES.MALLOC_TRIM_THRESHOLD_, MALLOC_TUNABLES.MALLOC_MMAP_THRESHOLD_, MALLOC_TUNABLES.MALLOC_ARENA_MAX], bin);
  }
  const env: NodeJS.ProcessEnv = { PATH: '/bin', ...MALLOC_TUNABLES };
  dropMallocTunables(env);
  assert.deepEqual(env, { PATH: '/bin' });
});

test('collectWhenIdle: its rounds of collections once a busy spell is followed by a quiet interval, apart, none while idle; work between rounds stops them', async () => {
  const at: number[] = [];
  const stop = collectWhenIdle({ intervalMs: 60, busyCpuMs: 15, quietCpuMs: 10, rounds: 3, roundGapMs: 40, gc: () => { at.push(Date.now()); } });
  const from = () => { const t = process.cpuUsage(); return () => { const d = process.cpuUsage(t); return (d.user + d.system) / 1000; }; };
  try {
    // idle: nothing to give back (unless this process itself was busy meanwhile: the test
    // runner's own work on a loaded machine counts as work too)
    let cpuMs = from();
    await new Promise((r) => setTimeout(r, 200));
    if (cpuMs() < 15) assert.equal(at.length, 0);
    await new Promise((r) => setTimeout(r, 250)); // any rounds the runner's work started are over
    at.length = 0;
    cpuMs = from();
    while (cpuMs() < 40) { /* busy: 40 ms of CPU, more than 15 in some interval */ }
    for (let i = 0; i < 40 && at.length < 3; i++) await new Promise((r) => setTimeout(r, 30));
    assert.equal(at.length, 3, 'the rounds');
    assert.ok(at[1]! - at[0]! >= 35 && at[2]! - at[1]! >= 35, `apart: ${at.join(' ')}`);
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(at.length, 3, 'not again while idle');

    // busy again; then work right after the first round: the rest wait for the next quiet spell
    cpuMs = from();
    while (cpuMs() < 40) { /* busy */ }
    for (let i = 0; i < 40 && at.length < 4; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(at.length, 4);
    cpuMs = from();
    while (cpuMs() < 25) { /* work between rounds */ }
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(at.length, 4, 'stopped by the work');
    for (let i = 0; i < 40 && at.length < 7; i++) await new Promise((r) => setTimeout(r, 30));
    assert.equal(at.length, 7, 'the next quiet interval runs all its rounds');
  } finally {
    stop();
  }
});
