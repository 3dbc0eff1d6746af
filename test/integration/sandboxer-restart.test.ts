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
import { grpcClient } from '../../src/common/grpc.js';
import { errorKind } from '../../src/common/errors.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { SANDBOXER } from '../helpers/containerd.js';
import { DAEMON_V8_FLAGS } from '../../src/common/v8-flags.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { processesMarked } from '../../src/common/proc.js';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { PROCESS_SPEC_TYPE_URL } from '../../src/runtime/shimv2/exec.js';
import { RESOURCES_TYPE_URL } from '../../src/agent/protocol.js';

const execFileP = promisify(execFile);
requirePrerequisites('sandboxer-restart', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/bin/busybox': 'busybox-static' } });
const SBX = 'io.kubernetes.cri.sandbox-id';

let s: TestSandboxer;

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

const ms = (t: { seconds: bigint; nanos: number } | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0);

/** A runc sandbox of this test's own, through the Controller: its holder's pid. */
async function podFor(id: string): Promise<number> {
  const ctl = grpcClient(Controller, s.address);
  try {
    await ctl.create({ sandboxId: id, sandboxer: 'runc' });
    return (await ctl.start({ sandboxId: id })).pid;
  } finally {
    ctl.close();
  }
}

/** Stop and remove a sandbox (a test's cleanup; a sandbox already gone is fine). */
async function endPod(id: string): Promise<void> {
  const ctl = grpcClient(Controller, s.address);
  try {
    await ctl.stop({ sandboxId: id }).catch(() => {});
    await ctl.shutdown({ sandboxId: id }).catch(() => {});
  } finally {
    ctl.close();
  }
}

test('Controller: create and start a runc sandbox; errors are gRPC codes', async () => {
  const ctl = grpcClient(Controller, s.address);
  try {
    assert.equal((await ctl.create({ sandboxId: 'pod1', sandboxer: 'runc' })).sandboxId, 'pod1');
    const st = await ctl.start({ sandboxId: 'pod1' });
    assert.equal(st.address, `ttrpc+unix://${s.taskSock}`);
    assert.equal(st.version, 2);
    assert.ok(st.pid > 0 && alive(st.pid));
    assert.equal((await ctl.status({ sandboxId: 'pod1' })).state, 'SANDBOX_READY');
    assert.equal((await ctl.platform({ sandboxId: 'pod1' })).platform?.os, 'linux');
    await assert.rejects(ctl.status({ sandboxId: 'nope' }), (e) => errorKind(e) === 'NotFound');
    await assert.rejects(ctl.create({ sandboxId: 'pod1' }), (e) => errorKind(e) === 'AlreadyExists');
    await assert.rejects(ctl.create({ sandboxId: 'x', sandboxer: 'nokind' }), (e) => errorKind(e) === 'InvalidArgument');
  } finally {
    ctl.close();
    await endPod('pod1');
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

test('Task API: an exec whose start fails ends a pending Wait at once (runc-v2\'s), Kill says not created, Delete works', async () => {
  const c = await TtrpcClient.connect(s.taskSock);
  const t = c.service(Task);
  try {
    const b = await s.bundle('exfail', ['sleep', '300']);
    await t.create({ id: 'exfail', bundle: b });
    await t.start({ id: 'exfail' });
    const spec = JSON.parse(await fs.readFile(path.join(b, 'config.json'), 'utf8')) as { process: Record<string, unknown> };
    const proc = { ...spec.process, args: ['/nonexist'], terminal: false };
    await t.exec({ id: 'exfail', execId: 'e1', spec: create(AnySchema, { typeUrl: PROCESS_SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(proc)) }) });
    const pending = t.wait({ id: 'exfail', execId: 'e1' });
    const t0 = Date.now();
    await assert.rejects(t.start({ id: 'exfail', execId: 'e1' }), /nonexist/);
    const w = await pending;
    assert.ok(Date.now() - t0 < 5000, 'the Wait ended with the failed start');
    assert.equal(w.exitStatus, 0);
    assert.equal((await t.wait({ id: 'exfail', execId: 'e1' })).exitStatus, 0, 'a later Wait returns at once too');
    await assert.rejects(t.kill({ id: 'exfail', execId: 'e1', signal: 9 }), (e) => codeOf(e) === Code.FAILED_PRECONDITION && /process not created/.test(String(e)));
    await t.delete({ id: 'exfail', execId: 'e1' });
    // runc's errors name the task as its client knows it, not the sandboxer's runc key
    const tiny = create(AnySchema, { typeUrl: RESOURCES_TYPE_URL, value: Buffer.from(JSON.stringify({ memory: { limit: 1000 } })) });
    await assert.rejects(t.update({ id: 'exfail', resources: tiny }), (e) => /update container exfail: /.test(String(e)));
    await t.kill({ id: 'exfail', signal: 9 });
    assert.equal((await t.wait({ id: 'exfail' })).exitStatus, 137);
    await t.delete({ id: 'exfail' });
  } finally {
    c.close();
  }
});

test('kill -9 of the sandboxer: containers keep running, exit codes arrive after the restart', async () => {
  const pod = 'pod-restart';
  const sandboxPid = await podFor(pod);
  let c = await TtrpcClient.connect(s.taskSock);
  let t = c.service(Task);
  try {
    const out1 = await fifoReader(path.join(s.dir, 'c1.out'));
    // each exits when its rootfs gets a /go file: c2 while no sandboxer runs, c1 after the restart
    const waitGo = (code: number) => ['sh', '-c', `echo up; while [ ! -e /go ]; do sleep 0.05; done; exit ${code}`];
    const b1 = await s.bundle('c1', waitGo(7), { [SBX]: pod });
    const b2 = await s.bundle('c2', waitGo(4), { [SBX]: pod });
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
    const sbPid = s.proc!.pid!;
    await s.kill9();
    assert.equal(alive(sbPid), false, 'the sandboxer is gone');
    await fs.writeFile(path.join(b2, 'rootfs', 'go'), '');
    const told = (await fs.stat(path.join(b2, 'rootfs', 'go'))).mtimeMs;
    await until(() => !alive(pid2)); // c2 exits while nobody watches
    assert.ok(alive(pid1), 'c1 survives the sandboxer');
    const restarted = Date.now();
    await s.start();

    c = await TtrpcClient.connect(s.taskSock);
    t = c.service(Task);
    const w2 = await t.wait({ id: 'c2' });
    assert.equal(w2.exitStatus, 4);
    // the exit time is the one recorded while no sandboxer ran
    assert.ok(ms(w2.exitedAt) >= Math.floor(told) && ms(w2.exitedAt) <= restarted,
      `c2 exited at ${new Date(ms(w2.exitedAt)).toISOString()}, between the go (${new Date(told).toISOString()}) and the restart (${new Date(restarted).toISOString()})`);
    assert.equal((await t.state({ id: 'c1' })).status, Status.RUNNING);
    const w1 = t.wait({ id: 'c1' });
    await fs.writeFile(path.join(b1, 'rootfs', 'go'), '');
    assert.equal((await w1).exitStatus, 7);
    const st = await t.state({ id: 'c1' });
    assert.equal(st.status, Status.STOPPED);
    assert.equal(st.exitStatus, 7);
    assert.equal((await t.delete({ id: 'c1' })).exitStatus, 7);
    assert.equal((await t.delete({ id: 'c2' })).exitStatus, 4);
    assert.deepEqual(await fs.readdir(path.join(s.state, 'tasks')), []);
  } finally {
    c.close();
    await endPod(pod);
  }
});

test('a task the launcher\'s delete cleaned up after a restarted sandboxer had read its record is forgotten: its id is created again', async () => {
  let c = await TtrpcClient.connect(s.taskSock);
  let t = c.service(Task);
  try {
    const b = await s.bundle('c3', ['sleep', '300']);
    await t.create({ id: 'c3', bundle: b });
    await t.start({ id: 'c3' });
    c.close();
    await s.kill9();
    // what containerd's cleanupAfterDeadShim runs (the launcher's delete, no sandboxer to ask)
    const root = path.join(s.state, 'runc', 'root');
    for (const key of await fs.readdir(root)) await execFileP('runc', [`--root=${root}`, 'delete', '--force', key]).catch(() => {});
    // a new sandboxer (another task's delete started it) reads the record first ...
    await s.start();
    // ... and the delete removes it after: containerd has forgotten the task
    for (const key of await fs.readdir(path.join(s.state, 'tasks'))) {
      const rec = JSON.parse(await fs.readFile(path.join(s.state, 'tasks', key, 'task.json'), 'utf8')) as { id: string };
      if (rec.id === 'c3') await fs.rm(path.join(s.state, 'tasks', key), { recursive: true, force: true });
    }
    c = await TtrpcClient.connect(s.taskSock);
    t = c.service(Task);
    await t.create({ id: 'c3', bundle: b }); // was: ALREADY_EXISTS ("task c3 already exists")
    await t.start({ id: 'c3' });
    await t.kill({ id: 'c3', signal: 9 });
    assert.equal((await t.wait({ id: 'c3' })).exitStatus, 137);
    await t.delete({ id: 'c3' });
    assert.deepEqual(await fs.readdir(path.join(s.state, 'tasks')), [], 'no record brought back');
  } finally {
    c.close();
  }
});

test('Controller: a sandbox survives a kill -9 of the sandboxer; stop, wait and shutdown end it', async () => {
  const pod = 'pod-survive';
  const sandboxPid = await podFor(pod);
  await s.kill9();
  assert.ok(alive(sandboxPid), 'the sandbox outlives the sandboxer');
  await s.start();
  const ctl = grpcClient(Controller, s.address);
  try {
    const st = await ctl.status({ sandboxId: pod });
    assert.equal(st.state, 'SANDBOX_READY');
    assert.equal(st.pid, sandboxPid);
    await ctl.stop({ sandboxId: pod });
    await ctl.wait({ sandboxId: pod });
    await until(() => !alive(sandboxPid));
    await ctl.shutdown({ sandboxId: pod });
    await assert.rejects(ctl.status({ sandboxId: pod }), (e) => errorKind(e) === 'NotFound');
  } finally {
    ctl.close();
    await endPod(pod);
  }
});

test('killed at sandbox:after-start (its holder runs, the record says starting): the restarted sandboxer stops the holder and forgets the sandbox', async () => {
  const pod = 'pod-cut-short';
  const marked = () => processesMarked('TSULA_SANDBOX', path.join(s.state, 'sandboxes', pod), new Set(['unshare', 'sleep']));
  await s.kill9();
  s.env.TSULA_FAULT = 'sandbox:after-start';
  await s.start();
  const p = s.proc!;
  const ctl = grpcClient(Controller, s.address);
  try {
    await ctl.create({ sandboxId: pod, sandboxer: 'runc' });
    await assert.rejects(ctl.start({ sandboxId: pod }));
  } finally {
    ctl.close();
  }
  await until(() => p.signalCode !== null || p.exitCode !== null);
  assert.match(await s.log(), /fault injection: TSULA_FAULT=sandbox:after-start/);
  assert.equal((await marked()).length, 1, 'the holder runs, and no record has its pid');
  delete s.env.TSULA_FAULT;
  await s.start();
  const again = grpcClient(Controller, s.address);
  try {
    await assert.rejects(again.status({ sandboxId: pod }), (e) => errorKind(e) === 'NotFound');
  } finally {
    again.close();
  }
  for (let i = 0; i < 100 && (await marked()).length; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await marked(), [], 'the holder was stopped');
});

test('a second sandboxer on a Controller socket a live one answers is refused; the first serves on', async () => {
  const other = path.join(s.dir, 'other-state');
  const r = await execFileP(process.execPath, [...DAEMON_V8_FLAGS, SANDBOXER, '--state', other, '--listen', s.address], { timeout: 20_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code?: number; stdout?: string; stderr?: string }) => ({ code: e.code ?? -1, stderr: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /another tsula-sandboxer is serving unix:\/\/\S*sb\.sock \(pid \d+\)/);
  // the first still answers on its socket (grpc-js is loaded on this first connection)
  const ctl = grpcClient(Controller, s.address);
  try {
    await assert.rejects(ctl.status({ sandboxId: 'no-such-pod' }), (e) => errorKind(e) === 'NotFound');
  } finally {
    ctl.close();
  }
});

test('SIGTERM ends the sandboxer at once while clients keep their connections (containerd and tsulad do)', async () => {
  const own = await TestSandboxer.create();
  const ctl = grpcClient(Controller, own.address);
  let task: TtrpcClient | undefined;
  const raw = net.connect(own.address);
  raw.on('error', () => {});
  try {
    await assert.rejects(ctl.status({ sandboxId: 'no-such-pod' }), (e) => errorKind(e) === 'NotFound');
    task = await TtrpcClient.connect(own.taskSock);
    const p = own.proc!;
    const exited = new Promise((r) => p.once('exit', r));
    const t0 = Date.now();
    p.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    assert.notEqual(p.exitCode, null, `still running 10 s after SIGTERM: ${await own.log()}`);
    assert.ok(Date.now() - t0 < 3000, `took ${Date.now() - t0} ms to exit`);
  } finally {
    ctl.close();
    task?.close();
    raw.destroy();
    await own.destroy();
  }
});
