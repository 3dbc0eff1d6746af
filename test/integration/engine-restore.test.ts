// Live restore: tsulad killed with -9 leaves containers running; the next one adopts them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

test('kill -9 of tsulad: containers keep running and are re-adopted; one that exits meanwhile is reported', async () => {
  // "short" exits when told to, through a file in a bind mount: after tsulad is gone
  const sig = path.join(d.dir, 'sig');
  await fs.mkdir(sig);
  const long = (await d.ok(['run', '-d', '--name', 'long', 'busybox', 'sh', '-c', 'echo before; exec sleep 300'])).trim();
  const short = (await d.ok(['run', '-d', '--name', 'short', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c', 'while [ ! -e /sig/go ]; do sleep 0.05; done; exit 42'])).trim();
  const pid = Number((await d.ok(['inspect', '-f', '{{.State.Pid}}', long])).trim());
  const shortPid = Number((await d.ok(['inspect', '-f', '{{.State.Pid}}', short])).trim());
  assert.ok(alive(pid) && alive(shortPid));

  const daemonPid = d.proc!.pid!;
  await d.stop('SIGKILL');
  assert.equal(alive(daemonPid), false, 'tsulad is gone');
  await fs.writeFile(path.join(sig, 'go'), '');
  const told = (await fs.stat(path.join(sig, 'go'))).mtimeMs;
  await waitFor(async () => !alive(shortPid), 10_000, '"short" to exit while no tsulad runs');
  assert.ok(alive(pid), '"long" outlives tsulad');
  const restarted = Date.now();

  await d.start();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', short])).trim(), 'exited 42');
  // its exit time is the one conmon recorded while no daemon ran, not the adoption's
  const finished = Date.parse((await d.ok(['inspect', '-f', '{{.State.FinishedAt}}', short])).trim());
  assert.ok(finished >= Math.floor(told) && finished <= restarted, `FinishedAt ${new Date(finished).toISOString()} between the go (${new Date(told).toISOString()}) and the restart (${new Date(restarted).toISOString()})`);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Pid}}', long])).trim(), `running ${pid}`);
  assert.match(await d.ok(['ps']), /long/);
  assert.equal(await d.ok(['logs', long]), 'before\n');
  const ex = await d.cli(['exec', long, 'sh', '-c', 'echo adopted; exit 5']);
  assert.equal(ex.stdout, 'adopted\n');
  assert.equal(ex.code, 5);

  // a follower and a waiter attached to the adopted container see its end
  const follow = d.spawnCli(['logs', '-f', long]);
  await waitFor(async () => follow.stdout() === 'before\n', 10_000, 'logs -f to print what is there');
  const waited = d.apiStream('POST', `/containers/${long}/wait`);
  assert.equal(await waited.head, 200, 'the wait is registered');
  assert.equal(follow.proc.exitCode, null, 'logs -f follows');
  await d.ok(['stop', '-t', '1', long]);
  assert.equal(JSON.parse(await waited.body).StatusCode, 137);
  const f = await follow.done;
  assert.equal(f.code, 0, f.stderr);
  assert.equal(f.stdout, 'before\n');
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

test('a --restart always container that exits while tsulad is down: started again at once with RestartCount 0 (dockerd\'s restore)', async () => {
  // its first run exits, the second (a policy restart) exits while tsulad is down, the third stays
  const id = (await d.ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c',
    '[ -e /b ] && exec sleep 300; [ -e /a ] && { touch /b; sleep 1; exit 3; }; touch /a; exit 3'])).trim();
  await waitFor(async () => Number((await d.ok(['inspect', '-f', '{{.RestartCount}}', id])).trim()) >= 1, 20_000, 'a first policy restart');
  await d.stop('SIGTERM');
  await new Promise((r) => setTimeout(r, 2500)); // it exits meanwhile
  await d.start();
  await waitFor(async () => (await d.ok(['inspect', '-f', '{{.State.Status}}', id])).trim() === 'running', 10_000, 'the start at restore');
  assert.equal((await d.ok(['inspect', '-f', '{{.RestartCount}}', id])).trim(), '0');
  await d.ok(['rm', '-f', id]);
});

test('--rm containers that do not run when tsulad starts are removed (dockerd\'s restore): a created one, one exited while it was down', async () => {
  const created = (await d.ok(['create', '--rm', 'busybox', 'true'])).trim();
  const quick = (await d.ok(['run', '-d', '--rm', 'busybox', 'sh', '-c', 'sleep 1'])).trim();
  const kept = (await d.ok(['create', 'busybox', 'true'])).trim();
  await d.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 2000)); // the second exits meanwhile
  await d.start();
  const all = (await d.ok(['ps', '-aq', '--no-trunc'])).split('\n');
  assert.ok(!all.includes(created) && !all.includes(quick), all.join(' '));
  assert.ok(all.includes(kept));
  await d.ok(['rm', kept]);
});

test('a container whose record was deleted by hand while tsulad was down leaves nothing at the next start: its snapshot and its runtime files (iSulad\'s cleanup_leftover.sh)', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'ls'])).trim();
  await d.ok(['wait', id]);
  await d.stop('SIGTERM');
  await fs.rm(path.join(d.graph, 'containers', id), { recursive: true, force: true });
  assert.ok(await fs.stat(path.join(d.state, 'containers', id)).then(() => true, () => false), 'its runtime files were there');
  await d.start();
  assert.equal(await fs.stat(path.join(d.state, 'containers', id)).then(() => true, () => false), false, 'its runtime files are gone');
  assert.ok(!(await d.ok(['ps', '-aq', '--no-trunc'])).includes(id));
});
