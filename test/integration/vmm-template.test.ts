// VM templates (vmm.toml enable_template = true), with real VMs under TCG, driven as users
// do (`tsula run --runtime vmm`): the first pod boots and the sandboxer makes the template
// behind it; the next pods are restored from it with their own virtio-fs share (the
// container's rootfs), their own hostname, their own RNG output and the right clock; a
// template whose recorded assets differ is refused (the pod boots normally) and made again;
// one that fails its restore makes the pod boot at once, and is made again too.
// Then a CRI pod on a CNI network from the template: its hot-plugged NIC gets the pod's IP.
// Then the VM cache (vm_cache_number = 1): a clone restored ahead becomes the next CRI pod (its
// NIC hot-plugged, its tap moved into the pod's netns), the cache fills again; a sandboxer
// killed -9 leaves no cached VM behind once the next one starts, which fills the cache at its
// start; a sandboxer closed takes its cached VM along.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { promises as fs, existsSync, readFileSync } from 'node:fs';
import { ROOT, TestDaemon, IMAGES, waitFor } from '../helpers/daemon.js';
import { crictl } from '../helpers/crictl.js';
import { createTestNet } from '../helpers/network.js';
import { killSandboxerLeftovers, nodeProcessesUnder, processesNamed, shortTempDir } from '../helpers/containerd.js';
import { ensureSandboxer } from '../../src/sandboxer/launch.js';
import { pidAlive } from '../../src/hypervisor/vm.js';
import { mountsUnder } from '../../src/sandboxer/kinds/vmm/shared.js';
import { MANIFEST, type TemplateManifest } from '../../src/sandboxer/kinds/vmm/templates.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const QEMU = '/usr/bin/qemu-system-x86_64';
const missing = [QEMU, '/usr/lib/qemu/virtiofsd', `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`, `${GUEST}/rootfs.img`].filter((p) => !existsSync(p));
if (process.getuid?.() !== 0) throw new Error('VM template tests need root');
if (missing.length) throw new Error(`VM template tests need ${missing.join(', ')}: scripts/deps.sh --test, then scripts/ensure-guest.sh ${GUEST}`);

const dir = await shortTempDir('tvt-');
const templates = path.join(dir, 'templates');
const vmmToml = path.join(dir, 'vmm.toml');
const machine = `[hypervisor.qemu]\nkernel = "${GUEST}/vmlinuz"\ninitrd = "${GUEST}/initramfs.cpio.gz"\nimage = "${GUEST}/rootfs.img"\nboot_timeout = 120\n`;
await fs.writeFile(vmmToml, `${machine}[factory]\nenable_template = true\ntemplate_path = "${templates}"\n`);
// the same machine (the same template) with a VM cache of one
const cacheToml = path.join(dir, 'vmm-cache.toml');
await fs.writeFile(cacheToml, `${machine}[factory]\nenable_template = true\ntemplate_path = "${templates}"\nvm_cache_number = 1\n`);

after(async () => {
  await killSandboxerLeftovers(dir);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
});

/** qemu, virtiofsd and mounts left under d. */
async function leftovers(d: string): Promise<string[]> {
  const procs = [...await processesNamed('qemu-system-x86_64', d), ...await processesNamed('virtiofsd', d)].map((p) => `pid ${p}`);
  return [...procs, ...mountsUnder(d).filter((m) => m.includes('.vm') || m.includes('/vm/')).map((m) => `mount ${m}`)];
}

/** The one template's dir and manifest, once it is complete. */
async function manifest(): Promise<{ file: string; m: TemplateManifest } | null> {
  const keys = (await fs.readdir(templates).catch(() => [] as string[])).filter((f) => /^[0-9a-f]{16}$/.test(f));
  if (keys.length !== 1) return null;
  const file = path.join(templates, keys[0]!, MANIFEST);
  const text = await fs.readFile(file, 'utf8').catch(() => null);
  return text ? { file, m: JSON.parse(text) as TemplateManifest } : null;
}

/** crictl on d's CRI socket, asserting success (the sandboxer's log on a failure), and pod configs in d's dir. */
function criPods(d: TestDaemon) {
  const log = () => fs.readFile(path.join(d.dir, 'sb', 'sandboxer.log'), 'utf8').catch(() => '');
  const ok = async (args: string[]) => {
    const r = await crictl(d.criSock, args, { timeoutMs: 240_000 });
    assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}\n${await log()}`);
    return r.stdout.trim();
  };
  const podConfig = async (name: string) => {
    const f = path.join(d.dir, `${name}.json`);
    await fs.writeFile(f, JSON.stringify({ metadata: { name, namespace: 'default', uid: `${name}-uid` }, hostname: `${name}-host`, log_directory: path.join(d.dir, 'logs'), linux: {} }));
    return f;
  };
  return { log, ok, podConfig };
}

/** Every pod, the daemon, what its sandboxer left, the network. */
async function teardownCri(d: TestDaemon, net0: { destroy(): Promise<void> }): Promise<void> {
  await crictl(d.criSock, ['rmp', '--all', '--force'], { timeoutMs: 120_000 }).catch(() => {});
  await d.destroy();
  await killSandboxerLeftovers(d.dir);
  await net0.destroy();
}

/** A test run alone has no template yet: a first pod boots and makes it. */
async function ensureTemplate(ok: (args: string[]) => Promise<string>, podConfig: (name: string) => Promise<string>): Promise<void> {
  if (await manifest()) return;
  const first = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', await podConfig('first')]);
  await ok(['rmp', '-f', first]);
  await waitFor(manifest, 240_000, 'the VM template');
}

test('VM templates: the first pod makes one; clones run containers on their own share with their own hostname, RNG and the right clock; other assets are refused, a failed restore boots; both are made again', { timeout: 600_000 }, async () => {
  const sbState = path.join(dir, 'sb');
  const env = { TSULA_SANDBOXER_STATE: sbState, TSULA_SANDBOXER_ADDRESS: path.join(dir, 'sb.sock'), TSULA_VMM_CONFIG: vmmToml };
  const d = await TestDaemon.create({ env });
  const log = () => fs.readFile(path.join(sbState, 'sandboxer.log'), 'utf8').catch(() => '');
  const restored = async () => (await log()).split('\n').filter((l) => l.includes('pod restored from its VM template'));
  try {
    assert.equal((await d.cli(['load', '-i', path.join(IMAGES, 'busybox.tar')])).code, 0);
    // 1. no template yet: the pod boots, and the sandboxer makes the template behind it
    let t0 = Date.now();
    const first = await d.cli(['run', '--rm', '--runtime', 'vmm', 'busybox', 'true'], { timeoutMs: 180_000 });
    assert.equal(first.code, 0, `${first.stderr}\n${await log()}`);
    const bootMs = Date.now() - t0;
    const made = await waitFor(manifest, 240_000, 'the VM template');
    console.log(`# template made in ${made.m.buildMs} ms`);
    assert.deepEqual(await restored(), []);

    // 2. two pods from it; each container's rootfs is on its pod's own virtio-fs share
    const ids: string[] = [];
    for (const name of ['clone-a', 'clone-b']) {
      t0 = Date.now();
      ids.push((await d.ok(['run', '-d', '--runtime', 'vmm', '--hostname', name, 'busybox', 'sleep', '1000'], { timeoutMs: 180_000 })).trim());
      console.log(`# tsula run -d from the template: ${Date.now() - t0} ms (first pod, booted: run --rm ${bootMs} ms)`);
    }
    assert.equal((await restored()).length, 2, await log());
    // a clone with a share: its RAM is QEMU's memfd, filled from the template's pages in use
    for (const l of await restored()) assert.match(l, /ram="?memfd"?.*ramCopyMs=/, l);
    const outs: string[] = [];
    for (const [i, id] of ids.entries()) {
      const out = await d.ok(['exec', id, 'sh', '-c', 'head -c16 /dev/urandom | od -An -tx1; date +%s; grep " / " /proc/mounts; cat /proc/mounts | grep -c virtiofs']);
      const [rng, date, rootMount] = out.split('\n');
      outs.push(rng!.trim());
      assert.ok(Math.abs(Number(date) - Date.now() / 1000) < 5, `guest clock ${date} vs host ${Math.round(Date.now() / 1000)}`);
      assert.match(rootMount!, /virtiofs/, `the container's rootfs is on the share: ${out}`);
      // the guest's own hostname (the debug shell runs in the guest, not in a container)
      const sh = await d.cli(['sandbox', 'shell', '--sandboxer-state', sbState, id.slice(0, 12)], { input: 'hostname\n', timeoutMs: 30_000 });
      assert.equal(sh.code, 0, sh.stderr);
      assert.match(sh.stdout, new RegExp(`^clone-${'ab'[i]}\\s*$`, 'm'), sh.stdout);
    }
    assert.match(outs[0]!, /^([0-9a-f]{2} ){15}[0-9a-f]{2}$/);
    assert.notEqual(outs[0], outs[1], 'two clones draw different random bytes');
    assert.equal((await d.cli(['rm', '-f', ...ids])).code, 0);
    await waitFor(async () => (await leftovers(sbState)).length === 0, 30_000, 'no qemu, virtiofsd or mount left');

    // 3. a template recorded with another kernel is refused: the pod boots, the template is made again
    const m = made.m;
    await fs.writeFile(made.file, JSON.stringify({ ...m, assets: { ...m.assets, kernel: { ...m.assets.kernel!, size: 1 } } }));
    const c = await d.cli(['run', '--rm', '--runtime', 'vmm', 'busybox', 'true'], { timeoutMs: 180_000 });
    assert.equal(c.code, 0, c.stderr);
    assert.match(await log(), /VM template refused.*the kernel .* changed since it was made/);
    assert.equal((await restored()).length, 2, 'the pod with a refused template booted');
    const again = await waitFor(async () => {
      const x = await manifest();
      return x && x.m.made !== m.made ? x : null;
    }, 240_000, 'the template made again');
    assert.deepEqual(again.m.assets, m.assets);

    // 4. a template that can't be restored (its device state damaged): the pod boots at once,
    // the log says why, and the template is made again for the next pod
    await fs.writeFile(path.join(path.dirname(again.file), 'state'), Buffer.alloc(4096, 0x5a));
    const e = await d.cli(['run', '--rm', '--runtime', 'vmm', 'busybox', 'sh', '-c', 'exit 5'], { timeoutMs: 180_000 });
    assert.equal(e.code, 5, e.stderr);
    assert.match(await log(), /restoring the pod from its VM template failed: booting it normally/);
    assert.equal((await restored()).length, 2);
    await waitFor(async () => {
      const x = await manifest();
      return x && x.m.made !== again.m.made ? x : null;
    }, 240_000, 'the template made again after a failed restore');
    const f = await d.cli(['run', '--rm', '--runtime', 'vmm', 'busybox', 'sh', '-c', 'exit 6'], { timeoutMs: 180_000 });
    assert.equal(f.code, 6, f.stderr);
    assert.equal((await restored()).length, 3, 'the next pod came from the new template');
    await waitFor(async () => (await leftovers(sbState)).length === 0, 30_000, 'no qemu, virtiofsd or mount left');
  } finally {
    await d.destroy();
    await killSandboxerLeftovers(dir);
  }
});

test('a CRI pod on the pod network from the template: the hot-plugged NIC has the pod IP and reaches the gateway', { timeout: 600_000 }, async () => {
  const net0 = await createTestNet('vmtpl');
  const d = await TestDaemon.create({ env: { TSULA_VMM_CONFIG: vmmToml }, configJson: { 'cni-conf-dir': net0.confDir } });
  const { log, ok, podConfig } = criPods(d);
  try {
    await d.loadBusybox();
    await ensureTemplate(ok, podConfig);
    const t0 = Date.now();
    const podFile = await podConfig('web');
    const pod = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', podFile]);
    console.log(`# CRI pod with a NIC from the template: runp in ${Date.now() - t0} ms`);
    assert.match(await log(), /pod restored from its VM template/);
    const ctrFile = path.join(d.dir, 'c-sh.json');
    await fs.writeFile(ctrFile, JSON.stringify({ metadata: { name: 'sh' }, image: { image: 'busybox' }, command: ['sleep', '1000'], log_path: 'sh.log' }));
    const sh = await ok(['create', pod, ctrFile, podFile]);
    await ok(['start', sh]);
    const ip = JSON.parse(await ok(['inspectp', pod])).status.network.ip as string;
    const addr = await ok(['exec', sh, 'ip', 'addr', 'show', 'eth0']);
    assert.ok(addr.includes(`inet ${ip}/24`), addr);
    const ping = await crictl(d.criSock, ['exec', sh, 'ping', '-c', '1', '-W', '5', net0.gateway], { timeoutMs: 60_000 });
    assert.equal(ping.code, 0, `ping ${net0.gateway}: ${ping.stdout}${ping.stderr}`);
    assert.equal(await ok(['exec', sh, 'hostname']), 'web-host');
    // a pod from the template stops in about a second (its guest's power-off never completes:
    // QEMU is told to quit once the agent shut down), not kubelet's 10 s grace and a SIGTERM
    const other = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', await podConfig('other')]);
    const t1 = Date.now();
    await ok(['stopp', other]);
    const stopMs = Date.now() - t1;
    console.log(`# CRI pod from the template: stopp in ${stopMs} ms`);
    assert.ok(stopMs < 6000, `stopp of a pod from the template took ${stopMs} ms`);
    await ok(['rmp', other]);
    // its VM killed from outside: the pod is not ready within seconds (kubelet makes a new one)
    const qemus = await processesNamed('qemu-system-x86_64', d.dir);
    assert.equal(qemus.length, 1, 'one VM');
    process.kill(qemus[0]!, 'SIGKILL');
    await waitFor(async () => JSON.parse(await ok(['inspectp', pod])).status.state === 'SANDBOX_NOTREADY', 20_000, 'the VM pod not ready');
    await ok(['rmp', '-f', pod]);
    await waitFor(async () => (await leftovers(d.dir)).length === 0, 30_000, 'no qemu, virtiofsd or mount left');
  } finally {
    await teardownCri(d, net0);
  }
});

test('the VM cache: a clone restored ahead becomes the next CRI pod, with its NIC; the cache fills again; a sandboxer killed -9 leaves no cached VM, the next fills the cache at its start', { timeout: 600_000 }, async () => {
  const net0 = await createTestNet('vmcache');
  const d = await TestDaemon.create({ env: { TSULA_VMM_CONFIG: cacheToml }, configJson: { 'cni-conf-dir': net0.confDir } });
  const sb = path.join(d.dir, 'sb');
  const cacheDir = path.join(sb, 'vmcache');
  const count = async (what: RegExp) => (await log()).split('\n').filter((l) => what.test(l)).length;
  /** The cached clones' QEMU pids (their pid files in the cache's dir). */
  const waiting = async () => {
    const pids: number[] = [];
    for (const c of await fs.readdir(cacheDir).catch(() => [] as string[])) {
      const pid = Number(await fs.readFile(path.join(cacheDir, c, 'vmm.pid'), 'utf8').catch(() => '0'));
      if (pid > 0 && pidAlive(pid)) pids.push(pid);
    }
    return pids;
  };
  const { log, ok, podConfig } = criPods(d);
  try {
    await d.loadBusybox();
    await ensureTemplate(ok, podConfig);
    // the first pod of this sandboxer comes from the template, and the cache fills behind it
    const warm = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', await podConfig('warm')]);
    // (its QEMU runs from the start of its restore: the log says when it waits)
    await waitFor(async () => await count(/msg="VM cached"/) === 1, 120_000, 'a cached VM');
    // warmed up by a throwaway container (the host has the static busybox the guest is built with)
    assert.match((await log()).split('\n').find((l) => /msg="VM cached"/.test(l))!, /warmUpMs=\d+/);
    const [cachedPid] = await waiting();
    const niceness = Number(readFileSync(`/proc/${cachedPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    assert.equal(niceness, 10, 'a cached VM waits at niceness 10');

    // the next pod takes it: its hostname, the pod's IP on the hot-plugged NIC, the gateway reachable
    const t0 = Date.now();
    const podFile = await podConfig('fast');
    const pod = await ok(['--timeout', '240s', 'runp', '-r', 'vmm', podFile]);
    console.log(`# CRI pod with a NIC from the VM cache: runp in ${Date.now() - t0} ms`);
    assert.equal(await count(/pod made of a cached VM/), 1, await log());
    assert.equal(Number(readFileSync(`/proc/${cachedPid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]), 0, 'the pod\'s VM runs at niceness 0');
    const ctrFile = path.join(d.dir, 'c-sh.json');
    await fs.writeFile(ctrFile, JSON.stringify({ metadata: { name: 'sh' }, image: { image: 'busybox' }, command: ['sleep', '1000'], log_path: 'sh.log' }));
    const sh = await ok(['create', pod, ctrFile, podFile]);
    await ok(['start', sh]);
    const ip = JSON.parse(await ok(['inspectp', pod])).status.network.ip as string;
    assert.ok((await ok(['exec', sh, 'ip', 'addr', 'show', 'eth0'])).includes(`inet ${ip}/24`));
    const ping = await crictl(d.criSock, ['exec', sh, 'ping', '-c', '1', '-W', '5', net0.gateway], { timeoutMs: 60_000 });
    assert.equal(ping.code, 0, `ping ${net0.gateway}: ${ping.stdout}${ping.stderr}`);
    assert.equal(await ok(['exec', sh, 'hostname']), 'fast-host');
    const date = Number(await ok(['exec', sh, 'date', '+%s']));
    assert.ok(Math.abs(date - Date.now() / 1000) < 5, `guest clock ${date}`);
    // the cache fills again
    await waitFor(async () => await count(/msg="VM cached"/) === 2, 120_000, 'the cache filled again');

    // kill -9 of the sandboxer: the pods live on; the next sandboxer removes the waiting clone,
    // still reaches the pod that was one (its dir renamed into the sandbox's), and fills the
    // cache again at its start, before any pod asks (its vmm.toml asks for a cache)
    const [refill] = (await waiting()).filter((p) => p !== cachedPid);
    const sandboxers = await nodeProcessesUnder(sb);
    assert.equal(sandboxers.length, 1);
    process.kill(sandboxers[0]!, 'SIGKILL');
    process.env.TSULA_SANDBOXER_BIN = path.join(ROOT, 'bin', 'tsula-sandboxer');
    process.env.TSULA_VMM_CONFIG = cacheToml; // as tsulad starts it (the test's daemon env)
    try {
      await ensureSandboxer(sb, path.join(d.dir, 'sb.sock'));
    } finally {
      delete process.env.TSULA_VMM_CONFIG;
    }
    // (tsulad may have started the next sandboxer already: ensureSandboxer then finds it starting)
    await waitFor(async () => !pidAlive(refill!), 30_000, 'the cached VM of the killed sandboxer gone');
    await waitFor(async () => await count(/msg="VM cached"/) === 3, 120_000, 'the cache filled at the next sandboxer\'s start');
    const now = await waiting();
    assert.equal(now.length, 1, `one cached VM: ${now.join(', ')}`);
    assert.notEqual(now[0], refill);
    assert.equal((await fs.readdir(cacheDir)).length, 1, 'the killed sandboxer\'s clone dir removed');
    assert.equal(await ok(['exec', sh, 'hostname']), 'fast-host');
    for (const p of [warm, pod]) await ok(['rmp', '-f', p]);
    // the cached VM goes with its sandboxer (SIGTERM: its close)
    const [next] = await nodeProcessesUnder(sb);
    process.kill(next!, 'SIGTERM');
    await waitFor(async () => !pidAlive(next!), 30_000, 'the sandboxer closed');
    await waitFor(async () => (await leftovers(d.dir)).length === 0, 30_000, 'no qemu, virtiofsd or mount left');
  } finally {
    await teardownCri(d, net0);
  }
});
