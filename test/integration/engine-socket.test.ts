// One socket, one daemon: a second tsulad on a socket a live one serves refuses to start
// (and leaves the first reachable), a stale socket file is taken over, a daemon leaves a
// socket that is no longer its own in place when it exits, and a state dir has one daemon.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, ROOT, sleep, waitFor } from '../helpers/daemon.js';
import { grpcClient } from '../../src/common/grpc.js';
import { RuntimeService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';

const TSULAD = path.join(ROOT, 'build/tsulad.mjs');

let d: TestDaemon;
let scratch: string;

before(async () => {
  d = await TestDaemon.create();
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-sock-'));
  await fs.writeFile(path.join(scratch, 'none.json'), '{}');
});

after(async () => {
  await d?.destroy();
  if (scratch) await fs.rm(scratch, { recursive: true, force: true });
});

/** Run a tsulad that is expected to refuse to start: its exit code and stderr. */
function tsuladRefusal(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TSULAD, '--config-file', path.join(scratch, 'none.json'), '--cri-socket', `unix://${scratch}/cri-${Math.random().toString(36).slice(2)}.sock`, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (c) => { stderr += c; });
    // if it does start, it must not stay: the test fails on the code below
    const t = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stderr }); });
  });
}

test('a second tsulad on the same -H with another --state refuses, naming the socket and the pid', async () => {
  const before = await fs.lstat(d.sock);
  const other = path.join(scratch, 'second');
  const r = await tsuladRefusal(['-H', d.hostArg, '--graph', path.join(other, 'graph'), '--state', path.join(other, 'state')]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim(), `tsulad: another tsulad is serving unix://${d.sock} (pid ${d.proc!.pid})`);
  // it touched nothing of its own either: it stopped before making its dirs
  await assert.rejects(fs.access(path.join(other, 'state')));
  // the first daemon keeps its socket (the same file) and answers
  const after = await fs.lstat(d.sock);
  assert.deepEqual([after.dev, after.ino], [before.dev, before.ino]);
  assert.match(await d.ok(['version']), /API version:\s+1\.41/);
});

test('a second tsulad on another -H but the same --state refuses', async () => {
  const r = await tsuladRefusal(['-H', `unix://${path.join(scratch, 'other.sock')}`, '--graph', path.join(scratch, 'g3'), '--state', d.state]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr.trim(), `tsulad: another tsulad (pid ${d.proc!.pid}) is using the state dir ${d.state}`);
  await assert.rejects(fs.access(path.join(scratch, 'other.sock')));
  assert.match(await d.ok(['version']), /API version/);
});

test('a stale socket file (its server was killed) is taken over', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  const sock = path.join(dir, 'tsulad.sock');
  // a server killed with SIGKILL leaves its socket file behind, with nobody listening
  const holder = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(sock)})`], { stdio: 'ignore' });
  await waitFor(() => fs.lstat(sock).then((s) => s.isSocket(), () => false), 10_000, 'the holder socket');
  holder.kill('SIGKILL');
  await new Promise((r) => holder.once('exit', r));
  assert.ok((await fs.lstat(sock)).isSocket(), 'the stale socket is still there');
  const d2 = await TestDaemon.create({ dir });
  try {
    assert.match(await d2.ok(['version']), /API version/);
  } finally {
    await d2.destroy();
  }
});

test('on exit a daemon leaves a socket that is no longer its own', async () => {
  const d2 = await TestDaemon.create();
  let foreign: net.Server | null = null;
  try {
    // someone replaced d2's socket file with a live server of their own
    await fs.rm(d2.sock);
    foreign = net.createServer((c) => c.end('foreign\n'));
    await new Promise<void>((r) => foreign!.listen(path.join(d2.dir, 'foreign.sock'), r));
    await fs.rename(path.join(d2.dir, 'foreign.sock'), d2.sock); // libuv would unlink foreign.sock on close, not d2.sock
    await d2.stop('SIGTERM');
    await sleep(100);
    assert.ok((await fs.lstat(d2.sock)).isSocket(), 'the other server\'s socket is still there');
    const answer = await new Promise<string>((resolve, reject) => {
      const c = net.connect(d2.sock);
      let s = '';
      c.on('data', (b) => { s += b; });
      c.on('end', () => resolve(s));
      c.on('error', reject);
    });
    assert.equal(answer, 'foreign\n');
  } finally {
    foreign?.close();
    await d2.destroy();
  }
});

test('on exit a daemon removes its own socket', async () => {
  const d2 = await TestDaemon.create();
  try {
    await d2.stop('SIGTERM');
    await assert.rejects(fs.lstat(d2.sock), /ENOENT/);
    await assert.rejects(fs.lstat(path.join(d2.state, 'tsulad-ttrpc.sock')), /ENOENT/);
  } finally {
    await d2.destroy();
  }
});

test('SIGTERM ends the daemon at once while a CRI client keeps its connection (kubelet does)', async () => {
  const d2 = await TestDaemon.create();
  const cri = grpcClient(RuntimeService, d2.criSock);
  const raw = net.connect(d2.criSock);
  raw.on('error', () => {});
  try {
    await cri.version({});
    const p = d2.proc!;
    const exited = new Promise((r) => p.once('exit', r));
    const t0 = Date.now();
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    assert.notEqual(p.exitCode, null, `still running 10 s after SIGTERM: ${await d2.log()}`);
    assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms to exit`);
  } finally {
    cri.close();
    raw.destroy();
    await d2.destroy();
  }
});
