// A streaming client that reads slower than the process writes: the process' stdio pauses
// until the client's stream drains (cri/container-rpcs.ts connectStdio), so tsulad does not
// hold what the client has not read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { connectStdio } from '../../src/cri/container-rpcs.js';
import type { StdioStream } from '../../src/runtime/types.js';

/** A client stream that takes a chunk only when release() says so. */
function slowClient(): { w: Writable; release: () => void } {
  const held: Array<() => void> = [];
  const w = new Writable({ highWaterMark: 8, write: (_c, _e, cb) => { held.push(cb); } });
  return { w, release: () => { for (const cb of held.splice(0)) cb(); } };
}

function fakeStdio() {
  let out: ((s: 1 | 2, d: Buffer) => void) | undefined;
  let end: (() => void) | undefined;
  const calls: string[] = [];
  const stdio: StdioStream = {
    onOutput: (cb) => { out = cb; }, onEnd: (cb) => { end = cb; },
    write: () => {}, closeStdin: () => {}, close: () => {},
    pause: () => { calls.push('pause'); }, resume: () => { calls.push('resume'); },
  };
  return { stdio, calls, emit: (s: 1 | 2, d: string) => out!(s, Buffer.from(d)), end: () => end!() };
}

test('output to a client that does not keep up pauses the process until its stream drains; once per full stream', async () => {
  const f = fakeStdio();
  const c = slowClient();
  const done = connectStdio(f.stdio, { tty: false, stdout: c.w }, async () => {});
  f.emit(1, 'x'.repeat(16));
  f.emit(1, 'y'.repeat(16));
  assert.deepEqual(f.calls, ['pause']);
  c.release();
  await new Promise((r) => setImmediate(r));
  c.release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(f.calls, ['pause', 'resume']);
  f.end();
  await done;
});

test('a client stream that closes while full lets the process go on', async () => {
  const f = fakeStdio();
  const c = slowClient();
  void connectStdio(f.stdio, { tty: false, stdout: c.w }, async () => {});
  f.emit(1, 'x'.repeat(16));
  assert.deepEqual(f.calls, ['pause']);
  c.w.destroy();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(f.calls, ['pause', 'resume']);
  f.end();
});
