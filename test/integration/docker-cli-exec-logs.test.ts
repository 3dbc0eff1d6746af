// docker exec and docker logs through the stock docker CLI (20.10), word for word and code for
// code as dockerd (20.10's words, 27.3's exec exit codes): a start the runtime refused, the exec's environment, and
// the order in which logs applies --tail, --since and --until; --log-opt max-size and max-file
// (rotated files, read oldest first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-exec-logs', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  await ok(['run', '-d', '--name', 'box', '-e', 'FOO=bar', 'busybox', 'sleep', '1000']);
});
after(async () => {
  if (d?.proc) await docker(d, ['rm', '-f', 'box', 'ttybox']).catch(() => undefined);
  await d?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

async function execCreate(body: Record<string, unknown>): Promise<string> {
  const r = await d.api('POST', '/v1.41/containers/box/exec', JSON.stringify(body), { 'Content-Type': 'application/json' });
  assert.equal(r.status, 201, r.body);
  return (JSON.parse(r.body) as { Id: string }).Id;
}

async function execStartDetached(id: string): Promise<{ status: number; message: string }> {
  const r = await d.api('POST', `/v1.41/exec/${id}/start`, JSON.stringify({ Detach: true }), { 'Content-Type': 'application/json' });
  return { status: r.status, message: r.status === 200 ? '' : (JSON.parse(r.body) as { message: string }).message };
}

const NOT_FOUND = /^OCI runtime exec failed: exec failed: .*exec: "nosuch": executable file not found in \$PATH: unknown\r\n$/;

test('exec of a command that cannot start: containerd\'s ": unknown", 127 not found, 126 otherwise (dockerd since 27.3)', async () => {
  const missing = await docker(d, ['exec', 'box', 'nosuch']);
  assert.equal(missing.code, 127, missing.stderr);
  assert.match(missing.stdout, NOT_FOUND);
  const notExec = await docker(d, ['exec', 'box', '/etc/passwd']);
  assert.equal(notExec.code, 126);
  assert.match(notExec.stdout, /exec: "\/etc\/passwd": permission denied: unknown\r\n$/);
  // -w on a path that is not there: runc's chdir error, 126 as well
  const wd = await docker(d, ['exec', '-w', '/missing', 'box', 'pwd']);
  assert.equal(wd.code, 126);
  assert.match(wd.stdout, /^OCI runtime exec failed: exec failed: .*chdir to cwd \("\/missing"\) set in config\.json failed: no such file or directory: unknown\r\n$/);
  // not a directory: dockerd's bind-mount hint after containerd's class
  const file = await docker(d, ['exec', '-w', '/etc/passwd', 'box', 'pwd']);
  assert.equal(file.code, 127);
  assert.match(file.stdout, /not a directory: unknown: Are you trying to mount a directory onto a file \(or vice-versa\)\? Check if the specified host path exists and is the expected type\r\n$/);
  // an unknown user is the create's 400 (dockerd 28's getUser in ContainerExecCreate): the CLI
  // says it and exits 1 (20.10-27 failed the start: 126)
  const user = await docker(d, ['exec', '-u', 'nosuchuser', 'box', 'id']);
  assert.equal(user.code, 1);
  assert.equal(user.stderr, 'Error response from daemon: unable to find user nosuchuser: no matching entries in passwd file\n');
  // -d: the error is the start's HTTP answer, so the CLI says it on stderr and exits 1
  const detached = await docker(d, ['exec', '-d', 'box', 'nosuch']);
  assert.equal(detached.code, 1);
  assert.match(detached.stderr, /^Error response from daemon: OCI runtime exec failed: .*executable file not found in \$PATH: unknown\n$/);
  // detach keys dockerd can't read are refused at create
  const keys = await docker(d, ['exec', '--detach-keys', 'foo', 'box', 'true']);
  assert.equal(keys.code, 1);
  assert.equal(keys.stderr, 'Error response from daemon: Invalid escape keys (foo) provided\n');
  // the box still runs: a failed exec does not touch it
  assert.equal(await ok(['exec', 'box', 'echo', 'fine']), 'fine\n');
});

test('exec start over the API: 400 for a command dockerd classes as bad config, 500 otherwise, 409 once run', async () => {
  const missing = await execCreate({ Cmd: ['nosuch'] });
  const r = await execStartDetached(missing);
  assert.equal(r.status, 400);
  assert.match(r.message, /executable file not found in \$PATH: unknown$/);
  const inspected = JSON.parse((await d.api('GET', `/v1.41/exec/${missing}/json`)).body) as { Running: boolean; ExitCode: number };
  assert.deepEqual([inspected.Running, inspected.ExitCode], [false, 127]);
  const again = await execStartDetached(missing);
  assert.equal(again.status, 409);
  assert.equal(again.message, `Error: Exec command ${missing} has already run`);
  // dockerd's test for "not found" wants the command's name (as given) in the message
  const capital = await execStartDetached(await execCreate({ Cmd: ['NoSuch'] }));
  assert.equal(capital.status, 500);
  const wd = await execStartDetached(await execCreate({ Cmd: ['pwd'], WorkingDir: '/missing' }));
  assert.equal(wd.status, 500);
  assert.match(wd.message, /no such file or directory: unknown$/);
});

test('resize and exec checks as dockerd: h and w required, uint32 (dockerd 25+), an exec of a paused container, one not started yet, the pid after the exit, an unknown user at create (dockerd 28)', async () => {
  const post = async (path: string) => {
    const r = await d.api('POST', path);
    return { status: r.status, message: r.body ? (JSON.parse(r.body) as { message?: string }).message ?? '' : '' };
  };
  await ok(['run', '-dt', '--name', 'rsz', 'busybox', 'sleep', '1000']);
  try {
    // dockerd 25+ (moby's TestResize "invalid size"): uint32 sizes
    assert.deepEqual(await post('/v1.41/containers/rsz/resize'), { status: 400, message: 'invalid resize height "": invalid syntax' });
    assert.deepEqual(await post('/v1.41/containers/rsz/resize?h=10'), { status: 400, message: 'invalid resize width "": invalid syntax' });
    assert.deepEqual(await post('/v1.41/containers/rsz/resize?h=10&w=x'), { status: 400, message: 'invalid resize width "x": invalid syntax' });
    assert.deepEqual(await post('/v1.41/containers/rsz/resize?h=-100&w=10'), { status: 400, message: 'invalid resize height "-100": value out of range' });
    assert.deepEqual(await post('/v1.41/containers/rsz/resize?h=10&w=4294967296'), { status: 400, message: 'invalid resize width "4294967296": value out of range' });
    assert.equal((await post('/v1.41/containers/rsz/resize?h=33&w=111')).status, 200);
    assert.equal((await ok(['exec', 'rsz', 'sh', '-c', 'stty size < /proc/1/fd/0'])).trim(), '33 111');
    // an exec created, not started: dockerd waits for its start (10 s), here it comes at once
    const create = await d.api('POST', '/v1.41/containers/rsz/exec', JSON.stringify({ Cmd: ['sh', '-c', 'sleep 0.5; exit 5'], Tty: true }), { 'Content-Type': 'application/json' });
    const eid = (JSON.parse(create.body) as { Id: string }).Id;
    const resized = post(`/v1.41/exec/${eid}/resize?h=20&w=70`);
    await new Promise((r) => setTimeout(r, 300));
    await d.api('POST', `/v1.41/exec/${eid}/start`, JSON.stringify({ Detach: true }), { 'Content-Type': 'application/json' });
    assert.equal((await resized).status, 200);
    let ins: { Running: boolean; ExitCode: number | null; Pid: number } = { Running: true, ExitCode: null, Pid: 0 };
    const pid = (JSON.parse((await d.api('GET', `/v1.41/exec/${eid}/json`)).body) as typeof ins).Pid;
    await waitFor(async () => !(ins = JSON.parse((await d.api('GET', `/v1.41/exec/${eid}/json`)).body) as typeof ins).Running, 10_000, 'the exec to end');
    assert.deepEqual([ins.ExitCode, ins.Pid], [5, pid], 'its pid stays shown, as dockerd\'s');
    assert.ok(pid > 0);
    // a paused container: dockerd's getExecConfig says so (409)
    const e2 = JSON.parse((await d.api('POST', '/v1.41/containers/rsz/exec', JSON.stringify({ Cmd: ['sleep', '30'], Tty: true }), { 'Content-Type': 'application/json' })).body) as { Id: string };
    await d.api('POST', `/v1.41/exec/${e2.Id}/start`, JSON.stringify({ Detach: true }), { 'Content-Type': 'application/json' });
    await ok(['pause', 'rsz']);
    const full = (await ok(['inspect', '-f', '{{.Id}}', 'rsz'])).trim();
    assert.deepEqual(await post(`/v1.41/exec/${e2.Id}/resize?h=5&w=5`), { status: 409, message: `Container ${full} is paused, unpause the container before exec` });
    await ok(['unpause', 'rsz']);
    // a resize to the size the pty has is none: no SIGWINCH (the kernel skips an equal
    // winsize; conmon's, with its pixel fields unset, would not be one)
    const cr = await d.api('POST', '/v1.42/containers/create?name=winch', JSON.stringify({
      Image: 'busybox', Tty: true, HostConfig: { ConsoleSize: [17, 47] },
      Cmd: ['sh', '-c', 'trap "stty size >> /tmp/w" WINCH; while :; do sleep 0.1; done'],
    }), { 'Content-Type': 'application/json' });
    assert.equal(cr.status, 201, cr.body);
    await ok(['start', 'winch']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await post('/v1.42/containers/winch/resize?h=17&w=47')).status, 200);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await docker(d, ['exec', 'winch', 'cat', '/tmp/w'])).code, 1, 'no SIGWINCH for the same size');
    assert.equal((await post('/v1.42/containers/winch/resize?h=18&w=47')).status, 200);
    await waitFor(async () => (await docker(d, ['exec', 'winch', 'cat', '/tmp/w'])).stdout === '18 47\n', 10_000, 'the trap to see 18 47');
    // a program that changed the size itself: a resize back to what the client last asked for still applies
    await ok(['exec', 'winch', 'sh', '-c', 'stty rows 5 cols 6 < /proc/1/fd/0']);
    assert.equal((await post('/v1.42/containers/winch/resize?h=18&w=47')).status, 200);
    assert.equal((await ok(['exec', 'winch', 'sh', '-c', 'stty size < /proc/1/fd/0'])).trim(), '18 47');
    await ok(['rm', '-f', 'winch']);
    // an unknown user is the create's 400 (dockerd 28's getUser at ExecCreate): the CLI exits 1
    const u = await docker(d, ['exec', '-u', 'nosuchuser', 'rsz', 'true']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /Error response from daemon: unable to find user nosuchuser: no matching entries in passwd file/);
  } finally {
    await ok(['rm', '-f', 'rsz']);
  }
});

test('inspect ExecIDs: the container\'s execs that have not ended, else null', async () => {
  const ids = async () => JSON.parse(await ok(['inspect', '-f', '{{json .ExecIDs}}', 'box'])) as string[] | null;
  assert.equal(await ids(), null);
  const id = await execCreate({ Cmd: ['sleep', '1'] });
  assert.deepEqual(await ids(), [id], 'a created exec counts');
  assert.equal((await execStartDetached(id)).status, 200);
  for (let i = 0; i < 50 && (await ids()) !== null; i++) await new Promise((r) => setTimeout(r, 200));
  assert.equal(await ids(), null, 'gone once it exited');
});

test('an exec\'s output after its exit: a background child\'s lines within 2 s come through, a child holding the output for ever is cut off 2 s after the exit (dockerd\'s monitor)', async () => {
  assert.equal(await ok(['exec', 'box', 'sh', '-c', 'echo early; (sleep 1; echo late) &']), 'early\nlate\n');
  const t0 = Date.now();
  assert.equal(await ok(['exec', 'box', 'sh', '-c', 'echo early; sleep 1000 &']), 'early\n');
  const ms = Date.now() - t0;
  assert.ok(ms >= 1900 && ms < 10_000, `${ms} ms`);
  // the next exec is not held up by it
  assert.equal(await ok(['exec', 'box', 'echo', 'next']), 'next\n');
});

test('exec environment: PATH, HOSTNAME, TERM only for exec -t, the container\'s env, then -e', async () => {
  const host = (await ok(['inspect', '-f', '{{.Config.Hostname}}', 'box'])).trim();
  const env = (await ok(['exec', 'box', 'env'])).split('\n').filter(Boolean);
  assert.deepEqual(env.slice(0, 3), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${host}`, 'FOO=bar']);
  assert.ok(!env.some((e) => e.startsWith('TERM=')), env.join('\n'));
  const tty = (await ok(['exec', '-t', 'box', 'env'])).split(/\r?\n/);
  assert.deepEqual(tty.slice(0, 3), ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${host}`, 'TERM=xterm']);
  // a container run with -t: its TERM is not an exec's without -t
  await ok(['run', '-dt', '--name', 'ttybox', 'busybox', 'sleep', '1000']);
  assert.doesNotMatch(await ok(['exec', 'ttybox', 'env']), /^TERM=/m);
  assert.match(await ok(['exec', '-t', '-e', 'TERM=vt100', 'ttybox', 'env']), /^TERM=vt100\r?$/m);
  await ok(['rm', '-f', 'ttybox']);
  // -e FOO=baz replaces the container's; an -e name the client has no value for unsets it
  assert.match(await ok(['exec', '-e', 'FOO=baz', 'box', 'env']), /^FOO=baz$/m);
  const unset = await docker(d, ['exec', '-e', 'FOO', 'box', 'env']);
  assert.doesNotMatch(unset.stdout, /^FOO=/m);
});

test('logs: --tail counts from the end first, then --since skips and --until ends (moby\'s tailFiles)', async () => {
  // two lines, then two more a little over two seconds later (whole-second bounds between them)
  await ok(['run', '--name', 'timed', 'busybox', 'sh', '-c', 'echo a; echo b; sleep 2.2; echo c; echo d']);
  try {
    const lines = (await ok(['logs', '-t', 'timed'])).trim().split('\n');
    assert.equal(lines.length, 4);
    // the whole second after b's: c and d are past it (they came 2.2 s later)
    const bAt = Date.parse(lines[1]!.split(' ')[0]!);
    const mid = new Date(Math.floor(bAt / 1000) * 1000 + 1000).toISOString().replace(/\.000Z$/, 'Z');
    assert.equal(await ok(['logs', '--until', mid, 'timed']), 'a\nb\n');
    // the last two are both past until: nothing, not the two before them
    assert.equal(await ok(['logs', '--tail', '2', '--until', mid, 'timed']), '');
    assert.equal(await ok(['logs', '--tail', '3', '--until', mid, 'timed']), 'b\n');
    // since after tail: the last three, less those before since
    assert.equal(await ok(['logs', '--tail', '3', '--since', mid, 'timed']), 'c\nd\n');
    assert.equal(await ok(['logs', '--tail', '1', '--since', mid, 'timed']), 'd\n');
    // until 0 is no bound (dockerd's), a relative since is the CLI's now minus it
    assert.equal(await ok(['logs', '--until', '0', 'timed']), 'a\nb\nc\nd\n');
    assert.equal(await ok(['logs', '--since', '10m', 'timed']), 'a\nb\nc\nd\n');
    // --details: dockerd's attributes (none without log-opts) and a space
    assert.equal(await ok(['logs', '--details', '--tail', '1', 'timed']), ' d\n');
    assert.match(await ok(['logs', '-t', '--details', '--tail', '1', 'timed']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z  d\n$/);
  } finally {
    await ok(['rm', 'timed']);
  }
});

test('logs -t of a line written in two parts: one time, at its start (dockerd logs the line once)', async () => {
  await ok(['run', '--name', 'parts', 'busybox', 'sh', '-c', 'printf "first half "; sleep 0.5; echo "second half"; echo next']);
  try {
    assert.equal(await ok(['logs', 'parts']), 'first half second half\nnext\n');
    const lines = (await ok(['logs', '-t', 'parts'])).split('\n').filter(Boolean);
    assert.equal(lines.length, 2, lines.join('\n'));
    assert.match(lines[0]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z first half second half$/);
    assert.match(lines[1]!, /^\d{4}-\d\d-\d\dT[\d:.]+Z next$/);
  } finally {
    await ok(['rm', 'parts']);
  }
});

test('--log-opt labels/env (and their regexes): logs --details puts the attributes first, as dockerd; mode=non-blocking is taken', async () => {
  await ok(['run', '--name', 'attrs', '--label', 'app=web', '--label', 'tier=a b', '--label', 'other=x', '-e', 'REGION=eu', '-e', 'ZONE=1',
    '--log-opt', 'labels=app,nosuch', '--log-opt', 'labels-regex=^ti', '--log-opt', 'env=REGION', '--log-opt', 'tag={{.Name}}',
    '--log-opt', 'mode=non-blocking', '--log-opt', 'max-buffer-size=4m', 'busybox', 'echo', 'hello']);
  try {
    assert.equal(await ok(['logs', '--details', 'attrs']), 'REGION=eu,app=web,tier=a+b hello\n');
    assert.equal(await ok(['logs', 'attrs']), 'hello\n');
    assert.equal(await ok(['inspect', '-f', '{{index .HostConfig.LogConfig.Config "mode"}}', 'attrs']), 'non-blocking\n');
  } finally {
    await ok(['rm', 'attrs']);
  }
});

test('logs -f of a created container ends at once (dockerd follows only a running one)', async () => {
  await ok(['create', '--name', 'fresh', 'busybox', 'echo', 'hi']);
  try {
    const started = Date.now();
    const r = await docker(d, ['logs', '-f', 'fresh'], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started}ms`);
  } finally {
    await ok(['rm', 'fresh']);
  }
});

test('--log-opt max-size: the log starts over past it (json-file with one file), logs -f reads on across; inspect shows the options', async () => {
  const id = (await ok(['run', '-d', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=1', 'busybox', 'sh', '-c',
    'sleep 1; i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); [ $((i % 10)) = 0 ] && sleep 0.1; done; echo last'])).trim();
  try {
    // a follower from before the first line gets every line, across each start-over (one
    // every ~0.4 s here: a writer that fills max-size between two reads loses what the file
    // held, as with dockerd's json-file and one file)
    const f = await docker(d, ['logs', '-f', id], { timeoutMs: 60_000 });
    assert.equal(f.code, 0, f.stderr);
    const lines = f.stdout.trimEnd().split('\n');
    assert.deepEqual(lines, [...Array.from({ length: 200 }, (_, i) => `line-${i}`), 'last']);
    // what is kept afterwards: less than 2k of records, ending with the last line
    const kept = await ok(['logs', id]);
    assert.match(kept, /line-199\nlast\n$/);
    assert.doesNotMatch(kept, /^line-0$/m);
    const logPath = (await ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
    assert.ok((await fs.stat(logPath)).size <= 2000, 'the file started over at max-size');
    assert.equal((await ok(['inspect', '-f', '{{json .HostConfig.LogConfig}}', id])).trim(), '{"Type":"json-file","Config":{"max-file":"1","max-size":"2k"}}');
  } finally {
    await ok(['rm', '-f', id]);
  }
  // dockerd's checks and words
  for (const [opt, msg] of [['max-size=abc', /invalid size: 'abc'/], ['max-size=0', /max-size must be a positive number/],
    ['max-file=0', /max-file cannot be less than 1/], ['max-file=x', /strconv.Atoi: parsing "x": invalid syntax/],
    ['foo=bar', /unknown log opt 'foo' for json-file log driver/], ['compress=true', /log opt 'compress' is not supported by tsulad/]] as const) {
    const r = await docker(d, ['create', '--log-opt', opt, 'busybox']);
    assert.notEqual(r.code, 0, opt);
    assert.match(r.stderr, msg);
  }
  const w = await docker(d, ['create', '--name', 'threefiles', '--log-opt', 'max-size=1m', '--log-opt', 'max-file=3', 'busybox']);
  assert.deepEqual([w.code, w.stderr], [0, '']);
  await ok(['rm', 'threefiles']);
});

test('--log-opt max-size with max-file=3: the log rotates into .1 and .2, logs reads them oldest first, -f reads on across', async () => {
  const pad = 'x'.repeat(60);
  const id = (await ok(['run', '-d', '--log-opt', 'max-size=2k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c',
    `sleep 1; i=0; while [ $i -lt 300 ]; do echo line-$i-${pad}; i=$((i+1)); [ $((i % 10)) = 0 ] && sleep 0.1; done; echo last`])).trim();
  try {
    const f = await docker(d, ['logs', '-f', id], { timeoutMs: 60_000 });
    assert.equal(f.code, 0, f.stderr);
    assert.deepEqual(f.stdout.trimEnd().split('\n'), [...Array.from({ length: 300 }, (_, i) => `line-${i}-${pad}`), 'last'], 'the follower missed nothing');
    const logPath = (await ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
    const dir = logPath.slice(0, logPath.lastIndexOf('/'));
    const files = (await fs.readdir(dir)).filter((n) => n.startsWith(logPath.slice(dir.length + 1))).sort();
    assert.deepEqual(files, ['container.log', 'container.log.1', 'container.log.2'].map((n) => logPath.slice(dir.length + 1).replace('container.log', '') + n), 'at most max-file files');
    // the kept lines: consecutive, oldest first, up to the last; the first ones rotated away
    const kept = (await ok(['logs', id])).trimEnd().split('\n');
    assert.equal(kept.at(-1), 'last');
    const nums = kept.slice(0, -1).map((l) => Number(/^line-(\d+)-/.exec(l)?.[1]));
    assert.ok(nums[0]! > 0 && nums.every((n, i) => i === 0 || n === nums[i - 1]! + 1), `consecutive from ${nums[0]}`);
    assert.equal(nums.at(-1), 299);
    assert.equal(await ok(['logs', '--tail', '2', id]), `line-299-${pad}\nlast\n`);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('--log-opt max-size with max-file=2: a burst that ends before the first look is cut down at the exit to what two files of max-size hold', async () => {
  const id = (await ok(['run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=2', 'busybox', 'sh', '-c',
    'i=0; while [ $i -lt 200 ]; do echo burst-line-$i; i=$((i+1)); done'])).trim();
  try {
    assert.equal((await ok(['wait', id])).trim(), '0');
    const logPath = (await ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
    for (const f of [logPath, `${logPath}.1`]) assert.ok((await fs.stat(f)).size <= 1024, `${f}: ${(await fs.stat(f)).size} bytes`);
    const nums = (await ok(['logs', id])).trimEnd().split('\n').map((l) => Number(/^burst-line-(\d+)$/.exec(l)?.[1]));
    assert.ok(nums.length > 10 && nums.length < 60, `${nums.length} lines kept`);
    assert.ok(nums.every((n, i) => i === 0 || n === nums[i - 1]! + 1), 'consecutive');
    assert.equal(nums.at(-1), 199);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('--log-opt max-size with max-file=3: a burst while the container runs is cut into max-size files at the next look; a follower misses nothing', async () => {
  // a quiet start (the looks slow down to a second), then 400 lines at once, then quiet again
  const id = (await ok(['run', '-d', '--log-opt', 'max-size=1k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c',
    'sleep 2; i=0; while [ $i -lt 400 ]; do echo burst-line-$i; i=$((i+1)); done; echo end; sleep 600'])).trim();
  try {
    const follow = docker(d, ['logs', '-f', id], { timeoutMs: 60_000 });
    const logPath = (await ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
    const sizes = async () => Promise.all([logPath, `${logPath}.1`, `${logPath}.2`].map((f) => fs.stat(f).then((s) => s.size, () => 0)));
    await waitFor(async () => (await ok(['logs', '--tail', '1', id])) === 'end\n', 20_000, 'the burst');
    await waitFor(async () => (await sizes()).every((n) => n <= 1024), 5_000, 'every file within max-size');
    const nums = (await ok(['logs', id])).trimEnd().split('\n').slice(0, -1).map((l) => Number(/^burst-line-(\d+)$/.exec(l)?.[1]));
    assert.ok(nums.length > 20 && nums.length < 200, `${nums.length} lines kept`);
    assert.ok(nums.every((n, i) => i === 0 || n === nums[i - 1]! + 1), 'consecutive');
    assert.equal(nums.at(-1), 399);
    await ok(['kill', id]);
    const f = await follow;
    assert.deepEqual(f.stdout.trimEnd().split('\n'), [...Array.from({ length: 400 }, (_, i) => `burst-line-${i}`), 'end'], `the follower: ${f.stderr}`);
  } finally {
    await ok(['rm', '-f', id]);
  }
});

test('--log-opt max-size with max-file=4: bursts one after another are cut as one stream, every file full, the newest bursts whole (json-file\'s retention)', async () => {
  // each burst a little past max-size (500 records of ~43 bytes in the CRI log), a quiet between
  const id = (await ok(['run', '-d', '--log-opt', 'max-size=20k', '--log-opt', 'max-file=4', 'busybox', 'sh', '-c',
    'sleep 1; i=0; while [ $i -lt 3 ]; do seq 1 500 | sed "s/^/b$i-/"; i=$((i+1)); sleep 1.5; done; echo END; sleep 600'])).trim();
  try {
    await waitFor(async () => (await ok(['logs', '--tail', '1', id])) === 'END\n', 30_000, 'the bursts');
    const logPath = (await ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
    const sizes = async () => Promise.all([1, 2, 3].map((i) => fs.stat(`${logPath}.${i}`).then((s) => s.size, () => 0)));
    await waitFor(async () => (await sizes()).every((n) => n > 0 && n <= 20_000), 5_000, 'three rotated files within max-size');
    // no short file between full ones: the three rotated files are nearly full
    assert.ok((await sizes()).every((n) => n > 20_000 - 100), `${await sizes()}`);
    const byBurst: Record<string, number> = {};
    for (const l of (await ok(['logs', id])).trimEnd().split('\n')) byBurst[l.split('-')[0]!] = (byBurst[l.split('-')[0]!] ?? 0) + 1;
    assert.deepEqual([byBurst.b1, byBurst.b2, byBurst.END], [500, 500, 1], JSON.stringify(byBurst));
  } finally {
    await ok(['rm', '-f', id]);
  }
});
