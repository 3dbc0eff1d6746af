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

test('an OOM kill under the shim: exit 137, OOMKilled, an `oom` event per TaskOOM before the `die` (dockerd\'s)', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const r = await d.cli(['run', '--name', 'shim-oom', ...RT, '-m', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived']);
  assert.equal(r.code, 137, r.stderr);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.ExitCode}} {{.State.OOMKilled}}', 'shim-oom'])).trim(), '137 true');
  // runc-v2 publishes its TaskOOM on its own time: the event may follow the exit by a little
  await new Promise((res) => setTimeout(res, 500));
  const evs = await d.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '-f', 'container=shim-oom', '--format', '{{.Action}}']);
  // one `oom` per TaskOOM, as dockerd logs them (runc-v2 sends one per kill in the cgroup:
  // the pipeline's processes may each be killed), all before the `die`
  const seq = evs.split('\n').filter((a) => a === 'oom' || a.startsWith('die'));
  assert.ok(seq.length >= 2 && seq.at(-1) === 'die' && seq.slice(0, -1).every((a) => a === 'oom'), evs);
  await d.ok(['rm', 'shim-oom']);
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
