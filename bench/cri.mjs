#!/usr/bin/env node
// Pods through CRI v1, tsulad side by side with containerd 1.6's built-in CRI plugin
// (containerd-shim-runc-v2 + a pause container per pod), in one run.
//   node bench/cri.mjs [--pods N] [--parallel K] [--vm] [--vm-runs R] [--no-node] [--no-containerd] [--crictl]
// (root; after npm run build). Starts a private tsulad (own -H, --graph, --state, --cri-socket,
// a daemon.json whose cni-conf-dir holds a conflist with a bridge, subnet and host-local
// dataDir of its own) and a private containerd (own root, state, sockets, runc root, netns
// dir, CRI on its own conflist: another bridge and subnet), the same busybox image in both
// (and, for containerd, a pause image built here from a static C pause, as kubernetes' is).
// A small gRPC client (the project's generated CRI code) drives both, so no client start-up
// is in the figures. Prints:
//  1. per pod, N sequential, the two runtimes interleaved: RunPodSandbox, CreateContainer,
//     StartContainer (a busybox `sleep`) and their sum, mean / p50, and the teardown
//     (StopContainer with timeout 0, StopPodSandbox, RemovePodSandbox); then a batch of K
//     pods made at once (default K = N; --parallel 0: none); the first (cold) pod apart;
//     with --crictl also the same three steps as three crictl commands (its start-up included);
//  2. memory while the N pods run: RSS and PSS (/proc/PID/smaps_rollup) of every process each
//     side added (tsula: tsulad + a conmon per container; containerd: containerd + a shim and
//     a pause per pod), the daemons idle, and what each pod adds; ratios tsula/containerd;
//  3. with --vm: R pods through tsulad's `vmm` runtime handler (a VM per pod in
//     tsula-sandboxer; guest from TSULA_GUEST_DIR, default /var/lib/tsula/guest, read only):
//     RunPodSandbox until the VM's agent is ready, the first container's create and start,
//     its first log line; against a bare qemu boot of the same guest (bench/lib/bare-boot.mjs).
// Everything it starts is removed at the end, on errors and on Ctrl-C: pods (through CRI),
// daemons, shims, conmons, VMs, the two bridges, the iptables rules of the two networks,
// netns mounts, the temp dir; it prints what, if anything, was left.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { promises as fs, closeSync, existsSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import { mem, procs } from './lib/proc.mjs';
import { bareBooter, BARE_MARKERS, NODE_MARKERS } from './lib/bare-boot.mjs';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const DIST = path.join(ROOT, 'dist/src');
const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const IMAGE = 'docker.io/library/busybox:latest';
const PAUSE_IMAGE = 'localhost/tsula-bench/pause:3.6';
const WORKLOAD = ['sleep', '86399']; // what each container runs; not counted as anyone's overhead

function arg(name, def) {
  const i = process.argv.indexOf(name);
  if (i >= 0) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`${name}=`));
  return eq ? eq.slice(name.length + 1) : def;
}
const N = Number(arg('--pods', 5));
const K = Number(arg('--parallel', N));
const VM = process.argv.includes('--vm');
const VM_RUNS = Number(arg('--vm-runs', 1));
const NODE_BASELINE = !process.argv.includes('--no-node');
const CONTAINERD = !process.argv.includes('--no-containerd');
const CRICTL = process.argv.includes('--crictl');
const usage = 'usage: node bench/cri.mjs [--pods N] [--parallel K] [--vm] [--vm-runs R] [--no-node] [--no-containerd] [--crictl]';
if (!(N >= 1) || !(K >= 0) || !(VM_RUNS >= 1) || !Number.isInteger(N) || !Number.isInteger(K)) { console.error(usage); process.exit(2); }
if (process.getuid?.() !== 0) { console.error('bench/cri.mjs: run as root'); process.exit(2); }
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const CRICTL_BIN = [path.resolve(ROOT, '../shared/tools/crictl'), '/work/shared/tools/crictl'].find(existsSync) ?? (have('crictl') ? 'crictl' : null);
{
  const missing = [path.join(ROOT, 'build/tsulad.mjs'), path.join(ROOT, 'build/tsula.mjs'), path.join(DIST, 'common/grpc.js')].filter((p) => !existsSync(p));
  if (VM) missing.push(...[`${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p)));
  for (const cmd of ['runc', 'conmon', ...(CONTAINERD ? ['containerd', 'ctr', 'containerd-shim-runc-v2', 'cc', 'umoci', 'skopeo'] : [])]) if (!have(cmd)) missing.push(cmd);
  if (!existsSync('/usr/lib/cni/bridge')) missing.push('/usr/lib/cni/bridge (containernetworking-plugins)');
  if (CRICTL && !CRICTL_BIN) missing.push('crictl');
  if (missing.length) { console.error(`bench/cri.mjs: missing ${missing.join(', ')} (npm run build; scripts/build-guest.sh for --vm)`); process.exit(2); }
}

const { grpcClient } = await import(path.join(DIST, 'common/grpc.js'));
const { RuntimeService, NamespaceMode } = await import(path.join(DIST, 'gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js'));
const { defaultConfListText } = await import(path.join(DIST, 'network/index.js'));

const dir = await fs.mkdtemp('/tmp/tcb-'); // short: socket paths must stay under 108 bytes
const tag = randomBytes(3).toString('hex');
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pad = (s, w) => String(s).padStart(w);
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const p50 = (xs) => { const s = sorted(xs); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const loadavg = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

// ---- the two private networks ----
/** A /24 in 10.200-249.x.0 that no route or address on this host uses yet (nor `taken`). */
function freeSubnet(taken) {
  const used = execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' });
  for (let i = 0; i < 100; i++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!used.includes(`${prefix}.`) && !taken.includes(prefix)) return prefix;
  }
  throw new Error('no free 10.x /24 for the bench networks');
}
const nets = {};
for (const side of ['t', 'c']) {
  const prefix = freeSubnet(Object.values(nets).map((n) => n.prefix));
  nets[side] = {
    prefix, subnet: `${prefix}.0/24`, gateway: `${prefix}.1`,
    name: `tsula-bench-${tag}-${side}`, bridge: `tcb${tag}${side}`, // ≤ 15 chars
    confDir: path.join(dir, side, 'net.d'), dataDir: path.join(dir, side, 'ipam'),
  };
}

// ---- what each side runs ----
const sides = {
  t: { key: 't', label: 'tsula', dir: path.join(dir, 't'), proc: null, cri: null, pods: new Map() },
  c: { key: 'c', label: 'containerd', dir: path.join(dir, 'c'), proc: null, cri: null, pods: new Map() },
};
const order = CONTAINERD ? [sides.t, sides.c] : [sides.t];
const tsulaEnv = {
  ...process.env,
  TSULA_SANDBOXER_STATE: path.join(sides.t.dir, 'sb'), TSULA_SANDBOXER_ADDRESS: path.join(sides.t.dir, 'sb.sock'),
  TSULA_VMM_CONFIG: path.join(sides.t.dir, 'vmm.toml'),
};

// ---- cleanup: CRI first (the daemons undo their own networking), then whatever is left ----
/** Every process whose command line names our dir: daemons, shims, conmons, sandboxer, qemu, virtiofsd. */
const oursByArgv = () => procs().filter((p) => p.pid !== process.pid && p.argv.join(' ').includes(dir));
function iptablesOurs() {
  const r = spawnSync('iptables-save', { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((l) => Object.values(nets).some((n) => l.includes(n.name)));
}
/** Rules the bridge plugin made for our networks (their comments name the network), and the chains they jump to. */
function dropIptables() {
  for (const table of ['nat', 'filter', 'mangle']) {
    const lines = (spawnSync('iptables-save', ['-t', table], { encoding: 'utf8' }).stdout ?? '').split('\n');
    const ours = lines.filter((l) => l.startsWith('-A ') && Object.values(nets).some((n) => l.includes(`"${n.name}"`) || l.includes(`\\"${n.name}\\"`)));
    const chains = new Set();
    for (const l of ours) {
      const j = / -j (CNI-[A-Za-z0-9-]+)/.exec(l);
      if (j && !j[1].startsWith('CNI-HOSTPORT')) chains.add(j[1]);
      spawnSync('sh', ['-c', `iptables -w -t ${table} ${l.replace(/^-A /, '-D ')}`], { stdio: 'ignore' });
    }
    for (const c of chains) {
      spawnSync('iptables', ['-w', '-t', table, '-F', c], { stdio: 'ignore' });
      spawnSync('iptables', ['-w', '-t', table, '-X', c], { stdio: 'ignore' });
    }
  }
}
function mountsUnder() {
  return readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && m.startsWith(dir));
}
/** libcni's cache (containerd's CNI writes its results there; DEL removes them). */
const CNI_CACHE = '/var/lib/cni/results';
const cniCacheOurs = () => { try { return readdirSync(CNI_CACHE).filter((f) => Object.values(nets).some((n) => f.startsWith(`${n.name}-`))); } catch { return []; } };
/**
 * containerd 1.6 puts its shims' sockets in /run/containerd/s (compiled in): sha256 of
 * <containerd address>/<namespace>/<sandbox id>. A shim removes its own when it exits; these
 * are what a killed one leaves.
 */
const everPods = new Set();
const shimSockets = () => (sides.c.sock ? [...everPods].map((id) => `/run/containerd/s/${createHash('sha256').update(path.join(sides.c.sock, 'k8s.io', id)).digest('hex')}`).filter(existsSync) : []);
const bridgesLeft = () => Object.values(nets).map((n) => n.bridge).filter((b) => spawnSync('ip', ['link', 'show', b], { stdio: 'ignore' }).status === 0);

let cleanedUp = false;
function cleanupSync() {
  if (cleanedUp) return;
  cleanedUp = true;
  for (const s of Object.values(sides)) { try { s.proc?.kill('SIGKILL'); } catch { /* gone */ } }
  for (const p of oursByArgv()) { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }
  // containers (and containerd's pause containers) are runc's: delete what is left in our runc roots
  for (const root of [path.join(sides.t.dir, 'state/runtime/runc/root'), path.join(sides.c.dir, 'runc/k8s.io')]) {
    const ids = (spawnSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean);
    for (const id of ids) spawnSync('runc', ['--root', root, 'delete', '--force', id], { stdio: 'ignore' });
  }
  try { for (const m of mountsUnder().reverse()) spawnSync('umount', ['-l', m]); } catch { /* nothing mounted */ }
  dropIptables();
  for (const f of cniCacheOurs()) rmSync(path.join(CNI_CACHE, f), { force: true });
  for (const b of bridgesLeft()) spawnSync('ip', ['link', 'del', b], { stdio: 'ignore' });
  for (const f of shimSockets()) rmSync(f, { force: true });
  try { rmSync(dir, { recursive: true, force: true }); } catch { /* a busy mount: reported below */ }
}

/** Remove a pod through its CRI: what kubelet does, with no grace. ms per step. */
async function teardown(side, podId) {
  const cri = side.cri;
  const t0 = now();
  for (const c of side.pods.get(podId) ?? []) await cri.stopContainer({ containerId: c, timeout: 0n }, { timeoutMs: 60_000 });
  const t1 = now();
  await cri.stopPodSandbox({ podSandboxId: podId }, { timeoutMs: 60_000 });
  const t2 = now();
  await cri.removePodSandbox({ podSandboxId: podId }, { timeoutMs: 60_000 });
  const t3 = now();
  side.pods.delete(podId);
  return { stopC: t1 - t0, stopP: t2 - t1, remove: t3 - t2, total: t3 - t0 };
}

let cleaning = null;
async function cleanup() {
  // pods still there (an error, Ctrl-C): through CRI while the daemons run
  await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 60_000).unref())]);
  for (const s of order) {
    if (!s.cri || !s.proc || s.proc.exitCode !== null || s.proc.signalCode !== null) continue;
    await Promise.all([...s.pods.keys()].map((id) => teardown(s, id).catch((e) => console.error(`cleanup: ${s.label} pod ${id.slice(0, 12)}: ${e.message}`))));
  }
  for (const s of order) {
    s.cri?.close();
    const p = s.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000).unref())]);
    }
  }
  // a sandboxer tsulad started (--vm) stops its VMs on SIGTERM
  for (const p of oursByArgv().filter((x) => x.argv.some((a) => a.includes('tsula-sandboxer')))) { try { process.kill(p.pid, 'SIGTERM'); } catch { /* gone */ } }
  for (let i = 0; i < 50 && oursByArgv().some((x) => x.argv.some((a) => a.includes('tsula-sandboxer'))); i++) await sleep(100);
  const left = { procs: oursByArgv(), mounts: mountsUnder(), iptables: iptablesOurs(), cniCache: cniCacheOurs(), shimSockets: shimSockets(), bridges: bridgesLeft() };
  cleanupSync();
  await sleep(300);
  const still = { procs: oursByArgv(), mounts: mountsUnder(), iptables: iptablesOurs(), cniCache: cniCacheOurs(), shimSockets: shimSockets(), bridges: bridgesLeft(), dir: existsSync(dir) ? [dir] : [] };
  const say = (o) => Object.entries(o).filter(([, v]) => v.length).map(([k, v]) => `${v.length} ${k}`).join(', ');
  console.log(`\ncleanup: after the pods' removal and the daemons' exit: ${say({ ...left, bridges: [] }) || 'nothing left of ours'} ` +
    `(+ the ${left.bridges.length} bridges, deleted now); after the sweep: ${say(still) || 'nothing left'}`);
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    if (cleaning) { console.error(`\n${sig} again: killing`); process.exit(130); }
    console.error(`\n${sig}: removing the pods, stopping the daemons (again to kill)`);
    cleaning = cleanup().finally(() => process.exit(130));
  });
}

// ---- daemons ----
async function waitCri(side, what) {
  for (let i = 0; i < 400; i++) {
    if (side.proc.exitCode !== null) throw new Error(`${what} exited ${side.proc.exitCode}: ${readFileSync(path.join(side.dir, `${what}.log`), 'utf8').slice(-3000)}`);
    try { await side.cri.version({ version: 'v1' }, { timeoutMs: 2000 }); return; } catch { await sleep(50); }
  }
  throw new Error(`${what}: CRI did not answer`);
}

async function startTsulad() {
  const s = sides.t;
  const n = nets.t;
  await fs.mkdir(n.confDir, { recursive: true });
  await fs.writeFile(path.join(n.confDir, '10-bench.conflist'), defaultConfListText({ name: n.name, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, dataDir: n.dataDir }));
  await fs.writeFile(path.join(s.dir, 'daemon.json'), JSON.stringify({ 'cni-conf-dir': n.confDir }));
  const log = openSync(path.join(s.dir, 'tsulad.log'), 'a');
  s.host = `unix://${path.join(s.dir, 'tsulad.sock')}`;
  s.sock = path.join(s.dir, 'cri.sock');
  s.proc = spawn(path.join(ROOT, 'bin/tsulad'), ['-H', s.host, '--graph', path.join(s.dir, 'graph'), '--state', path.join(s.dir, 'state'),
    '--cri-socket', `unix://${s.sock}`, '--config-file', path.join(s.dir, 'daemon.json')], { stdio: ['ignore', log, log], env: tsulaEnv, detached: true });
  closeSync(log);
  s.cri = grpcClient(RuntimeService, s.sock);
  await waitCri(s, 'tsulad');
  const load = spawnSync(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), '-H', s.host, 'load', '-i', path.join(ROOT, 'build/images/busybox.tar')], { encoding: 'utf8' });
  if (load.status !== 0) throw new Error(`tsula load: ${load.stderr}`);
}

/** kubernetes' pause (build/pause/linux/pause.c in short), static, as the only file of an image. */
const PAUSE_C = `#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void sigdown(int s) { (void)s; exit(0); }
static void sigreap(int s) { (void)s; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction down = { .sa_handler = sigdown }, reap = { .sa_handler = sigreap, .sa_flags = SA_NOCLDSTOP };
  sigaction(SIGINT, &down, NULL); sigaction(SIGTERM, &down, NULL); sigaction(SIGCHLD, &reap, NULL);
  for (;;) pause();
}
`;
async function buildPauseImage() {
  const w = path.join(dir, 'pause');
  await fs.mkdir(path.join(w, 'rootfs'), { recursive: true });
  await fs.writeFile(path.join(w, 'pause.c'), PAUSE_C);
  const run = (cmd, args) => { const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: w }); if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`); };
  run('cc', ['-Os', '-static', '-s', '-o', 'rootfs/pause', 'pause.c']);
  run('tar', ['-C', 'rootfs', '--sort=name', '--mtime=2024-01-01T00:00:00Z', '--owner=0', '--group=0', '--numeric-owner', '-cf', 'layer.tar', '.']);
  run('umoci', ['init', '--layout', 'oci']);
  run('umoci', ['new', '--image', 'oci:pause']);
  run('umoci', ['config', '--image', 'oci:pause', '--no-history', '--created', '2024-01-01T00:00:00Z', '--architecture', 'amd64', '--os', 'linux', '--config.entrypoint', '/pause']);
  run('umoci', ['raw', 'add-layer', '--image', 'oci:pause', '--history.created', '2024-01-01T00:00:00Z', 'layer.tar']);
  run('skopeo', ['copy', '--quiet', 'oci:oci:pause', `docker-archive:pause.tar:${PAUSE_IMAGE}`]);
  return path.join(w, 'pause.tar');
}

async function startContainerd() {
  const s = sides.c;
  const n = nets.c;
  const d = s.dir;
  await fs.mkdir(n.confDir, { recursive: true });
  await fs.writeFile(path.join(n.confDir, '10-bench.conflist'), defaultConfListText({ name: n.name, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway, dataDir: n.dataDir }));
  s.sock = path.join(d, 'c.sock');
  await fs.writeFile(path.join(d, 'config.toml'), `version = 2
root = "${d}/root"
state = "${d}/state"
[grpc]
  address = "${s.sock}"
[ttrpc]
  address = "${s.sock}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${d}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${n.confDir}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "${d}/runc"
`);
  const pauseTar = await buildPauseImage();
  const log = openSync(path.join(d, 'containerd.log'), 'a');
  s.proc = spawn('containerd', ['--config', path.join(d, 'config.toml')], { stdio: ['ignore', log, log], detached: true,
    env: { ...process.env, PATH: ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'].join(':') } });
  closeSync(log);
  s.cri = grpcClient(RuntimeService, s.sock);
  await waitCri(s, 'containerd');
  for (const tar of [pauseTar, path.join(ROOT, 'build/images/busybox.tar')]) {
    const r = spawnSync('ctr', ['-a', s.sock, '-n', 'k8s.io', 'images', 'import', tar], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ctr images import ${tar}: ${r.stderr}`);
  }
}

// ---- pods ----
let podSeq = 0;
function podConfig(side, name) {
  return {
    metadata: { name, namespace: 'bench', uid: `${tag}-${name}-${++podSeq}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(side.dir, 'logs', `${name}-${podSeq}`),
    // what kubelet sends for a pod without shareProcessNamespace
    linux: { securityContext: { namespaceOptions: { network: NamespaceMode.POD, pid: NamespaceMode.CONTAINER, ipc: NamespaceMode.POD } } },
  };
}
const containerConfig = (command) => ({ metadata: { name: 'c', attempt: 0 }, image: { image: IMAGE }, command, logPath: 'c.log', linux: {} });

/** CRI calls under way: on Ctrl-C the cleanup lets them finish, then removes what they made. */
const inflight = new Set();
function tracked(p) {
  inflight.add(p);
  return p.finally(() => inflight.delete(p));
}
const checkAbort = () => { if (cleaning) throw new Error('interrupted'); };

/** RunPodSandbox + CreateContainer + StartContainer; ms per step. */
function runPod(side, name, o = {}) {
  checkAbort();
  return tracked(runPodSteps(side, name, o));
}
async function runPodSteps(side, name, o) {
  const config = podConfig(side, name);
  await fs.mkdir(config.logDirectory, { recursive: true }); // kubelet makes it before RunPodSandbox
  const t0 = now();
  const { podSandboxId } = await side.cri.runPodSandbox({ config, runtimeHandler: o.handler ?? '' }, { timeoutMs: 400_000 });
  const t1 = now();
  side.pods.set(podSandboxId, []);
  everPods.add(podSandboxId);
  checkAbort();
  const { containerId } = await side.cri.createContainer({ podSandboxId, config: containerConfig(o.command ?? WORKLOAD), sandboxConfig: config }, { timeoutMs: 120_000 });
  const t2 = now();
  side.pods.get(podSandboxId).push(containerId);
  checkAbort();
  await side.cri.startContainer({ containerId }, { timeoutMs: 120_000 });
  const t3 = now();
  return { id: podSandboxId, containerId, log: path.join(config.logDirectory, 'c.log'), t0, run: t1 - t0, create: t2 - t1, start: t3 - t2, total: t3 - t0 };
}

/** The same three steps as crictl commands (each a process: crictl's start-up is in the figure). */
async function runPodCrictl(side, name) {
  checkAbort();
  const config = podConfig(side, name);
  await fs.mkdir(config.logDirectory, { recursive: true });
  const f = path.join(dir, `crictl-${side.key}-${podSeq}`);
  // crictl reads the proto JSON names
  await fs.writeFile(`${f}-pod.json`, JSON.stringify({ ...config, log_directory: config.logDirectory, logDirectory: undefined,
    linux: { security_context: { namespace_options: { network: 0, pid: 1, ipc: 0 } } } }));
  await fs.writeFile(`${f}-ctr.json`, JSON.stringify({ metadata: { name: 'c', attempt: 0 }, image: { image: IMAGE }, command: WORKLOAD, log_path: 'c.log', linux: {} }));
  const crictl = (...a) => {
    const r = spawnSync(CRICTL_BIN, ['--config', '/dev/null', '--runtime-endpoint', `unix://${side.sock}`, '--image-endpoint', `unix://${side.sock}`, '--timeout', '60s', ...a], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`crictl ${a.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const t0 = now();
  const id = crictl('runp', `${f}-pod.json`);
  const t1 = now();
  side.pods.set(id, []);
  everPods.add(id);
  const cid = crictl('create', id, `${f}-ctr.json`, `${f}-pod.json`);
  const t2 = now();
  side.pods.get(id).push(cid);
  crictl('start', cid);
  const t3 = now();
  return { id, run: t1 - t0, create: t2 - t1, start: t3 - t2, total: t3 - t0 };
}

// ---- memory ----
/**
 * What a side added on the host: its daemon, every process naming its dir (conmons, shims,
 * a sandboxer) and their descendants, minus the workload (the containers' own processes).
 */
function sideMemory(side) {
  const all = procs();
  const kids = new Map();
  for (const p of all) { if (!kids.has(p.ppid)) kids.set(p.ppid, []); kids.get(p.ppid).push(p); }
  const isWorkload = (p) => path.basename(p.argv[0] ?? '') === WORKLOAD[0] && p.argv[1] === WORKLOAD[1];
  const seen = new Map();
  const visit = (p) => {
    if (seen.has(p.pid) || isWorkload(p)) return;
    seen.set(p.pid, p);
    for (const c of kids.get(p.pid) ?? []) visit(c);
  };
  for (const p of all) if (p.pid === side.proc.pid || (p.pid !== process.pid && p.argv.join(' ').includes(side.dir))) visit(p);
  const out = { daemon: { n: 0, rss: 0, pss: 0 }, monitor: { n: 0, rss: 0, pss: 0 }, pause: { n: 0, rss: 0, pss: 0 }, other: { n: 0, rss: 0, pss: 0 }, names: new Set() };
  for (const p of seen.values()) {
    const name = path.basename(p.argv[0] ?? '');
    const kind = p.pid === side.proc.pid ? 'daemon' : ['conmon', 'containerd-shim-runc-v2'].includes(name) ? 'monitor' : name === 'pause' ? 'pause' : 'other';
    if (kind === 'other') out.names.add(name);
    const m = mem(p.pid);
    out[kind].n++; out[kind].rss += m.rss / 1024; out[kind].pss += m.pss / 1024;
  }
  out.total = ['daemon', 'monitor', 'pause', 'other'].reduce((a, k) => ({ n: a.n + out[k].n, rss: a.rss + out[k].rss, pss: a.pss + out[k].pss }), { n: 0, rss: 0, pss: 0 });
  return out;
}

// ---- printing ----
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(1)}` : '-');
// no ratio of nothing, nor of a difference within noise (a daemon's growth per pod)
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && a > 0 && b > 0.2 ? `${(a / b).toFixed(2)}x` : '-');
function table(title, unit, rows) {
  const w = Math.max(44, ...rows.filter((r) => r[1] !== null).map((r) => r[0].length + 2));
  console.log(`\n${title}`);
  console.log(`  ${''.padEnd(w)}${pad(`tsula ${unit}`, 16)}${CONTAINERD ? `${pad(`containerd ${unit}`, 20)}${pad('tsula/ctrd', 12)}` : ''}`);
  for (const [label, a, b] of rows) {
    if (a === null) { console.log(`  ${label}`); continue; }
    const fa = typeof a === 'string' ? a : ms(a);
    const fb = typeof b === 'string' ? b : ms(b);
    console.log(`  ${label.padEnd(w)}${pad(fa, 16)}${CONTAINERD ? `${pad(fb, 20)}${pad(typeof a === 'number' ? ratio(a, b) : '', 12)}` : ''}`);
  }
}
const statRows = (label, runs, key) => {
  const get = (s) => (runs[s.key]?.length ? runs[s.key].map((r) => r[key]) : null);
  const a = get(sides.t);
  const b = get(sides.c);
  return [[`${label}  mean`, a ? mean(a) : NaN, b ? mean(b) : NaN], [`${' '.repeat(label.length)}  p50`, a ? p50(a) : NaN, b ? p50(b) : NaN]];
};

// ---- the run ----
const started = now();
let exitCode = 0;
try {
  for (const s of Object.values(sides)) await fs.mkdir(s.dir, { recursive: true });
  if (!existsSync(path.join(ROOT, 'build/images/busybox.tar'))) execFileSync(path.join(ROOT, 'scripts/build-busybox-image.sh'), [path.join(ROOT, 'build/images')]);
  console.log(`host: ${os.cpus().length} CPUs, load ${loadavg()} (others' tests run here too: figures are noisy); N=${N} pods, batch K=${K}`);
  console.log(`tsula: tsulad (CRI, runc via conmon, no pause) on ${nets.t.bridge} ${nets.t.subnet}` +
    (CONTAINERD ? `; containerd ${execFileSync('containerd', ['--version'], { encoding: 'utf8' }).split(' ')[2]} (CRI plugin, containerd-shim-runc-v2, pause) on ${nets.c.bridge} ${nets.c.subnet}` : ''));
  await startTsulad();
  if (CONTAINERD) await startContainerd();
  await sleep(1000);
  const fresh = Object.fromEntries(order.map((s) => [s.key, mem(s.proc.pid)]));

  // the first pod of each: cold paths (lazy modules, first CNI ADD makes the bridge, page cache)
  const cold = {};
  for (const s of order) {
    const r = await runPod(s, 'warm');
    await teardown(s, r.id);
    cold[s.key] = [r];
  }
  await sleep(2000);
  const idle = Object.fromEntries(order.map((s) => [s.key, sideMemory(s)]));

  // N pods, one after another, the runtimes interleaved (load drifts alike for both)
  const seq = Object.fromEntries(order.map((s) => [s.key, []]));
  for (let i = 0; i < N; i++) {
    for (const s of i % 2 ? [...order].reverse() : order) seq[s.key].push(await runPod(s, `p${i}`));
  }
  await sleep(2000);
  const busy = Object.fromEntries(order.map((s) => [s.key, sideMemory(s)]));
  const down = Object.fromEntries(order.map((s) => [s.key, []]));
  for (let i = 0; i < N; i++) {
    for (const s of i % 2 ? [...order].reverse() : order) down[s.key].push(await teardown(s, seq[s.key][i].id));
  }

  // K pods at once, one runtime at a time
  const par = Object.fromEntries(order.map((s) => [s.key, []]));
  const parWall = {};
  const parDown = {};
  if (K > 0) {
    for (const s of order) {
      const t0 = now();
      par[s.key] = await Promise.all(Array.from({ length: K }, (_, i) => runPod(s, `q${i}`)));
      parWall[s.key] = now() - t0;
      const t1 = now();
      await Promise.all(par[s.key].map((r) => teardown(s, r.id)));
      parDown[s.key] = now() - t1;
    }
  }

  const viaCrictl = Object.fromEntries(order.map((s) => [s.key, []]));
  if (CRICTL) {
    for (let i = 0; i < N; i++) {
      for (const s of i % 2 ? [...order].reverse() : order) {
        const r = await runPodCrictl(s, `x${i}`);
        viaCrictl[s.key].push(r);
        await teardown(s, r.id);
      }
    }
  }

  table(`latency per pod, ${N} pods one after another (runtimes interleaved; gRPC client, no CLI start-up)`, 'ms', [
    ...statRows('RunPodSandbox  ', seq, 'run'),
    ...statRows('CreateContainer', seq, 'create'),
    ...statRows('StartContainer ', seq, 'start'),
    ...statRows('pod + container', seq, 'total'),
    ...statRows('teardown       ', down, 'total'),
    ['  (teardown = StopContainer(timeout 0) + StopPodSandbox + RemovePodSandbox)', null],
    ['first (cold) pod: run+create+start', cold.t[0].total, cold.c?.[0].total ?? NaN],
  ]);
  if (K > 0) {
    table(`${K} pods at once`, 'ms', [
      ['all K ready (wall)', parWall.t, parWall.c ?? NaN],
      ...statRows('pod + container', par, 'total'),
      ['  per pod, wall / K', parWall.t / K, (parWall.c ?? NaN) / K],
      ['teardown of all K (wall)', parDown.t, parDown.c ?? NaN],
    ]);
  }
  if (CRICTL) {
    table(`the same through crictl: runp, create, start (3 processes per pod), ${N} pods`, 'ms', [
      ...statRows('runp  ', viaCrictl, 'run'),
      ...statRows('create', viaCrictl, 'create'),
      ...statRows('start ', viaCrictl, 'start'),
      ...statRows('total ', viaCrictl, 'total'),
    ]);
  }

  const f = (o, k) => o?.[k] ?? NaN;
  const bt = busy.t;
  const bc = busy.c;
  const perPod = (b, i, k) => (b && i ? (b.total[k] - i.total[k]) / N : NaN);
  table(`memory (MB; RSS sums count shared pages once per process, PSS splits them)`, 'MB', [
    ['daemon fresh (started, image loaded)   RSS', fresh.t.rss / 1024, fresh.c ? fresh.c.rss / 1024 : NaN],
    ['                                       PSS', fresh.t.pss / 1024, fresh.c ? fresh.c.pss / 1024 : NaN],
    ['daemon idle (after the first pod went) RSS', idle.t.daemon.rss, f(idle.c?.daemon, 'rss')],
    ['                                       PSS', idle.t.daemon.pss, f(idle.c?.daemon, 'pss')],
    [`with ${N} pods running:`, null],
    ['  daemon                               RSS', bt.daemon.rss, f(bc?.daemon, 'rss')],
    ['                                       PSS', bt.daemon.pss, f(bc?.daemon, 'pss')],
    ['  monitors: conmon | shim (count)', `${bt.monitor.n}`, bc ? `${bc.monitor.n}` : '-'],
    ['                                       RSS', bt.monitor.rss, f(bc?.monitor, 'rss')],
    ['                                       PSS', bt.monitor.pss, f(bc?.monitor, 'pss')],
    ['  pause containers (count)', `${bt.pause.n}`, bc ? `${bc.pause.n}` : '-'],
    ['                                       RSS', bt.pause.rss, f(bc?.pause, 'rss')],
    ['                                       PSS', bt.pause.pss, f(bc?.pause, 'pss')],
    ...(bt.other.n || bc?.other.n ? [[`  other (${[...bt.names, ...(bc?.names ?? [])].join(', ')})`, `${bt.other.n}`, bc ? `${bc.other.n}` : '-'],
      ['                                       RSS', bt.other.rss, f(bc?.other, 'rss')]] : []),
    ['  everything the side added            RSS', bt.total.rss, f(bc?.total, 'rss')],
    ['                                       PSS', bt.total.pss, f(bc?.total, 'pss')],
    ['per pod: (everything - idle) / N       RSS', perPod(bt, idle.t, 'rss'), perPod(bc, idle.c, 'rss')],
    ['                                       PSS', perPod(bt, idle.t, 'pss'), perPod(bc, idle.c, 'pss')],
    ['per pod, monitors + pause only         RSS', (bt.monitor.rss + bt.pause.rss) / N, bc ? (bc.monitor.rss + bc.pause.rss) / N : NaN],
    ['                                       PSS', (bt.monitor.pss + bt.pause.pss) / N, bc ? (bc.monitor.pss + bc.pause.pss) / N : NaN],
    ['daemon growth per pod                  RSS', (bt.daemon.rss - idle.t.daemon.rss) / N, bc ? (bc.daemon.rss - idle.c.daemon.rss) / N : NaN],
  ]);

  if (VM) await vmRun();
} catch (e) {
  if (cleaning) await cleaning; // Ctrl-C: the pods went away under the run
  console.error(`\nbench/cri.mjs: ${e.stack ?? e}`);
  for (const s of order) {
    const log = path.join(s.dir, s.key === 't' ? 'tsulad.log' : 'containerd.log');
    if (existsSync(log)) console.error(`--- last lines of ${log}:\n${readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')}`);
  }
  exitCode = 1;
} finally {
  if (!cleaning) { cleaning = cleanup(); await cleaning; }
  console.log(`whole run ${((now() - started) / 1000).toFixed(0)} s; load ${loadavg()}`);
  process.exitCode = exitCode;
}

// ---- a VM pod through tsulad's vmm handler against a bare boot ----
async function vmRun() {
  const { detectAccel, loadVmmConfig } = await import(path.join(DIST, 'hypervisor/index.js'));
  const { warmAgentSnapshot } = await import(path.join(DIST, 'sandboxer/kinds/vmm/warmup.js'));
  const s = sides.t;
  // the agent snapshot cache: a private copy of the guest's (the guest dir is only read)
  const snaps = path.join(s.dir, 'snapshots');
  await fs.mkdir(snaps, { recursive: true });
  for (const f of await fs.readdir(path.join(GUEST, 'snapshots')).catch(() => [])) await fs.copyFile(path.join(GUEST, 'snapshots', f), path.join(snaps, f)).catch(() => {});
  await fs.writeFile(tsulaEnv.TSULA_VMM_CONFIG, `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\n` +
    `image = "${GUEST}/rootfs.img"\nboot_timeout = 300\nagent_snapshot_dir = "${snaps}"\n`);
  const hvConfig = (await loadVmmConfig(tsulaEnv.TSULA_VMM_CONFIG)).hypervisors.qemu;
  const accel = await detectAccel();
  console.log(`\nVM pods: accelerator ${accel.accel} (${accel.reason}); guest ${GUEST}, ${hvConfig.defaultMemory} MiB, ${hvConfig.defaultVcpus} vCPU, ${hvConfig.machineType}; load ${loadavg()}`);
  const warm = await warmAgentSnapshot({ vmmConfig: tsulaEnv.TSULA_VMM_CONFIG });
  console.log('off' in warm ? `  agent snapshot: off (${warm.off})` : `  agent snapshot ${warm.result.key}: ${warm.result.outcome === 'made' ? `made in ${(warm.result.ms / 1000).toFixed(1)} s` : warm.result.outcome}`);
  await fs.mkdir(path.join(s.dir, 'bare'), { recursive: true });
  const bare = await bareBooter({ dir: path.join(s.dir, 'bare'), hvConfig, accel: accel.accel });
  const pods = [];
  const bares = [];
  const nodes = [];
  for (let i = 0; i < VM_RUNS; i++) {
    const r = await runPod(s, `vm${i}`, { handler: 'vmm', command: ['sh', '-c', `echo ready; exec ${WORKLOAD.join(' ')}`] });
    // its first log line: kubelet's "container is up" as the user sees it
    let firstLine = NaN;
    for (const deadline = now() + 120_000; now() < deadline;) {
      if (/ stdout [FP] ready/.test(await fs.readFile(r.log, 'utf8').catch(() => ''))) { firstLine = now() - r.t0; break; }
      await sleep(5);
    }
    const d = await teardown(s, r.id);
    pods.push({ ...r, firstLine, down: d.total });
    const b = await bare.boot(`bare${i}`, 'bench-bare', BARE_MARKERS);
    bares.push(b);
    let line = `  run ${i + 1}: RunPodSandbox ${r.run.toFixed(0)} ms, +create ${r.create.toFixed(0)}, +start ${r.start.toFixed(0)}, first log line at ${firstLine.toFixed(0)} ms; bare boot ${b['BARE-READY'].toFixed(0)} ms`;
    if (NODE_BASELINE) {
      const nb = await bare.boot(`node${i}`, 'bench-node', NODE_MARKERS);
      nodes.push(nb);
      line += `, bare+disk+node ${nb['NODE-DONE'].toFixed(0)} ms`;
    }
    console.log(line);
  }
  const med = (xs, fn) => p50(xs.map(fn));
  const bareReady = med(bares, (b) => b['BARE-READY']);
  const nodeDone = NODE_BASELINE ? med(nodes, (b) => b['NODE-DONE']) : NaN;
  const rows = [
    ['RunPodSandbox (VM boot until its agent answers)', med(pods, (p) => p.run)],
    ['CreateContainer', med(pods, (p) => p.create)],
    ['StartContainer', med(pods, (p) => p.start)],
    ['RunPodSandbox -> container started', med(pods, (p) => p.total)],
    ['RunPodSandbox -> first log line ("ready")', med(pods, (p) => p.firstLine)],
    ['teardown (StopContainer 0, StopPodSandbox, RemovePodSandbox)', med(pods, (p) => p.down)],
    ['bare qemu: spawn -> its init prints', bareReady],
    ...(NODE_BASELINE ? [['bare qemu + disk + node: spawn -> node -e 0 done', nodeDone]] : []),
  ];
  console.log(`\n  ${`median of ${VM_RUNS} run(s)`.padEnd(64)}${pad('ms', 9)}`);
  for (const [label, v] of rows) console.log(`  ${label.padEnd(64)}${pad(v.toFixed(0), 9)}`);
  const run = med(pods, (p) => p.run);
  const first = med(pods, (p) => p.firstLine);
  console.log(`  ratios: RunPodSandbox/bare ${ratio(run, bareReady)}, first log line/bare ${ratio(first, bareReady)}` +
    (NODE_BASELINE ? `; RunPodSandbox/(bare+disk+node) ${ratio(run, nodeDone)}, first log line/(bare+disk+node) ${ratio(first, nodeDone)}` : ''));
}
