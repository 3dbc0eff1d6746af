#!/usr/bin/env node
// Pods through stock containerd 1.6: containerd-shim-runc-v2 (one shim per pod) versus
// containerd-shim-tsula-v2 (one tsula-sandboxer for all pods, conmon per container), in
// one run against one private containerd. "tsula-sh" is the same sandboxer reached through
// bin/containerd-shim-tsula-v2-fast (the launcher's `start` hot path in sh, no Node).
//   node bench/pods.mjs [N1,N2,...]     (root; default 1,10,20; after npm run build)
// Prints per N: mean/p50 `ctr run -d` latency per pod, and the summed RSS and PSS
// (/proc/PID/smaps_rollup) of every shim / sandboxer / conmon process; then the per-pod
// slope of memory between the smallest and largest N.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { promises as fs, existsSync, openSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { removeCgroupParents } from './lib/cgroups.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const NS = (process.argv[2] ?? '1,10,20').split(',').map(Number);
const IMAGE = 'docker.io/library/busybox:latest';
const dir = await fs.mkdtemp('/tmp/tpb-');
const sock = path.join(dir, 'c.sock');
const VARIANTS = [['runc', 'brunc', 'io.containerd.runc.v2'], ['tsula', 'btsula', 'io.containerd.tsula.v2'], ['tsula-sh', 'btsulash', 'io.containerd.tsulafast.v2']];
const env = {
  ...process.env,
  PATH: [path.join(dir, 'bin'), path.join(ROOT, 'bin'), '/usr/local/sbin', '/usr/sbin', '/sbin', process.env.PATH].join(':'),
  TSULA_SANDBOXER_STATE: path.join(dir, 'sb'),
  TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'),
};
const now = () => Number(process.hrtime.bigint()) / 1e6;
const stats = (xs) => { const s = [...xs].sort((a, b) => a - b); return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: s[Math.floor(s.length / 2)] }; };
const ctr = (ns, ...args) => spawnSync('ctr', ['-a', sock, '-n', ns, ...args], { encoding: 'utf8', env });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function kb(file, re) {
  try { return Number(re.exec(readFileSync(file, 'utf8'))[1]); } catch { return 0; }
}
function procs() {
  const out = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try { out.push({ pid: Number(p), argv: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0') }); } catch { /* gone */ }
  }
  return out;
}
/** What each runtime adds on the host per pod: its shims, its sandboxer, its monitors. */
function managementProcs(runtime, ns) {
  return procs().filter(({ argv }) => {
    const a = argv.join(' ');
    if (runtime === 'runc') return path.basename(argv[0]) === 'containerd-shim-runc-v2' && a.includes(`-namespace ${ns}`);
    return (a.includes('tsula-sandboxer') && a.includes(dir)) || (path.basename(argv[0]) === 'conmon' && a.includes(dir));
  });
}
function memory(runtime, ns) {
  const ps = managementProcs(runtime, ns);
  let rss = 0;
  let pss = 0;
  for (const { pid } of ps) {
    rss += kb(`/proc/${pid}/status`, /VmRSS:\s+(\d+)/);
    pss += kb(`/proc/${pid}/smaps_rollup`, /Pss:\s+(\d+)/);
  }
  return { procs: ps.length, rss: rss / 1024, pss: pss / 1024 };
}

let containerd;
const rows = [];
try {
  if (!existsSync(path.join(ROOT, 'build/images/busybox.tar'))) execFileSync(path.join(ROOT, 'scripts/build-busybox-image.sh'), [path.join(ROOT, 'build/images')]);
  await fs.mkdir(path.join(dir, 'bin'));
  await fs.symlink(path.join(ROOT, 'bin/containerd-shim-tsula-v2-fast'), path.join(dir, 'bin/containerd-shim-tsulafast-v2'));
  await fs.writeFile(path.join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/state"\n` +
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${sock}"\n[ttrpc]\n  address = "${sock}.ttrpc"\n`);
  const log = openSync(path.join(dir, 'containerd.log'), 'a');
  containerd = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', log, log], env, detached: true });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await sleep(50);
  for (const [, ns] of VARIANTS) {
    if (ctr(ns, 'images', 'import', path.join(ROOT, 'build/images/busybox.tar')).status !== 0) throw new Error('image import failed');
  }
  // warm both paths once (tsula: starts the sandboxer; both: page cache)
  for (const [runtime, ns, rt] of VARIANTS) {
    const r = ctr(ns, 'run', '--rm', '--runtime', rt, IMAGE, 'warm', 'true');
    if (r.status !== 0) throw new Error(`${runtime} warm-up failed: ${r.stderr}`);
  }
  for (const n of NS) {
    for (const [runtime, ns, rt] of VARIANTS) {
      const lat = [];
      for (let i = 0; i < n; i++) {
        const t0 = now();
        const r = ctr(ns, 'run', '-d', '--runtime', rt, IMAGE, `p${i}`, 'sleep', '100000');
        lat.push(now() - t0);
        if (r.status !== 0) throw new Error(`${runtime} pod ${i}: ${r.stderr}`);
      }
      await sleep(1000);
      const m = memory(runtime, ns);
      rows.push({ runtime, n, ...stats(lat), ...m });
      for (let i = 0; i < n; i++) {
        ctr(ns, 'task', 'kill', '-s', 'SIGKILL', `p${i}`);
        ctr(ns, 'task', 'rm', '-f', `p${i}`);
        ctr(ns, 'containers', 'rm', `p${i}`);
      }
    }
  }
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${'runtime'.padEnd(9)}${pad('pods', 6)}${pad('start mean', 12)}${pad('p50', 10)}${pad('procs', 7)}${pad('RSS MB', 9)}${pad('PSS MB', 9)}${pad('RSS/pod', 9)}${pad('PSS/pod', 9)}`);
  for (const r of rows) {
    console.log(r.runtime.padEnd(9) + pad(r.n, 6) + pad(r.mean.toFixed(1) + ' ms', 12) + pad(r.p50.toFixed(1) + ' ms', 10) + pad(r.procs, 7)
      + pad(r.rss.toFixed(1), 9) + pad(r.pss.toFixed(1), 9) + pad((r.rss / r.n).toFixed(2), 9) + pad((r.pss / r.n).toFixed(2), 9));
  }
  const lo = Math.min(...NS);
  const hi = Math.max(...NS);
  if (hi > lo) {
    console.log(`\nper-pod slope between ${lo} and ${hi} pods (memory each extra pod adds):`);
    const slope = {};
    for (const [runtime] of VARIANTS) {
      const a = rows.find((r) => r.runtime === runtime && r.n === lo);
      const b = rows.find((r) => r.runtime === runtime && r.n === hi);
      slope[runtime] = { rss: (b.rss - a.rss) / (hi - lo), pss: (b.pss - a.pss) / (hi - lo) };
      console.log(`  ${runtime.padEnd(6)} RSS ${slope[runtime].rss.toFixed(2)} MB/pod   PSS ${slope[runtime].pss.toFixed(2)} MB/pod`);
    }
    console.log(`  tsula/runc-v2: RSS ${(slope.tsula.rss / slope.runc.rss).toFixed(2)}x   PSS ${(slope.tsula.pss / slope.runc.pss).toFixed(2)}x`);
    const mean = (rt) => stats(rows.filter((r) => r.runtime === rt).map((r) => r.mean)).mean;
    console.log(`start latency vs runc-v2 (mean over N): tsula ${(mean('tsula') / mean('runc')).toFixed(2)}x, tsula-sh ${(mean('tsula-sh') / mean('runc')).toFixed(2)}x`);
  }
} finally {
  containerd?.kill('SIGKILL');
  // everything this run started names dir in its argv; runc-v2 shims name the namespace
  for (const { pid, argv } of procs()) {
    const a = argv.join(' ');
    if (pid !== process.pid && (a.includes(dir) || (path.basename(argv[0]) === 'containerd-shim-runc-v2' && /-namespace b(runc|tsula|tsulash)/.test(a) && a.includes(sock)))) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  for (const root of [path.join(dir, 'sb/runc/root'), '/run/containerd/runc/brunc']) {
    const ids = spawnSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
    for (const id of ids) spawnSync('runc', ['--root', root, 'delete', '--force', id]);
  }
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  removeCgroupParents(...VARIANTS.map(([, ns]) => ns));
}
