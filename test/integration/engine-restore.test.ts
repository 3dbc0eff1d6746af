// Live restore: tsulad killed with -9 leaves containers running; the next one adopts them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, waitFor, sleep } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

test('kill -9 of tsulad: containers keep running and are re-adopted', async () => {
  const long = (await d.ok(['run', '-d', '--name', 'long', 'busybox', 'sh', '-c', 'echo before; exec sleep 300'])).trim();
  const short = (await d.ok(['run', '-d', '--name', 'short', 'busybox', 'sh', '-c', 'sleep 2; exit 42'])).trim();
  const pid = (await d.ok(['inspect', '-f', '{{.State.Pid}}', long])).trim();

  await d.stop('SIGKILL');
  await sleep(3000); // "short" exits while no tsulad runs
  process.kill(Number(pid), 0); // still alive

  await d.start();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', short])).trim(), 'exited 42');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', long])).trim(), `running ${pid}`);
  assert.match(await d.ok(['ps']), /long/);
  assert.equal(await d.ok(['logs', long]), 'before\n');
  const ex = await d.cli(['exec', long, 'sh', '-c', 'echo adopted; exit 5']);
  assert.equal(ex.stdout, 'adopted\n');
  assert.equal(ex.code, 5);

  const follow = d.cli(['logs', '-f', long], { timeoutMs: 30_000 });
  const waited = d.cli(['wait', long], { timeoutMs: 30_000 });
  await sleep(300);
  await d.ok(['stop', '-t', '1', long]);
  assert.equal((await waited).stdout.trim(), '137');
  assert.equal((await follow).stdout, 'before\n');
  await d.ok(['rm', long, short]);
});

test('a graceful restart (SIGTERM) keeps containers too', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  await d.stop('SIGTERM');
  await d.start();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true');
  await d.ok(['rm', '-f', id]);
  await waitFor(async () => (await d.cli(['inspect', id])).code !== 0, 10_000, 'removal');
});
