// The stock docker CLI's volumes, mounts and run flags against tsulad: docker volume
// ls/create/inspect/rm/prune, named and anonymous volumes (the image's VOLUME copied up),
// --volumes-from, rm -v, --mount (bind, volume, tmpfs), --tmpfs, restart policies (backoff,
// stop, tsulad's restart), --init, -e VAR unset, --device, --group-add, --shm-size,
// --pid/--uts host, --platform, --log-driver, exec --privileged. No networking here: the
// daemon has no default bridge ("bridge": "none").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, sleep, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { deriveBusybox } from '../helpers/docker-images.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-volumes', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/tini-static': 'tini' } });

let d: TestDaemon;

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  const tar = path.join(d.dir, 'vol.tar');
  await deriveBusybox({
    tag: 'withvol:1', config: { Volumes: { '/data': {} }, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FROM_IMAGE=1'] },
    files: { 'data/seed.txt': 'seeded by the image\n' },
  }, tar);
  await ok(['load', '-i', tar]);
});

after(async () => { await d?.destroy(); });

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

/** A command's output through run -d, wait and logs; the container stays for inspect. */
async function runOut(args: string[]): Promise<{ id: string; code: number; out: string }> {
  const id = (await ok(['run', '-d', ...args])).trim();
  const code = Number((await ok(['wait', id])).trim());
  const r = await docker(d, ['logs', id]);
  return { id, code, out: r.stdout + r.stderr };
}

const inspect = async (ref: string, f: string) => (await ok(['inspect', '-f', f, ref])).trim();

test('docker volume create, ls, inspect, rm; in use: 409', async () => {
  assert.equal((await ok(['volume', 'create', '--label', 'team=a', 'v1'])).trim(), 'v1');
  assert.equal((await ok(['volume', 'create', 'v1'])).trim(), 'v1'); // an existing one is returned
  const [v] = JSON.parse(await ok(['volume', 'inspect', 'v1']));
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.deepEqual(v.Labels, { team: 'a' });
  assert.equal(v.Mountpoint, path.join(d.graph, 'volumes', 'v1', '_data'));
  assert.match(await ok(['volume', 'ls']), /^DRIVER\s+VOLUME NAME\nlocal\s+v1\n/);
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'label=team=a'])).trim(), 'v1');
  const w = await runOut(['-v', 'v1:/v', 'busybox', 'sh', '-c', 'echo kept > /v/file']);
  assert.equal(w.code, 0, w.out);
  const r = await runOut(['--mount', 'type=volume,src=v1,dst=/w,readonly', 'busybox', 'sh', '-c', 'cat /w/file; touch /w/x']);
  assert.match(r.out, /^kept$/m);
  assert.match(r.out, /Read-only file system/);
  const rm = await docker(d, ['volume', 'rm', 'v1']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, new RegExp(`remove v1: volume is in use - \\[.*${w.id}`));
  assert.equal((await d.api('DELETE', '/volumes/v1')).status, 409);
  assert.equal((await d.api('DELETE', '/volumes/v1?force=1')).status, 409);
  await ok(['rm', w.id, r.id]);
  assert.equal((await ok(['volume', 'rm', 'v1'])).trim(), 'v1');
  assert.equal((await d.api('GET', '/volumes/v1')).status, 404);
  // options are the local driver's (docker-cli-volume-options.test.ts): checked as dockerd does
  const bad = await docker(d, ['volume', 'create', '--opt', 'type=tmpfs', 'v2']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /create v2: missing required option: "device"/);
});

test('anonymous volumes: the image\'s VOLUME is copied up; rm -v removes it, a named one stays', async () => {
  const r = await runOut(['--name', 'anon', '-v', 'named1:/named', '-v', '/scratch', 'withvol:1', 'sh', '-c', 'cat /data/seed.txt; echo x > /data/new; ls /named']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /seeded by the image/);
  const mounts = JSON.parse(await inspect('anon', '{{json .Mounts}}')) as Array<{ Type: string; Name: string; Destination: string; Source: string }>;
  const byDest = Object.fromEntries(mounts.map((m) => [m.Destination, m]));
  assert.equal(byDest['/named']!.Name, 'named1');
  assert.match(byDest['/data']!.Name, /^[0-9a-f]{64}$/);
  assert.match(byDest['/scratch']!.Name, /^[0-9a-f]{64}$/);
  assert.equal(await fs.readFile(path.join(byDest['/data']!.Source, 'seed.txt'), 'utf8'), 'seeded by the image\n');
  assert.equal(await fs.readFile(path.join(byDest['/data']!.Source, 'new'), 'utf8'), 'x\n');
  assert.deepEqual(JSON.parse(await inspect('anon', '{{json .Config.Volumes}}')), { '/data': {}, '/scratch': {} });
  assert.deepEqual(JSON.parse(await inspect('anon', '{{json .HostConfig.Binds}}')), ['named1:/named']);
  // --volumes-from shares them (read-only here)
  const vf = await runOut(['--volumes-from', 'anon:ro', 'busybox', 'sh', '-c', 'cat /data/new; touch /data/y']);
  assert.match(vf.out, /^x$/m);
  assert.match(vf.out, /Read-only file system/);
  assert.deepEqual(JSON.parse(await inspect(vf.id, '{{json .HostConfig.VolumesFrom}}')), ['anon:ro']);
  // a --volumes-from container that is not there is a bad parameter (dockerd's 400), not a
  // missing image: the CLI says so and pulls nothing
  const missing = await docker(d, ['create', '--volumes-from', 'nosuchctr', 'busybox']);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, 'Error response from daemon: No such container: nosuchctr\n');
  // in use by the --volumes-from container: rm -v of anon leaves the volumes it shares, and
  // that container's rm -v takes them (dockerd's removeMountPoints: the volume's own kind)
  await ok(['rm', '-v', 'anon']);
  assert.equal((await ok(['volume', 'ls', '-q'])).trim().split('\n').length, 3, 'named1 and the two shared');
  await ok(['rm', '-v', vf.id]);
  const left = (await ok(['volume', 'ls', '-q'])).trim().split('\n');
  assert.deepEqual(left, ['named1']);
  // --rm removes its anonymous volumes too
  const id = (await ok(['run', '-d', '--rm', 'withvol:1', 'true'])).trim();
  await waitFor(async () => (await d.api('GET', `/containers/${id}/json`)).status === 404, 15_000, 'the --rm container gone');
  assert.deepEqual((await ok(['volume', 'ls', '-q'])).trim().split('\n'), ['named1']);
  // nocopy: the image's files stay out of a new volume
  const nc = await runOut(['-v', 'fresh:/data:nocopy', 'withvol:1', 'ls', '-A', '/data']);
  assert.equal(nc.out.trim(), '');
  await ok(['rm', nc.id]);
  const pr = await ok(['volume', 'prune', '-f']);
  assert.match(pr, /Deleted Volumes:\n(named1\nfresh|fresh\nnamed1)\n/);
  assert.equal((await ok(['volume', 'ls', '-q'])).trim(), '');
  // an empty volume's size is its _data's, 0 (dockerd's), not that of tsulad's own record of it
  await ok(['volume', 'create', 'empty']);
  const df = JSON.parse((await d.api('GET', '/v1.41/system/df')).body) as { Volumes: Array<{ Name: string; UsageData: { Size: number } }> };
  assert.equal(df.Volumes.find((v) => v.Name === 'empty')?.UsageData.Size, 0);
  assert.match(await ok(['volume', 'prune', '-f']), /Total reclaimed space: 0B/);
  // name is a regexp (dockerd's filter.Match); prune's `all` takes one Go bool, nothing is removed otherwise
  await ok(['volume', 'create', 'keepme']);
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'name=^keep'])).trim(), 'keepme');
  const prune = (v: string, all: string[]) => d.api('POST', `/${v}/volumes/prune?filters=${encodeURIComponent(JSON.stringify({ all }))}`);
  let pr2 = await prune('v1.43', ['true', 'false']);
  assert.deepEqual([pr2.status, JSON.parse(pr2.body).message], [400, "invalid filter 'all=[true false]': only one value is expected"]);
  pr2 = await prune('v1.43', ['yes']);
  assert.deepEqual([pr2.status, JSON.parse(pr2.body).message], [400, 'invalid filter \'all\': strconv.ParseBool: parsing "yes": invalid syntax']);
  pr2 = await prune('v1.41', ['false']);
  assert.equal(pr2.status, 400, 'before 1.42 dockerd adds all=true itself: false makes two values');
  assert.equal((await ok(['volume', 'ls', '-q', '--filter', 'name=keepme'])).trim(), 'keepme', 'nothing pruned by the refused requests');
  pr2 = await prune('v1.41', ['true']);
  assert.deepEqual([pr2.status, JSON.parse(pr2.body).VolumesDeleted], [200, ['keepme']]);
});

test('--volumes-from: its mode only narrows (a read-only bind stays so with :rw), it wins over -v /path on the same path, dockerd\'s modes and words', async () => {
  const host = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-vf-'));
  try {
    await fs.writeFile(path.join(host, 'f'), 'host\n');
    await ok(['create', '--name', 'vfparent', '-v', `${host}:/ro:ro`, '-v', 'vfdata:/data', 'busybox', 'true']);
    await ok(['run', '--rm', '-v', 'vfdata:/data', 'busybox', 'sh', '-c', 'echo parent > /data/p']);
    const rw = await runOut(['--volumes-from', 'vfparent:rw', 'busybox', 'sh', '-c', 'cat /ro/f; touch /ro/x; cat /data/p']);
    assert.match(rw.out, /^host$/m);
    assert.match(rw.out, /Read-only file system/, 'the parent\'s :ro holds');
    assert.match(rw.out, /^parent$/m);
    await assert.rejects(fs.stat(path.join(host, 'x')));
    // -v /data (Config.Volumes) comes after --volumes-from: the parent's volume, no new one
    const anon = await runOut(['--volumes-from', 'vfparent', '-v', '/data', 'busybox', 'cat', '/data/p']);
    assert.equal(anon.out.trim(), 'parent');
    for (const mode of ['z', 'ro,z', 'Z']) await ok(['rm', (await runOut(['--volumes-from', `vfparent:${mode}`, 'busybox', 'true'])).id]);
    // two of them on one path: the later one's (dockerd's mountPoints map)
    await ok(['create', '--name', 'vfother', '-v', 'vfdata2:/data', 'busybox', 'true']);
    await ok(['run', '--rm', '-v', 'vfdata2:/data', 'busybox', 'sh', '-c', 'echo other > /data/p']);
    const two = await runOut(['--volumes-from', 'vfparent', '--volumes-from', 'vfother', 'busybox', 'cat', '/data/p']);
    assert.equal(two.out.trim(), 'other');
    await ok(['rm', two.id, 'vfother']);
    await ok(['volume', 'rm', 'vfdata2']);
    const bad = await docker(d, ['create', '--volumes-from', 'vfparent:bar', 'busybox']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid mode: bar/);
    await ok(['rm', rw.id, anon.id, 'vfparent']);
    await ok(['volume', 'rm', 'vfdata']);
  } finally {
    await fs.rm(host, { recursive: true, force: true });
  }
});

test('--mount bind/tmpfs and --tmpfs: options applied, dockerd\'s refusals', async () => {
  const host = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-bind-'));
  try {
    await fs.writeFile(path.join(host, 'f'), 'from host\n');
    const r = await runOut(['--mount', `type=bind,src=${host},dst=/h,readonly`, '--mount', 'type=tmpfs,dst=/t1,tmpfs-size=1m,tmpfs-mode=1700',
      '--tmpfs', '/t2:size=2m,exec', 'busybox', 'sh', '-c', 'cat /h/f; touch /h/n; df -k /t1 /t2 | tail -2; stat -c %a /t1; grep -E " /t[12] " /proc/mounts']);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /from host/);
    assert.match(r.out, /touch: \/h\/n: Read-only file system/);
    assert.match(r.out, /tmpfs\s+1024\s+0\s+1024\s+0% \/t1/);
    assert.match(r.out, /tmpfs\s+2048\s+0\s+2048\s+0% \/t2/);
    assert.match(r.out, /^1700$/m);
    assert.match(r.out, / \/t1 tmpfs rw,nosuid,nodev,noexec/);
    assert.doesNotMatch(r.out.split('\n').find((l) => l.includes(' /t2 ')) ?? '', /noexec/);
    const mounts = JSON.parse(await inspect(r.id, '{{json .Mounts}}')) as Array<{ Type: string; Destination: string; RW: boolean }>;
    assert.deepEqual(mounts.map((m) => [m.Type, m.Destination, m.RW]).sort(), [['bind', '/h', false], ['tmpfs', '/t1', true]]);
    assert.deepEqual(JSON.parse(await inspect(r.id, '{{json .HostConfig.Tmpfs}}')), { '/t2': 'size=2m,exec' });
  } finally {
    await fs.rm(host, { recursive: true, force: true });
  }
  for (const [flags, msg] of [
    [['--mount', 'type=bind,src=/nonexistent-tsula,dst=/x'], /bind source path does not exist: \/nonexistent-tsula/],
    [['-v', '/tmp:/x', '--tmpfs', '/x'], /Duplicate mount point: \/x/],
    [['--tmpfs', '/x:bogus=1'], /invalid tmpfs option "bogus=1"/],
    [['-v', 'a:/x:zz'], /invalid mode: zz/],
    [['--mount', 'type=volume,dst=/x,volume-driver=other'], /volume driver "other" is not supported/],
  ] as const) {
    const c = await docker(d, ['create', ...flags, 'busybox']);
    assert.notEqual(c.code, 0, flags.join(' '));
    assert.match(c.stderr, msg);
  }
});

test('--restart on-failure:2 restarts twice with docker\'s backoff; RestartCount counts only those', async () => {
  const id = (await ok(['run', '-d', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'echo run; exit 3'])).trim();
  await waitFor(async () => (await inspect(id, '{{.State.Status}} {{.RestartCount}}')) === 'exited 2', 20_000, 'two restarts, then exited');
  await sleep(1500); // and no third
  assert.equal(await inspect(id, '{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}'), 'exited 2 3');
  assert.equal((await docker(d, ['logs', id])).stdout, 'run\nrun\nrun\n');
  assert.deepEqual(JSON.parse(await inspect(id, '{{json .HostConfig.RestartPolicy}}')), { Name: 'on-failure', MaximumRetryCount: 2 });
  // a start by the user starts the count again
  await ok(['start', id]);
  await waitFor(async () => (await inspect(id, '{{.State.Status}} {{.RestartCount}}')) === 'exited 2', 20_000, 'two more restarts');
  const bad = await docker(d, ['run', '--rm', '--restart', 'always', 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Conflicting options: --restart and --rm|can't create 'AutoRemove' container with restart policy/);
  const body = JSON.stringify({ Image: 'busybox', HostConfig: { RestartPolicy: { Name: 'always', MaximumRetryCount: 3 } } });
  const r = await d.api('POST', '/containers/create', body);
  assert.equal(r.status, 400);
  assert.match(r.body, /invalid restart policy: maximum retry count can only be used with 'on-failure'/);
});

test('--restart always: the container comes back after each exit; docker stop ends it; restart resets the count', async () => {
  const id = (await ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3; exit 0'])).trim();
  await waitFor(async () => Number(await inspect(id, '{{.RestartCount}}')) >= 2, 20_000, 'restarts of an always container');
  await ok(['stop', '-t', '1', id]);
  const after = await inspect(id, '{{.State.Status}} {{.RestartCount}}');
  assert.match(after, /^exited \d+$/);
  await sleep(1500);
  assert.equal(await inspect(id, '{{.State.Status}} {{.RestartCount}}'), after);
  await ok(['rm', '-f', id]);
  const l = (await ok(['run', '-d', '--restart', 'always', 'busybox', 'sleep', '300'])).trim();
  await ok(['restart', '-t', '0', l]);
  assert.equal(await inspect(l, '{{.State.Status}} {{.RestartCount}}'), 'running 0');
  await ok(['rm', '-f', l]);
});

test('tsulad\'s restart starts always/unless-stopped containers again, not one the user stopped', async () => {
  const always = (await ok(['run', '-d', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 2; exit 1'])).trim();
  const unless = (await ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '300'])).trim();
  const stopped = (await ok(['run', '-d', '--restart', 'unless-stopped', 'busybox', 'sleep', '300'])).trim();
  await ok(['stop', '-t', '0', stopped]);
  await d.stop('SIGKILL');
  await sleep(3000); // `always` exits while tsulad is down
  await d.start();
  await waitFor(async () => (await inspect(always, '{{.State.Status}}')) === 'running', 15_000, 'the always container started again');
  assert.equal(await inspect(unless, '{{.State.Status}}'), 'running');
  assert.equal(await inspect(stopped, '{{.State.Status}}'), 'exited');
  await ok(['rm', '-f', always, unless, stopped]);
});

test('--init runs docker-init (tini) as PID 1; -e VAR unset drops VAR (and the image\'s)', async () => {
  delete process.env.TSULA_UNSET_VAR;
  const r = await runOut(['--init', '-e', 'TSULA_UNSET_VAR', '-e', 'FROM_IMAGE', '-e', 'SET=1', 'withvol:1', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo; env']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^\/sbin\/docker-init -- sh -c /m);
  assert.match(r.out, /^SET=1$/m);
  assert.doesNotMatch(r.out, /TSULA_UNSET_VAR|FROM_IMAGE/);
  // inspect keeps them as given, as dockerd does
  const env = JSON.parse(await inspect(r.id, '{{json .Config.Env}}')) as string[];
  assert.ok(env.includes('FROM_IMAGE') && env.includes('TSULA_UNSET_VAR') && env.includes('SET=1'), env.join(' '));
  // exec: the same rule
  const id = (await ok(['run', '-d', '-e', 'KEEP=1', 'busybox', 'sleep', '300'])).trim();
  const ex = await ok(['exec', '-e', 'KEEP', '-e', 'TSULA_UNSET_VAR', id, 'env']);
  assert.doesNotMatch(ex, /KEEP|TSULA_UNSET_VAR/);
  await ok(['rm', '-f', id]);
});

test('--device, --group-add, --shm-size, --pid host, --uts host, --sysctl reach the container', async () => {
  const r = await runOut(['--device', '/dev/null:/dev/tsnull:rw', '--group-add', '1234', '--group-add', 'nobody', '--shm-size', '32m',
    '--sysctl', 'kernel.shmmax=123456', 'busybox', 'sh', '-c', 'ls -l /dev/tsnull; id; df -k /dev/shm | tail -1; cat /proc/sys/kernel/shmmax']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^crw-rw-rw-.* 1,\s+3 .* \/dev\/tsnull$/m);
  assert.match(r.out, /groups=.*1234/);
  assert.match(r.out, /groups=.*\(nobody\)/);
  assert.match(r.out, /shm\s+32768\s/);
  assert.match(r.out, /^123456$/m);
  const h = await runOut(['--pid', 'host', '--uts', 'host', 'busybox', 'sh', '-c', 'hostname; cat /proc/1/comm']);
  assert.equal(h.out.split('\n')[0], os.hostname());
  assert.notEqual(h.out.split('\n')[1], 'sh'); // the host's PID 1, not the container's
  for (const [flags, msg] of [
    [['--sysctl', 'vm.swappiness=1'], /sysctl 'vm\.swappiness(=1)?' is not whitelisted/],
    [['--device', '/dev/nonexistent-tsula'], /error gathering device information while adding custom device "\/dev\/nonexistent-tsula"/],
    [['--log-driver', 'syslog'], /logging driver "syslog" is not supported/],
    [['--log-opt', 'foo=a'], /unknown log opt 'foo' for json-file log driver/],
    [['--log-opt', 'max-buffer-size=1m'], /logger: max-buffer-size option is only supported with 'mode=non-blocking'/],
    [['--log-opt', 'compress=true'], /log opt 'compress' is not supported by tsulad/],
    [['--ipc', 'none'], /--ipc none is not supported/],
    [['--uts', 'host', '-h', 'x'], /conflicting options: hostname and the UTS mode/],
  ] as const) {
    const c = await docker(d, ['create', ...flags, 'busybox']);
    assert.notEqual(c.code, 0, flags.join(' '));
    assert.match(c.stderr, msg);
  }
  assert.equal((await ok(['create', '--log-driver', 'json-file', 'busybox'])).trim().length, 64);
});

test('--platform: the image\'s matches; another is dockerd\'s 404 (the CLI then tries to pull)', async () => {
  assert.equal((await ok(['create', '--platform', 'linux/amd64', 'busybox'])).trim().length, 64);
  const r = await d.api('POST', '/containers/create?platform=linux%2Farm64', JSON.stringify({ Image: 'busybox' }));
  assert.equal(r.status, 404);
  assert.match(r.body, /image with reference busybox was found but its platform \(linux\/amd64\) does not match the specified platform \(linux\/arm64\)/);
});

test('exec --privileged gets every capability; a plain exec the container\'s', async () => {
  const id = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const plain = await ok(['exec', id, 'grep', 'CapEff', '/proc/self/status']);
  const priv = await ok(['exec', '--privileged', id, 'grep', 'CapEff', '/proc/self/status']);
  const bits = (s: string) => BigInt(`0x${s.trim().split(/\s+/)[1]}`).toString(2).replace(/0/g, '').length;
  assert.ok(bits(priv) > bits(plain), `${plain} vs ${priv}`);
  await ok(['rm', '-f', id]);
});
