// The stock docker CLI (20.10, API 1.41) against a private tsulad: the lifecycle a docker user
// types first works as it does against dockerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-basic', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => { await d?.destroy(); });

test('docker version talks API 1.41 to tsulad', async () => {
  const r = await docker(d, ['version', '--format', '{{.Server.APIVersion}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1.41');
});

test('docker run --rm: output and exit code; ps -a forgets it', async () => {
  const r = await docker(d, ['run', '--rm', '--name', 'b1', 'busybox', 'sh', '-c', 'echo hi; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'hi\n');
  const ps = await docker(d, ['ps', '-a', '--format', '{{.Names}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.ok(!ps.stdout.split('\n').includes('b1'), ps.stdout);
});
