// A VM pod through tsulad's CRI, as the seed guide drives it: `crictl run -r vmm` makes the
// pod a VM in tsula-sandboxer (one qemu), a second container joins the same VM, exec and
// logs reach the guest, exit codes come back, and stopp/rmp leave nothing (qemu, virtiofsd,
// netns, the CNI lease). One boot (TCG: seconds).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl } from '../helpers/crictl.js';
import { createTestNet, leases, type TestNet } from '../helpers/network.js';
import { processesNamed } from '../helpers/containerd.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const missing = ['/usr/bin/qemu-system-x86_64', '/usr/lib/qemu/virtiofsd', `${GUEST}/vmlinuz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (missing.length) throw new Error(`VM tests need ${missing.join(', ')}: scripts/deps.sh, then scripts/ensure-guest.sh ${GUEST}`);
const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();

let net: TestNet;
let d: TestDaemon;
before(async () => {
  net = await createTestNet('vmcri');
  const dir = await fs.mkdtemp('/tmp/tvc-');
  // the sandboxer tsulad starts reads this vmm.toml: the guest under test, not the machine's
  const vmmToml = path.join(dir, 'vmm.toml');
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

test('crictl run -r vmm: the pod is one VM, both containers in it, exec/logs/exit codes; stopp+rmp leave nothing', { timeout: 400_000 }, async () => {
  const logs = path.join(d.dir, 'logs');
  const podCfg = path.join(d.dir, 'pod.json');
  await fs.writeFile(podCfg, JSON.stringify({ metadata: { name: 'vm', namespace: 'default', uid: 'vm-1' }, log_directory: logs, linux: {} }));
  const c1 = path.join(d.dir, 'c1.json');
  await fs.writeFile(c1, JSON.stringify({ metadata: { name: 'c1' }, image: { image: 'busybox' }, command: ['sh', '-c', 'echo shared > /dev/shm/seg; uname -r; exec sleep 1000'], log_path: 'c1.log' }));
  const t0 = Date.now();
  const id1 = await ok(['--timeout', '240s', 'run', '--no-pull', '-r', 'vmm', c1, podCfg]);
  console.log(`# crictl run -r vmm: ${Date.now() - t0} ms`);
  const pod = await ok(['pods', '-q']);
  const qemus = await processesNamed('qemu-system-x86_64', d.dir);
  assert.equal(qemus.length, 1, 'one VM for the pod');
  assert.ok(readFileSync(`/proc/${qemus[0]}/cmdline`, 'utf8').includes(`sandbox-${pod}`));
  await waitFor(async () => (await ok(['logs', id1])) === guestKernel, 30_000, 'the guest kernel in the logs');
  assert.equal(await ok(['exec', id1, 'uname', '-r']), guestKernel);

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
  // which reaps what is orphaned in the pod (a backgrounded sleep whose parent exits at once)
  assert.equal(await ok(['exec', id1, 'sh', '-c', '(sleep 0.1 &); sleep 1.5; grep -l "^State:.*Z" /proc/[0-9]*/status || true']), '');
  // an ExecSync past its timeout: DeadlineExceeded, and the process killed in the guest through
  // the task API (its pid is the guest's: no host process of that pid may get the signal)
  const slow = await crictl(d.criSock, ['exec', '-s', '--timeout', '2', id1, 'sleep', '77'], { timeoutMs: 60_000 });
  assert.notEqual(slow.code, 0);
  assert.match(slow.stderr, /DeadlineExceeded|timed out/);
  assert.equal(await ok(['exec', id1, 'sh', '-c', 'ps -o args | grep -c "^sleep 77" || true']), '0');
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
