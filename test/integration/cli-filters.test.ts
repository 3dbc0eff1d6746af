// List filters through the stock docker CLI (20.10) and through tsula's own, against one
// private tsulad: `images busybox`, reference globs, dangling, before/since, `ps -f` by
// status, exit code, label, name, ancestor and position, `events -f`; unknown keys refused as
// dockerd refuses them; both JSON encodings of the filters parameter on the raw API. Then
// what --format templates and -s print (docker's structs), through both CLIs.
import { statSync } from 'node:fs';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('cli-filters', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
let t0 = 0;

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  t0 = Math.floor(Date.now() / 1000) - 1;
  await d.loadBusybox();
  await d.ok(['tag', 'busybox', 'busybox:v2']);
  await d.ok(['tag', 'busybox', 'other/thing:1']);
  // a dangling image: layered loaded, then its name given to busybox
  await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  await d.ok(['tag', 'busybox', 'layered:latest']);
  await d.ok(['run', '-d', '--name', 'web', '--label', 'tier=front', 'busybox', 'sh', '-c', 'echo hello > /greeting; sleep 300']);
  await d.ok(['run', '--name', 'done', 'busybox', 'sh', '-c', 'exit 3']).catch(() => '');
  await d.ok(['create', '--name', 'fresh', 'busybox', 'true']);
});

after(async () => { await d?.destroy(); });

const both = async (args: string[]) => {
  const [t, k] = await Promise.all([d.cli(args), docker(d, args)]);
  return { tsula: t, docker: k };
};
const rows = (s: string) => s.split('\n').filter(Boolean);

test('images REPOSITORY and reference globs: the matching tags only, through both CLIs', async () => {
  const fmt = ['--format', '{{.Repository}}:{{.Tag}}'];
  for (const [args, want] of [
    [['images', 'busybox'], ['busybox:latest', 'busybox:v2']],
    [['images', '-f', 'reference=busy*:*'], ['busybox:latest', 'busybox:v2']],
    [['images', '-f', 'reference=*:v2'], ['busybox:v2']],
    [['images', '-f', 'reference=other/*'], ['other/thing:1']],
    [['image', 'ls', 'busybox:v2'], ['busybox:v2']],
  ] as const) {
    const r = await both([...args, ...fmt]);
    assert.equal(r.tsula.code, 0, r.tsula.stderr);
    assert.equal(r.docker.code, 0, r.docker.stderr);
    assert.deepEqual(rows(r.tsula.stdout).sort(), [...want], args.join(' '));
    assert.deepEqual(rows(r.docker.stdout).sort(), [...want], `docker ${args.join(' ')}`);
  }
});

test('images -f dangling / before / since; a bad value and an unknown key are refused', async () => {
  const dangling = await both(['images', '-f', 'dangling=true', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.deepEqual(rows(dangling.tsula.stdout), ['<none>:<none>']);
  assert.equal(dangling.docker.stdout, dangling.tsula.stdout);
  const notDangling = await d.ok(['images', '-f', 'dangling=false', '--format', '{{.Repository}}']);
  assert.ok(!rows(notDangling).includes('<none>'), notDangling);
  // before= and since= compare creation times strictly: the test images share theirs (the
  // unit tests order distinct ones), so neither lists the other; a name that is no image is a 404
  assert.equal((await d.ok(['image', 'inspect', '-f', '{{.Created}}', 'busybox'])).trim(), '2024-01-01T00:00:00Z');
  for (const f of ['before=busybox', 'since=busybox']) {
    const r = await both(['images', '-f', f, '--format', '{{.Repository}}']);
    assert.deepEqual([r.tsula.code, r.tsula.stdout], [0, ''], f);
    assert.equal(r.docker.stdout, r.tsula.stdout);
  }
  const missing = await both(['images', '-f', 'before=nothing:here']);
  assert.equal(missing.tsula.code, 1);
  assert.match(missing.tsula.stderr, /^Error response from daemon: .*nothing:here/);
  assert.equal(missing.docker.stderr, missing.tsula.stderr);
  for (const [args, msg] of [
    [['images', '-f', 'dangling=maybe'], "Invalid filter 'dangling=[maybe]'"],
    [['images', '-f', 'bogus=1'], "Invalid filter 'bogus'"],
    [['ps', '-f', 'bogus=1'], "Invalid filter 'bogus'"],
    [['ps', '-f', 'status=sleepy'], "Invalid filter 'status=sleepy'"],
  ] as const) {
    const r = await both([...args]);
    assert.equal(r.tsula.code, 1, args.join(' '));
    assert.equal(r.tsula.stderr, `Error response from daemon: ${msg}\n`);
    assert.equal(r.docker.code, 1);
    assert.equal(r.docker.stderr, `Error response from daemon: ${msg}\n`);
  }
});

test('ps -f status=exited (docker CLI and tsula), exited, label, name, ancestor, before, since', async () => {
  const names = (s: string) => rows(s).sort();
  const exited = await both(['ps', '-f', 'status=exited', '--format', '{{.Names}} {{.Status}}']);
  assert.equal(exited.docker.code, 0, exited.docker.stderr);
  assert.match(exited.docker.stdout, /^done Exited \(3\) .* ago\n$/);
  // the two run a moment apart: "1 second ago" may be "2 seconds ago" for the second one
  const sinceNow = (s: string) => s.replace(/\) (\d+ seconds?|Less than a second) ago/g, ') N ago');
  assert.equal(sinceNow(exited.tsula.stdout), sinceNow(exited.docker.stdout));
  assert.match(exited.tsula.stdout, /^done Exited \(3\) (\d+ seconds?|Less than a second) ago\n$/);
  for (const [args, want] of [
    [['ps', '-a', '-f', 'exited=3'], ['done']],
    [['ps', '-f', 'label=tier=front'], ['web']],
    [['ps', '-a', '-f', 'name=^fr'], ['fresh']],
    [['ps', '-a', '-f', 'status=created', '-f', 'status=running'], ['fresh', 'web']],
    [['ps', '-f', 'ancestor=busybox'], ['web']],
    [['ps', '-a', '-f', 'before=fresh'], ['done', 'web']],
    [['ps', '-a', '-f', 'since=web'], ['done', 'fresh']],
    [['container', 'ls', '-a', '-f', 'health=none', '-f', 'is-task=false'], ['done', 'fresh', 'web']],
  ] as const) {
    const r = await both([...args, '--format', '{{.Names}}']);
    assert.equal(r.tsula.code, 0, r.tsula.stderr);
    assert.deepEqual(names(r.tsula.stdout), [...want], args.join(' '));
    assert.deepEqual(names(r.docker.stdout), [...want], `docker ${args.join(' ')}`);
  }
});

test('events -f: event, container, type, image, label, through both CLIs', async () => {
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const window = ['--since', String(t0), '--until', until];
  const actions = (s: string) => rows(s).map((l) => l.split(' ').slice(1, 3).join(' '));
  for (const [filters, want] of [
    [['event=die'], ['container die']],
    [['container=web', 'event=start'], ['container start']],
    [['type=image', 'event=tag'], ['image tag', 'image tag', 'image tag']],
    [['label=tier=front', 'event=create'], ['container create']],
    [['image=busybox', 'event=create'], ['container create', 'container create', 'container create']],
  ] as const) {
    const args = ['events', ...window, ...filters.flatMap((f) => ['-f', f])];
    const r = await both(args);
    assert.equal(r.tsula.code, 0, r.tsula.stderr);
    assert.deepEqual(actions(r.tsula.stdout), [...want], args.join(' '));
    assert.equal(r.docker.stdout, r.tsula.stdout, `docker ${args.join(' ')}`);
  }
});

test('the filters parameter: both JSON encodings; unknown keys and malformed JSON are 400s', async () => {
  const q = (f: unknown) => `/v1.41/containers/json?all=1&filters=${encodeURIComponent(JSON.stringify(f))}`;
  const sets = await d.api('GET', q({ status: { exited: true } }));
  const arrays = await d.api('GET', q({ status: ['exited'] }));
  assert.equal(sets.status, 200);
  assert.deepEqual(JSON.parse(sets.body).map((c: { Names: string[] }) => c.Names), [['/done']]);
  assert.equal(arrays.body, sets.body);
  const imgs = await d.api('GET', `/v1.41/images/json?filters=${encodeURIComponent('{"reference":["busybox:v2"]}')}`);
  assert.deepEqual(JSON.parse(imgs.body).map((i: { RepoTags: string[] }) => i.RepoTags), [['busybox:v2']]);
  const bad = await d.api('GET', `/v1.41/images/json?filters=${encodeURIComponent('{"bogus":{"x":true}}')}`);
  assert.deepEqual([bad.status, JSON.parse(bad.body)], [400, { message: "Invalid filter 'bogus'" }]);
  const malformed = await d.api('GET', '/v1.41/containers/json?filters=%7B');
  assert.equal(malformed.status, 400);
  assert.match(JSON.parse(malformed.body).message, /^invalid filters/);
});

test('templates on docker\'s structs and -s sizes, as the docker CLI prints them', async () => {
  for (const args of [
    // the typed run (Go names, zero values), and the raw one docker falls back to (JSON names)
    ['inspect', '-f', '[{{.NetworkSettings.IPAddress}}] {{.ID}} {{.State.Health}} {{.Config.Labels.nope}} {{index .Config.Labels "tier"}}', 'web'],
    ['inspect', '-f', '{{.Id}} {{.HostConfig.NanoCpus}}', 'web'],
    ['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'web'],
    ['container', 'inspect', '-f', '{{.HostConfig.NanoCPUs}} {{.GraphDriver.Data}}', 'web'],
    ['version', '-f', '{{.Server.APIVersion}} {{.Client.APIVersion}}'],
    ['ps', '-s', '--format', '{{.Names}} {{.Size}}'],
  ]) {
    const r = await both(args);
    assert.equal(r.tsula.code, 0, `${args.join(' ')}: ${r.tsula.stderr}`);
    assert.equal(r.docker.code, 0, `docker ${args.join(' ')}: ${r.docker.stderr}`);
    assert.equal(r.tsula.stdout, r.docker.stdout, args.join(' '));
  }
  const [rw, rootfs] = (await d.ok(['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'web'])).trim().split(' ').map(Number);
  assert.ok(rw! >= 6 && rootfs! > rw!, `${rw} ${rootfs}`);
  assert.equal((await d.ok(['version', '-f', '{{.Server.APIVersion}}'])).trim(), '1.52');
  assert.match(await d.ok(['ps', '-s']), /\s6B \(virtual \d/);
});

test("list rows are docker's formatter contexts: {{json .}}, .Size asked for, a field they lack; -q per row; history -H=false", async () => {
  // two runs a moment apart may differ by a second in "N seconds ago"
  const ago = (s: string) => s.replace(/(\d+ seconds?|Less than a second|About a minute) ago/g, 'N ago');
  for (const args of [
    ['ps', '-a', '--format', '{{json .}}'],
    ['ps', '-a', '--format', '{{.Names}} {{.Size}}'],
    ['images', '--format', '{{json .}}'],
    ['images', '--format', '{{.Repository}}:{{.Tag}} {{.VirtualSize}}'],
    ['images', '-q'],
    ['history', '-H=false', 'busybox'],
    ['history', '--format', '{{json .}}', 'busybox'],
    ['network', 'ls', '--format', '{{json .}}'],
    ['volume', 'ls', '--format', '{{json .}}'],
  ]) {
    const r = await both(args);
    assert.equal(r.tsula.code, 0, `${args.join(' ')}: ${r.tsula.stderr}`);
    // docker 20.10 ranges over an image's repositories in Go's map order: its rows, sorted
    const lines = (s: string) => (args[0] === 'images' ? rows(ago(s)).sort() : rows(ago(s)));
    assert.deepEqual(lines(r.tsula.stdout), lines(r.docker.stdout), args.join(' '));
  }
  // docker 20.10 prints an image's ID once per tag; {{json .}} reads .Size, so sizes come
  assert.equal(rows((await d.ok(['images', '-q'])).trim()).length, rows(await d.ok(['images', '--format', '{{.ID}}'])).length);
  assert.match(await d.ok(['ps', '--format', '{{json .}}']), /"Ports":"","RunningFor":.*,"Size":"\d+B \(virtual /);
  for (const args of [
    ['ps', '--format', '{{.Foo}}'], ['ps', '-a', '--format', '{{.Names'], ['images', '--format', '{{.Foo}}'],
    ['history', '--format', '{{.Foo}}', 'busybox'], ['network', 'ls', '--format', '{{.Foo}}'], ['volume', 'ls', '--format', '{{.Foo}}'],
    // inspect's template that does not parse: docker's StatusError 64
    ['inspect', '-f', '{{.Id', 'busybox'],
  ]) {
    const r = await both(args);
    // (a list with no rows runs no template: volume ls here is fine either way)
    assert.deepEqual([r.tsula.code, r.tsula.stdout, r.tsula.stderr], [r.docker.code, r.docker.stdout, r.docker.stderr], args.join(' '));
  }
  // save -o: docker's checks of the path before the request (a device is refused: /dev/null stays)
  for (const args of [['save', '-o', '/nonexistent-dir/x.tar', 'busybox'], ['save', '-o', '/dev/null', 'busybox']]) {
    const r = await both(args);
    assert.deepEqual([r.tsula.code, r.tsula.stderr], [r.docker.code, r.docker.stderr], args.join(' '));
  }
  assert.ok(statSync('/dev/null').isCharacterDevice());
  // an event's timeNano is exact in a template (a double would round it)
  // (a window that ended: no event may still come into it between the two runs)
  const win = ['--since', String(Math.floor(Date.now() / 1000) - 600), '--until', String(Math.floor(Date.now() / 1000) - 2)];
  const ev = await both(['events', ...win, '--format', '{{.TimeNano}} {{json .TimeNano}} {{.Time}}']);
  assert.deepEqual([ev.tsula.code, ev.tsula.stdout], [ev.docker.code, ev.docker.stdout]);
  assert.ok(ev.tsula.stdout.length > 0, 'some events in the window');
  // ps runs its template on an empty row first: refused even with nothing to list
  assert.equal((await d.cli(['ps', '-f', 'name=nothing-so-named', '--format', '{{.Foo}}'])).stderr,
    'failed to execute template: template: :1:2: executing "" at <.Foo>: can\'t evaluate field Foo in type *formatter.ContainerContext\n');
});

test("inspect finds networks and volumes; missing objects, rm -f, rename, tag, a second start: docker's words and codes", async () => {
  await d.ok(['volume', 'create', 'vol1']);
  try {
    const cases = [
      ['inspect', '-f', '{{.Name}}', 'bridge'], ['inspect', '-f', '{{.Name}} {{.Driver}}', 'vol1'],
      ['inspect', '--type', 'volume', '-f', '{{.Mountpoint}}', 'vol1'], ['inspect', '--type', 'network', '-f', '{{.Driver}}', 'bridge'],
      ['inspect', '-f', '{{.Name}}', 'nosuch'], ['inspect', '-f', '{{.Nope}}', 'vol1'], ['network', 'inspect', '-f', '{{.Nope}}', 'bridge'],
      ['logs', 'nosuch'], ['attach', 'nosuch'], ['exec', 'nosuch', 'true'], ['port', 'nosuch'], ['rm', 'nosuch'], ['rm', '-f', 'nosuch'],
      ['rmi', 'nosuch'], ['rmi', '-f', 'nosuch', 'nothing:here'], ['network', 'rm', 'nosuch'], ['volume', 'rm', 'nosuch'], ['rename', 'nosuch', 'x'], ['rename', 'web', 'done'],
      ['logs', '--since', 'bogus', 'web'], ['tag', 'busybox', 'BAD'], ['tag', 'busybox', `x@sha256:${'0'.repeat(64)}`], ['start', 'web'],
    ];
    for (const args of cases) {
      const r = await both(args);
      assert.deepEqual([r.tsula.code, r.tsula.stdout, r.tsula.stderr], [r.docker.code, r.docker.stdout, r.docker.stderr.replace(/docker/g, 'tsula')], args.join(' '));
    }
    assert.equal((await d.cli(['rm', 'nosuch'])).stderr, 'Error: No such container: nosuch\n');
    assert.deepEqual(await d.cli(['start', 'web']).then((r) => [r.code, r.stdout]), [0, 'web\n']);
  } finally {
    await d.cli(['volume', 'rm', 'vol1']);
  }
});

test('global flags: TSULA_HOST (DOCKER_HOST is dockerd\'s), --config, --log-level as docker takes them', async () => {
  const { spawnSync } = await import('node:child_process');
  const { TSULA } = await import('../helpers/daemon.js');
  const tsula = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(TSULA, args, { encoding: 'utf8', env: { ...process.env, TSULA_HOST: '', DOCKER_HOST: '', ...env } });
  const viaEnv = tsula(['ps', '-a', '--format', '{{.Names}}'], { TSULA_HOST: `unix://${d.sock}`, DOCKER_HOST: 'unix:///nonexistent.sock' });
  assert.equal(viaEnv.status, 0, viaEnv.stderr);
  assert.deepEqual(rows(viaEnv.stdout).sort(), ['done', 'fresh', 'web']);
  // -H comes first
  assert.equal(tsula(['-H', 'unix:///nonexistent.sock', 'ps'], { TSULA_HOST: `unix://${d.sock}` }).status, 1);
  // --config DIR: the logins are DIR/config.json's
  const { promises: fs } = await import('node:fs');
  const cfgDir = path.join(d.dir, 'client-config');
  await fs.mkdir(cfgDir, { recursive: true });
  await fs.writeFile(path.join(cfgDir, 'config.json'), JSON.stringify({ auths: { '127.0.0.1:5999': { auth: 'dTpw' } } }));
  const cfg = tsula(['--config', cfgDir, '-l', 'error', '-H', `unix://${d.sock}`, 'logout', '127.0.0.1:5999']);
  assert.deepEqual([cfg.status, cfg.stdout], [0, 'Removing login credentials for 127.0.0.1:5999\n'], cfg.stderr);
  assert.deepEqual(JSON.parse(await fs.readFile(path.join(cfgDir, 'config.json'), 'utf8')).auths, {});
  const bad = tsula(['-l', 'bogus', '-H', `unix://${d.sock}`, 'ps']);
  assert.deepEqual([bad.status, bad.stderr], [1, 'Unable to parse logging level: bogus\n']);
});

test("events, info and version --format as docker's: events.Message (its field order, <no value>, a bad field before any event), exit 64 for a template that does not parse", async () => {
  const until = String(Math.floor(Date.now() / 1000) + 1);
  const window = ['--since', String(t0), '--until', until];
  for (const args of [
    ['events', ...window, '--format', '{{json .}}'],
    ['events', ...window, '--format', '{{.Type}} {{.Status}} {{.ID}} {{.Actor.Attributes.name}} {{.Actor.Attributes.nope}}'],
    ['events', ...window, '--format', 'table {{.Type}}\\t{{.Action}}'],
    ['events', ...window, '--format', '{{.status}}'],
    ['events', ...window, '--format', '{{.Type'],
    ['info', '--format', '{{.Nope}}'], ['info', '--format', '{{.Nope'], ['version', '--format', '{{.Nope}}'], ['version', '--format', '{{.Nope'],
  ]) {
    const r = await both(args);
    assert.deepEqual([r.tsula.code, r.tsula.stdout, r.tsula.stderr], [r.docker.code, r.docker.stdout, r.docker.stderr], args.join(' '));
  }
  const bad = await d.cli(['events', ...window, '--format', '{{.status}}']);
  assert.deepEqual([bad.code, bad.stderr], [64, 'Error parsing format: template: :1:2: executing "" at <.status>: can\'t evaluate field status in type *events.Message\n']);
  // version's Built in Go's ANSIC; info's Server part ends with an empty line
  const [mine, theirs] = await Promise.all([d.ok(['version']), docker(d, ['version'])]);
  const built = (s: string) => /^ {2}Built:\s+(.*)$/m.exec(s.slice(s.indexOf('Server:')))?.[1];
  assert.equal(built(mine), built(theirs.stdout));
  assert.match(built(mine)!, /^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  const [infoMine, infoTheirs] = await Promise.all([d.ok(['info']), docker(d, ['info'])]);
  assert.equal(infoMine.slice(-30), infoTheirs.stdout.slice(-30));
  assert.match(infoMine, /^Client:\n Context: {4}\S+\n Debug Mode: false\n\nServer:\n/);
});
