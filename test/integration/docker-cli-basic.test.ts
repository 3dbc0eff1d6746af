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

test('docker version: docker 20.10 talks API 1.41 to tsulad, which serves up to 1.52', async () => {
  const r = await docker(d, ['version', '--format', '{{.Client.APIVersion}} {{.Server.APIVersion}}']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), '1.41 1.52');
});

test('docker run --rm: output and exit code; ps -a forgets it', async () => {
  const r = await docker(d, ['run', '--rm', '--name', 'b1', 'busybox', 'sh', '-c', 'echo hi; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(r.stdout, 'hi\n');
  const ps = await docker(d, ['ps', '-a', '--format', '{{.Names}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.ok(!ps.stdout.split('\n').includes('b1'), ps.stdout);
});

test('docker restart of an --rm container restarts it, as dockerd (HasBeenManuallyRestarted); its next exit removes it', async () => {
  const r = await docker(d, ['run', '-d', '--rm', '--name', 'rmrestart', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; sleep 300 & wait']);
  assert.equal(r.code, 0, r.stderr);
  const first = (await docker(d, ['inspect', '-f', '{{.State.StartedAt}}', 'rmrestart'])).stdout.trim();
  const re = await docker(d, ['restart', '-t', '1', 'rmrestart']);
  assert.equal(re.code, 0, re.stderr);
  const after = await docker(d, ['inspect', '-f', '{{.State.Running}} {{.State.StartedAt}}', 'rmrestart']);
  assert.equal(after.code, 0, `removed by its restart: ${after.stderr}`);
  const [isRunning, started] = after.stdout.trim().split(' ');
  assert.equal(isRunning, 'true');
  assert.notEqual(started, first, 'started again');
  assert.equal((await docker(d, ['stop', '-t', '1', 'rmrestart'])).code, 0);
  for (let i = 0; i < 50 && (await docker(d, ['inspect', 'rmrestart'])).code === 0; i++) await new Promise((res) => setTimeout(res, 100));
  assert.notEqual((await docker(d, ['inspect', 'rmrestart'])).code, 0, 'a stop removes it');
});

test('dockerd\'s words: a paused container\'s start, -u out of range, an alias or address on host or none (raw API)', async () => {
  assert.equal((await docker(d, ['run', '-d', '--name', 'pz', 'busybox', 'sleep', '300'])).code, 0);
  assert.equal((await docker(d, ['pause', 'pz'])).code, 0);
  const st = await docker(d, ['start', 'pz']);
  assert.match(st.stderr, /Error response from daemon: cannot start a paused container, try unpause instead/);
  assert.equal((await docker(d, ['rm', '-f', 'pz'])).code, 0);
  for (const u of ['2147483648', '-1', '0:-1']) {
    const r = await docker(d, ['run', '--rm', '-u', u, 'busybox', 'true']);
    assert.notEqual(r.code, 0, u);
    assert.match(r.stderr, /uids and gids must be in range 0-2147483647/, u);
  }
  for (const [mode, ep, msg] of [
    ['host', { Aliases: ['x'] }, 'network-scoped alias is supported only for containers in user defined networks'],
    ['none', { IPAMConfig: { IPv4Address: '10.9.9.9' } }, 'user specified IP address is supported on user defined networks only'],
  ] as const) {
    const r = await d.api('POST', '/v1.44/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { NetworkMode: mode }, NetworkingConfig: { EndpointsConfig: { [mode]: ep } } }));
    assert.equal(r.status, 400, r.body);
    assert.equal(JSON.parse(r.body).message, msg);
  }
});

test('/.dockerenv is there, empty, as dockerd\'s init layer has it; diff and commit leave it out', async () => {
  const r = await docker(d, ['run', '--name', 'envfile', 'busybox', 'stat', '-c', '%s %a %F', '/.dockerenv']);
  assert.equal(r.stdout, '0 755 regular empty file\n', r.stderr);
  try {
    assert.equal((await docker(d, ['diff', 'envfile'])).stdout, '');
    assert.equal((await docker(d, ['commit', 'envfile', 'envfile:1'])).code, 0);
    const inImage = await docker(d, ['run', '--rm', '--entrypoint', 'sh', 'envfile:1', '-c', 'ls -a /']);
    assert.match(inImage.stdout, /^\.dockerenv$/m, 'the new container has its own');
    const layers = JSON.parse((await docker(d, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'envfile:1'])).stdout);
    const base = JSON.parse((await docker(d, ['image', 'inspect', '-f', '{{json .RootFS.Layers}}', 'busybox'])).stdout);
    // nothing changed: no layer added (dockerd's NewChildImage skips an empty one), its
    // history entry says empty_layer
    assert.deepEqual(layers, base);
    const history = await docker(d, ['history', '--format', '{{.Size}}', 'envfile:1']);
    assert.equal(history.stdout.split('\n')[0], '0B');
  } finally {
    await docker(d, ['rm', '-f', 'envfile']);
    await docker(d, ['rmi', 'envfile:1']);
  }
});

test('kill, pause and unpause refused in dockerd\'s words', async () => {
  const id = (await docker(d, ['create', '--name', 'idle', 'busybox', 'sleep', '300'])).stdout.trim();
  const kill = await docker(d, ['kill', 'idle']);
  assert.equal(kill.code, 1);
  assert.equal(kill.stderr, `Error response from daemon: Cannot kill container: idle: Container ${id} is not running\n`);
  assert.equal((await docker(d, ['start', 'idle'])).code, 0);
  assert.equal((await docker(d, ['unpause', 'idle'])).stderr, `Error response from daemon: Container ${id} is not paused\n`);
  assert.equal((await docker(d, ['pause', 'idle'])).code, 0);
  assert.equal((await docker(d, ['pause', 'idle'])).stderr, `Error response from daemon: Container ${id} is already paused\n`);
  assert.equal((await docker(d, ['rm', '-f', 'idle'])).code, 0);
});

test('docker kill returns once the container has stopped (kill then rm, kill then start); a paused one dies of it too', async () => {
  for (let i = 0; i < 5; i++) {
    assert.equal((await docker(d, ['run', '-d', '--name', 'kr', 'busybox', 'sleep', '300'])).code, 0);
    if (i % 2) assert.equal((await docker(d, ['pause', 'kr'])).code, 0);
    const kill = await docker(d, ['kill', 'kr']);
    assert.equal(kill.code, 0, kill.stderr);
    assert.equal((await docker(d, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Paused}}', 'kr'])).stdout, 'exited 137 false\n');
    if (i === 0) {
      // restarted at once: it runs again, and another kill stops it again
      assert.equal((await docker(d, ['start', 'kr'])).code, 0);
      assert.equal((await docker(d, ['kill', 'kr'])).code, 0);
      assert.equal((await docker(d, ['inspect', '-f', '{{.State.Status}}', 'kr'])).stdout, 'exited\n');
    }
    const rm = await docker(d, ['rm', 'kr']);
    assert.equal(rm.code, 0, rm.stderr);
  }
  // another signal is only sent: the container may run on (sh ignores SIGUSR1 here)
  assert.equal((await docker(d, ['run', '-d', '--name', 'ku', 'busybox', 'sh', '-c', 'trap "" USR1; sleep 300'])).code, 0);
  assert.equal((await docker(d, ['kill', '-s', 'USR1', 'ku'])).code, 0);
  assert.equal((await docker(d, ['inspect', '-f', '{{.State.Status}}', 'ku'])).stdout, 'running\n');
  assert.equal((await docker(d, ['rm', '-f', 'ku'])).code, 0);
});

test('docker ps shows the image ID once the tag a container was made from names another image, or none', async () => {
  const busybox = (await docker(d, ['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).stdout.trim();
  assert.equal((await docker(d, ['tag', 'busybox', 'psimg:1'])).code, 0);
  assert.equal((await docker(d, ['run', '-d', '--name', 'pi', 'psimg:1', 'sleep', '300'])).code, 0);
  const image = async (...o: string[]) => (await docker(d, ['ps', ...o, '-f', 'name=pi', '--format', '{{.Image}}'])).stdout.trim();
  try {
    assert.equal(await image(), 'psimg:1');
    assert.equal((await docker(d, ['commit', '-c', 'ENV MOVED=1', 'pi', 'psimg:2'])).code, 0);
    assert.equal((await docker(d, ['tag', 'psimg:2', 'psimg:1'])).code, 0);
    assert.equal(await image(), busybox.slice(7, 19));
    assert.equal(await image('--no-trunc'), busybox);
    assert.equal((await docker(d, ['tag', 'busybox', 'psimg:1'])).code, 0);
    assert.equal(await image(), 'psimg:1', 'the tag names its image again');
    assert.equal((await docker(d, ['rmi', 'psimg:1'])).code, 0);
    assert.equal(await image(), busybox.slice(7, 19), 'the tag is gone');
  } finally {
    await docker(d, ['rm', '-f', 'pi']);
    await docker(d, ['rmi', 'psimg:2']);
  }
});

test('--log-driver none: attached output still shows, docker logs is refused as dockerd does', async () => {
  const r = await docker(d, ['run', '--name', 'nolog', '--log-driver', 'none', 'busybox', 'sh', '-c', 'echo out; exit 2']);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, 'out\n');
  const logs = await docker(d, ['logs', 'nolog']);
  assert.equal(logs.code, 1);
  assert.equal(logs.stderr, 'Error response from daemon: configured logging driver does not support reading\n');
  assert.equal((await docker(d, ['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'nolog'])).stdout, 'none\n');
  assert.equal((await docker(d, ['rm', 'nolog'])).code, 0);
  const syslog = await docker(d, ['run', '--rm', '--log-driver', 'syslog', 'busybox', 'true']);
  assert.equal(syslog.code, 125);
});

test('an unknown capability refuses the create (125, dockerd\'s words), leaving no container', async () => {
  const r = await docker(d, ['run', '--rm', '--name', 'badcap', '--cap-add', 'BOGUS', 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /^docker: Error response from daemon: invalid CapAdd: unknown capability: "BOGUS"\.\nSee 'docker run --help'\.\n$/);
  const drop = await docker(d, ['create', '--cap-drop', 'nope', 'busybox']);
  assert.match(drop.stderr, /invalid CapDrop: unknown capability: "nope"/);
  assert.doesNotMatch((await docker(d, ['ps', '-a', '--format', '{{.Names}}'])).stdout, /badcap/);
});
