// Containers through tsulad's CRI with the real crictl, in pods on a private CNI network:
// create/start/ps/inspect/logs (CRI log format, ReopenContainerLog), exec (-s, exit codes,
// -it on a pty, ExecSync's timeout), attach, stop/rm, two containers sharing a pod's
// network and PID namespace, reasons (Completed, Error, OOMKilled), kill -9 of tsulad, and
// bad input (unknown ids, a stopped pod, a name reserved, a log path out of the pod's dir).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { TestDaemon, waitFor, IMAGES } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { createTestNet, type TestNet } from '../helpers/network.js';
import { PtyProcess } from '../helpers/pty.js';

let net: TestNet;
let d: TestDaemon;
let logs: string;
before(async () => {
  crictlPath();
  net = await createTestNet('crictr');
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': net.confDir } });
  await d.loadBusybox();
  logs = path.join(d.dir, 'pod-logs');
});
after(async () => {
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force']).catch(() => {});
  await d?.destroy();
  await net?.destroy();
});

const cri = (args: string[], o: { input?: string; timeoutMs?: number } = {}) => crictl(d.criSock, args, o);
const ok = async (args: string[], o: { input?: string } = {}) => {
  const r = await cri(args, o);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

let n = 0;
async function pod(extra: Record<string, unknown> = {}): Promise<{ id: string; cfg: string }> {
  const cfg = path.join(d.dir, `pod-${++n}.json`);
  await fs.writeFile(cfg, JSON.stringify({
    metadata: { name: `p${n}`, namespace: 'default', uid: `uid-${n}`, attempt: 0 }, hostname: `pod-${n}`,
    log_directory: path.join(logs, `p${n}`), linux: {}, ...extra,
  }));
  return { id: await ok(['runp', cfg]), cfg };
}

async function ctr(p: { id: string; cfg: string }, name: string, cfgExtra: Record<string, unknown>, start = true): Promise<string> {
  const f = path.join(d.dir, `ctr-${name}-${++n}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'busybox' }, log_path: `${name}.log`, linux: {}, ...cfgExtra }));
  const id = await ok(['create', p.id, f, p.cfg]);
  if (start) await ok(['start', id]);
  return id;
}

interface Inspect { status: { state: string; exitCode: number; reason: string; logPath: string; metadata: { name: string } }; info: { pid: number } }
const inspect = async (id: string) => JSON.parse(await ok(['inspect', id])) as Inspect;
const exited = (id: string) => waitFor(async () => (await inspect(id)).status.state === 'CONTAINER_EXITED', 20_000, `container ${id} to exit`);

test('a container in a pod: ps, inspect, logs in the pod\'s log dir, exec, exec -s, stop, rm', async () => {
  const p = await pod();
  // its own PID namespace (pid CONTAINER): its command is pid 1, whose stdout the reopen
  // test below writes to (without namespace_options it would join the pod's, as containerd)
  const id = await ctr(p, 'web', {
    command: ['sh', '-c', 'echo started; echo to-err >&2; hostname; exec sleep 1000'], envs: [{ key: 'GREETING', value: 'hi' }],
    linux: { security_context: { namespace_options: { pid: 1 } } },
  });
  assert.match(await ok(['ps']), new RegExp(`${id.slice(0, 13)}\\s+busybox\\s+.*Running\\s+web\\s+0\\s+${p.id.slice(0, 13)}`));
  const st = await inspect(id);
  assert.equal(st.status.state, 'CONTAINER_RUNNING');
  assert.equal(st.status.logPath, path.join(logs, `p${n - 1}`, 'web.log'));
  assert.ok(st.info.pid > 0);
  await waitFor(async () => (await ok(['logs', id])).includes(`pod-${n - 1}`), 10_000, 'the logs');
  const r = await cri(['logs', id]);
  assert.equal(r.stdout, `started\npod-${n - 1}\n`);
  assert.equal(r.stderr, 'to-err\n');
  // the log file is in CRI's format: "<RFC3339Nano> <stream> <F|P> <text>" (conmon writes the
  // zone as +00:00, which kubelet's RFC3339Nano parser reads as Z)
  assert.match(await fs.readFile(st.status.logPath, 'utf8'), /^\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d) stdout F started\n/);
  assert.equal(await ok(['exec', id, 'sh', '-c', 'echo $GREETING']), 'hi');
  const bad = await cri(['exec', id, 'sh', '-c', 'exit 7']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /command terminated with exit code 7/);
  assert.equal(await ok(['exec', '-s', id, 'cat', '/etc/hostname']), `pod-${n - 1}`);
  // kubelet's log rotation: the file is moved away, then ReopenContainerLog
  await fs.rename(st.status.logPath, `${st.status.logPath}.1`);
  await ok(['exec', id, 'sh', '-c', 'echo before-reopen > /proc/1/fd/1']);
  // (crictl has no reopen command: the RPC is driven by the streaming-less gRPC call below)
  const { criCall } = await import('../helpers/cri-grpc.js');
  await criCall(d.criSock, 'reopenContainerLog', { containerId: id });
  await ok(['exec', id, 'sh', '-c', 'echo after-reopen > /proc/1/fd/1']);
  await waitFor(async () => (await fs.readFile(st.status.logPath, 'utf8').catch(() => '')).includes('after-reopen'), 10_000, 'the reopened log');
  assert.match(await fs.readFile(`${st.status.logPath}.1`, 'utf8'), /before-reopen/);
  await ok(['stop', '--timeout', '1', id]);
  assert.equal((await inspect(id)).status.state, 'CONTAINER_EXITED');
  await ok(['rm', id]);
  assert.equal(await ok(['ps', '-a', '-q', '--pod', p.id]), '');
  await ok(['rmp', '-f', p.id]);
});

test('two containers of a pod share its network and, when asked, its PID namespace', async () => {
  const p = await pod({ linux: { security_context: { namespace_options: { pid: 0 } } } });
  const server = await ctr(p, 'server', { command: ['sh', '-c', 'echo pong > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'], linux: { security_context: { namespace_options: { pid: 0 } } } });
  const client = await ctr(p, 'client', { command: ['sleep', '1000'], linux: { security_context: { namespace_options: { pid: 0 } } } });
  await waitFor(async () => (await cri(['exec', client, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/index.html'])).stdout === 'pong\n', 15_000, 'the server over the pod\'s localhost');
  // a shared PID namespace: the client sees the server's httpd
  assert.match(await ok(['exec', client, 'ps']), /httpd -f -p 8080/);
  await ok(['rmp', '-f', p.id]);
  assert.equal((await cri(['inspect', server])).code !== 0, true, 'the pod\'s containers went with it');
});

test('/dev/shm is the pod\'s (containerd\'s sandbox shm): its containers share one tmpfs, gone at stopp; IPC NODE: the node\'s', async () => {
  const p = await pod();
  const a = await ctr(p, 'shm-a', { command: ['sleep', '1000'] });
  const b = await ctr(p, 'shm-b', { command: ['sleep', '1000'] });
  await ok(['exec', a, 'sh', '-c', 'echo shared > /dev/shm/seg']);
  assert.equal(await ok(['exec', b, 'cat', '/dev/shm/seg']), 'shared');
  // the pod's tmpfs itself (one device), 64 MiB as containerd's
  const shmDir = path.join(d.state, 'pods', p.id, 'shm');
  assert.equal(await ok(['exec', b, 'stat', '-c', '%d', '/dev/shm']), String((await fs.stat(shmDir)).dev));
  assert.match(await ok(['exec', b, 'sh', '-c', 'grep " /dev/shm " /proc/mounts']), /tmpfs .*size=65536k/);
  // a container created later in the pod sees what is there
  const c = await ctr(p, 'shm-c', { command: ['cat', '/dev/shm/seg'] });
  await exited(c);
  assert.equal((await cri(['logs', c])).stdout, 'shared\n');
  const mounted = () => fs.readFile('/proc/self/mountinfo', 'utf8').then((t) => t.includes(` ${shmDir} `));
  assert.equal(await mounted(), true, `the pod's tmpfs at ${shmDir}`);
  await ok(['stopp', p.id]);
  assert.equal(await mounted(), false, 'unmounted when the pod stops');
  await ok(['rmp', p.id]);

  // IPC NODE: the node's /dev/shm, as with docker's --ipc host
  const seg = `tsula-test-${process.pid}`;
  await fs.writeFile(path.join('/dev/shm', seg), 'node\n');
  try {
    const q = await pod({ linux: { security_context: { namespace_options: { ipc: 2 } } } });
    const e = await ctr(q, 'shm-node', { command: ['cat', `/dev/shm/${seg}`], linux: { security_context: { namespace_options: { ipc: 2 } } } });
    await exited(e);
    assert.equal((await cri(['logs', e])).stdout, 'node\n');
    await ok(['rmp', '-f', q.id]);
  } finally {
    await fs.rm(path.join('/dev/shm', seg), { force: true });
  }
});

test('mount propagation (critest\'s): rprivate, rslave host → container, rshared both ways; rshared off a private mount refused', async () => {
  const p = await pod({ linux: { security_context: { privileged: true } } });
  const dirs: string[] = [];
  try {
    // CRI's PROPAGATION_PRIVATE 0, HOST_TO_CONTAINER 1, BIDIRECTIONAL 2
    for (const prop of [0, 1, 2]) {
      const host = await fs.mkdtemp(path.join(d.dir, `prop${prop}-`));
      dirs.push(host);
      const src = path.join(host, 'mnt');
      const point = path.join(src, 'propagationMnt');
      const flags = path.join(host, 'propagationSrcDir');
      await fs.mkdir(point, { recursive: true });
      await fs.mkdir(flags);
      await fs.writeFile(path.join(flags, 'flagFile'), '');
      execFileSync('mount', ['--rbind', src, src]);
      execFileSync('mount', [prop === 0 ? '--make-rprivate' : '--make-rshared', src]);
      const id = await ctr(p, `prop${prop}`, { command: ['sh', '-c', 'top'], linux: { security_context: { privileged: true } }, mounts: [{ host_path: src, container_path: src, propagation: prop }] });
      const m = (JSON.parse(await ok(['inspect', id])) as { status: { mounts: Array<{ propagation: string }> } }).status.mounts;
      assert.deepEqual(m.map((x) => x.propagation), [['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'][prop]]);
      // the host mounts after the start: seen inside unless private
      execFileSync('mount', ['--rbind', flags, point]);
      assert.equal(await ok(['exec', id, 'ls', '-A', point]), prop === 0 ? '' : 'flagFile', `host → container, propagation ${prop}`);
      // the container mounts: seen on the host only when bidirectional (needs the container's / rshared)
      const inner = path.join(src, 'containerMntPoint');
      await ok(['exec', id, 'sh', '-c', `mkdir -p ${inner} && mount --bind /etc ${inner}`]);
      assert.equal((await fs.readdir(inner)).length > 0, prop === 2, `container → host, propagation ${prop}`);
      spawnSync('umount', ['-l', inner]);
    }
    // rshared asked for a bind on a private mount: refused at create (containerd builds the
    // spec there), saying what to do; no container is left
    const priv = await fs.mkdtemp(path.join(d.dir, 'private-'));
    dirs.push(priv);
    execFileSync('mount', ['--bind', priv, priv]);
    execFileSync('mount', ['--make-private', priv]);
    const before = (await ok(['ps', '-a', '-q'])).split('\n').filter(Boolean).length;
    const f = path.join(d.dir, 'ctr-shared-off-private.json');
    await fs.writeFile(f, JSON.stringify({ metadata: { name: 'shared-off-private' }, image: { image: 'busybox' }, command: ['true'], linux: {}, mounts: [{ host_path: priv, container_path: '/x', propagation: 2 }] }));
    const r = await cri(['create', p.id, f, p.cfg]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /code = FailedPrecondition desc = path .* is mounted on .* but it is not a shared mount \(bind .* is rshared; mount --make-rshared/);
    assert.equal((await ok(['ps', '-a', '-q'])).split('\n').filter(Boolean).length, before);
  } finally {
    await ok(['rmp', '-f', p.id]);
    for (const dir of dirs) {
      for (const mp of (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((l) => l.split(' ')[4]).filter((x) => x?.startsWith(dir)).reverse()) spawnSync('umount', ['-l', mp!]);
    }
  }
});

test('run_as_group: with run_as_user both apply; without a user the container is refused (containerd: "specified without user")', async () => {
  const p = await pod();
  const id = await ctr(p, 'rag', { command: ['sleep', '1000'], linux: { security_context: { run_as_user: { value: 1001 }, run_as_group: { value: 1002 } } } });
  assert.equal(await ok(['exec', id, 'sh', '-c', 'echo $(id -u):$(id -g)']), '1001:1002');
  const f = path.join(d.dir, 'group-only.json');
  await fs.writeFile(f, JSON.stringify({ metadata: { name: 'group-only' }, image: { image: 'busybox' }, command: ['true'], linux: { security_context: { run_as_group: { value: 1002 } } } }));
  const r = await cri(['create', p.id, f, p.cfg]);
  assert.match(r.stderr, /code = InvalidArgument desc = container config: run_as_group 1002 is set without run_as_user or run_as_username/);
  await ok(['rmp', '-f', p.id]);
});

test('idempotence (critest\'s): StopContainer of an unknown or removed container, stop and remove twice; update of a memory limit alone', async () => {
  const { criCall } = await import('../helpers/cri-grpc.js');
  await criCall(d.criSock, 'stopContainer', { containerId: '0f4f4d2e-9a2b-4f59-8a7e-5a8b1a3c9e11', timeout: 0n });
  const p = await pod();
  const id = await ctr(p, 'idem', { command: ['sh', '-c', 'top'] });
  // no swap limit given: the update gives none either (as at create), no conflict with the old one
  await ok(['update', '--memory', String(100 * 1024 * 1024), id]);
  const pid = (await inspect(id)).info.pid;
  const cg = (await fs.readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = cg.find((l) => /:memory:/.test(l));
  const limit = v1 ? `/sys/fs/cgroup/memory${v1.split(':')[2]}/memory.limit_in_bytes` : `/sys/fs/cgroup${cg.find((l) => l.startsWith('0::'))!.slice(3)}/memory.max`;
  assert.equal((await fs.readFile(limit, 'utf8')).trim(), String(100 * 1024 * 1024));
  for (let i = 0; i < 2; i++) await ok(['stop', '--timeout', '60', id]);
  for (let i = 0; i < 2; i++) await criCall(d.criSock, 'removeContainer', { containerId: id });
  await criCall(d.criSock, 'stopContainer', { containerId: id, timeout: 0n });
  await ok(['rmp', '-f', p.id]);
});

test('container status names the image as containerd does: its first tag, image_ref its repo digest (kubelet\'s imageID)', async () => {
  const reg = await TestRegistry.start();
  const p = await pod();
  try {
    await reg.push(path.join(IMAGES, 'busybox.tar'), 'lib/bb:1');
    const digest = (await reg.getManifest('lib/bb', '1')).digest;
    await ok(['pull', `${reg.host}/lib/bb@${digest}`]);
    // pulled by digest only: no tag of its own, so the name it was asked by stays
    const id = await ctr(p, 'bydigest', { command: ['sleep', '1000'], image: { image: `${reg.host}/lib/bb@${digest}` } });
    let s = (JSON.parse(await ok(['inspect', id])) as { status: { image: { image: string }; imageRef: string } }).status;
    assert.equal(s.imageRef, `${reg.host}/lib/bb@${digest}`);
    assert.ok([`${reg.host}/lib/bb@${digest}`, 'docker.io/library/busybox:latest'].includes(s.image.image), s.image.image);
    // asked by id: shown by a tag
    await ok(['pull', `${reg.host}/lib/bb:1`]);
    const imageId = (await ok(['inspecti', '-o', 'go-template', '--template', '{{.status.id}}', `${reg.host}/lib/bb:1`]));
    const byId = await ctr(p, 'byid', { command: ['sleep', '1000'], image: { image: imageId } });
    s = (JSON.parse(await ok(['inspect', byId])) as { status: { image: { image: string }; imageRef: string } }).status;
    assert.match(s.image.image, /:(1|latest)$/);
    assert.equal(s.imageRef, `${reg.host}/lib/bb@${digest}`);
  } finally {
    await cri(['rmp', '-f', p.id]);
    await cri(['rmi', `${reg.host}/lib/bb:1`]);
    await reg.stop();
    await d.loadBusybox();
  }
});

test('exit reasons: Completed, Error, OOMKilled; attach to a running container', async () => {
  const p = await pod();
  const done = await ctr(p, 'done', { command: ['true'] });
  const fail = await ctr(p, 'fail', { command: ['sh', '-c', 'exit 3'] });
  const oom = await ctr(p, 'oom', { command: ['sh', '-c', 'x=a; while :; do x=$x$x; done'], linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024 } } });
  for (const [id, reason, code] of [[done, 'Completed', 0], [fail, 'Error', 3], [oom, 'OOMKilled', 137]] as const) {
    await exited(id);
    const s = (await inspect(id)).status;
    assert.deepEqual([s.reason, s.exitCode], [reason, code], id);
  }
  // the client's EOF on a container that keeps its stdin (not stdin_once) is a detach, as
  // containerd's ContainerIO.Attach: crictl returns at once, the container runs on
  const att = await ctr(p, 'att', { command: ['sh', '-c', 'while read l; do echo "got $l"; done; echo bye'], stdin: true });
  const t0 = Date.now();
  const r = await cri(['attach', '-i', att], { input: 'one\n', timeoutMs: 20_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /got one/);
  assert.ok(Date.now() - t0 < 10_000, `attach ended after ${Date.now() - t0} ms`);
  assert.equal((await inspect(att)).status.state, 'CONTAINER_RUNNING');
  const again = await cri(['attach', '-i', att], { input: 'two\n', timeoutMs: 20_000 });
  assert.match(again.stdout, /got two/);
  // stdin_once: the EOF is the container's, and its output comes until it exits
  const once = await ctr(p, 'once', { command: ['sh', '-c', 'while read l; do echo "got $l"; done; echo bye'], stdin: true, stdin_once: true });
  const r2 = await cri(['attach', '-i', once], { input: 'three\n', timeoutMs: 20_000 });
  assert.match(r2.stdout, /got three\nbye/);
  await exited(once);
  // an exec whose client goes away runs on (containerd runs it on a background context)
  const ex = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'exec', att, 'sleep', '2987'], { stdio: 'ignore' });
  const running = async () => (await ok(['exec', '-s', att, 'ps', '-o', 'args'])).includes('sleep 2987');
  await waitFor(running, 10_000, 'the exec to run');
  ex.kill('SIGKILL');
  await new Promise((res) => setTimeout(res, 1000));
  assert.ok(await running(), 'the exec outlives its client');
  await ok(['rmp', '-f', p.id]);
});

test('exec -it on a terminal, ExecSync\'s timeout', async () => {
  const p = await pod();
  const id = await ctr(p, 'sh', { command: ['sleep', '1000'] });
  const t = new PtyProcess([crictlPath(), '--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'exec', '-it', id, 'sh']);
  try {
    await t.expect(/\/ # /, 0, 15_000);
    t.type('echo typed-$((6*7)); tty\r');
    await t.expect(/typed-42[\s\S]*\/dev\/pts\/\d+/, 0, 10_000);
    t.type('exit 4\r');
    assert.notEqual(await t.status(), 0);
    assert.match(t.output, /command terminated with exit code 4/);
  } finally {
    t.kill();
  }
  const { criCall } = await import('../helpers/cri-grpc.js');
  const t0 = Date.now();
  // containerd's words: kubelet's probe and iSulad's cri_exec_sync.sh look for "timeout"
  await assert.rejects(criCall(d.criSock, 'execSync', { containerId: id, cmd: ['sleep', '30'], timeout: 1n }), (e: { kind?: string; message?: string }) =>
    e.kind === 'DeadlineExceeded' && e.message === 'failed to exec in container: timeout 1s exceeded: context deadline exceeded');
  assert.ok(Date.now() - t0 < 10_000);
  const r = await criCall(d.criSock, 'execSync', { containerId: id, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 2'], timeout: 10n }) as { stdout: Uint8Array; stderr: Uint8Array; exitCode: number };
  assert.deepEqual([Buffer.from(r.stdout).toString(), Buffer.from(r.stderr).toString(), r.exitCode], ['out\n', 'err\n', 2]);
  // each ExecSync lets its attach socket go (kubelet's exec probes run for months)
  const fds = async () => (await fs.readdir(`/proc/${d.proc!.pid}/fd`)).length;
  const before = await fds();
  for (let i = 0; i < 20; i++) await criCall(d.criSock, 'execSync', { containerId: id, cmd: ['true'], timeout: 10n });
  await waitFor(async () => (await fds()) < before + 5, 10_000, `tsulad's fds near ${before} after 20 ExecSync`);
  await ok(['rmp', '-f', p.id]);
});

test('kill -9 of tsulad: running and exited containers keep their state and exit codes', async () => {
  const p = await pod();
  const live = await ctr(p, 'live', { command: ['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 6'] });
  const gone = await ctr(p, 'gone', { command: ['sh', '-c', 'exit 5'] });
  await exited(gone);
  await d.stop('SIGKILL');
  await d.start();
  assert.equal((await inspect(live)).status.state, 'CONTAINER_RUNNING');
  assert.deepEqual([(await inspect(gone)).status.exitCode, (await inspect(gone)).status.reason], [5, 'Error']);
  await ok(['exec', live, 'touch', '/tmp/go']);
  await exited(live);
  assert.equal((await inspect(live)).status.exitCode, 6);
  await ok(['rmp', '-f', p.id]);
});

test('bad input: unknown ids, a container for a stopped pod, a name reserved, a log path out of the pod dir', async () => {
  const missing = await cri(['inspect', 'f'.repeat(64)]);
  assert.match(missing.stderr, /code = NotFound/);
  const p = await pod();
  const f = path.join(d.dir, 'dup.json');
  await fs.writeFile(f, JSON.stringify({ metadata: { name: 'dup' }, image: { image: 'busybox' }, command: ['true'] }));
  await ok(['create', p.id, f, p.cfg]);
  const again = await cri(['create', p.id, f, p.cfg]);
  assert.match(again.stderr, /code = AlreadyExists/);
  const priv = path.join(d.dir, 'priv.json');
  await fs.writeFile(priv, JSON.stringify({ metadata: { name: 'priv' }, image: { image: 'busybox' }, command: ['true'], linux: { security_context: { privileged: true } } }));
  assert.match((await cri(['create', p.id, priv, p.cfg])).stderr, /code = InvalidArgument desc = container priv: no privileged container allowed in sandbox \w+: the pod's security context must be privileged too/);
  // a start that fails: exited to kubelet (containerd's 128 and StartError), not created (kubelet would retry it forever)
  const nocmd = path.join(d.dir, 'nocmd.json');
  await fs.writeFile(nocmd, JSON.stringify({ metadata: { name: 'nocmd' }, image: { image: 'busybox' }, command: ['/no/such/cmd'] }));
  const failed = await ok(['create', p.id, nocmd, p.cfg]);
  assert.notEqual((await cri(['start', failed])).code, 0);
  const fs1 = (JSON.parse(await ok(['inspect', failed])) as { status: { state: string; exitCode: number; reason: string; message: string; finishedAt: string } }).status;
  assert.deepEqual([fs1.state, fs1.exitCode, fs1.reason], ['CONTAINER_EXITED', 128, 'StartError']);
  assert.match(fs1.message, /no\/such\/cmd/);
  assert.ok(Date.parse(fs1.finishedAt) > 0, fs1.finishedAt);
  assert.equal(await ok(['ps', '-a', '-q', '--state', 'exited', '--name', 'nocmd']), failed);
  const escape = path.join(d.dir, 'escape.json');
  await fs.writeFile(escape, JSON.stringify({ metadata: { name: 'esc' }, image: { image: 'busybox' }, command: ['true'], log_path: '../../etc/x.log' }));
  const esc = await cri(['create', p.id, escape, p.cfg]);
  assert.match(esc.stderr, /code = InvalidArgument desc = log path \\*"\.\.\/\.\.\/etc\/x\.log\\*" leaves the pod's log_directory/);
  // a pod without log_directory: a relative log_path is taken from "/" (iSulad's "" + "/" +
  // log_path; containerd's relative path from its working directory), as iSulad's CI configs do
  const bare = await pod({ log_directory: undefined });
  const rel = `tsula-test-${process.pid}-${n}.log`;
  try {
    const relId = await ctr(bare, 'rel', { command: ['echo', 'from /'], log_path: rel });
    await exited(relId);
    assert.equal((await inspect(relId)).status.logPath, `/${rel}`);
    assert.match(await fs.readFile(`/${rel}`, 'utf8'), / stdout F from \/\n$/);
  } finally {
    await fs.rm(`/${rel}`, { force: true });
  }
  await ok(['stopp', bare.id]);
  await ok(['rmp', bare.id]);
  await ok(['stopp', p.id]);
  const stopped = await cri(['create', p.id, f.replace('dup', 'dup'), p.cfg]);
  assert.match(stopped.stderr, /code = FailedPrecondition desc = pod sandbox \w+ is not ready/);
  await ok(['rmp', p.id]);
});

test('an image\'s VOLUMEs: the container\'s anonymous volumes go with RemoveContainer and with RemovePodSandbox (containerd\'s go with the container\'s root dir)', async () => {
  await d.ok(['run', '--name', 'volsrc', 'busybox', 'true']);
  await d.ok(['commit', '-c', 'VOLUME /data', 'volsrc', 'volimg:1']);
  await d.ok(['rm', 'volsrc']);
  const vols = async () => (await fs.readdir(path.join(d.graph, 'volumes')).catch(() => [] as string[])).filter((f) => /^[0-9a-f]{64}$/.test(f));
  const before = (await vols()).length;
  const p = await pod();
  const make = async (name: string) => {
    const f = path.join(d.dir, `ctr-${name}-${++n}.json`);
    await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'volimg:1' }, log_path: `${name}.log`, linux: {}, command: ['sh', '-c', 'echo x > /data/x; sleep 60'] }));
    return ok(['create', p.id, f, p.cfg]);
  };
  const a = await make('vola');
  await make('volb');
  assert.equal((await vols()).length, before + 2, 'a volume per container');
  await ok(['rm', a]);
  assert.equal((await vols()).length, before + 1, 'RemoveContainer took its volume');
  await ok(['rmp', '-f', p.id]);
  assert.equal((await vols()).length, before, 'RemovePodSandbox took the rest');
  await d.ok(['rmi', 'volimg:1']);
});

test('StopContainer with timeout 0 sends SIGKILL at once (a TERM handler never runs: 137), with a timeout the stop signal first (containerd\'s)', async () => {
  const p = await pod();
  const trap = { command: ['sh', '-c', 'trap "exit 3" TERM; while true; do sleep 0.1; done'] };
  const a = await ctr(p, 'killnow', trap);
  const b = await ctr(p, 'termfirst', trap);
  await new Promise((r) => setTimeout(r, 300)); // the traps are set
  await ok(['stop', '--timeout', '0', a]);
  await ok(['stop', '--timeout', '10', b]);
  assert.deepEqual([(await inspect(a)).status.exitCode, (await inspect(b)).status.exitCode], [137, 3]);
  await ok(['rmp', '-f', p.id]);
});

test('a host-network pod with a hostname of its own: /etc/hostname says it (containerd\'s setupSandboxFiles)', async () => {
  const named = await pod({ hostname: 'custom-h', linux: { security_context: { namespace_options: { network: 2 } } } });
  const a = await ctr(named, 'hn', { command: ['cat', '/etc/hostname'] });
  await exited(a);
  assert.match(await ok(['logs', a]), /^custom-h$/m);
  await ok(['rmp', '-f', named.id]);
});

test('StopContainer given up by its caller (a deadline): the container runs on, no SIGKILL at the timeout (containerd\'s stopContainer; TestContainerStopCancellation)', async () => {
  const { criClient } = await import('../helpers/cri-grpc.js');
  const p = await pod();
  const id = await ctr(p, 'stubborn', { command: ['sh', '-c', 'trap "" TERM; while true; do sleep 0.1; done'] });
  await new Promise((r) => setTimeout(r, 300));
  const c = criClient(d.criSock);
  try {
    await assert.rejects((c as unknown as { stopContainer(r: unknown, o: { timeoutMs: number }): Promise<unknown> }).stopContainer({ containerId: id, timeout: 3n }, { timeoutMs: 1000 }), /DEADLINE|deadline/i);
  } finally {
    c.close();
  }
  await new Promise((r) => setTimeout(r, 3500)); // past the stop's timeout
  assert.equal((await inspect(id)).status.state, 'CONTAINER_RUNNING');
  await ok(['rmp', '-f', p.id]);
});

test('a hostname the kernel takes but hostname(1) refuses (CRI-O\'s crictl_host) names the pod; a created container\'s verbose status has the runtime spec (containerd\'s toCRIContainerInfo)', async () => {
  const p = await pod({ hostname: 'crictl_host' });
  try {
    const made = await ctr(p, 'spec', { command: ['sh', '-c', 'hostname; cat /etc/hosts'], args: [] }, false);
    const spec = (JSON.parse(await ok(['inspect', made])) as { info: { runtimeSpec: { process: { args: string[] } } | null } }).info.runtimeSpec;
    assert.ok(spec, 'a runtime spec before the start');
    assert.deepEqual(spec.process.args, ['sh', '-c', 'hostname; cat /etc/hosts']);
    await ok(['start', made]);
    await exited(made);
    const out = await ok(['logs', made]);
    assert.match(out, /^crictl_host$/m);
    // the node's /etc/hosts, copied (containerd's setupSandboxFiles)
    assert.ok(out.includes((await fs.readFile('/etc/hosts', 'utf8')).trim()), out);
  } finally {
    await ok(['rmp', '-f', p.id]);
  }
});
