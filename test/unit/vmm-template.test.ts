// VM templates' pure parts: the config keys (vmm.toml's and kata's [factory]), the command
// lines of a template's boot and of its clones (the same devices on both sides, no virtio-fs
// and no NIC, RAM in the template's file), the QMP hot-plugs, the key and the manifest check,
// and the clone setup program's input (struct timespec + struct rand_pool_info, flags, hostname),
// and the program itself in its rehearsal mode (it changes nothing there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { QemuHypervisor, defaultHypervisorConfig, parseVmmConfig, type VmSpec } from '../../src/hypervisor/index.js';
import { assetsDiffer, hostCpuId, templateAssets, templateConfig, templateDir, templateKey, VmTemplates, MANIFEST, RAM_FILE, STATE_FILE, RUNS_FILE } from '../../src/sandboxer/kinds/vmm/templates.js';
import { hotplugCommands } from '../../src/sandboxer/kinds/vmm/clone.js';
import { copyRuns, ramRuns, runsBytes, validRuns } from '../../src/sandboxer/kinds/vmm/ram.js';
import { setupFailure, setupInput } from '../../src/agent/clone.js';
import { GUEST_SHARED_DIR } from '../../src/agent/paths.js';

const host = { vhostVsock: false, vhostNet: false };
const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));
const paths = (d: string) => ({ agentSocket: `${d}/agent.sock`, debugSocket: `${d}/debug.sock`, qmpSocket: `${d}/qmp.sock`, consoleLog: `${d}/console.log`, pidFile: `${d}/vmm.pid` });

test('enable_template and template_path: vmm.toml, kata\'s [factory], default off; refused where nothing can be hot-plugged', () => {
  assert.equal(parseVmmConfig('', 'f', { host }).hypervisors.qemu!.enableTemplate, false);
  const own = parseVmmConfig('[hypervisor.qemu]\nenable_template = true\ntemplate_path = "/t"\n', 'f', { host }).hypervisors.qemu!;
  assert.equal(own.enableTemplate, true);
  assert.equal(own.templatePath, '/t');
  const kata = parseVmmConfig('[hypervisor.qemu]\npath = "/usr/bin/qemu-system-x86_64"\n[factory]\nenable_template = true\ntemplate_path = "/run/vc/vm/template"\nvm_cache_number = 0\n', 'f', { host });
  assert.equal(kata.hypervisors.qemu!.enableTemplate, true);
  assert.equal(kata.hypervisors.qemu!.templatePath, '/run/vc/vm/template');
  assert.deepEqual(kata.ignored, []);
  assert.throws(() => parseVmmConfig('[factory]\nenable_template = "yes"\n', 'f', { host }), /factory\.enable_template: must be true or false/);
  assert.throws(() => parseVmmConfig('[hypervisor.qemu]\nmachine_type = "microvm"\nenable_template = true\n', 'f', { host }), /hypervisor\.qemu\.enable_template: VM templates need QEMU with a q35 or pc machine/);
  assert.throws(() => parseVmmConfig('[factory]\ntemplate_path = "rel"\n', 'f', { host }), /factory\.template_path: must be an absolute path/);
  const cfg = { ...defaultHypervisorConfig('qemu'), initrd: '/g/initramfs.cpio.gz' };
  assert.equal(templateDir(cfg), '/g/templates');
  assert.equal(templateDir({ ...cfg, templatePath: '/t' }), '/t');
});

test('a template\'s argv: RAM in its file, hot-plug slots, no virtio-fs or NIC; a clone\'s has the same devices and waits for the state', () => {
  const cfg = templateConfig({ ...defaultHypervisorConfig('qemu'), kernel: '/g/vmlinuz', initrd: '/g/initrd', image: '/g/rootfs.img', defaultMemory: 256 });
  const hv = new QemuHypervisor(cfg);
  const pod = { sharedFs: { socket: '/p/fs.sock', tag: 'tsula' }, nics: [{ tap: 'tap0_kata', mac: 'aa:bb:cc:dd:ee:ff' }] };
  const build: VmSpec = { id: 'template-k', accel: 'tcg', paths: paths('/w'), template: { ramFile: '/t/k/ram', shareRam: true, restore: false } };
  const clone: VmSpec = { id: 'pod1', accel: 'tcg', paths: paths('/p'), ...pod, template: { ramFile: '/t/k/ram', shareRam: false, restore: true } };
  const a = hv.argv(build);
  const b = hv.argv(clone);
  assert.deepEqual(values(a, '-object'), ['memory-backend-file,id=mem0,size=256M,mem-path=/t/k/ram,share=on']);
  assert.deepEqual(values(b, '-object'), ['memory-backend-file,id=mem0,size=256M,mem-path=/t/k/ram,share=off']);
  // a clone whose RAM virtiofsd must see: QEMU's memfd, the same machine otherwise
  const withFs = hv.argv({ ...clone, template: { shareRam: true, restore: true } });
  assert.deepEqual(values(withFs, '-object'), ['memory-backend-memfd,id=mem0,size=256M,share=on']);
  for (const flag of ['-machine', '-device', '-append', '-incoming']) assert.deepEqual(values(withFs, flag), values(b, flag), flag);
  assert.deepEqual(values(a, '-machine'), ['q35,memory-backend=mem0']);
  assert.match(values(a, '-append')[0]!, /tsula\.agent_snapshot=off/);
  assert.deepEqual(values(a, '-incoming'), []);
  assert.deepEqual(values(b, '-incoming'), ['defer']);
  // the machine the state is restored into is the template's: every device and its order
  for (const flag of ['-machine', '-cpu', '-smp', '-m', '-device', '-drive', '-append', '-kernel', '-initrd']) {
    assert.deepEqual(values(b, flag), values(a, flag), flag);
  }
  assert.ok(values(a, '-device').includes('pcie-root-port,id=tslot0,chassis=1,slot=1,bus=pcie.0'));
  assert.ok(!b.some((x) => /vhost-user-fs|virtio-net|netdev/.test(x)), 'the pod\'s devices are hot-plugged, not on argv');
  // pc: no root ports (its root bus hot-plugs)
  assert.ok(!new QemuHypervisor({ ...cfg, machineType: 'pc' }).argv(build).some((x) => x.includes('pcie-root-port')));
});

test('the clone\'s hot-plugs: the NIC on its tap, then virtio-fs on a client chardev, into the slots', () => {
  const cfg = defaultHypervisorConfig('qemu');
  const cmds = hotplugCommands(cfg, { sharedFs: { socket: '/p/fs.sock', tag: 'tsula' }, nic: { tap: 'tap0_kata', mac: 'aa:bb:cc:dd:ee:ff' } });
  assert.deepEqual(cmds.map(([c]) => c), ['netdev_add', 'device_add', 'chardev-add', 'device_add']);
  assert.deepEqual(cmds[0]![1], { type: 'tap', id: 'net0', ifname: 'tap0_kata', script: 'no', downscript: 'no' });
  assert.deepEqual(cmds[1]![1], { driver: 'virtio-net-pci', id: 'nic0', netdev: 'net0', mac: 'aa:bb:cc:dd:ee:ff', bus: 'tslot1' });
  assert.deepEqual(cmds[2]![1], { id: 'fs0', backend: { type: 'socket', data: { addr: { type: 'unix', data: { path: '/p/fs.sock' } }, server: false } } });
  assert.deepEqual(cmds[3]![1], { driver: 'vhost-user-fs-pci', id: 'fs0dev', chardev: 'fs0', tag: 'tsula', bus: 'tslot0' });
  assert.deepEqual(hotplugCommands({ ...cfg, disableVhostNet: false }, { nic: { tap: 't', mac: 'aa:bb:cc:dd:ee:ff' } })[0]![1].vhost, true);
  assert.deepEqual(hotplugCommands(cfg, {}), []);
});

test('the template key follows the machine; the manifest check refuses other assets', async () => {
  const cfg = defaultHypervisorConfig('qemu');
  const k = templateKey(cfg, 'tcg');
  assert.match(k, /^[0-9a-f]{16}$/);
  assert.equal(templateKey({ ...cfg }, 'tcg'), k);
  for (const other of [{ defaultMemory: 1024 }, { defaultVcpus: 2 }, { cpuModel: 'EPYC' }, { path: '/opt/qemu' }, { image: '/x.img' }]) {
    assert.notEqual(templateKey({ ...cfg, ...other }, 'tcg'), k, JSON.stringify(other));
  }
  assert.notEqual(templateKey(cfg, 'kvm'), k);
  // -cpu host (KVM): the host's CPU is in the key (sessions move between Intel and AMD hosts);
  // TCG's max CPU is the host's on none
  const intel = 'processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nstepping\t: 7\nflags\t\t: fpu vme avx512f\n\nprocessor\t: 1\n';
  const amd = 'processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nstepping\t: 1\nflags\t\t: fpu vme sse4a\n';
  assert.match(hostCpuId(intel), /^GenuineIntel 6\/85 [0-9a-f]{12}$/);
  assert.notEqual(templateKey(cfg, 'kvm', () => intel), templateKey(cfg, 'kvm', () => amd));
  assert.notEqual(templateKey(cfg, 'kvm', () => intel), templateKey(cfg, 'kvm', () => intel.replace('avx512f', '')));
  assert.equal(templateKey(cfg, 'tcg', () => intel), templateKey(cfg, 'tcg', () => amd));
  assert.equal(templateKey({ ...cfg, cpuModel: 'EPYC' }, 'kvm', () => intel), templateKey({ ...cfg, cpuModel: 'EPYC' }, 'kvm', () => amd));
  const a = { kernel: { path: '/g/vmlinuz', size: 10, mtimeMs: 1000 } };
  assert.equal(assetsDiffer(a, { kernel: { ...a.kernel } }), null);
  assert.match(assetsDiffer(a, { kernel: { ...a.kernel, size: 11 } })!, /the kernel \/g\/vmlinuz changed since it was made \(size 10 → 11/);
  assert.match(assetsDiffer(a, { kernel: { ...a.kernel, path: '/h/vmlinuz' } })!, /made from kernel \/g\/vmlinuz, not \/h\/vmlinuz/);
  assert.match(assetsDiffer(a, { ...a, image: { path: '/g/i', size: 1, mtimeMs: 1 } })!, /its image was not recorded/);

  // find(): a template whose manifest records other assets is refused and removed
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tpl-unit-'));
  try {
    const files = Object.fromEntries(await Promise.all(['vmlinuz', 'initrd', 'qemu'].map(async (f) => {
      await fs.writeFile(path.join(dir, f), f);
      return [f, path.join(dir, f)];
    })));
    const c = { ...cfg, kernel: files.vmlinuz, initrd: files.initrd, path: files.qemu, image: '', defaultMemory: 64, templatePath: path.join(dir, 't') };
    const key = templateKey(c, 'tcg');
    const tdir = path.join(dir, 't', key);
    const assets = await templateAssets(c);
    const write = (a: typeof assets, version = 2) => fs.writeFile(path.join(tdir, MANIFEST), JSON.stringify({ version, key, machine: {}, assets: a, made: '', buildMs: 0 }));
    /** A template's files as a build leaves them (the RAM all holes), with this manifest format. */
    const make = async (version = 2) => {
      await fs.mkdir(tdir, { recursive: true });
      await fs.writeFile(path.join(tdir, RAM_FILE), '');
      await fs.truncate(path.join(tdir, RAM_FILE), 64 * 1024 * 1024);
      await fs.writeFile(path.join(tdir, STATE_FILE), 'x');
      await fs.writeFile(path.join(tdir, RUNS_FILE), '[0,4096]');
      await write(assets, version);
    };
    const warnings: string[] = [];
    const log = { warn: (m: string, f?: Record<string, unknown>) => warnings.push(`${m} ${JSON.stringify(f)}`), info: () => {} } as never;
    const t = new VmTemplates({ workDir: path.join(dir, 'w'), log });
    const tcg = { accel: 'tcg' as const, reason: '' };
    await make();
    assert.equal((await t.find(c, tcg))?.dir, tdir);
    assert.deepEqual((await t.find(c, tcg))?.runs, [0, 4096]);
    // a template made before ram.runs.json (format 1), or with runs outside its RAM, is refused
    await fs.writeFile(path.join(tdir, RUNS_FILE), `[0,${65 * 1024 * 1024}]`);
    assert.equal(await t.find(c, tcg), null);
    assert.match(warnings.join('\n'), /ram\.runs\.json is missing or not a list of runs/);
    await make(1);
    assert.equal(await t.find(c, tcg), null);
    assert.match(warnings.join('\n'), /its format is 1, not 2/);
    await make();
    assert.equal((await t.find(c, tcg))?.dir, tdir);
    await write({ ...assets, kernel: { ...assets.kernel!, size: 999 } });
    assert.equal(await t.find(c, tcg), null);
    assert.match(warnings.join('\n'), /VM template refused.*the kernel .* changed since it was made/);
    await assert.rejects(fs.stat(tdir), 'the refused template is removed');

    // a template whose restore failed is removed; after a second failure its key is not used
    const remake = async () => {
      await make();
      return (await t.find(c, tcg))!;
    };
    await t.restoreFailed(await remake());
    await assert.rejects(fs.stat(tdir), 'the template that failed is removed');
    await t.restoreFailed(await remake());
    await remake().catch(() => null);
    assert.equal(await t.find(c, tcg), null, 'two failures: not used any more');
    assert.match(warnings.join('\n'), /VM template restores fail again/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('the clone setup program\'s input; the program mounts the share where the agent expects it', async () => {
  const e = Buffer.alloc(64, 7);
  const b = setupInput({ timeMs: 1_700_000_000_250, entropy: e, hostname: 'pod-1', mountShared: true });
  assert.equal(b.length, 168);
  assert.equal(b.readBigInt64LE(0), 1_700_000_000n);
  assert.equal(b.readBigInt64LE(8), 250_000_000n);
  assert.equal(b.readInt32LE(16), 512);
  assert.equal(b.readInt32LE(20), 64);
  assert.deepEqual(b.subarray(24, 88), e);
  assert.equal(b.readUInt32LE(88), 1);
  assert.equal(b.readUInt32LE(92), 5);
  assert.equal(b.subarray(96, 102).toString('latin1'), 'pod-1\n');
  assert.equal(setupInput({ timeMs: 0, entropy: e, hostname: 'h', mountShared: false }).readUInt32LE(88), 0);
  assert.equal(setupInput({ timeMs: 0, entropy: e, hostname: 'h', mountShared: false, rehearse: true }).readUInt32LE(88), 2);
  const longest = 'a'.repeat(64);
  assert.equal(setupInput({ timeMs: 0, entropy: e, hostname: longest, mountShared: false }).subarray(96, 161).toString('latin1'), `${longest}\n`);
  assert.throws(() => setupInput({ timeMs: 0, entropy: Buffer.alloc(8), hostname: 'h', mountShared: false }), /entropy must be 64 bytes/);
  for (const bad of ['', 'a'.repeat(65), '-x', 'a b', 'é']) {
    assert.throws(() => setupInput({ timeMs: 0, entropy: e, hostname: bad, mountShared: false }), /bad hostname/);
  }
  // no tv_nsec of 1e9 (EINVAL from clock_settime), whatever the fraction
  assert.equal(setupInput({ timeMs: 999.9999999, entropy: e, hostname: 'h', mountShared: false }).readBigInt64LE(8), 999_000_000n);
  assert.throws(() => setupInput({ timeMs: 1e300, entropy: e, hostname: 'h', mountShared: false }), /bad time/);
  // the program's source and the code the guest build writes out go together
  const src = await fs.readFile(new URL('../../../scripts/guest/clone-setup.s', import.meta.url));
  assert.match(src.toString('utf8'), new RegExp(`^shared: \\.asciz "${GUEST_SHARED_DIR}"$`, 'm'));
  const make = await fs.readFile(new URL('../../../scripts/guest/make-clone-setup.mjs', import.meta.url), 'utf8');
  assert.equal(/SOURCE_SHA256 = '([0-9a-f]{64})'/.exec(make)?.[1], createHash('sha256').update(src).digest('hex'),
    'clone-setup.s changed: assemble it again into make-clone-setup.mjs (CODE and SOURCE_SHA256, see its header)');
  const hex = [...make.matchAll(/'([0-9a-f]+)'/g)].map((m) => m[1]).filter((h) => h!.length !== 64).join('');
  assert.ok(Buffer.from(hex, 'hex').includes(Buffer.from(`tsula\0${GUEST_SHARED_DIR}\0virtiofs\0`)));
});

test('the clone setup program run for real: a rehearsal reads and checks its input and changes nothing', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-clone-setup-'));
  t.after(() => fs.rm(dir, { recursive: true, force: true }));
  const prog = path.join(dir, 'tsula-clone-setup');
  const make = new URL('../../../scripts/guest/make-clone-setup.mjs', import.meta.url).pathname;
  assert.equal(spawnSync(process.execPath, [make, prog]).status, 0);
  // in UTS and mount namespaces of its own, /etc/hostname a file of the test's: a program that
  // ignored the flag would change neither the host's hostname nor its /etc/hostname
  const hostFile = path.join(dir, 'hostname');
  await fs.writeFile(hostFile, 'before\n');
  const run = (input: Buffer) => spawnSync('unshare', ['-mu', 'sh', '-c', `mount --bind ${hostFile} /etc/hostname && exec ${prog}; `], { input });
  const e = Buffer.alloc(64, 7);
  const good = setupInput({ timeMs: Date.now(), entropy: e, hostname: 'rehearsal', mountShared: true, rehearse: true });
  const ok = run(good);
  assert.equal(ok.status, 0, ok.stderr.toString());
  assert.equal(await fs.readFile(hostFile, 'utf8'), 'before\n');
  // still checked: a hostname length of 0, and input cut short, fail at reading it (step 1)
  const noName = Buffer.from(good);
  noName.writeUInt32LE(0, 92);
  assert.equal(run(noName).status, 1);
  assert.equal(run(good.subarray(0, 100)).status, 1);
  assert.equal(await fs.readFile(hostFile, 'utf8'), 'before\n');
});

test('the clone setup program\'s failures, in words', () => {
  const out = (code: number | null, stderr: number[] = [], more: Record<string, unknown> = {}) =>
    setupFailure({ code, signal: null, stderr: Buffer.from(stderr), timedOut: false, ...more });
  assert.equal(out(2, [1]), 'CloneSetup: /opt/tsula/tsula-clone-setup failed at setting the clock: EPERM (operation not permitted)');
  assert.match(out(8, [22]), /no virtiofs device tagged tsula after 10 s: its hot-plug did not reach the guest/);
  assert.match(out(8, [19]), /failed at mounting the share: ENODEV/);
  assert.equal(out(1), 'CloneSetup: /opt/tsula/tsula-clone-setup failed at reading its input');
  assert.equal(out(42), 'CloneSetup: /opt/tsula/tsula-clone-setup failed with status 42');
  assert.match(out(null, [], { signal: 'SIGKILL', timedOut: true }), /was killed by SIGKILL after 30 s/);
  const enoent = Object.assign(new Error('spawn /opt/tsula/tsula-clone-setup ENOENT'), { code: 'ENOENT' });
  assert.match(out(null, [], { error: enoent }), /the guest image has no \/opt\/tsula\/tsula-clone-setup: rebuild the guest assets \(scripts\/ensure-guest.sh\)/);
});

test('a template\'s RAM runs: the non-zero pages found once, and only they copied to the same offsets', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tpl-ram-'));
  try {
    const ram = path.join(dir, 'ram');
    const page = (fill: number) => Buffer.alloc(4096, fill);
    // a sparse 8 MiB file: data at page 0 and pages 2-3, a page of written zeros at 4, data
    // across the 4 MiB scan boundary, and a last partial page
    const h = await fs.open(ram, 'w');
    await h.truncate(8 << 20);
    await h.write(page(1), 0, 4096, 0);
    await h.write(Buffer.concat([page(2), page(3)]), 0, 8192, 2 * 4096);
    await h.write(page(0), 0, 4096, 4 * 4096);
    await h.write(Buffer.concat([page(4), page(5)]), 0, 8192, (4 << 20) - 4096);
    await h.write(Buffer.from([9]), 0, 1, (8 << 20) - 1);
    await h.close();
    const runs = await ramRuns(ram);
    assert.deepEqual(runs, [0, 4096, 8192, 8192, (4 << 20) - 4096, 8192, (8 << 20) - 4096, 4096]);
    assert.equal(runsBytes(runs), 6 * 4096);
    assert.ok(validRuns(runs, 8 << 20));
    for (const bad of [null, {}, [0], [0, 0], [4096, 10, 0, 10], [0, 4096, 100, 1], [(8 << 20) - 1, 2], ['0', 1], [0.5, 1]]) {
      assert.equal(validRuns(bad, 8 << 20), false, JSON.stringify(bad));
    }
    // the copy goes into a file opened in place (a sealed memfd can't be truncated): what was
    // there outside the runs stays
    const dst = path.join(dir, 'dst');
    await fs.writeFile(dst, Buffer.alloc(8 << 20, 0xee));
    await copyRuns(ram, dst, runs);
    const [a, b] = await Promise.all([fs.readFile(ram), fs.readFile(dst)]);
    for (let i = 0; i < runs.length; i += 2) assert.ok(a.subarray(runs[i], runs[i]! + runs[i + 1]!).equals(b.subarray(runs[i], runs[i]! + runs[i + 1]!)));
    assert.equal(b[4096], 0xee, 'a hole of the template is not written');
    assert.equal(b.length, 8 << 20);
    // a template file shorter than its runs: a clear error, not a clone with half its RAM
    await fs.truncate(ram, 4 << 20);
    await assert.rejects(copyRuns(ram, dst, runs), /is shorter than its recorded pages/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
