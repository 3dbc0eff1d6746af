// What a tsulad that only runs containers loads of node: not node:crypto (OpenSSL's module and
// bindings, ~2.4 MB of RSS for the process's life: ids, names and tokens come from
// /dev/urandom, short keys' SHA-256 from @noble/hashes, common/crypto.ts), not a diagnostic
// report nor worker_threads (node-unix-socket's own loader took both on the first attach:
// scripts/bundle.mjs, addonLoader), not node:zlib (image/decompress.ts loads it for a
// compressed stream, tar's parser through a stand-in: lazyMinizlib) nor node:assert. The
// daemon is restarted over a graph that already holds busybox (a load hashes its blobs with
// node:crypto, rightly); a preload writes node's process.moduleLoadList at its exit.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TestDaemon } from '../helpers/daemon.js';

let d: TestDaemon | undefined;

after(async () => {
  await d?.destroy();
});

test('a daemon that creates, attaches to, runs and removes containers loads neither node:crypto, a diagnostic report nor node:zlib', async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
  const list = path.join(d.dir, 'modules.txt');
  const preload = path.join(d.dir, 'modules.mjs');
  await fs.writeFile(preload, `import { writeFileSync } from 'node:fs';\nprocess.on('exit', () => writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));\n`);
  await d.stop();
  d.env.NODE_OPTIONS = `--import ${pathToFileURL(preload).href}`;
  await d.start();

  const run = await d.cli(['run', '--rm', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.equal(run.code, 3, run.stderr);
  assert.equal(run.stdout, 'out\n');
  assert.equal(run.stderr, 'err\n');
  const id = (await d.ok(['run', '-d', '--name', 'lean', 'busybox', 'sleep', '30'])).trim();
  assert.equal((await d.ok(['exec', id, 'echo', 'exec'])), 'exec\n');
  await d.ok(['rm', '-f', 'lean']);
  await d.stop();

  const loaded = (await fs.readFile(list, 'utf8')).split('\n');
  assert.ok(loaded.includes('NativeModule fs'), `the preload wrote no module list: ${loaded.slice(0, 5).join(', ')}`);
  for (const m of ['NativeModule crypto', 'Internal Binding crypto', 'Internal Binding report', 'NativeModule worker_threads', 'NativeModule zlib', 'NativeModule assert']) {
    assert.ok(!loaded.includes(m), `${m} was loaded`);
  }
});
