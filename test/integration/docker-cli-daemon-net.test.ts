// docker's daemon-wide networking keys of daemon.json through the stock docker CLI: dns,
// dns-search and dns-opts as the defaults of containers that give none (the default bridge's
// resolv.conf; on a user network the servers its DNS server forwards to), mtu and fixed-cidr
// of the default bridge (a user network keeps its own MTU, as with dockerd), ip as the host
// address of -p bindings that give none, host-gateway-ips for --add-host, and what tsulad
// does with userland-proxy, iptables and ip-forward. The bridge and subnets are a private
// test network's (helpers/network.ts); the daemon's "dns" is a DNS server of this test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, freeSubnet, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-daemon-net', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

/** The daemon's "dns": a server of this test on a loopback address of its own, answering every A query with ANSWER. */
const UPSTREAM = '127.77.0.53';
const ANSWER = '192.0.2.77';

let tn: TestNet;
let d: TestDaemon;
let upstream: dgram.Socket;
let fixed = '';

/** A DNS reply to `q`: its question, one A record with ANSWER (TTL 60). */
function reply(q: Buffer): Buffer {
  let i = 12;
  while (q[i]) i += q[i]! + 1;
  const question = q.subarray(12, i + 5);
  const head = Buffer.from([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const answer = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...ANSWER.split('.').map(Number)]);
  return Buffer.concat([head, question, answer]);
}

before(async () => {
  dockerCliPath();
  upstream = dgram.createSocket('udp4');
  upstream.on('message', (m, r) => upstream.send(reply(m), r.port, r.address));
  await new Promise<void>((resolve, reject) => { upstream.once('error', reject); upstream.bind(53, UPSTREAM, resolve); });
  tn = await createTestNet('dcfg');
  fixed = `${tn.subnet.split('.').slice(0, 3).join('.')}.128/25`;
  d = await TestDaemon.create({
    configJson: {
      ...dockerNetConfig(tn, 2), 'fixed-cidr': fixed, mtu: 1400, ip: '127.0.0.1',
      dns: [UPSTREAM], 'dns-search': ['corp.test'], 'dns-opts': ['ndots:3', 'timeout:2'],
      'host-gateway-ips': ['192.0.2.254', 'fd00::254'], 'userland-proxy': true, iptables: true, 'ip-forward': true,
    },
  });
  await d.loadBusybox();
});

after(async () => {
  if (d?.proc) {
    const ids = (await docker(d, ['ps', '-aq'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await docker(d, ['rm', '-f', ...ids]).catch(() => undefined);
    await docker(d, ['network', 'prune', '-f']).catch(() => undefined);
  }
  const nets = await fs.readdir(path.join(d?.graph ?? '/nonexistent', 'networks', 'records')).catch(() => [] as string[]);
  await d?.destroy();
  for (const f of nets) spawnSync('ip', ['link', 'del', `br-${f.slice(0, 12)}`], { stdio: 'ignore' });
  await tn?.destroy();
  upstream?.close();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);
const inspect = async (id: string, f: string) => (await ok(['inspect', '-f', f, id])).trim();

/** A command's output in a container run to its end. */
async function runOut(args: string[]): Promise<string> {
  const id = (await ok(['run', '-d', ...args])).trim();
  const code = Number((await ok(['wait', id])).trim());
  const r = await docker(d, ['logs', id]);
  await ok(['rm', id]);
  assert.equal(code, 0, r.stdout + r.stderr);
  return r.stdout + r.stderr;
}

test('dns, dns-search, dns-opts: the default bridge\'s resolv.conf where the container gives none; its own flags win one by one; inspect shows only its own', async () => {
  assert.equal(await runOut(['busybox', 'cat', '/etc/resolv.conf']), `nameserver ${UPSTREAM}\nsearch corp.test\noptions ndots:3 timeout:2\n`);
  assert.equal(await runOut(['--dns', '192.0.2.53', 'busybox', 'cat', '/etc/resolv.conf']), 'nameserver 192.0.2.53\nsearch corp.test\noptions ndots:3 timeout:2\n');
  assert.equal(await runOut(['--dns-search', 'own.test', '--dns-option', 'ndots:1', 'busybox', 'cat', '/etc/resolv.conf']), `nameserver ${UPSTREAM}\nsearch own.test\noptions ndots:1\n`);
  // --network host: the daemon's too (dockerd's sandbox options apply to every mode)
  assert.match(await runOut(['--network', 'host', 'busybox', 'cat', '/etc/resolv.conf']), new RegExp(`^nameserver ${UPSTREAM.replace(/\./g, '\\.')}\nsearch corp\\.test\n`));
  const id = (await ok(['create', 'busybox'])).trim();
  assert.equal(await inspect(id, '{{json .HostConfig.Dns}} {{json .HostConfig.DnsSearch}} {{json .HostConfig.DnsOptions}}'), '[] [] []');
  await ok(['rm', id]);
});

test('dns on a user network: resolv.conf names its DNS server with the daemon\'s search and options; other names are asked of the daemon\'s servers', async () => {
  await ok(['network', 'create', 'dnsnet']);
  const out = await runOut(['--network', 'dnsnet', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf; nslookup -type=a probe.example.org.']);
  assert.match(out, /^nameserver 127\.0\.0\.11\nsearch corp\.test\noptions ndots:3 timeout:2\n/);
  assert.match(out, new RegExp(`Address: ${ANSWER.replace(/\./g, '\\.')}`), out);
  // the container's --dns wins there too: a server that does not answer, so no ANSWER
  const own = await docker(d, ['run', '--rm', '--network', 'dnsnet', '--dns', '192.0.2.1', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf; nslookup -type=a probe.example.org. || true']);
  assert.ok(!own.stdout.includes(ANSWER), own.stdout);
  await ok(['network', 'rm', 'dnsnet']);
});

test('an --internal network first and a network with a way out: names are forwarded (libnetwork\'s hasExternalAccess); on --internal networks only, not', async () => {
  await ok(['network', 'create', '--internal', 'dnsint']);
  await ok(['network', 'create', 'dnsext']);
  const both = (await ok(['create', '--network', 'dnsint', 'busybox', 'nslookup', '-type=a', 'probe.example.org.'])).trim();
  await ok(['network', 'connect', 'dnsext', both]);
  await ok(['start', both]);
  assert.equal((await ok(['wait', both])).trim(), '0');
  assert.match((await docker(d, ['logs', both])).stdout, new RegExp(`Address: ${ANSWER.replace(/\./g, '\\.')}`));
  const only = await docker(d, ['run', '--rm', '--network', 'dnsint', 'busybox', 'nslookup', '-type=a', 'probe.example.org.']);
  assert.notEqual(only.code, 0, 'no way out for names');
  assert.ok(!only.stdout.includes(ANSWER), only.stdout);
  await ok(['rm', both]);
  await ok(['network', 'rm', 'dnsint', 'dnsext']);
});

test('--dns 127.0.0.11 alone on a user network: a name from outside gets SERVFAIL at once, not the client\'s timeout (moby\'s TestIntDNSAsExtDNS)', async () => {
  await ok(['network', 'create', 'dnsself']);
  const t0 = Date.now();
  const r = await docker(d, ['run', '--rm', '--network', 'dnsself', '--dns', '127.0.0.11', 'busybox', 'nslookup', '-type=a', 'probe.example.org.']);
  assert.notEqual(r.code, 0);
  assert.match(r.stdout + r.stderr, /SERVFAIL/);
  assert.ok(Date.now() - t0 < 4000, `answered in ${Date.now() - t0} ms`);
  await ok(['network', 'rm', 'dnsself']);
});

test('mtu: the default bridge\'s (its containers\' eth0, network inspect\'s driver option); a user network keeps its own, as with dockerd', async () => {
  const id = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  assert.equal(await ok(['exec', id, 'cat', '/sys/class/net/eth0/mtu']), '1400\n');
  // the host bridge too, while a container is on it (the kernel's bridge takes its ports' MTU)
  const link = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', tn.bridge], { encoding: 'utf8' })) as Array<{ mtu: number }>;
  assert.equal(link[0]!.mtu, 1400);
  await ok(['rm', '-f', id]);
  const opts = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .Options}}', 'bridge']));
  assert.equal(opts['com.docker.network.driver.mtu'], '1400');
  await ok(['network', 'create', 'mtunet']);
  assert.equal(await runOut(['--network', 'mtunet', 'busybox', 'cat', '/sys/class/net/eth0/mtu']), '1500\n');
  await ok(['network', 'create', '-o', 'com.docker.network.driver.mtu=1300', 'mtunet2']);
  assert.equal(await runOut(['--network', 'mtunet2', 'busybox', 'cat', '/sys/class/net/eth0/mtu']), '1300\n');
  await ok(['network', 'rm', 'mtunet', 'mtunet2']);
});

test('fixed-cidr: the default bridge\'s containers get addresses from it (network inspect\'s IPRange), inside bip\'s subnet', async () => {
  const ipam = JSON.parse(await ok(['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge']));
  assert.deepEqual(ipam, [{ Subnet: tn.subnet, Gateway: tn.gateway, IPRange: fixed }]);
  const ids: string[] = [];
  for (let i = 0; i < 2; i++) ids.push((await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim());
  for (const id of ids) {
    const ip = await inspect(id, '{{.NetworkSettings.IPAddress}}');
    assert.ok(Number(ip.split('.')[3]) >= 128, `${ip} is in ${fixed}`);
    assert.equal(await inspect(id, '{{.NetworkSettings.IPPrefixLen}}'), '24');
  }
  await ok(['rm', '-f', ...ids]);
});

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.end('GET / HTTP/1.0\r\nHost: x\r\n\r\n'));
    let data = '';
    s.setTimeout(3000, () => { s.destroy(); reject(new Error(`GET ${host}:${port}: timed out`)); });
    s.on('data', (b) => { data += b; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

/** A global IPv4 address of this host outside the test's bridges. */
function hostIp(): string | undefined {
  const links = JSON.parse(execFileSync('ip', ['-4', '-j', 'addr'], { encoding: 'utf8' })) as Array<{ ifname: string; addr_info: Array<{ local: string; scope: string }> }>;
  for (const l of links) for (const a of l.addr_info) if (a.scope === 'global' && !l.ifname.startsWith('tst') && !l.ifname.startsWith('br-')) return a.local;
  return undefined;
}

test('ip: -p without an address binds the default bridge\'s ports on it (127.0.0.1 here); a user network\'s stay on 0.0.0.0', async () => {
  const web = ['busybox', 'sh', '-c', 'echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp'];
  const id = (await ok(['run', '-d', '-p', '80', ...web])).trim();
  const ports = JSON.parse(await inspect(id, '{{json .NetworkSettings.Ports}}'));
  assert.equal(ports['80/tcp'][0].HostIp, '127.0.0.1', JSON.stringify(ports));
  const port = Number(ports['80/tcp'][0].HostPort);
  assert.match(await waitFor(() => httpGet('127.0.0.1', port).catch(() => ''), 15_000, 'httpd at 127.0.0.1'), /hello/);
  const other = hostIp();
  if (other) await assert.rejects(httpGet(other, port), `${other}:${port} is not published`);
  // an address given stays
  const id2 = (await ok(['run', '-d', '-p', `0.0.0.0::80`, ...web])).trim();
  assert.equal(await inspect(id2, '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostIp}}'), '0.0.0.0');
  await ok(['network', 'create', 'ipnet']);
  const id3 = (await ok(['run', '-d', '--network', 'ipnet', '-p', '80', ...web])).trim();
  assert.equal(await inspect(id3, '{{(index (index .NetworkSettings.Ports "80/tcp") 0).HostIp}}'), '0.0.0.0');
  await ok(['rm', '-f', id, id2, id3]);
  await ok(['network', 'rm', 'ipnet']);
});

test('host-gateway-ips: --add-host NAME:host-gateway gives a line for each', async () => {
  const out = await runOut(['--add-host', 'gw:host-gateway', 'busybox', 'grep', '-w', 'gw', '/etc/hosts']);
  assert.equal(out, '192.0.2.254\tgw\nfd00::254\tgw\n');
});

test('userland-proxy: true is taken with a warning in the daemon log', async () => {
  assert.match(await d.log(), /level=warn msg="daemon.json asks for the userland proxy \(userland-proxy true\): tsulad has none; it publishes ports without a proxy, through its NAT rules/);
  // docker info comes out as before
  const info = await docker(d, ['info', '--format', '{{json .}}']);
  assert.equal(info.code, 0, info.stderr);
  // the configured default-address-pools, as dockerd's fillDefaultAddressPools reports them
  const pools = (JSON.parse(await fs.readFile(path.join(d.dir, 'daemon.json'), 'utf8')) as Record<string, unknown>)['default-address-pools'] as Array<{ base: string; size: number }>;
  assert.deepEqual((JSON.parse(info.stdout) as { DefaultAddressPools?: unknown }).DefaultAddressPools, pools.map((p) => ({ Base: p.base, Size: p.size })));
});

test('iptables and ip-forward false, and an unknown key, stop the daemon with the reason', async () => {
  for (const [cfg, re] of [
    [{ iptables: false }, /key "iptables": false is not supported: tsula's networks need their iptables rules/],
    [{ 'ip-forward': false }, /key "ip-forward": false is not supported/],
    [{ 'userland-proxy-path': '/usr/bin/docker-proxy' }, /unknown key "userland-proxy-path"/],
  ] as const) {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
    try {
      await assert.rejects(TestDaemon.create({ dir, configJson: cfg }), re);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
});

test('a new bip at a restart: the bridge trades its old gateway address for the new one (as dockerd\'s setupBridgeIPv4) and containers start on it; back again too', async () => {
  const cfgFile = path.join(d.dir, 'daemon.json');
  const orig = await fs.readFile(cfgFile, 'utf8');
  const [sub2, gw2] = freeSubnet([tn.subnet]);
  const addrs = () => execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', tn.bridge], { encoding: 'utf8' });
  const bridged = async () => (await runOut(['busybox', 'sh', '-c', 'ip -4 -o addr show eth0'])).match(/inet (\S+)/)?.[1] ?? '';
  // a container that ran before the change: its old address is not asked for again
  const old = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  await ok(['stop', '-t', '0', old]);
  try {
    await d.stop();
    const cfg = JSON.parse(orig) as Record<string, unknown>;
    delete cfg['fixed-cidr'];
    await fs.writeFile(cfgFile, JSON.stringify({ ...cfg, bip: `${gw2}/24` }));
    await d.start();
    const ip = await bridged();
    assert.ok(ip.startsWith(sub2.replace(/0\/24$/, '')), `${ip} in ${sub2}`);
    assert.doesNotMatch(addrs(), new RegExp(`inet ${tn.gateway.replace(/\./g, '\\.')}/`), 'the old address is gone');
    await ok(['start', old]);
    assert.ok((await inspect(old, '{{.NetworkSettings.IPAddress}}')).startsWith(sub2.replace(/0\/24$/, '')));
    await ok(['rm', '-f', old]);
  } finally {
    await d.stop();
    await fs.writeFile(cfgFile, orig);
    await d.start();
  }
  assert.ok((await bridged()).startsWith(tn.subnet.replace(/0\/24$/, '')));
  assert.doesNotMatch(addrs(), new RegExp(`inet ${gw2.replace(/\./g, '\\.')}/`));
});
