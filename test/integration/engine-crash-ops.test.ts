// Crash recovery of the operations around containers: tsulad killed (TSULA_FAULT) in the
// middle of an image load, an rmi, a commit, a start, a volume rm, a network rm and a network
// connect. After the restart the operation happened or did not, and nothing of it is left:
// no layer no image names, no frozen container, no mount, no half-deleted volume, no bridge
// no network names, no CNI attachment the container record does not name, no temp files.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { IMAGES, TestDaemon } from '../helpers/daemon.js';
import { createTestNet, dockerNetConfig, type TestNet } from '../helpers/network.js';
import { daemonDied, recoverFromFault, restartWithFault, runcList, runtimeProblems } from '../helpers/runtime-state.js';

let tn: TestNet;
let d: TestDaemon;
// user networks get bridge names of our own: a crash test must be able to delete them
// even when no record names them any more
const tag = randomBytes(3).toString('hex');
const bridges = [`tkc${tag}`, `tkd${tag}`];

before(async () => {
  tn = await createTestNet('crashops');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn) });
  await d.loadBusybox();
});

after(async () => {
  if (d?.proc) {
    const ids = (await d.cli(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await d.cli(['rm', '-f', ...ids]);
    await d.cli(['network', 'prune', '-f']);
  }
  await d?.destroy();
  for (const b of bridges) spawnSync('ip', ['link', 'del', b], { stdio: 'ignore' });
  await tn?.destroy();
});

const restart = (point?: string) => restartWithFault(d, point);
const recoverFrom = (point: string) => recoverFromFault(d, point);


const layersDir = () => path.join(d.graph, 'overlay', 'layers');
const layers = async () => (await fs.readdir(layersDir())).sort();
const mountsOf = async (id: string) => (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(id));
const linkExists = (name: string) => spawnSync('ip', ['link', 'show', name], { stdio: 'ignore' }).status === 0;

async function assertClean(what: string): Promise<void> {
  assert.deepEqual(await runtimeProblems(d), [], what);
}

test('killed at load:after-layers: the layers the load unpacked go at the restart, a new load works', async () => {
  const before = await layers();
  await restart('load:after-layers');
  await d.cli(['load', '-i', path.join(IMAGES, 'layered.tar')]); // dies with tsulad
  await recoverFrom('load:after-layers');
  assert.notEqual((await d.cli(['inspect', 'layered'])).code, 0, 'no image recorded');
  assert.deepEqual(await layers(), before, 'no layer no image names');
  await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  await d.ok(['run', '--rm', 'layered', 'true']);
  await d.ok(['rmi', 'layered']);
  assert.deepEqual(await layers(), before);
});

test('killed at rmi:after-record: the image\'s layers go at the restart', async () => {
  const before = await layers();
  await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]);
  assert.ok((await layers()).length > before.length);
  await restart('rmi:after-record');
  await d.cli(['rmi', 'layered']);
  await recoverFrom('rmi:after-record');
  assert.notEqual((await d.cli(['inspect', 'layered'])).code, 0, 'the image is gone');
  assert.deepEqual(await layers(), before, 'and so are its layers');
  assert.equal((await d.ok(['run', '--rm', 'busybox', 'echo', 'ok'])).trim(), 'ok', 'the layers other images use stay');
});

test('killed at commit:after-pause: the container commit froze runs again after the restart', async () => {
  const id = (await d.ok(['run', '-d', '--name', 'frozen', 'busybox', 'sleep', '300'])).trim();
  await restart('commit:after-pause');
  await d.cli(['commit', 'frozen', 'frozen-img:1']); // pauses the container, then dies
  await recoverFrom('commit:after-pause');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.Paused}}', id])).trim(), 'running false');
  assert.equal((await runcList(d)).get(id), 'running', 'runc thawed it too');
  assert.match(await d.log(), /resuming a container an interrupted operation had paused/);
  assert.notEqual((await d.cli(['inspect', 'frozen-img:1'])).code, 0, 'no image from the commit');
  assert.equal((await d.ok(['exec', id, 'echo', 'alive'])).trim(), 'alive');
  // a commit now works, and leaves it running
  await d.ok(['commit', 'frozen', 'frozen-img:1']);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'running');
  await d.ok(['rm', '-f', id]);
  await d.ok(['rmi', 'frozen-img:1']);
  await assertClean('after the commit');
});

test('killed at start:after-mount: the created container holds no mount and starts', async () => {
  await restart('start:after-mount');
  await d.cli(['run', '-d', '--name', 'mounted', 'busybox', 'sleep', '300']);
  await recoverFrom('start:after-mount');
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'mounted'])).trim();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'created');
  assert.deepEqual(await mountsOf(id), [], 'no rootfs mount, no netns');
  await assertClean('after a start cut short');
  await d.ok(['start', id]);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', id])).trim(), 'running');
  await d.ok(['rm', '-f', id]);
  assert.deepEqual(await mountsOf(id), []);
});

test('tsulad killed under execs: at the restart the dirs of the finished ones go, and all of a container that stopped', async () => {
  const keep = (await d.ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  const gone = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'sleep 1.5'])).trim();
  await d.ok(['exec', '-d', keep, 'sleep', '1']);
  await d.ok(['exec', '-d', keep, 'sleep', '300']);
  await d.ok(['exec', '-d', gone, 'sleep', '300']);
  const execDirs = (id: string) => fs.readdir(path.join(d.state, 'containers', id, 'exec')).catch(() => [] as string[]);
  assert.equal((await execDirs(keep)).length, 2);
  await d.stop('SIGKILL');
  await new Promise((r) => setTimeout(r, 2500)); // the short exec and the second container end meanwhile
  await d.start();
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', gone])).trim(), 'exited');
  assert.equal((await execDirs(keep)).length, 1, 'the running exec keeps its dir');
  assert.deepEqual(await execDirs(gone), []);
  await d.ok(['rm', '-f', keep, gone]);
});

test('killed at volume:after-rename: the volume is gone whole; a create cut short leaves no volume', async () => {
  const vols = path.join(d.graph, 'volumes');
  await d.ok(['volume', 'create', '--label', 'keep=me', 'vgone']);
  await d.ok(['run', '--rm', '-v', 'vgone:/v', 'busybox', 'sh', '-c', 'mkdir /v/d && for i in 1 2 3 4 5; do echo $i > /v/d/$i; done']);
  await restart('volume:after-rename');
  await d.cli(['volume', 'rm', 'vgone']);
  await daemonDied(d);
  // what the next start finds: a dir an rm moved aside, and one a create never finished
  await fs.mkdir(path.join(vols, '.new-vhalf.1-2-3', '_data'), { recursive: true });
  await recoverFrom('volume:after-rename');
  assert.notEqual((await d.cli(['volume', 'inspect', 'vgone'])).code, 0, 'no volume with half its files');
  assert.notEqual((await d.cli(['volume', 'inspect', 'vhalf'])).code, 0);
  assert.deepEqual(await fs.readdir(vols), [], 'nothing left under volumes/');
  // the name is free; a volume made now has its own labels and no old files
  await d.ok(['volume', 'create', '--label', 'new=1', 'vgone']);
  assert.equal((await d.ok(['volume', 'inspect', '-f', '{{json .Labels}}', 'vgone'])).trim(), '{"new":"1"}');
  assert.equal((await d.ok(['run', '--rm', '-v', 'vgone:/v', 'busybox', 'ls', '/v'])).trim(), '');
  await d.ok(['volume', 'rm', 'vgone']);
  assert.deepEqual(await fs.readdir(vols), []);
});

test('temp files of writes a crash cut short are removed at the start', async () => {
  const id = (await d.ok(['create', 'busybox', 'true'])).trim();
  const temps = [
    path.join(d.graph, 'containers', id, `.container.json.x-1-2.tmp`),
    path.join(d.graph, 'containers', id, `.hosts.x-2-3.tmp`),
    path.join(d.graph, 'networks', 'records', `.${'0'.repeat(64)}.json.x-3-4.tmp`),
    path.join(d.graph, 'networks', 'cni', 'results', `.bridge-${id}-eth0.x-4-5.tmp`),
  ];
  await restart();
  await d.stop('SIGKILL');
  for (const f of temps) {
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, '{"half');
  }
  await d.start();
  for (const f of temps) assert.equal(await fs.stat(f).then(() => true, () => false), false, `${f} is gone`);
  const r = await d.cli(['start', '-a', id]);
  assert.equal(r.code, 0, r.stderr);
  await d.ok(['rm', id]);
});

test('killed at network:after-bridge: the network stays usable and a new rm takes its bridge', async () => {
  const bridge = bridges[0]!;
  await d.ok(['network', 'create', '-o', `com.docker.network.bridge.name=${bridge}`, 'tnrm']);
  await d.ok(['run', '--rm', '--network', 'tnrm', 'busybox', 'true']);
  assert.ok(linkExists(bridge), 'the first container made the bridge');
  await restart('network:after-bridge');
  await d.cli(['network', 'rm', 'tnrm']);
  await recoverFrom('network:after-bridge');
  // the bridge went before the record: never a bridge (with its subnet) that no network names
  assert.equal(linkExists(bridge), false);
  assert.equal((await d.cli(['network', 'inspect', 'tnrm'])).code, 0, 'the rm did not happen');
  assert.equal((await d.ok(['run', '--rm', '--network', 'tnrm', 'busybox', 'echo', 'ok'])).trim(), 'ok');
  await d.ok(['network', 'rm', 'tnrm']);
  assert.equal(linkExists(bridge), false);
});

test('killed at connect:after-add: the attachment the record does not name is released; connect again works', async () => {
  const bridge = bridges[1]!;
  await d.ok(['network', 'create', '-o', `com.docker.network.bridge.name=${bridge}`, 'tncon']);
  const id = (await d.ok(['run', '-d', '--name', 'joiner', 'busybox', 'sleep', '300'])).trim();
  const ifaces = async () => (await d.ok(['exec', id, 'ls', '/sys/class/net'])).split(/\s+/).filter(Boolean).sort();
  await restart('connect:after-add');
  await d.cli(['network', 'connect', 'tncon', 'joiner']);
  await recoverFrom('connect:after-add');
  assert.equal((await d.ok(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', id])).trim(), 'bridge');
  assert.deepEqual(await ifaces(), ['eth0', 'lo'], 'no eth1 the record does not know');
  const leases = (await fs.readdir(path.join(d.graph, 'networks', 'ipam', 'tncon')).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  assert.deepEqual(leases, [], 'no address held on tncon');
  assert.match(await d.log(), /releasing an attachment the container record does not name/);
  await d.ok(['network', 'connect', 'tncon', 'joiner']); // "eth1 already exists" before
  assert.deepEqual(await ifaces(), ['eth0', 'eth1', 'lo']);
  await d.ok(['network', 'disconnect', 'tncon', 'joiner']);
  await d.ok(['rm', '-f', id]);
  await d.ok(['network', 'rm', 'tncon']);
  await assertClean('after the connect');
});
