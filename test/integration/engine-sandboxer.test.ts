// tsulad's cri-sandboxers / cri-runtimes (iSulad's keys): a runtime handler whose containers
// go through tsula-sandboxer's Controller API and the task address its Start returns.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestDaemon, TSULA, waitFor } from '../helpers/daemon.js';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { PtyProcess } from '../helpers/pty.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { crictl, crictlPath } from '../helpers/crictl.js';

let d: TestDaemon;
let sb: TestSandboxer;

before(async () => {
  sb = await TestSandboxer.create();
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

test('a runc-sandbox pod through CRI: its containers share one /dev/shm, gone with the pod; docker\'s --shm-size keeps its own', async () => {
  crictlPath();
  const ok = async (args: string[]) => {
    const r = await crictl(d.criSock, args);
    assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const podCfg = path.join(d.dir, 'shm-pod.json');
  await fs.writeFile(podCfg, JSON.stringify({ metadata: { name: 'shm', namespace: 'default', uid: 'shm-1' }, linux: {} }));
  const pod = await ok(['runp', '--runtime', 'runc-sandbox', podCfg]);
  const ids: string[] = [];
  for (const name of ['a', 'b']) {
    const f = path.join(d.dir, `shm-${name}.json`);
    await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'busybox' }, command: ['sleep', '300'], linux: {} }));
    ids.push(await ok(['create', pod, f, podCfg]));
    await ok(['start', ids.at(-1)!]);
  }
  await ok(['exec', ids[0]!, 'sh', '-c', 'echo shared > /dev/shm/seg']);
  assert.equal(await ok(['exec', ids[1]!, 'cat', '/dev/shm/seg']), 'shared');
  const shm = path.join(sb.state, 'runc-shm');
  assert.equal((await fs.readdir(shm)).length, 1, 'the sandbox\'s tmpfs');
  await ok(['stopp', pod]);
  await ok(['rmp', pod]);
  assert.deepEqual(existsSync(shm) ? await fs.readdir(shm) : [], [], 'unmounted and removed with the pod');
  // a container alone in its sandbox, sized by docker's flag: its own tmpfs
  const r = await d.cli(['run', '--rm', '--runtime', 'runc-sandbox', '--shm-size', '8m', 'busybox', 'sh', '-c', 'grep " /dev/shm " /proc/mounts']);
  assert.match(r.stdout, /size=8192k/);
});

test('runc-sandbox: short exit statuses, and Ctrl-P Ctrl-Q then attach still types into the shell', async () => {
  const rt = ['--runtime', 'runc-sandbox'];
  assert.equal((await d.cli(['run', '--rm', ...rt, 'busybox', 'false'])).code, 1);
  assert.equal((await d.cli(['run', '--rm', ...rt, 'busybox', 'sh', '-c', 'exit 42'])).code, 42);
  const run = new PtyProcess([TSULA, '-H', d.hostArg, 'run', '-it', '--rm', '--name', 'sbtty', ...rt, 'busybox', 'sh']);
  try {
    await run.expect(/# /);
    run.type('\x10\x11');
    assert.equal(await run.status(), 0);
    const att = new PtyProcess([TSULA, '-H', d.hostArg, 'attach', 'sbtty']);
    try {
      att.type('echo typed-$((6*7))\r');
      await att.expect(/typed-42/);
      att.type('exit 4\r');
      assert.equal(await att.status(), 4);
    } finally {
      att.kill();
    }
  } finally {
    run.kill();
  }
});

test('kill -9 of the sandboxer: tsulad connects again once it is back, untouched by any call: the log goes on, the exit arrives', async () => {
  const id = (await d.ok(['run', '-d', '--runtime', 'runc-sandbox', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 40 ]; do echo tick-$i; i=$((i+1)); sleep 0.25; done; exit 5'])).trim();
  try {
    await waitFor(async () => (await d.ok(['logs', id])).includes('tick-2'), 10_000, 'the first ticks');
    await sb.kill9();
    await new Promise((r) => setTimeout(r, 1000));
    await sb.start();
    // no client call: the reconnection is tsulad's own; the ticks written after it reach the log
    await waitFor(async () => (await d.ok(['logs', id])).includes('tick-39'), 30_000, 'the last tick in the log');
    assert.equal((await d.ok(['wait', id])).trim(), '5');
  } finally {
    await d.cli(['rm', '-f', id]);
  }
});
