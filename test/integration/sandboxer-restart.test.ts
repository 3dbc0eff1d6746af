// tsula-sandboxer without containerd: the sandbox Controller (gRPC) and the Task API
// (ttrpc, through tsula's own client), bad input, and a kill -9 of the sandboxer with
// containers running: they keep running and their exit codes arrive after the restart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs, constants, openSync, readlinkSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { codeOf, Code } from '../../src/ttrpc/status.js';
import { Task } from '../../src/gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../../src/gen/github.com/containerd/containerd/api/types/task/task_pb.js';
import { Controller } from '../../src/gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import { grpcClient } from '../../src/sandboxer/grpc.js';
import { errorKind } from '../../src/common/errors.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const execFileP = promisify(execFile);
requirePrerequisites('sandboxer-restart', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/bin/busybox': 'busybox-static' } });
const SBX = 'io.kubernetes.cri.sandbox-id';

let s: TestSandboxer;
let sandboxPid = 0;

before(async () => {
  s = await TestSandboxer.create();
});

after(async () => {
  if (s) await s.destroy();
});

async function fifoReader(file: string): Promise<{ text: () => string; sock: net.Socket }> {
  await execFileP('mkfifo', [file]);
  const sock = new net.Socket({ fd: openSync(file, constants.O_RDONLY | constants.O_NONBLOCK), readable: true, writable: false });
  let buf = '';
  sock.on('data', (d) => { buf += d; });
  sock.on('error', () => {});
  return { text: () => buf, sock };
}

async function until(fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

test('Controller: create and start a runc sandbox; errors are gRPC codes', async () => {
  const ctl = grpcClient(Controller, s.address);
  try {
    assert.equal((await ctl.create({ sandboxId: 'pod1', sandboxer: 'runc' })).sandboxId, 'pod1');
    const st = await ctl.start({ sandboxId: 'pod1' });
    assert.equal(st.address, `ttrpc+unix://${s.taskSock}`);
    assert.equal(st.version, 2);
    assert.ok(st.pid > 0 && alive(st.pid));
    sandboxPid = st.pid;
    assert.equal((await ctl.status({ sandboxId: 'pod1' })).state, 'SANDBOX_READY');
    assert.equal((await ctl.platform({ sandboxId: 'pod1' })).platform?.os, 'linux');
    await assert.rejects(ctl.status({ sandboxId: 'nope' }), (e) => errorKind(e) === 'NotFound');
    await assert.rejects(ctl.create({ sandboxId: 'pod1' }), (e) => errorKind(e) === 'AlreadyExists');
    await assert.rejects(ctl.create({ sandboxId: 'x', sandboxer: 'nokind' }), (e) => errorKind(e) === 'InvalidArgument');
  } finally {
    ctl.close();
  }
});

test('Task API: bad input gets NOT_FOUND / ALREADY_EXISTS', async () => {
  const c = await TtrpcClient.connect(s.taskSock);
  const t = c.service(Task);
  try {
    const calls = [() => t.state({ id: 'ghost' }), () => t.kill({ id: 'ghost', signal: 9 }), () => t.wait({ id: 'ghost' }),
      () => t.delete({ id: 'ghost' }), () => t.pids({ id: 'ghost' }), () => t.closeIO({ id: 'ghost', stdin: true })];
    for (const call of calls) await assert.rejects(call(), (e) => codeOf(e) === Code.NOT_FOUND);
    const b = await s.bundle('dup', ['true']);
    await t.create({ id: 'dup', bundle: b });
    await assert.rejects(t.create({ id: 'dup', bundle: b }), (e) => codeOf(e) === Code.ALREADY_EXISTS);
    await assert.rejects(t.start({ id: 'dup', execId: 'nox' }), (e) => codeOf(e) === Code.NOT_FOUND);
    const d = await t.delete({ id: 'dup' });
    assert.equal(d.exitStatus, 137);
    await assert.rejects(t.state({ id: 'dup' }), (e) => codeOf(e) === Code.NOT_FOUND);
  } finally {
    c.close();
  }
});

test('kill -9 of the sandboxer: containers keep running, exit codes arrive after the restart', async () => {
  let c = await TtrpcClient.connect(s.taskSock);
  let t = c.service(Task);
  const out1 = await fifoReader(path.join(s.dir, 'c1.out'));
  const b1 = await s.bundle('c1', ['sh', '-c', 'echo up; sleep 8; exit 7'], { [SBX]: 'pod1' });
  const b2 = await s.bundle('c2', ['sh', '-c', 'sleep 1; exit 4'], { [SBX]: 'pod1' });
  // c1 must outlive a sandboxer restart even on a loaded machine: 8 s of margin
  const pid1 = (await t.create({ id: 'c1', bundle: b1, stdout: path.join(s.dir, 'c1.out') })).pid;
  const pid2 = (await t.create({ id: 'c2', bundle: b2 })).pid;
  await t.start({ id: 'c1' });
  await t.start({ id: 'c2' });
  await until(() => out1.text() === 'up\n');
  // the containers joined the pod's namespaces (held by the sandbox's process)
  for (const ns of ['net', 'ipc', 'uts']) assert.equal(readlinkSync(`/proc/${pid1}/ns/${ns}`), readlinkSync(`/proc/${sandboxPid}/ns/${ns}`));
  assert.notEqual(readlinkSync(`/proc/${pid1}/ns/net`), readlinkSync('/proc/self/ns/net'));
  assert.equal((await t.state({ id: 'c1' })).status, Status.RUNNING);

  c.close();
  out1.sock.destroy();
  await s.kill9();
  assert.ok(alive(pid1), 'c1 survives the sandboxer');
  await new Promise((r) => setTimeout(r, 1500)); // c2 exits while nobody watches
  assert.ok(!alive(pid2));
  await s.start();

  c = await TtrpcClient.connect(s.taskSock);
  t = c.service(Task);
  try {
    assert.equal((await t.wait({ id: 'c2' })).exitStatus, 4);
    assert.equal((await t.state({ id: 'c1' })).status, Status.RUNNING);
    assert.equal((await t.wait({ id: 'c1' })).exitStatus, 7);
    const st = await t.state({ id: 'c1' });
    assert.equal(st.status, Status.STOPPED);
    assert.equal(st.exitStatus, 7);
    assert.equal((await t.delete({ id: 'c1' })).exitStatus, 7);
    assert.equal((await t.delete({ id: 'c2' })).exitStatus, 4);
    assert.deepEqual(await fs.readdir(path.join(s.state, 'tasks')), []);
  } finally {
    c.close();
  }
});

test('Controller: the sandbox survived the restart; stop, wait and shutdown end it', async () => {
  const ctl = grpcClient(Controller, s.address);
  try {
    const st = await ctl.status({ sandboxId: 'pod1' });
    assert.equal(st.state, 'SANDBOX_READY');
    assert.equal(st.pid, sandboxPid);
    await ctl.stop({ sandboxId: 'pod1' });
    await ctl.wait({ sandboxId: 'pod1' });
    await until(() => !alive(sandboxPid));
    await ctl.shutdown({ sandboxId: 'pod1' });
    await assert.rejects(ctl.status({ sandboxId: 'pod1' }), (e) => errorKind(e) === 'NotFound');
  } finally {
    ctl.close();
  }
});
