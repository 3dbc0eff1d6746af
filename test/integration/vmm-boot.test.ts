// The vmm sandbox kind with a real VM under TCG (or KVM where usable): Debian's cloud kernel
// and the guest image of scripts/build-guest.sh, tsula-agent inside, ttrpc over virtio-serial,
// containers under conmon + runc in the guest with their rootfs on virtio-fs.
// Every VM a test starts is killed in `after`, also when the test fails.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { VmmSandboxKind, VM_DIED_EXIT, type GuestRuntime } from '../../src/sandboxer/kinds/vmm/index.js';
import { mountsUnder } from '../../src/sandboxer/kinds/vmm/shared.js';
import type { Spec } from '../../src/oci/types.js';
import { busyboxBundle } from '../helpers/sandboxer.js';
import { instancesNamed, processesNamed } from '../helpers/containerd.js';
import { waitFor } from '../helpers/daemon.js';
import type { SandboxRecord } from '../../src/sandboxer/kinds/types.js';
import { defaultHypervisorConfig, detectAccel, hypervisorFor, launchVm, pidAlive, type VmmConfig } from '../../src/hypervisor/index.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU = '/usr/bin/qemu-system-x86_64';
const missing = [QEMU, '/usr/lib/qemu/virtiofsd', `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`].filter((p) => !existsSync(p));
// no silent green: a machine that can't run these fails them, saying what to install
if (missing.length) throw new Error(`VM tests need ${missing.join(', ')}: scripts/deps.sh, then scripts/ensure-guest.sh ${GUEST}`);

const execFileP = promisify(execFile);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tvm-'));
const pids = new Set<number>();
after(async () => {
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const pid of await processesNamed('virtiofsd', dir)) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (const m of mountsUnder(dir)) await execFileP('umount', ['-l', m]).catch(() => {});
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

/** Mounts and processes a VM sandbox leaves behind under dir (none, once stopped). */
async function leftovers(): Promise<string[]> {
  const mounts = mountsUnder(dir).map((m) => `mount ${m}`);
  const procs = [...await processesNamed('qemu-system-x86_64', dir), ...await processesNamed('virtiofsd', dir)].map((p) => `pid ${p}`);
  return [...mounts, ...procs];
}

async function container(rt: GuestRuntime, name: string, args: string[]): Promise<{ id: string; out: Promise<string> }> {
  const b = await busyboxBundle(path.join(dir, 'bundles', name), args);
  const spec = JSON.parse(readFileSync(path.join(b, 'config.json'), 'utf8')) as Spec;
  spec.root.path = path.join(b, 'rootfs');
  const id = createHash('sha256').update(name).digest('hex');
  await rt.create({ id, bundle: b, spec, logPath: '', terminal: false, stdin: false, stdinOnce: true });
  const io = await rt.attach(id);
  let out = '';
  io.onOutput((_s, d) => { out += d.toString(); });
  return { id, out: new Promise((r) => io.onEnd(() => r(out))) };
}

test('a VM sandbox: the cloud kernel, containers under conmon + crun in the guest on a virtio-fs rootfs, exec, re-adoption, graceful stop', { timeout: 240_000 }, async () => {
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
  assert.equal((await instancesNamed('virtiofsd', dir)).length, 1, 'one virtiofsd per pod');

  const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();
  assert.equal(started.kindState.kernelRelease, guestKernel);
  assert.equal(started.kindState.ociRuntime, 'crun', 'the image has crun: the agent runs containers with it');
  assert.notEqual(guestKernel, os.release());

  const rt = await kind.runtime(sb);
  const exits = new Map<string, number>();
  await rt.watchExits((id, code) => { exits.set(id, code); });
  // a container: its rootfs from the host through virtio-fs, its output and exit code back
  const t1 = Date.now();
  const c = await container(rt, 'uname', ['sh', '-c', 'uname -r; cat /proc/1/cgroup; exit 3']);
  await rt.start(c.id);
  const out = await c.out;
  console.log(`# container create+start+output in the guest: ${Date.now() - t1} ms`);
  assert.match(out, new RegExp(`^${guestKernel.replaceAll('.', '\\.')}\n`));
  await waitFor(async () => exits.get(c.id) === 3, 30_000, 'exit 3');
  await rt.delete(c.id, '', false);

  // a long-running one, exec into it, then a sandboxer "restart": a new kind re-adopts the VM
  const s = await container(rt, 'sleeper', ['sleep', '1000']);
  await rt.start(s.id);
  const h = await rt.exec({ containerId: s.id, execId: 'x1', dir: path.join(dir, 'x1'), process: { args: ['sh', '-c', 'cat /proc/version; exit 4'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } }, attach: true, stdin: false });
  let execOut = '';
  h.stdio!.onOutput((_s, d) => { execOut += d.toString(); });
  assert.equal(await h.exited, 4);
  await waitFor(async () => execOut.includes(guestKernel), 5000, 'exec output');
  rt.close();

  const kind2 = new VmmSandboxKind({ stateDir: dir, config });
  assert.equal(await kind2.alive(sb), true);
  const rt2 = await kind2.runtime(sb);
  const exits2 = new Map<string, number>();
  await rt2.watchExits((id, code) => { exits2.set(id, code); });
  assert.equal(await rt2.monitorAlive(s.id), true, 'the container kept running');
  await rt2.kill(s.id, 'KILL');
  await waitFor(async () => exits2.get(s.id) === 137, 30_000, 'exit 137');
  await rt2.delete(s.id, '', false);

  const t2 = Date.now();
  await kind2.stop(sb, 10);
  console.log(`# graceful stop in ${Date.now() - t2} ms`);
  assert.equal(pidAlive(started.pid), false);
  assert.equal(await kind.alive(sb), false);
  // no qemu, virtiofsd, mount or socket stays: the VM's dir is gone
  assert.deepEqual(await leftovers(), []);
  assert.equal(existsSync(path.dirname((started.kindState.paths as { consoleLog: string }).consoleLog)), false);
});

test('when qemu dies, waiting tasks report exit 255; a boot that misses its deadline kills qemu', { timeout: 180_000 }, async () => {
  const kind = new VmmSandboxKind({ stateDir: dir, config });
  const sb = record('pod-b');
  const started = await kind.start(sb, path.join(dir, 'sandboxes'));
  pids.add(started.pid);
  Object.assign(sb, { pid: started.pid, kindState: started.kindState, state: 'ready' });
  const rt = await kind.runtime(sb);
  const exits = new Map<string, number>();
  const times = new Map<string, Date>();
  await rt.watchExits((id, code, at) => { exits.set(id, code); if (at) times.set(id, at); });
  const c = await container(rt, 'long', ['sleep', '1000']);
  await rt.start(c.id);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = Date.now();
  process.kill(started.pid, 'SIGKILL');
  await waitFor(async () => exits.get(c.id) === VM_DIED_EXIT, 10_000, 'exit 255');
  // the exit's time is the death's, not the start's (kubelet's finishedAt, its back-off)
  assert.ok((times.get(c.id)?.getTime() ?? 0) >= killedAt - 5, `exited at ${times.get(c.id)?.toISOString()}, killed at ${new Date(killedAt).toISOString()}`);
  assert.equal(await kind.alive(sb), false);
  // virtiofsd and every mount go with the VM
  await waitFor(async () => (await leftovers()).length === 0, 10_000, 'no leftovers').catch(async (e) => { throw new Error(`${e.message}: ${(await leftovers()).join(', ')}`); });

  // bounded boot: a guest whose init never starts the agent (busybox sleep as the initramfs'
  // init) misses its deadline whatever the machine's speed; the error says so, qemu is gone
  const hv = hypervisorFor(config.hypervisors.qemu!);
  const d = path.join(dir, 'short');
  const paths = { agentSocket: `${d}/a.sock`, debugSocket: `${d}/d.sock`, qmpSocket: `${d}/q.sock`, consoleLog: `${d}/console.log`, pidFile: `${d}/vmm.pid` };
  const t0 = Date.now();
  const mute = { id: 'short', accel: (await detectAccel()).accel, paths, kernelParams: ['rdinit=/bin/busybox', '--', 'sleep', '3600'] };
  // INTERNAL, not UNAVAILABLE: a client must not take it for an outage to retry
  await assert.rejects(launchVm(hv, mute, { timeoutMs: 4000 }),
    (e: Error) => e.name === 'Internal' && /sandbox-short: the VM did not come up: the agent did not answer within 4000 ms .*qemu killed \(kernel \S+vmlinuz\)/.test(e.message));
  assert.ok(Date.now() - t0 < 15_000, `the deadline held: ${Date.now() - t0} ms`);
  const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  assert.ok(pid > 0, 'qemu wrote its pid file');
  pids.add(pid);
  assert.equal(pidAlive(pid), false, 'qemu left behind');
});
