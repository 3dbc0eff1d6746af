import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProcStat, procStat } from '../../src/common/proc.js';

test('/proc/<pid>/stat: the fields counted after the last ")" of the command name', async () => {
  const line = '42 (a) b) (c) S 1 42 42 34816 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 50';
  assert.deepEqual(parseProcStat(line), { comm: 'a) b) (c', state: 'S', ppid: 1, ttyNr: 34816, cpuTicks: 3, startTime: '123456' });
  const self = await procStat(process.pid);
  assert.match(self.state, /^[RS]$/);
  assert.match(self.startTime, /^\d+$/);
});
