// The guest channel without a VM: tsula-agent's services (agentServer, conmon + runc as in
// the guest) on one end of a unix socket, the sandboxer's GuestRuntime on the other, real
// busybox containers in between. The "shared dir" is a plain dir here (the guest would see
// it through virtio-fs). The VM tests (vmm-*.test.ts) run the same code over virtio-serial.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { agentServer, AGENT_VERSION } from '../../src/agent/index.js';
import { TaskTable } from '../../src/agent/tasks.js';
import { RuncConmonRuntime } from '../../src/runtime/runc/runtime.js';
import { GuestTasks, GuestRuntime, VM_DIED_EXIT } from '../../src/sandboxer/kinds/vmm/index.js';
import { SharedDir, mountsUnder, VOLUMES_IN_SHARED } from '../../src/sandboxer/kinds/vmm/shared.js';
import { parseMountinfo } from '../../src/storage/mounts.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { codeOf, Code } from '../../src/ttrpc/status.js';
import type { Spec } from '../../src/oci/types.js';
import type { StdioStream } from '../../src/runtime/types.js';
import { TestSandboxer } from '../helpers/sandboxer.js';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tag-'));
const helper = await TestSandboxer.create(); // only for its busybox bundles; no task goes through it
let shutdowns = 0;
const agentRuntime = new RuncConmonRuntime({ runtimePath: '/usr/sbin/runc', conmonPath: '/usr/bin/conmon', stateDir: path.join(dir, 'guest-runc') });
const table = new TaskTable({ runtime: agentRuntime, tasksDir: path.join(dir, 'guest-tasks') });
await table.init();
const { server } = agentServer({ onShutdown: () => { shutdowns++; }, tasks: table });
const sock = path.join(dir, 'agent.sock');
await server.listen(sock);
const shared = new SharedDir(path.join(dir, 'shared'), path.join(dir, 'shared'));
await shared.setup();
const runtimes: GuestRuntime[] = [];

after(async () => {
  for (const t of table.all()) await agentRuntime.delete(t.id, t.dir, true).catch(() => {});
  table.close();
  for (const r of runtimes) r.close();
  await server.close();
  await shared.teardown().catch(() => {});
  await helper.destroy();
  await fs.rm(dir, { recursive: true, force: true });
});

async function connect(): Promise<{ g: GuestTasks; rt: GuestRuntime; exits: Map<string, number> }> {
  const s = await new Promise<net.Socket>((resolve, reject) => {
    const c = net.connect(sock);
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
  const g = new GuestTasks(TtrpcClient.fromStream(s, 'test agent'));
  const rt = new GuestRuntime(g, shared, 'pod');
  const exits = new Map<string, number>();
  await rt.watchExits((id, code) => { exits.set(id, code); });
  runtimes.push(rt);
  return { g, rt, exits };
}

async function spec(name: string, args: string[], terminal = false): Promise<Spec> {
  const b = await helper.bundle(name, args);
  const s = JSON.parse(await fs.readFile(path.join(b, 'config.json'), 'utf8')) as Spec;
  s.root.path = path.join(b, 'rootfs');
  s.process.terminal = terminal;
  return s;
}

function collect(io: StdioStream): { out: Promise<string>; err: Promise<string> } {
  let out = '';
  let err = '';
  io.onOutput((s, d) => { if (s === 2) err += d.toString(); else out += d.toString(); });
  const ended = new Promise<void>((r) => io.onEnd(r));
  return { out: ended.then(() => out), err: ended.then(() => err) };
}

/** Task ids in the guest are the sandboxer's keys (64 hex digits). */
const k = (name: string) => createHash('sha256').update(name).digest('hex');

const waitFor = async (f: () => boolean, ms = 10_000) => {
  for (const end = Date.now() + ms; Date.now() < end && !f();) await new Promise((r) => setTimeout(r, 20));
  assert.ok(f(), 'condition not met in time');
};

test('ping answers with the kernel release and the agent version', async () => {
  const { g } = await connect();
  const p = await g.ping();
  assert.equal(p.kernelRelease, os.release());
  assert.equal(p.version, AGENT_VERSION);
  g.close();
});

test('a container: nothing runs before start; stdout, stderr, exit status, delete unshares its rootfs', async () => {
  const { rt, g, exits } = await connect();
  const marker = '/tmp/ran';
  const pid = await rt.create({ id: k('c1'), bundle: '', spec: await spec('c1', ['sh', '-c', `touch ${marker}; echo out; echo err >&2; exit 7`]), logPath: '', terminal: false, stdin: false, stdinOnce: true });
  assert.ok(pid > 0);
  const rootfs = path.join(shared.hostDir, k('c1'), 'rootfs');
  assert.ok(mountsUnder(shared.hostDir).includes(rootfs), 'the rootfs is shared');
  const io = collect(await rt.attach(k('c1'), ''));
  await new Promise((r) => setTimeout(r, 100));
  await assert.rejects(fs.stat(path.join(rootfs, marker)), 'the program ran before Start');
  await rt.start(k('c1'));
  assert.equal(await io.out, 'out\n');
  assert.equal(await io.err, 'err\n');
  await waitFor(() => exits.has(k('c1')));
  assert.equal(exits.get(k('c1')), 7);
  assert.equal((await g.state(k('c1'))).status, 'stopped');
  await rt.delete(k('c1'), '', false);
  assert.deepEqual(mountsUnder(path.join(shared.hostDir, k('c1'))), []);
  await assert.rejects(g.state(k('c1')), (e) => codeOf(e) === Code.NOT_FOUND);
  g.close();
});

test('stdin, exec with its own output and exit code, kill → 137, and the errors containerd relies on', async () => {
  const { rt, g, exits } = await connect();
  await rt.create({ id: k('cat'), bundle: '', spec: await spec('cat', ['cat']), logPath: '', terminal: false, stdin: true, stdinOnce: true });
  const io = await rt.attach(k('cat'), '');
  const got = collect(io);
  await rt.start(k('cat'));
  io.write(Buffer.from('abc'));
  io.closeStdin();
  assert.equal(await got.out, 'abc');
  await waitFor(() => exits.get(k('cat')) === 0);

  await rt.create({ id: k('sl'), bundle: '', spec: await spec('sl', ['sleep', '100']), logPath: '', terminal: false, stdin: false, stdinOnce: true });
  await rt.start(k('sl'));
  const h = await rt.exec({ containerId: k('sl'), execId: 'e1', dir: path.join(dir, 'e1'), process: { args: ['sh', '-c', 'echo in-exec; exit 5'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }, attach: true, stdin: false });
  const eo = collect(h.stdio!);
  assert.equal(await h.exited, 5);
  assert.equal(await eo.out, 'in-exec\n');
  assert.deepEqual((await rt.pids(k('sl'))).length, 1);
  await assert.rejects(g.delete(k('sl')), (e) => codeOf(e) === Code.FAILED_PRECONDITION);
  await rt.kill(k('sl'), 'KILL');
  await waitFor(() => exits.get(k('sl')) === 137);

  await assert.rejects(g.state(k('nope')), (e) => codeOf(e) === Code.NOT_FOUND);
  await assert.rejects(rt.create({ id: k('cat'), bundle: '', spec: await spec('cat2', ['true']), logPath: '', terminal: false, stdin: false, stdinOnce: true }),
    (e) => codeOf(e) === Code.ALREADY_EXISTS);
  await rt.delete(k('sl'), '', true);
  await rt.delete(k('cat'), '', true);
  g.close();
});

test('a host that stops reading makes the process wait (nothing dropped): 8 MiB through a paused stream', async () => {
  const { rt, exits } = await connect();
  await rt.create({ id: k('big'), bundle: '', spec: await spec('big', ['sh', '-c', "head -c 8388608 /dev/zero | tr '\\0' a"]), logPath: '', terminal: false, stdin: false, stdinOnce: true });
  const io = await rt.attach(k('big'), '');
  io.pause!();
  let n = 0;
  io.onOutput((_s, d) => { n += d.length; });
  const ended = new Promise<void>((r) => io.onEnd(r));
  await rt.start(k('big'));
  await new Promise((r) => setTimeout(r, 1500));
  assert.ok(!exits.has(k('big')), 'the process waits for its reader');
  assert.ok(n < 4 << 20, `${n} bytes read while paused`);
  io.resume!();
  await ended;
  assert.equal(n, 8 << 20);
  await waitFor(() => exits.get(k('big')) === 0);
  await rt.delete(k('big'), '', false);
});

test("a pod's namespaces: a path naming a running task of the VM is joined (containerd's CRI names its pause container's), any other path is dropped", async () => {
  const { rt } = await connect();
  const pausePid = await rt.create({ id: k('pause'), bundle: '', spec: await spec('pause', ['sleep', '100']), logPath: '', terminal: false, stdin: false, stdinOnce: true });
  await rt.start(k('pause'));
  const s = await spec('app', ['sh', '-c', 'for n in ipc pid uts; do readlink /proc/self/ns/$n; done; cat /proc/1/comm']);
  s.linux!.namespaces = [...(s.linux!.namespaces ?? []).filter((n) => !['ipc', 'pid', 'uts'].includes(n.type)),
    { type: 'ipc', path: `/proc/${pausePid}/ns/ipc` }, { type: 'pid', path: `/proc/${pausePid}/ns/pid` }, { type: 'uts', path: '/proc/1/ns/uts' }];
  await rt.create({ id: k('app'), bundle: '', spec: s, logPath: '', terminal: false, stdin: false, stdinOnce: true });
  const got = collect(await rt.attach(k('app'), ''));
  await rt.start(k('app'));
  const [ipc, pid, uts, comm] = (await got.out).trim().split('\n');
  assert.equal(ipc, await fs.readlink(`/proc/${pausePid}/ns/ipc`));
  assert.equal(pid, await fs.readlink(`/proc/${pausePid}/ns/pid`));
  assert.equal(comm, 'sleep', "pid 1 is the pause container's process");
  assert.notEqual(uts, await fs.readlink('/proc/self/ns/uts'), 'a path that is no task of the VM is not joined: the container has its own');
  await rt.kill(k('pause'), 'KILL');
  await rt.delete(k('app'), '', true);
  await rt.delete(k('pause'), '', true);
});

test("a VM pod of tsulad's CRI (no pause container): containers marked io.tsula.pod-namespaces share one holder's UTS, IPC and PID namespaces", async () => {
  const { rt } = await connect();
  const out: string[] = [];
  for (const name of ['pa', 'pb']) {
    const s = await spec(name, ['sh', '-c', "for n in ipc pid uts; do readlink /proc/self/ns/$n; done; tr '\\0' ' ' < /proc/1/cmdline"]);
    s.annotations = { ...s.annotations, 'io.tsula.pod-namespaces': 'uts,ipc,pid' };
    await rt.create({ id: k(name), bundle: '', spec: s, logPath: '', terminal: false, stdin: false, stdinOnce: true });
    const got = collect(await rt.attach(k(name), ''));
    await rt.start(k(name));
    out.push((await got.out).trim());
    await rt.delete(k(name), '', true);
  }
  assert.equal(out[0], out[1], 'the same namespaces for both');
  const [ipc, , uts, cmdline] = out[0]!.split('\n');
  assert.notEqual(ipc, await fs.readlink('/proc/self/ns/ipc'));
  assert.notEqual(uts, await fs.readlink('/proc/self/ns/uts'));
  assert.equal(cmdline!.trim(), '/usr/bin/catatonit -P', "pid 1 is the holder's (catatonit, reaping the pod's orphans)");
});

// virtiofsd keys its inodes by (ino, dev, mount): a dir shared through two mounts would be two
// guest inodes, and a socket, lock or watch in one container would not meet the other's
test("a pod's containers binding one host dir share one mount of it, counted on disk (a restarted sandboxer's SharedDir counts the same); read-only on the host while only read-only binds use it", async () => {
  const vol = await fs.mkdtemp(path.join(dir, 'vol-'));
  const tools = await fs.mkdtemp(path.join(dir, 'tools-'));
  const base = await spec('vol', ['true']);
  const bind = (destination: string, source: string, ro: boolean) => ({ destination, type: 'bind', source, options: ['rbind', 'rprivate', ...(ro ? ['ro'] : [])] });
  const withBinds = (...m: ReturnType<typeof bind>[]): Spec => ({ ...base, mounts: [...(base.mounts ?? []), ...m] });
  const src = (s: Spec, d: string) => s.mounts!.find((m) => m.destination === d)!;
  const hostOf = (guest: string) => path.join(shared.hostDir, VOLUMES_IN_SHARED, path.basename(guest));
  const flags = (p: string) => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === p).at(-1)?.mountOptions.split(',');
  const a = await shared.share(k('va'), withBinds(bind('/v', vol, false), bind('/t', tools, true)));
  const again = new SharedDir(shared.hostDir, shared.guestDir);
  const b = await again.share(k('vb'), withBinds(bind('/v', `${vol}/.`, true), bind('/t', tools, true)));
  assert.equal(src(b, '/v').source, src(a, '/v').source, 'one share of vol, whoever binds it read-only');
  assert.equal(src(b, '/t').source, src(a, '/t').source);
  assert.deepEqual([src(a, '/v').options, src(b, '/v').options], [['rbind', 'rprivate'], ['rbind', 'rprivate', 'ro']], 'the guest binds as asked');
  assert.ok(flags(hostOf(src(a, '/v').source!))?.includes('rw'));
  assert.ok(flags(hostOf(src(a, '/t').source!))?.includes('ro'), 'only read-only binds: a read-only share');
  assert.equal(mountsUnder(path.join(shared.hostDir, VOLUMES_IN_SHARED)).length, 2);
  assert.deepEqual([...(await again.shareCounts()).values()], [2, 2]);
  // a writer of a source shared read-only so far gets a writable share of its own
  const c = await shared.share(k('vc'), withBinds(bind('/t', tools, false)));
  assert.notEqual(src(c, '/t').source, src(a, '/t').source);
  await shared.unshare(k('vc'));
  await shared.unshare(k('va'));
  assert.equal(mountsUnder(path.join(shared.hostDir, VOLUMES_IN_SHARED)).length, 2, 'vb still uses both');
  await again.unshare(k('vb'));
  assert.deepEqual(mountsUnder(path.join(shared.hostDir, VOLUMES_IN_SHARED)), []);
  assert.deepEqual(await fs.readdir(path.join(shared.hostDir, VOLUMES_IN_SHARED)), []);
});

test('a terminal: output through the pty, resize reaches it', async () => {
  const { rt, g, exits } = await connect();
  await rt.create({ id: k('tty'), bundle: '', spec: await spec('tty', ['sh', '-c', 'sleep 0.5; stty size; tty'], true), logPath: '', terminal: true, stdin: false, stdinOnce: true });
  const got = collect(await rt.attach(k('tty'), ''));
  await rt.start(k('tty'));
  await rt.resize(k('tty'), '', 33, 101);
  const out = await got.out;
  assert.match(out, /33 101/);
  assert.match(out, /\/dev\/pts\/0/);
  await waitFor(() => exits.get(k('tty')) === 0);
  await rt.delete(k('tty'), '', false);
  g.close();
});

test('a lost VM answers waits with 255; a mere disconnect does not; shutdown reaches the agent', async () => {
  const a = await connect();
  await a.rt.create({ id: k('long'), bundle: '', spec: await spec('long', ['sleep', '100']), logPath: '', terminal: false, stdin: false, stdinOnce: true });
  await a.rt.start(k('long'));
  a.g.vmExited('qemu died');
  await waitFor(() => a.exits.get(k('long')) === VM_DIED_EXIT);

  const b = await connect();
  assert.equal(await b.rt.monitorAlive(k('long')), true, 'still running in the "guest"');
  b.g.close(); // the sandboxer going away: no exit reported
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(b.exits.has(k('long')), false);

  const c = await connect();
  assert.equal(await c.rt.monitorAlive(k('long')), true);
  await c.rt.kill(k('long'), '9');
  await waitFor(() => c.exits.get(k('long')) === 137);
  await c.rt.delete(k('long'), '', false);
  await c.g.shutdown();
  await waitFor(() => shutdowns === 1);
  c.g.close();
});
