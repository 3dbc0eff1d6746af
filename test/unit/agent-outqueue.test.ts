// The agent's output queues: with a pausable stream the writer is told to wait past 64 KiB and
// to go on once the host read it (nothing dropped); without one, the newest 4 MiB are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OutQueue } from '../../src/agent/tasks.js';
import { Backpressure } from '../../src/runtime/backpressure.js';

const MiB = 1 << 20;

test('a pausable stream: full past 64 KiB, drained once read, every byte kept', async () => {
  const events: string[] = [];
  // the writer's stream: paused when the queue is full, resumed once the host read it
  const q = new OutQueue(new Backpressure<OutQueue>({ pause: () => events.push('full'), resume: () => events.push('drained') }));
  q.push(Buffer.alloc(60 << 10, 1));
  assert.deepEqual(events, []);
  for (let i = 0; i < 3; i++) q.push(Buffer.alloc(MiB / 2, i));
  assert.deepEqual(events, ['full']);
  const r = await q.read();
  assert.equal(r.data.length, (60 << 10) + 3 * MiB / 2);
  assert.deepEqual(events, ['full', 'drained']);
  q.push(Buffer.alloc(10));
  assert.deepEqual(events, ['full', 'drained']);
});

test('without one: the newest 4 MiB are kept, the oldest dropped', async () => {
  const q = new OutQueue();
  for (let i = 0; i < 6; i++) q.push(Buffer.alloc(MiB, i));
  const r = await q.read();
  assert.equal(r.data.length, 4 * MiB);
  assert.equal(r.data[0], 2);
  q.end();
  assert.deepEqual(await q.read(), { data: Buffer.alloc(0), eof: true });
});
