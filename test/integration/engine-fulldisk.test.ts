// A full graph: tsulad on a 20 MB tmpfs that a container fills. The exit still reaches the
// attached client, wait and inspect at once and keeps its code across restarts; create
// answers a clear error and leaves nothing; tsulad restarts on the full disk; rm frees space.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { runtimeProblems } from '../helpers/runtime-state.js';

const execFileP = promisify(execFile);
let dir: string;
let graph: string;
let d: TestDaemon | undefined;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-fulldisk-'));
  graph = path.join(dir, 'graph');
  await fs.mkdir(graph);
  await execFileP('mount', ['-t', 'tmpfs', '-o', 'size=20m', 'tmpfs', graph]);
  d = await TestDaemon.create({ dir });
  await d.loadBusybox();
});

after(async () => {
  // destroy unmounts everything under dir (the tmpfs too); then make sure, also if it failed
  await d?.destroy().catch(() => {});
  await execFileP('umount', ['-l', graph]).catch(() => {});
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
});

async function freeBytes(): Promise<number> {
  const st = await fs.statfs(graph);
  return st.bavail * st.bsize;
}

async function status(ref: string): Promise<string> {
  return (await d!.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', ref])).trim();
}

const exitFile = (id: string) => path.join(d!.state, 'runtime', 'runc', 'exits', id);

test('a container that fills the graph: run returns its code, wait and inspect agree, restarts keep it', async () => {
  // started while there is space, exits once the disk is full
  await d!.ok(['run', '-d', '--name', 'later', 'busybox', 'sh', '-c', 'trap "exit 5" TERM; while :; do sleep 0.1; done']);
  await d!.ok(['run', '-d', '--name', 'keeper', 'busybox', 'sleep', '300']);

  // the record of the filler's start is written after the response, maybe while dd runs:
  // its rename frees the old record's pages, so a second dd takes what that left
  const fill = 'dd if=/dev/zero of=/big bs=1M count=100; sleep 1; dd if=/dev/zero of=/big2 bs=4k; exit 3';
  const run = await d!.cli(['run', '--name', 'filler', 'busybox', 'sh', '-c', fill], { timeoutMs: 120_000 });
  assert.equal(run.code, 3, `attached run: ${run.stderr}`);
  assert.ok(await freeBytes() < 1 << 20, 'the graph is full');
  assert.equal((await d!.ok(['wait', 'filler'])).trim(), '3');
  assert.equal(await status('filler'), 'exited 3');
  const fillerId = (await d!.ok(['inspect', '-f', '{{.Id}}', 'filler'])).trim();
  // the code lives in memory and in conmon's exit file until the record can be written
  assert.equal((await fs.readFile(exitFile(fillerId), 'utf8')).trim(), '3');
  const log = await d!.log();
  assert.match(log, /cannot write container record \S+container\.json: ENOSPC[^"]*free some space \(tsula rm, tsula rmi, tsula image prune\)/);
  assert.doesNotMatch(log, /exit handling failed/);

  // an exit on the full disk reaches wait at once too
  const waited = d!.cli(['wait', 'later'], { timeoutMs: 60_000 });
  await d!.ok(['kill', '-s', 'TERM', 'later']);
  assert.equal((await waited).stdout.trim(), '5');

  // kill -9 and restart on the full disk: tsulad starts, read-only commands work, codes stay
  await d!.stop('SIGKILL');
  await d!.start();
  assert.equal(await status('filler'), 'exited 3');
  assert.equal(await status('later'), 'exited 5');
  assert.equal(await status('keeper'), 'running 0');
  assert.match(await d!.ok(['ps', '-a']), /filler/);
  assert.match(await d!.ok(['images']), /busybox/);
  await d!.ok(['logs', 'keeper']);
  // and again: the first restart could not write either, the exit files still hold the codes
  await d!.stop('SIGKILL');
  await d!.start();
  assert.equal(await status('filler'), 'exited 3');
  assert.equal(await status('later'), 'exited 5');
  assert.doesNotMatch(await d!.log(), /container monitor died/);
  // conmon's exit file holds the code until the record is written (runc's state, which holds
  // none, may already be gone)
  assert.deepEqual(await runtimeProblems(d!, { pendingExits: true }), [], 'the runtime agrees with the records');
  assert.equal((await fs.readFile(exitFile(fillerId), 'utf8')).trim(), '3');
});

test('create on the full graph: a clear error naming the disk, HTTP 500, no record left', async () => {
  const dirs = await fs.readdir(path.join(graph, 'containers'));
  const r = await d!.cli(['create', '--name', 'nospace', 'busybox', 'true']);
  assert.equal(r.code, 1); // docker's create returns the daemon's error as it is: exit 1
  assert.match(r.stderr, new RegExp(`no space left on device on ${graph} while creating container nospace: free some space \\(tsula rm, tsula rmi, tsula image prune\\)`));
  const api = await d!.api('POST', '/v1.41/containers/create?name=nospace2', JSON.stringify({ Image: 'busybox', Cmd: ['true'] }));
  assert.equal(api.status, 500);
  assert.match(JSON.parse(api.body).message, /no space left on device on .* while creating container nospace2/);
  assert.deepEqual(await fs.readdir(path.join(graph, 'containers')), dirs, 'nothing of the failed creates is left');
  assert.notEqual((await d!.cli(['inspect', 'nospace'])).code, 0);
  assert.doesNotMatch(await d!.ok(['ps', '-a']), /nospace/);
});

test('a restart after the overlay probe note is lost still starts on the full graph', async () => {
  await fs.rm(path.join(graph, 'overlay', '.overlay-probed'), { force: true });
  await d!.stop('SIGTERM');
  await d!.start();
  assert.match(await d!.log(), /no space left on the filesystem of \S+ to probe overlay/);
  assert.doesNotMatch(await d!.log(), /overlay not supported/);
  assert.equal(await status('filler'), 'exited 3');
});

test('rm -f frees the disk: pending records are written, exit files released, create works', async () => {
  const laterId = (await d!.ok(['inspect', '-f', '{{.Id}}', 'later'])).trim();
  await d!.ok(['rm', '-f', 'filler', 'keeper']); // a running one too: rm needs no space
  assert.ok(await freeBytes() > 10 << 20, 'the writable layer is gone');
  // the retry after rm writes "later"'s record, then its exit file goes
  await waitFor(async () => !(await fs.stat(exitFile(laterId)).catch(() => null)), 15_000, 'the exit file released');
  const rec = JSON.parse(await fs.readFile(path.join(graph, 'containers', laterId, 'container.json'), 'utf8')) as { state: { status: string; exitCode: number } };
  assert.deepEqual([rec.state.status, rec.state.exitCode], ['exited', 5]);
  assert.match(await d!.log(), /container records written: the disk has space again/);
  const r = await d!.cli(['run', '--rm', 'busybox', 'sh', '-c', 'exit 9']);
  assert.equal(r.code, 9);
  // start works on a container whose exit was recorded on a full disk
  await d!.ok(['start', 'later']);
  const waited = d!.cli(['wait', 'later'], { timeoutMs: 60_000 });
  await d!.ok(['kill', '-s', 'TERM', 'later']);
  assert.equal((await waited).stdout.trim(), '5');
  await d!.ok(['rm', 'later']);
  assert.deepEqual(await runtimeProblems(d!), []);
  assert.deepEqual((await fs.readdir(path.join(graph, 'containers'))).filter((n) => !n.startsWith('.')), []);
});
