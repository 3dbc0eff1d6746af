// A process list as ps -ef draws it, for containers in a VM: /proc read as the kernel writes
// it (this test's own process), and procps' columns (C, STIME, TTY, TIME, CMD).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { psEfTable, readProcesses, ttyName, type PsProcess } from '../../src/common/ps.js';

test('readProcesses: this process as its /proc tells it; a pid that is gone is left out', async () => {
  const [me, ...rest] = await readProcesses([process.pid, 0x3ffffff0]);
  assert.equal(rest.length, 0);
  assert.equal(me!.pid, process.pid);
  assert.equal(me!.ppid, process.ppid);
  assert.equal(me!.uid, process.getuid!());
  assert.equal(me!.comm, 'node');
  assert.deepEqual(me!.args.slice(1), process.execArgv.concat(process.argv.slice(1)).slice(0, me!.args.length - 1));
  const age = Date.now() - me!.startMs;
  assert.ok(age >= 0 && age < process.uptime() * 1000 + 2000, `started ${age} ms ago, up ${process.uptime()} s`);
  assert.ok(me!.cpuMs >= 0);
});

test('psEfTable: procps\' columns, sorted by pid; user names as given (8 wide), else the uid', () => {
  const prev = process.env.TZ;
  process.env.TZ = 'UTC';
  try {
    const now = Date.UTC(2026, 11, 7, 16, 30, 0);
    const p = (o: Partial<PsProcess>): PsProcess => ({ pid: 1, ppid: 0, uid: 0, startMs: now - 60_000, cpuMs: 0, tty: 0, args: ['sh'], comm: 'sh', ...o });
    const t = psEfTable([
      p({ pid: 30, uid: 1000, startMs: Date.UTC(2026, 11, 7, 9, 5), cpuMs: 3 * 86400_000 + 3661_000, args: [], comm: 'kworker/0:1' }),
      p({ pid: 7, ppid: 1, uid: 101, startMs: Date.UTC(2026, 5, 6, 3, 2), tty: (136 << 8) | 3, args: ['httpd', '-f'] }),
      p({ pid: 2, uid: 0, startMs: Date.UTC(2024, 0, 1), cpuMs: 30_000 }),
      p({ pid: 9, uid: 999, startMs: now - 10_000, cpuMs: 5_000 }),
    ], now, (uid) => ({ 0: 'root', 101: 'systemd-network', 999: 'app' } as Record<number, string>)[uid]);
    assert.deepEqual(t.Titles, ['UID', 'PID', 'PPID', 'C', 'STIME', 'TTY', 'TIME', 'CMD']);
    assert.deepEqual(t.Processes, [
      ['root', '2', '0', '0', '2024', '?', '00:00:30', 'sh'],
      ['systemd+', '7', '1', '0', 'Jun06', 'pts/3', '00:00:00', 'httpd -f'],
      ['app', '9', '0', '50', '16:29', '?', '00:00:05', 'sh'],
      ['1000', '30', '0', '99', '09:05', '?', '3-01:01:01', '[kworker/0:1]'],
    ]);
  } finally {
    if (prev === undefined) delete process.env.TZ; else process.env.TZ = prev;
  }
});

test('ttyName: the names procps gives a tty_nr', () => {
  assert.equal(ttyName(0), '?');
  assert.equal(ttyName((136 << 8) | 0), 'pts/0');
  assert.equal(ttyName((137 << 8) | 4), 'pts/260');
  assert.equal(ttyName((4 << 8) | 1), 'tty1');
  assert.equal(ttyName((4 << 8) | 64), 'ttyS0');
  assert.equal(ttyName((5 << 8) | 1), 'console');
});
