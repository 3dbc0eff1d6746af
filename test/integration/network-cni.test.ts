// Pod networks on Debian's real CNI plugins (bridge + host-local + portmap), on a private
// bridge and subnet: two pods get addresses, reach each other and the gateway, a hostPort
// reaches a server in a pod, and DEL takes away the veth, the lease and the iptables
// chains, also when it runs from the cache in a "restarted daemon" (a new client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import * as path from 'node:path';
import { loadNetworkConfig, type PodNetworkInfo } from '../../src/network/index.js';
import {
  createTestNet, footprint, leftovers, bridgePorts, leases, ping, inNetns, iptablesLines, type TestNet, type Footprint,
} from '../helpers/network.js';

let tn: TestNet;
const servers: ChildProcess[] = [];
const podId = () => `tt${randomBytes(8).toString('hex')}`;
const ids = { a: podId(), b: podId() };
let a: PodNetworkInfo;
let b: PodNetworkInfo;
let hostPort: number;
let fpA: Footprint;

before(async () => {
  tn = await createTestNet('cni');
  hostPort = await freePort();
});

after(async () => {
  for (const s of servers) { try { process.kill(-s.pid!, 'SIGKILL'); } catch { /* gone */ } }
  await tn?.destroy();
});

test('the real plugins speak the config version; the list validates', async () => {
  const { cni } = tn.open();
  const list = await loadNetworkConfig(tn.confDir);
  assert.deepEqual(await cni.validate(list), ['portMappings']);
  const v = await cni.version('bridge');
  assert.ok(v.supportedVersions.includes('1.0.0'), v.supportedVersions.join());
});

test('two pods: eth0 with an address from the subnet, the result typed, MAC and MTU from the link', async () => {
  const { pods } = tn.open();
  a = await pods.setup({ id: ids.a, namespace: 'default', name: 'pod-a', uid: 'uid-a', portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] });
  b = await pods.setup({ id: ids.b, namespace: 'default', name: 'pod-b', uid: 'uid-b' });
  const prefix = tn.subnet.replace(/\.0\/24$/, '.');
  for (const p of [a, b]) {
    assert.ok(p.ip?.startsWith(prefix), `${p.ip} in ${tn.subnet}`);
    assert.deepEqual(p.ips, [p.ip]);
    assert.equal(p.netnsPath, path.join(tn.netnsDir, p.id));
    assert.equal(p.network, tn.name);
    const eth0 = p.result.interfaces.find((i) => i.name === 'eth0');
    assert.equal(eth0?.sandbox, p.netnsPath);
    const link = (await pods.status(p.id))?.link;
    assert.equal(link?.mac, eth0?.mac);
    assert.equal(link?.mtu, 1500);
    assert.ok(link?.addresses.some((x) => x.address === `${p.ip}/24`));
    assert.ok(link?.routes.some((r) => r.dst === 'default' && r.gateway === tn.gateway));
    assert.equal(p.result.ips[0]!.gateway, tn.gateway);
  }
  assert.notEqual(a.ip, b.ip);
  assert.equal(bridgePorts(tn.bridge).length, 2);
  assert.deepEqual((await leases(tn)).sort(), [a.ip, b.ip].sort());
  fpA = footprint(tn, ids.a, a.result);
  assert.ok(fpA.chains.length >= 2, `masquerade and hostport chains for pod a: ${fpA.chains.join()}`);
});

test('pods reach each other and the gateway; CHECK passes; status reads the cache', async () => {
  assert.ok(ping(a.netnsPath, b.ip!), 'a → b');
  assert.ok(ping(b.netnsPath, a.ip!), 'b → a');
  assert.ok(ping(a.netnsPath, tn.gateway), 'a → gateway');
  assert.ok(ping(b.netnsPath, tn.gateway), 'b → gateway');
  const { cni, pods } = tn.open();
  await cni.check(await loadNetworkConfig(tn.confDir), { containerId: ids.a, netns: a.netnsPath, ifName: 'eth0' });
  const st = await pods.status(ids.a);
  assert.equal(st?.ip, a.ip);
  assert.equal(st?.link?.mac, a.result.interfaces.find((i) => i.name === 'eth0')?.mac);
  assert.equal(await pods.status('tt-unknown'), null);
});

test('a hostPort reaches a server in the pod from the host (127.0.0.1 and the gateway address)', async () => {
  const www = path.join(tn.tmp, 'www');
  await fs.mkdir(www);
  await fs.writeFile(path.join(www, 'index.html'), `hello from ${ids.a}\n`);
  const httpd = spawn('nsenter', [`--net=${a.netnsPath}`, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { detached: true, stdio: 'ignore' });
  servers.push(httpd);
  // httpd listens a moment after nsenter started it: until then the DNAT meets a refusal
  for (let i = 0; i < 100 && !/:80 /.test(inNetns(a.netnsPath, ['busybox', 'netstat', '-ltn']).out); i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const host of ['127.0.0.1', tn.gateway]) {
    assert.equal(await httpGet(host, hostPort), `hello from ${ids.a}\n`, `via ${host}:${hostPort}`);
  }
  process.kill(-httpd.pid!, 'SIGKILL');
});

test('teardown DELs: veth, lease, iptables chains, cache entry and netns are gone; again is a no-op', async () => {
  const { pods, cni } = tn.open();
  await pods.teardown(ids.a);
  assert.deepEqual(leftovers(fpA), []);
  assert.equal(existsSync(a.netnsPath), false);
  assert.deepEqual(await cni.attachments(ids.a), []);
  assert.deepEqual(bridgePorts(tn.bridge).length, 1);
  await pods.teardown(ids.a);
  // b is untouched
  assert.ok(ping(b.netnsPath, tn.gateway));
});

test('after a "crash" a new client releases what the old one made, from the cache alone', async () => {
  const fpB = footprint(tn, ids.b, b.result);
  assert.ok(iptablesLines(ids.b).length > 0);
  // a restarted daemon: new objects on the same dirs, told that no pod is alive any more
  const { pods, cni } = tn.open();
  assert.equal((await pods.status(ids.b))?.ip, b.ip);
  const r = await pods.recover([]);
  assert.deepEqual(r, { released: [ids.b], failed: [] });
  assert.deepEqual(leftovers(fpB), []);
  assert.equal(existsSync(b.netnsPath), false);
  assert.deepEqual(await cni.attachments(), []);
  assert.deepEqual(bridgePorts(tn.bridge), []);
  assert.deepEqual(await leases(tn), []);
  assert.deepEqual(await pods.recover([]), { released: [], failed: [] });
});

test('recover keeps live pods, and after a "reboot" releases the leases a dead pod left on disk', async () => {
  const { pods, netns } = tn.open();
  const live = await pods.setup({ id: podId(), namespace: 'default', name: 'live', uid: 'u-live' });
  const dead = await pods.setup({ id: podId(), namespace: 'default', name: 'dead', uid: 'u-dead' });
  const fpDead = footprint(tn, dead.id, dead.result);
  // a reboot takes the kernel's side (netns, veth, iptables) and leaves the disk's (leases,
  // cache). DEL then runs without a netns. (bridge 1.1.1 finds what to un-masquerade through
  // the pod's eth0, so a netns lost WITHOUT a reboot would leak its chain: teardown never
  // unpins a netns before its DEL went through.)
  await netns.remove(dead.id);
  dropIptables(dead.id);
  const r = await tn.open().pods.recover([live.id]);
  assert.deepEqual(r, { released: [dead.id], failed: [] });
  assert.deepEqual(leftovers(fpDead), []);
  assert.deepEqual(await leases(tn), [live.ip]);
  assert.ok(ping(live.netnsPath, tn.gateway));
  await pods.teardown(live.id);
  assert.deepEqual(await leases(tn), []);
});

/** What a reboot does to a pod's iptables rules (only this test's pod: its id is in them). */
function dropIptables(id: string): void {
  const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }).split('\n');
  const chains = new Set<string>();
  for (const l of nat.filter((x) => x.includes(id) && x.startsWith('-A '))) {
    const argv = l.match(/"[^"\\]*(?:\\.[^"\\]*)*"|\S+/g)!.map((a) => (a.startsWith('"') ? JSON.parse(a) as string : a));
    execFileSync('iptables', ['-w', '-t', 'nat', '-D', ...argv.slice(1)]);
    const j = argv.indexOf('-j');
    if (j > 0 && argv[j + 1]!.startsWith('CNI-') && !argv[j + 1]!.startsWith('CNI-HOSTPORT-')) chains.add(argv[j + 1]!);
  }
  for (const c of chains) { execFileSync('iptables', ['-w', '-t', 'nat', '-F', c]); execFileSync('iptables', ['-w', '-t', 'nat', '-X', c]); }
}

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    let data = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`GET ${host}:${port} timed out`)); });
    s.on('connect', () => s.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    s.on('data', (c) => { data += c.toString(); });
    s.on('error', reject);
    s.on('end', () => resolve(data.slice(data.indexOf('\r\n\r\n') + 4)));
  });
}

/** A TCP port nothing listens on now, from the ephemeral range's neighbourhood. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const port = 20000 + Math.floor(Math.random() * 10000);
    const srv = net.createServer();
    srv.once('error', () => freePort().then(resolve, reject));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(port)));
  });
}
