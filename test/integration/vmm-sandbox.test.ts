// VM sandboxes end to end, as users drive them: `tsula run --runtime vmm` through tsulad
// (which starts the sandboxer on first use), stock containerd with
// `ctr run --runtime io.containerd.tsula.v2 --annotation io.tsula.sandbox-kind=vmm`, and
// the sandboxer's Task API with two pods at once, a kill -9 of the sandboxer and a qemu
// killed from outside. Real VMs under TCG: a few boots, each ~10-15 s.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { execFile, spawn } from 'node:child_process';
import { TestDaemon, IMAGES, ROOT, waitFor } from '../helpers/daemon.js';
import { METRICS_V2, fromMetricsAny } from '../../src/cgroups/metrics.js';
import { TestContainerd, instancesNamed, killSandboxerLeftovers, nodeProcessesUnder, processesNamed, shortTempDir } from '../helpers/containerd.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { mountsUnder } from '../../src/sandboxer/kinds/vmm/shared.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { Task } from '../../src/gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';
import { Status } from '../../src/gen/github.com/containerd/containerd/api/types/task/task_pb.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU = '/usr/bin/qemu-system-x86_64';
const missing = [QEMU, '/usr/lib/qemu/virtiofsd', '/usr/bin/containerd', `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
// no silent green: a machine that can't run these fails them, saying what to install
if (process.getuid?.() !== 0) throw new Error('VM sandbox tests need root');
if (missing.length) throw new Error(`VM sandbox tests need ${missing.join(', ')}: scripts/deps.sh --test, then scripts/ensure-guest.sh ${GUEST}`);
const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();

// one vmm.toml for every sandboxer these tests start (they inherit the env)
const dir = await shortTempDir('tvs-');
const vmmToml = path.join(dir, 'vmm.toml');
await fs.writeFile(vmmToml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`);
process.env.TSULA_VMM_CONFIG = vmmToml;

after(async () => {
  await killSandboxerLeftovers(dir);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
});

/** The CLI alone (sandbox ls talks to the sandboxer, not to tsulad). */
function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(path.join(ROOT, 'bin/tsula'), args, (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, stdout, stderr }));
  });
}

/** The sandboxer's pods as `tsula sandbox ls -q` lists them. */
async function sandboxIds(state: string): Promise<string[]> {
  const r = await runCli(['sandbox', 'ls', '-q', '--no-trunc', '--sandboxer-state', state]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

/** A vmm.toml whose kernel is not one: qemu exits at once, the boot fails. */
async function brokenVmmToml(): Promise<string> {
  const f = path.join(dir, 'broken-vmm.toml');
  await fs.writeFile(path.join(dir, 'not-a-kernel'), Buffer.alloc(65536));
  await fs.writeFile(f, `[hypervisor.qemu]\nkernel = "${dir}/not-a-kernel"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 60\n`);
  return f;
}

/** qemu, virtiofsd and mounts left under d (none once every pod is gone). */
async function leftovers(d: string): Promise<string[]> {
  const procs = [...await processesNamed('qemu-system-x86_64', d), ...await processesNamed('virtiofsd', d)].map((p) => `pid ${p}`);
  return [...procs, ...mountsUnder(d).filter((m) => m.includes('.vm') || m.includes('/vm/')).map((m) => `mount ${m}`)];
}

test('tsula run --runtime vmm: the guest kernel, exit codes, exec, one qemu named sandbox-<id>, sandbox shell, kill, rm leaves nothing', { timeout: 400_000 }, async () => {
  const sbDir = path.join(dir, 'engine');
  const env = { TSULA_SANDBOXER_STATE: path.join(sbDir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(sbDir, 'sb.sock'), TSULA_VMM_CONFIG: vmmToml };
  await fs.mkdir(sbDir, { recursive: true });
  const d = await TestDaemon.create({ env });
  try {
    assert.equal((await d.cli(['load', '-i', path.join(IMAGES, 'busybox.tar')])).code, 0);
    const t0 = Date.now();
    const r = await d.cli(['run', '--rm', '--runtime', 'vmm', 'busybox', 'sh', '-c', 'uname -r; grep Seccomp: /proc/self/status; exit 3'], { timeoutMs: 180_000 });
    console.log(`# tsula run --rm --runtime vmm (boot + run + stop): ${Date.now() - t0} ms`);
    assert.equal(r.code, 3, `${r.stderr}\n${await fs.readFile(path.join(sbDir, 'sb', 'sandboxer.log'), 'utf8').catch(() => '')}`);
    const [kernel, seccomp] = r.stdout.trim().split('\n');
    assert.equal(kernel, guestKernel);
    // disable_guest_seccomp (kata's default): docker's profile is not applied in the guest
    assert.match(seccomp ?? '', /^Seccomp:\s+0$/);
    assert.notEqual(guestKernel, os.release());
    // a privileged container has the guest kernel's bridge (a module the guest loads when asked:
    // critest's "Privileged is true" makes one with brctl)
    const br = await d.cli(['run', '--rm', '--runtime', 'vmm', '--privileged', 'busybox', 'sh', '-c', 'brctl addbr foobar && ip link add br9 type bridge && echo bridges'], { timeoutMs: 180_000 });
    assert.deepEqual([br.code, br.stdout.trim()], [0, 'bridges'], br.stderr);

    // the seed guide's pod with iSulad's annotations: a podsandbox container makes the VM, a
    // container naming it (io.kubernetes.sandbox.id) joins the same VM
    // ... and is, with disable_guest_seccomp = false in the pod's vmm.toml
    const strict = path.join(dir, 'strict-vmm.toml');
    await fs.writeFile(strict, `${await fs.readFile(vmmToml, 'utf8')}disable_guest_seccomp = false\n`);
    const run = await d.cli(['run', '-tid', '--runtime', 'vmm', '--network', 'none', '--annotation', 'io.kubernetes.docker.type=podsandbox',
      '--annotation', `io.tsula.vmm-config=${strict}`, 'busybox', 'sleep', '1000'], { timeoutMs: 180_000 });
    assert.equal(run.code, 0, run.stderr);
    const id = run.stdout.trim();
    const member = (await d.ok(['run', '-tid', '--runtime', 'vmm', '--network', 'none', '--annotation', 'io.kubernetes.docker.type=container',
      '--annotation', `io.kubernetes.sandbox.id=${id}`, 'busybox', 'sleep', '1000'])).trim();
    assert.ok((await d.ok(['exec', member, 'cat', '/proc/version'])).includes(guestKernel));
    assert.match(await d.ok(['exec', member, 'grep', 'Seccomp:', '/proc/self/status']), /^Seccomp:\s+2$/m);
    assert.equal((await d.cli(['inspect', '-f', '{{.HostConfig.Runtime}}', id])).stdout.trim(), 'vmm');
    const ex = await d.cli(['exec', id, 'cat', '/proc/version']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(ex.stdout.includes(guestKernel), ex.stdout);
    assert.equal((await d.cli(['exec', id, 'sh', '-c', 'exit 4'])).code, 4);
    // a command that is not there: the guest runtime's words and docker's 127, with a terminal too
    for (const flags of [[], ['-t']]) {
      const missing = await d.cli(['exec', ...flags, id, 'nosuchcmd']);
      assert.equal(missing.code, 127, `exec ${flags.join(' ')}: ${missing.stderr}`);
      // (on stdout, as dockerd writes a failed exec start into the hijacked stream)
      assert.match(missing.stdout + missing.stderr, /OCI runtime exec failed: .*nosuchcmd.* not found/, `exec ${flags.join(' ')}`);
    }
    // docker stats: a container with no -m has the VM's memory (512 MiB) as its limit, not the host's
    const st = await d.api('GET', `/containers/${id}/stats?stream=0&one-shot=1`);
    assert.equal(st.status, 200, st.body);
    const mem = (JSON.parse(st.body) as { memory_stats: { usage: number; limit: number } }).memory_stats;
    assert.deepEqual([mem.limit, mem.usage > 0], [512 << 20, true], st.body);

    // one qemu for the pod, named after it; no Node.js process per pod
    const qemus = await processesNamed('qemu-system-x86_64', sbDir);
    assert.equal(qemus.length, 1);
    const argv = readFileSync(`/proc/${qemus[0]}/cmdline`, 'utf8').split('\0');
    assert.equal(argv[argv.indexOf('-name') + 1], `sandbox-${id}`);
    assert.equal((await instancesNamed('virtiofsd', sbDir)).length, 1);
    assert.equal((await nodeProcessesUnder(sbDir)).length, 1, 'one tsula-sandboxer');

    // the guest's debug shell, scripted
    const sh = await d.cli(['sandbox', 'shell', '--sandboxer-state', env.TSULA_SANDBOXER_STATE, id.slice(0, 12)], { input: 'uname -r; hostname\n', timeoutMs: 30_000 });
    assert.equal(sh.code, 0, sh.stderr);
    assert.match(sh.stdout, new RegExp(guestKernel.replaceAll('.', '\\.')));
    // the guest is the container's pod: its hostname is the container's (docker's: the id's first 12)
    assert.match(sh.stdout, new RegExp(`^${id.slice(0, 12)}$`, 'm'));

    // stopping the pod's sandbox container stops the pod's other container, as a pod would,
    // within one grace period for the pod (both ignore SIGTERM: sleep as PID 1)
    const stopped = Date.now();
    assert.equal((await d.cli(['stop', '-t', '2', id])).code, 0);
    assert.ok(Date.now() - stopped < 3900, `the pod stopped in ${Date.now() - stopped} ms, within one -t 2`);
    assert.equal((await d.cli(['inspect', '-f', '{{.State.Status}}', member])).stdout.trim(), 'exited');
    assert.equal((await d.cli(['wait', id])).stdout.trim(), '137');
    assert.equal((await d.cli(['rm', id, member])).code, 0);
    await waitFor(async () => (await leftovers(sbDir)).length === 0, 20_000, 'no qemu, virtiofsd or mounts left');
    assert.deepEqual(await sandboxIds(env.TSULA_SANDBOXER_STATE), []);

    // a boot that fails: the error says why, and no sandbox, VM dir, process or mount stays
    const bad = await d.cli(['run', '--rm', '--runtime', 'vmm', '--annotation', `io.tsula.vmm-config=${await brokenVmmToml()}`, 'busybox', 'true'], { timeoutMs: 120_000 });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /qemu exited with status \d+ before the agent answered/);
    assert.deepEqual(await sandboxIds(env.TSULA_SANDBOXER_STATE), []);
    assert.deepEqual(await leftovers(sbDir), []);
    assert.deepEqual((await fs.readdir(path.join(env.TSULA_SANDBOXER_STATE, 'sandboxes'))).filter((f) => !f.endsWith('.json')), [], 'no VM dir');
  } finally {
    await d.destroy();
    await killSandboxerLeftovers(sbDir);
  }
});

test('containerd: ctr run --runtime io.containerd.tsula.v2 --runtime-config-path vmm.toml runs in a VM; a slow reader gets every byte', { timeout: 300_000 }, async () => {
  const c = await TestContainerd.start();
  try {
    await c.importBusybox();
    // the runtime options (runtimeoptions.v1.Options) name a vmm.toml: the kind and its config
    // (the annotation io.tsula.sandbox-kind=vmm does the same with the sandboxer's config)
    const r = await c.ctr(['run', '--rm', '--runtime', 'io.containerd.tsula.v2', '--runtime-config-path', vmmToml,
      'docker.io/library/busybox:latest', 'vm1', 'sh', '-c', 'uname -r; echo err >&2; exit 6']);
    assert.equal(r.code, 6, `${r.stderr}\n${await c.sandboxerLog()}`);
    assert.equal(r.stdout.trim(), guestKernel);
    assert.match(r.stderr, /err/);
    // a reader that stops for 5 s at the first output: the guest process waits for it (the sandboxer and the
    // agent stop reading), and every byte of 8 MiB arrives; 2 MiB fit in the queues, so that
    // process exits while the reader still sleeps: the rest comes after its exit
    const slowRun = (id: string, bytes: number) => new Promise<{ code: number; n: number }>((resolve) => {
      const p = spawn('ctr', ['-a', c.sock, '-n', 'tsula', 'run', '--fifo-dir', path.join(c.dir, 'fifo'), '--rm', '--runtime', 'io.containerd.tsula.v2',
        '--runtime-config-path', vmmToml, 'docker.io/library/busybox:latest', id, 'sh', '-c', `head -c ${bytes} /dev/zero | tr '\\0' a`],
      { env: c.env, stdio: ['ignore', 'pipe', 'ignore'] });
      let n = 0;
      p.stdout.on('data', (d: Buffer) => { n += d.length; });
      // (from the first output on: the VM's boot comes before it)
      p.stdout.once('data', () => { p.stdout.pause(); setTimeout(() => p.stdout.resume(), 5000); });
      p.on('close', (code) => resolve({ code: code ?? -1, n }));
    });
    assert.deepEqual(await slowRun('vm2', 8 << 20), { code: 0, n: 8 << 20 }, await c.sandboxerLog());
    assert.deepEqual(await slowRun('vm3', 2 << 20), { code: 0, n: 2 << 20 }, await c.sandboxerLog());
    await waitFor(async () => (await leftovers(c.dir)).length === 0, 20_000, 'the task\'s VM gone');
  } finally {
    await c.destroy();
  }
});

test('sandboxer: two VM pods at once, kill -9 of the sandboxer re-adopts them, a qemu killed from outside → 255', { timeout: 400_000 }, async () => {
  const s = await TestSandboxer.create();
  try {
    const ann = { 'io.tsula.sandbox-kind': 'vmm' };
    let c = await TtrpcClient.connect(s.taskSock);
    let t = c.service(Task);
    const b1 = await s.bundle('p1', ['sleep', '1000'], ann);
    const b2 = await s.bundle('p2', ['sleep', '1000'], ann);
    const t0 = Date.now();
    await Promise.all([t.create({ id: 'p1', bundle: b1 }, { timeoutMs: 180_000 }), t.create({ id: 'p2', bundle: b2 }, { timeoutMs: 180_000 })]);
    console.log(`# two VM pods created in parallel in ${Date.now() - t0} ms`);
    await t.start({ id: 'p1' });
    await t.start({ id: 'p2' });
    assert.equal((await processesNamed('qemu-system-x86_64', s.dir)).length, 2);
    // Task Stats of a VM task: the guest cgroup's, as io.containerd.cgroups.v2.Metrics
    const st = await t.stats({ id: 'p1' });
    assert.equal(st.stats?.typeUrl, METRICS_V2);
    const m = fromMetricsAny(st.stats!)!;
    assert.ok((m.usage.pids?.current ?? 0n) >= 1n && (m.usage.memory?.usage ?? 0n) > 0n, JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? String(v) : v)));
    assert.equal((await instancesNamed('virtiofsd', s.dir)).length, 2);
    assert.equal((await nodeProcessesUnder(s.dir)).length, 1, 'one sandboxer for both pods');

    // kill -9 the sandboxer: the VMs and their containers keep running; a new one re-adopts
    c.close();
    await s.kill9();
    assert.equal((await processesNamed('qemu-system-x86_64', s.dir)).length, 2);
    await s.start();
    c = await TtrpcClient.connect(s.taskSock);
    t = c.service(Task);
    assert.equal((await t.state({ id: 'p1' })).status, Status.RUNNING);
    assert.equal((await t.state({ id: 'p2' })).status, Status.RUNNING);

    // p1: a normal kill; p2: its qemu dies from outside → 255 and everything of it goes
    const w1 = t.wait({ id: 'p1' }, { timeoutMs: 60_000 });
    await t.kill({ id: 'p1', signal: 9 });
    assert.equal((await w1).exitStatus, 137);
    const w2 = t.wait({ id: 'p2' }, { timeoutMs: 60_000 });
    const qemu2 = (await processesNamed('qemu-system-x86_64', s.dir)).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('sandbox-p2'));
    assert.ok(qemu2);
    process.kill(qemu2, 'SIGKILL');
    assert.equal((await w2).exitStatus, 255);
    await t.delete({ id: 'p1' });
    await t.delete({ id: 'p2' });
    c.close();
    await waitFor(async () => (await leftovers(s.dir)).length === 0, 20_000, 'no qemu, virtiofsd or mounts left');
  } finally {
    await s.destroy();
  }
});

test('sandboxer killed while a VM boots: the next one reaps the half-made qemu, virtiofsd, mounts and record; a failed boot leaves nothing', { timeout: 120_000 }, async () => {
  const s = await TestSandboxer.create();
  try {
    const c = await TtrpcClient.connect(s.taskSock);
    const b = await s.bundle('half', ['true'], { 'io.tsula.sandbox-kind': 'vmm' });
    const creating = c.service(Task).create({ id: 'half', bundle: b }, { timeoutMs: 120_000 }).catch(() => null);
    await waitFor(async () => (await processesNamed('qemu-system-x86_64', s.dir)).length === 1, 30_000, 'qemu to start');
    await s.kill9();
    await creating;
    c.close();
    assert.equal((await processesNamed('qemu-system-x86_64', s.dir)).length, 1, 'qemu outlives the sandboxer');
    await s.start();
    await waitFor(async () => (await leftovers(s.dir)).length === 0, 20_000, 'the half-booted VM reaped')
      .catch(async (e) => { throw new Error(`${(e as Error).message}: ${(await leftovers(s.dir)).join(', ')}`); });
    // the record of a start cut short goes too, as after a start that failed
    assert.deepEqual(await sandboxIds(s.state), []);
    assert.deepEqual(await fs.readdir(path.join(s.state, 'sandboxes')), []);

    // a boot that fails (through the Task API): nothing listed, nothing left, also after a restart
    const c2 = await TtrpcClient.connect(s.taskSock);
    const b2 = await s.bundle('broken', ['true'], { 'io.tsula.sandbox-kind': 'vmm', 'io.tsula.vmm-config': await brokenVmmToml() });
    await assert.rejects(c2.service(Task).create({ id: 'broken', bundle: b2 }, { timeoutMs: 60_000 }), /qemu exited with status \d+ before the agent answered/);
    c2.close();
    assert.deepEqual(await sandboxIds(s.state), []);
    assert.deepEqual(await leftovers(s.dir), []);
    await s.kill9();
    await s.start();
    assert.deepEqual(await sandboxIds(s.state), []);
    assert.deepEqual(await fs.readdir(path.join(s.state, 'sandboxes')), []);
  } finally {
    await s.destroy();
  }
});
