#!/usr/bin/env node
// VM pods (sandbox kind "vmm") through one private tsula-sandboxer, side by side with a bare
// QEMU boot of the same guest, in one run.
//   node bench/vmm.mjs [--pods 1,5,10] [--boots 3] [--memory MiB] [--tb-size MiB] [--batch K] [--no-node] [--no-cli] [--no-net] [--no-template]
//   node bench/vmm.mjs --template [--boots 3] [--tb-size MiB]   VM templates (bench/vmm-template.mjs)
// --tb-size: vmm.toml's tcg_tb_size for tsula's VMs (the bare boot keeps QEMU's own)
// (root; after npm run build; guest assets in TSULA_GUEST_DIR, default /var/lib/tsula/guest)
// Prints:
//  1. start latency, median of --boots runs: a container (`echo ready`) in a new VM pod
//     through the Task API (Create with io.tsula.sandbox-kind=vmm, Start, first line on its
//     stdout FIFO), once with the guest agent started from its V8 startup snapshot (made for
//     this host's guest CPU first, if the cache lacks it) and once from its script
//     (agent_snapshot = false), versus QEMU with tsula's own command line (same kernel, initramfs,
//     rootfs.img, machine/cpu/memory, minus virtio-fs) whose initramfs gets a tiny
//     /bench-init appended (rdinit=): it prints a marker on the serial console and powers
//     off; and (unless --no-node) a second one that also mounts rootfs.img and runs
//     `node --jitless -e 0` from it, as the guest's /init does before the agent.
//  1a. (unless --no-template) the same pod from a VM template (enable_template = true): the
//     first pod boots and the template is made from it; then each pod is restored from it;
//     then taken from a VM cache of one (vm_cache_number = 1), full before each pod.
//  1b. (unless --no-net) the pod network (bench/vmm-net.mjs): the netns plumbing's and the
//     agent's ConfigureNetwork's share of a VM pod's start, and 100 HTTP GETs host -> VM pod
//     vs host -> runc pod, through a private tsulad's CRI on a private CNI bridge.
//  2. RSS/PSS (/proc/PID/smaps_rollup) of qemu and of virtiofsd (both its processes) per pod.
//  3. the sandboxer's RSS/PSS at each pod count (pods made in parallel batches) and what each
//     extra pod adds to it.
// Every qemu/virtiofsd it starts names its temp dir on its command line; all of them, the
// sandboxer and the temp dir go at the end, on errors and on Ctrl-C as well.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { promises as fs, constants as C, closeSync, existsSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { bareBooter, BARE_MARKERS, NODE_MARKERS } from './lib/bare-boot.mjs';
import { mem, memAvailableMb, procs } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist/src');
const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU_NAME = 'qemu-system-x86_64';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : def;
}
// --template: VM templates instead (bench/vmm-template.mjs)
if (process.argv.includes('--template')) {
  if (process.getuid?.() !== 0) { console.error('bench/vmm.mjs: run as root'); process.exit(2); }
  const { templateBench } = await import('./vmm-template.mjs');
  await templateBench({ boots: Number(arg('--boots', 3)), tbSize: arg('--tb-size') });
  process.exit(0);
}
const LEVELS = [...new Set(arg('--pods', '1,5,10').split(',').map(Number))].filter((n) => n > 0).sort((a, b) => a - b);
const BOOTS = Number(arg('--boots', 3));
const MEMORY = arg('--memory') ? Number(arg('--memory')) : undefined;
const TB_SIZE = arg('--tb-size');
const BATCH = Number(arg('--batch', os.cpus().length <= 2 ? 2 : 3));
const NODE_BASELINE = !process.argv.includes('--no-node');
// `tsula run --rm --runtime vmm` through a private tsulad, as a user types it
const CLI = !process.argv.includes('--no-cli');
const NET = !process.argv.includes('--no-net');
const TEMPLATE = !process.argv.includes('--no-template');
if (!LEVELS.length || !(BOOTS > 0) || !(BATCH > 0) || (MEMORY !== undefined && !(MEMORY >= 64))) {
  console.error('usage: node bench/vmm.mjs [--pods 1,5,10] [--boots 3] [--memory MiB] [--batch K] [--no-node] [--no-cli] [--no-net]');
  process.exit(2);
}
if (process.getuid?.() !== 0) { console.error('bench/vmm.mjs: run as root'); process.exit(2); }
const missing = [path.join(ROOT, 'build/tsula-sandboxer.mjs'), path.join(DIST, 'ttrpc/client.js'),
  `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (missing.length) { console.error(`bench/vmm.mjs: missing ${missing.join(', ')} (npm run build; scripts/build-guest.sh --image ${GUEST})`); process.exit(2); }

const { TtrpcClient } = await import(path.join(DIST, 'ttrpc/client.js'));
const { Task } = await import(path.join(DIST, 'gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js'));
const { detectAccel, loadVmmConfig } = await import(path.join(DIST, 'hypervisor/index.js'));
const { warmAgentSnapshot } = await import(path.join(DIST, 'sandboxer/kinds/vmm/warmup.js'));
// the busybox OCI bundles the tests use
const { busyboxBundle } = await import(path.join(DIST, '../test/helpers/sandboxer.js'));

const dir = await fs.mkdtemp('/tmp/tvb-'); // short: socket paths must stay under 108 bytes
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const pad = (s, w) => String(s).padStart(w);
const mb = (kb) => (kb / 1024).toFixed(1);

// ---- processes and memory ----
/** Ours: the program is `name` and its command line names our temp dir. */
const ours = (name) => procs().filter((p) => p.pid !== process.pid && path.basename(p.argv[0]) === name && p.argv.join(' ').includes(dir));

// ---- cleanup: synchronous, so it also runs from process.on('exit') ----
let sandboxer = null;
function killOurs() {
  for (const p of procs()) {
    if (p.pid !== process.pid && p.argv.join(' ').includes(dir)) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  }
}
function cleanupSync() {
  try { sandboxer?.kill('SIGKILL'); } catch { /* gone */ }
  killOurs();
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
    for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  } catch { /* nothing mounted */ }
  try { rmSync(dir, { recursive: true, force: true }); } catch { /* a busy mount: left for the user */ }
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => { console.error(`\n${sig}: cleaning up`); process.exit(130); });

// ---- VM pods through the sandboxer's Task API ----
// ---- tsula run, through a private tsulad that uses the bench's sandboxer ----
const tsulaHost = `unix://${path.join(dir, 'tsulad.sock')}`;
async function startTsulad() {
  const log = openSync(path.join(dir, 'tsulad.log'), 'a');
  const env = { ...process.env, TSULA_SANDBOXER_STATE: path.join(dir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'), TSULA_VMM_CONFIG: path.join(dir, 'vmm.toml') };
  const d = spawn(path.join(ROOT, 'bin/tsulad'), ['-H', tsulaHost, '--graph', path.join(dir, 'graph'), '--state', path.join(dir, 'state'), '--cri-socket', `unix://${path.join(dir, 'cri.sock')}`, '--config-file', '/dev/null'],
    { stdio: ['ignore', log, log], env });
  closeSync(log);
  const cli = (...a) => spawnSync(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), '-H', tsulaHost, ...a], { encoding: 'utf8' });
  for (let i = 0; i < 200 && cli('version').status !== 0; i++) await sleep(50);
  const load = cli('load', '-i', path.join(ROOT, 'build/images/busybox.tar'));
  if (load.status !== 0) throw new Error(`tsula load: ${load.stderr} (scripts/build-busybox-image.sh build/images)`);
  return d;
}

/** ms from spawning `tsula run --rm --runtime vmm busybox echo ready` to its output, and to its exit. */
function cliRun() {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let first = NaN;
    const p = spawn(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), '-H', tsulaHost, 'run', '--rm', '--runtime', 'vmm', 'busybox', 'echo', 'ready'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stdout.on('data', (d) => { if (Number.isNaN(first) && String(d).includes('ready')) first = now() - t0; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('exit', (code) => (code === 0 ? resolve({ first, exit: now() - t0 }) : reject(new Error(`tsula run exited ${code}: ${err}`))));
  });
}

function readdirSafe(d) {
  try { return readdirSync(d); } catch { return []; }
}

/** The sandboxer's `phases op="guest-create"` lines: {total, share, agent} in ms. */
function guestCreatePhases() {
  const text = readFileSync(path.join(dir, 'sandboxer.log'), 'utf8');
  return [...text.matchAll(/msg="phases" op="guest-create" id="[^"]*" total=([\d.]+) ms="([^"]*)"/g)].map((x) => ({
    total: Number(x[1]), ...Object.fromEntries(x[2].split(' ').map((kv) => { const [k, v] = kv.split('='); return [k, Number(v)]; })),
  }));
}

async function startSandboxer() {
  const state = path.join(dir, 'sb');
  await fs.mkdir(state, { recursive: true });
  const log = openSync(path.join(dir, 'sandboxer.log'), 'a');
  const env = {
    ...process.env, PATH: [path.join(ROOT, 'bin'), '/usr/local/sbin', '/usr/sbin', '/sbin', process.env.PATH].join(':'),
    TSULA_SANDBOXER_STATE: state, TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'), TSULA_VMM_CONFIG: path.join(dir, 'vmm.toml'),
  };
  // debug: its `phases` lines (a container's create in the guest) are read back below
  sandboxer = spawn(path.join(ROOT, 'bin/tsula-sandboxer'), ['--state', state, '--listen', path.join(dir, 'sb.sock'), '--log-level', 'debug'],
    { stdio: ['ignore', log, log], detached: true, env });
  closeSync(log);
  const taskSock = path.join(state, 'task.sock');
  for (let i = 0; i < 400; i++) {
    if (sandboxer.exitCode !== null) throw new Error(`tsula-sandboxer exited ${sandboxer.exitCode}: ${readFileSync(path.join(dir, 'sandboxer.log'), 'utf8')}`);
    if (existsSync(taskSock)) {
      try { return (await TtrpcClient.connect(taskSock)).service(Task); } catch { /* not listening yet */ }
    }
    await sleep(25);
  }
  throw new Error('tsula-sandboxer did not come up');
}

let task;
const pods = new Set();
/** A pod with one container: Create (boots the VM) → Start → its first stdout line. */
async function createPod(id, annotations = {}) {
  const b = await busyboxBundle(path.join(dir, 'bundles', id), ['sh', '-c', 'echo ready; exec sleep 1000000'], { 'io.tsula.sandbox-kind': 'vmm', ...annotations });
  const fifo = path.join(dir, 'io', `${id}.out`);
  await fs.mkdir(path.dirname(fifo), { recursive: true });
  execFileSync('mkfifo', [fifo]);
  // O_RDWR: a reader alone would see EOF while the sandboxer has no writer open yet
  const out = new net.Socket({ fd: openSync(fifo, C.O_RDWR | C.O_NONBLOCK), readable: true, writable: false });
  let buf = '';
  const firstLine = new Promise((resolve) => out.on('data', (d) => { buf += d; if (buf.includes('\n')) resolve(now()); }));
  try {
    const t0 = now();
    pods.add(id);
    await task.create({ id, bundle: b, stdout: fifo }, { timeoutMs: 400_000 });
    const t1 = now();
    await task.start({ id });
    const t2 = now();
    let timer;
    const t3 = await Promise.race([firstLine, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`pod ${id}: no output within 120 s`)), 120_000); })])
      .finally(() => clearTimeout(timer));
    if (buf.split('\n')[0] !== 'ready') throw new Error(`pod ${id}: first line ${JSON.stringify(buf.split('\n')[0])}`);
    const rec = JSON.parse(await fs.readFile(path.join(dir, 'sb/sandboxes', `${id}.json`), 'utf8').catch(() => '{}'));
    // the guest's /init stamps its uptime on the console: where the boot time goes
    const console_ = await fs.readFile(rec.kindState?.paths?.consoleLog ?? '/nonexistent', 'utf8').catch(() => '');
    const up = (re) => { const m = re.exec(console_); return m ? Number(m[1]) * 1000 : NaN; };
    return {
      create: t1 - t0, start: t2 - t1, firstLine: t3 - t2, total: t3 - t0, vmReady: rec.kindState?.readyMs, accel: rec.kindState?.accel,
      snapshot: rec.kindState?.agentStartup?.snapshot ?? '?',
      initStart: up(/init: start ([0-9.]+)s/), initReady: up(/init: ready ([0-9.]+)s/),
      // the agent's own line: the guest's uptime when it serves, node's start to then and to main()
      agentServing: Number(/tsula-agent serving".* uptime_ms=(\d+)/.exec(console_)?.[1] ?? NaN),
      agentNode: Number(/tsula-agent serving".* node_ms=(\d+)/.exec(console_)?.[1] ?? NaN),
      agentMain: Number(/tsula-agent serving".* main_ms=(\d+)/.exec(console_)?.[1] ?? NaN),
      // the guest's uptime in the agent's answer to the sandboxer's first Ping
      answered: Number(new RegExp(`msg="VM ready" id="${id}".* guest_uptime_ms=(\\d+)`).exec(readFileSync(path.join(dir, 'sandboxer.log'), 'utf8'))?.[1] ?? NaN),
    };
  } finally {
    out.destroy();
  }
}
async function deletePod(id) {
  await task.kill({ id, signal: 9, all: true }).catch(() => {});
  await task.wait({ id }, { timeoutMs: 30_000 }).catch(() => {});
  await task.delete({ id }, { timeoutMs: 60_000 }).catch((e) => console.error(`delete ${id}: ${e.message}`));
  pods.delete(id);
}

function podMemory() {
  const q = ours(QEMU_NAME).map((p) => mem(p.pid));
  const v = ours('virtiofsd');
  const roots = v.filter((p) => !v.some((o) => o.pid === p.ppid)); // an instance = a virtiofsd and its forked child
  const vm = v.map((p) => mem(p.pid));
  const sum = (xs, k) => xs.reduce((a, x) => a + x[k], 0);
  return {
    qemus: q.length, qemuRss: sum(q, 'rss') / (q.length || 1), qemuPss: sum(q, 'pss') / (q.length || 1),
    qemuShmem: sum(q, 'shmem') / (q.length || 1), qemuAnon: sum(q, 'anon') / (q.length || 1),
    virtiofsds: roots.length, vfsProcs: v.length, vfsRss: sum(vm, 'rss') / (roots.length || 1), vfsPss: sum(vm, 'pss') / (roots.length || 1),
  };
}

// ---- the run ----
const started = now();
try {
  const choice = await detectAccel();
  const toml = `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\n` +
    `image = "${GUEST}/rootfs.img"\nboot_timeout = 300\n${MEMORY ? `default_memory = ${MEMORY}\n` : ''}${TB_SIZE ? `tcg_tb_size = ${Number(TB_SIZE)}\n` : ''}`;
  await fs.writeFile(path.join(dir, 'vmm.toml'), toml);
  // the other path: the agent from its script (a pod names this config by annotation)
  await fs.writeFile(path.join(dir, 'vmm-script.toml'), `${toml}agent_snapshot = false\n`);
  const SCRIPT = { 'io.tsula.vmm-config': path.join(dir, 'vmm-script.toml') };
  const hvConfig = (await loadVmmConfig(path.join(dir, 'vmm.toml'))).hypervisors.qemu;
  const memMib = hvConfig.defaultMemory;
  // a 512 MiB TCG pod measured ~400 MB with QEMU's own TCG cache (qemu ~390: ~170 guest RAM touched + ~200 TCG code cache; virtiofsd ~9)
  const perVmMb = memMib * 0.5 + 150;
  console.log(`accelerator: ${choice.accel} (${choice.reason})`);
  console.log(`guest: ${GUEST} (kernel ${readFileSync(`${GUEST}/kernel-release`, 'utf8').trim()}), ${memMib} MiB, ${hvConfig.defaultVcpus} vCPU, ${hvConfig.machineType}; host: ${os.cpus().length} CPUs, MemAvailable ${memAvailableMb().toFixed(0)} MB`);
  if (choice.accel === 'tcg' && LEVELS.at(-1) >= 5) {
    console.log(`note: ${LEVELS.at(-1)} TCG VMs need ~${(LEVELS.at(-1) * perVmMb / 1024).toFixed(1)} GB of host RAM and keep every CPU busy while they boot; ` +
      `pods are made ${BATCH} at a time, and the run stops early if MemAvailable runs short`);
  }

  // 1. start latency: pods one at a time (each deleted before the next), bare boots between them
  const warm = await warmAgentSnapshot({ vmmConfig: path.join(dir, 'vmm.toml') });
  console.log('off' in warm ? `agent snapshot: off (${warm.off})` : `agent snapshot ${warm.result.key}: ${warm.result.outcome === 'made' ? `made in ${(warm.result.ms / 1000).toFixed(1)} s` : warm.result.outcome} (cache ${warm.dir})`);
  task = await startSandboxer();
  const bare = await bareBooter({ dir, hvConfig, accel: choice.accel });
  const vmmRuns = [];
  const scriptRuns = [];
  const bareRuns = [];
  const nodeRuns = [];
  const cliRuns = [];
  if (CLI) await startTsulad();
  console.log(`\nstart latency: ${BOOTS} run(s) each, interleaved${BOOTS > 1 ? '' : ' (one run: cold caches included)'}`);
  for (let i = 0; i < BOOTS; i++) {
    const r = await createPod(`t${i}`);
    await deletePod(`t${i}`);
    vmmRuns.push(r);
    const s = await createPod(`s${i}`, SCRIPT);
    await deletePod(`s${i}`);
    scriptRuns.push(s);
    const b = await bare.boot(`bare${i}`, 'bench-bare', BARE_MARKERS);
    bareRuns.push(b);
    let line = `  run ${i + 1}: vmm ${r.total.toFixed(0)} ms (agent snapshot: ${r.snapshot}), vmm ${s.total.toFixed(0)} ms (agent snapshot: ${s.snapshot}), bare ${b['BARE-READY'].toFixed(0)} ms`;
    if (CLI) {
      const c = await cliRun();
      cliRuns.push(c);
      line += `, tsula run ${c.first.toFixed(0)} ms`;
    }
    if (NODE_BASELINE) {
      const n = await bare.boot(`node${i}`, 'bench-node', NODE_MARKERS);
      nodeRuns.push(n);
      line += `, bare+disk+node ${n['NODE-DONE'].toFixed(0)} ms`;
    }
    console.log(line);
  }
  const accels = [...new Set(vmmRuns.map((r) => r.accel).filter(Boolean))];
  const med = (runs, f) => median(runs.map(f));
  const vmmTotal = med(vmmRuns, (r) => r.total);
  const bareReady = med(bareRuns, (r) => r['BARE-READY']);
  const rows = [
    ['vmm pod: Create (VM boot + agent + container)', med(vmmRuns, (r) => r.create)],
    ['  of which qemu spawn -> agent answers', med(vmmRuns, (r) => r.vmReady ?? NaN)],
    ['vmm pod: Start -> first line "ready"', med(vmmRuns, (r) => r.start + r.firstLine)],
    ['vmm pod: total, Create -> first line', vmmTotal],
    ['vmm pod, agent from its script: agent answers', med(scriptRuns, (r) => r.vmReady ?? NaN)],
    ['vmm pod, agent from its script: total', med(scriptRuns, (r) => r.total)],
    ['bare qemu: spawn -> /bench-init prints', bareReady],
    ['bare qemu: spawn -> qemu exited (poweroff)', med(bareRuns, (r) => r.exit)],
  ];
  if (NODE_BASELINE) {
    rows.push(['bare+disk+node: spawn -> rootfs.img mounted', med(nodeRuns, (r) => r['DISK-READY'])]);
    rows.push(['bare+disk+node: spawn -> node --jitless -e 0 done', med(nodeRuns, (r) => r['NODE-DONE'])]);
  }
  console.log(`\n${'median of runs'.padEnd(52)}${pad('ms', 9)}${pad('min', 9)}${pad('max', 9)}`);
  const spread = (runs, f) => { const xs = runs.map(f); return `${pad(Math.min(...xs).toFixed(0), 9)}${pad(Math.max(...xs).toFixed(0), 9)}`; };
  const fns = [[vmmRuns, (r) => r.create], [vmmRuns, (r) => r.vmReady ?? NaN], [vmmRuns, (r) => r.start + r.firstLine], [vmmRuns, (r) => r.total],
    [scriptRuns, (r) => r.vmReady ?? NaN], [scriptRuns, (r) => r.total],
    [bareRuns, (r) => r['BARE-READY']], [bareRuns, (r) => r.exit], [nodeRuns, (r) => r['DISK-READY']], [nodeRuns, (r) => r['NODE-DONE']]];
  rows.forEach(([label, v], i) => console.log(`  ${label.padEnd(50)}${pad(v.toFixed(0), 9)}${spread(...fns[i])}`));
  console.log(`  guest uptime (kernel clock) at: bare marker ${med(bareRuns, (r) => r.guest['BARE-READY']).toFixed(0)} ms` +
    (NODE_BASELINE ? `, node done ${med(nodeRuns, (r) => r.guest['NODE-DONE']).toFixed(0)} ms` : '') +
    `; vmm /init start ${med(vmmRuns, (r) => r.initStart).toFixed(0)} ms, agent launched ("init: ready") ${med(vmmRuns, (r) => r.initReady).toFixed(0)} ms`);
  const medOf = (f) => med(vmmRuns, f).toFixed(0);
  console.log(`  the agent (from its snapshot), guest uptime: node started ${medOf((r) => r.agentServing - r.agentNode)} ms` +
    ` (its exec and dynamic linking after "init: ready"), main() ${medOf((r) => r.agentServing - r.agentNode + r.agentMain)} ms,` +
    ` serving ${medOf((r) => r.agentServing)} ms, the first Ping answered ${medOf((r) => r.answered)} ms`);
  console.log(`  (spawn -> marker minus guest uptime = qemu start-up, firmware, kernel decompression)`);
  const creates = guestCreatePhases();
  if (creates.length) {
    const m = (k) => median(creates.map((c) => c[k] ?? 0)).toFixed(0);
    console.log(`  a container's create in its VM (median of ${creates.length}): ${m('total')} ms = share on the host ${m('share')} + the agent ${m('agent')} (conmon + the OCI runtime's create in the guest: crun, or runc)`);
  }
  if (CLI) {
    const first = med(cliRuns, (r) => r.first);
    console.log(`  tsula run --rm --runtime vmm busybox echo ready: first output ${first.toFixed(0)} ms, exit ${med(cliRuns, (r) => r.exit).toFixed(0)} ms` +
      ` (CLI + tsulad + VM; ${(first / bareReady).toFixed(2)}x the bare boot)`);
  }
  console.log(`  agent snapshot saves ${(med(scriptRuns, (r) => r.vmReady ?? NaN) - med(vmmRuns, (r) => r.vmReady ?? NaN)).toFixed(0)} ms to the agent's first answer`);
  console.log(`  vmm/bare: ${(vmmTotal / bareReady).toFixed(2)}x` + (NODE_BASELINE ? `   vmm/bare+disk+node: ${(vmmTotal / med(nodeRuns, (r) => r['NODE-DONE'])).toFixed(2)}x` : '') +
    `   (pods ran under ${accels.join(', ') || choice.accel})`);

  // 1a. (unless --no-template) pods from a VM template (enable_template, a template dir of
  // this run's own): the first pod boots and makes it; then each pod is restored from it, its
  // share and NIC hot-plugged, and its container created and started as above
  if (TEMPLATE) {
    const tplDir = path.join(dir, 'templates');
    const tplToml = path.join(dir, 'vmm-template.toml');
    await fs.writeFile(tplToml, `${toml}enable_template = true\ntemplate_path = "${tplDir}"\n`);
    const TPL = { 'io.tsula.vmm-config': tplToml };
    await createPod('tplboot', TPL);
    await deletePod('tplboot');
    const made = now();
    const hasTemplate = () => readdirSafe(tplDir).some((k) => existsSync(path.join(tplDir, k, 'manifest.json')));
    while (!hasTemplate() && now() - made < 300_000) await sleep(250);
    if (!hasTemplate()) console.log('\nVM template: not made within 300 s (see the sandboxer log)');
    else {
      const runs = [];
      for (let i = 0; i < BOOTS; i++) {
        const r = await createPod(`tpl${i}`, TPL);
        await deletePod(`tpl${i}`);
        runs.push(r);
      }
      const tplTotal = med(runs, (r) => r.total);
      console.log(`\nfrom a VM template (median of ${runs.length}; made ${((now() - made) / 1000).toFixed(1)} s after the first pod's boot, which makes it)`);
      console.log(`  vmm pod: Create (restore + hot-plug + container)      ${pad(med(runs, (r) => r.create).toFixed(0), 9)}`);
      console.log(`    of which qemu spawn -> pod ready                  ${pad(med(runs, (r) => r.vmReady ?? NaN).toFixed(0), 9)}`);
      console.log(`  vmm pod: Start -> first line "ready"                 ${pad(med(runs, (r) => r.start + r.firstLine).toFixed(0), 9)}`);
      console.log(`  vmm pod: total, Create -> first line                 ${pad(tplTotal.toFixed(0), 9)}   ${(tplTotal / bareReady).toFixed(2)}x the bare boot, ${(tplTotal / vmmTotal).toFixed(2)}x a booted pod`);

      // the same pods taken from a VM cache of one (vm_cache_number = 1, the same template):
      // a clone restored ahead; the cache is full (its refill done) before each pod
      const cacheToml = path.join(dir, 'vmm-cache.toml');
      await fs.writeFile(cacheToml, `${toml}enable_template = true\ntemplate_path = "${tplDir}"\nvm_cache_number = 1\n`);
      const CACHE = { 'io.tsula.vmm-config': cacheToml };
      const cachedCount = () => (readFileSync(path.join(dir, 'sandboxer.log'), 'utf8').match(/msg="VM cached"/g) ?? []).length;
      await createPod('cachefill', CACHE); // from the template: the cache fills behind it
      await deletePod('cachefill');
      const cruns = [];
      for (let i = 0; i < BOOTS; i++) {
        for (const t = now(); cachedCount() < i + 1 && now() - t < 120_000;) await sleep(100);
        const r = await createPod(`cache${i}`, CACHE);
        await deletePod(`cache${i}`);
        cruns.push(r);
      }
      // a pod of the template's config without a cache: the waiting clone goes (fill trims to
      // 0), so the memory levels below count pods' qemus only
      await createPod('cachetrim', TPL);
      await deletePod('cachetrim');
      const cacheTotal = med(cruns, (r) => r.total);
      console.log(`\nfrom the VM cache (vm_cache_number = 1; median of ${cruns.length})`);
      console.log(`  vmm pod: Create (CloneSetup + container)             ${pad(med(cruns, (r) => r.create).toFixed(0), 9)}`);
      console.log(`  vmm pod: Start -> first line "ready"                 ${pad(med(cruns, (r) => r.start + r.firstLine).toFixed(0), 9)}`);
      console.log(`  vmm pod: total, Create -> first line                 ${pad(cacheTotal.toFixed(0), 9)}   ${(cacheTotal / bareReady).toFixed(2)}x the bare boot, ${(cacheTotal / tplTotal).toFixed(2)}x from the template`);
    }
  }

  // 1b. the pod network: its pods are gone again before the memory levels count qemus
  if (NET) {
    const { netBench } = await import(path.join(ROOT, 'bench/vmm-net.mjs'));
    await netBench({ dir, env: { TSULA_SANDBOXER_STATE: path.join(dir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'), TSULA_VMM_CONFIG: path.join(dir, 'vmm.toml') } })
      .catch((e) => console.log(`  network bench failed: ${e.message}`));
  }

  // 2 + 3. memory: pods held running, created in parallel batches up to each level
  // settled: past the sandboxer's collection once a busy spell is over (src/common/idle-gc.ts:
  // a 3 s interval to see the quiet, then two full collections), as bench/engine.mjs waits
  await sleep(8000);
  const idle = mem(sandboxer.pid);
  const levels = [{ n: 0, sb: idle, pm: null, avail: memAvailableMb() }];
  let made = 0;
  let stopped = '';
  for (const target of LEVELS) {
    while (made < target) {
      const k = Math.min(BATCH, target - made);
      const avail = memAvailableMb();
      const need = k * perVmMb + 512;
      if (avail < need) { stopped = `stopped before ${made + k} pods: MemAvailable ${avail.toFixed(0)} MB < ${need.toFixed(0)} MB needed for ${k} more VM(s) + 512 MB reserve`; break; }
      const ids = Array.from({ length: k }, (_, j) => `p${made + j}`);
      const t = now();
      await Promise.all(ids.map((id) => createPod(id)));
      made += k;
      process.stdout.write(`  ${made} pod(s) running (last batch of ${k}: ${((now() - t) / 1000).toFixed(1)} s)\n`);
    }
    if (made < target) break;
    await sleep(8000); // let the guests settle (agent idle, virtiofsd done) and the sandboxer collect
    levels.push({ n: made, sb: mem(sandboxer.pid), pm: podMemory(), avail: memAvailableMb() });
  }
  if (stopped) console.log(`  ${stopped}`);

  console.log(`\nmemory per pod (MB; qemu RSS = guest RAM touched (memfd, RssShmem) + anon (TCG code cache, heap) + file;`);
  console.log(`virtiofsd = both processes of an instance; MemAvail = host's MemAvailable)`);
  console.log(`${'pods'.padStart(6)}${pad('qemu RSS', 10)}${pad('PSS', 8)}${pad('guestRAM', 10)}${pad('anon', 8)}${pad('vfsd RSS', 10)}${pad('PSS', 8)}${pad('MemAvail', 10)}`);
  for (const l of levels.filter((x) => x.pm)) {
    const p = l.pm;
    console.log(`${pad(l.n, 6)}${pad(mb(p.qemuRss), 10)}${pad(mb(p.qemuPss), 8)}${pad(mb(p.qemuShmem), 10)}${pad(mb(p.qemuAnon), 8)}${pad(mb(p.vfsRss), 10)}${pad(mb(p.vfsPss), 8)}${pad(l.avail.toFixed(0), 10)}` +
      (p.qemus !== l.n || p.virtiofsds !== l.n ? `   (! ${p.qemus} qemu, ${p.virtiofsds} virtiofsd)` : ''));
  }
  console.log(`\ntsula-sandboxer (one process for all pods), MB`);
  console.log(`${'pods'.padStart(6)}${pad('RSS', 9)}${pad('PSS', 9)}${pad('+RSS/pod', 10)}${pad('+PSS/pod', 10)}   (vs the previous row)`);
  levels.forEach((l, i) => {
    const prev = levels[i - 1];
    const d = (k) => (prev ? ((l.sb[k] - prev.sb[k]) / 1024 / (l.n - prev.n)).toFixed(2) : '-');
    console.log(`${pad(l.n, 6)}${pad(mb(l.sb.rss), 9)}${pad(mb(l.sb.pss), 9)}${pad(d('rss'), 10)}${pad(d('pss'), 10)}`);
  });
  const last = levels.at(-1);
  if (last.n > 0) {
    const first = levels[1];
    const slope = (k, a) => ((last.sb[k] - a.sb[k]) / 1024 / (last.n - a.n)).toFixed(2);
    console.log(`  per extra pod, 0 -> ${last.n}: RSS ${slope('rss', levels[0])} MB, PSS ${slope('pss', levels[0])} MB` +
      (last.n > first.n ? `;  ${first.n} -> ${last.n}: RSS ${slope('rss', first)} MB, PSS ${slope('pss', first)} MB` : ''));
    const p = last.pm;
    console.log(`  host memory per pod at ${last.n} pods: qemu + virtiofsd + sandboxer share = ${mb(p.qemuRss + p.vfsRss + (last.sb.rss - idle.rss) / last.n)} MB RSS, ` +
      `${mb(p.qemuPss + p.vfsPss + (last.sb.pss - idle.pss) / last.n)} MB PSS`);
  }
} finally {
  // graceful: delete every task (stops its VM), then the sandboxer; then anything left
  const t = now();
  await Promise.all([...pods].map((id) => deletePod(id))).catch(() => {});
  if (sandboxer && sandboxer.exitCode === null) {
    const exited = new Promise((r) => sandboxer.once('exit', r));
    sandboxer.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
  }
  const left = [...ours(QEMU_NAME), ...ours('virtiofsd')];
  cleanupSync();
  await sleep(200);
  const still = [...ours(QEMU_NAME), ...ours('virtiofsd'), ...ours('node')];
  console.log(`\ncleanup: ${((now() - t) / 1000).toFixed(1)} s; ${left.length ? `${left.length} qemu/virtiofsd left after deleting the tasks, killed` : 'no qemu/virtiofsd left after deleting the tasks'}` +
    `${still.length ? `; STILL RUNNING: ${still.map((p) => p.pid).join(' ')}` : ''}; whole run ${((now() - started) / 1000).toFixed(0)} s`);
}
