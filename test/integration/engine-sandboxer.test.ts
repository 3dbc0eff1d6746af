// tsulad's cri-sandboxers / cri-runtimes (iSulad's keys): a runtime handler whose containers
// go through tsula-sandboxer's Controller API and the task address its Start returns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon } from '../helpers/daemon.js';
import { TestSandboxer } from '../helpers/sandboxer.js';

let d: TestDaemon;
let sb: TestSandboxer;

before(async () => {
  sb = await TestSandboxer.create();
  await sb.start();
  d = await TestDaemon.create({
    configJson: {
      'cri-sandboxers': { 'runc-sandbox': { name: 'runc', address: sb.address } },
      'cri-runtimes': { 'runc-sandbox': 'io.containerd.tsula.v1' },
    },
  });
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
  await sb?.destroy();
});

test('tsula run --runtime runc-sandbox goes through the sandboxer', async () => {
  const r = await d.cli(['run', '--rm', '--runtime', 'runc-sandbox', 'busybox', 'sh', '-c', 'echo in-sandbox; exit 6']);
  assert.equal(r.stdout, 'in-sandbox\n');
  assert.equal(r.code, 6);
  const id = (await d.ok(['run', '-d', '--runtime', 'runc-sandbox', 'busybox', 'sleep', '300'])).trim();
  assert.equal((await d.ok(['inspect', '-f', '{{.HostConfig.Runtime}}', id])).trim(), 'runc-sandbox');
  const ex = await d.cli(['exec', id, 'sh', '-c', 'echo x; exit 2']);
  assert.equal(ex.stdout, 'x\n');
  assert.equal(ex.code, 2);
  await d.ok(['rm', '-f', id]);
});
