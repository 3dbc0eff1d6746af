// Images through the CLI: load (both archive forms, gzip), whiteouts in containers on both
// storage drivers, tag, save → load round trip, rmi refusing an image in use.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { TestDaemon, IMAGES } from '../helpers/daemon.js';

const daemons: TestDaemon[] = [];
after(async () => { for (const d of daemons) await d.destroy(); });

for (const driver of ['overlay', 'vfs'] as const) {
  test(`${driver}: layered image whiteouts apply in the container`, async () => {
    const d = await TestDaemon.create({ args: ['--storage-driver', driver] });
    daemons.push(d);
    assert.match(await d.ok(['info']), new RegExp(`Storage Driver: ${driver}`));
    assert.match(await d.ok(['load', '-i', path.join(IMAGES, 'layered.tar')]), /Loaded image: layered:latest/);
    const out = await d.ok(['run', '--rm', 'layered', 'sh', '-c', 'ls /data; echo --; ls /opq; echo --; test -e /data/gone || echo gone-absent']);
    assert.equal(out, 'keep\n--\nb\n--\ngone-absent\n');
    // a container's writes stay in its own snapshot
    const a = (await d.ok(['run', '-d', 'layered', 'sh', '-c', 'echo mine > /data/keep; sleep 300'])).trim();
    const b = await d.ok(['run', '--rm', 'layered', 'cat', '/data/keep']);
    assert.notEqual(b.trim(), 'mine');
    await d.ok(['rm', '-f', a]);
  });
}

test('oci-archive and gzip load; tag; save -> load round trip; rmi', async () => {
  const d = await TestDaemon.create();
  daemons.push(d);
  const gz = path.join(d.dir, 'busybox-oci.tar.gz');
  const r = spawnSync('sh', ['-c', `gzip -c ${path.join(IMAGES, 'busybox-oci.tar')} > ${gz}`]);
  assert.equal(r.status, 0);
  assert.match(await d.ok(['load', '-i', gz]), /Loaded image: busybox:latest/);
  const id = (await d.ok(['inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  await d.ok(['tag', 'busybox', 'mybox:v1']);
  assert.match(await d.ok(['images']), /mybox\s+v1/);
  const saved = path.join(d.dir, 'saved.tar');
  await d.ok(['save', '-o', saved, 'mybox:v1']);
  assert.ok((await fs.stat(saved)).size > 100_000);
  await d.ok(['rmi', 'mybox:v1']);
  await d.ok(['rmi', 'busybox']);
  assert.equal((await d.ok(['images', '-q'])).trim(), '');
  assert.match(await d.ok(['load', '-i', saved]), /Loaded image: mybox:v1/);
  assert.equal((await d.ok(['inspect', '-f', '{{.Id}}', 'mybox:v1'])).trim(), id);

  const c = (await d.ok(['create', 'mybox:v1', 'true'])).trim();
  const refused = await d.cli(['rmi', 'mybox:v1']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /conflict|being used|in use/i);
  assert.match(await d.ok(['images']), /mybox/);
  await d.ok(['rm', c]);
  assert.match(await d.ok(['rmi', 'mybox:v1']), /Deleted: sha256:/);
});
