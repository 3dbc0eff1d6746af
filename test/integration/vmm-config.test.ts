// tsula-sandboxer with the configuration users bring: `--config` with Kuasar's
// config_qemu.toml starts the sandboxer (its [sandbox] log_level applies, the keys without
// effect are named once in its log), a file this host can't honour stops the start with the
// key's name, and kata's configuration.toml given as containerd's runtime config path boots a
// VM whose kernel_params and default_memory took effect (a real VM under TCG: ~15 s).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { SANDBOXER, TestContainerd, killSandboxerLeftovers, shortTempDir } from '../helpers/containerd.js';
import { TestSandboxer } from '../helpers/sandboxer.js';

const GUEST = process.env.TSULA_GUEST_DIR ?? '/var/lib/tsula/guest';
const dir = await shortTempDir('tsc-');
after(async () => {
  await killSandboxerLeftovers(dir);
  await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
});

// the seed guide's Kuasar config_qemu.toml, with log_level raised so the info lines go
const KUASAR = `[sandbox]
log_level = "warn"
[hypervisor]
path = "/usr/bin/qemu-system-x86_64"
machine_type = "q35"
kernel_path = "/var/lib/kuasar/vmlinux.bin"
image_path = ""
initrd_path = "/var/lib/kuasar/kuasar.initrd"
kernel_params = ""
vcpus = 1
memory_in_mb = 1024
block_device_driver = "VirtioBlk"
debug = false
enable_mem_prealloc = false
[hypervisor.virtiofsd_conf]
path = "/usr/local/bin/virtiofsd"
`;

test('tsula-sandboxer --config <Kuasar\'s config_qemu.toml> starts: its log level applies, ignored keys named once', { timeout: 60_000 }, async () => {
  const file = path.join(dir, 'config_qemu.toml');
  await fs.writeFile(file, KUASAR);
  const s = await TestSandboxer.create({ args: ['--config', file], logLevel: null });
  try {
    const log = await s.log();
    assert.match(log, /level=warn msg=".*config_qemu\.toml: accepted but not used by tsula \(no meaning here\): hypervisor\.enable_mem_prealloc"/);
    assert.equal(log.match(/accepted but not used/g)?.length, 1);
    assert.doesNotMatch(log, /level=info/, '[sandbox] log_level = "warn"');
  } finally {
    await s.destroy();
  }
});

test('tsula-sandboxer --config <the StratoVirt guide\'s block>: use_vsock = true on a host without vhost-vsock stops the start, naming the key', { timeout: 30_000 }, async (t) => {
  if (existsSync('/dev/vhost-vsock')) return t.skip('this host has /dev/vhost-vsock');
  const file = path.join(dir, 'configuration.toml');
  await fs.writeFile(file, '[hypervisor.stratovirt]\npath = "/usr/bin/stratovirt"\nuse_vsock = true\nenable_netmon = true\n'
    + 'internetworking_model="tcfilter"\nsandbox_cgroup_with_emulator = false\ndisable_vhost_net = true\n');
  const r = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [SANDBOXER, '--state', path.join(dir, 'bad'), '--listen', path.join(dir, 'bad.sock'), '--config', file], { timeout: 20_000 },
      (e, stdout, stderr) => resolve({ code: e ? Number(e.code ?? 1) : 0, out: stdout + stderr }));
  });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /tsula-sandboxer failed to start.*hypervisor\.stratovirt\.use_vsock: true needs \/dev\/vhost-vsock/);
  assert.ok(!existsSync(path.join(dir, 'bad.sock')), 'nothing listens');
});

test('containerd: kata\'s configuration.toml as the runtime config path boots a VM with its kernel_params and default_memory', { timeout: 300_000 }, async (t) => {
  const missing = ['/usr/bin/qemu-system-x86_64', '/usr/lib/qemu/virtiofsd', '/usr/bin/containerd', `${GUEST}/vmlinuz`, `${GUEST}/initramfs.cpio.gz`].filter((p) => !existsSync(p));
  if (missing.length) throw new Error(`needs ${missing.join(', ')}: scripts/deps.sh --test, then scripts/ensure-guest.sh ${GUEST}`);
  const file = path.join(dir, 'kata-configuration.toml');
  // kata's file as the guides edit it: their tables and keys, paths pointed at tsula's guest
  await fs.writeFile(file, `[hypervisor.qemu]
path = "/usr/bin/qemu-system-x86_64"
kernel = "${GUEST}/vmlinuz"
initrd = "${GUEST}/initramfs.cpio.gz"
machine_type = "q35"
kernel_params = "tsula.kata_conf=1 tsula.oci_runtime=runc"
firmware = ""
default_vcpus = 1
default_maxvcpus = 0
default_memory = 384
disable_block_device_use = false
shared_fs = "virtio-fs"
virtio_fs_daemon = "/usr/lib/qemu/virtiofsd"
valid_virtio_fs_daemon_paths = ["/usr/lib/qemu/virtiofsd"]
block_device_driver = "virtio-scsi"
disable_vhost_net = true
[factory]
[agent.kata]
kernel_modules=[]
dial_timeout = 120
[runtime]
internetworking_model="tcfilter"
disable_guest_seccomp=true
sandbox_cgroup_only=false
sandbox_cgroup_with_emulator = false
`);
  const c = await TestContainerd.start();
  try {
    await c.importBusybox();
    const r = await c.ctr(['run', '--rm', '--runtime', 'io.containerd.tsula.v2', '--runtime-config-path', file,
      'docker.io/library/busybox:latest', 'kata1', 'sh', '-c', 'cat /proc/cmdline; grep MemTotal /proc/meminfo'], { timeoutMs: 240_000 });
    const log = await c.sandboxerLog();
    assert.equal(r.code, 0, `${r.stderr}\n${log}`);
    assert.match(r.stdout, /tsula\.kata_conf=1/);
    assert.match(log, /msg="VM ready" .*oci_runtime="runc"/, 'tsula.oci_runtime=runc: the guest ran the container with runc');
    const kib = Number(/MemTotal:\s+(\d+) kB/.exec(r.stdout)?.[1]);
    assert.ok(kib > 256 * 1024 && kib <= 384 * 1024, `MemTotal ${kib} kB for default_memory = 384`);
    assert.match(log, /kata-configuration\.toml: accepted but not used by tsula \(no meaning here\): hypervisor\.qemu\.firmware, .*runtime\.sandbox_cgroup_with_emulator/);
  } finally {
    await c.destroy();
  }
});
