// VM pods on the pod network (kata's tcfilter model) through tsulad's CRI, on a private CNI
// network: the guest's eth0 has the pod's IP and MAC, the gateway answers a ping, a server in
// the VM pod answers the host at the pod IP, through its hostPort (portmap) and through
// `crictl port-forward`, a second VM pod reaches it, hostname = the pod's in every container;
// the tap and filters go when the VM dies (qemu killed; sandboxer and qemu killed -9, then
// its recovery); stopp + rmp leave nothing. hostNetwork VM pods are refused. Two boots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ROOT, TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { createTestNet, inNetns, leases, type TestNet, freePort } from '../helpers/network.js';
import { processesNamed, nodeProcessesUnder } from '../helpers/containerd.js';
import { ensureSandboxer } from '../../src/sandboxer/launch.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const missing = ['/usr/bin/qemu-system-x86_64', '/usr/lib/qemu/virtiofsd', '/usr/sbin/tc', `${GUEST}/vmlinuz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (missing.length) throw new Error(`VM network tests need ${missing.join(', ')}: scripts/deps.sh, then scripts/ensure-guest.sh ${GUEST}`);

let net0: TestNet;
let d: TestDaemon;
const children: ChildProcess[] = [];
before(async () => {
  net0 = await createTestNet('vmnet');
  const dir = await fs.mkdtemp('/tmp/tvn-');
  // the sandboxer tsulad starts reads this vmm.toml: the guest under test, not the machine's
  const vmmToml = path.join(dir, 'vmm.toml');
  await fs.writeFile(vmmToml, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`);
  process.env.TSULA_VMM_CONFIG = vmmToml;
  d = await TestDaemon.create({ dir, configJson: { 'cni-conf-dir': net0.confDir } });
  await d.loadBusybox();
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  // VMNET_KEEP_LOGS=<dir>: keep tsulad's and the sandboxer's logs (the test's dir goes)
  if (process.env.VMNET_KEEP_LOGS) {
    await fs.mkdir(process.env.VMNET_KEEP_LOGS, { recursive: true });
    await fs.copyFile(d.logFile, path.join(process.env.VMNET_KEEP_LOGS, 'tsulad.log')).catch(() => {});
    await fs.copyFile(path.join(d.dir, 'sb', 'sandboxer.log'), path.join(process.env.VMNET_KEEP_LOGS, 'sandboxer.log')).catch(() => {});
  }
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force'], { timeoutMs: 120_000 }).catch(() => {});
  await d?.destroy();
  await net0?.destroy();
});

const ok = async (args: string[]) => {
  const r = await crictl(d.criSock, args, { timeoutMs: 240_000 });
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
const netnsOf = (pod: string) => path.join(d.state, 'netns', pod);
/** What of the VM's plumbing the pod's netns still holds. */
const plumbing = (pod: string) => {
  const tap = inNetns(netnsOf(pod), ['ip', 'link', 'show', 'tap0_kata']).code === 0 ? ['tap0_kata'] : [];
  const q = inNetns(netnsOf(pod), ['tc', 'qdisc', 'show', 'dev', 'eth0']).out;
  const f = inNetns(netnsOf(pod), ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress']).out;
  return [...tap, ...(/ingress/.test(q) ? ['eth0 ingress qdisc'] : []), ...(/mirred/.test(f) ? ['eth0 mirred filter'] : [])];
};

function get(url: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}


async function podConfig(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const f = path.join(d.dir, `${name}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name, namespace: 'default', uid: `${name}-uid` }, hostname: `${name}-host`, log_directory: path.join(d.dir, 'logs'), linux: {}, ...extra }));
  return f;
}
async function ctrConfig(name: string, command: string[]): Promise<string> {
  const f = path.join(d.dir, `c-${name}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'busybox' }, command, log_path: `${name}.log` }));
  return f;
}

test('hostNetwork VM pods are refused before anything is made', { timeout: 120_000 }, async () => {
  const cfg = await podConfig('hostnet', { linux: { security_context: { namespace_options: { network: 2 } } } });
  const r = await crictl(d.criSock, ['runp', '-r', 'vmm', cfg], { timeoutMs: 120_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /hostNetwork is not supported for VM pods/);
  assert.equal(await ok(['pods', '-q']), '');
  assert.equal((await processesNamed('qemu-system-x86_64', d.dir)).length, 0);
});

test('a VM pod on the pod network: eth0, gateway, pod IP, hostPort, port-forward, a second VM pod, hostname; teardown after kill -9', { timeout: 900_000 }, async () => {
  const hostPort = 20000 + Math.floor(Math.random() * 20000);
  const podA = await podConfig('web', {
    port_mappings: [{ container_port: 80, host_port: hostPort }],
    dns_config: { servers: ['10.9.9.53'], searches: ['vmnet.test'] },
  });
  let t0 = Date.now();
  const a = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', podA]);
  console.log(`# VM pod on the pod network: runp in ${Date.now() - t0} ms`);
  const rec = JSON.parse(readFileSync(path.join(d.dir, 'sb', 'sandboxes', `${a}.json`), 'utf8')) as { kindState: { network?: { plumbMs: number; configureMs: number } } };
  assert.ok(rec.kindState.network, 'the sandbox has a NIC');
  console.log(`# network share of the start: plumbing ${rec.kindState.network.plumbMs} ms, ConfigureNetwork ${rec.kindState.network.configureMs} ms`);
  const httpd = await ok(['create', a, await ctrConfig('httpd', ['sh', '-c', 'echo hello-vm > /tmp/index.html; exec httpd -f -p 80 -h /tmp']), podA]);
  await ok(['start', httpd]);
  const sh = await ok(['create', a, await ctrConfig('sh', ['sleep', '1000']), podA]);
  await ok(['start', sh]);
  const ip = JSON.parse(await ok(['inspectp', a])).status.network.ip as string;
  const mac = (JSON.parse(inNetns(netnsOf(a), ['ip', '-j', 'link', 'show', 'eth0']).out) as { address: string }[])[0]!.address;
  assert.deepEqual(plumbing(a), ['tap0_kata', 'eth0 ingress qdisc', 'eth0 mirred filter']);

  // the guest's eth0: the pod's IP and MAC; the bridge's gateway answers
  const addr = await ok(['exec', sh, 'ip', 'addr', 'show', 'eth0']);
  assert.ok(addr.includes(`inet ${ip}/24`), addr);
  assert.ok(addr.includes(`link/ether ${mac}`), addr);
  assert.match(await ok(['exec', sh, 'ip', 'route']), new RegExp(`default via ${net0.gateway.replaceAll('.', '\\.')} dev eth0`));
  const ping = await crictl(d.criSock, ['exec', sh, 'ping', '-c', '1', '-W', '5', net0.gateway], { timeoutMs: 60_000 });
  assert.equal(ping.code, 0, `ping ${net0.gateway}: ${ping.stdout}${ping.stderr}`);
  // hostname = the pod's, in both containers (their own UTS namespaces) and in /etc/hostname
  for (const c of [httpd, sh]) {
    assert.equal(await ok(['exec', c, 'hostname']), 'web-host');
    assert.equal(await ok(['exec', c, 'cat', '/etc/hostname']), 'web-host');
  }
  // the pod's DNS config reaches the container (the pod's resolv.conf, over virtio-fs)
  assert.match(await ok(['exec', sh, 'cat', '/etc/resolv.conf']), /nameserver 10\.9\.9\.53/);

  // the server in the VM pod: at the pod IP, through the hostPort (portmap), port-forward
  await waitFor(async () => (await get(`http://${ip}/index.html`).catch(() => '')) === 'hello-vm\n', 30_000, 'httpd at the pod IP');
  assert.equal(await get(`http://${net0.gateway}:${hostPort}/index.html`), 'hello-vm\n');
  const local = await freePort();
  const pf = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'port-forward', a, `${local}:80`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(pf);
  let pfOut = '';
  pf.stdout.on('data', (b: Buffer) => { pfOut += b.toString(); });
  pf.stderr.on('data', (b: Buffer) => { pfOut += b.toString(); });
  await waitFor(async () => pfOut.includes(`Forwarding from 127.0.0.1:${local}`), 15_000, `crictl port-forward: ${pfOut}`);
  assert.equal(await get(`http://127.0.0.1:${local}/index.html`), 'hello-vm\n');
  pf.kill('SIGKILL');

  // a second VM pod reaches the first one over the bridge
  t0 = Date.now();
  const b = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', await podConfig('client')]);
  console.log(`# second VM pod: runp in ${Date.now() - t0} ms`);
  const cl = await ok(['create', b, await ctrConfig('client', ['sleep', '1000']), await podConfig('client')]);
  await ok(['start', cl]);
  assert.equal(await ok(['exec', cl, 'wget', '-q', '-O', '-', `http://${ip}/index.html`]), 'hello-vm');
  assert.equal(await ok(['exec', cl, 'hostname']), 'client-host');

  // TCP round trips host → VM pod (for the record; bench/vmm.mjs compares them with runc)
  t0 = Date.now();
  for (let i = 0; i < 20; i++) await get(`http://${ip}/index.html`);
  console.log(`# 20 HTTP GETs host → VM pod: ${((Date.now() - t0) / 20).toFixed(1)} ms each`);

  // qemu of pod A dies: its tap and filters leave the netns at once (it outlives the VM)
  const qemuA = (await processesNamed('qemu-system-x86_64', d.dir)).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`sandbox-${a}`));
  assert.ok(qemuA);
  process.kill(qemuA, 'SIGKILL');
  await waitFor(async () => plumbing(a).length === 0, 20_000, `pod A's netns cleaned: ${plumbing(a).join(', ')}`);

  // kill -9 of the sandboxer, then of pod B's qemu: the next sandboxer (tsulad starts it again
  // by itself once its tasks lose their Wait, or this test does) finds the VM dead at recovery
  // and removes its plumbing from the record
  const sandboxers = await nodeProcessesUnder(path.join(d.dir, 'sb'));
  assert.equal(sandboxers.length, 1);
  process.kill(sandboxers[0]!, 'SIGKILL');
  const qemuB = (await processesNamed('qemu-system-x86_64', d.dir)).find((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(`sandbox-${b}`));
  assert.ok(qemuB);
  process.kill(qemuB, 'SIGKILL');
  await waitFor(async () => spawnSync('kill', ['-0', String(qemuB)]).status !== 0, 10_000, 'qemu B gone');
  // started as tsulad starts it (its launcher: bin/, not this test's dir), if tsulad has not yet
  process.env.TSULA_SANDBOXER_BIN = path.join(ROOT, 'bin', 'tsula-sandboxer');
  await ensureSandboxer(path.join(d.dir, 'sb'), path.join(d.dir, 'sb.sock'));
  await waitFor(async () => plumbing(b).length === 0, 30_000, `pod B's netns cleaned at recovery: ${plumbing(b).join(', ')}`);

  // stopp + rmp: nothing left (qemu, taps, netns, leases)
  for (const p of [a, b]) { await ok(['stopp', p]); await ok(['rmp', p]); }
  assert.equal(await ok(['pods', '-q']), '');
  assert.equal((await processesNamed('qemu-system-x86_64', d.dir)).length, 0);
  assert.deepEqual(await fs.readdir(path.join(d.state, 'netns')).catch(() => []), []);
  assert.deepEqual(await leases(net0), []);
});
