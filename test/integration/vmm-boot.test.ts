// The vmm sandbox kind with a real VM under TCG (or KVM where usable): Debian's cloud kernel
// and the guest image of scripts/build-guest.sh, tsula-agent inside, ttrpc over virtio-serial.
// Skipped only when qemu or the guest assets are missing (the reason is printed). Every VM a
// test starts is killed in `after`, also when the test fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { VmmSandboxKind, VM_DIED_EXIT } from '../../src/sandboxer/kinds/vmm/index.js';
import type { SandboxRecord } from '../../src/sandboxer/kinds/types.js';
import { defaultHypervisorConfig, detectAccel, hypervisorFor, launchVm, pidAlive, type VmmConfig } from '../../src/hypervisor/index.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU = '/usr/bin/qemu-system-x86_64';
const missing = [QEMU, `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`].filter((p) => !existsSync(p));
const skip = missing.length ? `missing ${missing.join(', ')} (apt-get install qemu-system-x86; scripts/build-guest.sh ${GUEST})` : false;
if (skip) console.log(`# vmm tests skipped: ${skip}`);

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tvm-'));
const pids = new Set<number>();
after(async () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (!process.env.TSULA_KEEP_TEST_DIR) await fs.rm(dir, { recursive: true, force: true });
});

const config: VmmConfig = {
  default: 'qemu',
  hypervisors: {
    qemu: {
      ...defaultHypervisorConfig('qemu'), kernel: `${GUEST}/vmlinuz`, initrd: `${GUEST}/initramfs.cpio.gz`, bootTimeout: 90,
      // build-guest.sh --image puts node and the agent on a disk beside a small initramfs
      image: existsSync(`${GUEST}/rootfs.img`) ? `${GUEST}/rootfs.img` : '',
    },
  },
};
const record = (id: string): SandboxRecord => ({
  id, kind: 'vmm', createdAt: new Date().toISOString(), netnsPath: '', annotations: {}, state: 'created', pid: 0, kindState: {},
});

test('a VM sandbox boots the cloud kernel, runs tasks in the guest with stdio, and stops gracefully', { skip, timeout: 180_000 }, async () => {
  const kind = new VmmSandboxKind({ stateDir: dir, config });
  const sb = record('pod-a');
  const t0 = Date.now();
  const started = await kind.start(sb, path.join(dir, 'sandboxes'));
  pids.add(started.pid);
  Object.assign(sb, { pid: started.pid, kindState: started.kindState, state: 'ready' });
  console.log(`# VM ready in ${Date.now() - t0} ms (${started.kindState.accel}: ${started.kindState.accelReason}; ${config.hypervisors.qemu!.image ? 'image' : 'initramfs'} layout)`);
  assert.equal(await kind.alive(sb), true);
  const cmdline = readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0');
  assert.equal(cmdline[cmdline.indexOf('-name') + 1], 'sandbox-pod-a');

  const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();
  assert.equal(started.kindState.kernelRelease, guestKernel);
  assert.notEqual(guestKernel, os.release());

  const tasks = await kind.tasks(sb);
  // uname -r in the guest, its stdout carried back over the channel
  const pid = await tasks.create('uname', { args: ['uname', '-r'] });
  assert.ok(pid > 1);
  assert.equal((await tasks.state('uname')).status, 1 /* CREATED */);
  const out = tasks.readAll('uname', 'stdout');
  assert.equal(await tasks.start('uname'), pid);
  assert.equal((await out).toString().trim(), guestKernel);
  assert.equal((await tasks.wait('uname')).exitStatus, 0);
  assert.equal((await tasks.delete('uname')).exitStatus, 0);
  await assert.rejects(tasks.state('uname'), /not found/);

  // exit status and stderr; stdin written from the host
  await tasks.create('fail', { args: ['sh', '-c', 'echo oops >&2; exit 3'] });
  const err = tasks.readAll('fail', 'stderr');
  await tasks.start('fail');
  assert.equal((await tasks.wait('fail')).exitStatus, 3);
  assert.equal((await err).toString(), 'oops\n');
  await tasks.delete('fail');

  await tasks.create('cat', { args: ['cat'] }, { stdin: true });
  await tasks.start('cat');
  const echoed = tasks.readAll('cat', 'stdout');
  await tasks.writeStdin('cat', Buffer.from('hello from the host\n'));
  await tasks.closeStdin('cat');
  assert.equal((await echoed).toString(), 'hello from the host\n');
  assert.equal((await tasks.wait('cat')).exitStatus, 0);

  // kill: SIGKILL → 128+9
  await tasks.create('sleep', { args: ['sleep', '1000'] });
  await tasks.start('sleep');
  await tasks.kill('sleep', 9);
  assert.equal((await tasks.wait('sleep')).exitStatus, 137);

  // a restarted sandboxer re-adopts the VM: the agent reopens its port when the host end
  // closes, and QEMU accepts the new connection
  tasks.close();
  const kind2 = new VmmSandboxKind({ stateDir: dir, config });
  assert.equal(await kind2.alive(sb), true);
  const tasks2 = await kind2.tasks(sb);
  assert.equal((await tasks2.ping(20_000)).kernelRelease, guestKernel);
  await tasks2.create('again', { args: ['echo', 'adopted'] });
  const again = tasks2.readAll('again', 'stdout');
  await tasks2.start('again');
  assert.equal((await again).toString(), 'adopted\n');
  assert.equal((await tasks2.wait('again')).exitStatus, 0);

  const t1 = Date.now();
  await kind2.stop(sb, 10);
  console.log(`# graceful stop in ${Date.now() - t1} ms`);
  assert.equal(pidAlive(started.pid), false);
  assert.equal(await kind.alive(sb), false);
  const consoleLog = readFileSync((started.kindState.paths as { consoleLog: string }).consoleLog, 'utf8');
  assert.match(consoleLog, /tsula-agent exited/); // the agent ended itself: not SIGTERM from the host
});

test('when qemu dies, waiting tasks report exit 255; a boot that misses its deadline kills qemu', { skip, timeout: 180_000 }, async () => {
  const kind = new VmmSandboxKind({ stateDir: dir, config });
  const sb = record('pod-b');
  const started = await kind.start(sb, path.join(dir, 'sandboxes'));
  pids.add(started.pid);
  Object.assign(sb, { pid: started.pid, kindState: started.kindState, state: 'ready' });
  const tasks = await kind.tasks(sb);
  await tasks.create('long', { args: ['sleep', '1000'] });
  await tasks.start('long');
  const waited = tasks.wait('long');
  process.kill(started.pid, 'SIGKILL');
  assert.equal((await waited).exitStatus, VM_DIED_EXIT);
  assert.equal(await kind.alive(sb), false);

  // bounded boot: 1.5 s is far too short under TCG; the error says so and qemu is gone
  const hv = hypervisorFor(config.hypervisors.qemu!);
  const d = path.join(dir, 'short');
  const paths = { agentSocket: `${d}/a.sock`, debugSocket: `${d}/d.sock`, qmpSocket: `${d}/q.sock`, consoleLog: `${d}/console.log`, pidFile: `${d}/vmm.pid` };
  const t0 = Date.now();
  await assert.rejects(launchVm(hv, { id: 'short', accel: (await detectAccel()).accel, paths }, { timeoutMs: 1500 }),
    /sandbox-short: the agent did not answer within 1500 ms .*qemu killed/);
  assert.ok(Date.now() - t0 < 6000);
  const pid = Number(readFileSync(paths.pidFile, 'utf8').trim() || 0);
  if (pid) { pids.add(pid); assert.equal(pidAlive(pid), false, 'qemu left behind'); }
});
