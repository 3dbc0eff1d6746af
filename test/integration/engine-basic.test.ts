// The seed guide's commands, as a user types them, against a real tsulad + conmon + runc.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

test('seed guide: run -tid, inspect runtime, info, exec exit code, logs, stop, rm', async () => {
  const id = (await d.ok(['run', '-tid', 'busybox', '/bin/sh'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal((await d.ok(['inspect', '-f', '{{ json .HostConfig.Runtime }}', id])).trim(), '"runc"');
  assert.match(await d.ok(['info']), /Storage Driver: overlay/);
  const ex = await d.cli(['exec', id, 'sh', '-c', 'echo hi; exit 3']);
  assert.equal(ex.stdout, 'hi\n');
  assert.equal(ex.code, 3);
  // what the container's main process writes is in its log (a TTY: \r\n line ends)
  await d.ok(['exec', id, 'sh', '-c', 'echo to-the-log > /proc/1/fd/1']);
  await waitFor(async () => /to-the-log\r?\n/.test(await d.ok(['logs', id])), 10_000, 'the line in the log');
  await d.ok(['stop', '-t', '1', id]);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'exited');
  await d.ok(['rm', id]);
  const rm = await d.cli(['inspect', id]);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /No such (container|object)/i);
});

test('run prints output and exits with the container exit code; --rm removes everything', async () => {
  // the snapshots dir is the one this daemon uses: a created container's snapshot is in it
  const snapshots = path.join(d.graph, 'overlay', 'snapshots');
  const snaps = async () => (await fs.readdir(snapshots)).filter((n) => !n.startsWith('.')).sort();
  const keep = (await d.ok(['create', 'busybox', 'true'])).trim();
  const before = await snaps();
  assert.ok(before.includes(keep), `${keep} in ${before.join(' ')}`);
  const r = await d.cli(['run', '--rm', '--name', 'rm-me', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.equal(r.code, 7);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  await waitFor(async () => (await d.cli(['inspect', 'rm-me'])).code !== 0, 10_000, 'auto-removal');
  assert.deepEqual(await snaps(), before, 'rm-me\'s snapshot is gone');
  await d.ok(['rm', keep]);
  assert.ok(!(await snaps()).includes(keep));
  // the container's process starts with no signal ignored or blocked, as under dockerd (none
  // of what started it on the way, tsulad, conmon and runc, may leave one to it)
  const sigs = await d.ok(['run', '--rm', 'busybox', 'grep', '-E', '^Sig(Ign|Blk)', '/proc/self/status']);
  assert.deepEqual(sigs.split('\n').filter(Boolean).map((l) => l.replace(/\s+/, ' ')).sort(), ['SigBlk: 0000000000000000', 'SigIgn: 0000000000000000']);
});

test('run flags reach the container: -e -w -u --hostname --entrypoint -v --read-only', async () => {
  const host = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-bind-'));
  try {
    await fs.chmod(host, 0o755); // readable by the container's "nobody"
    await fs.writeFile(path.join(host, 'in.txt'), 'from host', { mode: 0o644 });
    const out = await d.ok(['run', '--rm', '-e', 'FOO=bar', '-w', '/tmp', '-u', 'nobody', '--hostname', 'box1',
      '-v', `${host}:/data:ro`, '--read-only', '--entrypoint', '/bin/sh', 'busybox', '-c',
      'echo $FOO; pwd; id -u; hostname; cat /data/in.txt; echo; touch /x 2>/dev/null || echo rofs; touch /data/y 2>/dev/null || echo robind']);
    assert.deepEqual(out.trim().split('\n'), ['bar', '/tmp', '65534', 'box1', 'from host', 'rofs', 'robind']);
  } finally {
    await fs.rm(host, { recursive: true, force: true });
  }
});

test('--env-file, limits and ulimits are applied', async () => {
  const f = path.join(d.dir, 'envfile');
  await fs.writeFile(f, '# comment\nA=1\nB=two words\n');
  const out = await d.ok(['run', '--rm', '--env-file', f, '-m', '64m', '--pids-limit', '50', '--ulimit', 'nofile=512:1024', 'busybox',
    'sh', '-c', 'echo $A; echo $B; ulimit -n; ulimit -Hn; cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max;' +
    ' cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max']);
  assert.deepEqual(out.trim().split('\n'), ['1', 'two words', '512', '1024', '50', String(64 << 20)]);
});

test('network none has only lo; host shares the host network', async () => {
  const none = await d.ok(['run', '--rm', '--network', 'none', 'busybox', 'ls', '/sys/class/net']);
  assert.deepEqual(none.trim().split(/\s+/), ['lo']);
  // other tests add and remove veths meanwhile: the container sees what the host had
  // before and after its run (every lasting interface, nothing the host never had)
  const before = await fs.readdir('/sys/class/net');
  const host = (await d.ok(['run', '--rm', '--network', 'host', 'busybox', 'ls', '/sys/class/net'])).trim().split(/\s+/);
  const after = await fs.readdir('/sys/class/net');
  for (const i of before.filter((x) => after.includes(x))) assert.ok(host.includes(i), `${i} missing in the container: ${host.join(' ')}`);
  for (const i of host) assert.ok(before.includes(i) || after.includes(i), `${i} is not the host's`);
});

test('stdin flows with -i; exec -i too', async () => {
  const r = await d.cli(['run', '--rm', '-i', 'busybox', 'sh', '-c', 'read a; echo got:$a'], { input: 'hello\n' });
  assert.equal(r.stdout, 'got:hello\n');
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const e = await d.cli(['exec', '-i', id, 'cat'], { input: 'through exec\n' });
  assert.equal(e.stdout, 'through exec\n');
  assert.equal(e.code, 0);
  await d.ok(['rm', '-f', id]);
});

test('create, start, ps, rename, pause, unpause, top, restart, kill, wait, logs --tail -t', async () => {
  const id = (await d.ok(['create', '--name', 'life', 'busybox', 'sh', '-c', 'echo one; echo two; echo three; exec sleep 300'])).trim();
  assert.match(await d.ok(['ps', '-a']), /life/);
  assert.doesNotMatch(await d.ok(['ps']), /life/);
  await d.ok(['start', 'life']);
  await waitFor(async () => (await d.ok(['logs', 'life'])).includes('three'), 10_000, 'log output');
  assert.equal(await d.ok(['logs', '--tail', '2', 'life']), 'two\nthree\n');
  assert.match(await d.ok(['logs', '-t', '--tail', '1', 'life']), /^\d{4}-\d\d-\d\dT\S+ three\n$/);
  assert.equal((await d.ok(['ps', '-q'])).trim().split('\n').includes(id.slice(0, 12)), true);
  await d.ok(['rename', 'life', 'life2']);
  await d.ok(['pause', 'life2']);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', 'life2'])).trim(), 'paused');
  await d.ok(['unpause', 'life2']);
  assert.match(await d.ok(['top', 'life2']), /sleep 300/);
  await d.ok(['restart', '-t', '1', 'life2']);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', 'life2'])).trim(), 'true');
  const wait = d.cli(['wait', 'life2']);
  await d.ok(['kill', '-s', 'TERM', 'life2']);
  await d.ok(['kill', 'life2']);
  const w = await wait;
  assert.equal(w.stdout.trim(), '137');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.ExitCode}}', 'life2'])).trim(), '137');
  await d.ok(['rm', 'life2']);
});

test('logs -f follows until the container exits', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo line$i; sleep 0.3; done'])).trim();
  const r = await d.cli(['logs', '-f', id], { timeoutMs: 20_000 });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'line1\nline2\nline3\n');
  await d.ok(['rm', id]);
});

test('events report the lifecycle', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.ok(['run', '--rm', '--name', 'ev', 'busybox', 'true']);
  await waitFor(async () => (await d.cli(['inspect', 'ev'])).code !== 0, 10_000, 'removal');
  const out = await d.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=ev']);
  const actions = out.trim().split('\n').map((l) => l.split(' ')[2]);
  assert.deepEqual(actions.filter((a) => ['create', 'start', 'die', 'destroy'].includes(a)), ['create', 'start', 'die', 'destroy']);
});

test('a TTY container gets a terminal', async () => {
  const r = await d.cli(['run', '--rm', '-t', 'busybox', 'sh', '-c', 'test -t 1 && echo tty']);
  assert.equal(r.stdout.replace(/\r/g, ''), 'tty\n');
});

test('one conmon per container and no Node.js process per container', async () => {
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push((await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim());
  const procs = await listProcs();
  const conmons = procs.filter((p) => path.basename(p.cmd.split(' ')[0]) === 'conmon' && p.cmd.includes(d.dir));
  assert.equal(conmons.length, 3);
  const nodes = procs.filter((p) => p.cmd.includes('tsulad.mjs') && p.cmd.includes(d.dir));
  assert.equal(nodes.length, 1);
  await d.ok(['rm', '-f', ...ids]);
});

async function listProcs(): Promise<Array<{ pid: number; cmd: string }>> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const p of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = (await fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ');
    if (cmd) out.push({ pid: Number(p), cmd });
  }
  return out;
}

test('/info ID: a UUID kept in <graph>/engine-id, and that file\'s content when it holds another (dockerd\'s loadOrCreateID; moby\'s TestConfigDaemonID)', async () => {
  const id = async () => (JSON.parse((await d.api('GET', '/info')).body) as { ID: string }).ID;
  const first = await id();
  assert.match(first, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const file = path.join(d.graph, 'engine-id');
  assert.equal(await fs.readFile(file, 'utf8'), first);
  await d.stop();
  await fs.writeFile(file, 'this-is-the-engine-id');
  await d.start();
  assert.equal(await id(), 'this-is-the-engine-id');
});

test('a container that made a tree deeper than PATH_MAX (iSulad\'s rm.sh): rm -f removes it all, a volume of one too, and tsulad restarts', async () => {
  // (mkdir, not mkdir -p: that walks every level again at each one)
  const deep = 'mkdir -p /x; d=/x/a; while mkdir $d 2>/dev/null; do d=$d/a; done';
  const id = (await d.ok(['run', '-d', '-v', 'deepvol:/v', 'busybox', 'sh', '-c', `${deep.replaceAll('/x', '/deep')}; ${deep.replaceAll('/x', '/v')}; sleep 300`])).trim();
  await waitFor(async () => (await d.cli(['exec', id, 'test', '-d', '/v/a/a/a/a'])).code === 0, 30_000, 'the deep trees');
  await waitFor(async () => (await d.cli(['top', id])).stdout.includes('sleep'), 60_000, 'both trees made');
  await d.ok(['rm', '-f', id]);
  assert.equal((await d.cli(['inspect', id])).code, 1);
  await d.ok(['volume', 'rm', 'deepvol']);
  const left = async (dir: string) => (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => n.startsWith('.'));
  assert.deepEqual(await left(path.join(d.graph, 'overlay', 'snapshots')), [], 'no half-removed snapshot');
  await d.stop();
  await d.start();
  assert.equal((await d.ok(['run', '--rm', 'busybox', 'echo', 'after'])).trim(), 'after');
});

test('conmon killed from outside: the container is exited 255 ("container monitor died") within seconds, a stop returns, a start runs it again (iSulad\'s bigdata_stream, dockerd\'s shim death)', async () => {
  const conmonOf = async (id: string) => Number((await fs.readFile(path.join(d.state, 'containers', id, 'conmon.pid'), 'utf8')).trim());
  const a = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  process.kill(await conmonOf(a), 'SIGKILL');
  await waitFor(async () => (await d.ok(['inspect', '-f', '{{.State.Status}}', a])).trim() === 'exited', 20_000, 'the exit of a container whose conmon died');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.ExitCode}} {{.State.Error}}', a])).trim(), '255 container monitor died');
  await d.ok(['start', a]);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Error}}', a])).trim(), 'running');
  // a stop at once after the kill: no wait for the poll, no hang
  const b = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  process.kill(await conmonOf(b), 'SIGKILL');
  const t0 = Date.now();
  await d.ok(['stop', '-t', '1', b]);
  assert.ok(Date.now() - t0 < 8_000, `stop took ${Date.now() - t0} ms`);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', b])).trim(), 'exited 255');
  assert.equal((await d.ok(['start', b])).trim(), b);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', b])).trim(), 'running');
  await d.ok(['rm', '-f', a, b]);
});

test('--security-opt seccomp=FILE sends the profile itself, as docker\'s CLI (iSulad\'s seccomp.sh); a missing or bad file is the CLI\'s error', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-seccomp-'));
  try {
    const profile = path.join(dir, 'no-mkdir.json');
    await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }, null, 2));
    const r = await d.cli(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'sh', '-c', 'mkdir /x || echo refused; touch /y && echo touched']);
    assert.equal(r.stdout, 'refused\ntouched\n', r.stderr);
    assert.match(r.stderr, /Operation not permitted/);
    const missing = await d.cli(['run', '--rm', '--security-opt', `seccomp=${dir}/none.json`, 'busybox', 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, new RegExp(`opening seccomp profile \\(${dir}/none\\.json\\) failed: open ${dir}/none\\.json: no such file or directory`));
    await fs.writeFile(path.join(dir, 'bad.json'), '{ nope');
    assert.match((await d.cli(['run', '--rm', '--security-opt', `seccomp=${dir}/bad.json`, 'busybox', 'true'])).stderr, /compacting json for seccomp profile \(.*bad\.json\) failed/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
