// Stock containerd 1.6 driving tsula through containerd-shim-tsula-v2: every container of
// every `ctr run` is served by one tsula-sandboxer process (conmon + runc underneath).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { TestContainerd, nodeProcessesUnder, processesNamed } from '../helpers/containerd.js';
import { waitFor, IMAGES, ROOT } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const RT = ['--runtime', 'io.containerd.tsula.v2'];
const IMAGE = 'docker.io/library/busybox:latest';
requirePrerequisites('sandboxer-containerd', { root: true, files: { '/usr/bin/containerd': 'containerd', '/usr/bin/ctr': 'containerd', '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let c: TestContainerd;

before(async () => {
  c = await TestContainerd.start();
  await c.importBusybox();
});

after(async () => {
  if (c) await c.destroy();
  // runc makes a containerd namespace's parent cgroup (/<namespace>/<id>) and nobody removes it
  // (containerd with runc-v2 neither): the namespace this file made goes with it
  for (const ctrl of await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    await fs.rmdir(path.join('/sys/fs/cgroup', ctrl, 'nsb')).catch(() => {});
  }
});

async function taskList(): Promise<Map<string, string>> {
  const out = await c.ok(['task', 'ls']);
  return new Map(out.split('\n').slice(1).filter(Boolean).map((l) => { const f = l.trim().split(/\s+/); return [f[0], f[2]]; }));
}

test('ctr run --rm: output, stderr and the exit code come through', async () => {
  const r = await c.ctr(['run', '--rm', ...RT, IMAGE, 'rm1', 'sh', '-c', 'echo hello; echo oops >&2; exit 3']);
  assert.equal(r.code, 3, `ctr: ${r.stderr}\n${await c.sandboxerLog()}`);
  assert.equal(r.stdout, 'hello\n');
  assert.match(r.stderr, /oops/);
});

test('a command that does not exist: ctr says what runc said, also in another task\'s PID namespace (where runc warns first)', async () => {
  const r = await c.ctr(['run', '--rm', ...RT, IMAGE, 'nx1', '/nonexistent']);
  assert.equal(r.code, 1);
  const words = /failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "\/nonexistent": stat \/nonexistent: no such file or directory/;
  assert.match(r.stderr, words);
  await c.ok(['run', '-d', ...RT, IMAGE, 'nx-host', 'sleep', '1000']);
  try {
    const pid = (await c.ok(['task', 'ls'])).split('\n').find((l) => l.startsWith('nx-host '))!.trim().split(/\s+/)[1];
    const joined = await c.ctr(['run', '--rm', ...RT, '--with-ns', `pid:/proc/${pid}/ns/pid`, IMAGE, 'nx2', '/nonexistent']);
    assert.match(joined.stderr, words);
  } finally {
    await c.ok(['task', 'kill', '-s', 'SIGKILL', 'nx-host']);
    await waitFor(async () => (await taskList()).get('nx-host') === 'STOPPED', 10_000, 'nx-host to stop');
    await c.ok(['task', 'delete', 'nx-host']);
    await c.ok(['containers', 'delete', 'nx-host']);
  }
  // run --rm removed the containers; the sandboxer keeps nothing of the failed tasks
  for (const id of ['nx1', 'nx2']) assert.notEqual((await c.ctr(['containers', 'info', id])).code, 0);
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
});

test('ctr run --rm leaves nothing behind: no task, no conmon, no mounts, no records', async () => {
  const r = await c.ctr(['run', '--rm', ...RT, IMAGE, 'rm2', 'true']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await taskList()).has('rm2'), false);
  assert.equal((await c.ctr(['containers', 'info', 'rm2'])).code !== 0, true);
  await waitFor(async () => (await processesNamed('conmon', c.dir)).length === 0, 10_000, 'conmons to exit');
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(path.join(c.dir, 'state')));
  assert.deepEqual(mounts, []);
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
});

test('run -d, task ls, exec with output and exit code, pause/resume, kill, delete', async () => {
  await c.ok(['run', '-d', ...RT, IMAGE, 'd1', 'sleep', '1000']);
  assert.equal((await taskList()).get('d1'), 'RUNNING');
  const ex = await c.ctr(['task', 'exec', '--exec-id', 'x1', 'd1', 'sh', '-c', 'echo from-exec; exit 5']);
  assert.equal(ex.code, 5, ex.stderr);
  assert.equal(ex.stdout, 'from-exec\n');
  // ctr decodes the Task Stats' cgroups Metrics (v1 or v2, as the host runs)
  const metrics = await c.ok(['task', 'metrics', 'd1']);
  assert.match(metrics, /^(memory\.usage_in_bytes|memory\.usage)\s+[1-9]\d*\s*$/m, metrics);
  assert.match(metrics, /^pids\.current\s+1\s*$/m, metrics);
  // all the counters containerd-shim-runc-v2 fills: v1's per-CPU time, v2's user time
  assert.match(metrics, /^(cpuacct\.usage_percpu\s+\[\d+( \d+)*\]|cpu\.user_usec\s+\d+)\s*$/m, metrics);
  await c.ok(['task', 'pause', 'd1']);
  assert.equal((await taskList()).get('d1'), 'PAUSED');
  await c.ok(['task', 'resume', 'd1']);
  assert.equal((await taskList()).get('d1'), 'RUNNING');
  // sleep is pid 1 of its pid namespace: SIGTERM has no handler there, SIGKILL does it
  await c.ok(['task', 'kill', '-s', 'SIGKILL', 'd1']);
  await waitFor(async () => (await taskList()).get('d1') === 'STOPPED', 10_000, 'd1 to stop');
  // a stopped task: kill --all is no error (runc-v2's stoppedState.Kill), a plain kill is NotFound
  await c.ok(['task', 'kill', '-a', '-s', 'SIGKILL', 'd1']);
  assert.match((await c.ctr(['task', 'kill', '-s', 'SIGKILL', 'd1'])).stderr, /process already finished: not found/);
  await c.ok(['task', 'delete', 'd1']);
  await c.ok(['containers', 'delete', 'd1']);
  assert.equal((await taskList()).has('d1'), false);
});

test('twenty running containers are served by one sandboxer and no other Node.js process', { timeout: 180_000 }, async () => {
  const ids = Array.from({ length: 20 }, (_, i) => `m${i}`);
  for (const id of ids) await c.ok(['run', '-d', ...RT, IMAGE, id, 'sleep', '1000']);
  const tasks = await taskList();
  for (const id of ids) assert.equal(tasks.get(id), 'RUNNING');
  const pid = await c.sandboxerPid();
  assert.ok(pid > 0);
  assert.deepEqual(await nodeProcessesUnder(c.dir), [pid]);
  // containerd's shim.AdjustOOMScore: one point more killable than containerd (TestShimOOMScore)
  const score = async (p: number) => Number((await fs.readFile(`/proc/${p}/oom_score_adj`, 'utf8')).trim());
  assert.equal(await score(pid), Math.min(await score(c.proc!.pid!) + 1, 1000));
  assert.equal((await processesNamed('conmon', c.dir)).length, ids.length);
  await Promise.all(ids.map(async (id) => {
    await c.ok(['task', 'kill', '-s', 'SIGKILL', id]);
    await waitFor(async () => (await taskList()).get(id) === 'STOPPED', 20_000, `${id} to stop`);
    await c.ok(['task', 'delete', id]);
    await c.ok(['containers', 'delete', id]);
  }));
  assert.equal(await c.sandboxerPid(), pid);
  await waitFor(async () => (await processesNamed('conmon', c.dir)).length === 0, 10_000, 'conmons to exit');
});

test('one id in two containerd namespaces: two tasks, each namespace\'s calls reach its own (one task socket per namespace), also after containerd restarts; a shim delete naming another namespace touches nothing', async () => {
  await c.ok(['-n', 'nsb', 'images', 'import', path.join(IMAGES, 'busybox.tar')]);
  await c.ok(['run', '-d', ...RT, IMAGE, 'same', 'sleep', '1001']);
  // the second through the sh launcher: the namespace's first task takes the Node path, its socket then the sh one
  await c.ok(['-n', 'nsb', 'run', '-d', '--runtime', 'io.containerd.tsulafast.v2', IMAGE, 'same', 'sleep', '1002']);
  const pidIn = async (ns: string) => Number((await c.ok(['-n', ns, 'task', 'ls'])).split('\n').find((l) => l.startsWith('same '))?.trim().split(/\s+/)[1] ?? 0);
  const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  const [a, b] = [await pidIn('tsula'), await pidIn('nsb')];
  assert.equal(cmdline(a), 'sleep 1001');
  assert.equal(cmdline(b), 'sleep 1002');
  const bundle = (ns: string) => path.join(c.dir, 'state', 'io.containerd.runtime.v2.task', ns, 'same');
  assert.equal(readFileSync(path.join(bundle('nsb'), 'address'), 'utf8'), `unix://${path.join(c.sbState, 'ns', 'nsb.sock')}`);
  // runc knows the first under containerd's own id (what OCI hooks are told, as under runc-v2),
  // the second, whose id the first holds in runc's one root, under its key
  const runcIds = () => (JSON.parse(spawnSync('runc', ['--root', path.join(c.sbState, 'runc', 'root'), 'list', '--format', 'json']).stdout.toString() || '[]') as Array<{ id: string }>).map((x) => x.id);
  const ids = runcIds();
  assert.ok(ids.includes('same'), JSON.stringify(ids));
  assert.equal(ids.filter((x) => /^[0-9a-f]{64}$/.test(x)).length, 1, JSON.stringify(ids));
  const ex = await c.ctr(['-n', 'nsb', 'task', 'exec', '--exec-id', 'x', 'same', 'sh', '-c', 'cat /proc/1/cmdline']);
  assert.equal(ex.stdout.replaceAll('\0', ' ').trim(), 'sleep 1002', ex.stderr);
  await c.restart();
  assert.deepEqual([await pidIn('tsula'), await pidIn('nsb')], [a, b], 'containerd finds both again, each on its socket');
  // containerd's cleanup runs the shim in the task's bundle; a wrong -namespace must not reach the task
  const del = spawnSync(path.join(ROOT, 'bin', 'containerd-shim-tsula-v2'), ['-namespace', 'other', '-id', 'same', 'delete'], { cwd: bundle('tsula'), env: c.env });
  assert.equal(del.status, 0, String(del.stderr));
  assert.equal(cmdline(a), 'sleep 1001', 'the task lives on');
  await c.ok(['-n', 'nsb', 'task', 'kill', '-s', 'SIGKILL', 'same']);
  await waitFor(async () => /same\s+\d+\s+STOPPED/.test(await c.ok(['-n', 'nsb', 'task', 'ls'])), 10_000, 'nsb\'s same to stop');
  assert.equal(cmdline(a), 'sleep 1001', 'a kill in one namespace leaves the other\'s task');
  assert.equal((await taskList()).get('same'), 'RUNNING');
  for (const ns of ['nsb', 'tsula']) {
    if (ns === 'tsula') {
      await c.ok(['task', 'kill', '-s', 'SIGKILL', 'same']);
      await waitFor(async () => (await taskList()).get('same') === 'STOPPED', 10_000, 'same to stop');
    }
    await c.ok(['-n', ns, 'task', 'delete', 'same']);
    await c.ok(['-n', ns, 'containers', 'delete', 'same']);
  }
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
});

test('the sh fast path of the launcher (containerd-shim-tsula-v2-fast) reaches the same sandboxer', async () => {
  const fast = ['--runtime', 'io.containerd.tsulafast.v2'];
  await c.ok(['run', '--rm', ...RT, IMAGE, 'warm', 'true']); // the sandboxer runs
  const pid = await c.sandboxerPid();
  const r = await c.ctr(['run', '--rm', ...fast, IMAGE, 'f1', 'sh', '-c', 'echo fast; exit 2']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, 'fast\n');
  await c.ok(['run', '-d', ...fast, IMAGE, 'f2', 'sleep', '1000']);
  const ex = await c.ctr(['task', 'exec', '--exec-id', 'x', 'f2', 'echo', 'in-f2']);
  assert.equal(ex.stdout, 'in-f2\n', ex.stderr);
  await c.ok(['task', 'kill', '-s', 'SIGKILL', 'f2']);
  await waitFor(async () => (await taskList()).get('f2') === 'STOPPED', 10_000, 'f2 to stop');
  await c.ok(['task', 'delete', 'f2']);
  await c.ok(['containers', 'delete', 'f2']);
  assert.equal(await c.sandboxerPid(), pid);
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
});

test('stdin: what ctr reads reaches the process, and its EOF too (ctr exec sends CloseIO; as runc-v2, a writer that closes the FIFO is no EOF)', async () => {
  await c.ok(['run', '-d', ...RT, IMAGE, 'in1', 'sleep', '300']);
  try {
    const r = await c.ctr(['task', 'exec', '--exec-id', 'in1x', 'in1', 'sh', '-c', 'cat; echo done'], { input: 'line1\nline2\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'line1\nline2\ndone\n');
  } finally {
    await c.ctr(['task', 'delete', '--force', 'in1']);
    await c.ctr(['containers', 'delete', 'in1']);
  }
});

test('task events reach containerd in order: create, start, paused, resumed, exec-added, exec-started, exit, delete', async () => {
  const ev = await c.events();
  try {
    await c.ok(['run', '-d', ...RT, IMAGE, 'ev1', 'sleep', '1000']);
    await c.ok(['task', 'pause', 'ev1']);
    await c.ok(['task', 'resume', 'ev1']);
    await c.ok(['task', 'exec', '--exec-id', 'x9', 'ev1', 'true']);
    await c.ok(['task', 'kill', '-s', 'SIGKILL', 'ev1']);
    await waitFor(async () => (await taskList()).get('ev1') === 'STOPPED', 10_000, 'ev1 to stop');
    await c.ok(['task', 'delete', 'ev1']);
    await c.ok(['containers', 'delete', 'ev1']);
    await waitFor(async () => ev.text().includes('/containers/delete'), 10_000, 'the events');
  } finally {
    await ev.close();
  }
  const text = ev.text();
  const topics = text.split('\n').map((l) => /\s(\/tasks\/[a-z-]+)\s/.exec(l)?.[1]).filter(Boolean);
  assert.deepEqual(topics, ['/tasks/create', '/tasks/start', '/tasks/paused', '/tasks/resumed', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exit', '/tasks/exit', '/tasks/delete']);
  assert.match(text, /\/tasks\/exit \{"container_id":"ev1","id":"ev1","pid":\d+,"exit_status":137/);
});

test('containerd restarts: it finds its task on the sandboxer again, and the exit code', async () => {
  await c.ok(['run', '-d', ...RT, IMAGE, 'cr1', 'sh', '-c', 'sleep 3; exit 9']);
  await c.restart();
  assert.equal((await taskList()).get('cr1'), 'RUNNING');
  await waitFor(async () => (await taskList()).get('cr1') === 'STOPPED', 15_000, 'cr1 to exit');
  const r = await c.ctr(['task', 'delete', 'cr1']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /exit code 9/);
  await c.ok(['containers', 'delete', 'cr1']);
});

test('a task that exits while containerd is down: its TaskExit arrives once containerd is back (the sandboxer tries for ~15 s, as runc-v2\'s publisher)', { timeout: 60_000 }, async () => {
  await c.ok(['run', '-d', ...RT, IMAGE, 'cd1', 'sh', '-c', 'sleep 1; exit 4']);
  await c.restart(3000);
  const ev = await c.events();
  try {
    await waitFor(async () => /\/tasks\/exit \{"container_id":"cd1","id":"cd1","pid":\d+,"exit_status":4/.test(ev.text()), 20_000, 'cd1\'s exit event');
  } finally {
    await ev.close();
  }
  await c.ok(['task', 'delete', 'cd1']);
  await c.ok(['containers', 'delete', 'cd1']);
});

test('the sandboxer killed under containerd: containerd cleans the task up as after a dead shim (its exit names the pid); the next run starts a new sandboxer', async () => {
  // through the sh launcher: its `delete` must hand this one (a record remains) to Node
  await c.ok(['run', '-d', '--runtime', 'io.containerd.tsulafast.v2', IMAGE, 'k1', 'sleep', '1000']);
  const pid = await c.sandboxerPid();
  const ev = await c.events();
  process.kill(pid, 'SIGKILL');
  // `task ls` drops k1 as soon as State fails; the cleanup (our `delete` action) follows
  await waitFor(async () => (await fs.readdir(path.join(c.sbState, 'tasks'))).length === 0, 15_000, 'containerd to clean k1 up');
  // containerd publishes the exit from our `delete`'s answer: the task's pid, as runc-v2's Cleanup reads init.pid
  await waitFor(async () => /\/tasks\/exit \{"container_id":"k1","id":"k1","pid":[1-9]\d*,"exit_status":137/.test(ev.text()), 10_000, 'k1\'s exit event with its pid')
    .finally(() => ev.close());
  await waitFor(async () => (await processesNamed('conmon', c.dir)).length === 0, 10_000, 'conmons to go');
  assert.equal((await taskList()).has('k1'), false);
  const r = await c.ctr(['run', '--rm', ...RT, IMAGE, 'k2', 'echo', 'again']);
  assert.equal(r.stdout, 'again\n', r.stderr);
  assert.notEqual(await c.sandboxerPid(), pid);
  await c.ok(['containers', 'delete', 'k1']);
});
