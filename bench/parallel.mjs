#!/usr/bin/env node
// P containers at once: P concurrent `tsula run --rm --network none busybox true` against a
// private tsulad, and P concurrent `ctr run --rm` against a private containerd 1.6 with its
// runc-v2 shim, in one run. Prints the wall time of each burst, per-run latency (mean, p50,
// p95), errors, the host's CPU and the daemon's own (tsulad; containerd) per run, and the
// ratio tsula/ctr; ctr also with `--seccomp` (containerd's default filter, which tsula
// applies by default as docker does, and ctr only when asked). Then both daemons' idle
// memory, before the bursts and after them (1 s after, and settled 8 s after).
//   node bench/parallel.mjs [P=100] [--rounds R=2]      (root; after scripts/install.sh)
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { promises as fs, existsSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { mem, procs, spawnWay } from './lib/proc.mjs';
import { removeCgroupParents } from './lib/cgroups.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const P = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--rounds') ?? 100);
// (without --rounds, indexOf is -1 and args[0], P, would be taken for R)
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) || 2 : 2;
const IMAGE = 'docker.io/library/busybox:latest';
const dir = await fs.mkdtemp('/tmp/tsula-par-');
const sock = path.join(dir, 'c.sock');
const host = `unix://${path.join(dir, 'tsulad.sock')}`;
const env = { ...process.env, PATH: `${path.join(ROOT, 'bin')}:${process.env.PATH}` };
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tsulaArgv = (...a) => [path.join(ROOT, 'bin/tsula'), '-H', host, ...a]; // as users start it
const ctrArgv = (...a) => ['ctr', '-a', sock, '-n', 'bpar', ...a];

/** Run argv, resolve {ms, code, err}. */
function timed(argv) {
  const t0 = now();
  return new Promise((resolve) => {
    const p = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => resolve({ ms: now() - t0, code, err: err.trim().split('\n').pop() }));
  });
}

/** The host's CPU time so far (ms): user and system, from /proc/stat (the host is otherwise idle). */
function hostCpu() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const tick = 1000 / 100; // USER_HZ
  return { user: (f[0] + f[1]) * tick, system: (f[2] + f[5] + f[6]) * tick };
}

/** A process's own CPU time so far (ms): utime + stime from /proc/PID/stat. */
function procCpu(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10; // utime, stime: fields 14 and 15
  } catch { return 0; }
}

async function burst(name, make, daemonPid) {
  const c0 = hostCpu();
  const d0 = procCpu(daemonPid);
  const t0 = now();
  const rs = await Promise.all(Array.from({ length: P }, (_, i) => timed(make(i))));
  const wall = now() - t0;
  const c1 = hostCpu();
  const cpu = { user: (c1.user - c0.user) / P, system: (c1.system - c0.system) / P, daemon: (procCpu(daemonPid) - d0) / P };
  const lat = rs.map((r) => r.ms).sort((a, b) => a - b);
  const errors = rs.filter((r) => r.code !== 0);
  return { name, wall, mean: lat.reduce((a, b) => a + b, 0) / P, p50: lat[Math.floor(P / 2)], p95: lat[Math.floor(P * 0.95)], errors, cpu };
}

let daemon;
let containerd;
try {
  if (!existsSync(path.join(ROOT, 'build/images/busybox.tar'))) execFileSync(path.join(ROOT, 'scripts/build-busybox-image.sh'), [path.join(ROOT, 'build/images')]);
  const dlog = openSync(path.join(dir, 'tsulad.log'), 'a');
  daemon = spawn(path.join(ROOT, 'bin/tsulad'), ['-H', host, '--graph', path.join(dir, 'graph'), '--state', path.join(dir, 'state'),
    '--cri-socket', `unix://${path.join(dir, 'cri.sock')}`, '--config-file', '/dev/null'], { stdio: ['ignore', dlog, dlog] });
  for (let i = 0; i < 200 && spawnSync(tsulaArgv('version')[0], tsulaArgv('version').slice(1)).status !== 0; i++) await sleep(50);
  if (spawnSync(tsulaArgv()[0], [...tsulaArgv().slice(1), 'load', '-q', '-i', path.join(ROOT, 'build/images/busybox.tar')]).status !== 0) throw new Error('tsula load failed');

  await fs.writeFile(path.join(dir, 'config.toml'), `version = 2\nroot = "${dir}/root"\nstate = "${dir}/cstate"\n` +
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n[grpc]\n  address = "${sock}"\n[ttrpc]\n  address = "${sock}.ttrpc"\n`);
  const clog = openSync(path.join(dir, 'containerd.log'), 'a');
  containerd = spawn('containerd', ['--config', path.join(dir, 'config.toml')], { stdio: ['ignore', clog, clog], env, detached: true });
  for (let i = 0; i < 200 && !existsSync(sock); i++) await sleep(50);
  const imp = spawnSync(ctrArgv()[0], [...ctrArgv().slice(1), 'images', 'import', path.join(ROOT, 'build/images/busybox.tar')], { encoding: 'utf8' });
  if (imp.status !== 0) throw new Error(`ctr import failed: ${imp.stderr}`);

  // warm both (page cache, tsula's lazy modules)
  await timed(tsulaArgv('run', '--rm', '--network', 'none', 'busybox', 'true'));
  await timed(ctrArgv('run', '--rm', IMAGE, 'warm', 'true'));

  // idle memory, both daemons at the same point: an image loaded and one container run
  await sleep(1000);
  const idle = { tsulad: mem(daemon.pid), containerd: mem(containerd.pid) };
  // and settled: past tsulad's collection once a busy spell is over (src/common/idle-gc.ts)
  await sleep(7000);
  const settled = { tsulad: mem(daemon.pid), containerd: mem(containerd.pid) };

  const rows = [];
  for (let r = 0; r < ROUNDS; r++) {
    rows.push(await burst('tsula', () => tsulaArgv('run', '--rm', '--network', 'none', 'busybox', 'true'), daemon.pid));
    rows.push(await burst('ctr', (i) => ctrArgv('run', '--rm', IMAGE, `r${r}c${i}`, 'true'), containerd.pid));
    // ctr runs without a seccomp filter unless asked; tsula (as docker) applies its default one
    rows.push(await burst('ctr+sec', (i) => ctrArgv('run', '--rm', '--seccomp', IMAGE, `r${r}s${i}`, 'true'), containerd.pid));
  }
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${P} runs at once, ${ROUNDS} rounds (${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} CPUs; tsulad starts host tools by ${spawnWay(daemon.pid)})`);
  console.log(`${'who'.padEnd(8)}${pad('wall', 10)}${pad('mean', 10)}${pad('p50', 10)}${pad('p95', 10)}${pad('errors', 8)}${pad('host CPU/run (user+sys)', 26)}${pad('daemon CPU/run', 16)}`);
  for (const x of rows) {
    console.log(x.name.padEnd(8) + pad(`${(x.wall / 1000).toFixed(2)} s`, 10) + pad(`${x.mean.toFixed(0)} ms`, 10) + pad(`${x.p50.toFixed(0)} ms`, 10)
      + pad(`${x.p95.toFixed(0)} ms`, 10) + pad(x.errors.length, 8)
      + pad(`${(x.cpu.user + x.cpu.system).toFixed(0)} ms (${x.cpu.user.toFixed(0)}+${x.cpu.system.toFixed(0)})`, 26)
      + pad(`${x.cpu.daemon.toFixed(0)} ms`, 16));
    for (const e of x.errors.slice(0, 3)) console.log(`    error (exit ${e.code}): ${e.err}`);
  }
  const best = (who) => Math.min(...rows.filter((x) => x.name === who).map((x) => x.wall));
  console.log(`best wall: tsula/ctr ${(best('tsula') / best('ctr')).toFixed(2)}x; tsula/(ctr --seccomp, the same default filter) ${(best('tsula') / best('ctr+sec')).toFixed(2)}x`);
  await sleep(1000);
  const after = { tsulad: mem(daemon.pid), containerd: mem(containerd.pid) };
  await sleep(7000);
  const afterSettled = { tsulad: mem(daemon.pid), containerd: mem(containerd.pid) };
  const mb = (m) => `${(m.rss / 1024).toFixed(1)} MB RSS (${(m.pss / 1024).toFixed(1)} PSS)`;
  console.log(`idle, an image loaded and one run: tsulad ${mb(idle.tsulad)}, containerd ${mb(idle.containerd)}: tsulad/containerd ${(idle.tsulad.rss / idle.containerd.rss).toFixed(2)}x RSS`);
  console.log(`  the same, 8 s later:              tsulad ${mb(settled.tsulad)}, containerd ${mb(settled.containerd)}: tsulad/containerd ${(settled.tsulad.rss / settled.containerd.rss).toFixed(2)}x RSS`);
  console.log(`idle after the bursts:             tsulad ${mb(after.tsulad)}, containerd ${mb(after.containerd)}: tsulad/containerd ${(after.tsulad.rss / after.containerd.rss).toFixed(2)}x RSS`);
  console.log(`  the same, 8 s later:              tsulad ${mb(afterSettled.tsulad)}, containerd ${mb(afterSettled.containerd)}: tsulad/containerd ${(afterSettled.tsulad.rss / afterSettled.containerd.rss).toFixed(2)}x RSS`);
  const left = spawnSync(tsulaArgv()[0], [...tsulaArgv().slice(1), 'ps', '-aq'], { encoding: 'utf8' }).stdout.trim();
  if (left) console.log(`containers left in tsulad (should be none): ${left.split('\n').length}`);
} finally {
  daemon?.kill('SIGKILL');
  containerd?.kill('SIGKILL');
  for (const { pid, argv } of procs()) {
    const a = argv.join(' ');
    if (pid !== process.pid && (a.includes(dir) || (path.basename(argv[0]) === 'containerd-shim-runc-v2' && a.includes('-namespace bpar') && a.includes(sock)))) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  const ids = spawnSync('runc', ['--root', '/run/containerd/runc/bpar', 'list', '-q'], { encoding: 'utf8' }).stdout?.split('\n').filter(Boolean) ?? [];
  for (const id of ids) spawnSync('runc', ['--root', '/run/containerd/runc/bpar', 'delete', '--force', id]);
  const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  removeCgroupParents('bpar');
}
