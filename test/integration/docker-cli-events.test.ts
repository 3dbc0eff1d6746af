// `docker events` (the stock 20.10 CLI) against tsulad as against dockerd: without --since
// only new events; --since replays then streams; --until in the past ends after the replay,
// ahead it ends then; since after until is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerEnv, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-events', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
const procs: ChildProcess[] = [];
const FORMAT = '{{.Action}} {{.Actor.Attributes.name}}';

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  await d?.destroy();
});

const now = () => (Date.now() / 1000).toFixed(3);

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

/** `docker events args...` left running; its lines so far, and its end. */
function events(args: string[]): { lines: () => string[]; done: Promise<number>; stop: () => void } {
  const p = spawn(dockerCliPath(), ['events', '--format', FORMAT, ...args], { env: dockerEnv(d), stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  p.stdout!.on('data', (c: Buffer) => { out += c.toString(); });
  const done = new Promise<number>((resolve) => p.on('close', (code) => resolve(code ?? -1)));
  return { lines: () => out.split('\n').filter(Boolean), done, stop: () => p.kill('SIGTERM') };
}

/** Make events until the stream shows one: from then on it is surely subscribed. */
async function subscribed(ev: { lines: () => string[] }, tag: string): Promise<void> {
  let i = 0;
  await waitFor(async () => {
    await ok(['create', '--name', `${tag}-mark${i++}`, 'busybox', 'true']);
    return ev.lines().some((l) => l.startsWith(`create ${tag}-mark`));
  }, 30_000, 'the events stream');
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

test('docker events without --since streams only what happens from then on', async () => {
  await ok(['create', '--name', 'old1', 'busybox', 'true']);
  await ok(['rm', 'old1']);
  const ev = events([]);
  await subscribed(ev, 'plain');
  await ok(['run', '--rm', '--name', 'new1', 'busybox', 'true']);
  await waitFor(async () => ev.lines().includes('destroy new1'), 20_000, 'the destroy of new1');
  ev.stop();
  await ev.done;
  assert.deepEqual(ev.lines().filter((l) => l.endsWith(' old1')), [], 'no past events');
  assert.deepEqual(ev.lines().filter((l) => l.endsWith(' new1')).slice(0, 1), ['create new1']);
});

test('--since with --until in the past: the window replayed, then the end', async () => {
  const since = now();
  await ok(['run', '--name', 'win1', 'busybox', 'true']);
  await ok(['rm', 'win1']);
  const until = now();
  await ok(['create', '--name', 'after1', 'busybox', 'true']);
  const r = await docker(d, ['events', '--since', since, '--until', until, '--format', FORMAT], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter(Boolean);
  assert.deepEqual(lines.filter((l) => l.endsWith(' win1')).map((l) => l.split(' ')[0]),
    ['create', 'attach', 'start', 'die', 'destroy']);
  assert.ok(!lines.some((l) => l.endsWith(' after1')), 'nothing after --until');
  assert.ok(lines.every((l) => l.endsWith(' win1')), 'nothing before --since');
});

test('--since alone: the past from then, then what comes', async () => {
  const since = now();
  await ok(['create', '--name', 'since1', 'busybox', 'true']);
  const ev = events(['--since', since, '--filter', 'container=since1']);
  await waitFor(async () => ev.lines().includes('create since1'), 15_000, 'the replayed create');
  await ok(['start', 'since1']);
  await waitFor(async () => ev.lines().includes('die since1'), 15_000, 'the live die');
  ev.stop();
  await ev.done;
  assert.deepEqual(ev.lines().slice(0, 3), ['create since1', 'start since1', 'die since1']);
  await ok(['rm', 'since1']);
});

test('--until ahead: everything kept up to then, what comes meanwhile, and the end at that time', async () => {
  await ok(['create', '--name', 'kept1', 'busybox', 'true']);
  const until = Date.now() / 1000 + 4;
  const ev = events(['--until', until.toFixed(3)]);
  await waitFor(async () => ev.lines().includes('create kept1'), 15_000, 'the replay');
  await ok(['create', '--name', 'during1', 'busybox', 'true']);
  const code = await within(ev.done, 20_000, 'the end of the stream at --until');
  assert.equal(code, 0);
  assert.ok(Date.now() / 1000 >= until - 0.1, 'ended at --until, not before');
  assert.ok(ev.lines().includes('create during1'), ev.lines().join('\n'));
});

test('docker stop and restart log a kill event for each signal: 15, then 9 at the timeout, before the die', async () => {
  const since = now();
  await ok(['run', '-d', '--name', 'stop1', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.1; done']);
  await ok(['stop', '-t', '5', 'stop1']); // it ends at the SIGTERM
  // a PID 1 that ignores SIGTERM: SIGKILL after the timeout
  await ok(['run', '-d', '--name', 'stop2', 'busybox', 'sh', '-c', 'trap "" TERM; while :; do sleep 0.1; done']);
  await ok(['restart', '-t', '1', 'stop2']);
  await ok(['rm', '-f', 'stop1', 'stop2']);
  const until = now();
  const r = await docker(d, ['events', '--since', since, '--until', until, '--filter', 'event=kill', '--filter', 'event=die', '--filter', 'event=stop', '--filter', 'event=restart',
    '--format', '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.signal}}'], { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  const of = (name: string) => r.stdout.split('\n').filter((l) => l.includes(` ${name} `) || l.endsWith(` ${name}`)).map((l) => l.replace(' <no value>', '').trim());
  assert.deepEqual(of('stop1').slice(0, 3), ['kill stop1 15', 'die stop1', 'stop stop1']);
  assert.deepEqual(of('stop2').slice(0, 5), ['kill stop2 15', 'kill stop2 9', 'die stop2', 'stop stop2', 'restart stop2']);
  // rm -f of a running container: dockerd's cleanupContainer kills through Kill, which logs it
  assert.deepEqual(of('stop2').slice(5), ['kill stop2 9', 'die stop2']);
});

test('parallel rm -f of one container: one removes it, the others get dockerd\'s conflict (or find it gone); parallel restarts all succeed', async () => {
  await ok(['run', '-d', '--name', 'rr', 'busybox', 'sleep', '300']);
  const restarts = await Promise.all(Array.from({ length: 6 }, () => docker(d, ['restart', '-t', '1', 'rr'])));
  assert.deepEqual(restarts.map((r) => r.code), Array(6).fill(0), restarts.map((r) => r.stderr).join(''));
  assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'rr'])).trim(), 'running');
  const rms = await Promise.all(Array.from({ length: 8 }, () => d.api('DELETE', '/containers/rr?force=1')));
  assert.equal(rms.filter((r) => r.status === 204).length, 1, rms.map((r) => `${r.status} ${r.body}`).join('\n'));
  for (const r of rms.filter((x) => x.status !== 204)) assert.match(`${r.status} ${r.body}`, /^409 .*removal of container [0-9a-f]{64} is already in progress|^404 .*No such container/);
});

test('--since after --until is refused', async () => {
  const r = await docker(d, ['events', '--since', '2000', '--until', '1000']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /`since` time \(2000(\.0+)?\) cannot be after `until` time \(1000(\.0+)?\)/);
});

test('network and volume events: create, connect and mount at the start, disconnect and unmount at the exit, destroy', async () => {
  const since = now();
  await ok(['network', 'create', 'evnet']);
  await ok(['volume', 'create', 'evvol']);
  const id = (await ok(['run', '-d', '--network', 'evnet', '-v', 'evvol:/data:ro', 'busybox', 'true'])).trim();
  assert.equal((await ok(['wait', id])).trim(), '0');
  await ok(['rm', id]);
  await ok(['network', 'rm', 'evnet']);
  await ok(['volume', 'rm', 'evvol']);
  // until a moment ahead: the replay, then the end at that time
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const fmt = '{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.container}} {{.Actor.Attributes.type}}';
  const net = (await ok(['events', '--since', since, '--until', until, '--filter', 'network=evnet', '--format', fmt])).trim().split('\n');
  assert.deepEqual(net, ['create evnet <no value> bridge', `connect evnet ${id} bridge`, `disconnect evnet ${id} bridge`, 'destroy evnet <no value> bridge']);
  const volFmt = '{{.Type}} {{.Action}} {{.Actor.ID}} {{.Actor.Attributes.container}} {{index .Actor.Attributes "read/write"}}';
  const vol = (await ok(['events', '--since', since, '--until', until, '--filter', 'volume=evvol', '--format', volFmt])).trim().split('\n').map((l) => l.trimEnd());
  assert.deepEqual(vol, ['volume create evvol <no value>', `volume mount evvol ${id} false`, `volume unmount evvol ${id}`, 'volume destroy evvol <no value>']);
  // dockerd's order at a start: the network joined, the volumes mounted, then the start
  const all = (await ok(['events', '--since', since, '--until', until, '--format', '{{.Type}} {{.Action}}'])).trim().split('\n');
  assert.deepEqual(all.filter((l) => ['network connect', 'volume mount', 'container start'].includes(l)), ['network connect', 'volume mount', 'container start']);
  // and at the exit dockerd's Cleanup comes before the die (and before a waiter wakes)
  assert.deepEqual(all.filter((l) => ['network disconnect', 'volume unmount', 'container die'].includes(l)), ['network disconnect', 'volume unmount', 'container die']);
});

test('docker stop returns with the address released, as dockerd (Cleanup before SetStopped): inspect shows none, the next container gets it', async () => {
  await ok(['network', 'create', '--subnet', '10.231.7.0/24', 'evstop']);
  try {
    const a = (await ok(['run', '-d', '--network', 'evstop', 'busybox', 'sleep', '60'])).trim();
    const ipFmt = '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}';
    assert.equal((await ok(['inspect', '-f', ipFmt, a])).trim(), '10.231.7.2');
    await ok(['stop', '-t', '0', a]);
    assert.equal((await ok(['inspect', '-f', ipFmt, a])).trim(), '');
    const b = (await ok(['run', '-d', '--network', 'evstop', 'busybox', 'sleep', '60'])).trim();
    assert.equal((await ok(['inspect', '-f', ipFmt, b])).trim(), '10.231.7.2');
    await ok(['rm', '-f', a, b]);
  } finally {
    await ok(['network', 'rm', 'evstop']).catch(() => '');
  }
});

test('docker top logs a top event (dockerd\'s ContainerTop); below API 1.20 a stopped container\'s kill is a 204', async () => {
  const since = now();
  await ok(['run', '-d', '--name', 'topev', 'busybox', 'sleep', '300']);
  await ok(['top', 'topev']);
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const out = (await ok(['events', '--since', since, '--until', until, '--filter', 'event=top', '--format', '{{.Action}} {{.Actor.Attributes.name}}'])).trim();
  assert.equal(out, 'top topev');
  await ok(['rm', '-f', 'topev']);
  await ok(['create', '--name', 'killold', 'busybox', 'true']);
  assert.equal((await d.api('POST', '/v1.19/containers/killold/kill')).status, 204);
  const now20 = await d.api('POST', '/v1.20/containers/killold/kill');
  assert.equal(now20.status, 409);
  assert.match(JSON.parse(now20.body).message, /^Cannot kill container: killold: /);
  await ok(['rm', 'killold']);
});

test('docker exec: exec_create, exec_start and exec_die with the exec id and the container\'s labels, as dockerd logs them', async () => {
  const since = now();
  await ok(['run', '-d', '--name', 'exev', '--label', 'ev.role=probe', 'busybox', 'sleep', '300']);
  await ok(['exec', 'exev', 'sh', '-c', 'exit 0']);
  const until = (Date.now() / 1000 + 1).toFixed(3);
  // a label filter finds them: dockerd's LogContainerEventWithAttributes copies the labels in
  const out = (await ok(['events', '--since', since, '--until', until, '--filter', 'label=ev.role=probe', '--filter', 'event=exec_create',
    '--filter', 'event=exec_start', '--filter', 'event=exec_die', '--format', '{{.Action}}|{{.Actor.Attributes.execID}}|{{index .Actor.Attributes "ev.role"}}|{{.Actor.Attributes.name}}'])).trim().split('\n');
  assert.deepEqual(out.map((l) => l.split('|')[0]), ['exec_create: sh -c exit 0', 'exec_start: sh -c exit 0', 'exec_die']);
  assert.deepEqual(out.map((l) => l.split('|').slice(2).join('|')), ['probe|exev', 'probe|exev', 'probe|exev']);
  const ids = new Set(out.map((l) => l.split('|')[1]));
  assert.equal(ids.size, 1);
  assert.match([...ids][0]!, /^[0-9a-f]{64}$/);
  await ok(['rm', '-f', 'exev']);
});

test('image events carry the image id as dockerd logs them: tag, save, untag, load; a filter by id sees them all', async () => {
  const since = now();
  const id = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  await ok(['tag', 'busybox', 'evimg:1']);
  await ok(['tag', 'busybox', 'evimg:2']);
  const tar = `${d.dir}/evimg.tar`;
  await ok(['save', '-o', tar, 'evimg:1', 'evimg:2']);
  await ok(['rmi', 'evimg:1']);
  await ok(['load', '-i', tar]);
  await ok(['rmi', 'evimg:1', 'evimg:2']);
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const got = (await ok(['events', '--since', since, '--until', until, '--filter', `image=${id}`, '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'])).trim().split('\n');
  assert.deepEqual(got, [
    `tag ${id} evimg:1`, `tag ${id} evimg:2`, `save ${id} ${id}`, `untag ${id} ${id}`, `load ${id} ${id}`, `untag ${id} ${id}`, `untag ${id} ${id}`,
  ]);
});

test('image events carry the image\'s labels as dockerd\'s LogImageEvent copies them: a label filter sees commit, tag, save, untag, load, import, build; delete has none', async () => {
  const since = now();
  await ok(['create', '--name', 'evlabc', 'busybox', 'true']);
  const c = (await ok(['commit', '--change', 'LABEL ev.img=yes', 'evlabc', 'evlab:1'])).trim();
  await ok(['tag', 'evlab:1', 'evlab:2']);
  const tar = `${d.dir}/evlab.tar`;
  await ok(['save', '-o', tar, 'evlab:1']);
  await ok(['rmi', 'evlab:2']);
  await ok(['load', '-i', tar]);
  await ok(['export', '-o', `${d.dir}/evlabc.tar`, 'evlabc']);
  const i = (await ok(['import', '--change', 'LABEL ev.img=yes', `${d.dir}/evlabc.tar`, 'evimp:1'])).trim();
  const built = await docker(d, ['build', '-q', '-t', 'evb:1', '-'], { input: 'FROM busybox\nLABEL ev.img=yes\n' });
  assert.equal(built.code, 0, built.stderr);
  const b = built.stdout.trim();
  await ok(['rm', 'evlabc']);
  await ok(['rmi', 'evlab:1', 'evimp:1', 'evb:1']);
  const until = (Date.now() / 1000 + 1).toFixed(3);
  const got = (await ok(['events', '--since', since, '--until', until, '--filter', 'type=image', '--filter', 'label=ev.img=yes',
    '--format', '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}'])).trim().split('\n');
  assert.deepEqual(got, [
    `tag ${c} evlab:1`, `tag ${c} evlab:2`, `save ${c} ${c}`, `untag ${c} ${c}`, `load ${c} ${c}`,
    `import ${i} ${i}`, `tag ${i} evimp:1`, `tag ${b} evb:1`, `untag ${c} ${c}`, `untag ${i} ${i}`, `untag ${b} ${b}`,
  ]);
  // dockerd logs delete once the image has left its store: no labels
  const del = (await ok(['events', '--since', since, '--until', until, '--filter', 'event=delete', '--filter', `image=${c}`,
    '--format', '{{.Action}} {{index .Actor.Attributes "ev.img"}}'])).trim();
  assert.equal(del, 'delete');
});
