#!/usr/bin/env node
// The network of VM pods (kata's tcfilter model: a tap in the pod's netns, tc redirects, a
// virtio-net NIC without vhost), in numbers, through a private tsulad's CRI on a private CNI
// bridge (the test helpers' network: its own bridge, subnet and lease dir; /etc/cni untouched):
//  1. its share of a VM pod's start: the netns plumbing and the agent's ConfigureNetwork
//     (from the sandbox's record), against the whole `crictl runp -r vmm`;
//  2. the TCP round trip host -> pod: N small HTTP GETs (a new connection each) to busybox
//     httpd in a VM pod and in a runc pod of the same network, and N bare TCP connects (the
//     SYN/SYN-ACK: the guest kernel's answer alone, no process in the guest; under TCG an
//     httpd that forks per connection costs the guest far more than the path does).
//   node bench/vmm-net.mjs [--gets 100]        (bench/vmm.mjs runs it too, unless --no-net)
// (root; after npm run build; guest assets in TSULA_GUEST_DIR, default /var/lib/tsula/guest)
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs, closeSync, openSync, readFileSync, realpathSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

function get(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c) => { body += c; });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
  });
}

/** ms per GET (a new TCP connection each), after the server answers once. */
async function roundTrips(url, n) {
  for (let i = 0; ; i++) {
    if ((await get(url).catch(() => '')) === 'bench\n') break;
    if (i > 300) throw new Error(`${url}: no answer from httpd`);
    await sleep(100);
  }
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    if ((await get(url)) !== 'bench\n') throw new Error(`${url}: wrong answer`);
    ms.push(now() - t);
  }
  return ms;
}

/** ms per TCP handshake (connect, then close). */
async function connects(ip, n) {
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t = now();
    await new Promise((resolve, reject) => {
      const s = net.connect({ host: ip, port: 80 }, () => { ms.push(now() - t); s.destroy(); resolve(); });
      s.on('error', reject);
    });
  }
  return ms;
}

/**
 * o.dir: a temp dir of the caller's (files go under dir/net); o.env: the sandboxer tsulad
 * uses (TSULA_SANDBOXER_STATE/ADDRESS, TSULA_VMM_CONFIG). Returns the lines it printed.
 */
export async function netBench(o) {
  const gets = o.gets ?? 100;
  const { createTestNet } = await import(path.join(DIST, 'test/helpers/network.js'));
  const { crictlPath } = await import(path.join(DIST, 'test/helpers/crictl.js'));
  const base = path.join(o.dir, 'net');
  await fs.mkdir(base, { recursive: true });
  const tn = await createTestNet('bench');
  const cri = path.join(base, 'cri.sock');
  const crictl = (...a) => {
    const r = spawnSync(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${cri}`, '--image-endpoint', `unix://${cri}`, '--timeout', '240s', ...a], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`crictl ${a.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await fs.writeFile(path.join(base, 'daemon.json'), JSON.stringify({ 'cni-conf-dir': tn.confDir }));
  const log = openSync(path.join(base, 'tsulad.log'), 'a');
  const host = `unix://${path.join(base, 'tsulad.sock')}`;
  const d = spawn(path.join(ROOT, 'bin/tsulad'), ['-H', host, '--graph', path.join(base, 'graph'), '--state', path.join(base, 'state'),
    '--cri-socket', `unix://${cri}`, '--config-file', path.join(base, 'daemon.json')], { stdio: ['ignore', log, log], env: { ...process.env, ...o.env } });
  closeSync(log);
  const lines = [];
  const say = (l) => { lines.push(l); console.log(l); };
  const pods = [];
  try {
    const cli = (...a) => spawnSync(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), '-H', host, ...a], { encoding: 'utf8' });
    for (let i = 0; i < 200 && cli('version').status !== 0; i++) await sleep(50);
    const load = cli('load', '-i', path.join(ROOT, 'build/images/busybox.tar'));
    if (load.status !== 0) throw new Error(`tsula load: ${load.stderr}`);
    const ctr = path.join(base, 'httpd.json');
    await fs.writeFile(ctr, JSON.stringify({ metadata: { name: 'httpd' }, image: { image: 'busybox' },
      command: ['sh', '-c', 'echo bench > /tmp/index.html; exec httpd -f -p 80 -h /tmp'] }));
    const pod = async (name, handler) => {
      const cfg = path.join(base, `${name}.json`);
      await fs.writeFile(cfg, JSON.stringify({ metadata: { name, namespace: 'bench', uid: name }, hostname: name, linux: {} }));
      const t = now();
      const id = crictl('runp', ...(handler ? ['-r', handler] : []), cfg);
      const ms = now() - t;
      pods.push(id);
      crictl('start', crictl('create', id, ctr, cfg));
      return { id, ms, ip: JSON.parse(crictl('inspectp', id)).status.network.ip };
    };
    say(`\nnetwork of VM pods (tcfilter: tap + tc mirred, virtio-net, vhost off), bridge ${tn.bridge} ${tn.subnet}`);
    const vm = await pod('vmnet', 'vmm');
    const rec = JSON.parse(readFileSync(path.join(o.env.TSULA_SANDBOXER_STATE, 'sandboxes', `${vm.id}.json`), 'utf8'));
    const n = rec.kindState.network ?? { plumbMs: NaN, configureMs: NaN };
    const share = n.plumbMs + n.configureMs;
    say(`  VM pod start (crictl runp -r vmm): ${vm.ms.toFixed(0)} ms, of which netns plumbing ${n.plumbMs} ms + agent ConfigureNetwork ${n.configureMs} ms` +
      ` = ${share} ms (${(100 * share / vm.ms).toFixed(1)}%); qemu spawn -> agent answers ${rec.kindState.readyMs} ms`);
    const runc = await pod('runcnet', '');
    say(`  runc pod start (crictl runp): ${runc.ms.toFixed(0)} ms (CNI ADD included)`);
    const v = await roundTrips(`http://${vm.ip}/index.html`, gets);
    const r = await roundTrips(`http://${runc.ip}/index.html`, gets);
    const row = (label, xs) => say(`  ${label.padEnd(34)} median ${median(xs).toFixed(2).padStart(7)} ms   p90 ${pct(xs, 0.9).toFixed(2).padStart(7)} ms   max ${Math.max(...xs).toFixed(2).padStart(7)} ms`);
    say(`  ${gets} HTTP GETs host -> pod, a TCP connection each:`);
    row(`VM pod (${vm.ip})`, v);
    row(`runc pod (${runc.ip})`, r);
    say(`  ${gets} TCP connects host -> pod (handshake only):`);
    const vc = await connects(vm.ip, gets);
    const rc = await connects(runc.ip, gets);
    row(`VM pod`, vc);
    row(`runc pod`, rc);
    say(`  VM/runc: HTTP GET ${(median(v) / median(r)).toFixed(1)}x, TCP handshake ${(median(vc) / median(rc)).toFixed(1)}x` +
      ` (the VM's packets cross two tc redirects, the tap and QEMU's userspace virtio-net; under TCG the guest's own CPU dominates)`);
  } finally {
    for (const id of pods) {
      spawnSync(crictlPath(), ['--config', '/dev/null', '--runtime-endpoint', `unix://${cri}`, '--timeout', '120s', 'rmp', '-f', id], { stdio: 'ignore' });
    }
    d.kill('SIGTERM');
    await sleep(500);
    await tn.destroy().catch((e) => console.error(`network clean-up: ${e.message}`));
  }
  return lines;
}

// standalone: its own temp dir, sandboxer (started by tsulad) and vmm.toml
if (realpathSync(process.argv[1] ?? '') === realpathSync(new URL(import.meta.url).pathname)) {
  if (process.getuid?.() !== 0) { console.error('bench/vmm-net.mjs: run as root'); process.exit(2); }
  const i = process.argv.indexOf('--gets');
  const gets = i > 0 ? Number(process.argv[i + 1]) : 100;
  const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
  const dir = await fs.mkdtemp('/tmp/tvnb-');
  await fs.writeFile(path.join(dir, 'vmm.toml'), `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 300\n`);
  const env = { TSULA_SANDBOXER_STATE: path.join(dir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'), TSULA_VMM_CONFIG: path.join(dir, 'vmm.toml') };
  try {
    await netBench({ dir, gets, env });
  } finally {
    const { killSandboxerLeftovers } = await import(path.join(DIST, 'test/helpers/cleanup.js'));
    await killSandboxerLeftovers(dir);
    await fs.rm(dir, { recursive: true, force: true });
  }
}
