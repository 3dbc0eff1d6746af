// One live server per socket path: /proc/net/unix parsing, the abstract-socket lock, the
// probe's verdicts, and claim/release keeping or removing the socket file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { claimSocket, listenExclusive, listenerPid, lockName, parseProcNetUnix, probe, takeLock } from '../../src/common/unixsocket.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-sock-'));
  try { await fn(dir); } finally { await fs.rm(dir, { recursive: true, force: true }); }
}

test('parseProcNetUnix: inode, listening flag, path (abstract names start with @)', () => {
  const text = [
    'Num       RefCount Protocol Flags    Type St Inode Path',
    '0000000000000000: 00000002 00000000 00010000 0001 01 4242 /run/tsula/tsulad.sock',
    '0000000000000000: 00000003 00000000 00000000 0001 03 4243 /run/tsula/tsulad.sock',
    '0000000000000000: 00000002 00000000 00010000 0001 01 4244 @tsula-lock:abc@@@@',
    '0000000000000000: 00000003 00000000 00000000 0001 03 4245',
    '0000000000000000: 00000002 00000000 00010000 0001 01 4246 /tmp/with space.sock',
  ].join('\n');
  assert.deepEqual(parseProcNetUnix(text), [
    { inode: 4242, listening: true, path: '/run/tsula/tsulad.sock' },
    { inode: 4243, listening: false, path: '/run/tsula/tsulad.sock' },
    { inode: 4244, listening: true, path: '@tsula-lock:abc@@@@' },
    { inode: 4246, listening: true, path: '/tmp/with space.sock' },
  ]);
});

test('takeLock: one holder at a time, found by pid; released, it can be taken again', async () => {
  const key = `test:${process.pid}:${Date.now()}`;
  // a plain key is the name itself (no node:crypto at start-up); a long or odd one is hashed
  assert.equal(lockName(key), `\0tsula-lock:${key}`);
  assert.match(lockName(`sock:/tmp/with space/${key}`), /^\0tsula-lock-sha256:[0-9a-f]{40}$/);
  assert.match(lockName(`graph:/${'x'.repeat(120)}`), /^\0tsula-lock-sha256:[0-9a-f]{40}$/);
  const spaced = await takeLock(`sock:/tmp/with space/${key}`);
  assert.deepEqual(await takeLock(`sock:/tmp/with space/${key}`), { heldBy: process.pid });
  if (!('heldBy' in spaced)) spaced.release();
  const a = await takeLock(key);
  assert.ok(!('heldBy' in a));
  const b = await takeLock(key);
  assert.deepEqual(b, { heldBy: process.pid });
  a.release();
  await new Promise((r) => setTimeout(r, 10));
  const c = await takeLock(key);
  assert.ok(!('heldBy' in c));
  c.release();
});

test('probe: absent, live, stale; a file that is no socket is refused', async () => {
  await withDir(async (dir) => {
    const p = path.join(dir, 's.sock');
    assert.equal(await probe(p), 'absent');
    const server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(p, r));
    assert.equal(await probe(p), 'live');
    assert.equal(await listenerPid(p), process.pid);
    // a socket file whose server is gone: rename it away so close() can't unlink it, then back
    await fs.rename(p, p + '.keep');
    await new Promise((r) => server.close(r));
    await fs.rename(p + '.keep', p);
    assert.equal(await probe(p), 'stale');
    await fs.rm(p);
    await fs.writeFile(p, 'not a socket');
    await assert.rejects(probe(p), /exists and is not a socket/);
  });
});

test('claim: refused while another live server answers; a stale file replaced; release removes only our own socket', async () => {
  await withDir(async (dir) => {
    const p = path.join(dir, 'd.sock');
    const first = net.createServer((c) => { c.on('error', () => {}); c.end('first'); });
    const claim = await listenExclusive(first, p, { mode: 0o600 });
    assert.equal((await fs.stat(p)).mode & 0o777, 0o600);
    assert.deepEqual((await fs.readdir(dir)).sort(), ['d.sock'], 'no private bind name left behind');
    // the lock refuses a second claim, and names the holder (us)
    await assert.rejects(claimSocket(p), (e: Error) => {
      assert.ok(e.message.endsWith(` is serving unix://${p} (pid ${process.pid})`), e.message);
      assert.equal(e.name, 'AlreadyExists');
      return true;
    });
    first.close();
    // closing the server leaves the file (bound under its private name); release removes it
    assert.ok((await fs.lstat(p)).isSocket());
    await claim.release();
    await assert.rejects(fs.lstat(p), /ENOENT/);

    // a stale socket: taken over
    const ghost = net.createServer();
    await new Promise<void>((r) => ghost.listen(p + '.g', r));
    await fs.rename(p + '.g', p);
    ghost.close();
    assert.equal(await probe(p), 'stale');
    const second = net.createServer((c) => { c.on('error', () => {}); c.end('second'); });
    const claim2 = await listenExclusive(second, p, { mode: 0o660 });
    assert.equal(await probe(p), 'live');
    // someone replaces our socket: release leaves theirs alone
    second.close();
    await fs.rm(p);
    await fs.writeFile(p + '.tmp', '');
    await fs.rename(p + '.tmp', p);
    await claim2.release();
    assert.ok((await fs.lstat(p)).isFile(), 'the other file is still there');
  });
});
