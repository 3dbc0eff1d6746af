// Pods through tsulad's CRI with the real crictl and the real CNI plugins (a private bridge
// and subnet): run, status, list, stop, remove; pods reach each other and the gateway; a
// hostPort and port-forward reach a server in a pod; kill -9 of tsulad loses no pod and
// leaks nothing; bad input gets the right codes and leaves nothing behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import { connect as netConnect } from 'node:net';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { daemonDied } from '../helpers/runtime-state.js';
import { findPidHolders } from '../../src/engine/pods/namespaces.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { createTestNet, iptablesLines, inNetns, leases, ping, type TestNet } from '../helpers/network.js';
import * as net2 from 'node:net';

let net: TestNet;
let d: TestDaemon;
const www = { dir: '', pids: [] as number[] };

before(async () => {
  net = await createTestNet('cri');
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': net.confDir } });
  www.dir = path.join(d.dir, 'www');
  await fs.mkdir(www.dir);
  await fs.writeFile(path.join(www.dir, 'index.html'), 'hello from the pod\n');
});
after(async () => {
  for (const pid of www.pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force']).catch(() => {});
  await d?.destroy();
  await net?.destroy();
});

const cri = (args: string[]) => crictl(d.criSock, args);
const ok = async (args: string[]) => {
  const r = await cri(args);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};

/**
 * A port nothing listens on now, for a hostPort or crictl's local end (which we can't bind
 * for them). Another process could take it in between; nothing else here binds ports.
 */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net2.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net2.AddressInfo).port; s.close(() => resolve(p)); });
  });
}

let n = 0;
async function podConfig(extra: Record<string, unknown> = {}): Promise<string> {
  const f = path.join(d.dir, `pod-${++n}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name: `p${n}`, namespace: 'default', uid: `uid-${n}`, attempt: 0 }, hostname: `pod-${n}`, linux: {}, ...extra }));
  return f;
}

interface Inspectp { status: { id: string; state: string; network: { ip: string }; metadata: { name: string } }; info: { netnsPath: string; utsPath: string; pid: number } }
const inspectp = async (id: string) => JSON.parse(await ok(['inspectp', id])) as Inspectp;

/** busybox httpd serving www.dir on port 80 inside the pod's netns (a stand-in for a container until they land). */
function serveIn(netnsPath: string): void {
  const p = spawn('nsenter', [`--net=${netnsPath}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www.dir], { stdio: 'ignore', detached: true });
  www.pids.push(p.pid!);
}

function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => { let b = ''; res.on('data', (c) => { b += c; }); res.on('end', () => resolve(b)); }).on('error', reject);
  });
}

test('crictl runp: a ready pod with an IP from CNI and its hostname; two pods reach each other and the gateway', async () => {
  crictlPath();
  const a = await ok(['runp', await podConfig()]);
  const b = await ok(['runp', await podConfig()]);
  const ia = await inspectp(a);
  const ib = await inspectp(b);
  assert.equal(ia.status.state, 'SANDBOX_READY');
  const prefix = net.subnet.split('.').slice(0, 3).join('.');
  assert.ok(ia.status.network.ip.startsWith(`${prefix}.`), ia.status.network.ip);
  assert.ok(ib.status.network.ip.startsWith(`${prefix}.`));
  assert.notEqual(ia.status.network.ip, ib.status.network.ip);
  assert.ok(ping(ia.info.netnsPath, net.gateway), 'pod a pings the gateway');
  assert.ok(ping(ia.info.netnsPath, ib.status.network.ip), 'pod a pings pod b');
  assert.equal(inNetns(ia.info.netnsPath, ['--uts=' + ia.info.utsPath, 'hostname']).out.trim(), `pod-${n - 1}`);
  const pods = await ok(['pods']);
  assert.match(pods, new RegExp(`${a.slice(0, 13)}\\s+.*Ready\\s+p${n - 1}\\s+default\\s+0`));
  assert.equal((await ok(['pods', '-q'])).split('\n').length, 2);
  assert.deepEqual((await ok(['pods', '-q', '--name', `p${n}`])).split('\n'), [b]);

  // stop releases the network (lease, veth, netns) and keeps the pod, not ready; rm removes it
  await ok(['stopp', a]);
  assert.equal((await inspectp(a)).status.state, 'SANDBOX_NOTREADY');
  assert.equal(existsSync(ia.info.netnsPath), false);
  assert.ok(!(await leases(net)).includes(ia.status.network.ip), 'the lease of a stopped pod is free');
  assert.deepEqual(iptablesLines(a), []);
  await ok(['stopp', a]); // again: no error
  await ok(['rmp', a]);
  await ok(['rmp', '-f', b]);
  assert.equal(await ok(['pods', '-q']), '');
  assert.deepEqual(await leases(net), []);
});

test('a hostPort (portmap) and crictl port-forward reach a server in the pod', async () => {
  const hostPort = await freePort();
  const id = await ok(['runp', await podConfig({ port_mappings: [{ protocol: 0, container_port: 80, host_port: hostPort }] })]);
  const i = await inspectp(id);
  serveIn(i.info.netnsPath);
  await waitFor(async () => (await get(`http://${i.status.network.ip}:80/index.html`).catch(() => '')) === 'hello from the pod\n', 10_000, 'the pod\'s server');
  assert.equal(await get(`http://${net.gateway}:${hostPort}/index.html`), 'hello from the pod\n');
  // critest reaches a hostPort on the node's loopback
  assert.equal(await get(`http://127.0.0.1:${hostPort}/index.html`), 'hello from the pod\n');
  const local = await freePort();
  const pf = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'port-forward', id, `${local}:80`], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      pf.stdout.on('data', (c: Buffer) => { if (c.toString().includes('Forwarding from')) resolve(); });
      pf.once('exit', (code) => reject(new Error(`crictl port-forward exited ${code}`)));
    });
    assert.equal(await get(`http://127.0.0.1:${local}/index.html`), 'hello from the pod\n');
    // a server that closes after its answer: the local connection ends too (containerd closes
    // the pair a second after one direction ends; client-go then closes its side)
    const closer = spawn('nsenter', [`--net=${i.info.netnsPath}`, process.execPath, '-e',
      "require('net').createServer((c) => c.end('bye\\n')).listen(82, () => console.log('up'))"], { stdio: ['ignore', 'pipe', 'ignore'], detached: true });
    www.pids.push(closer.pid!);
    await new Promise((r) => closer.stdout!.once('data', r));
    const local82 = await freePort();
    const pf2 = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'port-forward', id, `${local82}:82`], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await new Promise<void>((resolve) => pf2.stdout.on('data', (c: Buffer) => { if (c.toString().includes('Forwarding from')) resolve(); }));
      const got = await new Promise<string>((resolve, reject) => {
        const s = netConnect(local82, '127.0.0.1');
        let b = '';
        s.on('data', (c: Buffer) => { b += c.toString(); });
        s.on('end', () => { s.destroy(); resolve(b); }); // the EOF arrives: the client never half-closed
        s.on('error', reject);
        setTimeout(() => { s.destroy(); reject(new Error(`no EOF after the pod closed (got ${JSON.stringify(b)})`)); }, 8000);
      });
      assert.equal(got, 'bye\n');
    } finally {
      pf2.kill('SIGKILL');
    }
  } finally {
    pf.kill('SIGKILL');
  }
  await ok(['rmp', '-f', id]);
  assert.deepEqual(iptablesLines(id), [], 'the hostPort rules are gone');
});

test('a host-network pod: crictl port-forward reaches the node\'s localhost (critest\'s "portforward in host network", containerd)', async () => {
  const server = http.createServer((_q, res) => res.end('hello from the node\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net2.AddressInfo).port;
  const id = await ok(['runp', await podConfig({ linux: { security_context: { namespace_options: { network: 2 } } } })]);
  const local = await freePort();
  const pf = spawn(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${d.criSock}`, 'port-forward', id, `${local}:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      pf.stdout.on('data', (c: Buffer) => { if (c.toString().includes('Forwarding from')) resolve(); });
      pf.once('exit', (code) => reject(new Error(`crictl port-forward exited ${code}`)));
    });
    assert.equal(await get(`http://127.0.0.1:${local}/`), 'hello from the node\n');
  } finally {
    pf.kill('SIGKILL');
    server.close();
  }
  await ok(['rmp', '-f', id]);
});

test('kill -9 of tsulad: the pod is still ready after the restart; stopp then releases everything', async () => {
  const id = await ok(['runp', await podConfig()]);
  const before = await inspectp(id);
  await d.stop('SIGKILL');
  await d.start();
  const after = await inspectp(id);
  assert.equal(after.status.state, 'SANDBOX_READY');
  assert.equal(after.status.network.ip, before.status.network.ip);
  assert.ok(ping(after.info.netnsPath, net.gateway));
  await ok(['stopp', id]);
  assert.equal(existsSync(before.info.netnsPath), false);
  assert.ok(!(await leases(net)).includes(before.status.network.ip));
  await ok(['rmp', id]);
  // a pod removed while the daemon was down leaves nothing either: run one, kill -9, delete
  // its record by hand as a crash mid-removal would, restart: recovery releases its network
  const lost = await ok(['runp', await podConfig()]);
  const li = await inspectp(lost);
  assert.ok(li.info.pid > 0 && existsSync(`/proc/${li.info.pid}`), 'the pod has a PID namespace holder');
  await d.stop('SIGKILL');
  await fs.rm(path.join(d.graph, 'pods', `${lost}.json`));
  await d.start();
  assert.equal(existsSync(li.info.netnsPath), false, 'the netns of a pod nobody owns is released');
  assert.ok(!(await leases(net)).includes(li.status.network.ip));
  // its holder (which kept that netns and its veth alive) and its dir (pinned UTS) go too
  await waitFor(async () => !existsSync(`/proc/${li.info.pid}`), 5_000, `the lost pod's holder ${li.info.pid} stopped`);
  assert.equal(existsSync(path.dirname(path.dirname(li.info.utsPath))), false, 'the lost pod\'s dir (its pinned namespaces) is removed');
});

test('bad input: unknown pods, a name taken, an unknown runtime handler, a failing CNI plugin (nothing leaks)', async () => {
  const missing = await cri(['inspectp', 'f'.repeat(64)]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /code = NotFound/);
  // stopping a pod that is not there succeeds (StopPodSandbox is idempotent); crictl's rmp
  // asks for the pod's status first, which is NOT_FOUND
  const stopp = await cri(['stopp', 'f'.repeat(64)]);
  assert.equal(stopp.code, 0, stopp.stderr);
  assert.match((await cri(['rmp', 'f'.repeat(64)])).stderr, /code = NotFound/);
  // the same metadata twice: the name is reserved
  const cfg = await podConfig();
  const id = await ok(['runp', cfg]);
  const again = await cri(['runp', cfg]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /code = AlreadyExists desc = pod sandbox name .* is reserved/);
  await ok(['rmp', '-f', id]);
  const handler = await cri(['runp', '--runtime', 'nosuch', await podConfig()]);
  assert.notEqual(handler.code, 0);
  assert.match(handler.stderr, /code = InvalidArgument desc = unknown runtime handler \\"nosuch\\"/);

  // a plugin that fails after the bridge ran: the pod fails cleanly, nothing is left
  const confDir = path.join(d.dir, 'net-bad.d');
  const binDir = path.join(d.dir, 'cni-bin');
  await fs.mkdir(confDir);
  await fs.mkdir(binDir);
  const list = JSON.parse(await fs.readFile(path.join(net.confDir, '10-test.conflist'), 'utf8')) as { plugins: unknown[] };
  list.plugins.push({ type: 'failer' });
  await fs.writeFile(path.join(confDir, '10-bad.conflist'), JSON.stringify(list));
  await fs.writeFile(path.join(binDir, 'failer'), '#!/bin/sh\ncase "$CNI_COMMAND" in ADD) echo \'{"code":7,"msg":"failer says no","details":"on purpose"}\'; exit 1;; esac\necho "{}"\n', { mode: 0o755 });
  const bad = await TestDaemon.create({ configJson: { 'cni-conf-dir': confDir, 'cni-bin-dir': `/usr/lib/cni:${binDir}` } });
  try {
    const r = await crictl(bad.criSock, ['runp', await podConfig()]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /failer says no/);
    assert.equal((await crictl(bad.criSock, ['pods', '-q'])).stdout.trim(), '');
    assert.deepEqual(await fs.readdir(path.join(bad.state, 'netns')).catch(() => []), []);
    assert.deepEqual(await leases(net), []);
    // the pod's address is the CNI result's (containerd's, iSulad's), whether or not the
    // plugin made eth0 or said in which namespace; a result with none for eth0 fails the run
    const mock = (name: string, result: string) => fs.writeFile(path.join(binDir, name),
      `#!/bin/sh\ncat >/dev/null\ncase "$CNI_COMMAND" in ADD) echo '${result}';; VERSION) echo '{"cniVersion":"0.4.0","supportedVersions":["0.4.0"]}';; esac\n`, { mode: 0o755 });
    await mock('mockip', '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.231.8.9/24","interface":0}]}');
    await mock('noip', '{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[]}');
    await fs.rm(path.join(confDir, '10-bad.conflist'));
    await fs.writeFile(path.join(confDir, '10-mock.conflist'), JSON.stringify({ cniVersion: '0.4.0', name: 'mock', plugins: [{ type: 'mockip' }] }));
    const id = (await crictl(bad.criSock, ['runp', await podConfig()])).stdout.trim();
    assert.ok(id, 'the pod runs');
    assert.equal((await crictl(bad.criSock, ['inspectp', '-o', 'go-template', '--template', '{{.status.network.ip}}', id])).stdout.trim(), '10.231.8.9');
    assert.equal((await crictl(bad.criSock, ['rmp', '-f', id])).code, 0);
    await fs.writeFile(path.join(confDir, '10-mock.conflist'), JSON.stringify({ cniVersion: '0.4.0', name: 'mock', plugins: [{ type: 'noip' }] }));
    const none = await crictl(bad.criSock, ['runp', await podConfig()]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /failed to find network info for sandbox \\"\w+\\": the CNI result gives eth0 no address/);
    assert.equal((await crictl(bad.criSock, ['pods', '-q'])).stdout.trim(), '');
  } finally {
    await bad.destroy();
  }
});

test('killed at pod:after-holder (its holder runs, no record names it): the restarted tsulad stops the holder; the pod is gone', async () => {
  const podsDir = path.join(d.state, 'pods');
  await d.stop('SIGTERM');
  d.env.TSULA_FAULT = 'pod:after-holder';
  await d.start();
  assert.notEqual((await cri(['runp', await podConfig()])).code, 0);
  await daemonDied(d);
  assert.match(await d.log(), /fault injection: TSULA_FAULT=pod:after-holder/);
  assert.ok((await findPidHolders(podsDir)).length > 0, 'the holder runs');
  delete d.env.TSULA_FAULT;
  await d.start();
  assert.equal(await ok(['pods', '-q']), '');
  await waitFor(async () => (await findPidHolders(podsDir)).length === 0, 5_000, 'the holder stopped');
  assert.deepEqual(await fs.readdir(podsDir), [], 'the pod\'s dir (its pinned namespaces) is gone');
  assert.deepEqual(await fs.readdir(path.join(d.state, 'netns')).catch(() => []), [], 'its netns is released');
});

test('a pod whose PID holder dies on its own is NOT_READY within seconds (kubelet then makes a new one); stopp and rmp still release it', async () => {
  const id = await ok(['runp', await podConfig()]);
  const p = await inspectp(id);
  assert.equal(p.status.state, 'SANDBOX_READY');
  process.kill(p.info.pid, 'SIGKILL');
  await waitFor(async () => (await inspectp(id)).status.state === 'SANDBOX_NOTREADY', 10_000, 'the pod not ready');
  assert.match(await d.log(), new RegExp(`pod sandbox ${id} is not ready: its PID namespace holder ${p.info.pid} is gone`));
  await ok(['stopp', id]);
  await ok(['rmp', id]);
  assert.equal(existsSync(p.info.netnsPath), false);
  assert.ok(!(await leases(net)).includes(p.status.network.ip));
});

test('StopPodSandbox of an ambiguous id prefix is an error that stops nothing (containerd\'s truncindex); a missing id is no error', async () => {
  const { criCall } = await import('../helpers/cri-grpc.js');
  const made: string[] = [];
  try {
    // pods until two share a first hex digit (17 at most)
    let shared: string | undefined;
    while (!shared) {
      made.push(await ok(['runp', await podConfig({ linux: { security_context: { namespace_options: { network: 2 } } } })]));
      shared = made.map((id) => id[0]!).find((c, i, all) => all.indexOf(c) !== i);
    }
    await assert.rejects(criCall(d.criSock, 'stopPodSandbox', { podSandboxId: shared }), /ambiguous/);
    for (const id of made) assert.equal((await inspectp(id)).status.state, 'SANDBOX_READY');
    await criCall(d.criSock, 'stopPodSandbox', { podSandboxId: 'f'.repeat(64) });
  } finally {
    for (const id of made) await cri(['rmp', '-f', id]);
  }
});
