// Published host ports held as dockerd holds them, through the stock docker CLI: while the
// container runs a host program can't bind its ports (TCP and UDP), once its network is gone
// (stop, kill, rm -f) it can, and a restart takes them again; a container started right after
// another stopped gets its ports; a port a host program or another container holds refuses
// the start in dockerd 29's words, and leaves nothing bound; `-p 80`
// ports come in dockerd's sequence; a restarted tsulad takes again the ports of the containers
// still running; 50 run/rm with -p leave tsulad no socket more.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readlinkSync } from 'node:fs';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { createTestNet, dockerNetConfig, freePort, freeSubnet, type TestNet } from '../helpers/network.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-ports', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/lib/cni/portmap': 'containernetworking-plugins' } });

let tn: TestNet;
let d: TestDaemon;

before(async () => {
  dockerCliPath();
  tn = await createTestNet('dports');
  d = await TestDaemon.create({ configJson: dockerNetConfig(tn, 1) });
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
  await tn?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);
const WEB = ['busybox', 'sh', '-c', 'echo from-container > /i; exec httpd -f -p 80 -h /'];

/** Can a host program listen on the port now (0.0.0.0, or `host`)? */
function canListen(port: number, host = '0.0.0.0'): Promise<boolean> {
  const s = net.createServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen({ port, host }, () => s.close(() => resolve(true)));
  });
}

function canBindUdp(port: number, host = '0.0.0.0'): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => { s.close(); resolve(false); });
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
}

function httpGet(port: number, urlPath = '/i'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.end(`GET ${urlPath} HTTP/1.0\r\nHost: x\r\n\r\n`));
    let data = '';
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`GET :${port}: timed out`)); });
    s.on('data', (b) => { data += b; });
    s.on('end', () => resolve(data));
    s.on('error', reject);
  });
}

// `docker stop` and `kill` return once the container exited, and its ports are free by then
// (freed at the exit, before the waiters hear of it, as dockerd releases them first)
const freed = async (check: () => Promise<boolean>, what: string) => assert.ok(await check(), what);

const served = (port: number) => waitFor(() => httpGet(port).then((b) => b.includes('from-container')).catch(() => false), 15_000, `httpd through :${port}`);

/** A free port for TCP and UDP on every address. */
async function freeBoth(): Promise<number> {
  for (;;) {
    const p = await freePort();
    if (await canBindUdp(p)) return p;
  }
}

test('a published port is held while the container runs (TCP and UDP, 0.0.0.0 and a host IP), free after stop, kill and rm -f, held again after start and restart', async () => {
  const [p, u, l] = [await freeBoth(), await freeBoth(), await freeBoth()];
  await ok(['run', '-d', '--name', 'held', '-p', `${p}:80`, '-p', `${u}:53/udp`, '-p', `127.0.0.1:${l}:81`, ...WEB]);
  await served(p);
  const heldAll = async () => {
    assert.equal(await canListen(p), false, 'tcp 0.0.0.0 while it runs');
    assert.equal(await canListen(p, '127.0.0.1'), false, 'tcp 127.0.0.1 while it runs');
    assert.equal(await canBindUdp(u), false, 'udp while it runs');
    assert.equal(await canListen(l, '127.0.0.1'), false, 'tcp on the binding\'s host IP');
  };
  const freeAll = async () => {
    await freed(() => canListen(p), 'tcp free once its network is gone');
    await freed(() => canBindUdp(u), 'udp free once its network is gone');
    await freed(() => canListen(l, '127.0.0.1'), 'tcp 127.0.0.1 free once its network is gone');
  };
  await heldAll();
  // the container, not tsulad's socket, answers
  assert.match(await httpGet(p), /from-container/);
  await ok(['stop', '-t', '1', 'held']);
  await freeAll();
  await ok(['start', 'held']);
  await served(p);
  await heldAll();
  await ok(['restart', '-t', '1', 'held']);
  await served(p);
  await heldAll();
  await ok(['kill', 'held']);
  await waitFor(async () => (await ok(['inspect', '-f', '{{.State.Running}}', 'held'])).trim() === 'false', 15_000, 'kill');
  await freeAll();
  await ok(['start', 'held']);
  await heldAll();
  await ok(['rm', '-f', 'held']);
  await freeAll();
});

test('a port published on 127.0.0.1 is the host\'s own: a neighbour routing 127.0.0.0/8 to this host is dropped (moby#45610), the host reaches it; the raw rule goes with the stop', async (t) => {
  const p = await freeBoth();
  // the neighbour: a netns on a veth, its own loopback address gone and 127.0.0.0/8 routed to this host
  const tag = Math.random().toString(16).slice(2, 8);
  const [ns, host, peer] = [`tl-nb-${tag}`, `tlnb${tag}a`, `tlnb${tag}b`];
  const [subnetHost] = freeSubnet([tn.subnet]);
  const pre = subnetHost.split('.').slice(0, 3).join('.');
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  t.after(() => { spawnSync('ip', ['netns', 'del', ns]); spawnSync('ip', ['link', 'del', host]); });
  sh(`ip netns add ${ns} && ip link add ${host} type veth peer name ${peer} && ip link set ${peer} netns ${ns}
    ip addr add ${pre}.1/24 dev ${host} && ip link set ${host} up
    ip netns exec ${ns} sh -c 'ip link set ${peer} up && ip addr add ${pre}.2/24 dev ${peer} && ip link set lo up && ip addr del 127.0.0.1/8 dev lo
      sysctl -qw net.ipv4.conf.all.route_localnet=1 && ip route add 127.0.0.0/8 via ${pre}.1 dev ${peer}'`);
  await ok(['run', '-d', '--name', 'lopub', '-p', `127.0.0.1:${p}:80`, ...WEB]);
  await served(p); // from the host itself
  const rules = () => sh('iptables -w -t raw -S PREROUTING').split('\n').filter((l) => l.includes(`--dport ${p} `));
  assert.equal(rules().length, 1, sh('iptables -w -t raw -S PREROUTING'));
  assert.match(rules()[0]!, /-d 127\.0\.0\.1\/32 ! -i lo -p tcp .*-j DROP/);
  // what the neighbour gets: nothing (without the rule, the container's page)
  const probe = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '-e', `
    const s = require('net').connect({ host: '127.0.0.1', port: ${p} }, () => s.end('GET /i HTTP/1.0\\r\\n\\r\\n'));
    let d = ''; s.on('data', (b) => { d += b; }); s.on('end', () => { console.log(d.includes('from-container') ? 'REACHED' : 'closed'); process.exit(0); });
    s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); }); setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000);`], { encoding: 'utf8' });
  assert.equal(probe.stdout.trim(), 'timeout', probe.stderr);
  await ok(['stop', '-t', '1', 'lopub']);
  await waitFor(async () => rules().length === 0, 10_000, 'the raw rule gone with the ports');
  await ok(['rm', 'lopub']);
});

test('network disconnect of the network carrying the ports frees them; a network connect then publishes them again (dockerd gives them to the new gateway)', async () => {
  const p = await freeBoth();
  await ok(['run', '-d', '--name', 'dc', '-p', `${p}:80`, ...WEB]);
  await served(p);
  await ok(['network', 'disconnect', 'bridge', 'dc']);
  await freed(() => canListen(p), 'free once the network carrying them is left');
  assert.equal(await ok(['port', 'dc']), '');
  await ok(['network', 'connect', 'bridge', 'dc']);
  assert.equal(await canListen(p), false, 'held again');
  await served(p);
  assert.equal((await ok(['port', 'dc'])).trim(), `80/tcp -> 0.0.0.0:${p}`);
  await ok(['rm', '-f', 'dc']);
  await freed(() => canListen(p), 'free after rm');
});

test('a port a host program holds refuses the start in dockerd 29\'s words; the ports bound before it are free again', async () => {
  const [first, busy] = [await freeBoth(), await freeBoth()];
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(busy, '0.0.0.0', () => r()));
  try {
    const r = await docker(d, ['run', '-d', '--name', 'occ', '-p', `${first}:80`, '-p', `${busy}:81`, 'busybox', 'sleep', '60']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp('Error response from daemon: failed to set up container networking: driver failed programming external connectivity '
      + `on endpoint occ \\([0-9a-f]{64}\\): failed to bind host port 0\\.0\\.0\\.0:${busy}/tcp: address already in use`));
    assert.equal(await canListen(first), true, 'the binding before the refused one');
    assert.equal((await ok(['inspect', '-f', '{{.State.Status}}', 'occ'])).trim(), 'created');
  } finally {
    srv.close();
    await docker(d, ['rm', '-f', 'occ']);
  }
});

test('a port another container holds: dockerd\'s "port is already allocated" with the endpoint named', async () => {
  const p = await freeBoth();
  await ok(['run', '-d', '--name', 'own', '-p', `${p}:80`, 'busybox', 'sleep', '60']);
  try {
    const r = await docker(d, ['run', '-d', '--name', 'dup', '-p', `127.0.0.1:${p}:80`, 'busybox', 'sleep', '60']);
    assert.equal(r.code, 125);
    assert.match(r.stderr, new RegExp('Error response from daemon: failed to set up container networking: driver failed programming external connectivity '
      + `on endpoint dup \\([0-9a-f]{64}\\): Bind for 0\\.0\\.0\\.0:${p} failed: port is already allocated`));
  } finally {
    await docker(d, ['rm', '-f', 'own', 'dup']);
  }
});

test('a container just stopped gives its ports to the next one at once (compose\'s recreate: stop, then start the new one)', async () => {
  const p = await freeBoth();
  try {
    for (let i = 0; i < 5; i++) {
      await ok(['run', '-d', '--name', `re${i}`, '-p', `${p}:80`, ...WEB]);
      await served(p);
      await ok(['stop', '-t', '0', `re${i}`]);
    }
  } finally {
    await docker(d, ['rm', '-f', ...[0, 1, 2, 3, 4].map((i) => `re${i}`)]);
  }
  await freed(() => canListen(p), 'free after the last one');
});

test('-p 80 twice: consecutive host ports (dockerd\'s PortAllocator), from the ephemeral range', async (t) => {
  const [lo, hi] = (await fs.readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number) as [number, number];
  const port = async (name: string) => Number((await ok(['port', name, '80'])).trim().split(':').pop());
  try {
    await ok(['run', '-d', '--name', 'seq1', '-p', '80', 'busybox', 'sleep', '60']);
    await ok(['run', '-d', '--name', 'seq2', '-p', '80', 'busybox', 'sleep', '60']);
    const [a, b] = [await port('seq1'), await port('seq2')];
    t.diagnostic(`-p 80: ${a}, then ${b}`);
    assert.ok(a >= lo && a <= hi && b >= lo && b <= hi, `${a} ${b} in ${lo}-${hi}`);
    // the next one, unless a host program had the ports between (skipped as dockerd does)
    const expected = a === hi ? lo : a + 1;
    if (b !== expected) {
      for (let x = expected; x !== b; x = x === hi ? lo : x + 1) assert.equal(await canListen(x), false, `${x} was skipped though free`);
    }
    assert.ok(b === expected || b > a, `${a} then ${b}`);
  } finally {
    await docker(d, ['rm', '-f', 'seq1', 'seq2']);
  }
});

test('a restarted tsulad takes the ports of the running containers again; they are freed at the container\'s stop', async () => {
  const [p, u] = [await freeBoth(), await freeBoth()];
  await ok(['run', '-d', '--name', 'across', '-p', `${p}:80`, '-p', `${u}:53/udp`, ...WEB]);
  await served(p);
  assert.equal(await canListen(p), false);
  await d.stop('SIGTERM');
  // tsulad's exit left the sockets to the kernel: the container runs on, its DNAT serves
  assert.equal(await canListen(p), true, 'while tsulad is down');
  assert.match(await httpGet(p), /from-container/);
  await d.start();
  assert.equal(await canListen(p), false, 'tcp taken again at restore');
  assert.equal(await canBindUdp(u), false, 'udp taken again at restore');
  assert.match(await httpGet(p), /from-container/);
  await ok(['stop', '-t', '1', 'across']);
  await freed(() => canListen(p), 'tcp free after the stop');
  await freed(() => canBindUdp(u), 'udp free after the stop');
  await ok(['rm', 'across']);
});

/** tsulad's open sockets (fds that are sockets). */
function sockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch { /* closed meanwhile */ }
  }
  return n;
}

test('50 run/rm with -p leave tsulad no socket more', { timeout: 600_000 }, async (t) => {
  const pid = d.proc!.pid!;
  // one round first: whatever tsulad opens once (plugins' first run, caches) is open before the count
  await ok(['run', '-d', '--name', 'warm', '-p', '80', '-p', '53/udp', 'busybox', 'sleep', '60']);
  await ok(['rm', '-f', 'warm']);
  const before = sockets(pid);
  for (let i = 0; i < 50; i++) {
    const name = `leak${i}`;
    // half removed running, half after their exit
    if (i % 2) {
      await ok(['run', '-d', '--name', name, '-p', '80', '-p', '53/udp', 'busybox', 'sleep', '60']);
    } else {
      await ok(['run', '--name', name, '-p', '80', '-p', '53/udp', 'busybox', 'true']);
    }
    await ok(['rm', '-f', name]);
  }
  const afterCount = await waitFor(async () => { const n = sockets(pid); return n <= before + 2 ? n : false; }, 10_000, `tsulad's sockets back to ${before}`).catch(() => sockets(pid));
  t.diagnostic(`tsulad's sockets: ${before} before, ${afterCount} after`);
  assert.ok(afterCount <= before + 2, `tsulad holds ${afterCount} sockets after 50 run/rm, ${before} before`);
});
