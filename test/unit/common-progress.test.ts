// throttleProgress (common/progress.ts): what a pull's and a load's progress lines pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throttleProgress } from '../../src/common/progress.js';

interface P { id: string; status: string; current?: number; total?: number }

test('in-progress messages: one per layer and status per interval; new keys, statuses and last messages always pass', async () => {
  const out: P[] = [];
  const emit = throttleProgress<P>((p) => out.push(p), (p) => `${p.id}\0${p.status}`, (p) => p.current !== undefined && p.total !== undefined && p.current < p.total, 50);
  emit({ id: 'a', status: 'Downloading', current: 1, total: 10 });
  emit({ id: 'a', status: 'Downloading', current: 2, total: 10 }); // dropped: too soon
  emit({ id: 'b', status: 'Downloading', current: 1, total: 10 }); // another layer
  emit({ id: 'a', status: 'Extracting', current: 1, total: 10 }); // another status
  emit({ id: 'a', status: 'Downloading', current: 10, total: 10 }); // the last one
  emit({ id: 'a', status: 'Pull complete' });
  await new Promise((r) => setTimeout(r, 60));
  emit({ id: 'a', status: 'Extracting', current: 5, total: 10 }); // the interval is over
  assert.deepEqual(out.map((p) => `${p.id} ${p.status} ${p.current ?? ''}`), [
    'a Downloading 1', 'b Downloading 1', 'a Extracting 1', 'a Downloading 10', 'a Pull complete ', 'a Extracting 5',
  ]);
});
