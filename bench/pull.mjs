#!/usr/bin/env node
// Pull + unpack of a multi-layer image from a local docker-registry, side by side in one run:
//   tsula pull (CLI, and the engine alone through POST /images/create)
//   ctr images pull --plain-http   (containerd from Debian, private root/state/socket; unpacks)
//   skopeo copy docker://… dir:…   (download only, no unpack: the transfer floor)
//   node bench/pull.mjs [RUNS] [LAYERS] [MB_PER_LAYER]     (root; after npm run build)
// Every run starts from an empty store (rmi / images rm --sync / rm -rf between runs).
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, existsSync, openSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const RUNS = Number(process.argv[2] ?? 3);
const LAYERS = Number(process.argv[3] ?? 4);
const MB = Number(process.argv[4] ?? 16);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-bench-pull-'));
const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const procs = [];

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}

function start(cmd, args, logName) {
  const log = openSync(path.join(dir, logName), 'a');
  const p = spawn(cmd, args, { stdio: ['ignore', log, log] });
  procs.push(p);
  return p;
}

function must(r, what) {
  if (r.status !== 0) throw new Error(`${what} failed (${r.status}): ${r.stderr || r.stdout}`);
  return r;
}

function hwmKb(pid) {
  try { return Number(/VmHWM:\s+(\d+)/.exec(execFileSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }))[1]); } catch { return 0; }
}

/** A layer of `mb` MB: 64 files of half random (incompressible), half repetitive text. */
async function makeLayer(i, mb) {
  const d = path.join(dir, `layer${i}`);
  await fs.mkdir(path.join(d, `data${i}`), { recursive: true });
  const per = Math.floor((mb << 20) / 64);
  for (let f = 0; f < 64; f++) {
    const rnd = randomBytes(per >> 1);
    const txt = Buffer.from(`layer ${i} file ${f} `.repeat(Math.ceil((per >> 1) / 20))).subarray(0, per >> 1);
    await fs.writeFile(path.join(d, `data${i}`, `f${f}`), Buffer.concat([rnd, txt]));
  }
  const tar = path.join(dir, `layer${i}.tar`);
  execFileSync('tar', ['-C', d, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-cf', tar, '.']);
  await fs.rm(d, { recursive: true });
  return tar;
}

function get(url, headers = {}) {
  return new Promise((resolve) => {
    http.get(url, { headers }, (res) => {
      let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ status: res.statusCode, body: d }));
    }).on('error', () => resolve({ status: 0, body: '' }));
  });
}

function api(sock, method, p) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, method, path: p }, (res) => {
      let d = ''; res.on('data', (c) => { d += c; }); res.on('end', () => resolve({ status: res.statusCode, body: d }));
    });
    req.on('error', reject);
    req.end();
  });
}

try {
  if (!existsSync(path.join(ROOT, 'build/images/busybox.tar'))) execFileSync(path.join(ROOT, 'scripts/build-busybox-image.sh'), [path.join(ROOT, 'build/images')]);

  // ---- a registry and a multi-layer image in it ------------------------------------------
  const port = await freePort();
  const REG = `127.0.0.1:${port}`;
  await fs.writeFile(path.join(dir, 'registry.yml'),
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/registry\nhttp:\n  addr: ${REG}\n  secret: bench\n`);
  start('docker-registry', ['serve', path.join(dir, 'registry.yml')], 'registry.log');
  for (let i = 0; i < 200 && (await get(`http://${REG}/v2/`)).status !== 200; i++) await sleep(50);

  const oci = path.join(dir, 'oci');
  must(spawnSync('umoci', ['init', '--layout', oci]), 'umoci init');
  must(spawnSync('umoci', ['new', '--image', `${oci}:bench`]), 'umoci new');
  must(spawnSync('umoci', ['config', '--image', `${oci}:bench`, '--architecture', 'amd64', '--os', 'linux', '--config.cmd', 'sh']), 'umoci config');
  // the busybox layer first, then the generated ones
  execFileSync('tar', ['-xf', path.join(ROOT, 'build/images/busybox.tar'), '-C', dir, 'manifest.json']);
  const bbLayer = JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8'))[0].Layers[0];
  execFileSync('tar', ['-xf', path.join(ROOT, 'build/images/busybox.tar'), '-C', dir, bbLayer]);
  must(spawnSync('umoci', ['raw', 'add-layer', '--image', `${oci}:bench`, path.join(dir, bbLayer)]), 'umoci add-layer');
  for (let i = 0; i < LAYERS; i++) {
    const tar = await makeLayer(i, MB);
    must(spawnSync('umoci', ['raw', 'add-layer', '--image', `${oci}:bench`, tar]), 'umoci add-layer');
    await fs.rm(tar);
  }
  must(spawnSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${oci}:bench`, `docker://${REG}/bench:latest`]), 'skopeo push');
  const manifest = JSON.parse((await get(`http://${REG}/v2/bench/manifests/latest`, { Accept: 'application/vnd.oci.image.manifest.v1+json' })).body);
  const compressed = manifest.layers.reduce((n, l) => n + l.size, 0);
  const IMAGE = `${REG}/bench:latest`;

  // ---- tsula --------------------------------------------------------------------------------
  const sock = path.join(dir, 'tsulad.sock');
  await fs.writeFile(path.join(dir, 'daemon.json'), '{}');
  const tsulad = start(path.join(ROOT, 'bin/tsulad'), ['-H', `unix://${sock}`, '--graph', path.join(dir, 'graph'), '--state', path.join(dir, 'state'), '--cri-socket', `unix://${path.join(dir, 'cri.sock')}`, '--config-file', path.join(dir, 'daemon.json')], 'tsulad.log');
  const tsula = (...args) => spawnSync(process.execPath, [path.join(ROOT, 'build/tsula.mjs'), '-H', `unix://${sock}`, ...args], { encoding: 'utf8' });
  for (let i = 0; i < 200 && tsula('version').status !== 0; i++) await sleep(50);
  const tsulaCli = [];
  const tsulaApi = [];
  for (let i = 0; i < RUNS; i++) {
    let t = now();
    must(tsula('pull', '-q', IMAGE), 'tsula pull');
    tsulaCli.push(now() - t);
    must(tsula('rmi', IMAGE), 'tsula rmi');
    t = now();
    const r = await api(sock, 'POST', `/v1.41/images/create?fromImage=${encodeURIComponent(`${REG}/bench`)}&tag=latest`);
    tsulaApi.push(now() - t);
    if (r.status !== 200 || r.body.includes('"error"')) throw new Error(`API pull failed: ${r.body.slice(-300)}`);
    must(tsula('rmi', IMAGE), 'tsula rmi');
  }
  const tsuladHwm = hwmKb(tsulad.pid);

  // ---- containerd + ctr -----------------------------------------------------------------
  const cd = path.join(dir, 'containerd');
  const csock = path.join(cd, 'containerd.sock');
  await fs.mkdir(cd, { recursive: true });
  await fs.writeFile(path.join(cd, 'config.toml'), [
    'version = 2', `root = "${cd}/root"`, `state = "${cd}/state"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]', `  address = "${csock}"`, '[ttrpc]', `  address = "${csock}.ttrpc"`, '',
  ].join('\n'));
  start('containerd', ['--config', path.join(cd, 'config.toml')], 'containerd.log');
  const ctr = (...args) => spawnSync('ctr', ['-a', csock, '-n', 'bench', ...args], { encoding: 'utf8' });
  for (let i = 0; i < 200 && ctr('version').status !== 0; i++) await sleep(50);
  const ctrTimes = [];
  for (let i = 0; i < RUNS; i++) {
    const t = now();
    must(ctr('images', 'pull', '--plain-http', IMAGE), 'ctr pull');
    ctrTimes.push(now() - t);
    must(ctr('images', 'rm', '--sync', IMAGE), 'ctr images rm');
  }

  // ---- skopeo (download only) ---------------------------------------------------------------
  const skTimes = [];
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(dir, `skopeo-${i}`);
    const t = now();
    must(spawnSync('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${IMAGE}`, `dir:${out}`]), 'skopeo copy');
    skTimes.push(now() - t);
    await fs.rm(out, { recursive: true, force: true });
  }

  const tc = median(tsulaCli);
  const ta = median(tsulaApi);
  const cc = median(ctrTimes);
  const sk = median(skTimes);
  const rows = [
    ['tsula pull (CLI)', tc],
    ['tsula engine (POST /images/create)', ta],
    ['ctr images pull (containerd, unpacks)', cc],
    ['skopeo copy to dir (download only)', sk],
  ];
  console.log(`image: ${manifest.layers.length} layers, ${(compressed / 1e6).toFixed(1)} MB compressed (${LAYERS} x ${MB} MiB generated + busybox), ${RUNS} runs, median`);
  for (const [label, ms] of rows) console.log(`  ${label.padEnd(40)} ${ms.toFixed(0).padStart(6)} ms`);
  console.log(`  tsula CLI / ctr:     ${(tc / cc).toFixed(2)}x`);
  console.log(`  tsula engine / ctr:  ${(ta / cc).toFixed(2)}x`);
  console.log(`  tsula CLI / skopeo:  ${(tc / sk).toFixed(2)}x`);
  console.log(`  tsulad peak RSS (VmHWM) over all pulls: ${(tsuladHwm / 1024).toFixed(1)} MB`);
} finally {
  for (const p of procs.reverse()) {
    if (p.exitCode === null) {
      p.kill('SIGTERM');
      await Promise.race([new Promise((r) => p.once('exit', r)), sleep(5000)]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
  }
  // containerd's and tsula's overlay mounts, if any were left
  for (const m of (await fs.readFile('/proc/self/mounts', 'utf8')).split('\n').map((l) => l.split(' ')[1]).filter((m) => m?.startsWith(dir)).reverse()) {
    spawnSync('umount', ['-l', m]);
  }
  await fs.rm(dir, { recursive: true, force: true });
}
