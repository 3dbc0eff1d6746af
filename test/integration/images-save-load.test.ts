// `tsula save IMAGE | tsula load` on one daemon finishes, and the daemon stays usable: no
// image lock is held while a client stream is waited on (a save whose reader stalls, a load
// whose sender stalls), and pulls racing rmi of the same image neither hang nor leak layers;
// skopeo's docker-daemon transport saves and loads through the same endpoints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { IMAGES, ROOT, TestDaemon, sleep, waitFor } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { sh } from '../helpers/foreign-images.js';

const TSULA = path.join(ROOT, 'bin/tsula');
let reg: TestRegistry;
let d: TestDaemon;
const children: ChildProcess[] = [];

before(async () => {
  reg = await TestRegistry.start();
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'busybox:latest');
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await d?.destroy();
  await reg?.stop();
});

// no catch: a layers dir that moved must fail the checks that it is empty
const layerDirs = async () => (await fs.readdir(path.join(d.graph, 'overlay', 'layers'))).filter((n) => !n.startsWith('.')).sort();
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** A shell pipeline of tsula commands against the test daemon, killed after `ms`. */
function pipeline(cmd: string, ms: number): Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }> {
  const tsula = `${q(TSULA)} -H ${q(d.hostArg)}`;
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', cmd.replace(/\btsula\b/g, tsula)], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    children.push(p);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    p.stdout!.on('data', (b) => { stdout += b; });
    p.stderr!.on('data', (b) => { stderr += b; });
    const t = setTimeout(() => { timedOut = true; try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ } }, ms);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr, timedOut }); });
  });
}

test('tsula save busybox | tsula load finishes; then load, pull and rmi work on the same daemon', async () => {
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  const r = await pipeline('tsula save busybox | tsula load', 60_000);
  assert.equal(r.timedOut, false, `save | load hung: ${r.stderr}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /Loaded image: busybox:latest/);
  assert.equal((await d.ok(['inspect', '-f', '{{.Id}}', 'busybox'])).trim(), id);

  const bounded = { timeoutMs: 60_000 };
  assert.match(await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')], bounded), /Loaded image: layered:latest/);
  assert.match(await d.ok(['pull', `${reg.host}/busybox:latest`], bounded), /Status: /);
  assert.equal(await d.ok(['run', '--rm', `${reg.host}/busybox:latest`, 'echo', 'pulled'], bounded), 'pulled\n');
  await d.ok(['rmi', `${reg.host}/busybox:latest`], bounded);
  await d.ok(['rmi', 'layered'], bounded);
  // A second round, and a save of two images into a load.
  const again = await pipeline('tsula save busybox busybox | tsula load -q', 60_000);
  assert.equal(again.timedOut, false);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(await d.ok(['run', '--rm', 'busybox', 'echo', 'ok'], bounded), 'ok\n');
});

test('a save whose reader never reads does not hold up load, rmi and pull', async () => {
  // `tsula save busybox` with its stdout never read: it stalls once the pipe is full.
  const stalled = spawn(TSULA, ['-H', d.hostArg, 'save', 'busybox'], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(stalled);
  stalled.stdout!.pause();
  // stalled: its output fills what node buffers for the unread pipe, and it is still running
  await waitFor(async () => stalled.stdout!.readableLength >= stalled.stdout!.readableHighWaterMark, 20_000, 'the save to stall');
  assert.equal(stalled.exitCode, null, 'the save is still streaming');
  const bounded = { timeoutMs: 30_000 };
  assert.match(await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')], bounded), /Loaded image: layered:latest/);
  await d.ok(['rmi', 'layered'], bounded);
  await d.ok(['pull', `${reg.host}/busybox:latest`], bounded);
  await d.ok(['rmi', `${reg.host}/busybox:latest`], bounded);
  // The image being saved can even go away: its blobs stay until the save is done.
  await d.ok(['tag', 'busybox', 'keep:1'], bounded);
  await d.ok(['rmi', 'busybox', 'keep:1'], bounded);
  let size = 0;
  stalled.stdout!.on('data', (b: Buffer) => { size += b.length; });
  stalled.stdout!.resume();
  const code = await new Promise<number | null>((r) => stalled.on('close', r));
  assert.equal(code, 0);
  assert.ok(size > 1_000_000, `the whole archive came through (${size} bytes)`);
  assert.deepEqual(await layerDirs(), [], 'every layer went with its image');
  await d.loadBusybox();
});

test('pulls racing rmi of the same image: nothing hangs, nothing leaks', async () => {
  const ref = `${reg.host}/busybox:latest`;
  const bounded = { timeoutMs: 60_000 };
  await d.ok(['rmi', 'busybox'], bounded); // so that each pull really downloads and unpacks
  assert.deepEqual(await layerDirs(), []);
  for (let i = 0; i < 4; i++) {
    const [pull, rmi] = await Promise.all([d.cli(['pull', '-q', ref], bounded), sleep(i * 50).then(() => d.cli(['rmi', ref], bounded))]);
    assert.equal(pull.code, 0, pull.stderr);
    if (rmi.code !== 0) assert.match(rmi.stderr, /No such image/, rmi.stderr);
  }
  await d.ok(['pull', '-q', ref], bounded);
  assert.equal(await d.ok(['run', '--rm', ref, 'echo', 'ok'], bounded), 'ok\n');
  assert.notDeepEqual(await layerDirs(), [], 'its layers are where the checks look');
  await d.ok(['rmi', ref], bounded);
  assert.equal((await d.ok(['images', '-q'])).trim(), '');
  assert.deepEqual(await layerDirs(), [], 'no layer leaked');
});

test('skopeo\'s docker-daemon transport (containers/image over the Docker API): an image out to an OCI layout and back in under a new name', async () => {
  await d.loadBusybox(); // the tests above rmi it
  const oci = path.join(d.dir, 'skopeo-oci');
  // sh fails the test with skopeo's stderr when a copy does not exit 0
  await sh('/usr/bin/skopeo', ['copy', '-q', '--src-daemon-host', d.hostArg, 'docker-daemon:busybox:latest', `oci:${oci}:bb`]);
  await sh('/usr/bin/skopeo', ['copy', '-q', '--dest-daemon-host', d.hostArg, `oci:${oci}:bb`, 'docker-daemon:skopeo/bb:1']);
  assert.equal(await d.ok(['run', '--rm', 'skopeo/bb:1', 'echo', 'through skopeo']), 'through skopeo\n');
  await d.ok(['rmi', 'skopeo/bb:1']);
});
