// tsulad driving Debian's containerd-shim-runc-v2 (iSulad's lib-shim-v2 role), through the CLI.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, waitFor } from '../helpers/daemon.js';

let d: TestDaemon;
const RT = ['--runtime', 'io.containerd.runc.v2'];

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

test('run --runtime io.containerd.runc.v2: output, exit code, --rm', async () => {
  const r = await d.cli(['run', '--rm', ...RT, 'busybox', 'sh', '-c', 'echo via-shim; exit 9']);
  assert.equal(r.stdout, 'via-shim\n');
  assert.equal(r.code, 9);
});

test('shim v2 container: exec, logs, inspect, stop, and it survives a tsulad kill -9', async () => {
  const id = (await d.ok(['run', '-d', ...RT, 'busybox', 'sh', '-c', 'echo started; exec sleep 300'])).trim();
  assert.equal((await d.ok(['inspect', '-f', '{{.HostConfig.Runtime}}', id])).trim(), 'io.containerd.runc.v2');
  const ex = await d.cli(['exec', id, 'sh', '-c', 'echo in-exec; exit 4']);
  assert.equal(ex.stdout, 'in-exec\n');
  assert.equal(ex.code, 4);
  await waitFor(async () => (await d.ok(['logs', id])).includes('started'), 10_000, 'log line');
  await d.stop('SIGKILL');
  await d.start();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true');
  const waited = d.cli(['wait', id]);
  await d.ok(['kill', id]);
  assert.equal((await waited).stdout.trim(), '137');
  await d.ok(['rm', id]);
});
