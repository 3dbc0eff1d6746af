// Crash recovery: tsulad killed (SIGKILL) at named steps of create, start, exit handling and
// rm (TSULA_FAULT), and in the middle of parallel `run -d` loops. After a restart every
// container must be running and monitored, or created/exited with nothing left of it in the
// runtime (runc state, runc init, conmon) so that start works, or exited with its real code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, watch } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon } from '../helpers/daemon.js';
import { createTestNet, dockerNetConfig, freePort } from '../helpers/network.js';
import { daemonDied, recoverFromFault, restartWithFault, inspectAll, runcRoot, runtimeProblems } from '../helpers/runtime-state.js';

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

const restart = (point?: string) => restartWithFault(d, point);
const recoverFrom = (point: string) => recoverFromFault(d, point);


async function state(ref: string): Promise<string> {
  return (await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', ref])).trim();
}

async function assertClean(what: string): Promise<void> {
  assert.deepEqual(await runtimeProblems(d), [], what);
}

async function containerDirs(): Promise<string[]> {
  return (await fs.readdir(path.join(d.graph, 'containers'))).sort();
}

for (const point of ['start:after-conmon', 'start:after-create']) {
  test(`killed at ${point}: the container is cleanly created and starts`, async () => {
    const name = point.replace(/[^a-z]/g, '-');
    await restart(point);
    await d.cli(['run', '-d', '--name', name, 'busybox', 'sleep', '300']); // dies with tsulad
    await recoverFrom(point);
    assert.equal(await state(name), 'created 0');
    await assertClean(`after ${point}`);
    await d.ok(['start', name]);
    assert.equal(await state(name), 'running 0');
    await assertClean(`started after ${point}`);
    await d.ok(['rm', '-f', name]);
    await assertClean(`removed after ${point}`);
  });
}

test('killed at start:after-start: the running container is adopted and monitored', async () => {
  await restart('start:after-start');
  await d.cli(['run', '-d', '--name', 'adopted', 'busybox', 'sleep', '300']);
  await recoverFrom('start:after-start');
  assert.equal(await state('adopted'), 'running 0');
  await assertClean('adopted');
  const ex = await d.cli(['exec', 'adopted', 'sh', '-c', 'exit 4']);
  assert.equal(ex.code, 4);
  const waited = d.cli(['wait', 'adopted'], { timeoutMs: 60_000 });
  await d.ok(['stop', '-t', '1', 'adopted']);
  assert.equal((await waited).stdout.trim(), '137');
  assert.equal(await state('adopted'), 'exited 137');
  await assertClean('adopted, stopped');
  await d.ok(['rm', 'adopted']);
});

for (const point of ['exit:before-save', 'exit:after-save']) {
  test(`killed at ${point}: the exit code conmon recorded is kept, and start works again`, async () => {
    const name = point.replace(/[^a-z]/g, '-');
    await d.ok(['create', '--name', name, 'busybox', 'sh', '-c', 'exit 7']);
    await restart(point);
    await d.cli(['start', name]); // the exit kills tsulad, maybe before start answers
    await recoverFrom(point);
    assert.equal(await state(name), 'exited 7');
    await assertClean(`after ${point}`);
    // a second restart must not change the code (the exit file is gone once the record holds it)
    await restart();
    assert.equal(await state(name), 'exited 7');
    const r = await d.cli(['start', '-a', name], { timeoutMs: 60_000 });
    assert.equal(r.code, 7, r.stderr);
    assert.equal((await d.ok(['wait', name])).trim(), '7');
    await assertClean(`restarted after ${point}`);
    await d.ok(['rm', name]);
  });
}

test('killed as an --rm container exits (its exit is not recorded): the restart removes it', async () => {
  const before = await containerDirs();
  await restart('exit:before-save');
  await d.cli(['run', '--rm', '--name', 'rm-exit', 'busybox', 'sh', '-c', 'exit 3']); // dies with tsulad
  await recoverFrom('exit:before-save');
  // recovery finds a record that says running and conmon's exit file: the exit, then the removal
  for (let i = 0; i < 100 && (await d.cli(['inspect', 'rm-exit'])).code === 0; i++) await new Promise((r) => setTimeout(r, 100));
  assert.notEqual((await d.cli(['inspect', 'rm-exit'])).code, 0, 'the --rm container is gone');
  assert.deepEqual(await containerDirs(), before, 'no record and no tombstone left');
  await assertClean('after an --rm exit');
  await d.ok(['run', '--rm', '--name', 'rm-exit', 'busybox', 'true']);
});

test('killed as rm -f removes a running container (its exit left unrecorded for the removal): the code is kept', async () => {
  await d.ok(['run', '-d', '--name', 'rm-due', 'busybox', 'sleep', '300']);
  await restart('rm:before-mark');
  await d.cli(['rm', '-f', 'rm-due']); // the kill's exit writes no record: the removal is due
  await recoverFrom('rm:before-mark');
  // the record still said running; conmon's exit file, kept until a tombstone, says how it ended
  assert.equal(await state('rm-due'), 'exited 137');
  await assertClean('after an exit left to its removal');
  await d.ok(['rm', 'rm-due']);
});

test('docker wait, then rm: no record or runtime state left, and a refused rm keeps the exit', async () => {
  const before = await containerDirs();
  const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 1; exit 4'])).trim();
  // a removal refused while the container runs: due, then not
  assert.notEqual((await d.cli(['rm', id])).code, 0);
  assert.equal((await d.ok(['wait', id])).trim(), '4');
  await d.ok(['rm', id]);
  assert.deepEqual(await containerDirs(), before);
  await assertClean('after wait and rm');
});

test('etc files a power cut emptied (they are written unsynced) are made again at the start', async () => {
  const id = (await d.ok(['create', '--network', 'none', '--hostname', 'h-none', 'busybox', 'sh', '-c', 'cat /etc/hostname; grep -c h-none /etc/hosts'])).trim();
  for (const f of ['hostname', 'hosts', 'resolv.conf']) await fs.truncate(path.join(d.graph, 'containers', id, f));
  const r = await d.cli(['start', '-a', id], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^h-none\n[1-9]/);
  await d.ok(['rm', id]);
});

test('killed at start:after-stage: the volume subpath bound for the start is unmounted at start-up; start and rm work', async () => {
  await d.ok(['volume', 'create', 'stagedv']);
  const vol = (await d.ok(['volume', 'inspect', '-f', '{{.Mountpoint}}', 'stagedv'])).trim();
  await fs.mkdir(path.join(vol, 'in'));
  await fs.writeFile(path.join(vol, 'in', 'f'), 'staged\n');
  const staged = async () => (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(`${d.state}/`) && l.includes('/subpaths/'));
  const create = await d.api('POST', '/v1.45/containers/create?name=staged', JSON.stringify({
    Image: 'busybox', Cmd: ['cat', '/x/f'], HostConfig: { Mounts: [{ Type: 'volume', Source: 'stagedv', Target: '/x', VolumeOptions: { Subpath: 'in' } }] },
  }));
  assert.equal(create.status, 201, create.body);
  await restart('start:after-stage');
  await d.cli(['start', 'staged']); // dies with tsulad, the subpath bound at its staging path
  await recoverFrom('start:after-stage');
  assert.deepEqual(await staged(), [], 'the staging mount went at start-up');
  assert.equal(await state('staged'), 'created 0');
  assert.equal((await d.ok(['start', '-a', 'staged'])).trim(), 'staged');
  assert.deepEqual(await staged(), [], 'and after the start');
  await d.ok(['rm', 'staged']);
  await assertClean('after start:after-stage');
});

test('killed at create:before-save: no container, no leftovers, the name is free', async () => {
  const before = await containerDirs();
  await restart('create:before-save');
  await d.cli(['create', '--name', 'halfmade', 'busybox', 'true']);
  await recoverFrom('create:before-save');
  assert.notEqual((await d.cli(['inspect', 'halfmade'])).code, 0);
  assert.deepEqual(await containerDirs(), before);
  await d.ok(['run', '--rm', '--name', 'halfmade', 'busybox', 'true']);
  assert.deepEqual(await containerDirs(), before);
});

for (const point of ['rm:after-mark', 'rm:after-snapshot']) {
  test(`killed at ${point}: the removal is finished at start-up`, async () => {
    const name = point.replace(/[^a-z]/g, '-');
    const before = await containerDirs();
    const id = (await d.ok(['run', '-d', '--name', name, 'busybox', 'sleep', '300'])).trim();
    await restart(point);
    await d.cli(['rm', '-f', name]);
    await recoverFrom(point);
    assert.notEqual((await d.cli(['inspect', name])).code, 0);
    assert.deepEqual(await containerDirs(), before, 'no record and no tombstone left');
    assert.match(await d.log(), new RegExp(`finishing the removal of a container" id="${id}"`));
    await assertClean(`after ${point}`);
    await d.ok(['run', '--rm', '--name', name, 'busybox', 'true']);
  });
}

test('kill -9 while 4 parallel `run -d` loops are mid-start: nothing is stuck', async (t) => {
  // The kill lands when runc has just made the n-th container's state dir (fs.watch on its
  // root): runc create is running under conmon, tsulad has not read the pid yet. conmon then
  // loses its sync pipe and dies, leaving runc "created" and an orphan runc init (the issue).
  const root = runcRoot(d);
  for (const killAt of [1, 4, 9]) {
    await restart();
    await fs.mkdir(root, { recursive: true, mode: 0o700 });
    const seen = new Set(await fs.readdir(root));
    let made = 0;
    const proc = d.proc!;
    const watcher = watch(root, (_ev, name) => {
      if (!name || seen.has(String(name))) return;
      seen.add(String(name));
      if (++made === killAt) proc.kill('SIGKILL');
    });
    let stop = false;
    const loops = [0, 1, 2, 3].map(async () => {
      for (let i = 0; i < 30 && !stop; i++) {
        const r = await d.cli(['run', '-d', 'busybox', 'sleep', '100'], { timeoutMs: 60_000 });
        if (r.code !== 0) return; // the daemon is gone
      }
    });
    try {
      await daemonDied(d, 120_000);
    } finally {
      watcher.close();
      stop = true;
      await Promise.all(loops);
    }
    const logBefore = (await d.log()).length;
    await d.start();
    // what recovery found (for the record; the moment of the kill decides what there is)
    const found = (await d.log()).slice(logBefore).match(/msg="(adopting|cleaning up after|a container whose start|discarding)[^"]*"/g) ?? [];
    t.diagnostic(`kill at runc container ${killAt}: ${found.length} reconciled: ${[...new Set(found)].join('; ')}`);
    await assertClean(`after a kill at runc container ${killAt}`);
    const recs = await inspectAll(d);
    for (const r of recs) {
      assert.ok(['running', 'created', 'exited'].includes(r.status), `${r.id}: ${r.status}`);
      if (r.status === 'exited') assert.notEqual(r.exitCode, 255, `${r.id}: ${r.error}`);
      if (!r.running) await d.ok(['start', r.id]); // "container with given ID already exists" before
    }
    assert.ok((await inspectAll(d)).every((r) => r.running), 'every container runs after start');
    await assertClean(`after starting every container (kill at ${killAt})`);
    const ids = recs.map((r) => r.id);
    if (ids.length) await d.ok(['rm', '-f', ...ids], { timeoutMs: 120_000 });
    await assertClean('after rm -f of everything');
    const cgroups = await fs.readdir('/sys/fs/cgroup/pids/tsula').catch(() => [] as string[]);
    assert.deepEqual(cgroups.filter((c) => ids.includes(c)), [], 'no container cgroup left');
  }
});

test('killed at start:after-start on a user network with -p: the adopted container keeps its address and port, and its network cannot go under it', async () => {
  const tn = await createTestNet('crash');
  const dn = await TestDaemon.create({ configJson: dockerNetConfig(tn) });
  try {
    await dn.loadBusybox();
    await dn.ok(['network', 'create', 'crnet']);
    const port = await freePort();
    await restartWithFault(dn, 'start:after-start');
    await dn.cli(['run', '-d', '--name', 'crn', '--network', 'crnet', '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80']);
    await recoverFromFault(dn, 'start:after-start');
    const [status, ip] = (await dn.ok(['inspect', '-f', '{{.State.Status}} {{.NetworkSettings.Networks.crnet.IPAddress}}', 'crn'])).trim().split(' ');
    assert.equal(status, 'running');
    assert.match(ip ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'the adopted container\'s address');
    assert.match(await dn.ok(['port', 'crn']), new RegExp(`80/tcp -> 0\\.0\\.0\\.0:${port}`));
    const rm = await dn.cli(['network', 'rm', 'crnet']);
    assert.notEqual(rm.code, 0, 'a network with a running container stays');
    await dn.ok(['rm', '-f', 'crn']);
    await dn.ok(['network', 'rm', 'crnet']);
  } finally {
    const nets = await fs.readdir(path.join(dn.graph, 'networks', 'records')).catch(() => [] as string[]);
    await dn.destroy();
    for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
    await tn.destroy();
  }
});
