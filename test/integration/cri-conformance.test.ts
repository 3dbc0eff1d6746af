// What critest (cri-tools v1.29, pkg/validate) checks of a runc pod that the other cri-*
// tests do not: Version/Status fields, pod and container list filters, PodSandboxStatus and
// ContainerStatus fields, DNS config, sysctls, ExecSync's output/stderr/timeout, the CRI log
// line format, container stats filters, the security context (users, groups, read-only
// rootfs, privileged, capabilities, masked/read-only paths, seccomp, no_new_privs, pid/ipc/user/
// network namespace modes) and ImageStatus/RemoveImage of a missing image. Straight over
// gRPC, as critest drives it; critest's images are replaced by busybox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { TestDaemon, waitFor, IMAGES } from '../helpers/daemon.js';
import { TestRegistry } from '../helpers/registry.js';
import { crictl } from '../helpers/crictl.js';
import { docker } from '../helpers/docker-cli.js';
import { createTestNet, type TestNet } from '../helpers/network.js';
import { grpcClient } from '../../src/common/grpc.js';
import { ImageService, RuntimeService } from '../../src/gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';

type Call = (req: unknown, o?: { timeoutMs?: number }) => Promise<any>;
let tn: TestNet;
let d: TestDaemon;
let rt: Record<string, Call> & { close(): void };
let im: Record<string, Call> & { close(): void };
let reg: TestRegistry;
before(async () => {
  reg = await TestRegistry.start();
  for (const t of ['1', '2', '3']) await reg.push(path.join(IMAGES, 'busybox.tar'), `lib/busybox:${t}`);
  tn = await createTestNet('conf');
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': tn.confDir } });
  await d.loadBusybox();
  rt = grpcClient(RuntimeService, d.criSock) as unknown as typeof rt;
  im = grpcClient(ImageService, d.criSock) as unknown as typeof im;
});
after(async () => {
  rt?.close(); im?.close();
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force']).catch(() => {});
  await d?.destroy();
  await tn?.destroy();
  await reg?.stop();
});

// CRI enums
const READY = 0, NOTREADY = 1;
const CREATED = 0, RUNNING = 1, EXITED = 2;
const NS = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 };

let n = 0;
interface Pod { id: string; config: Record<string, unknown> }
async function runPod(extra: Record<string, unknown> = {}, linux: Record<string, unknown> = {}): Promise<Pod> {
  n++;
  const config = {
    // critest's names: a test's description and a UUID (kubelet's names of its containers
    // run past 253 characters with them)
    metadata: { name: `PodSandbox-for-conformance-test-${n}-${randomUUID()}`, uid: randomUUID(), namespace: 'cri-test-namespace', attempt: 1 },
    logDirectory: path.join(d.dir, 'logs', `p${n}`), linux, ...extra,
  };
  await fs.mkdir(config.logDirectory, { recursive: true });
  const r = await rt.runPodSandbox({ config });
  return { id: r.podSandboxId as string, config };
}
async function create(p: Pod, extra: Record<string, unknown> = {}, sc?: Record<string, unknown>): Promise<string> {
  n++;
  const config = {
    metadata: { name: `container-for-conformance-test-${n}-${randomUUID()}`, attempt: 0 }, image: { image: 'busybox' }, command: ['sh', '-c', 'top'],
    logPath: `ctr-${n}.log`, linux: sc ? { securityContext: sc } : {}, ...extra,
  };
  return (await rt.createContainer({ podSandboxId: p.id, config, sandboxConfig: p.config })).containerId as string;
}
async function started(p: Pod, extra: Record<string, unknown> = {}, sc?: Record<string, unknown>): Promise<string> {
  const id = await create(p, extra, sc);
  await rt.startContainer({ containerId: id });
  return id;
}
const status = async (id: string) => (await rt.containerStatus({ containerId: id })).status;
const exec = async (id: string, cmd: string[], timeout = 30) => {
  const r = await rt.execSync({ containerId: id, cmd, timeout: BigInt(timeout) });
  return { out: Buffer.from(r.stdout).toString(), err: Buffer.from(r.stderr).toString(), code: r.exitCode as number };
};
const exited = (id: string) => waitFor(async () => (await status(id)).state === EXITED, 20_000, `container ${id} to exit`);
const logOf = async (id: string) => fs.readFile((await status(id)).logPath, 'utf8');
const rmp = async (p: Pod) => { await rt.stopPodSandbox({ podSandboxId: p.id }); await rt.removePodSandbox({ podSandboxId: p.id }); };

test('runtime info: Version 0.1.0 / v1, both conditions ready', async () => {
  const v = await rt.version({ version: '0.1.0' });
  assert.deepEqual([v.version, v.runtimeName, !!v.runtimeVersion, v.runtimeApiVersion], ['0.1.0', 'tsula', true, 'v1']);
  const s = await rt.status({});
  const ready = s.status.conditions.filter((c: { type: string; status: boolean }) => ['RuntimeReady', 'NetworkReady'].includes(c.type) && c.status);
  assert.equal(ready.length, 2);
});

test('names as long as Kubernetes allows them: a 253-character pod name and namespace, a 63-character container name', async () => {
  const long = (c: string, len: number) => `${c}${'-'.repeat(len - 2)}${c}`;
  const p = await runPod({ metadata: { name: long('p', 253), uid: randomUUID(), namespace: long('n', 63), attempt: 0 } });
  const id = await started(p, { metadata: { name: long('c', 63), attempt: 0 } });
  const st = await status(id);
  assert.deepEqual([st.metadata.name, st.state], [long('c', 63), RUNNING]);
  assert.equal((await exec(id, ['echo', 'ok'])).out, 'ok\n');
  await rmp(p);
});

test('StartContainer racing StopPodSandbox: the container is stopped with the pod or refused, never left running; bad runtime config and hostnames are refused', async () => {
  for (let i = 0; i < 4; i++) {
    const p = await runPod({}, { securityContext: { namespaceOptions: { network: NS.POD, pid: NS.CONTAINER, ipc: NS.POD } } });
    const id = await create(p);
    const [start] = await Promise.allSettled([rt.startContainer({ containerId: id }), rt.stopPodSandbox({ podSandboxId: p.id })]);
    if (start.status === 'rejected') assert.match(String(start.reason), /pod sandbox \S+ is not ready/);
    assert.notEqual((await status(id)).state, RUNNING, 'no container runs in a stopped pod');
    await rt.removePodSandbox({ podSandboxId: p.id });
  }
  await assert.rejects(rt.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: 'garbage,10.0.0.0/33' } } }), /invalid CIDR address: garbage/);
  await rt.updateRuntimeConfig({ runtimeConfig: { networkConfig: { podCidr: '10.244.0.0/16,fd00::/64' } } });
  await assert.rejects(runPod({ hostname: 'h'.repeat(65) }), /hostname "h+\.\.\.": 65 bytes, at most 64/);
});

test('pods: status fields, list by id / state / labels, stop → NOTREADY, remove → gone', async () => {
  const labels = { foo: 'bar', 'io.kubernetes.pod.name': 'x' };
  const p = await runPod({ labels, annotations: { abc: 'def' } });
  const st = (await rt.podSandboxStatus({ podSandboxId: p.id })).status;
  assert.deepEqual([st.id, st.state], [p.id, READY]);
  const { name, uid, namespace, attempt } = st.metadata;
  assert.deepEqual({ name, uid, namespace, attempt }, p.config.metadata);
  assert.deepEqual([st.labels, st.annotations], [labels, { abc: 'def' }]);
  assert.ok(st.createdAt > 0n);
  assert.match(st.network.ip, /^10\./);
  const ids = async (filter: unknown) => (await rt.listPodSandbox({ filter })).items.map((i: { id: string }) => i.id);
  assert.deepEqual(await ids({ id: p.id }), [p.id]);
  assert.ok((await ids({ state: { state: READY } })).includes(p.id));
  assert.deepEqual(await ids({ labelSelector: { foo: 'bar' } }), [p.id]);
  assert.deepEqual(await ids({ labelSelector: { foo: 'baz' } }), []);
  const item = (await rt.listPodSandbox({ filter: { id: p.id } })).items[0];
  assert.deepEqual([item.annotations, item.createdAt > 0n], [{ abc: 'def' }, true]);
  await rt.stopPodSandbox({ podSandboxId: p.id });
  const stopped = (await rt.podSandboxStatus({ podSandboxId: p.id })).status;
  assert.equal(stopped.state, NOTREADY);
  // its netns is gone, and with it its IP (containerd's getIPs): the lease may be someone else's
  assert.deepEqual([stopped.network.ip, stopped.network.additionalIps], ['', []]);
  assert.ok((await ids({ state: { state: NOTREADY } })).includes(p.id));
  assert.ok(!(await ids({ state: { state: READY } })).includes(p.id));
  await rt.stopPodSandbox({ podSandboxId: p.id }); // again (critest's idempotence)
  await rt.removePodSandbox({ podSandboxId: p.id });
  assert.deepEqual(await ids({ id: p.id }), []);
  const unknown = '5f0c3b9e-8d0e-4c55-9a55-2c1e7f3b2a10';
  // critest's idempotence (cri-tools 1.31+, containerd since 1.7.21): stopping or removing a
  // pod that is not there, never was or is gone, succeeds; so do StopContainer and the Remove calls
  for (const podSandboxId of [unknown, p.id]) {
    await rt.stopPodSandbox({ podSandboxId });
    await rt.removePodSandbox({ podSandboxId });
  }
  await rt.stopContainer({ containerId: unknown });
  await rt.removeContainer({ containerId: unknown });
  for (let i = 0; i < 2; i++) await im.removeImage({ image: { image: '0'.repeat(64) } });
});

test('DNS config → /etc/resolv.conf, hostname, safe and unsafe sysctls', async () => {
  const p = await runPod({ hostname: 'conf-host', dnsConfig: { servers: ['10.10.10.10'], searches: ['google.com'], options: ['ndots:8'] } },
    { sysctls: { 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100' } });
  const id = await started(p);
  const rc = (await exec(id, ['cat', '/etc/resolv.conf'])).out;
  for (const l of ['nameserver 10.10.10.10', 'search google.com', 'options ndots:8']) assert.ok(rc.includes(l), `${l} in ${rc}`);
  assert.equal((await exec(id, ['hostname'])).out, 'conf-host\n');
  assert.equal((await exec(id, ['cat', '/proc/sys/kernel/shm_rmid_forced'])).out.trim(), '1');
  assert.equal((await exec(id, ['cat', '/proc/sys/fs/mqueue/msg_max'])).out.trim(), '100');
  await rmp(p);
});

test('containers: list by id / state / labels / pod, status fields through the lifecycle, remove created/running/stopped', async () => {
  const p = await runPod();
  const id = await create(p, { labels: { foo: 'bar' }, annotations: { a: 'b' } });
  const ids = async (filter: unknown) => (await rt.listContainers({ filter })).containers.map((c: { id: string }) => c.id);
  assert.deepEqual(await ids({ id }), [id]);
  assert.deepEqual(await ids({ state: { state: CREATED }, podSandboxId: p.id }), [id]);
  assert.deepEqual(await ids({ labelSelector: { foo: 'bar' } }), [id]);
  assert.deepEqual(await ids({ labelSelector: { foo: 'baz' } }), []);
  let st = await status(id);
  assert.equal(st.state, CREATED);
  assert.deepEqual([st.createdAt > 0n, st.startedAt, st.finishedAt], [true, 0n, 0n]);
  assert.equal(st.logPath, path.join(p.config.logDirectory as string, `ctr-${n}.log`));
  assert.equal(st.image.image, 'docker.io/library/busybox:latest');
  assert.match(st.imageRef, /^sha256:[0-9a-f]{64}$|@sha256:/);
  assert.deepEqual([st.labels, st.annotations], [{ foo: 'bar' }, { a: 'b' }]);
  await rt.startContainer({ containerId: id });
  st = await status(id);
  assert.deepEqual([st.state, st.startedAt >= st.createdAt], [RUNNING, true]);
  assert.deepEqual(await ids({ state: { state: RUNNING }, podSandboxId: p.id }), [id]);
  // runc's start returns before its init has exec'd the command: a SIGTERM then would end
  // runc init (Go, PID 1), whose runtime exits 2; the signal is for the command
  // (no namespace_options: the container shares the pod's PID namespace, whose pid 1 is the
  // pod's holder, as containerd's pause: top is found by name)
  await waitFor(async () => (await exec(id, ['sh', '-c', 'ps -o comm | grep -x top || true'])).out.trim() === 'top', 10_000, 'top running');
  await rt.stopContainer({ containerId: id, timeout: 2n });
  st = await status(id);
  assert.deepEqual([st.state, st.finishedAt >= st.startedAt], [EXITED, true]);
  assert.ok([137, 143].includes(st.exitCode), `exit code ${st.exitCode}`);
  await rt.removeContainer({ containerId: id });
  assert.deepEqual(await ids({ id }), []);
  const created = await create(p);
  await rt.removeContainer({ containerId: created });
  const running = await started(p);
  await rt.removeContainer({ containerId: running });
  assert.deepEqual(await ids({ podSandboxId: p.id }), []);
  await rmp(p);
});

test('exit status: Completed / Error with exit code, the CRI log line, ExecSync output, stderr and timeout', async () => {
  const p = await runPod();
  const ok = await started(p, { command: ['echo', 'hello World'] });
  const bad = await started(p, { command: ['sh', '-c', 'echo oops >&2; exit 3'] });
  await exited(ok); await exited(bad);
  const a = await status(ok), b = await status(bad);
  assert.deepEqual([a.exitCode, a.reason], [0, 'Completed']);
  assert.deepEqual([b.exitCode, b.reason], [3, 'Error']);
  assert.ok(a.finishedAt > 0n && a.startedAt > 0n);
  // critest splits on spaces: <RFC3339Nano> <stream> <tag> <log>
  const line = (await logOf(ok)).split('\n')[0]!.split(' ');
  assert.ok(!Number.isNaN(Date.parse(line[0]!)));
  assert.deepEqual(line.slice(1), ['stdout', 'F', 'hello', 'World']);
  assert.match(await logOf(bad), /^\S+ stderr F oops\n/);
  const id = await started(p);
  assert.deepEqual(await exec(id, ['echo', '-n', 'hello']), { out: 'hello', err: '', code: 0 });
  assert.deepEqual(await exec(id, ['sh', '-c', 'echo e >&2; exit 5']), { out: '', err: 'e\n', code: 5 });
  await assert.rejects(rt.execSync({ containerId: id, cmd: ['sleep', '4321'], timeout: 1n }), (e: { kind?: string }) => e.kind === 'DeadlineExceeded');
  // critest's `pgrep sleep || true` (this busybox has no pgrep): no sleep at all in the pod's
  // PID namespace, whose pid 1 is catatonit
  assert.deepEqual(await exec(id, ['sh', '-c', 'ps -o comm | grep -x sleep || true']), { out: '', err: '', code: 0 }, 'the timed-out exec is gone');
  await rmp(p);
});

test('volumes: a host path and a symlink to one, listed in ContainerStatus.mounts; ReopenContainerLog makes the new file at once', async () => {
  const p = await runPod();
  const host = await fs.mkdtemp(path.join(d.dir, 'vol-'));
  await fs.writeFile(path.join(host, 'testVolume.file'), '');
  await fs.symlink(host, `${host}-symlink`);
  for (const src of [host, `${host}-symlink`]) {
    const id = await started(p, { mounts: [{ hostPath: src, containerPath: src, selinuxRelabel: true }] });
    assert.deepEqual(await exec(id, ['ls', '-A', src]), { out: 'testVolume.file\n', err: '', code: 0 });
    const [m] = (await status(id)).mounts;
    assert.deepEqual([m.containerPath, m.hostPath, m.readonly, m.propagation], [src, src, false, 0]);
  }
  const id = await started(p, { command: ['sh', '-c', 'while true; do echo hello World; sleep 1; done'] });
  const log = (await status(id)).logPath as string;
  await waitFor(async () => (await fs.readFile(log, 'utf8').catch(() => '')).length > 0, 10_000, 'the first log line');
  await fs.rename(log, `${log}.new`);
  await rt.reopenContainerLog({ containerId: id });
  await fs.access(log); // critest: "new container log file should be created" right after the call
  await waitFor(async () => (await fs.readFile(log, 'utf8')).includes('hello World'), 10_000, 'a line in the new log');
  const old = await fs.readFile(`${log}.new`, 'utf8');
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(await fs.readFile(`${log}.new`, 'utf8'), old, 'the old log no longer grows');
  await rmp(p);
});

test('UpdateContainerResources: the cgroup and ContainerStatus.resources follow', async () => {
  const p = await runPod();
  const mib = 1024n * 1024n;
  const id = await started(p, { linux: { resources: { cpuShares: 256n, memoryLimitInBytes: 64n * mib } } });
  let r = (await status(id)).resources.linux;
  assert.deepEqual([r.cpuShares, r.memoryLimitInBytes, r.cpuQuota], [256n, 64n * mib, 0n]);
  await rt.updateContainerResources({ containerId: id, linux: { cpuPeriod: 100000n, cpuQuota: 50000n, cpuShares: 512n, memoryLimitInBytes: 100n * mib } });
  r = (await status(id)).resources.linux;
  assert.deepEqual([r.cpuPeriod, r.cpuQuota, r.cpuShares, r.memoryLimitInBytes], [100000n, 50000n, 512n, 100n * mib]);
  const cg = await exec(id, ['sh', '-c', 'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/cpu.max /sys/fs/cgroup/memory.max']);
  assert.match(cg.out, new RegExp(`^50000\\b[^\\n]*\\n${100n * mib}\\n$`));
  // verbose status' runtimeSpec shows the limits in force, as containerd's updated spec does
  const spec = JSON.parse((await rt.containerStatus({ containerId: id, verbose: true })).info.info).runtimeSpec;
  const res = spec.linux.resources;
  assert.deepEqual([res.cpu.period, res.cpu.quota, res.cpu.shares, res.memory.limit], [100000, 50000, 512, Number(100n * mib)]);
  assert.ok(Array.isArray(res.devices), 'the device rules stay');
  await rmp(p);
});

test('container stats: ContainerStats fields; ListContainerStats by id, nil filter, labels', async () => {
  const p = await runPod();
  const ids = [await started(p, { labels: { foo: 'bar' } }), await started(p), await started(p)];
  const s = (await rt.containerStats({ containerId: ids[0] })).stats;
  assert.deepEqual([s.attributes.id, s.attributes.metadata.name.startsWith('container-for-conformance-test-')], [ids[0], true]);
  assert.ok(s.cpu.timestamp > 0n && s.memory.timestamp > 0n);
  const found = async (filter: unknown) => (await rt.listContainerStats({ filter })).stats.map((x: { attributes: { id: string } }) => x.attributes.id);
  assert.deepEqual(await found({ id: ids[0] }), [ids[0]]);
  assert.deepEqual((await found(undefined)).filter((id: string) => ids.includes(id)).length, 3);
  assert.deepEqual(await found({ labelSelector: { foo: 'bar' } }), [ids[0]]);
  assert.deepEqual(await found({ labelSelector: { foo: 'baz' } }), []);
  const ps = (await rt.podSandboxStats({ podSandboxId: p.id })).stats;
  assert.deepEqual([ps.attributes.id, ps.linux.cpu.timestamp > 0n && ps.linux.memory.timestamp > 0n], [p.id, true]);
  await rmp(p);
});

test('security context: users, groups, read-only rootfs, privileged, capabilities, masked and read-only paths, no_new_privs', async () => {
  const p = await runPod();
  assert.equal((await exec(await started(p, {}, { runAsUser: { value: 1001n } }), ['id', '-u'])).out, '1001\n');
  assert.equal((await exec(await started(p, {}, { runAsUsername: 'nobody' }), ['id', '-nu'])).out, 'nobody\n');
  // a name the image lacks fails CreateContainer (containerd builds the spec there), leaving nothing
  const count = (await rt.listContainers({})).containers.length;
  await assert.rejects(create(p, {}, { runAsUsername: 'nosuchuser' }), (e: { message: string }) => /unable to find user nosuchuser/.test(e.message));
  assert.equal((await rt.listContainers({})).containers.length, count);
  const g = await started(p, { command: ['sh', '-c', 'echo $(id -u):$(id -g)'] }, { runAsUser: { value: 1001n }, runAsGroup: { value: 1002n } });
  await exited(g);
  assert.match(await logOf(g), / stdout F 1001:1002\n/);
  await assert.rejects(create(p, {}, { runAsGroup: { value: 1002n } }));
  const sg = (await exec(await started(p, {}, { supplementalGroups: [1234n, 5678n] }), ['id', '-G'])).out.trim().split(' ');
  assert.ok(sg.includes('1234') && sg.includes('5678'), sg.join(' '));
  const touch = { command: ['sh', '-c', "touch test.go && [ -f test.go ] && echo 'Found'"] };
  const rw = await started(p, touch, { readonlyRootfs: false });
  const ro = await started(p, touch, { readonlyRootfs: true });
  await exited(rw); await exited(ro);
  assert.match(await logOf(rw), / stdout F Found\n/);
  assert.match(await logOf(ro), / stderr F touch: test.go: Read-only file system\n/);
  // NET_ADMIN: added, or by privilege, brctl can make a bridge; by default it cannot
  assert.notEqual((await exec(await started(p), ['brctl', 'addbr', 'foobar'])).code, 0);
  assert.equal((await exec(await started(p, {}, { capabilities: { addCapabilities: ['NET_ADMIN'] } }), ['brctl', 'addbr', 'foobar'])).code, 0);
  const none = await started(p, {}, { capabilities: { dropCapabilities: ['ALL'] } });
  assert.match((await exec(none, ['grep', 'CapEff', '/proc/self/status'])).out, /CapEff:\s+0000000000000000/);
  const all = await started(p, {}, { capabilities: { addCapabilities: ['ALL'] } });
  assert.doesNotMatch((await exec(all, ['grep', 'CapEff', '/proc/self/status'])).out, /CapEff:\s+00000000a80425fb/);
  // (critest masks /bin/ls; here it is a symlink to /bin/busybox, which the mask would hide)
  const masked = await started(p, {}, { maskedPaths: ['/etc/group'] });
  assert.deepEqual(await exec(masked, ['cat', '/etc/group']), { out: '', err: '', code: 0 });
  assert.match((await exec(masked, ['cat', '/etc/passwd'])).out, /^root:/);
  const rop = await exec(await started(p, {}, { readonlyPaths: ['/tmp'] }), ['touch', '/tmp/test']);
  assert.equal(rop.err, 'touch: /tmp/test: Read-only file system\n');
  assert.match((await exec(await started(p, {}, { noNewPrivs: true }), ['grep', 'NoNewPrivs', '/proc/self/status'])).out, /NoNewPrivs:\s+1/);
  assert.match((await exec(await started(p), ['grep', 'NoNewPrivs', '/proc/self/status'])).out, /NoNewPrivs:\s+0/);
  // AppArmor (critest's apparmor_linux.go, run where the host has it): a named profile, by the
  // field or the deprecated string, must be loaded, or CreateContainer fails; this host has
  // no AppArmor, so naming one fails and runtime/default or unconfined create as usual
  if (!existsSync('/sys/kernel/security/apparmor')) {
    for (const sc of [{ apparmor: { profileType: 2, localhostRef: 'cri-validate-apparmor-test-deny-write' } }, { apparmorProfile: 'localhost/cri-validate-apparmor-test-deny-write' }]) {
      await assert.rejects(create(p, {}, sc), (e: { kind?: string; message: string }) => e.kind === 'FailedPrecondition' && /apparmor is not enabled on this host/.test(e.message));
    }
    for (const sc of [{ apparmor: { profileType: 0 } }, { apparmorProfile: 'runtime/default' }, { apparmorProfile: 'unconfined' }]) {
      await rt.removeContainer({ containerId: await create(p, {}, sc) });
    }
  }
  await rmp(p);
  const pp = await runPod({}, { securityContext: { privileged: true } });
  assert.equal((await exec(await started(pp, {}, { privileged: true }), ['brctl', 'addbr', 'foobar'])).code, 0);
  await rmp(pp);
});

test('image users (critest\'s test-image-user-*): ImageStatus uid / username; the container runs as the image\'s user, with its /etc/group groups', async () => {
  const dk = async (args: string[]) => { const r = await docker(d, args); assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`); };
  await dk(['run', '--name', 'grp', 'busybox', 'sh', '-c', 'echo grp:x:50000:nobody >> /etc/group']);
  await dk(['commit', '-c', 'USER 1002', 'grp', 'userimg:uid']);
  await dk(['commit', '-c', 'USER nobody', 'grp', 'userimg:name']);
  await dk(['rm', 'grp']);
  const img = async (ref: string) => (await im.imageStatus({ image: { image: ref } })).image;
  assert.deepEqual([(await img('userimg:uid')).uid?.value, (await img('userimg:uid')).username], [1002n, '']);
  assert.deepEqual([(await img('userimg:name')).uid, (await img('userimg:name')).username], [undefined, 'nobody']);
  const p = await runPod();
  assert.equal((await exec(await started(p, { image: { image: 'userimg:uid' } }), ['id', '-u'])).out, '1002\n');
  const byName = await started(p, { image: { image: 'userimg:name' } });
  assert.equal((await exec(byName, ['id', '-nu'])).out, 'nobody\n');
  assert.ok((await exec(byName, ['id', '-G'])).out.trim().split(' ').includes('50000'));
  await rmp(p);
});

test('seccomp: unconfined (and nothing said), runtime/default, localhost profiles, a bare path refused, privileged ignores it', async () => {
  const dir = path.join(d.dir, 'seccomp');
  await fs.mkdir(dir, { recursive: true });
  const profile = (name: string, sys: string) => fs.writeFile(path.join(dir, name), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [sys], action: 'SCMP_ACT_ERRNO' }] }));
  await profile('chmod.json', 'chmod'); await profile('host.json', 'sethostname');
  const p = await runPod();
  const mode = async (sc: Record<string, unknown>) => (await exec(await started(p, {}, sc), ['grep', 'Seccomp:', '/proc/self/status'])).out.trim().split(/\s+/)[1];
  assert.equal(await mode({}), '0');
  assert.equal(await mode({ seccomp: { profileType: 1 } }), '0'); // Unconfined
  assert.equal(await mode({ seccompProfilePath: 'unconfined' }), '0');
  assert.equal(await mode({ seccomp: { profileType: 0 } }), '2'); // RuntimeDefault
  assert.equal(await mode({ seccompProfilePath: 'runtime/default' }), '2');
  assert.equal(await mode({ seccompProfilePath: 'docker/default' }), '2');
  const chmod = await started(p, {}, { seccomp: { profileType: 2, localhostRef: path.join(dir, 'chmod.json') } });
  const r = await exec(chmod, ['chmod', '400', '/']);
  assert.notEqual(r.code, 0);
  assert.match(r.err, /Operation not permitted/);
  const sethost = (id: string) => exec(id, ['hostname', 'ABCD']);
  const sysAdmin = { capabilities: { addCapabilities: ['SYS_ADMIN'] } };
  assert.equal((await sethost(await started(p, {}, { ...sysAdmin, seccompProfilePath: 'unconfined' }))).code, 0);
  assert.equal((await sethost(await started(p, {}, { ...sysAdmin, seccompProfilePath: 'runtime/default' }))).code, 0);
  assert.notEqual((await sethost(await started(p, {}, { seccompProfilePath: 'runtime/default' }))).code, 0);
  assert.notEqual((await sethost(await started(p, {}, { ...sysAdmin, seccompProfilePath: `localhost/${path.join(dir, 'host.json')}` }))).code, 0);
  await assert.rejects(create(p, {}, { seccompProfilePath: path.join(dir, 'host.json') }), (e: { kind?: string; message: string }) => e.kind === 'InvalidArgument' && /invalid seccomp profile/.test(e.message));
  await rmp(p);
  const pp = await runPod({}, { securityContext: { privileged: true } });
  assert.equal((await sethost(await started(pp, {}, { privileged: true, seccompProfilePath: `localhost/${path.join(dir, 'host.json')}` }))).code, 0);
  await rmp(pp);
});

test('namespace options: pid POD / CONTAINER / NODE / TARGET, ipc NODE / POD, network NODE / POD', async () => {
  const pidNs = (pid: number) => ({ namespaceOptions: { pid } });
  // CONTAINER: the container's own command is pid 1
  const own = await runPod({}, { securityContext: pidNs(NS.CONTAINER) });
  assert.match((await exec(await started(own, { command: ['sleep', '1001'] }, pidNs(NS.CONTAINER)), ['cat', '/proc/1/cmdline'])).out, /^sleep\x001001/);
  // TARGET: a second container sees the first one's processes
  const target = await started(own, { command: ['sleep', '1002'] }, pidNs(NS.CONTAINER));
  const joined = await started(own, {}, { namespaceOptions: { pid: NS.TARGET, targetId: target } });
  assert.match((await exec(joined, ['cat', '/proc/1/cmdline'])).out, /^sleep\x001002/);
  await rmp(own);
  // POD: pid 1 is not the container's command but the pod's (catatonit -P, as pause), which
  // reaps what is orphaned in the pod: the two backgrounded sleeps' parents exit at once
  const shared = await runPod({}, { securityContext: pidNs(NS.POD) });
  const inPod = await started(shared, { command: ['sh', '-c', '(sleep 0.2 &); (sleep 0.2 &); exec sleep 1003'] }, pidNs(NS.POD));
  assert.match((await exec(inPod, ['cat', '/proc/1/cmdline'])).out, /^\/usr\/bin\/catatonit\x00-P\x00$/);
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual((await exec(inPod, ['sh', '-c', 'grep -l "^State:.*Z" /proc/[0-9]*/status || true'])).out, '', 'no zombie left in the pod');
  await rmp(shared);
  // NODE: the host's processes, this test's among them
  const host = await runPod({}, { securityContext: { namespaceOptions: { pid: NS.NODE, ipc: NS.NODE, network: NS.NODE } } });
  const h = await started(host, {}, { namespaceOptions: { pid: NS.NODE, ipc: NS.NODE, network: NS.NODE } });
  assert.equal((await exec(h, ['sh', '-c', `test -d /proc/${process.pid} && echo yes`])).out, 'yes\n');
  const seg = execFileSync('ipcmk', ['-M', '1048576'], { encoding: 'utf8' }).trim().split(' ').pop()!;
  const srv = net.createServer((c) => c.end('hello'));
  await new Promise<void>((r) => srv.listen(0, r));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    // (critest reads `ipcs -m`: this busybox has no ipcs)
    const shm = (id: string) => exec(id, ['cat', '/proc/sysvipc/shm']).then((r) => r.out.split('\n').map((l) => l.trim().split(/\s+/)[1]));
    assert.ok((await shm(h)).includes(seg), 'the host\'s shm segment in a host-ipc container');
    assert.match((await exec(h, ['netstat', '-ln'])).out, new RegExp(`:${port}\\b`));
    const podNs = await runPod();
    const c = await started(podNs);
    assert.ok(!(await shm(c)).includes(seg));
    assert.doesNotMatch((await exec(c, ['netstat', '-ln'])).out, new RegExp(`:${port}\\b`));
    await rmp(podNs);
  } finally {
    srv.close();
    execFileSync('ipcrm', ['-m', seg]);
  }
  await rmp(host);
});

test('user namespaces (critest v1.29\'s UserNamespaces): NODE is the node\'s; bad mappings and modes fail RunPodSandbox; POD is refused, never run as the node\'s root', async () => {
  const map = (containerId: number, hostId: number, length = 100000) => ({ containerId, hostId, length });
  const userns = (u: Record<string, unknown>) => ({ securityContext: { namespaceOptions: { usernsOptions: u } } });
  const count = async () => (await rt.listPodSandbox({})).items.length;
  const before = await count();
  // NODE: the container's uid_map is the node's (critest compares it with its own)
  const node = await runPod({}, userns({ mode: NS.NODE }));
  const c = await started(node, { command: ['cat', '/proc/self/uid_map'] }, { namespaceOptions: { usernsOptions: { mode: NS.NODE } } });
  await exited(c);
  const hostMap = (await fs.readFile('/proc/self/uid_map', 'utf8')).trim().split(/\s+/).join(' ');
  assert.match(await logOf(c), new RegExp(` stdout F\\s+${hostMap.replace(/ /g, '\\s+')}\\s*$`, 'm'));
  await rmp(node);
  // containerd's parseUsernsIDs: two lines, an unmapped root, CONTAINER, TARGET, NODE with mappings
  for (const [u, why] of [
    [{ mode: NS.POD, uids: [map(0, 1000), map(0, 2000)], gids: [map(0, 1000), map(0, 2000)] }, /only one mapping line supported, got 2/],
    [{ mode: NS.POD, uids: [map(1, 1000)], gids: [map(1, 1000)] }, /must map container ID 0/],
    [{ mode: NS.POD, uids: [map(0, 1000, 0)], gids: [map(0, 1000)] }, /invalid mapping length: 0/],
    [{ mode: NS.POD }, /without UID and GID mappings/],
    [{ mode: NS.CONTAINER }, /unsupported user namespace mode: CONTAINER/],
    [{ mode: NS.TARGET }, /unsupported user namespace mode: TARGET/],
    [{ mode: NS.NODE, uids: [map(0, 1000)], gids: [map(0, 1000)] }, /mode NODE with mappings/],
  ] as const) {
    await assert.rejects(runPod({}, userns(u)), (e: { kind?: string; message: string }) => e.kind === 'InvalidArgument' && why.test(e.message), JSON.stringify(u));
  }
  // a well-formed POD request: no user namespace of its own here, so refused in plain words
  // (it used to run, silently, as the node's root: kubelet's hostUsers: false then meant nothing)
  const pod = { mode: NS.POD, uids: [map(0, 1000)], gids: [map(0, 1000)] };
  await assert.rejects(runPod({}, userns(pod)), (e: { kind?: string; message: string }) => e.kind === 'Unimplemented' && /user namespace mode POD .*not supported/.test(e.message));
  // a container asking for one in a pod that has none is refused too
  const plain = await runPod();
  await assert.rejects(create(plain, {}, { namespaceOptions: { usernsOptions: pod } }), (e: { kind?: string }) => e.kind === 'Unimplemented');
  await rmp(plain);
  assert.equal(await count(), before, 'no pod left behind');
});

test('images: ImageStatus of a missing image is empty, not an error; RemoveImage of one succeeds; status fields', async () => {
  assert.equal((await im.imageStatus({ image: { image: 'registry.invalid/nothing:here' } })).image, undefined);
  await im.removeImage({ image: { image: 'registry.invalid/nothing:here' } });
  const st = (await im.imageStatus({ image: { image: 'busybox' } })).image;
  assert.match(st.id, /^sha256:/);
  assert.ok(st.size > 0n);
  assert.deepEqual(st.repoTags, ['docker.io/library/busybox:latest']);
  for (const ref of [st.id, st.id.slice(7), 'docker.io/library/busybox:latest', 'busybox:latest']) {
    assert.equal((await im.imageStatus({ image: { image: ref } })).image?.id, st.id, ref);
  }
  const listed = (await im.listImages({ filter: { image: { image: 'busybox' } } })).images;
  assert.deepEqual(listed.map((i: { id: string }) => i.id), [st.id]);
});

test('images pulled: by tag and by digest, status by tag / digest / id, three tags of one image, removed by tag and by digest', async () => {
  const tags = ['1', '2', '3'].map((t) => `${reg.host}/lib/busybox:${t}`);
  const status = async (ref: string) => (await im.imageStatus({ image: { image: ref } })).image;
  const pulled = (await im.pullImage({ image: { image: tags[0] } })).imageRef as string;
  const st = await status(tags[0]!);
  assert.equal(st.id, pulled);
  // (the same image as the loaded busybox: its name is there too; this test goes last as it removes it)
  assert.ok(st.repoTags.includes(tags[0]), st.repoTags.join(' '));
  assert.equal(st.repoDigests.length, 1);
  const digest = st.repoDigests[0] as string;
  assert.match(digest, new RegExp(`^${reg.host}/lib/busybox@sha256:[0-9a-f]{64}$`));
  for (const ref of [digest, pulled]) assert.equal((await status(ref))?.id, pulled, ref);
  for (const t of tags.slice(1)) await im.pullImage({ image: { image: t } });
  const one = (await im.listImages({})).images.filter((i: { id: string }) => i.id === pulled);
  assert.equal(one.length, 1);
  assert.deepEqual([...one[0].repoTags].filter((t: string) => t.startsWith(reg.host)).sort(), tags);
  // RemoveImage by a tag removes the image (every name), as containerd does; the others then succeed
  for (const t of tags) await im.removeImage({ image: { image: t } });
  assert.equal(await status(tags[1]!), undefined);
  assert.equal(await status(pulled), undefined);
  assert.equal((await im.pullImage({ image: { image: digest } })).imageRef, pulled);
  assert.equal((await status(digest))?.id, pulled);
  await im.removeImage({ image: { image: digest } });
  assert.equal(await status(digest), undefined);
});
