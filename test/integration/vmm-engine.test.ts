// What tsula claims about VM containers that no other file shows, with as few boots as
// possible (two: TCG boots take 10-20 s each):
// - one tsula-sandboxer serving tsulad's sandboxer runtime (runc-sandbox) and its VM
//   containers: -t, -m 64m, -v hostdir:/data, a user network and -p reach the guest (its
//   server answers through the port and by name on the network); tsulad killed with -9 while
//   both run: the sandbox container that exits meanwhile is reported with its code, the VM
//   container still runs in the same qemu, exec into it works, its OOM kill in the guest is
//   reported (exit 137, OOMKilled, `oom` before `die`);
// - stock containerd: `ctr run --annotation io.tsula.sandbox-kind=vmm` (the sandboxer's own
//   vmm.toml) runs the task in a VM.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import { spawnSync } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { TestContainerd, processesNamed, shortTempDir, killSandboxerLeftovers } from '../helpers/containerd.js';
import { TestSandboxer } from '../helpers/sandboxer.js';
import { mountsUnder } from '../../src/sandboxer/kinds/vmm/shared.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { createTestNet, dockerNetConfig, freePort } from '../helpers/network.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
requirePrerequisites('vmm-engine', {
  root: true,
  files: {
    '/usr/bin/qemu-system-x86_64': 'qemu-system-x86', '/usr/lib/qemu/virtiofsd': 'qemu-system-common', '/usr/bin/containerd': 'containerd',
    [`${GUEST}/vmlinuz`]: `the guest (scripts/ensure-guest.sh ${GUEST})`, [`${GUEST}/initramfs.cpio.gz`]: `the guest (scripts/ensure-guest.sh ${GUEST})`,
    [`${GUEST}/rootfs.img`]: `the guest (scripts/ensure-guest.sh ${GUEST})`,
  },
});
const guestKernel = readFileSync(`${GUEST}/kernel-release`, 'utf8').trim();

// one vmm.toml for every sandboxer these tests start (they inherit the env)
const dir = await shortTempDir('tve-');
const vmmToml = path.join(dir, 'vmm.toml');
await fs.writeFile(vmmToml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`);
process.env.TSULA_VMM_CONFIG = vmmToml;

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await killSandboxerLeftovers(dir);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
});


/** The body of a GET, '' on any error or after 5 s. */
function httpGet(url: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(res.statusCode === 200 ? body : ''));
    });
    req.on('timeout', () => req.destroy()).on('error', () => resolve(''));
  });
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** qemu, virtiofsd and VM mounts left under d (none once every VM is gone). */
async function vmLeftovers(d: string): Promise<string[]> {
  const procs = [...await processesNamed('qemu-system-x86_64', d), ...await processesNamed('virtiofsd', d)].map((p) => `pid ${p}`);
  return [...procs, ...mountsUnder(d).filter((m) => m.includes('.vm') || m.includes('/vm/')).map((m) => `mount ${m}`)];
}

test('tsulad kill -9 with a sandboxer container and a VM container (-t, -m 64m, -v, a user network, -p) running: both re-adopted, exits reported', { timeout: 400_000 }, async () => {
  // one sandboxer for both runtimes: runc-sandbox (cri-sandboxers) and vmm (found at TSULA_SANDBOXER_*)
  const sb = await TestSandboxer.create();
  cleanups.push(() => sb.destroy());
  const tn = await createTestNet('vmeng');
  cleanups.push(() => tn.destroy());
  const d = await TestDaemon.create({
    env: { TSULA_SANDBOXER_STATE: sb.state, TSULA_SANDBOXER_ADDRESS: sb.address, TSULA_VMM_CONFIG: vmmToml },
    configJson: {
      ...dockerNetConfig(tn, 1),
      'cri-sandboxers': { 'runc-sandbox': { name: 'runc', address: sb.address } },
      'cri-runtimes': { 'runc-sandbox': 'io.containerd.tsula.v1' },
    },
  });
  cleanups.push(async () => {
    // a user network's bridge (br-<id12>) a failed test left behind
    const nets = await fs.readdir(path.join(d.graph, 'networks', 'records')).catch(() => [] as string[]);
    await d.destroy();
    for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  });
  await d.loadBusybox();
  const netId = (await d.ok(['network', 'create', 'vnet'])).trim();
  const port = await freePort();
  const host = path.join(d.dir, 'shared');
  const sig = path.join(d.dir, 'sig');
  await fs.mkdir(host);
  await fs.mkdir(sig);
  await fs.writeFile(path.join(host, 'hello'), 'hello from the host\n');

  const t0 = Date.now();
  const run = await d.cli(['run', '-d', '-t', '--name', 'vmc', '--network', 'vnet', '-p', `${port}:8080`, '--runtime', 'vmm', '-m', '64m', '-v', `${host}:/data`, 'busybox', 'sh', '-c',
    'tty; cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /data/hello; ' +
    'echo from the guest > /data/back; while [ ! -e /tmp/exit ]; do sleep 0.2; done; ' +
    // told to, the shell outgrows -m 64m: the guest's OOM killer ends it
    '[ -e /tmp/oom ] && x=$(head -c 200000000 /dev/zero | tr "\\0" a); exit 7'], { timeoutMs: 180_000 });
  assert.equal(run.code, 0, `${run.stderr}\n${await sb.log()}`);
  const vm = run.stdout.trim();
  console.log(`# tsula run -d --runtime vmm (boot + start): ${Date.now() - t0} ms`);
  const rs = (await d.ok(['run', '-d', '--runtime', 'runc-sandbox', '-v', `${sig}:/sig`, 'busybox', 'sh', '-c',
    'while [ ! -e /sig/go ]; do sleep 0.05; done; exit 5'])).trim();

  // -t: a pty; -m: the guest cgroup's limit; -v: the host's file in, the guest's file out
  const logs = async () => (await d.ok(['logs', vm])).replace(/\r/g, '');
  await waitFor(async () => (await logs()).includes('hello from the host'), 60_000, 'the VM container\'s output')
    .catch(async (e: Error) => { throw new Error(`${e.message}: ${await logs()}`); });
  const lines = (await logs()).trim().split('\n');
  assert.match(lines[0]!, /^\/dev\/pts\/\d+$/, 'tty says a pty');
  assert.equal(lines[1], String(64 << 20), 'memory.max of the container\'s cgroup in the guest');
  assert.equal(lines[2], 'hello from the host');
  await waitFor(async () => existsSync(path.join(host, 'back')), 10_000, 'the guest\'s file on the host');
  assert.equal(readFileSync(path.join(host, 'back'), 'utf8'), 'from the guest\n');
  assert.equal((await d.ok(['inspect', '-f', '{{.HostConfig.Memory}} {{.Config.Tty}}', vm])).trim(), `${64 << 20} true`);

  // docker's networking: the guest's eth0 has the address on the user network, a server in
  // the VM answers the host through -p and a runc container on the network by name (the
  // network's DNS); a running VM's interfaces are fixed
  const ip = (await d.ok(['inspect', '-f', '{{.NetworkSettings.Networks.vnet.IPAddress}}', vm])).trim();
  assert.match(await d.ok(['exec', vm, 'ip', '-4', '-o', 'addr', 'show', 'eth0']), new RegExp(` ${ip.replaceAll('.', '\\.')}/24 `));
  await d.ok(['exec', '-d', vm, 'httpd', '-p', '8080', '-h', '/data']);
  const fetched = () => httpGet(`http://127.0.0.1:${port}/hello`);
  await waitFor(async () => (await fetched()) === 'hello from the host\n', 30_000, 'the VM\'s server through -p');
  assert.equal(await d.ok(['run', '--rm', '--network', 'vnet', 'busybox', 'wget', '-qO-', 'http://vmc:8080/hello']), 'hello from the host\n');
  // its traffic is counted on its namespace's veth (its pid is the guest's, no host process's)
  const netIo = (await d.ok(['stats', '--no-stream', '--format', '{{.NetIO}}', vm])).trim();
  assert.ok(netIo !== '' && netIo !== '0B / 0B', `NET I/O: ${netIo}`);
  // top: the guest's processes (its agent reads them), drawn as ps -ef: the shell on its pty,
  // the httpd the exec started without one
  const top = await d.ok(['top', vm]);
  const rows = top.trim().split('\n');
  assert.match(rows[0]!, /^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/, top);
  assert.ok(rows.some((r) => /^root\s+\d+\s+\d+\s+\d+\s+\S+\s+pts\/\d+\s+\d\d:\d\d:\d\d\s+sh -c tty; /.test(r)), top);
  assert.ok(rows.some((r) => /^root\s+\d+\s+\d+\s+\d+\s+\S+\s+\?\s+\d\d:\d\d:\d\d\s+httpd -p 8080 -h \/data$/.test(r)), top);
  // other ps options are the host ps's, which cannot see them: refused by name
  const aux = await d.cli(['top', vm, 'aux']);
  assert.notEqual(aux.code, 0);
  assert.match(aux.stderr, /runs in a VM \(runtime vmm\): top shows its processes as ps -ef does/);
  const connect = await d.cli(['network', 'connect', 'bridge', vm]);
  assert.notEqual(connect.code, 0);
  assert.match(connect.stderr, /runs in a VM \(runtime vmm\), whose network interfaces are fixed while it runs/);

  const qemus = await processesNamed('qemu-system-x86_64', sb.dir);
  assert.equal(qemus.length, 1, 'one VM');
  const sbPid = sb.proc!.pid!;
  const rsPid = Number((await d.ok(['inspect', '-f', '{{.State.Pid}}', rs])).trim());
  assert.ok(rsPid > 0 && alive(rsPid), `runc-sandbox container pid ${rsPid}`);

  // tsulad goes; the sandbox container exits while it is gone
  const daemonPid = d.proc!.pid!;
  await d.stop('SIGKILL');
  assert.equal(alive(daemonPid), false);
  await fs.writeFile(path.join(sig, 'go'), '');
  const told = (await fs.stat(path.join(sig, 'go'))).mtimeMs;
  await waitFor(async () => !alive(rsPid), 10_000, 'the sandbox container to exit while no tsulad runs');
  const restarted = Date.now();
  await d.start();

  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', rs])).trim(), 'exited 5');
  const finished = Date.parse((await d.ok(['inspect', '-f', '{{.State.FinishedAt}}', rs])).trim());
  assert.ok(finished >= Math.floor(told) && finished <= restarted, `FinishedAt ${new Date(finished).toISOString()} between the go and the restart`);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}}', vm])).trim(), 'running');
  assert.deepEqual(await processesNamed('qemu-system-x86_64', sb.dir), qemus, 'the same qemu');
  assert.equal(sb.proc?.pid, sbPid, 'the same sandboxer');
  assert.ok(alive(sbPid));

  assert.equal(await fetched(), 'hello from the host\n', 'the published port after the restart');
  // exec into the re-adopted VM container; told to, it outgrows its memory limit, and
  // tsulad reports the guest's OOM kill as dockerd does (the sandboxer's TaskOOM)
  const ex = await d.cli(['exec', vm, 'sh', '-c', 'cat /data/hello; uname -r; exit 3']);
  assert.deepEqual([ex.code, ex.stdout], [3, `hello from the host\n${guestKernel}\n`], ex.stderr);
  // a child left in the background holding the output: the exec ends a few seconds after its
  // exit all the same (dockerd gives such streams 2 s), with its code
  const tHeld = Date.now();
  const held = await d.cli(['exec', vm, 'sh', '-c', 'echo early; sleep 1000 & exit 4']);
  assert.deepEqual([held.code, held.stdout], [4, 'early\n'], held.stderr);
  assert.ok(Date.now() - tHeld < 15_000, `${Date.now() - tHeld} ms`);
  const waited = d.apiStream('POST', `/containers/${vm}/wait`);
  assert.equal(await waited.head, 200);
  const since = Math.floor(Date.now() / 1000) - 1;
  await d.ok(['exec', vm, 'touch', '/tmp/oom', '/tmp/exit']);
  assert.equal(JSON.parse(await waited.body).StatusCode, 137);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}', vm])).trim(), 'exited 137 true');
  const evs = await d.ok(['events', '--since', String(since), '--until', String(Math.floor(Date.now() / 1000) + 1), '-f', `container=${vm}`, '--format', '{{.Action}}']);
  assert.deepEqual(evs.split('\n').filter((a) => a === 'oom' || a.startsWith('die')), ['oom', 'die'], evs);
  await d.ok(['rm', vm, rs]);
  await d.ok(['network', 'rm', netId]);
  await waitFor(async () => (await vmLeftovers(sb.dir)).length === 0, 30_000, 'the VM gone')
    .catch(async (e: Error) => { throw new Error(`${e.message}: ${(await vmLeftovers(sb.dir)).join(', ')}`); });
});

test('containerd: ctr run --annotation io.tsula.sandbox-kind=vmm runs the task in a VM (the sandboxer\'s vmm.toml)', { timeout: 300_000 }, async () => {
  const c = await TestContainerd.start();
  cleanups.push(() => c.destroy());
  await c.importBusybox();
  const t0 = Date.now();
  const running = c.ctr(['run', '--rm', '--runtime', 'io.containerd.tsula.v2', '--annotation', 'io.tsula.sandbox-kind=vmm',
    'docker.io/library/busybox:latest', 'vm2', 'sh', '-c', 'uname -r; echo err >&2; while [ ! -e /tmp/done ]; do sleep 0.1; done; exit 6'], { timeoutMs: 240_000 });
  // a VM of its own, under this containerd's sandboxer: a qemu named after the task
  const qemu = await waitFor(async () => {
    for (const p of await processesNamed('qemu-system-x86_64', c.dir)) {
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (argv[argv.indexOf('-name') + 1] === 'sandbox-vm2') return p;
    }
    return 0;
  }, 120_000, 'a qemu named sandbox-vm2');
  await waitFor(async () => /vm2\s+\d+\s+RUNNING/.test((await c.ctr(['task', 'ls'])).stdout), 120_000, 'vm2 to run');
  // one exec id used again at once (ctr --exec-id): each run is its own, with its own exit code
  for (let i = 0; i < 6; i++) {
    const ex = await c.ctr(['task', 'exec', '--exec-id', 'again', 'vm2', 'sh', '-c', `exit ${i + 1}`]);
    assert.equal(ex.code, i + 1, `exec ${i}: ${ex.stderr}`);
  }
  await c.ok(['task', 'exec', '--exec-id', 'again', 'vm2', 'touch', '/tmp/done']);
  const r = await running;
  console.log(`# ctr run --rm with the vmm annotation: ${Date.now() - t0} ms`);
  assert.equal(r.code, 6, `${r.stderr}\n${await c.sandboxerLog()}`);
  assert.equal(r.stdout.trim(), guestKernel);
  assert.notEqual(guestKernel, os.release());
  assert.match(r.stderr, /err/);
  // the VM goes with the task
  await waitFor(async () => !alive(qemu), 30_000, 'its qemu to exit');
  await waitFor(async () => (await vmLeftovers(c.dir)).length === 0, 30_000, 'the task\'s VM gone');
  assert.deepEqual((await c.ctr(['containers', 'ls', '-q'])).stdout.trim(), '');
});
