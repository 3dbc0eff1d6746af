// PipeStdio: a process' stdio as our own socket pairs (conmon's passthrough with pipes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { once } from 'node:events';
import { PipeStdio } from '../../src/runtime/runc/pipe-stdio.js';

/** A connected pair of sockets: ours to read, theirs for the "process". */
async function pair(): Promise<{ ours: net.Socket; theirs: net.Socket; close: () => void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const theirs = net.connect(port, '127.0.0.1');
  const [ours] = (await once(server, 'connection')) as [net.Socket];
  await once(theirs, 'connect');
  return { ours, theirs, close: () => server.close() };
}

type Pair = Awaited<ReturnType<typeof pair>>;

/** A process' stdout and stderr pairs for `fn`, closed after it. */
async function withPairs(fn: (out: Pair, err: Pair) => Promise<void>): Promise<void> {
  const out = await pair();
  const err = await pair();
  try {
    await fn(out, err);
  } finally {
    out.close();
    err.close();
  }
}

test('a stream the process closed before PipeStdio took it (no output, already closed) still counts: the end comes with the other', { timeout: 5000 }, () => withPairs(async (out, err) => {
  // stderr: never written, ended and closed before the PipeStdio exists (an exec that
  // exited before its pid came back; the socket reads from its creation)
  err.theirs.end();
  await once(err.ours, 'close');
  assert.equal(err.ours.closed, true);
  out.theirs.write('quick\n');
  const stdio = PipeStdio.of({ stdin: null, stdout: out.ours, stderr: err.ours });
  const got: string[] = [];
  stdio.onOutput((n, d) => got.push(`${n}:${d}`));
  const ended = new Promise<void>((r) => stdio.onEnd(r));
  out.theirs.end();
  await ended;
  assert.deepEqual(got, ['1:quick\n']);
}));

test('the end waits for both streams; output after the first one closed still comes', { timeout: 5000 }, () => withPairs(async (out, err) => {
  const stdio = PipeStdio.of({ stdin: null, stdout: out.ours, stderr: err.ours });
  const got: string[] = [];
  stdio.onOutput((n, d) => got.push(`${n}:${d}`));
  let ended = false;
  stdio.onEnd(() => { ended = true; });
  err.theirs.end();
  await once(err.ours, 'close');
  assert.equal(ended, false);
  out.theirs.end('late\n');
  await once(out.ours, 'close');
  assert.equal(ended, true);
  assert.deepEqual(got, ['1:late\n']);
}));

test('discard: the reader left, the process\' writes are taken and dropped (no EPIPE, no blocking) until its output ends', { timeout: 5000 }, () => withPairs(async (out, err) => {
  const stdio = PipeStdio.of({ stdin: null, stdout: out.ours, stderr: err.ours });
  const got: string[] = [];
  stdio.onOutput((n, d) => got.push(`${n}:${d}`));
  stdio.pause(); // a client that stopped reading, then left
  stdio.discard();
  let ended = false;
  stdio.onEnd(() => { ended = true; });
  // far more than a socket buffer: it would block (or fail) if nobody read
  const big = Buffer.alloc(4 << 20, 0x61);
  const written = new Promise<void>((r) => out.theirs.write(big, () => r()));
  await written;
  assert.equal(out.theirs.destroyed, false, 'no EPIPE for the writer');
  out.theirs.end();
  err.theirs.end();
  await new Promise<void>((r) => stdio.onEnd(r));
  assert.equal(ended, true);
  assert.deepEqual(got, [], 'nothing reached the reader that left');
}));
