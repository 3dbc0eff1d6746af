// tsulad's CRI ImageService and the runtime's Version/Status, driven by the real crictl:
// images, pull from a local registry, inspecti, rmi (by name, by id, twice), imagefsinfo.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, IMAGES } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { crictl } from '../helpers/crictl.js';

let d: TestDaemon;
let reg: TestRegistry;
before(async () => {
  d = await TestDaemon.create();
  reg = await TestRegistry.start();
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'lib/busybox:1');
});
after(async () => {
  await d?.destroy();
  await reg?.stop();
});

const cri = (args: string[]) => crictl(d.criSock, args);
const ok = async (args: string[]) => {
  const r = await cri(args);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

test('version and info: runtime API v1, the runtime ready, the network not (no CNI config here)', async () => {
  assert.match(await ok(['version']), /RuntimeName:\s+tsula\nRuntimeVersion:\s+\S+\nRuntimeApiVersion:\s+v1/);
  const info = JSON.parse(await ok(['info'])) as { status: { conditions: Array<{ type: string; status: boolean; reason: string }> } };
  const cond = Object.fromEntries(info.status.conditions.map((c) => [c.type, c]));
  assert.equal(cond.RuntimeReady?.status, true);
  assert.equal(typeof cond.NetworkReady?.status, 'boolean');
});

test('images: a loaded image is listed fully qualified; inspecti, rmi by name; rmi again', async () => {
  await d.loadBusybox();
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  assert.match(await ok(['images']), /docker\.io\/library\/busybox\s+latest\s+[0-9a-f]{13}\s+/);
  assert.equal((await ok(['images', '-q'])).trim(), id);
  const st = JSON.parse(await ok(['inspecti', 'busybox'])) as { status: { id: string; repoTags: string[]; size: string }; info: { chainID: string } };
  assert.equal(st.status.id, id);
  assert.deepEqual(st.status.repoTags, ['docker.io/library/busybox:latest']);
  assert.ok(Number(st.status.size) > 1_000_000);
  assert.match(st.info.chainID, /^sha256:[0-9a-f]{64}$/);
  assert.match(await ok(['rmi', 'docker.io/library/busybox:latest']), /Deleted: docker\.io\/library\/busybox:latest/);
  assert.equal((await ok(['images', '-q'])).trim(), '');
  assert.equal((await d.cli(['inspect', 'busybox'])).code, 1, 'gone from the engine too');
  // a second rmi: crictl finds no image (CRI's RemoveImage itself is idempotent)
  assert.notEqual((await cri(['rmi', 'busybox'])).code, 0);
});

test('pull from a registry, by tag; the image ref is the image id; rmi by id', async () => {
  const ref = `${reg.host}/lib/busybox:1`;
  const out = await ok(['pull', ref]);
  assert.match(out, /Image is up to date for sha256:[0-9a-f]{64}/);
  const id = out.trim().split(' ').pop()!;
  assert.match(await ok(['images']), new RegExp(`${reg.host.replace('.', '\\.')}/lib/busybox\\s+1\\s+`));
  assert.equal((await ok(['images', '-q', ref])).trim(), id);
  await ok(['rmi', id]);
  assert.equal((await ok(['images', '-q'])).trim(), '');
  // a name that is not a valid reference, and an image no registry has: clear errors
  const bad = await cri(['pull', 'BusyBox']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid reference format/);
  const missing = await cri(['pull', `${reg.host}/lib/nothing:1`]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /not found|manifest unknown/i);
});

test('rmi of an image a container uses: its names and digest go, the image stays nameless until the container goes; a committed image does not keep its parent', async () => {
  const ref = `${reg.host}/lib/busybox:1`;
  await ok(['pull', ref]);
  const id = (await ok(['images', '-q', ref])).trim();
  await d.ok(['run', '-d', '--name', 'user', ref, 'sleep', '300']);
  const commit = await d.api('POST', '/v1.41/commit?container=user&repo=child&tag=1', '{}');
  assert.equal(commit.status, 201, commit.body);
  await ok(['rmi', ref]);
  const st = JSON.parse(await ok(['inspecti', id])) as { status: { repoTags: string[]; repoDigests: string[] } };
  assert.deepEqual([st.status.repoTags, st.status.repoDigests], [[], []], 'kubelet removes by id: no name of it is left');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', 'user'])).trim(), 'true');
  await d.ok(['rm', '-f', 'user']);
  // as containerd's: the image goes though child:1 names it as its parent (dockerd's rmi refuses)
  await ok(['rmi', id]);
  assert.notEqual((await cri(['inspecti', id])).code, 0);
  assert.equal((await d.cli(['run', '--rm', 'child:1', 'echo', 'child runs'])).stdout.trim(), 'child runs');
  await ok(['rmi', 'docker.io/library/child:1']);
  assert.equal((await ok(['images', '-q'])).trim(), '');
});

test('imagefsinfo: one image filesystem, the snapshot store, with its layers\' bytes and inodes; no container filesystem of another name (kubelet would take that for a split disk)', async () => {
  type Info = { status: { imageFilesystems: Array<{ fsId: { mountpoint: string }; usedBytes: { value: string }; inodesUsed: { value: string } }>; containerFilesystems: unknown[] } };
  await d.loadBusybox();
  const info = JSON.parse(await ok(['imagefsinfo'])) as Info;
  assert.equal(info.status.imageFilesystems.length, 1);
  const fs0 = info.status.imageFilesystems[0]!;
  const store = (await fs.readdir(d.graph)).find((n) => n === 'overlay' || n === 'vfs')!;
  assert.equal(fs0.fsId.mountpoint, path.join(d.graph, store));
  // busybox-static unpacked: a few hundred KB at least, and its files
  assert.ok(Number(fs0.usedBytes.value) > 500_000, fs0.usedBytes.value);
  assert.ok(Number(fs0.inodesUsed.value) > 3, fs0.inodesUsed.value);
  assert.deepEqual(info.status.containerFilesystems, []);
  await ok(['rmi', 'docker.io/library/busybox:latest']);
});
