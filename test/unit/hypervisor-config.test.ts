// vmm.toml: kata's keys, defaults, and errors that name the key; the TOML subset parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { parseVmmConfig as parse, defaultHypervisorConfig, loadVmmConfig, type HostDevices } from '../../src/hypervisor/config.js';
import { parseToml } from '../../src/hypervisor/toml.js';

// these hosts: no /dev/vhost-vsock, no /dev/vhost-net (the tests must not depend on the host)
const host: HostDevices = { vhostVsock: false, vhostNet: false };
const parseVmmConfig = (text: string) => parse(text, undefined, { host });

test('a kata-style [hypervisor.qemu] table is read with every key', () => {
  const c = parseVmmConfig(`
# tsula vmm sandboxes
[hypervisor.qemu]
path = "/usr/local/bin/qemu-system-x86_64"
kernel = "/var/lib/tsula/guest/vmlinuz"   # Debian's cloud kernel
initrd = '/var/lib/tsula/guest/initramfs.cpio.gz'
image = "/var/lib/tsula/guest/rootfs.img"
machine_type = "microvm"
machine_accelerators = "kernel_irqchip=on"
default_vcpus = 2
default_memory = 1_024
kernel_params = "quiet # not a comment"
shared_fs = "none"
virtio_fs_daemon = "/usr/lib/qemu/virtiofsd"
block_device_driver = "virtio-scsi"
use_vsock = false
enable_debug = true
boot_timeout = 10
cpu_model = "EPYC"
tcg_tb_size = 256
agent_snapshot = false
agent_snapshot_dir = "/srv/tsula/snapshots"
enable_template = false
template_path = "/srv/tsula/templates"
disable_guest_seccomp = false
disable_image_nvdimm = true
sandbox_cgroup_only = true
`);
  assert.equal(c.default, 'qemu');
  assert.deepEqual(c.hypervisors.qemu, {
    name: 'qemu', path: '/usr/local/bin/qemu-system-x86_64', kernel: '/var/lib/tsula/guest/vmlinuz',
    initrd: '/var/lib/tsula/guest/initramfs.cpio.gz', image: '/var/lib/tsula/guest/rootfs.img', machineType: 'microvm', machineAccelerators: 'kernel_irqchip=on',
    defaultVcpus: 2, defaultMemory: 1024, kernelParams: 'quiet # not a comment', sharedFs: 'none',
    virtioFsDaemon: '/usr/lib/qemu/virtiofsd', blockDeviceDriver: 'virtio-scsi', useVsock: false, enableDebug: true, bootTimeout: 10,
    cpuModel: 'EPYC', tcgTbSize: 256, agentSnapshot: false, agentSnapshotDir: '/srv/tsula/snapshots',
    disableVhostNet: true, internetworkingModel: 'tcfilter', enableTemplate: false, templatePath: '/srv/tsula/templates', vmCacheNumber: 0, disableGuestSeccomp: false, disableImageNvdimm: true, sandboxCgroupOnly: true,
  });
});

test('an empty or missing file means qemu with defaults; stratovirt is accepted', async () => {
  assert.deepEqual(parseVmmConfig('').hypervisors.qemu, defaultHypervisorConfig('qemu'));
  // a missing file: the defaults, plus the guest image beside the initramfs when it was built
  const loaded = (await loadVmmConfig('/nonexistent/vmm.toml', { host })).hypervisors.qemu!;
  const img = '/var/lib/tsula/guest/rootfs.img';
  assert.deepEqual(loaded, { ...defaultHypervisorConfig('qemu'), image: existsSync(img) ? img : '' });
  const s = parseVmmConfig('[hypervisor.stratovirt]\npath = "/opt/stratovirt"\n');
  assert.equal(s.default, 'stratovirt');
  assert.equal(s.hypervisors.stratovirt?.path, '/opt/stratovirt');
  assert.equal(s.hypervisors.stratovirt?.machineType, 'microvm');
});

test('invalid values are reported with their key', () => {
  const bad: Array<[string, RegExp]> = [
    ['default_vcpus = "two"', /hypervisor\.qemu\.default_vcpus: must be an integer/],
    ['default_vcpus = 0', /hypervisor\.qemu\.default_vcpus: 0 is out of range/],
    ['default_memory = 16', /hypervisor\.qemu\.default_memory: 16 is out of range/],
    ['use_vsock = "yes"', /hypervisor\.qemu\.use_vsock: must be true or false/],
    ['path = "qemu"', /hypervisor\.qemu\.path: must be an absolute path/],
    ['machine_type = "virt"', /hypervisor\.qemu\.machine_type: must be one of q35, pc, microvm/],
    ['shared_fs = "nfs"', /hypervisor\.qemu\.shared_fs: must be one of virtio-fs, none/],
    ['shared_fs = "virtio-9p"', /hypervisor\.qemu\.shared_fs: "virtio-9p" is not supported: tsula shares the pod's files with virtio-fs/],
    ['block_device_driver = "ide"', /hypervisor\.qemu\.block_device_driver: must be one of/],
    ['machine_accelerators = "a b"', /hypervisor\.qemu\.machine_accelerators/],
    ['defualt_vcpus = 1', /hypervisor\.qemu\.defualt_vcpus: unknown key/],
    ['cpu_model = "max; rm -rf"', /hypervisor\.qemu\.cpu_model: must be a QEMU CPU model/],
    ['agent_snapshot = 1', /hypervisor\.qemu\.agent_snapshot: must be true or false/],
    ['agent_snapshot_dir = "snaps"', /hypervisor\.qemu\.agent_snapshot_dir: must be an absolute path/],
  ];
  for (const [line, re] of bad) assert.throws(() => parseVmmConfig(`[hypervisor.qemu]\n${line}\n`), re, line);
  assert.throws(() => parseVmmConfig('[hypervisor.firecracker]\n'), /hypervisor\.firecracker: unknown hypervisor/);
  assert.throws(() => parseVmmConfig('[runtimes]\n'), /unknown table or key runtimes/);
});

test('the TOML subset: strings, numbers, booleans, arrays, tables; errors name the line', () => {
  assert.deepEqual(parseToml('a = "x\\ty\\"z"\nb = -3\nc = 1.5\nd = [ "p", \'q\', 2 ]\n[t.u]\ne = true # c\n'), {
    a: 'x\ty"z', b: -3, c: 1.5, d: ['p', 'q', 2], t: { u: { e: true } },
  });
  assert.throws(() => parseToml('a = bare\n', 'f.toml'), /f\.toml:1: unsupported value "bare"/);
  assert.throws(() => parseToml('\na = "open\n', 'f.toml'), /f\.toml:2: unterminated string/);
  assert.throws(() => parseToml('a = 1\na = 2\n', 'f.toml'), /f\.toml:2: duplicate key a/);
  assert.throws(() => parseToml('a = [1,\n2]\n', 'f.toml'), /f\.toml:1: unterminated array/);
  assert.throws(() => parseToml('just text\n', 'f.toml'), /f\.toml:1: expected "key = value"/);
});

test('the agent snapshot and cpu model keys default to QEMU\'s choice, on, beside the initrd', () => {
  const d = parseVmmConfig('[hypervisor.qemu]\n').hypervisors.qemu!;
  assert.deepEqual([d.cpuModel, d.agentSnapshot, d.agentSnapshotDir], ['', true, '']);
});
