// readLogs over a k8s-file log: since/until/tail, and a follow that ends at the first record
// newer than `until` as dockerd's json-file reader does; a log that starts over past its max size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readLogs, type LogOptions } from '../../src/engine/containers/logs.js';

const T0 = Date.parse('2026-01-01T00:00:00Z') / 1000;
const at = (s: number) => new Date((T0 + s) * 1000).toISOString().replace('Z', '000000Z');
const line = (s: number, text: string) => `${at(s)} stdout F ${text}\n`;

async function logFile(lines: string[]): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-logs-'));
  const file = path.join(dir, 'ctr.log');
  await fs.writeFile(file, lines.join(''));
  return file;
}

async function collect(file: string, o: Partial<LogOptions>): Promise<string> {
  let out = '';
  await readLogs(file, { follow: false, tail: null, ...o }, (r) => { out += r.data.toString(); });
  return out;
}

test('readLogs: since, until and tail select records', async () => {
  const file = await logFile([line(0, 'a'), line(10, 'b'), line(20, 'c'), line(30, 'd')]);
  assert.equal(await collect(file, {}), 'a\nb\nc\nd\n');
  assert.equal(await collect(file, { since: T0 + 10 }), 'b\nc\nd\n');
  assert.equal(await collect(file, { until: T0 + 20 }), 'a\nb\nc\n');
  assert.equal(await collect(file, { since: T0 + 5, until: T0 + 25 }), 'b\nc\n');
  assert.equal(await collect(file, { tail: 2 }), 'c\nd\n');
  assert.equal(await collect(file, { tail: 0 }), '');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('readLogs: follow with until stops at the first newer record, even while the container runs', async () => {
  const file = await logFile([line(0, 'a'), line(10, 'b')]);
  const never = new Promise<void>(() => {}); // the container never stops
  let out = '';
  const done = readLogs(file, { follow: true, tail: null, until: T0 + 15, stopped: never }, (r) => { out += r.data.toString(); });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(out, 'a\nb\n');
  await fs.appendFile(file, line(12, 'c') + line(20, 'late'));
  await done; // resolves without the container stopping
  assert.equal(out, 'a\nb\nc\n');
  // a log that already holds a record past until is not followed at all
  assert.equal(await collect(file, { follow: true, until: T0 + 11, stopped: never }), 'a\nb\n');
  await fs.rm(path.dirname(file), { recursive: true });
});

test('readLogs: follow with until ending in the future keeps following until the container stops', async () => {
  const file = await logFile([line(0, 'a')]);
  let stop = (): void => {};
  const stopped = new Promise<void>((r) => { stop = r; });
  let out = '';
  const done = readLogs(file, { follow: true, tail: null, until: T0 + 100, stopped }, (r) => { out += r.data.toString(); });
  await fs.appendFile(file, line(50, 'b'));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(out, 'a\nb\n');
  stop();
  await done;
  await fs.rm(path.dirname(file), { recursive: true });
});

test('K8sLogWriter with sizeMax starts the file over; a follower reads the old file to its end, then the new one', async () => {
  const { K8sLogWriter } = await import('../../src/runtime/shimv2/klog.js');
  const file = await logFile([]);
  const w = new K8sLogWriter(file, 400);
  let out = '';
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  const following = readLogs(file, { follow: true, tail: null, stopped }, (r) => { out += r.data.toString(); });
  const sizes: number[] = [];
  for (let i = 0; i < 40; i++) {
    w.write('stdout', Buffer.from(`line-${i}\n`));
    if (i % 5 === 4) {
      await new Promise((r) => setTimeout(r, 30)); // a pace a reader keeps up with
      sizes.push((await fs.stat(file)).size);
    }
  }
  await w.close();
  await new Promise((r) => setTimeout(r, 50));
  stop();
  await following;
  assert.ok(sizes.every((s) => s <= 400), `sizes ${sizes.join(' ')}`);
  assert.equal(out, Array.from({ length: 40 }, (_, i) => `line-${i}\n`).join(''));
  const kept = await collect(file, {});
  assert.match(kept, /line-39\n$/);
  assert.doesNotMatch(kept, /^line-0$/m);
  // a writer opened again (tsulad restarted) counts what the file holds
  const again = new K8sLogWriter(file, 400);
  for (let i = 40; i < 50; i++) again.write('stdout', Buffer.from(`line-${i}\n`));
  await again.close();
  assert.ok((await fs.stat(file)).size <= 400);
});

test('readLogs: follow --tail 0 of an empty log emits what comes after', async () => {
  const file = await logFile([]);
  let out = '';
  let stop!: () => void;
  const stopped = new Promise<void>((r) => { stop = r; });
  const following = readLogs(file, { follow: true, tail: 0, stopped }, (r) => { out += r.data.toString(); });
  await new Promise((r) => setTimeout(r, 50));
  await fs.appendFile(file, line(1, 'later'));
  await new Promise((r) => setTimeout(r, 100));
  stop();
  await following;
  assert.equal(out, 'later\n');
});
