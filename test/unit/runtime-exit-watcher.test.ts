import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitWatcher } from '../../src/runtime/runc/exits.js';

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); await sleep(10)) if (Date.now() > end) throw new Error('timed out');
}

test('exit files: containerd ids and 64-hex ids reported once each; stray names ignored; an unknown name is forgotten', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-exits-'));
  const heard: Array<[string, number]> = [];
  const w = new ExitWatcher(dir, (id, code) => { heard.push([id, code]); return id !== 'stranger'; });
  t.after(async () => { w.close(); await fs.rm(dir, { recursive: true, force: true }); });
  // one there before the watch starts: found by the scan
  await fs.writeFile(path.join(dir, 'a'.repeat(64)), '0');
  await w.start();
  await fs.writeFile(path.join(dir, 'same'), '137');
  await fs.writeFile(path.join(dir, 'my_ctr-1.b'), '2');
  await fs.writeFile(path.join(dir, '.hidden'), '1');
  await fs.writeFile(path.join(dir, 'bad..name'), '1');
  await fs.writeFile(path.join(dir, 'noexit'), 'x');
  await until(() => heard.length >= 3);
  await fs.writeFile(path.join(dir, 'same'), '137'); // a second event for one exit
  await fs.writeFile(path.join(dir, 'stranger'), '1');
  await until(() => heard.some(([id]) => id === 'stranger'));
  await fs.writeFile(path.join(dir, 'stranger'), '3');
  await until(() => heard.some(([id, c]) => id === 'stranger' && c === 3));
  await sleep(100);
  assert.deepEqual(heard.filter(([id]) => id !== 'stranger').sort(), [['a'.repeat(64), 0], ['my_ctr-1.b', 2], ['same', 137]]);
  // not kept as seen: each event for it is told again (one write may make two)
  assert.deepEqual([...new Set(heard.filter(([id]) => id === 'stranger').map(([, c]) => c))], [1, 3]);
});
