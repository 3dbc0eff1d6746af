// A VM pod through tsulad's CRI, as the seed guide drives it: `crictl run -r vmm` makes the
// pod a VM in tsula-sandboxer (one qemu), a second container joins the same VM, exec and
// logs reach the guest, exit codes come back, the pod's sysctls (net.* ones set once in the
// guest, as kata does), one host dir bound in two containers one guest inode (a FIFO meets),
// ReopenContainerLog (kubelet's log rotation) of a VM container, and
// stopp/rmp leave nothing (qemu, virtiofsd, netns, the CNI lease). Then the pods that fail:
// a sysctl value the guest kernel refuses, a kernel QEMU can't boot: RunPodSandbox says why,
// and nothing is left. Two boots (TCG: seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl } from '../helpers/crictl.js';
import { createTestNet, leases, type TestNet } from '../helpers/network.js';
import { processesNamed } from '../helpers/containerd.js';
import { criCall } from '../helpers/cri-grpc.js';
import { parseMountinfo } from '../../src/storage/mounts.js';
import { VOLUMES_IN_SHARED } from '../../src/sandboxer/kinds/vmm/shared.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const missing = ['/usr/bin/qemu-system-x86_64', '/usr/lib/qemu/virtiofsd', `${GUEST}/vmlinuz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (missing.length) throw new Error(`VM tests need ${missing.join(', ')}: scripts/deps.sh, then scripts/ensure-guest.sh ${GUEST}`);
const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();

let net: TestNet;
let d: TestDaemon;
let vmmToml: string;
before(async () => {
  net = await createTestNet('vmcri');
  const dir = await fs.mkdtemp('/tmp/tvc-');
  // the sandboxer tsulad starts reads this vmm.toml: the guest under test, not the machine's
  vmmToml = path.join(dir, 'vmm.toml');
  await fs.writeFile(vmmToml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`);
  process.env.TSULA_VMM_CONFIG = vmmToml;
  d = await TestDaemon.create({ dir, configJson: { 'cni-conf-dir': net.confDir } });
  await d.loadBusybox();
});
after(async () => {
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force'], { timeoutMs: 120_000 }).catch(() => {});
  await d?.destroy();
  await net?.destroy();
});

const ok = async (args: string[]) => {
  const r = await crictl(d.criSock, args, { timeoutMs: 240_000 });
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

test('crictl run -r vmm: the pod is one VM, both containers in it, exec/logs/exit codes, sysctls, ReopenContainerLog; stopp+rmp leave nothing', { timeout: 400_000 }, async () => {
  const logs = path.join(d.dir, 'logs');
  const podCfg = path.join(d.dir, 'pod.json');
  // kubelet's safe sysctls (net.* ones among them) and an IPC one, as a RuntimeClass vmm pod has them
  const sysctls = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_local_port_range': '20000 30000', 'kernel.shm_rmid_forced': '1' };
  // kubelet's pod resources (the sum of the containers' limits) and a RuntimeClass overhead:
  // the VM's size (1 GiB + 64 MiB + the guest's own 128 MiB), not vmm.toml's 512 MiB
  const resources = { memory_limit_in_bytes: 1 << 30 };
  const overhead = { memory_limit_in_bytes: 64 << 20 };
  await fs.writeFile(podCfg, JSON.stringify({ metadata: { name: 'vm', namespace: 'default', uid: 'vm-1' }, log_directory: logs, linux: { sysctls, resources, overhead } }));
  const c1 = path.join(d.dir, 'c1.json');
  // an emptyDir of the pod, bound in c1 and (read-only) in c5 below
  const vol = path.join(d.dir, 'empty-dir');
  await fs.mkdir(vol);
  await fs.writeFile(c1, JSON.stringify({ metadata: { name: 'c1' }, image: { image: 'busybox' }, command: ['sh', '-c', 'echo shared > /dev/shm/seg; uname -r; exec sleep 1000'], log_path: 'c1.log', mounts: [{ container_path: '/v', host_path: vol }] }));
  const t0 = Date.now();
  const id1 = await ok(['--timeout', '240s', 'run', '--no-pull', '-r', 'vmm', c1, podCfg]);
  console.log(`# crictl run -r vmm: ${Date.now() - t0} ms`);
  const pod = await ok(['pods', '-q']);
  const qemus = await processesNamed('qemu-system-x86_64', d.dir);
  assert.equal(qemus.length, 1, 'one VM for the pod');
  assert.ok(readFileSync(`/proc/${qemus[0]}/cmdline`, 'utf8').includes(`sandbox-${pod}`));
  await waitFor(async () => (await ok(['logs', id1])) === guestKernel, 30_000, 'the guest kernel in the logs');
  assert.equal(await ok(['exec', id1, 'uname', '-r']), guestKernel);
  const memKib = Number(/MemTotal:\s+(\d+) kB/.exec(await ok(['exec', id1, 'grep', 'MemTotal', '/proc/meminfo']))?.[1]);
  assert.ok(memKib > 1088 * 1024 && memKib <= 1216 * 1024, `MemTotal ${memKib} kB for a pod of 1 GiB + 64 MiB`);

  const c2 = path.join(d.dir, 'c2.json');
  await fs.writeFile(c2, JSON.stringify({ metadata: { name: 'c2' }, image: { image: 'busybox' }, command: ['sh', '-c', 'readlink /proc/self/ns/ipc; hostname; cat /dev/shm/seg; exit 9'], log_path: 'c2.log' }));
  const id2 = await ok(['create', pod, c2, podCfg]);
  await ok(['start', id2]);
  await waitFor(async () => JSON.parse(await ok(['inspect', id2])).status.state === 'CONTAINER_EXITED', 60_000, 'c2 to exit');
  assert.deepEqual([JSON.parse(await ok(['inspect', id2])).status.exitCode, JSON.parse(await ok(['inspect', id2])).status.reason], [9, 'Error']);
  assert.equal((await processesNamed('qemu-system-x86_64', d.dir)).length, 1, 'the second container joined the same VM');
  // the pod's namespaces in the guest: one IPC namespace and /dev/shm, one UTS namespace (with
  // the pod's hostname) for both, and PID 1 of the pod's PID namespace a holder (pid POD, CRI's default)
  assert.equal(await ok(['logs', id2]), `${await ok(['exec', id1, 'readlink', '/proc/self/ns/ipc'])}\n${await ok(['exec', id1, 'hostname'])}\nshared`);
  assert.equal(await ok(['exec', id1, 'sh', '-c', "tr '\\0' ' ' < /proc/1/cmdline"]), '/usr/bin/catatonit -P');
  // hostPID (pid NODE) in a VM: the guest's root PID namespace, where the pod's processes show
  // (as containerd's CRI gives it through the shim)
  const c4 = path.join(d.dir, 'c4.json');
  await fs.writeFile(c4, JSON.stringify({ metadata: { name: 'c4' }, image: { image: 'busybox' }, command: ['sleep', '1001'], log_path: 'c4.log', linux: { security_context: { namespace_options: { pid: 2 } } } }));
  const id4 = await ok(['create', pod, c4, podCfg]);
  await ok(['start', id4]);
  assert.equal(await ok(['exec', id4, 'sh', '-c', 'ps -o args | grep -c "^sleep 1000" || true']), '1', 'c1\'s process is seen');
  assert.notEqual(await ok(['exec', id4, 'sh', '-c', "tr '\\0' ' ' < /proc/1/cmdline"]), '/usr/bin/catatonit -P', 'PID 1 is the guest\'s, not the pod holder');
  await ok(['rm', '-f', id4]);
  // one host dir in two containers is one guest inode (one share of it): a FIFO made in one
  // meets its reader in the other (as a unix socket, a lock or an inotify watch would); c5's read-only bind stays read-only
  const c5 = path.join(d.dir, 'c5.json');
  await fs.writeFile(c5, JSON.stringify({ metadata: { name: 'c5' }, image: { image: 'busybox' }, command: ['sleep', '1002'], log_path: 'c5.log', mounts: [{ container_path: '/v', host_path: vol, readonly: true }] }));
  const id5 = await ok(['create', pod, c5, podCfg]);
  await ok(['start', id5]);
  await ok(['exec', id1, 'mkfifo', '/v/fifo']);
  const [got] = await Promise.all([ok(['exec', id5, 'timeout', '20', 'cat', '/v/fifo']), ok(['exec', id1, 'timeout', '20', 'sh', '-c', 'echo through-the-fifo > /v/fifo'])]);
  assert.equal(got, 'through-the-fifo');
  assert.match((await crictl(d.criSock, ['exec', id5, 'touch', '/v/x'], { timeoutMs: 60_000 })).stderr, /Read-only file system/);
  const volSt = await fs.stat(vol);
  const shares = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint)
    .filter((m) => m.startsWith(d.dir) && m.includes(`/${VOLUMES_IN_SHARED}/`)).filter((m) => { const st = statSync(m); return st.dev === volSt.dev && st.ino === volSt.ino; });
  assert.equal(shares.length, 1, `one share of the dir: ${shares.join(' ')}`);
  await ok(['rm', '-f', id5]);
  assert.equal(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).filter((m) => m.mountPoint === shares[0]).length, 1, 'c1 still uses it');
  // which reaps what is orphaned in the pod (a backgrounded sleep whose parent exits at once)
  assert.equal(await ok(['exec', id1, 'sh', '-c', '(sleep 0.1 &); sleep 1.5; grep -l "^State:.*Z" /proc/[0-9]*/status || true']), '');
  // an ExecSync past its timeout: DeadlineExceeded, and the process killed in the guest through
  // the task API (its pid is the guest's: no host process of that pid may get the signal)
  const slow = await crictl(d.criSock, ['exec', '-s', '--timeout', '2', id1, 'sleep', '77'], { timeoutMs: 60_000 });
  assert.notEqual(slow.code, 0);
  assert.match(slow.stderr, /DeadlineExceeded|timed out/);
  assert.equal(await ok(['exec', id1, 'sh', '-c', 'ps -o args | grep -c "^sleep 77" || true']), '0');
  // an exec's output ends when its last holder closes it: a background child's line 3 s after
  // the exit comes back (through the sandboxer's FIFOs and the agent's pipes)
  assert.equal(await ok(['exec', '-s', id1, 'sh', '-c', 'echo early; (sleep 3; echo late) &']), 'early\nlate');
  // the net.* ones were written once in the guest's network namespace (the pod's), the IPC one in the containers'
  assert.equal(await ok(['exec', id1, 'sh', '-c', 'cd /proc/sys; cat net/ipv4/ip_unprivileged_port_start net/ipv4/ping_group_range net/ipv4/ip_local_port_range kernel/shm_rmid_forced']),
    '0\n0\t2147483647\n20000\t30000\n1');

  // kubelet's log rotation of a VM container: rename, ReopenContainerLog, the next lines in a new file at the path
  const c3 = path.join(d.dir, 'c3.json');
  await fs.writeFile(c3, JSON.stringify({ metadata: { name: 'c3' }, image: { image: 'busybox' }, command: ['sh', '-c', 'i=0; while :; do i=$((i+1)); echo line$i; sleep 0.2; done'], log_path: 'c3.log' }));
  const id3 = await ok(['create', pod, c3, podCfg]);
  await ok(['start', id3]);
  const log3 = path.join(logs, 'c3.log');
  const lineNos = async (f: string) => [...(await fs.readFile(f, 'utf8').catch(() => '')).matchAll(/ stdout F line(\d+)$/gm)].map((m) => Number(m[1]));
  await waitFor(async () => (await lineNos(log3)).length >= 2, 30_000, 'c3 to log');
  await fs.rename(log3, `${log3}.20261206-105400`);
  await criCall(d.criSock, 'reopenContainerLog', { containerId: id3 });
  assert.ok(existsSync(log3), 'a new log file once ReopenContainerLog returned');
  await waitFor(async () => (await lineNos(log3)).length >= 2, 30_000, 'lines in the reopened log');
  const [before, after] = [await lineNos(`${log3}.20261206-105400`), await lineNos(log3)];
  assert.ok(before.length >= 2 && before.at(-1)! < after[0]!, `the renamed file has the older lines (${before.join(',')}), the new one the later ones (${after.join(',')})`);
  assert.match(await ok(['logs', '--tail', '1', id3]), /^line\d+$/);

  const ip = JSON.parse(await ok(['inspectp', pod])).status.network.ip as string;
  assert.ok(ip.startsWith(net.subnet.split('.').slice(0, 3).join('.')), `the pod's CNI address: ${ip}`);

  await ok(['stopp', pod]);
  await waitFor(async () => (await processesNamed('qemu-system-x86_64', d.dir)).length === 0, 30_000, 'qemu gone');
  assert.equal((await processesNamed('virtiofsd', d.dir)).length, 0);
  assert.ok(!(await leases(net)).includes(ip), 'the lease is free');
  await ok(['rmp', pod]);
  assert.equal(await ok(['pods', '-q']), '');
  assert.deepEqual(await fs.readdir(path.join(d.state, 'netns')).catch(() => []), []);
});

test('RunPodSandbox of a VM pod that can\'t come up says why and leaves nothing: a net.* sysctl value the guest refuses, a kernel QEMU can\'t boot', { timeout: 300_000 }, async () => {
  const leased = (await leases(net)).length;
  const podCfg = (name: string, extra: Record<string, unknown>) => {
    const f = path.join(d.dir, `${name}.json`);
    return fs.writeFile(f, JSON.stringify({ metadata: { name, namespace: 'default', uid: name }, ...extra })).then(() => f);
  };
  const nothingLeft = async () => {
    assert.equal(await ok(['pods', '-q']), '');
    await waitFor(async () => (await processesNamed('qemu-system-x86_64', d.dir)).length === 0, 30_000, 'no qemu left');
    assert.equal((await processesNamed('virtiofsd', d.dir)).length, 0, 'no virtiofsd left');
    assert.deepEqual(await fs.readdir(path.join(d.state, 'netns')).catch(() => []), [], 'no netns left');
    assert.equal((await leases(net)).length, leased, 'no CNI lease left');
  };

  // the guest kernel refuses the value (runc's words for a pause container's sysctl)
  const bad = await podCfg('badsysctl', { linux: { sysctls: { 'net.ipv4.ip_local_port_range': 'garbage' } } });
  let r = await crictl(d.criSock, ['--timeout', '240s', 'runp', '-r', 'vmm', bad], { timeoutMs: 250_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /code = InvalidArgument desc = sandbox [0-9a-f]{64}: sysctl \\?"net\.ipv4\.ip_local_port_range\\?": write \/proc\/sys\/net\/ipv4\/ip_local_port_range \\?"garbage\\?": invalid argument/);
  await nothingLeft();

  // a kernel QEMU can't load: its own words, the kernel's path, FAILED_PRECONDITION (not NotFound)
  const kernel = path.join(d.dir, 'garbage-kernel');
  await fs.writeFile(kernel, Buffer.alloc(1 << 20, 0x5a));
  const toml = path.join(d.dir, 'vmm-garbage.toml');
  await fs.writeFile(toml, (await fs.readFile(vmmToml, 'utf8')).replace(/^kernel = .*$/m, `kernel = "${kernel}"`));
  const garbage = await podCfg('garbage', { annotations: { 'io.tsula.vmm-config': toml } });
  const t0 = Date.now();
  r = await crictl(d.criSock, ['--timeout', '120s', 'runp', '-r', 'vmm', garbage], { timeoutMs: 130_000 });
  assert.notEqual(r.code, 0);
  assert.ok(Date.now() - t0 < 60_000, 'no boot timeout waited out');
  assert.match(r.stderr, /code = FailedPrecondition desc = sandbox-[0-9a-f]{64}: the VM did not come up: qemu exited with status 1 before the agent answered \(kernel [^)]*garbage-kernel\)/);
  assert.match(r.stderr, /qemu stderr: .*kernel/);
  await nothingLeft();
});
