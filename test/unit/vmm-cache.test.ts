// The VM cache (vm_cache_number): its config keys (vmm.toml's and kata's [factory]), the ip
// batches that move a cached clone's tap into the pod's netns, and the cache's bookkeeping with
// a fake restore whose "VMs" are idle node processes naming their dir (as QEMU's command line
// does): filled to the number asked, taken into the pod's dir, refilled, trimmed, emptied of
// another template's clones, a dead one dropped, a failing restore not retried at once, all
// gone at close, and a killed sandboxer's left-overs reaped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import { defaultHypervisorConfig, parseVmmConfig, type AccelChoice, type HypervisorConfig } from '../../src/hypervisor/index.js';
import { pidAlive } from '../../src/hypervisor/vm.js';
import { ORIGIN_FILE, reapVmCache, VmCache, type CacheRestorer } from '../../src/sandboxer/kinds/vmm/cache.js';
import { adoptionBatches, plumbingBatches } from '../../src/sandboxer/kinds/vmm/network.js';
import type { Template } from '../../src/sandboxer/kinds/vmm/templates.js';
import { asksForVmCache } from '../../src/sandboxer/kinds/vmm/config.js';
import type { TtrpcClient } from '../../src/ttrpc/client.js';

const host = { vhostVsock: false, vhostNet: false };
const root = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-vmcache-'));
const started: number[] = [];
after(async () => {
  for (const p of started) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  await fs.rm(root, { recursive: true, force: true });
});

test('vm_cache_number: vmm.toml and kata\'s [factory], default 0; it needs enable_template', () => {
  assert.equal(parseVmmConfig('', 'f', { host }).hypervisors.qemu!.vmCacheNumber, 0);
  assert.equal(parseVmmConfig('[hypervisor.qemu]\nenable_template = true\nvm_cache_number = 2\n', 'f', { host }).hypervisors.qemu!.vmCacheNumber, 2);
  const kata = parseVmmConfig('[hypervisor.qemu]\npath = "/usr/bin/qemu-system-x86_64"\n[factory]\nenable_template = true\nvm_cache_number = 3\nvm_cache_endpoint = "/run/kata-containers/cache.sock"\n', 'f', { host });
  assert.equal(kata.hypervisors.qemu!.vmCacheNumber, 3);
  assert.deepEqual(kata.ignored, ['factory.vm_cache_endpoint']);
  assert.throws(() => parseVmmConfig('[factory]\nvm_cache_number = 1\n', 'f', { host }), /vm_cache_number: 1 caches clones of the VM template, which enable_template = false turns off: set enable_template = true, or vm_cache_number = 0/);
  assert.throws(() => parseVmmConfig('[hypervisor.qemu]\nenable_template = true\nvm_cache_number = -1\n', 'f', { host }), /vm_cache_number: -1 is out of range 0\.\.64/);
});

test('does a vmm.toml ask for a VM cache? read as text at the sandboxer\'s start (no VM code loads when it does not)', async () => {
  const f = path.join(root, 'vmm.toml');
  const asks = async (text: string) => { await fs.writeFile(f, text); return asksForVmCache(f); };
  assert.equal(await asks('[hypervisor.qemu]\nenable_template = true\nvm_cache_number = 2\n'), true);
  assert.equal(await asks('[factory]\nenable_template = true\n  vm_cache_number=1\n'), true);
  assert.equal(await asks('[factory]\nvm_cache_number = 0\n'), false);
  assert.equal(await asks('# vm_cache_number = 3\n'), false);
  assert.equal(await asks('[factory]\nvm_cache_number = 00\n'), false);
  assert.equal(await asksForVmCache(path.join(root, 'missing.toml')), false);
});

test('a cached clone\'s tap: moved from its QEMU\'s netns into the pod\'s, then MTU, up and both redirects there', () => {
  const b = adoptionBatches('/run/netns/cni-1', 'eth0', 'tap0_kata', 1450);
  assert.deepEqual(b.move, ['link set dev tap0_kata netns /run/netns/cni-1']);
  const plumb = plumbingBatches('eth0', 'tap0_kata', 1450);
  assert.deepEqual(b.pod.ip, ['link set dev tap0_kata mtu 1450', 'link set dev tap0_kata up']);
  assert.deepEqual(b.pod.tc, plumb.tc);
  assert.throws(() => adoptionBatches('/run/netns/a b', 'eth0', 'tap0_kata', 1500), /blanks/);
});

const accel: AccelChoice = { accel: 'tcg', reason: 'test' };
const cfg = (n: number): HypervisorConfig => ({ ...defaultHypervisorConfig('qemu'), enableTemplate: true, vmCacheNumber: n });
const template = (key: string) => ({ dir: '/t', ram: '/t/ram', state: '/t/state', runs: [], manifest: { key } }) as unknown as Template;

/** A stand-in VM: an idle node process with its dir on its command line and its pid file there. */
const fakeRestore = (calls: string[], fail = () => false): CacheRestorer => async (_cfg, _accel, t, dir) => {
  calls.push(t.manifest.key);
  if (fail()) throw new Error('qemu refused the state');
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', dir], { stdio: 'ignore' });
  started.push(child.pid!);
  await fs.writeFile(path.join(dir, 'vmm.pid'), String(child.pid));
  const exited = new Promise<number>((r) => child.once('exit', (c, s) => r(c ?? (s ? 137 : 1))));
  return {
    vm: { pid: child.pid!, argv: [], client: { close() {} } as unknown as TtrpcClient, ping: {} as never, readyMs: 1, exited },
    virtiofsdPid: 0, timing: { restoreMs: 1, hotplugMs: 0, setupMs: 0, ram: 'memfd' },
  };
};

async function until(what: string, f: () => boolean | Promise<boolean>): Promise<void> {
  for (const end = Date.now() + 10_000; !(await f());) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the cache: filled to the number asked, taken into the pod\'s dir, refilled, trimmed, another template\'s clones dropped, all gone at close', async () => {
  const calls: string[] = [];
  const workDir = path.join(root, 'c1');
  const cache = new VmCache({ workDir, restore: fakeRestore(calls) });
  cache.fill(cfg(2), accel, template('k1'));
  await cache.idle();
  assert.equal(cache.size, 2);
  assert.deepEqual(calls, ['k1', 'k1']);
  assert.equal(await cache.take('other', path.join(root, 'pod0')), null, 'no clone of another template');

  const into = path.join(root, 'pod1.vm');
  const got = await cache.take('k1', into);
  assert.ok(got);
  assert.equal(got.dir, into);
  assert.ok(pidAlive(got.vm.pid));
  const origin = await fs.readFile(path.join(into, ORIGIN_FILE), 'utf8');
  assert.ok(origin.startsWith(path.join(workDir, 'c-')), origin);
  assert.ok(!existsSync(origin), 'the dir moved');
  assert.equal(cache.size, 1);

  // refilled; a fill asked while one runs is not lost
  cache.fill(cfg(2), accel, template('k1'));
  cache.fill(cfg(2), accel, template('k1'));
  await cache.idle();
  assert.equal(cache.size, 2);
  assert.equal(calls.length, 3);

  // vm_cache_number lowered: the surplus goes
  cache.fill(cfg(1), accel, template('k1'));
  await cache.idle();
  assert.equal(cache.size, 1);
  // another template (a changed config): the old one's clones go, the new one's come
  const before = (await fs.readdir(workDir)).map((n) => path.join(workDir, n));
  cache.fill(cfg(1), accel, template('k2'));
  await cache.idle();
  assert.equal(cache.size, 1);
  assert.deepEqual(calls.slice(3), ['k2']);
  for (const d of before) assert.ok(!existsSync(d), `${d} removed`);

  // a clone that dies while it waits leaves the cache (and its dir goes)
  const [dirK2] = await fs.readdir(workDir);
  const pidK2 = Number(await fs.readFile(path.join(workDir, dirK2!, 'vmm.pid'), 'utf8'));
  process.kill(pidK2, 'SIGKILL');
  await until('the dead clone dropped', async () => cache.size === 0 && !existsSync(path.join(workDir, dirK2!)));

  cache.fill(cfg(2), accel, template('k2'));
  await cache.idle();
  const pids = await Promise.all((await fs.readdir(workDir)).map(async (n) => Number(await fs.readFile(path.join(workDir, n, 'vmm.pid'), 'utf8'))));
  assert.equal(pids.length, 2);
  await cache.close();
  assert.equal(cache.size, 0);
  assert.deepEqual(await fs.readdir(workDir), []);
  for (const p of pids) assert.ok(!pidAlive(p), `cached VM ${p} stopped at close`);
  cache.fill(cfg(2), accel, template('k2'));
  await cache.idle();
  assert.equal(cache.size, 0, 'a closed cache does not fill');
  process.kill(got.vm.pid, 'SIGKILL'); // the "pod's" VM: not the cache's to stop
});

test('a restore that fails stops the filling for a while (no retry at every pod); the failed clone\'s dir goes', async () => {
  const calls: string[] = [];
  const workDir = path.join(root, 'c2');
  const warnings: string[] = [];
  const log = { warn: (m: string) => warnings.push(m), info: () => {}, debug: () => {}, error: () => {} } as never;
  const cache = new VmCache({ workDir, log, restore: fakeRestore(calls, () => true) });
  cache.fill(cfg(2), accel, template('k'));
  await cache.idle();
  cache.fill(cfg(2), accel, template('k'));
  await cache.idle();
  assert.deepEqual(calls, ['k'], 'tried once');
  assert.match(warnings.join('\n'), /cannot restore a VM for the VM cache/);
  assert.deepEqual(await fs.readdir(workDir), []);
  await cache.close();
});

test('reapVmCache: the waiting clones a killed sandboxer left are stopped and removed', async () => {
  const workDir = path.join(root, 'c3');
  const leftover = new VmCache({ workDir, restore: fakeRestore([]) });
  leftover.fill(cfg(2), accel, template('k'));
  await leftover.idle();
  const dirs = (await fs.readdir(workDir)).map((n) => path.join(workDir, n));
  const pids = await Promise.all(dirs.map(async (d) => Number(await fs.readFile(path.join(d, 'vmm.pid'), 'utf8'))));
  // (the cache object is forgotten, as a killed sandboxer's is)
  await reapVmCache(workDir);
  await until('the left clones stopped', () => pids.every((p) => !pidAlive(p)));
  assert.deepEqual(await fs.readdir(workDir), []);
});
