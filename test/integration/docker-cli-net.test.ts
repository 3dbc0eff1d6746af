// The stock docker CLI's networking against tsulad: the default bridge network and -p/-P on
// CNI (portmap), docker port/ps/inspect, user networks with their own subnet and names that
// resolve, connect/disconnect, host/none/container: modes, DNS and hosts options, dockerd's
// refusals; and nothing left on the host (netns, veths, leases, iptables rules) after rm.
// The daemon's bridge and subnets are a private test network's (helpers/network.ts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { destroyNetworkDaemon, docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { deriveBusybox } from '../helpers/docker-images.js';
import { bridgePorts, createTestNet, dockerNetConfig, freeSubnet, iptablesLines, type TestNet, freePort } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-net', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

let tn: TestNet;
let d: TestDaemon;
let pools: string[] = [];
const ids: string[] = []; // every container made here, for the leak check

before(async () => {
  dockerCliPath();
  tn = await createTestNet('dnet');
  const cfg = dockerNetConfig(tn, 6);
  pools = (cfg['default-address-pools'] as Array<{ base: string }>).map((p) => p.base);
  d = await TestDaemon.create({ configJson: cfg });
  await d.loadBusybox();
  const tar = path.join(d.dir, 'web.tar');
  await deriveBusybox({ tag: 'web:1', config: { ExposedPorts: { '80/tcp': {} } }, files: { 'www/index.html': 'hello from tsula\n' } }, tar);
  await ok(['load', '-i', tar]);
});

after(() => destroyNetworkDaemon(d, ids, tn));

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

async function runD(args: string[]): Promise<string> {
  const id = (await ok(['run', '-d', ...args])).trim();
  ids.push(id);
  return id;
}

/** A command's output through run -d, wait and logs (what the attached run shows). */
async function runOut(args: string[]): Promise<{ code: number; out: string }> {
  const id = await runD(args);
  const code = Number((await ok(['wait', id])).trim());
  const r = await docker(d, ['logs', id]);
  return { code, out: r.stdout + r.stderr };
}

const inspect = async (id: string, f: string) => (await ok(['inspect', '-f', f, id])).trim();

function hostIp(): string {
  const links = JSON.parse(execFileSync('ip', ['-4', '-j', 'addr'], { encoding: 'utf8' })) as Array<{ ifname: string; addr_info: Array<{ local: string; scope: string }> }>;
  for (const l of links) for (const a of l.addr_info) if (a.scope === 'global' && !l.ifname.startsWith('tst') && !l.ifname.startsWith('br-')) return a.local;
  return '127.0.0.1';
}

function httpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port }, () => s.end(`GET / HTTP/1.0\r\nHost: x\r\n\r\n`));
    let data = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`GET ${host}:${port}: timed out`)); });
    s.on('data', (b) => { data += b; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}


test('network ls and inspect: the pre-defined networks; bridge is the test bridge and subnet', async () => {
  const ls = await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}} {{.Scope}}']);
  assert.deepEqual(ls.trim().split('\n').sort(), ['bridge bridge local', 'host host local', 'none null local']);
  const b = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0];
  assert.equal(b.IPAM.Config[0].Subnet, tn.subnet);
  assert.equal(b.IPAM.Config[0].Gateway, tn.gateway);
  assert.equal(b.Options['com.docker.network.bridge.name'], tn.bridge);
  const r = await docker(d, ['network', 'rm', 'bridge']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bridge is a pre-defined network and cannot be removed/);
  assert.equal((await d.api('DELETE', '/networks/host')).status, 403);
});

test('-p goes on the gateway network, not an --internal one listed first; a container only on an internal network publishes nothing', async () => {
  await ok(['network', 'create', '--internal', 'pin']);
  await ok(['network', 'create', 'pout']);
  try {
    const port = await freePort();
    // tsula's CLI sends two --network flags at API 1.44, as docker 28 does
    const id = (await d.ok(['run', '-d', '--network', 'pin', '--network', 'pout', '-p', `${port}:80`, 'web:1', 'httpd', '-f', '-p', '80', '-h', '/www'])).trim();
    ids.push(id);
    const body = await waitFor(() => httpGet(hostIp(), port).catch(() => ''), 15_000, 'httpd through the gateway network');
    assert.match(body, /hello from tsula/);
    const outIp = await inspect(id, '{{ .NetworkSettings.Networks.pout.IPAddress }}');
    assert.match(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' }), new RegExp(`--dport ${port} .*--to-destination ${outIp.replace(/\./g, '\\.')}:80`));
    // dockerd's getGatewayEndpoint finds none: nothing published (moby#36174)
    const only = await runD(['--network', 'pin', '-p', `${await freePort()}:80`, 'web:1', 'httpd', '-f', '-p', '80', '-h', '/www']);
    assert.equal(await ok(['port', only]), '');
    await ok(['rm', '-f', id, only]);
  } finally {
    await docker(d, ['network', 'rm', 'pin', 'pout']).catch(() => undefined);
  }
});

test('-p: a published port reaches busybox httpd from the host; docker port, ps and inspect show it', async () => {
  const port = await freePort();
  const id = await runD(['--name', 'web1', '-p', `${port}:80`, 'web:1', 'httpd', '-f', '-p', '80', '-h', '/www']);
  const body = await waitFor(() => httpGet('127.0.0.1', port).catch(() => ''), 15_000, 'httpd through the published port');
  assert.match(body, /hello from tsula/);
  assert.match(await httpGet(hostIp(), port), /hello from tsula/);
  assert.equal((await ok(['port', 'web1'])).trim(), `80/tcp -> 0.0.0.0:${port}`);
  assert.equal((await ok(['port', 'web1', '80'])).trim(), `0.0.0.0:${port}`);
  assert.equal((await ok(['ps', '--filter', 'name=web1', '--format', '{{.Ports}}'])).trim(), `0.0.0.0:${port}->80/tcp`);
  const ns = JSON.parse(await inspect(id, '{{json .NetworkSettings}}'));
  assert.deepEqual(ns.Ports, { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
  assert.equal(ns.Gateway, tn.gateway);
  assert.match(ns.IPAddress, new RegExp(`^${tn.gateway.replace(/\.1$/, '').replace(/\./g, '\\.')}\\.\\d+$`));
  assert.equal(ns.IPPrefixLen, 24);
  assert.match(ns.MacAddress, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  assert.equal(ns.Networks.bridge.IPAddress, ns.IPAddress);
  assert.equal(ns.Networks.bridge.NetworkID, JSON.parse(await ok(['network', 'inspect', 'bridge']))[0].Id);
  assert.match(ns.SandboxKey, /networks\/netns\//);
  assert.deepEqual(JSON.parse(await inspect(id, '{{json .HostConfig.PortBindings}}')), { '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
  const hosts = (await ok(['exec', id, 'cat', '/etc/hosts'])).split('\n');
  assert.ok(hosts.includes(`${ns.IPAddress}\t${id.slice(0, 12)}`), hosts.join('\n'));
  // bridge's Containers map names it
  const b = JSON.parse(await ok(['network', 'inspect', 'bridge']))[0];
  assert.equal(b.Containers[id].Name, 'web1');
  // the same port again: docker's "port is already allocated"
  const again = await docker(d, ['run', '-d', '--name', 'web2', '-p', `${port}:80`, 'busybox', 'sleep', '5']);
  assert.equal(again.code, 125);
  assert.match(again.stderr, new RegExp(`Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated`));
  ids.push('web2');
});

test('ps: no PORTS for a created or stopped container (dockerd empties them at stop); publish/expose filters read a running container\'s ports', async () => {
  const id = (await ok(['create', '--name', 'pstop', '-p', '80', '--expose', '90', 'busybox', 'sleep', '100'])).trim();
  ids.push(id);
  const ports = async () => (await ok(['ps', '-a', '--filter', 'name=pstop', '--format', '{{.Ports}}'])).trim();
  assert.equal(await ports(), '');
  await ok(['start', 'pstop']);
  const up = await ports();
  assert.match(up, /0\.0\.0\.0:\d+->80\/tcp/);
  assert.match(up, /(^|, )90\/tcp/);
  await ok(['stop', '-t', '0', 'pstop']);
  assert.equal(await ports(), '');
  assert.deepEqual(JSON.parse(await inspect(id, '{{json .NetworkSettings.Ports}}')), {});
  // dockerd 20.10 (moby#40442, TestPsListContainersFilterPorts): publish names a running
  // container's host port, expose its container port; a stopped container has none
  const names = async (f: string) => (await ok(['ps', '-a', '--filter', f, '--format', '{{.Names}}'])).trim().split('\n');
  assert.ok(!(await names('expose=90/tcp')).includes('pstop'), 'stopped: no ports');
  const fixed = (await ok(['run', '-d', '--name', 'pfixed', '-p', '1090:90', '--expose', '95', 'busybox', 'sleep', '300'])).trim();
  ids.push(fixed);
  assert.deepEqual(await names('publish=1090'), ['pfixed']);
  assert.ok(!(await names('publish=90')).includes('pfixed'), 'not by its container port');
  assert.deepEqual(await names('expose=90'), ['pfixed']);
  assert.deepEqual(await names('expose=95'), ['pfixed']);
  await ok(['rm', '-f', 'pstop', 'pfixed']);
});

test('-p on a port a host process listens on is refused (dockerd 29\'s words)', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '0.0.0.0', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    const r = await docker(d, ['run', '-d', '--name', 'busyport', '-p', `${port}:80`, 'busybox', 'sleep', '5']);
    ids.push('busyport');
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp(`driver failed programming external connectivity on endpoint busyport \\([0-9a-f]{64}\\): failed to bind host port 0\\.0\\.0\\.0:${port}/tcp: address already in use`));
  } finally {
    srv.close();
  }
});

test('-P publishes the image\'s EXPOSE on a free host port; -p 127.0.0.1:X:53/udp reaches a UDP server', async () => {
  const udpPort = await freePort();
  const id = await runD(['--name', 'pub', '-P', '--expose', '81', '-p', `127.0.0.1:${udpPort}:53/udp`, 'web:1', 'httpd', '-f', '-p', '80', '-h', '/www']);
  const ports = JSON.parse(await inspect(id, '{{json .NetworkSettings.Ports}}'));
  const p80 = Number(ports['80/tcp'][0].HostPort);
  assert.ok(p80 > 1024, JSON.stringify(ports));
  assert.equal(ports['80/tcp'][0].HostIp, '0.0.0.0');
  assert.ok(Number(ports['81/tcp'][0].HostPort) > 1024);
  assert.deepEqual(ports['53/udp'], [{ HostIp: '127.0.0.1', HostPort: String(udpPort) }]);
  assert.match(await waitFor(() => httpGet('127.0.0.1', p80).catch(() => ''), 15_000, 'httpd via -P'), /hello from tsula/);
  assert.deepEqual(JSON.parse(await inspect(id, '{{json .Config.ExposedPorts}}')), { '53/udp': {}, '80/tcp': {}, '81/tcp': {} });
  // busybox has no UDP server: a node one in the container's network namespace answers
  const sandbox = await inspect(id, '{{.NetworkSettings.SandboxKey}}');
  const server = spawn('nsenter', [`--net=${sandbox}`, process.execPath, '-e',
    "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send('pong:'+m,r.port,r.address));s.bind(53,()=>console.log('up'))"], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((r) => server.stdout.once('data', r));
    const reply = await new Promise<string>((resolve, reject) => {
      const c = dgram.createSocket('udp4');
      const t = setTimeout(() => { c.close(); reject(new Error('no UDP reply through the published port')); }, 5000);
      c.on('message', (m: Buffer) => { clearTimeout(t); c.close(); resolve(m.toString()); });
      c.send('ping', udpPort, '127.0.0.1');
    });
    assert.equal(reply, 'pong:ping');
  } finally {
    server.kill('SIGKILL');
  }
});

test('an alias several containers share: left out of /etc/hosts, and the DNS server answers its addresses in a new order each time', async () => {
  await ok(['network', 'create', 'rrnet']);
  try {
    const ips: string[] = [];
    for (const n of ['rr1', 'rr2', 'rr3']) {
      const id = await runD(['--name', n, '--network', 'rrnet', '--network-alias', 'svc', '--network-alias', `only-${n}`, 'busybox', 'sleep', '600']);
      ips.push(await inspect(id, '{{ .NetworkSettings.Networks.rrnet.IPAddress }}'));
    }
    const cl = await runD(['--network', 'rrnet', 'busybox', 'sleep', '600']);
    const hosts = await ok(['exec', cl, 'cat', '/etc/hosts']);
    assert.doesNotMatch(hosts, /\bsvc\b/);
    assert.match(hosts, /\bonly-rr1\b/, 'an alias one container holds stays');
    const firsts = new Set<string>();
    for (let i = 0; i < 8 && firsts.size < 2; i++) {
      const out = await ok(['exec', cl, 'nslookup', '-type=a', 'svc']);
      const got = [...out.matchAll(/^Address: (\d+\.\d+\.\d+\.\d+)$/gm)].map((m) => m[1]!);
      assert.deepEqual([...got].sort(), [...ips].sort(), out);
      firsts.add(got[0]!);
    }
    assert.ok(firsts.size > 1, 'the first answer changes');
    // one of them resolves the alias to its peers and itself alike
    assert.match(await ok(['exec', 'rr1', 'nslookup', '-type=a', 'svc']), new RegExp(`Address: ${ips[0]!.replace(/\./g, '\\.')}$`, 'm'));
    await ok(['rm', '-f', 'rr1', 'rr2', 'rr3', cl]);
  } finally {
    await docker(d, ['network', 'rm', 'rrnet']).catch(() => undefined);
  }
});

test('user networks: own subnet, names and aliases resolve (/etc/hosts and the network\'s DNS server), peers come and go', async () => {
  const sub = (JSON.parse(await ok(['network', 'inspect', 'bridge']))[0].IPAM.Config[0].Subnet as string);
  const netId = (await ok(['network', 'create', 'appnet'])).trim();
  assert.match(netId, /^[0-9a-f]{64}$/);
  const info = JSON.parse(await ok(['network', 'inspect', 'appnet']))[0];
  assert.notEqual(info.IPAM.Config[0].Subnet, sub);
  // its bridge is there at once, with the gateway's address (dockerd's bridge driver makes it at create)
  assert.match(execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', `br-${netId.slice(0, 12)}`], { encoding: 'utf8' }), new RegExp(` inet ${info.IPAM.Config[0].Gateway.replace(/\./g, '\\.')}/`));
  assert.equal(info.Driver, 'bridge');
  const a = await runD(['--name', 'alpha', '--network', 'appnet', '--network-alias', 'db', 'busybox', 'sleep', '300']);
  const aIp = await inspect(a, '{{.NetworkSettings.Networks.appnet.IPAddress}}');
  assert.equal(await inspect(a, '{{.NetworkSettings.IPAddress}}'), ''); // only the default bridge fills the top level
  // docker 20.10 (API 1.41) shows what dockerd 20.10 stored: the short id appended at the start
  assert.deepEqual(JSON.parse(await inspect(a, '{{json .NetworkSettings.Networks.appnet.Aliases}}')), ['db', a.slice(0, 12)]);
  const r = await runOut(['--name', 'beta', '--network', 'appnet', 'busybox', 'sh', '-c', 'ping -c1 -W2 alpha && ping -c1 -W2 db && grep -w alpha /etc/hosts']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, new RegExp(`${aIp.replace(/\./g, '\\.')}\\talpha db`));
  // the network's DNS server (docker's embedded DNS) at 127.0.0.11 (its gateway's, redirected
  // in the container's namespace): names, aliases, <name>.<network>, the reverse of an
  // address; other names go to the host's servers
  const gw = info.IPAM.Config[0].Gateway as string;
  const q = await runOut(['--network', 'appnet', 'busybox', 'sh', '-c',
    `cat /etc/resolv.conf; for n in alpha db alpha.appnet ${a.slice(0, 12)}; do nslookup $n || exit 9; done; nslookup ${aIp}`]);
  assert.equal(q.code, 0, q.out);
  assert.match(q.out, /^nameserver 127\.0\.0\.11$/m);
  assert.match(q.out, /^options .*ndots:0/m);
  assert.equal(q.out.split('\n').filter((l) => l === `Address: ${aIp}`).length, 4, q.out);
  assert.match(q.out, /in-addr\.arpa\s+name = alpha\.appnet/);
  // over TCP too (a client's retry of a truncated answer): "alpha" A, framed by its length;
  // at 127.0.0.11 and at the gateway itself
  const query = '\\000\\027\\022\\064\\001\\000\\000\\001\\000\\000\\000\\000\\000\\000\\005alpha\\000\\000\\001\\000\\001';
  for (const server of ['127.0.0.11', gw]) {
    const t = await runOut(['--network', 'appnet', 'busybox', 'sh', '-c', `printf '${query}' | nc -w 5 ${server} 53 | od -An -tx1`]);
    const hex = t.out.replace(/\s+/g, '');
    assert.ok(hex.startsWith('00271234'), `${server}: ${t.out}`); // its length, then our id
    assert.ok(hex.endsWith(aIp.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')), t.out);
  }
  // while beta ran, alpha's hosts file named it; once beta is gone, no more
  await waitFor(async () => !(await ok(['exec', a, 'cat', '/etc/hosts'])).includes('beta'), 10_000, 'beta leaving alpha\'s /etc/hosts');
  // the default bridge has no name resolution, as in docker
  const r2 = await runOut(['busybox', 'sh', '-c', 'grep -c alpha /etc/hosts || true']);
  assert.equal(r2.out.trim(), '0');
  // rm of a network with a running container: dockerd's 403
  const rm = await docker(d, ['network', 'rm', 'appnet']);
  assert.notEqual(rm.code, 0);
  assert.match(rm.stderr, /has active endpoints/);
  assert.equal((await d.api('DELETE', '/networks/appnet')).status, 403);
  assert.equal(JSON.parse(await ok(['network', 'inspect', 'appnet']))[0].Containers[a].Name, 'alpha');
});

test('a container\'s --hostname answers on its user network (dockerd\'s DNSNames), as its short id does', async () => {
  await ok(['network', 'create', 'hostnet1']);
  const a = await runD(['--network', 'hostnet1', '--hostname', 'hosty.example', 'busybox', 'sleep', '300']);
  const ip = await inspect(a, '{{.NetworkSettings.Networks.hostnet1.IPAddress}}');
  const q = await runOut(['--network', 'hostnet1', 'busybox', 'sh', '-c', 'nslookup hosty.example && nslookup hosty.example.hostnet1']);
  assert.equal(q.code, 0, q.out);
  assert.equal(q.out.split('\n').filter((l) => l === `Address: ${ip}`).length, 2, q.out);
  await ok(['rm', '-f', a]);
  await ok(['container', 'prune', '-f']);
  await ok(['network', 'rm', 'hostnet1']);
});

test('an interface on a network without IPv6 has none, not even a link-local one (dockerd 27+; moby\'s TestNonIPv6Network); lo keeps ::1; --sysctl wins', async () => {
  const r = await runOut(['busybox', 'sh', '-c', 'ip a show dev eth0; cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6; ip a show dev lo']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, / inet \d/);
  assert.match(r.out, /^1$/m);
  assert.equal(r.out.match(/inet6 .* scope link/g), null, r.out);
  assert.match(r.out, /inet6 ::1\/128/);
  const own = await runOut(['--sysctl', 'net.ipv6.conf.eth0.disable_ipv6=0', 'busybox', 'cat', '/proc/sys/net/ipv6/conf/eth0/disable_ipv6']);
  assert.equal(own.out.trim(), '0');
  // a running container connected to another network without IPv6: its new interface too
  await ok(['network', 'create', 'nov6b']);
  const c = await runD(['busybox', 'sleep', '300']);
  await ok(['network', 'connect', 'nov6b', c]);
  assert.equal((await ok(['exec', c, 'cat', '/proc/sys/net/ipv6/conf/eth1/disable_ipv6'])).trim(), '1');
  await ok(['rm', '-f', c]);
  await ok(['network', 'rm', 'nov6b']);
});

test('network connect / disconnect a running container, with a fixed --ip on a user subnet', async () => {
  const [subnet] = freeSubnet([tn.subnet, ...pools]);
  await ok(['network', 'create', '--subnet', subnet, '--label', 'k=v', 'fixed']);
  const ip = subnet.replace('.0/24', '.9');
  const id = await runD(['--name', 'conn', 'busybox', 'sleep', '300']);
  await ok(['network', 'connect', '--ip', ip, '--alias', 'c1', 'fixed', 'conn']);
  assert.match(await ok(['exec', id, 'ip', '-4', '-o', 'addr', 'show', 'eth1']), new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`));
  const nets = JSON.parse(await inspect(id, '{{json .NetworkSettings.Networks}}'));
  assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'fixed']);
  assert.equal(nets.fixed.IPAddress, ip);
  assert.deepEqual(nets.fixed.IPAMConfig, { IPv4Address: ip });
  // joining its first user network points its resolv.conf at that network's DNS server (as
  // dockerd switches it to its resolver), in place: the running container sees it at once
  const resolv = await ok(['exec', id, 'cat', '/etc/resolv.conf']);
  assert.match(resolv, /^nameserver 127\.0\.0\.11$/m);
  assert.match(resolv, /^options .*ndots:0/m);
  const ns = await docker(d, ['exec', id, 'nslookup', 'c1']);
  assert.equal(ns.code, 0, ns.stdout + ns.stderr);
  assert.match(ns.stdout, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}$`, 'm'));
  const dup = await docker(d, ['network', 'connect', 'fixed', 'conn']);
  assert.notEqual(dup.code, 0);
  assert.match(dup.stderr, /already exists in network fixed/);
  await ok(['network', 'disconnect', 'fixed', 'conn']);
  assert.doesNotMatch(await ok(['exec', id, 'ip', '-4', '-o', 'addr']), /eth1/);
  assert.deepEqual(Object.keys(JSON.parse(await inspect(id, '{{json .NetworkSettings.Networks}}'))), ['bridge']);
  // and leaving it: back to the servers it had (that gateway is no longer its to reach)
  assert.doesNotMatch(await ok(['exec', id, 'cat', '/etc/resolv.conf']), /nameserver 127\.0\.0\.11/);
  // the same for a container connected and disconnected while stopped, at its next start
  const later = (await ok(['create', '--name', 'later', 'busybox', 'sleep', '300'])).trim();
  await ok(['network', 'connect', 'fixed', 'later']);
  await ok(['start', later]);
  assert.match(await ok(['exec', later, 'cat', '/etc/resolv.conf']), /^nameserver 127\.0\.0\.11$/m);
  assert.match(await ok(['exec', later, 'nslookup', 'later']), /^Address: \d+\.\d+\.\d+\.\d+$/m);
  await ok(['stop', '-t', '0', later]);
  await ok(['network', 'disconnect', 'fixed', 'later']);
  await ok(['start', later]);
  assert.doesNotMatch(await ok(['exec', later, 'cat', '/etc/resolv.conf']), /nameserver 127\.0\.0\.11/);
  // a file the user edited is left as it is ("Docker Engine will not make further changes
  // once it has been modified", dockerd's UserModified)
  assert.match(await ok(['exec', later, 'cat', '/etc/resolv.conf']), /^# Generated by Docker Engine\.\n/);
  await ok(['exec', later, 'sh', '-c', 'echo nameserver 192.0.2.99 > /etc/resolv.conf']);
  await ok(['network', 'connect', 'fixed', 'later']);
  assert.equal(await ok(['exec', later, 'cat', '/etc/resolv.conf']), 'nameserver 192.0.2.99\n');
  await ok(['rm', '-f', later]);
  // --ip on the default bridge is dockerd's 400
  const bad = await docker(d, ['network', 'connect', '--ip', '10.1.1.1', 'bridge', 'conn']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /user specified IP address is supported on user defined networks only|already exists/);
  assert.match(await ok(['network', 'ls', '--filter', 'label=k=v', '--format', '{{.Name}}']), /^fixed$/m);
  // dockerd's FilterNetworks: name and id are regexps; type and dangling take only their values
  assert.match(await ok(['network', 'ls', '--filter', 'name=^fix', '--format', '{{.Name}}']), /^fixed$/m);
  const fixedId = (await inspect('fixed', '{{.Id}}')).trim();
  assert.match(await ok(['network', 'ls', '--filter', `id=${fixedId.slice(3, 12)}`, '--format', '{{.Name}}']), /^fixed$/m);
  assert.deepEqual((await ok(['network', 'ls', '--filter', 'type=builtin', '--format', '{{.Name}}'])).trim().split('\n').sort(), ['bridge', 'host', 'none']);
  for (const [f, msg] of [['type=foo', /Invalid filter: 'type'='foo'/], ['dangling=maybe', /invalid value for filter 'dangling', must be "true" \(or "1"\), or "false" \(or "0"\)/]] as const) {
    const r = await docker(d, ['network', 'ls', '--filter', f]);
    assert.notEqual(r.code, 0, f);
    assert.match(r.stderr, msg);
  }
});

test('--ip-range bounds only the addresses handed out: a --ip elsewhere in the subnet is taken, a taken one is "Address already in use"', async () => {
  const [subnet] = freeSubnet([tn.subnet, ...pools]);
  const base = subnet.replace('.0/24', '');
  await ok(['network', 'create', '--subnet', subnet, '--ip-range', `${base}.128/25`, 'ranged']);
  try {
    const fixed = await runD(['--name', 'fixed-low', '--network', 'ranged', '--ip', `${base}.10`, 'busybox', 'sleep', '300']);
    assert.equal(await inspect(fixed, '{{.NetworkSettings.Networks.ranged.IPAddress}}'), `${base}.10`);
    const auto = await runOut(['--network', 'ranged', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    const got = Number(new RegExp(`inet ${base.replace(/\./g, '\\.')}\\.(\\d+)/`).exec(auto.out)?.[1]);
    assert.ok(got >= 128, auto.out);
    for (const taken of [`${base}.10`, `${base}.1`]) {
      const r = await docker(d, ['run', '--rm', '--network', 'ranged', '--ip', taken, 'busybox', 'true']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, new RegExp(`Address already in use: ${taken.replace(/\./g, '\\.')}`));
    }
    await ok(['rm', '-f', fixed]);
  } finally {
    await ok(['network', 'rm', 'ranged']);
  }
});

test('--network host, none and container:<x>', async () => {
  const h = await runOut(['--network', 'host', 'busybox', 'hostname']);
  assert.equal(h.out.trim(), os.hostname());
  const n = await runOut(['--network', 'none', 'busybox', 'sh', '-c', 'ls /sys/class/net']);
  assert.equal(n.out.trim(), 'lo');
  // a running container has an endpoint on host (or none) with no address, as dockerd's;
  // network inspect lists it; the stop leaves the network
  for (const mode of ['host', 'none']) {
    const id = await runD(['--network', mode, '--name', `on-${mode}`, 'busybox', 'sleep', '300']);
    const ep = await inspect(id, `{{(index .NetworkSettings.Networks "${mode}").EndpointID}}`);
    assert.match(ep, /^[0-9a-f]{64}$/);
    const members = JSON.parse(await ok(['network', 'inspect', mode, '-f', '{{json .Containers}}'])) as Record<string, { Name: string; EndpointID: string; IPv4Address: string }>;
    assert.deepEqual(members[id], { Name: `on-${mode}`, EndpointID: ep, MacAddress: '', IPv4Address: '', IPv6Address: '' });
    await ok(['stop', '-t', '0', id]);
    assert.equal(await inspect(id, `{{(index .NetworkSettings.Networks "${mode}").EndpointID}}`), '');
    assert.equal(JSON.parse(await ok(['network', 'inspect', mode, '-f', '{{json .Containers}}']))[id], undefined);
    await ok(['rm', id]);
  }
  const host = await runD(['--name', 'nshost', 'busybox', 'sleep', '300']);
  const ip = await inspect(host, '{{.NetworkSettings.IPAddress}}');
  const c = await runOut(['--network', 'container:nshost', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
  assert.match(c.out, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`));
  // dockerd's conflicts with container: mode
  for (const [flags, msg] of [
    [['-p', '80'], /port publishing and the container type network mode/],
    [['--dns', '1.1.1.1'], /dns and the network mode/],
    [['--add-host', 'a:1.2.3.4'], /custom host-to-IP mapping and the network mode/],
    [['-h', 'x'], /hostname and the network mode/],
  ] as const) {
    const r = await docker(d, ['create', '--network', 'container:nshost', ...flags, 'busybox']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, msg);
  }
  // as dockerd: the create takes an unknown network (a 404 would make the CLI pull), the start fails
  const missing = (await ok(['create', '--network', 'nosuchnet', 'busybox'])).trim();
  ids.push(missing);
  const st = await docker(d, ['start', missing]);
  assert.notEqual(st.code, 0);
  assert.match(st.stderr, /network nosuchnet not found/);
  assert.equal((await d.api('POST', `/containers/${missing}/start`)).status, 404);
});

test('--dns, --dns-search, --dns-option and --add-host (host-gateway too) reach the container', async () => {
  const r = await runOut(['--dns', '192.0.2.53', '--dns-search', 'example.test', '--dns-option', 'ndots:2',
    '--add-host', 'db.local:192.0.2.10', '--add-host', 'gw:host-gateway', 'busybox', 'sh', '-c', 'cat /etc/resolv.conf /etc/hosts']);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /^nameserver 192\.0\.2\.53$/m);
  assert.match(r.out, /^search example\.test$/m);
  assert.match(r.out, /^options ndots:2$/m);
  assert.match(r.out, /^192\.0\.2\.10\tdb\.local$/m);
  assert.match(r.out, new RegExp(`^${tn.gateway.replace(/\./g, '\\.')}\\tgw$`, 'm'));
});

test('--mac-address: the interface has it, inspect shows it; dockerd\'s refusals', async () => {
  const mac = '02:42:ac:11:00:99';
  const id = await runD(['--mac-address', mac, 'busybox', 'sleep', '300']);
  assert.equal((await ok(['exec', id, 'cat', '/sys/class/net/eth0/address'])).trim(), mac);
  assert.equal(await inspect(id, '{{.Config.MacAddress}} {{.NetworkSettings.MacAddress}}'), `${mac} ${mac}`);
  await ok(['rm', '-f', id]);
  for (const [flags, msg] of [
    [['--mac-address', 'zz:42:ac:11:00:99'], /zz:42:ac:11:00:99 is not a valid mac address/],
    [['--network', 'container:x', '--mac-address', mac], /conflicting options: mac-address and the network mode/],
  ] as const) {
    const c = await docker(d, ['create', ...flags, 'busybox']);
    assert.notEqual(c.code, 0, flags.join(' '));
    assert.match(c.stderr, msg);
  }
});

test('refused with dockerd\'s 400 rather than ignored: --link to no container, --ip on the default bridge', async () => {
  for (const [flags, msg] of [
    [['--link', 'nosuchctr:web'], /could not get container for nosuchctr: No such container: nosuchctr/],
    [['--network', 'bridge', '--ip', '10.9.9.9'], /user specified IP address is supported on user defined networks only/],
    // a VM would take that namespace's interface from the other container
    [['--runtime', 'vmm', '--network', 'container:x'], /runs the container in a VM, which cannot share another container's network namespace/],
  ] as const) {
    const r = await docker(d, ['create', ...flags, 'busybox']);
    assert.notEqual(r.code, 0, flags.join(' '));
    assert.match(r.stderr, msg);
  }
  const body = JSON.stringify({ Image: 'busybox', HostConfig: { PortBindings: { '80-81/tcp': [{ HostPort: '8080' }] } } });
  assert.equal((await d.api('POST', '/containers/create', body)).status, 400);
});

test('the network\'s rules: what leaves the bridge is masqueraded (a host behind another interface answers), not with enable_ip_masquerade=false; network rm takes them', async () => {
  // "outside": a namespace behind a veth of the host, with a route to its own /24 only: it
  // answers a container only when the container's address was rewritten to the host's
  const [subnet] = freeSubnet([tn.subnet, ...pools]);
  const prefix = subnet.split('.').slice(0, 3).join('.');
  const tag = String(process.pid % 100000);
  const ns = `tsout${tag}`;
  const veth = `tso${tag}`;
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { stdio: 'ignore' });
  try {
    sh(`ip netns add ${ns} && ip link add ${veth} type veth peer name eth0 netns ${ns} && ip addr add ${prefix}.1/24 dev ${veth} && ip link set ${veth} up`);
    sh(`ip -n ${ns} addr add ${prefix}.2/24 dev eth0 && ip -n ${ns} link set eth0 up && ip -n ${ns} link set lo up`);
    const ping = ['busybox', 'ping', '-c1', '-W3', `${prefix}.2`];
    assert.equal((await runOut(ping)).code, 0, 'the default network reaches the outside host');
    const save = execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.ok(save.includes(`-A TSULA-NAT-${tn.bridge} -s ${tn.subnet} ! -o ${tn.bridge} -j MASQUERADE`), 'the default network\'s masquerade');
    assert.ok(save.includes(`-A FORWARD -j TSULA-FWD-${tn.bridge}`));
    // the administrator's chain comes first in FORWARD: a rule there stops what the network accepts
    const filter = execFileSync('iptables-save', ['-t', 'filter'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    assert.equal(filter.split('\n').find((l) => l.startsWith('-A FORWARD ')), '-A FORWARD -j TSULA-USER', 'TSULA-USER first in FORWARD');
    const rule = ['TSULA-USER', '-d', `${prefix}.2/32`, '-j', 'DROP'];
    execFileSync('iptables', ['-w', '-I', ...rule]);
    try {
      assert.notEqual((await runOut(ping)).code, 0, 'dropped by the administrator\'s rule');
    } finally {
      execFileSync('iptables', ['-w', '-D', ...rule]);
    }
    await ok(['network', 'create', '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', 'nomasq']);
    try {
      assert.notEqual((await runOut(['--network', 'nomasq', ...ping])).code, 0, 'unmasqueraded: the outside host cannot answer');
      const bridge = await inspect('nomasq', '{{ index .Options "com.docker.network.bridge.name" }}') || `br-${(await inspect('nomasq', '{{ .Id }}')).slice(0, 12)}`;
      const mine = () => execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((l) => l.includes(`TSULA-FWD-${bridge}`) || l.includes(`TSULA-NAT-${bridge}`));
      assert.ok(mine().some((l) => l === `-A TSULA-FWD-${bridge} -i ${bridge} -j ACCEPT`), mine().join('\n'));
      assert.ok(!mine().some((l) => l.includes('MASQUERADE')));
      await ok(['rm', '-f', ...ids.splice(-1)]);
      await ok(['network', 'rm', 'nomasq']);
      assert.deepEqual(mine(), [], 'network rm: its chains and the jumps to them are gone');
    } finally {
      await docker(d, ['network', 'rm', 'nomasq']).catch(() => undefined);
    }
  } finally {
    spawnSync('ip', ['link', 'del', veth], { stdio: 'ignore' });
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  }
});

test('networks are kept apart (docker 28): a container reaches its own network\'s peers, not another network\'s, nor into an --internal one, but into a nat-unprotected one', async () => {
  await ok(['network', 'create', 'apart']);
  await ok(['network', 'create', '--internal', 'inside']);
  try {
    const onDefault = await runD(['busybox', 'sleep', '600']);
    const onInside = await runD(['--network', 'inside', 'busybox', 'sleep', '600']);
    const defaultIp = await inspect(onDefault, '{{ .NetworkSettings.Networks.bridge.IPAddress }}');
    const insideIp = await inspect(onInside, '{{ .NetworkSettings.Networks.inside.IPAddress }}');
    const ping = async (net: string, ip: string) => (await runOut(['--network', net, 'busybox', 'ping', '-c1', '-W2', ip])).code;
    assert.equal(await ping('bridge', defaultIp), 0, 'a peer on the same network');
    assert.notEqual(await ping('apart', defaultIp), 0, 'from another network');
    assert.notEqual(await ping('apart', insideIp), 0, 'into an internal network');
    assert.equal(await ping('inside', insideIp), 0, 'a peer on the internal network');
    // docker 28's way out: gateway_mode_ipv4=nat-unprotected lets others reach its containers
    const mode = 'com.docker.network.bridge.gateway_mode_ipv4';
    await ok(['network', 'create', '-o', `${mode}=nat-unprotected`, 'open']);
    const onOpen = await runD(['--network', 'open', 'busybox', 'sleep', '600']);
    assert.equal(await ping('apart', await inspect(onOpen, '{{ .NetworkSettings.Networks.open.IPAddress }}')), 0, 'into a nat-unprotected network');
    const routed = await docker(d, ['network', 'create', '-o', `${mode}=routed`, 'routed']);
    assert.notEqual(routed.code, 0);
    assert.match(routed.stderr, /network routed: gateway mode "routed" is not supported by tsulad \(com\.docker\.network\.bridge\.gateway_mode_ipv4: nat or nat-unprotected\)/);
    await ok(['rm', '-f', onDefault, onInside, onOpen]);
  } finally {
    await docker(d, ['network', 'rm', 'apart', 'inside', 'open']).catch(() => undefined);
  }
});

test('enable_icc=false: the network\'s containers do not reach each other, only the gateway and its DNS server; a bad value is refused', async () => {
  const bad = await docker(d, ['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=maybe', 'iccbad']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /invalid com\.docker\.network\.bridge\.enable_icc value "maybe"/);
  await ok(['network', 'create', '-o', 'com.docker.network.bridge.enable_icc=false', 'iso']);
  try {
    const a = await runD(['--network', 'iso', '--name', 'iso-a', 'busybox', 'sleep', '600']);
    const ip = await inspect(a, '{{ .NetworkSettings.Networks.iso.IPAddress }}');
    const gw = await inspect(a, '{{ .NetworkSettings.Networks.iso.Gateway }}');
    const b = await runOut(['--network', 'iso', 'busybox', 'sh', '-c', `nslookup iso-a 127.0.0.11 >/dev/null && echo named; ping -c1 -W2 ${gw} >/dev/null && echo gateway; ping -c1 -W2 ${ip} >/dev/null && echo peer; true`]);
    assert.equal(b.out.trim(), 'named\ngateway', b.out);
    await ok(['rm', '-f', a]);
  } finally {
    await docker(d, ['network', 'rm', 'iso']).catch(() => undefined);
  }
});

test('rm: namespaces, veths, leases and iptables rules of the containers are gone; network prune', async () => {
  const all = (await ok(['ps', '-aq', '--no-trunc'])).trim().split('\n').filter(Boolean);
  assert.ok(all.length > 0);
  const rm = await docker(d, ['rm', '-f', ...all]);
  assert.equal(rm.code, 0, rm.stderr);
  assert.deepEqual(await fs.readdir(path.join(d.state, 'networks', 'netns')).catch(() => []), []);
  assert.deepEqual(bridgePorts(tn.bridge), []);
  for (const id of all) assert.deepEqual(iptablesLines(id), [], `iptables rules of ${id}`);
  const leases = (await fs.readdir(path.join(d.graph, 'networks', 'ipam', 'bridge')).catch(() => [] as string[])).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  assert.deepEqual(leases, []);
  const pr = await ok(['network', 'prune', '-f']);
  assert.match(pr, /Deleted Networks:\n(appnet\nfixed|fixed\nappnet)\n/);
  for (const n of ['appnet', 'fixed']) assert.notEqual((await docker(d, ['network', 'inspect', n])).code, 0);
  const bridges = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'type', 'bridge'], { encoding: 'utf8' })) as Array<{ ifname: string }>;
  const records = await fs.readdir(path.join(d.graph, 'networks', 'records'));
  assert.equal(records.length, 3); // bridge, host, none
  assert.ok(!bridges.some((b) => records.some((r) => b.ifname === `br-${r.slice(0, 12)}`)));
});

test('a bridge that already has an address keeps it: the default network takes its subnet (dockerd with docker0); daemon.json icc and ip-masq false', async () => {
  const [subnet, gateway] = freeSubnet([tn.subnet, ...pools]);
  const [pool] = freeSubnet([tn.subnet, ...pools, subnet]);
  const bridge = `tsb${process.pid % 100000}`;
  spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  let d2: TestDaemon | undefined;
  try {
    execFileSync('ip', ['addr', 'add', `${gateway}/24`, 'dev', bridge]);
    // no "bip": the daemon would pick a free pool (`pool`), which the bridge plugin refuses on a bridge with another address
    d2 = await TestDaemon.create({ configJson: { bridge, 'default-address-pools': [{ base: pool, size: 24 }], icc: false, 'ip-masq': false } });
    await d2.loadBusybox();
    const inspect = JSON.parse((await docker(d2, ['network', 'inspect', 'bridge'])).stdout) as Array<{ IPAM: { Config: Array<{ Subnet: string; Gateway: string }> }; Options: Record<string, string> }>;
    assert.deepEqual(inspect[0]!.IPAM.Config[0], { Subnet: subnet, Gateway: gateway });
    assert.deepEqual([inspect[0]!.Options['com.docker.network.bridge.enable_icc'], inspect[0]!.Options['com.docker.network.bridge.enable_ip_masquerade']], ['false', 'false']);
    const r = await docker(d2, ['run', '--rm', 'busybox', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(` inet ${subnet.split('.').slice(0, 3).join('\\.')}\\.\\d+/24 `));
    const rules = execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((l) => l.includes(bridge));
    assert.ok(rules.includes(`-A TSULA-ISO-${bridge} -i ${bridge} -o ${bridge} -j DROP`), rules.join('\n'));
    assert.ok(!rules.some((l) => l.includes('MASQUERADE')), rules.join('\n'));
    // legacy links open the child's exposed ports to the parent, nothing else (dockerd's linkContainers)
    const ok2 = async (args: string[]) => { const x = await docker(d2!, args); assert.equal(x.code, 0, x.stderr); return x.stdout.trim(); };
    await ok2(['run', '-d', '--name', 'srv', '--expose', '8080', 'busybox', 'sh', '-c', 'mkdir /w; echo hi > /w/i; httpd -f -p 8080 -h /w & httpd -f -p 9090 -h /w & wait']);
    const srvIp = await ok2(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'srv']);
    await ok2(['run', '-d', '--name', 'cli', '--link', 'srv:s', 'busybox', 'sleep', '300']);
    const get = async (c: string[], host: string, port: number) => (await docker(d2!, [...c, 'sh', '-c', `printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${host} ${port}`])).stdout;
    assert.match(await get(['exec', 'cli'], 's', 8080), /^hi$/m, 'the exposed port, through the link');
    assert.doesNotMatch(await get(['exec', 'cli'], 's', 9090), /hi/, 'a port not exposed');
    assert.doesNotMatch(await get(['run', '--rm', 'busybox'], srvIp, 8080), /hi/, 'a container not linked');
    const left = () => execFileSync('iptables-save', { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').filter((l) => l.includes(`TSULA-ISO-${bridge}`) && l.includes('ACCEPT'));
    const cliIp = await ok2(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'cli']);
    await ok2(['run', '-d', '--name', 'cli2', '--link', 'srv:s', 'busybox', 'sleep', '300']);
    // rm --link closes that link's opening at once (moby's TestRemoveLegacyLink), the other parent's stays
    await ok2(['rm', '--link', 'cli/s']);
    assert.ok(!left().some((l) => l.includes(cliIp)), left().join('\n'));
    assert.ok(left().length > 0, 'cli2\'s link is open');
    assert.doesNotMatch(await get(['exec', 'cli'], srvIp, 8080), /hi/, 'no link, no way through');
    await ok2(['rm', '-f', 'cli', 'cli2']);
    for (let i = 0; i < 50 && left().length; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(left(), [], 'the openings go with the parent');
  } finally {
    await d2?.destroy();
    spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  }
});

test('a bridge of the host\'s with another address and an explicit bip: tsulad never takes the address off, its start says what to do (dockerd refuses -b with --bip; it re-addresses only its own docker0)', async () => {
  const [oldSubnet, oldGw] = freeSubnet([tn.subnet, ...pools]);
  const [, gateway] = freeSubnet([tn.subnet, ...pools, oldSubnet]);
  const bridge = `tsc${process.pid % 100000}`;
  const foreign = `${oldGw.replace(/\.1$/, '.88')}/24`;
  spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  execFileSync('ip', ['addr', 'add', foreign, 'dev', bridge]);
  try {
    await assert.rejects(TestDaemon.create({ configJson: { bridge, bip: `${gateway}/24` } }),
      new RegExp(`bridge ${bridge} has the address ${foreign.replace(/\./g, '\\.')}, not "bip" ${gateway.replace(/\./g, '\\.')}/24: tsulad does not take addresses off a bridge it did not make`));
    const addrs = (JSON.parse(execFileSync('ip', ['-4', '-j', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' })) as Array<{ addr_info: Array<{ local: string; prefixlen: number }> }>)[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`);
    assert.deepEqual(addrs, [foreign]);
  } finally {
    spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  }
});

test('a bridge with several addresses and a fixed-cidr: the address whose subnet holds it is the gateway (dockerd\'s selectBIP, moby\'s TestDaemonDefaultBridgeIPAM_UserBr)', async () => {
  const [sub] = freeSubnet([tn.subnet, ...pools]);
  const [pool] = freeSubnet([tn.subnet, ...pools, sub]);
  const p3 = sub.split('.').slice(0, 3).join('.');
  const bridge = `tsd${process.pid % 100000}`;
  spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  execFileSync('ip', ['link', 'add', bridge, 'type', 'bridge']);
  for (const a of [`${p3}.8/28`, `${p3}.24/28`, `${p3}.40/28`]) execFileSync('ip', ['addr', 'add', a, 'dev', bridge]);
  let d4: TestDaemon | undefined;
  try {
    d4 = await TestDaemon.create({ configJson: { bridge, 'fixed-cidr': `${p3}.16/29`, 'default-address-pools': [{ base: pool, size: 24 }] } });
    const ipam = JSON.parse((await docker(d4, ['network', 'inspect', '-f', '{{json .IPAM.Config}}', 'bridge'])).stdout) as unknown;
    assert.deepEqual(ipam, [{ Subnet: `${p3}.16/28`, IPRange: `${p3}.16/29`, Gateway: `${p3}.24` }]);
  } finally {
    await d4?.destroy();
    spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  }
});

test('a restarted container gets its address (and MAC) back on a user network (dockerd\'s IPAM hands out the lowest free one; host-local alone moves on), another one if it was taken meanwhile', async () => {
  await ok(['network', 'create', '--subnet', '10.199.77.0/24', 'keepip']);
  try {
    const ip = async (n: string) => (await ok(['inspect', '-f', '{{.NetworkSettings.Networks.keepip.IPAddress}}', n])).trim();
    await ok(['run', '-d', '--name', 'kip1', '--network', 'keepip', 'busybox', 'sleep', '300']);
    const first = await ip('kip1');
    const mac = async (n: string) => (await ok(['inspect', '-f', '{{.NetworkSettings.Networks.keepip.MacAddress}}', n])).trim();
    const firstMac = await mac('kip1');
    await ok(['restart', '-t', '0', 'kip1']);
    assert.equal(await ip('kip1'), first, 'docker restart');
    // and its MAC: the peers' ARP caches hold the pair (they were stale for 30 s and more)
    assert.equal(await mac('kip1'), firstMac);
    await ok(['stop', '-t', '0', 'kip1']);
    await ok(['start', 'kip1']);
    assert.equal(await ip('kip1'), first, 'docker stop + start');
    // taken while it was stopped: another address, and the start works
    await ok(['stop', '-t', '0', 'kip1']);
    await ok(['run', '-d', '--name', 'kip2', '--network', 'keepip', '--ip', first, 'busybox', 'sleep', '300']);
    await ok(['start', 'kip1']);
    assert.equal(await ip('kip2'), first);
    assert.match(await ip('kip1'), /^10\.199\.77\.\d+$/);
    assert.notEqual(await ip('kip1'), first);
    // a fresh one, then: the lowest free, with the MAC made from it (no stale ARP entry to miss)
    assert.equal(await ip('kip1'), '10.199.77.3');
    assert.equal(await mac('kip1'), '02:42:0a:c7:4d:03');
    // a new container gets the lowest free address, as dockerd's IPAM (moby's TestEtcHostsDisconnect goldens):
    // kip3 .4 after .2 and .3, then .2 again once kip2 is gone
    await ok(['run', '-d', '--name', 'kip3', '--network', 'keepip', 'busybox', 'sleep', '300']);
    assert.equal(await ip('kip3'), '10.199.77.4');
    await ok(['rm', '-f', 'kip2']);
    await ok(['run', '-d', '--name', 'kip4', '--network', 'keepip', 'busybox', 'sleep', '300']);
    assert.equal(await ip('kip4'), first);
  } finally {
    await docker(d, ['rm', '-f', 'kip1', 'kip2', 'kip3', 'kip4']);
    await ok(['network', 'rm', 'keepip']);
  }
});

test('as moby\'s integration-cli has them: any network name but "/", default is predefined, --ip/--ip6/--link-local-ip checked, an alias on a predefined network first, a volume\'s propagation', async () => {
  for (const name of ['test@#$', 'kiwl$%^', '~!@#$%^&*()_+']) {
    await ok(['network', 'create', name]);
    assert.equal((await ok(['network', 'inspect', '-f', '{{.Name}}', name])).trim(), name);
    await ok(['network', 'rm', name]);
  }
  for (const [args, msg] of [
    [['network', 'create', 'default'], /operation is not permitted on predefined default network/],
    [['create', '--network', 'bridge', '--link-local-ip', '169.253.5.5', 'busybox'], /invalid link local IP address: 169\.253\.5\.5/],
    [['create', '--network', 'bridge', '--link-local-ip', '2001:db8::89', 'busybox'], /invalid link local IP address: 2001:db8::89/],
    [['create', '-v', 'pvol:/p:shared', 'busybox'], /invalid mount config for type "volume": field BindOptions must not be specified/],
  ] as const) {
    const r = await docker(d, [...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, msg, args.join(' '));
  }
  // the raw API (the CLI checks these itself)
  for (const [ipam, msg] of [
    [{ IPv4Address: 'mynet_ip' }, 'invalid IPv4 address: mynet_ip'],
    [{ IPv6Address: '::ffff:10.1.2.3' }, 'invalid IPv6 address: ::ffff:10.1.2.3'],
  ] as const) {
    const r = await d.api('POST', '/v1.44/containers/create', JSON.stringify({ Image: 'busybox', HostConfig: { NetworkMode: 'bridge' }, NetworkingConfig: { EndpointsConfig: { bridge: { IPAMConfig: ipam } } } }));
    assert.equal(r.status, 400, r.body);
    assert.equal(JSON.parse(r.body).message, msg);
  }
  const id = (await ok(['run', '-d', '--network', 'none', 'busybox', 'sleep', '300'])).trim();
  for (const net of ['bridge', 'host', 'none']) {
    const r = await docker(d, ['network', 'connect', '--alias', 'x', net, id]);
    assert.match(r.stderr, /network-scoped alias is supported only for containers in user defined networks/, net);
  }
  await ok(['rm', '-f', id]);
  // a link alias given as a path is its last part (dockerd's path.Join); no link variables
  // without DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS=1 in tsulad's environment (dockerd 29)
  await ok(['run', '-d', '--name', 'slashdb', 'busybox', 'sleep', '300']);
  const seen = await ok(['run', '--rm', '--name', 'slashapp', '--link', 'slashdb:/mysql', 'busybox', 'sh', '-c', 'env; grep -w mysql /etc/hosts']);
  assert.doesNotMatch(seen, /MYSQL_/);
  assert.match(seen, /\tmysql \S+ slashdb$/m);
  await ok(['rm', '-f', 'slashdb']);
});

test('a port published on a new network\'s own gateway address works for its first container (the bridge and address made first, as dockerd at network create)', async () => {
  const [sub, gw] = freeSubnet([tn.subnet]);
  await ok(['network', 'create', '--subnet', sub, '--gateway', gw, '-o', `com.docker.network.bridge.host_binding_ipv4=${gw}`, 'gwbind']);
  try {
    const id = (await ok(['run', '-d', '--network', 'gwbind', '-p', '5000:5000', 'busybox', 'sleep', '300'])).trim();
    assert.equal((await ok(['port', id])).trim(), `5000/tcp -> ${gw}:5000`);
    await ok(['rm', '-f', id]);
  } finally {
    await ok(['network', 'rm', 'gwbind']);
  }
});
