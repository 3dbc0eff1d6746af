#!/usr/bin/env node
// Container start latency and memory: tsula side by side with bare runc, in one run.
//   node bench/engine.mjs [N]      (root; after scripts/install.sh or scripts/deps.sh)
// Prints: N sequential `tsula run --rm busybox true` vs N `runc run` of an equivalent bundle
// (both with a network namespace of their own holding only lo: `--network none`; the engine
// API is also timed on docker's default bridge network, which adds a CNI ADD and DEL per run,
// on a bridge of the bench's own, tsbench0, removed at the end),
// the engine's own latency (API create→start→wait→delete, without the CLI's start-up), the
// runc floor under it (runc given tsula's own spec: one `runc run`, and create/start/delete
// split as the engine must split them),
// tsulad's idle RSS and the RSS each running container adds on the host.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { promises as fs, existsSync, openSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { mem, spawnWay } from './lib/proc.mjs';
import { removeCgroupParents } from './lib/cgroups.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const N = Number(process.argv[2] ?? 20);
const K = 10; // containers held running for the memory figure
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-bench-'));
const sock = path.join(dir, 'tsulad.sock');
const host = `unix://${sock}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const stats = (xs) => { const s = [...xs].sort((a, b) => a - b); return { mean: s.reduce((a, b) => a + b, 0) / s.length, p50: s[Math.floor(s.length / 2)] }; };
const noExtraCa = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
const fmt = (ms) => `${ms.toFixed(1)} ms`;

/** user + sys CPU of this process's waited-for children so far (/proc/self/stat, 100 Hz ticks). */
function childCpuMs() {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 on (state)
  return (Number(f[13]) + Number(f[14])) * 10; // cutime, cstime: fields 16 and 17
}
/** RSS split into file-backed pages (the node binary, its libraries) and anonymous ones. */
function rssParts(pid) {
  const m = mem(pid);
  return { rss: m.rss, anon: m.anon, file: m.rss - m.anon - m.shmem };
}
/** The floor under tsulad's idle RSS: node with tsulad's V8 flags serving HTTP on a unix socket, nothing else. */
async function bareNodeServerRss() {
  const flags = readFileSync(path.join(ROOT, 'bin/tsulad'), 'utf8').split('\n')[0].replace(/^.* node\s+/, '').split(/\s+/).filter(Boolean);
  const s = path.join(dir, 'bare-node.sock');
  // without NODE_EXTRA_CA_CERTS, as bin/tsulad starts node (src/common/v8-flags.ts)
  const child = spawn(process.execPath, [...flags, '-e', `require('http').createServer((q, r) => r.end('ok')).listen(${JSON.stringify(s)})`], { stdio: 'ignore', env: noExtraCa });
  try {
    for (let i = 0; i < 100 && !existsSync(s); i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1000));
    return rssParts(child.pid);
  } finally {
    child.kill('SIGKILL');
  }
}
function procs(match) {
  return execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter(Boolean)
    .map((l) => ({ pid: Number(l.split(/\s+/)[0]), args: l.slice(l.indexOf(' ') + 1) })).filter((p) => match(p.args));
}
function api(method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p, headers: { 'Content-Type': 'application/json' } }, (res) => {
      let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ status: res.statusCode, body: d }));
    });
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}
// the CLI as users start it (bin/tsula: from its startup snapshot when that fits this host)
const tsula = (...args) => spawnSync(path.join(ROOT, 'bin/tsula'), ['-H', host, ...args], { encoding: 'utf8' });
const tsulaNoSnapshot = (...args) => spawnSync(path.join(ROOT, 'bin/tsula'), ['-H', host, ...args], { encoding: 'utf8', env: { ...process.env, TSULA_CLI_SNAPSHOT: '0' } });

const BENCH_BRIDGE = 'tsbench0';
let daemon;
try {
  if (!existsSync(path.join(ROOT, 'build/images/busybox.tar'))) execFileSync(path.join(ROOT, 'scripts/build-busybox-image.sh'), [path.join(ROOT, 'build/images')]);
  const log = openSync(path.join(dir, 'tsulad.log'), 'a');
  await fs.writeFile(path.join(dir, 'daemon.json'), JSON.stringify({ bridge: BENCH_BRIDGE }));
  daemon = spawn(path.join(ROOT, 'bin/tsulad'), ['-H', host, '--graph', path.join(dir, 'graph'), '--state', path.join(dir, 'state'), '--cri-socket', `unix://${path.join(dir, 'cri.sock')}`, '--config-file', path.join(dir, 'daemon.json'), '--log-level', 'debug'], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 200 && tsula('version').status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
  if (tsula('load', '-i', path.join(ROOT, 'build/images/busybox.tar')).status !== 0) throw new Error('load failed');
  await new Promise((r) => setTimeout(r, 1000));
  const idleRss = mem(daemon.pid).rss;
  const idleParts = rssParts(daemon.pid);
  // settled: past the daemon's collection once a busy spell is over (src/common/idle-gc.ts)
  await new Promise((r) => setTimeout(r, 7000));
  const settled = rssParts(daemon.pid);
  const bareNode = await bareNodeServerRss();

  // bare runc: the same busybox rootfs, runc's default spec, `true`
  const bundle = path.join(dir, 'bundle');
  await fs.mkdir(path.join(bundle, 'rootfs'), { recursive: true });
  execFileSync('tar', ['-xf', path.join(ROOT, 'build/images/busybox.tar'), '-C', dir]);
  const manifest = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'));
  for (const l of manifest[0].Layers) execFileSync('tar', ['-xf', path.join(dir, l), '-C', path.join(bundle, 'rootfs')]);
  execFileSync('runc', ['spec'], { cwd: bundle });
  const spec = JSON.parse(await fs.readFile(path.join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false; spec.process.args = ['true'];
  await fs.writeFile(path.join(bundle, 'config.json'), JSON.stringify(spec));
  const runcRoot = path.join(dir, 'runc-root');

  // wall time per run, and the CPU of the processes it ran (user + sys of waited-for children:
  // steadier than wall time on a busy host); several fns are run interleaved, so that a
  // slower minute of the host weighs on each alike
  const benchAll = (rows) => {
    const xs = rows.map(() => []), cpu = rows.map(() => 0);
    for (const [, fn] of rows) fn();
    for (let i = 0; i < N; i++) {
      rows.forEach(([, fn], j) => { const c = childCpuMs(), t = now(); fn(i); xs[j].push(now() - t); cpu[j] += childCpuMs() - c; });
    }
    return rows.map(([label], j) => ({ label, ...stats(xs[j]), cpu: cpu[j] / N }));
  };
  const bench = (label, fn) => benchAll([[label, fn]])[0];
  /** benchAll for rows of which some are async (an API run beside spawned programs) */
  const benchAllAsync = async (rows) => {
    const xs = rows.map(() => []), cpu = rows.map(() => 0);
    for (const [, fn] of rows) await fn();
    for (let i = 0; i < N; i++) {
      for (const [j, [, fn]] of rows.entries()) { const c = childCpuMs(), t = now(); await fn(i); xs[j].push(now() - t); cpu[j] += childCpuMs() - c; }
    }
    return rows.map(([label], j) => ({ label, ...stats(xs[j]), cpu: cpu[j] / N }));
  };
  const runcRes = bench('runc run (bare)', (i) => { const r = spawnSync('runc', ['--root', runcRoot, 'run', '--bundle', bundle, `b${i ?? 'w'}`]); if (r.status !== 0) throw new Error(String(r.stderr)); });
  /** create -> start -> wait -> rm over the API, once */
  const apiOnce = async (hostConfig = {}) => {
    const c = JSON.parse((await api('POST', '/v1.41/containers/create', { Image: 'busybox', Cmd: ['true'], HostConfig: { NetworkMode: 'none', ...hostConfig } })).body);
    const w = api('POST', `/v1.41/containers/${c.Id}/wait?condition=next-exit`);
    await api('POST', `/v1.41/containers/${c.Id}/start`);
    await w;
    await api('DELETE', `/v1.41/containers/${c.Id}`);
  };
  // the CLI, and what its own time is measured against (node's start, the engine's API),
  // interleaved: that difference is small beside the drift of a busy host between blocks
  const [cliRes, cliPlainRes, apiBeside, nodeRes] = await benchAllAsync([
    ['tsula run --rm --network none busybox true', () => { const r = tsula('run', '--rm', '--network', 'none', 'busybox', 'true'); if (r.status !== 0) throw new Error(r.stderr); }],
    ['  same, TSULA_CLI_SNAPSHOT=0', () => { const r = tsulaNoSnapshot('run', '--rm', '--network', 'none', 'busybox', 'true'); if (r.status !== 0) throw new Error(r.stderr); }],
    ['engine API (beside the CLI)', () => apiOnce()],
    // the CLI's floor is node as bin/tsula starts it: without NODE_EXTRA_CA_CERTS (it speaks no TLS)
    ['node -e 0 (CLI floor)', () => spawnSync(process.execPath, ['-e', '0'], { env: noExtraCa })],
  ]);
  const logFrom = (await fs.stat(path.join(dir, 'tsulad.log'))).size;
  /** create -> start -> wait -> rm over the API, N times (after one warm-up). */
  const apiRuns = async (label, hostConfig) => {
    const xs = [];
    for (let i = 0; i <= N; i++) {
      const t = now();
      await apiOnce(hostConfig);
      if (i > 0) xs.push(now() - t);
    }
    return { label, ...stats(xs) };
  };
  const apiRes = await apiRuns('engine API create+start+wait+rm', {});
  const phaseLog = (await fs.readFile(path.join(dir, 'tsulad.log'), 'utf8')).slice(logFrom);
  // runc's default spec has no seccomp filter; tsula applies docker's default profile
  const apiUnconfined = await apiRuns('  same, seccomp=unconfined', { SecurityOpt: ['seccomp=unconfined'] });
  const apiBridge = await apiRuns('  same, default bridge network', { NetworkMode: 'bridge' });
  const nodeCaRes = process.env.NODE_EXTRA_CA_CERTS ? bench('  same, with this NODE_EXTRA_CA_CERTS', () => spawnSync(process.execPath, ['-e', '0'])) : null;

  // the floor under the engine: runc itself, given tsula's own spec (docker's seccomp profile,
  // masked paths, its mounts), once as one `runc run` and once split as the engine must split it
  // (create, then start once the streams are attached, then delete after the exit)
  const sleeper = JSON.parse((await api('POST', '/v1.41/containers/create', { Image: 'busybox', Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'none' } })).body).Id;
  await api('POST', `/v1.41/containers/${sleeper}/start`);
  const own = JSON.parse(await fs.readFile(path.join(dir, 'state/containers', sleeper, 'config.json'), 'utf8'));
  const ownBundle = path.join(dir, 'own-bundle');
  await fs.mkdir(ownBundle, { recursive: true });
  const ownSpec = (i) => {
    own.root = { path: path.join(bundle, 'rootfs'), readonly: false };
    own.process.args = ['true']; own.process.terminal = false;
    own.linux.cgroupsPath = `/tsula-bench/${path.basename(dir)}-${i}`;
    own.linux.namespaces = own.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network' } : n));
    return fs.writeFile(path.join(ownBundle, 'config.json'), JSON.stringify(own));
  };
  const floor = async (label, split) => {
    const xs = [];
    for (let i = 0; i <= N; i++) {
      await ownSpec(i);
      const id = `o${i}`, rr = ['--root', runcRoot];
      const t = now();
      if (!split) spawnSync('runc', [...rr, 'run', '--bundle', ownBundle, id], { stdio: 'ignore' });
      else {
        const pidFile = path.join(ownBundle, 'pid');
        spawnSync('runc', [...rr, 'create', '--bundle', ownBundle, '--pid-file', pidFile, id], { stdio: 'ignore' });
        const pid = Number(await fs.readFile(pidFile, 'utf8'));
        spawnSync('runc', [...rr, 'start', id], { stdio: 'ignore' });
        while (existsSync(`/proc/${pid}/stat`) && !/\) Z /.test(await fs.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ') Z '))) await new Promise((r) => setTimeout(r, 1));
        spawnSync('runc', [...rr, 'delete', '-f', id], { stdio: 'ignore' });
      }
      if (i > 0) xs.push(now() - t);
    }
    return { label, ...stats(xs) };
  };
  const ownRun = await floor('runc run, tsula\'s spec', false);
  const ownSplit = await floor('  create+start+delete, same spec', true);
  await api('DELETE', `/v1.41/containers/${sleeper}?force=1`);

  console.log(`\nstart latency, N=${N} sequential runs (mean / p50)`);
  console.log(`  (tsulad starts host tools by ${spawnWay(daemon.pid)})`);
  for (const r of [runcRes, ownRun, ownSplit, cliRes, cliPlainRes, apiRes, apiUnconfined, apiBridge, nodeRes, nodeCaRes].filter(Boolean)) {
    console.log(`  ${r.label.padEnd(36)} ${fmt(r.mean).padStart(10)} ${fmt(r.p50).padStart(10)}   x${(r.mean / runcRes.mean).toFixed(2)} of runc${r.cpu === undefined ? '' : `   CPU ${fmt(r.cpu)}/run`}`);
  }

  // where the engine's time goes: tsulad's debug lines `phases op=... ms="name=ms ..."`
  const sums = new Map();
  for (const m of phaseLog.matchAll(/msg="phases" op="(\w+)" id="\w+" total=([\d.]+) ms="([^"]*)"/g)) {
    const op = sums.get(m[1]) ?? { n: 0, total: 0, phases: new Map() };
    op.n++; op.total += Number(m[2]);
    for (const kv of m[3].split(' ')) { const [k, v] = kv.split('='); op.phases.set(k, (op.phases.get(k) ?? 0) + Number(v)); }
    sums.set(m[1], op);
  }
  console.log(`  the engine's own time over the runc floor it must pay (API - split runc, same spec): ${fmt(apiRes.mean - ownSplit.mean)}`);
  console.log(`  the CLI's own time (run --rm - node -e 0 - engine API, the three interleaved; that API run took ${fmt(apiBeside.mean)}): ${fmt(cliRes.mean - nodeRes.mean - apiBeside.mean)}; without its snapshot: ${fmt(cliPlainRes.mean - nodeRes.mean - apiBeside.mean)}`);
  console.log(`\nengine phases (mean ms per container over the API runs; the rest of the API time is HTTP, waits and the exit's notice)`);
  for (const [op, v] of sums) {
    console.log(`  ${op.padEnd(8)} ${(v.total / v.n).toFixed(1).padStart(6)} ms: ${[...v.phases].map(([k, t]) => `${k} ${(t / v.n).toFixed(1)}`).join(', ')}`);
  }

  // memory: K running containers, against tsulad after the runs above (the modules a run
  // loads on first use are then in; what is left is what each container holds)
  const warmRss = mem(daemon.pid).rss;
  const ids = [];
  for (let i = 0; i < K; i++) ids.push(tsula('run', '-d', '--network', 'none', 'busybox', 'sleep', '600').stdout.trim());
  await new Promise((r) => setTimeout(r, 1000));
  const conmons = procs((a) => path.basename(a.split(' ')[0]) === 'conmon' && a.includes(dir));
  const conmonRss = conmons.reduce((s, p) => s + mem(p.pid).rss, 0);
  const conmonPss = conmons.reduce((s, p) => s + mem(p.pid).pss, 0);
  const busyRss = mem(daemon.pid).rss;
  console.log(`\nmemory`);
  console.log(`  tsulad idle RSS                      ${(idleRss / 1024).toFixed(1)} MB (${(idleParts.file / 1024).toFixed(1)} MB of files: node's binary and libraries; ${(idleParts.anon / 1024).toFixed(1)} MB anonymous), 1 s after a load`);
  console.log(`    settled, 8 s after it              ${(settled.rss / 1024).toFixed(1)} MB (${(settled.file / 1024).toFixed(1)} MB of files; ${(settled.anon / 1024).toFixed(1)} MB anonymous)`);
  console.log(`    a bare node HTTP server, same flags ${(bareNode.rss / 1024).toFixed(1)} MB (${(bareNode.file / 1024).toFixed(1)} MB of files; ${(bareNode.anon / 1024).toFixed(1)} MB anonymous)`);
  console.log(`  tsulad RSS after the runs            ${(warmRss / 1024).toFixed(1)} MB`);
  console.log(`  tsulad RSS with ${K} containers        ${(busyRss / 1024).toFixed(1)} MB (${((busyRss - warmRss) / 1024 / K).toFixed(2)} MB per container; GC makes this noisy)`);
  console.log(`  conmon per container                 ${(conmonRss / 1024 / conmons.length).toFixed(2)} MB RSS, ${(conmonPss / 1024 / conmons.length).toFixed(2)} MB PSS (${conmons.length} conmon)`);
  console.log(`  host RSS added per running container ${((conmonRss + Math.max(0, busyRss - warmRss)) / 1024 / K).toFixed(2)} MB (conmon + tsulad growth)`);
  tsula('rm', '-f', ...ids);
} finally {
  daemon?.kill('SIGKILL');
  // the bench network's bridge and its rules (src/engine/networks/firewall.ts)
  spawnSync('sh', ['-c', `ip link del ${BENCH_BRIDGE}; for t in 'mangle FORWARD ISO' 'filter FORWARD FWD' 'nat POSTROUTING NAT'; do set -- $t; while iptables -w -t $1 -D $2 -j TSULA-$3-${BENCH_BRIDGE}; do :; done; iptables -w -t $1 -F TSULA-$3-${BENCH_BRIDGE} && iptables -w -t $1 -X TSULA-$3-${BENCH_BRIDGE}; done`], { stdio: 'ignore' });
  removeCgroupParents('tsula-bench');
  spawnSync('sh', ['-c', `for m in $(grep ' ${dir}' /proc/self/mounts | cut -d' ' -f2 | sort -r); do umount -l $m; done`]);
  await fs.rm(dir, { recursive: true, force: true });
}
