// A process started ahead and fed later (src/agent/waiting.ts): what a clone's agent relies on
// for its setup program and ConfigureNetwork's shell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { feed, StartedAhead, startWaiting, usable } from '../../src/agent/waiting.js';

test('a waiting shell runs what it is fed: exit code and stderr; it is used up after', async () => {
  const c = startWaiting('sh', ['-s']);
  assert.ok(usable(c));
  const o = await feed(c, 'echo to-stderr >&2\nexit 3\n', 10_000);
  assert.deepEqual({ code: o.code, signal: o.signal, stderr: o.stderr.toString(), timedOut: o.timedOut, error: o.error }, { code: 3, signal: null, stderr: 'to-stderr\n', timedOut: false, error: undefined });
  assert.equal(usable(c), false);
  assert.equal(usable(null), false);
});

test('one that runs past its time is killed and says so; a missing program is an error, not a hang', async () => {
  const slow = await feed(startWaiting('sh', ['-s']), 'sleep 10\n', 200);
  assert.equal(slow.timedOut, true);
  assert.equal(slow.signal, 'SIGKILL');
  const missing = await feed(startWaiting('/nonexistent/tsula-clone-setup', []), Buffer.alloc(8), 10_000);
  assert.equal(missing.error?.code, 'ENOENT');
});

test('started ahead: take() gives the waiting process once, then starts one when taken', async () => {
  const ahead = new StartedAhead('sh', ['-s']);
  ahead.start();
  const first = ahead.take();
  ahead.start();
  const second = ahead.take();
  const third = ahead.take(); // none waited: started now
  assert.notEqual(first.pid, second.pid);
  assert.notEqual(second.pid, third.pid);
  for (const [c, n] of [[first, 1], [second, 2], [third, 3]] as const) {
    assert.equal((await feed(c, `exit ${n}\n`, 10_000)).code, n);
  }
});

test('started ahead: release() lets the waiting process go (it exits at the end of its stdin); the next take starts anew', async () => {
  const ahead = new StartedAhead('sh', ['-s']);
  assert.equal(ahead.release(), null, 'none waits: nothing to do');
  ahead.start();
  const released = ahead.release()!;
  const code = await new Promise((r) => (released.exitCode !== null ? r(released.exitCode) : released.once('exit', r)));
  assert.equal(code, 0, 'sh -s exits at the end of its stdin');
  const next = ahead.take();
  assert.notEqual(released.pid, next.pid);
  assert.equal((await feed(next, 'exit 5\n', 10_000)).code, 5);
});
