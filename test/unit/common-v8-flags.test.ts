// The daemons' launchers (what users and install.sh run) carry the V8 flags the sandboxer
// launch and the test daemons use: one list, checked here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DAEMON_V8_FLAGS } from '../../src/common/v8-flags.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

for (const bin of ['tsulad', 'tsula-sandboxer']) {
  test(`bin/${bin}'s shebang runs node with DAEMON_V8_FLAGS`, () => {
    const first = readFileSync(path.join(ROOT, 'bin', bin), 'utf8').split('\n')[0];
    assert.equal(first, `#!/usr/bin/env -S node ${DAEMON_V8_FLAGS.join(' ')}`);
  });
}

test('node accepts DAEMON_V8_FLAGS without a warning', () => {
  const r = spawnSync(process.execPath, [...DAEMON_V8_FLAGS, '-e', 'process.stdout.write(JSON.stringify(process.execArgv))'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.deepEqual(JSON.parse(r.stdout).slice(0, DAEMON_V8_FLAGS.length), DAEMON_V8_FLAGS);
});
