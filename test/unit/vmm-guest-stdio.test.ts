// A VM process' stdio on the host (sandboxer/kinds/vmm/runtime.ts GuestStdio): what the guest
// sends before a caller registers onOutput is kept up to a bound, then reading waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestStdio } from '../../src/sandboxer/kinds/vmm/runtime.js';
import type { GuestTasks } from '../../src/sandboxer/kinds/vmm/tasks.js';

const CHUNK = 256 << 10;

test('output before onOutput is kept up to 1 MiB, then reading stops until a caller registers; all of it arrives in order', async () => {
  let reads = 0;
  const g = {
    read: async (_id: string, _exec: string, stream: 'stdout' | 'stderr', signal?: AbortSignal) => {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('aborted');
      if (stream === 'stderr') return { data: Buffer.alloc(0), eof: true };
      reads++;
      return { data: Buffer.alloc(CHUNK, reads), eof: reads === 8 };
    },
  } as unknown as GuestTasks;
  const s = new GuestStdio(g, 'c', '');
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(reads, 4, 'stopped at 1 MiB kept');
  const got: number[] = [];
  const ended = new Promise<void>((r) => s.onEnd(r));
  s.onOutput((n, d) => { assert.equal(n, 1); got.push(d[0]!); });
  await ended;
  assert.deepEqual(got, [1, 2, 3, 4, 5, 6, 7, 8]);
});

test('close() while reading waits for a caller: the stream ends', async () => {
  const g = {
    read: async (_id: string, _exec: string, _stream: string, signal?: AbortSignal) => {
      await new Promise((r) => setImmediate(r));
      if (signal?.aborted) throw new Error('aborted');
      return { data: Buffer.alloc(CHUNK), eof: false };
    },
  } as unknown as GuestTasks;
  const s = new GuestStdio(g, 'c', '');
  await new Promise((r) => setTimeout(r, 50));
  const ended = new Promise<void>((r) => s.onEnd(r));
  s.close();
  await ended;
});
