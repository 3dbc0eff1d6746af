// Our shim v2 client and events server against Debian's real containerd-shim-runc-v2
// (containerd 1.6), with no containerd: the stock shim is the peer that proves the wire.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs, existsSync, readdirSync, readlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ShimV2Runtime } from '../../src/runtime/shimv2/runtime.js';
import { startEventsServer, type EventsServer, type TaskEvent } from '../../src/runtime/shimv2/events.js';
import { TtrpcClient, shimSocketPath } from '../../src/ttrpc/index.js';
import { Task } from '../../src/gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { buildSpec, readHostInfo, type HostInfo } from '../../src/oci/spec.js';
import type { StdioStream } from '../../src/runtime/types.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const execFileP = promisify(execFile);
const SHIM = '/usr/bin/containerd-shim-runc-v2';
const NS = 'tsula';
const RUNC_ROOT = `/run/containerd/runc/${NS}`;
requirePrerequisites('shimv2-runc', { root: true, files: { [SHIM]: 'containerd', '/usr/sbin/runc': 'runc', '/bin/busybox': 'busybox-static' } });

let dir = '';
let rootfs = '';
let host: HostInfo;
let events: EventsServer | null = null;
const seen: TaskEvent[] = [];
const ids: string[] = [];
const runtimes: ShimV2Runtime[] = [];
const exits = new Map<string, { code: number; at: Date }>();
const exitWaiters = new Map<string, (c: number) => void>();

function newRuntime(): ShimV2Runtime {
  const rt = new ShimV2Runtime({
    name: 'io.containerd.runc.v2', binary: SHIM, stateDir: path.join(dir, 'state'),
    engineAddress: path.join(dir, 'events.sock'), eventsAddress: path.join(dir, 'events.sock'),
    publishBinary: process.execPath, namespace: NS,
  });
  runtimes.push(rt);
  return rt;
}

async function watch(rt: ShimV2Runtime): Promise<void> {
  await rt.watchExits((id, code, at) => {
    exits.set(id, { code, at });
    exitWaiters.get(id)?.(code);
  });
}

function exitOf(id: string, ms = 20_000): Promise<number> {
  const e = exits.get(id);
  if (e) return Promise.resolve(e.code);
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no exit for ${id.slice(0, 12)} in ${ms} ms`)), ms);
    exitWaiters.set(id, (c) => { clearTimeout(t); resolve(c); });
  });
}

async function container(args: string[], o: { terminal?: boolean; stdin?: boolean } = {}) {
  const id = randomBytes(32).toString('hex');
  ids.push(id);
  const bundle = path.join(dir, id); // the runc shim's delete action wants basename = id
  await fs.mkdir(bundle, { recursive: true, mode: 0o700 });
  const spec = buildSpec({
    id, rootfs, readonlyRootfs: false, args, env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] },
    terminal: !!o.terminal, hostname: 'shimv2', binds: [], network: 'none', annotations: {}, ulimits: [],
    noNewPrivileges: false, cgroupsPath: `/tsula-test/${id}`,
  }, host);
  return {
    id, bundle, logPath: path.join(dir, `${id.slice(0, 12)}.log`),
    req: { id, bundle, spec, logPath: path.join(dir, `${id.slice(0, 12)}.log`), terminal: !!o.terminal, stdin: !!o.stdin, stdinOnce: !!o.stdin },
  };
}

function collect(s: StdioStream): { out: () => string; ended: Promise<void> } {
  let text = '';
  s.onOutput((_n, d) => { text += d.toString(); });
  const ended = new Promise<void>((r) => s.onEnd(r));
  return { out: () => text, ended };
}

/** Shim daemons running in our bundles (cwd = the bundle), or in one bundle. */
async function shimPids(bundle = dir): Promise<number[]> {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readlinkSync(`/proc/${p}/exe`).startsWith(SHIM) && readlinkSync(`/proc/${p}/cwd`).startsWith(bundle)) out.push(Number(p));
    } catch { /* gone */ }
  }
  return out;
}

before(async () => {
  dir = await fs.mkdtemp(path.join('/tmp', 'tsula-shimv2-'));
  rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'etc']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
  await fs.copyFile('/bin/busybox', path.join(rootfs, 'bin/busybox'));
  await fs.chmod(path.join(rootfs, 'bin/busybox'), 0o755);
  const { stdout } = await execFileP('/bin/busybox', ['--list']);
  for (const a of stdout.split('\n').filter((x) => x && x !== 'busybox')) await fs.symlink('busybox', path.join(rootfs, 'bin', a));
  host = await readHostInfo();
  events = await startEventsServer(path.join(dir, 'events.sock'), (e) => seen.push(e));
});

after(async () => {
  if (!dir) return;
  const rt = runtimes.at(-1) ?? newRuntime();
  for (const id of ids) await rt.delete(id, path.join(dir, id), true).catch(() => {});
  for (const r of runtimes) r.close();
  for (const pid of await shimPids()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const id of ids) await execFileP('runc', ['--root', RUNC_ROOT, 'delete', '-f', id]).catch(() => {});
  await events?.close();
  await fs.rm(dir, { recursive: true, force: true });
  // runc removes each container's cgroup, not the parent it made for cgroupsPath
  for (const ctl of await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])) {
    await fs.rmdir(path.join('/sys/fs/cgroup', ctl, 'tsula-test')).catch(() => {});
  }
});

function topics(id: string): string[] {
  return seen.filter((e) => e.containerId === id).map((e) => e.topic);
}

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('create → start ∥ wait → output in the log → exit code → delete → shutdown, events in order', async () => {
  const rt = newRuntime();
  await watch(rt);
  const c = await container(['sh', '-c', 'echo hello out; echo hello err >&2; printf partial; exit 3']);
  const pid = await rt.create(c.req);
  assert.ok(pid > 1);
  assert.equal((await rt.state(c.id))?.status, 'created');
  assert.match(await fs.readFile(path.join(c.bundle, 'address'), 'utf8'), /^unix:\/\/\//);
  await rt.start(c.id);
  assert.equal(await exitOf(c.id), 3);
  const log = await fs.readFile(c.logPath, 'utf8');
  assert.match(log, /^\S+ stdout F hello out$/m);
  assert.match(log, /^\S+ stderr F hello err$/m);
  assert.match(log, /^\S+ stdout P partial$/m, 'a line without its newline is a P record');
  assert.match(log.split(' ')[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}[+-]\d\d:\d\d$/);
  assert.deepEqual(await rt.exitStatus(c.id).then((e) => e?.code), 3);
  assert.equal((await rt.state(c.id))?.status, 'stopped');
  assert.equal((await shimPids(c.bundle)).length, 1);
  await rt.delete(c.id, c.bundle, true);
  assert.deepEqual(await shimPids(c.bundle), [], 'the shim exited after Shutdown');
  assert.equal(await rt.state(c.id), null);
  assert.ok(!existsSync(path.join(c.bundle, 'address')));
  await until(() => topics(c.id).length >= 4);
  assert.deepEqual(topics(c.id), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete']);
  const exit = seen.find((e) => e.containerId === c.id && e.topic === '/tasks/exit')!;
  assert.equal(exit.namespace, NS);
  assert.equal(exit.type, 'containerd.events.TaskExit');
  assert.equal(exit.event?.exitStatus, 3);
  assert.equal(exit.event?.pid, pid);
});

test('exec with exit code and stdin, pids, pause/resume, kill', async () => {
  const rt = newRuntime();
  await watch(rt);
  const c = await container(['sleep', '300']);
  const pid = await rt.create(c.req);
  await rt.start(c.id);
  assert.equal((await rt.state(c.id))?.status, 'running');
  assert.deepEqual(await rt.pids(c.id), [pid]);

  const edir = path.join(dir, 'exec1');
  const h = await rt.exec({
    containerId: c.id, execId: 'exec1', dir: edir, attach: true, stdin: false,
    process: { ...c.req.spec.process, args: ['sh', '-c', 'echo from-exec; echo err-exec >&2; exit 5'], terminal: false },
  });
  const o = collect(h.stdio!);
  assert.equal(await h.exited, 5);
  await o.ended;
  // two FIFOs: the order between stdout and stderr is not kept (nor is it by containerd)
  assert.deepEqual(o.out().split('\n').sort(), ['', 'err-exec', 'from-exec']);
  assert.ok(!existsSync(path.join(edir, 'stdout')), 'exec FIFOs removed');

  const h2 = await rt.exec({
    containerId: c.id, execId: 'exec2', dir: path.join(dir, 'exec2'), attach: true, stdin: true,
    process: { ...c.req.spec.process, args: ['cat'], terminal: false },
  });
  const o2 = collect(h2.stdio!);
  h2.stdio!.write(Buffer.from('ping\n'));
  h2.stdio!.closeStdin();
  assert.equal(await h2.exited, 0);
  // the exit can come before the output is read off the FIFO: all of it is there once it ends
  await o2.ended;
  assert.equal(o2.out(), 'ping\n');

  await assert.rejects(rt.exec({
    containerId: c.id, execId: 'exec3', dir: path.join(dir, 'exec3'), attach: false, stdin: false,
    process: { ...c.req.spec.process, args: ['no-such-binary'], terminal: false },
  }), /not found|no such file/i);

  await rt.pause(c.id);
  assert.equal((await rt.state(c.id))?.status, 'paused');
  await rt.resume(c.id);
  assert.equal((await rt.state(c.id))?.status, 'running');

  await rt.kill(c.id, 'SIGKILL');
  assert.equal(await exitOf(c.id), 137);
  await rt.delete(c.id, c.bundle, false);
  await until(() => topics(c.id).includes('/tasks/delete'));
  const t = topics(c.id);
  assert.deepEqual(t.filter((x) => x.startsWith('/tasks/exec')), ['/tasks/exec-added', '/tasks/exec-started', '/tasks/exec-added', '/tasks/exec-started', '/tasks/exec-added']);
  assert.deepEqual(t.filter((x) => !x.startsWith('/tasks/exec')), ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/exit', '/tasks/paused', '/tasks/resumed', '/tasks/exit', '/tasks/delete']);
});

test('attach with stdin once, and a terminal with resize', async () => {
  const rt = newRuntime();
  await watch(rt);
  const c = await container(['cat'], { stdin: true });
  await rt.create(c.req);
  const s = await rt.attach(c.id);
  const o = collect(s);
  await rt.start(c.id);
  s.write(Buffer.from('hello cat\n'));
  await until(() => o.out().includes('hello cat'));
  s.closeStdin(); // stdinOnce: the container's stdin closes, cat exits
  assert.equal(await exitOf(c.id), 0);
  await o.ended;
  assert.match(await fs.readFile(c.logPath, 'utf8'), /stdout F hello cat$/m);
  await rt.delete(c.id, c.bundle, true);

  const t = await container(['sh', '-c', 'sleep 0.5; stty size; exit 2'], { terminal: true });
  await rt.create(t.req);
  const ts = collect(await rt.attach(t.id));
  await rt.start(t.id);
  await rt.resize(t.id, t.bundle, 40, 100);
  assert.equal(await exitOf(t.id), 2);
  await ts.ended;
  assert.match(ts.out(), /40 100/);
  assert.match(await fs.readFile(t.logPath, 'utf8'), /stdout F 40 100\r?$/m);
  await rt.delete(t.id, t.bundle, true);
});

test('a new tsulad adopts a running task through <bundle>/address and gets its exit and output', async () => {
  const rt1 = newRuntime();
  await watch(rt1);
  // the container prints when told to (a file in its rootfs), then waits to be told to exit
  const tag = randomBytes(4).toString('hex');
  const m = (n: string) => `/tmp/${n}-${tag}`;
  const c = await container(['sh', '-c', `while [ ! -e ${m('go')} ]; do sleep 0.05; done; i=0; while [ $i -lt 25 ]; do echo tick $i; i=$((i+1)); done; ` +
    `touch ${m('printed')}; while [ ! -e ${m('exit')} ]; do sleep 0.05; done; exit 4`]);
  await rt1.create(c.req);
  await rt1.start(c.id);
  rt1.close(); // tsulad goes away; the shim and the container stay
  await fs.writeFile(path.join(rootfs, m('go')), '');
  await until(() => existsSync(path.join(rootfs, m('printed')))); // its output went out while nobody read it
  const rt2 = newRuntime();
  assert.equal(await rt2.exitStatus(c.id), null);
  assert.ok(await rt2.monitorAlive(c.id, c.bundle));
  assert.equal((await rt2.state(c.id))?.status, 'running');
  await watch(rt2);
  await fs.writeFile(path.join(rootfs, m('exit')), '');
  assert.equal(await exitOf(c.id), 4);
  const log = await fs.readFile(c.logPath, 'utf8');
  assert.match(log, /stdout F tick 24$/m, 'output written while we were away was in the pipe');
  await rt2.delete(c.id, c.bundle, true);
  assert.deepEqual(await shimPids(c.bundle), []);
});

test('a shim killed with SIGKILL is cleaned up with the binary\'s delete action', async () => {
  const rt = newRuntime();
  await watch(rt);
  const c = await container(['sleep', '300']);
  await rt.create(c.req);
  await rt.start(c.id);
  const address = (await fs.readFile(path.join(c.bundle, 'address'), 'utf8')).trim();
  const raw = await TtrpcClient.connect(shimSocketPath(address));
  const { shimPid, taskPid } = await raw.service(Task).connect({ id: c.id });
  raw.close();
  assert.ok(shimPid > 0 && taskPid > 0);
  process.kill(shimPid, 'SIGKILL');
  assert.equal(await exitOf(c.id), 137);
  await assert.rejects(execFileP('runc', ['--root', RUNC_ROOT, 'state', c.id]), 'runc state is gone');
  await until(() => { try { process.kill(taskPid, 0); return false; } catch { return true; } });
  assert.equal(await rt.monitorAlive(c.id, c.bundle), false);
  await rt.delete(c.id, c.bundle, true);
  assert.ok(!existsSync(path.join(c.bundle, 'address')));
});

test('start failure is reported and leaves no shim behind', async () => {
  const rt = newRuntime();
  await watch(rt);
  const c = await container(['/no/such/binary']);
  await assert.rejects(async () => { await rt.create(c.req); await rt.start(c.id); }, /no such file|not found/i);
  await rt.delete(c.id, c.bundle, true).catch(() => {});
  for (let i = 0; i < 100 && (await shimPids(c.bundle)).length; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await shimPids(c.bundle), []);
});
