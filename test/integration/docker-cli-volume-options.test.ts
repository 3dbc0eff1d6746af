// The local volume driver's options through the stock docker CLI: a tmpfs volume (its size
// and uid in the container, shared by two containers, unmounted after the last stops), a
// bind volume onto a host directory (what compose's driver_opts make: its files seen, the
// image's copied into an empty one, docker cp into a stopped container's), dockerd's
// refusals at create and at start, and tsulad's restarts: a running user keeps the mount,
// a crash between the mount and the start leaves nothing mounted. Every mount a test makes
// is under the daemon's dir: destroy() unmounts what a failed test left.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { deriveBusybox } from '../helpers/docker-images.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { daemonDied } from '../helpers/runtime-state.js';

requirePrerequisites('docker-cli-volume-options', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  const tar = path.join(d.dir, 'vol.tar');
  await deriveBusybox({ tag: 'withvol:1', config: { Volumes: { '/data': {} } }, files: { 'data/seed.txt': 'seeded by the image\n' } }, tar);
  await ok(['load', '-i', tar]);
});

after(async () => { await d?.destroy(); });

const ok = (args: string[]): Promise<string> => dockerOk(d, args);
const mountpoint = (name: string) => path.join(d.graph, 'volumes', name, '_data');

/** The host's mount table line for p (fs type and options), or null when nothing is mounted there. */
async function mountedAt(p: string): Promise<string | null> {
  const real = await fs.realpath(p).catch(() => p);
  const lines = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.split(' ')[1] === real);
  return lines.at(-1) ?? null;
}

/**
 * Nothing mounted on the volume's _data, soon: the stop's answer comes once the exit is known,
 * the release of what the container held (its volumes' mounts, as its network) follows it.
 */
async function unmounted(name: string, what: string): Promise<void> {
  await waitFor(async () => (await mountedAt(mountpoint(name))) === null, 10_000, `${name}: ${what}`);
}

/** A host directory under the daemon's dir (removed with it). */
async function hostDir(name: string, files: Record<string, string> = {}): Promise<string> {
  const dir = path.join(d.dir, name);
  await fs.mkdir(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) await fs.writeFile(path.join(dir, f), text);
  return dir;
}

test('a tmpfs volume: its size and uid in the container, shared by two, unmounted after the last stops', async () => {
  assert.equal((await ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=10m,uid=1000', 'tv'])).trim(), 'tv');
  const [v] = JSON.parse(await ok(['volume', 'inspect', 'tv']));
  assert.deepEqual(v.Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=10m,uid=1000' });
  assert.equal(v.Mountpoint, mountpoint('tv'));
  assert.equal(await mountedAt(mountpoint('tv')), null, 'mounted only when used');

  const a = (await ok(['run', '-d', '-v', 'tv:/t', 'busybox', 'sh', '-c', 'echo from-a > /t/shared; exec sleep 300'])).trim();
  const b = (await ok(['run', '-d', '-v', 'tv:/t', 'busybox', 'sleep', '300'])).trim();
  assert.match((await mountedAt(mountpoint('tv')))!, /^tmpfs \S+ tmpfs rw,.*size=10240k.*uid=1000/);
  const df = await ok(['exec', b, 'sh', '-c', 'df -k /t | tail -1; stat -c %u /t']);
  assert.match(df, /^tmpfs\s+10240\s+\d+\s+\d+\s+\d+% \/t$/m);
  assert.match(df, /^1000$/m);
  await waitFor(async () => (await docker(d, ['exec', b, 'cat', '/t/shared'])).stdout === 'from-a\n', 10_000, 'b to see a\'s file');

  await ok(['stop', '-t', '0', a]);
  assert.ok(await mountedAt(mountpoint('tv')), 'still mounted while b runs');
  assert.equal((await ok(['exec', b, 'cat', '/t/shared'])), 'from-a\n');
  await ok(['stop', '-t', '0', b]);
  await unmounted('tv', 'unmounted after the last user stopped');
  // a start mounts it again (a fresh tmpfs, as dockerd's)
  await ok(['start', a]);
  assert.ok(await mountedAt(mountpoint('tv')));
  await ok(['rm', '-f', a, b]);
  assert.equal(await mountedAt(mountpoint('tv')), null, 'rm waits for the exit\'s release');
  assert.equal((await ok(['volume', 'rm', 'tv'])).trim(), 'tv');

  // --mount's volume-opt makes the named volume with those options (dockerd's registerMountPoints)
  const df2 = await ok(['run', '--rm', '--mount', 'type=volume,src=mv,dst=/m,volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-opt=o=size=2m', 'busybox', 'df', '-k', '/m']);
  assert.match(df2, /^tmpfs\s+2048\s+/m);
  assert.deepEqual(JSON.parse(await ok(['volume', 'inspect', '-f', '{{json .Options}}', 'mv'])), { type: 'tmpfs', device: 'tmpfs', o: 'size=2m' });
  await unmounted('mv', 'unmounted after the --rm container');
  const badOpt = await docker(d, ['create', '--mount', 'type=volume,src=mv2,dst=/m,volume-opt=foo=1', 'busybox']);
  assert.match(badOpt.stderr, /create mv2: invalid option: "foo"/);
  await ok(['volume', 'rm', 'mv']);
});

test('a bind volume (type=none, o=bind): the host dir\'s files, the image\'s copied into an empty one, docker cp', async () => {
  const src = await hostDir('bind-src', { 'hello.txt': 'from the host\n' });
  await ok(['volume', 'create', '--driver', 'local', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${src}`, 'bv']);
  const out = await ok(['run', '--rm', '-v', 'bv:/w', 'busybox', 'sh', '-c', 'cat /w/hello.txt; echo back > /w/written']);
  assert.equal(out, 'from the host\n');
  assert.equal(await fs.readFile(path.join(src, 'written'), 'utf8'), 'back\n');
  assert.equal(await mountedAt(mountpoint('bv')), null);

  // the image's /data goes into the (empty) host dir at create, as dockerd copies into the mounted volume
  const empty = await hostDir('bind-empty');
  await ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${empty}`, 'bv2']);
  const c = (await ok(['create', '-v', 'bv2:/data', 'withvol:1', 'true'])).trim();
  assert.equal(await fs.readFile(path.join(empty, 'seed.txt'), 'utf8'), 'seeded by the image\n');
  assert.equal(await mountedAt(mountpoint('bv2')), null, 'the copy-up lets go of its mount');
  // docker cp into the stopped container's volume lands in the host dir (mounted for the copy)
  await fs.writeFile(path.join(d.dir, 'copied.txt'), 'copied\n');
  await ok(['cp', path.join(d.dir, 'copied.txt'), `${c}:/data/`]);
  assert.equal(await fs.readFile(path.join(empty, 'copied.txt'), 'utf8'), 'copied\n');
  assert.equal(await ok(['cp', `${c}:/data/seed.txt`, '-']).then((t) => t.includes('seeded by the image')), true);
  assert.equal(await mountedAt(mountpoint('bv2')), null, 'the copy lets go of its mount');
  await ok(['rm', c]);

  // removal unmounts nothing it should not and never deletes the host's files
  await ok(['volume', 'rm', 'bv', 'bv2']);
  assert.equal(await fs.readFile(path.join(src, 'hello.txt'), 'utf8'), 'from the host\n');
  assert.equal(await fs.readFile(path.join(empty, 'seed.txt'), 'utf8'), 'seeded by the image\n');
});

test('dockerd\'s refusals: at create (bad options) and at start (a missing device)', async () => {
  for (const [opts, msg] of [
    [['-o', 'foo=bar'], 'create bad: invalid option: "foo"'],
    [['-o', 'type=tmpfs'], 'create bad: missing required option: "device"'],
    [['-o', 'device=/srv'], 'create bad: missing required option: "type"'],
    [['-o', 'o=bind'], 'create bad: missing required option: "device"'],
    [['-o', 'o=bind', '-o', 'device=/srv'], 'create bad: missing required option: "type"'],
    [['-o', 'size=10m'], 'create bad: quota size requested but no quota support'],
    [['-o', 'size=lots'], "create bad: invalid size: 'lots'"],
  ] as const) {
    const r = await docker(d, ['volume', 'create', ...opts, 'bad']);
    assert.equal(r.stdout, '');
    assert.notEqual(r.code, 0, opts.join(' '));
    assert.equal(r.stderr.trim(), `Error response from daemon: ${msg}`);
  }
  assert.equal((await d.api('GET', '/volumes/bad')).status, 404, 'nothing was made');

  const missing = path.join(d.dir, 'no-such-dir');
  await ok(['volume', 'create', '-o', 'type=none', '-o', 'o=bind', '-o', `device=${missing}`, 'gone']);
  const r = await docker(d, ['run', '--name', 'nodev', '-v', 'gone:/w', 'busybox', 'true']);
  assert.notEqual(r.code, 0);
  const mp = mountpoint('gone');
  assert.match(r.stderr, new RegExp(`error while mounting volume '${mp}': failed to mount local volume: mount ${missing}:${mp}, flags: 0x1000: no such file or directory`));
  assert.equal(await mountedAt(mp), null);
  await ok(['rm', 'nodev']);
  // over an image's directory the copy-up mounts it at create: the create fails, in the mount's words
  const cr = await docker(d, ['create', '-v', 'gone:/data', 'withvol:1']);
  assert.notEqual(cr.code, 0);
  assert.match(cr.stderr, new RegExp(`Error response from daemon: failed to mount local volume: mount ${missing}:${mp}, flags: 0x1000: no such file or directory`));
  assert.equal(await mountedAt(mp), null);
  await ok(['volume', 'rm', 'gone']);
});

test('tsulad\'s restart keeps a running user\'s mount (unmounted at its stop); a crash before the start leaves none', async () => {
  await ok(['volume', 'create', '-o', 'type=tmpfs', '-o', 'device=tmpfs', '-o', 'o=size=4m', 'rv']);
  const c = (await ok(['run', '-d', '-v', 'rv:/t', 'busybox', 'sh', '-c', 'echo kept > /t/f; exec sleep 300'])).trim();
  await waitFor(async () => (await docker(d, ['exec', c, 'cat', '/t/f'])).stdout === 'kept\n', 10_000, 'the file');
  await d.stop('SIGKILL');
  await d.start();
  assert.ok(await mountedAt(mountpoint('rv')), 'still mounted after the restart');
  assert.equal(await ok(['exec', c, 'cat', '/t/f']), 'kept\n');
  // a second user meanwhile, then both stop: the restored count unmounts after the last
  const c2 = (await ok(['run', '-d', '-v', 'rv:/t', 'busybox', 'sleep', '300'])).trim();
  await ok(['stop', '-t', '0', c]);
  assert.ok(await mountedAt(mountpoint('rv')), 'held by the second');
  assert.equal(await ok(['exec', c2, 'cat', '/t/f']), 'kept\n');
  await ok(['stop', '-t', '0', c2]);
  await unmounted('rv', 'unmounted after the restored user and the new one stopped');
  await ok(['rm', c, c2]);

  // killed after the mount and runc create, before the start: recovery unmounts it
  await d.stop('SIGTERM');
  d.env.TSULA_FAULT = 'start:after-create';
  await d.start();
  const cut = await docker(d, ['run', '-d', '--name', 'cut', '-v', 'rv:/t', 'busybox', 'sleep', '300']);
  assert.notEqual(cut.code, 0);
  await daemonDied(d);
  assert.ok(await mountedAt(mountpoint('rv')), 'the crash left the mount');
  delete d.env.TSULA_FAULT;
  await d.start();
  assert.equal(await mountedAt(mountpoint('rv')), null, 'recovery unmounted it');
  assert.match(await d.log(), /unmounting a volume no running container uses/);
  await ok(['rm', '-f', 'cut']);
  await ok(['volume', 'rm', 'rv']);
});
