// A VM pod through stock containerd 1.6's CRI: a runtime handler with runtime_type
// io.containerd.tsula.v2 and a vmm.toml as its ConfigPath option (kata's way). containerd's
// pause container makes the VM, the app containers join it (one qemu), and what containerd
// asks of a task reaches the guest: Update of its cgroup, the OOM killer's word (TaskOOM,
// reason OOMKilled, for a child killed while the container runs too), an exec's output to
// its last holder's end, runc's error for a bad command; the pod's net.* sysctls (in the pause
// container's spec and each container's) are set once in the guest, as kata does; the VM's
// vCPU threads are in the pod's cgroup (kata's default), so `crictl statsp` finds it. One boot
// (TCG: seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestContainerd, instancesNamed, processesNamed } from '../helpers/containerd.js';
import { IMAGES, waitFor } from '../helpers/daemon.js';
import { crictlPath } from '../helpers/crictl.js';
import { createTestNet, purgeForeignAttachments, type TestNet } from '../helpers/network.js';
import { removeCgroupEverywhere } from '../helpers/cleanup.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const missing = ['/usr/bin/qemu-system-x86_64', '/usr/lib/qemu/virtiofsd', `${GUEST}/vmlinuz`, `${GUEST}/rootfs.img`, '/usr/bin/containerd', '/usr/bin/umoci', '/usr/bin/skopeo'].filter((p) => !existsSync(p));
if (missing.length) throw new Error(`VM tests need ${missing.join(', ')}: scripts/deps.sh --test, then scripts/ensure-guest.sh ${GUEST}`);
const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();

let net: TestNet;
let c: TestContainerd;
/** The first pod's cgroup_parent (kubelet's pod cgroup): containerd makes its pause's below it; removed here. */
const PARENT = `/tsula-vmctrd-${process.pid}`;
const v1 = !existsSync('/sys/fs/cgroup/cgroup.controllers');
before(async () => {
  crictlPath();
  net = await createTestNet('vmctrd');
  const vmmToml = path.join(net.tmp, 'vmm.toml');
  await fs.writeFile(vmmToml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`);
  c = await TestContainerd.start({ cri: { cniConfDir: net.confDir, handlers: { 'tsula-vmm': vmmToml } } });
  await c.ok(['-n', 'k8s.io', 'images', 'import', path.join(IMAGES, 'busybox.tar')]);
});
after(async () => {
  let pods: string[] = [];
  if (c) {
    await c.crictl(['--timeout', '120s', 'rmp', '--all', '--force'], { timeoutMs: 150_000 }).catch(() => {});
    pods = (await c.ctr(['-n', 'k8s.io', 'containers', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
    await c.destroy();
  }
  if (net) {
    await purgeForeignAttachments(net, pods);
    await net.destroy();
  }
  await removeCgroupEverywhere(PARENT);
});

const ok = async (args: string[]) => {
  const r = await c.crictl(['--timeout', '240s', ...args], { timeoutMs: 250_000 });
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}\n${await c.sandboxerLog()}`);
  return r.stdout.trim();
};

async function ctr(podId: string, podCfg: string, name: string, extra: Record<string, unknown>, start = true): Promise<string> {
  const f = path.join(c.dir, `${name}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'docker.io/library/busybox:latest' }, log_path: `${name}.log`, linux: {}, ...extra }));
  const id = await ok(['create', podId, f, podCfg]);
  if (start) await ok(['start', id]);
  return id;
}

interface Inspect { status: { state: string; exitCode: number; reason: string; message: string } }
const inspect = async (id: string) => JSON.parse(await ok(['inspect', id])) as Inspect;

test('crictl runp -r tsula-vmm through containerd: one VM for the pause and app containers, net.* sysctls in the guest, Update and OOM (of a child too) reach the guest, an exec\'s output drains, a bad command says why, stopp/rmp leave nothing', { timeout: 400_000 }, async () => {
  const podCfg = path.join(c.dir, 'pod.json');
  const sysctls = { 'net.ipv4.ip_unprivileged_port_start': '0', 'net.ipv4.tcp_syncookies': '0', 'kernel.shm_rmid_forced': '1' };
  await fs.writeFile(podCfg, JSON.stringify({ metadata: { name: 'vm', namespace: 'vmctrd', uid: 'vm-1' }, log_directory: path.join(c.dir, 'logs'), linux: { sysctls, cgroup_parent: PARENT } }));
  const t0 = Date.now();
  const pod = await ok(['runp', '--runtime', 'tsula-vmm', podCfg]);
  console.log(`# crictl runp -r tsula-vmm (containerd): ${Date.now() - t0} ms`);
  const app = await ctr(pod, podCfg, 'app', { command: ['sleep', '1000'] });
  const qemus = await processesNamed('qemu-system-x86_64', c.dir);
  assert.equal(qemus.length, 1, 'one VM for the pod');
  if (v1) {
    // sandbox_cgroup_only off (kata's default): the vCPU threads in the pod's cgroup, qemu's
    // process not; containerd's PodSandboxStats loads cgroup_parent and finds them there
    const tasks = (await fs.readFile(`/sys/fs/cgroup/cpuacct${PARENT}/${pod}/tasks`, 'utf8')).split('\n').filter(Boolean).map(Number);
    const threads = (await fs.readdir(`/proc/${qemus[0]}/task`)).map(Number);
    assert.ok(tasks.length > 0 && tasks.every((t) => threads.includes(t)) && !tasks.includes(qemus[0]!), `${tasks} of ${threads}`);
    const st = JSON.parse(await ok(['statsp', '-o', 'json', '--id', pod])) as { stats: Array<{ linux: { cpu: { usageCoreNanoSeconds: { value: string } } } }> };
    assert.ok(Number(st.stats[0]!.linux.cpu.usageCoreNanoSeconds.value) > 0, JSON.stringify(st));
  }
  assert.equal(await ok(['exec', '-s', app, 'uname', '-r']), guestKernel);
  // a pod that names no hostname has the node's, as runc's (containerd writes it to /etc/hostname too)
  assert.equal(await ok(['exec', '-s', app, 'sh', '-c', 'hostname; cat /etc/hostname']), `${os.hostname()}\n${os.hostname()}`);
  // the pod's PID, IPC and UTS namespaces are its pause container's (pid POD: crictl's default)
  assert.equal(await ok(['exec', '-s', app, 'sh', '-c', "tr '\\0' ' ' < /proc/1/cmdline"]), '/bin/busybox sleep 2147483647');
  assert.equal(await ok(['exec', '-s', app, 'sh', '-c', 'for n in ipc uts; do [ "$(readlink /proc/self/ns/$n)" = "$(readlink /proc/1/ns/$n)" ] && echo $n; done']), 'ipc\nuts');

  assert.equal(await ok(['exec', '-s', app, 'sh', '-c', 'cd /proc/sys; cat net/ipv4/ip_unprivileged_port_start net/ipv4/tcp_syncookies kernel/shm_rmid_forced']), '0\n0\n1');

  await ok(['update', '--memory', String(32 << 20), app]);
  assert.equal(await ok(['exec', '-s', app, 'cat', '/sys/fs/cgroup/memory.max']), String(32 << 20));

  const oom = await ctr(pod, podCfg, 'oom', {
    command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'],
    linux: { resources: { memory_limit_in_bytes: 16 << 20 } },
  });
  await waitFor(async () => (await inspect(oom)).status.state === 'CONTAINER_EXITED', 120_000, 'the OOM kill in the guest');
  const o = await inspect(oom);
  assert.deepEqual([o.status.exitCode, o.status.reason], [137, 'OOMKilled']);

  // a child killed by the OOM killer while the container runs on: a TaskOOM then, so the
  // running container's reason is OOMKilled (containerd's handler), as under runc-v2
  const child = await ctr(pod, podCfg, 'oomchild', {
    command: ['sh', '-c', "sh -c 'x=a; while true; do x=$x$x$x$x; done'; echo child-exit=$?; sleep 1000"],
    linux: { resources: { memory_limit_in_bytes: 20 << 20 } },
  });
  await waitFor(async () => (await inspect(child)).status.reason === 'OOMKilled', 120_000, 'the TaskOOM of the child');
  assert.equal((await inspect(child)).status.state, 'CONTAINER_RUNNING');

  // an exec's output ends when the last holder of its pipes closes them (runc-v2's FIFOs): a
  // background child's line 3 s after the exit comes back, and ExecSync waits for it
  assert.equal(await ok(['exec', '-s', app, 'sh', '-c', 'echo early; (sleep 3; echo late) &']), 'early\nlate');

  const bad = await ctr(pod, podCfg, 'bad', { command: ['/nonexistent'] }, false);
  assert.notEqual((await c.crictl(['start', bad])).code, 0);
  // the guest's runtime's own words (crun: "executable file `/nonexistent` not found in
  // $PATH: No such file or directory"; runc: "exec: \"/nonexistent\": stat ...: no such file")
  assert.match((await inspect(bad)).status.message, /OCI runtime create failed: .*[`"]\/nonexistent[`"].*(not found|no such file or directory)/i);
  assert.equal((await processesNamed('qemu-system-x86_64', c.dir)).length, 1, 'still the one VM');

  await ok(['stopp', pod]);
  await ok(['rmp', pod]);
  await waitFor(async () => (await processesNamed('qemu-system-x86_64', c.dir)).length === 0, 30_000, 'qemu to exit');
  if (v1) assert.equal(existsSync(`/sys/fs/cgroup/cpuacct${PARENT}/${pod}`), false, 'the pod\'s cgroup went with it');
  await waitFor(async () => (await instancesNamed('virtiofsd', c.dir)).length === 0, 10_000, 'virtiofsd to exit');
  assert.deepEqual(await fs.readdir(path.join(c.sbState, 'tasks')), []);
  const mounts = (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').filter((l) => l.includes(c.dir));
  assert.deepEqual(mounts, []);
});

test('the sandboxer killed under a VM pod: containerd cleans its tasks up, and the VM goes too (the next sandboxer stops what its task no longer names), as kata\'s shim stops it', { timeout: 400_000 }, async () => {
  const podCfg = path.join(c.dir, 'pod-crash.json');
  await fs.writeFile(podCfg, JSON.stringify({ metadata: { name: 'vmcrash', namespace: 'vmctrd', uid: 'vm-crash' }, log_directory: path.join(c.dir, 'logs'), linux: {} }));
  const pod = await ok(['runp', '--runtime', 'tsula-vmm', podCfg]);
  await ctr(pod, podCfg, 'sleeper', { command: ['sleep', '1000'] });
  assert.equal((await processesNamed('qemu-system-x86_64', c.dir)).length, 1);
  process.kill(await c.sandboxerPid(), 'SIGKILL');
  // containerd's cleanup of the dead shim's tasks runs our `delete`, which starts a sandboxer that stops the VM
  await waitFor(async () => (await processesNamed('qemu-system-x86_64', c.dir)).length === 0, 90_000, 'the orphaned VM to stop');
  await waitFor(async () => (await instancesNamed('virtiofsd', c.dir)).length === 0, 10_000, 'virtiofsd to exit');
  await c.crictl(['--timeout', '120s', 'rmp', '-f', pod], { timeoutMs: 150_000 });
});
