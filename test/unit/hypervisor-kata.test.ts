// The configuration users bring from kata and Kuasar, read as vmm.toml: the seed guides'
// blocks verbatim, kata's whole configuration-qemu.toml as packages install it, Kuasar's
// config_*.toml. Honoured keys land in the config, known keys without effect are listed for
// the one warning, values tsula can't honour are refused naming the key, unknown keys fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseVmmConfig, loadVmmConfig, ignoredKeysWarning, defaultHypervisorConfig, type HostDevices } from '../../src/hypervisor/config.js';

const bare: HostDevices = { vhostVsock: false, vhostNet: false };   // these hosts
const full: HostDevices = { vhostVsock: true, vhostNet: true };
const parse = (text: string, host = bare) => parseVmmConfig(text, 'configuration.toml', { host });

// openEuler's StratoVirt guide (iSulad + kata): the block as the guide prints it
const GUIDE_STRATOVIRT = `[hypervisor.stratovirt]
path = "/usr/bin/stratovirt"
kernel = "/var/lib/kata/kernel"
initrd = "/var/lib/kata/kata-containers-initrd.img"
block_device_driver = "virtio-mmio"
use_vsock = true
enable_netmon = true
internetworking_model="tcfilter"
sandbox_cgroup_with_emulator = false
disable_new_netns = false
disable_block_device_use = false
disable_vhost_net = true
`;

// the same block in the form the Kuasar guide gives it, with the kernel and sizes
const GUIDE_STRATOVIRT_KUASAR = `[hypervisor.stratovirt]
path = "/usr/bin/stratovirt"
kernel = "/var/lib/kuasar/vmlinux.bin"
initrd = "/var/lib/kuasar/kuasar.initrd"
machine_type = "microvm"
kernel_params = "8250.nr_uarts=0"
default_vcpus = 1
default_memory = 1024
block_device_driver = "virtio-mmio"
use_vsock = true
enable_netmon = false
internetworking_model = "tcfilter"
sandbox_cgroup_with_emulator = false
disable_new_netns = false
disable_block_device_use = false
disable_vhost_net = true
`;

// Kuasar's vmm-sandboxer config (config_qemu.toml) as the seed guide gives it
const KUASAR_QEMU = `[sandbox]
log_level = "info"
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

// Kuasar's vmm/sandbox/config_stratovirt.toml
const KUASAR_STRATOVIRT = `[sandbox]

[hypervisor]
path = "/usr/bin/stratovirt"
machine_type = "virt,mem-share=on"
kernel_path = "/var/lib/kuasar/vmlinux.bin"
image_path = ""
initrd_path = "/var/lib/kuasar/kuasar.initrd"
kernel_params = "task.log_level=debug task.sharefs_type=virtiofs"
vcpus = 1
memory_in_mb = 1024
block_device_driver = "virtio-blk"
debug = true
enable_mem_prealloc = false

[hypervisor.virtiofsd_conf]
path = "/usr/bin/vhost_user_fs"
`;

// kata's configuration-qemu.toml as kata 3.x packages install it (comments shortened, every
// table and key kept): what the guides copy to /etc/kata-containers/configuration.toml
const KATA_QEMU = `# Copyright (c) 2017-2019 Intel Corporation
# XXX: WARNING: this file is auto-generated.

[hypervisor.qemu]
path = "/opt/kata/bin/qemu-system-x86_64"
kernel = "/opt/kata/share/kata-containers/vmlinux.container"
image = "/opt/kata/share/kata-containers/kata-containers.img"
# initrd = "/opt/kata/share/kata-containers/kata-containers-initrd.img"
machine_type = "q35"

# rootfs filesystem type:
rootfs_type="ext4"
# confidential_guest = true
# rootless = true
enable_annotations = ["enable_iommu", "virtio_fs_extra_args", "kernel_params"]
valid_hypervisor_paths = ["/opt/kata/bin/qemu-system-x86_64"]
kernel_params = "tsula.kata=1"
firmware = ""
firmware_volume = ""
machine_accelerators=""
#seccompsandbox="on,obsolete=deny,spawn=deny,resourcecontrol=deny"
cpu_features="pmu=off"
default_vcpus = 2
default_maxvcpus = 0
default_bridges = 1
default_memory = 2048
#memory_slots = 10
default_maxmemory = 0
#memory_offset = 0
#enable_virtio_mem = true
disable_block_device_use = false
shared_fs = "virtio-fs"
virtio_fs_daemon = "/opt/kata/libexec/virtiofsd"
valid_virtio_fs_daemon_paths = ["/opt/kata/libexec/virtiofsd"]
virtio_fs_cache_size = 0
virtio_fs_queue_size = 1024
virtio_fs_extra_args = ["--thread-pool-size=1", "--announce-submounts"]
virtio_fs_cache = "auto"
# virtio_fs_inode_file_handles = "prefer"
block_device_driver = "virtio-scsi"
block_device_aio = "io_uring"
#block_device_cache_set = true
enable_iothreads = false
#enable_mem_prealloc = true
#enable_hugepages = true
enable_vhost_user_store = false
vhost_user_store_path = "/var/run/kata-containers/vhost-user"
valid_vhost_user_store_paths = ["/var/run/kata-containers/vhost-user"]
vhost_user_reconnect_timeout_sec = 0
#file_mem_backend = ""
valid_file_mem_backends = [""]
pflashes = []
#enable_debug = true
#disable_nesting_checks = true
#msize_9p = 8192
disable_image_nvdimm = false
#hot_plug_vfio = "root-port"
#pcie_root_port = 2
#disable_vhost_net = true
#entropy_source= "/dev/urandom"
valid_entropy_sources = ["/dev/urandom","/dev/random",""]
#guest_hook_path = "/usr/share/oci/hooks"
#guest_memory_dump_path="/var/crash/kata"
disable_selinux=false
disable_guest_selinux=true

[factory]
# VM templating support.
#enable_template = true
#template_path = "/run/vc/vm/template"
#vm_cache_number = 0
#vm_cache_endpoint = "/var/run/kata-containers/cache.sock"

[agent.kata]
#enable_debug = true
#enable_tracing = true
kernel_modules=[]
#debug_console_enabled = true
dial_timeout = 45
#cdh_api_timeout = 50

[runtime]
#enable_debug = true
internetworking_model="tcfilter"
disable_guest_seccomp=true
# enable_vcpus_pinning = false
#enable_tracing = true
#jaeger_endpoint = ""
#disable_new_netns = true
sandbox_cgroup_only=false
static_sandbox_resource_mgmt=false
sandbox_bind_mounts=[]
vfio_mode="guest-kernel"
disable_guest_empty_dir=false
experimental=[]
# enable_pprof = true
create_container_timeout = 60
dan_conf = "/run/kata-containers/dans"
`;

test('the StratoVirt guide\'s block: use_vsock = true is the clear error on a host without vhost-vsock', () => {
  for (const block of [GUIDE_STRATOVIRT, GUIDE_STRATOVIRT_KUASAR]) {
    assert.throws(() => parse(block), (e: Error) => {
      assert.match(e.message, /hypervisor\.stratovirt\.use_vsock: true needs \/dev\/vhost-vsock, which this host does not have/);
      assert.match(e.message, /set use_vsock = false/);
      return true;
    });
  }
});

test('the StratoVirt guide\'s blocks: honoured keys land, kata\'s others are listed once, StratoVirt is the default', () => {
  const c = parse(GUIDE_STRATOVIRT_KUASAR, full);
  assert.equal(c.default, 'stratovirt');
  assert.deepEqual(Object.keys(c.hypervisors), ['stratovirt']);
  assert.deepEqual(c.hypervisors.stratovirt, {
    ...defaultHypervisorConfig('stratovirt'), path: '/usr/bin/stratovirt', kernel: '/var/lib/kuasar/vmlinux.bin',
    initrd: '/var/lib/kuasar/kuasar.initrd', machineType: 'microvm', kernelParams: '8250.nr_uarts=0', defaultVcpus: 1,
    defaultMemory: 1024, blockDeviceDriver: 'virtio-mmio', useVsock: true, internetworkingModel: 'tcfilter', disableVhostNet: true,
  });
  // disable_new_netns = false is what tsula does: not worth a warning
  assert.deepEqual(c.ignored, ['hypervisor.stratovirt.enable_netmon', 'hypervisor.stratovirt.sandbox_cgroup_with_emulator', 'hypervisor.stratovirt.disable_block_device_use']);
  assert.equal(ignoredKeysWarning(c, '/etc/tsula/vmm.toml'), '/etc/tsula/vmm.toml: accepted but not used by tsula (no meaning here): '
    + 'hypervisor.stratovirt.enable_netmon, hypervisor.stratovirt.sandbox_cgroup_with_emulator, hypervisor.stratovirt.disable_block_device_use');
  // edited for this host (use_vsock = false): accepted here too
  const here = parse(GUIDE_STRATOVIRT.replace('use_vsock = true', 'use_vsock = false'));
  assert.equal(here.default, 'stratovirt');
  assert.equal(here.hypervisors.stratovirt!.machineType, 'microvm');
  assert.equal(here.hypervisors.stratovirt!.kernel, '/var/lib/kata/kernel');
  assert.equal(ignoredKeysWarning(here, 'f').split(', ').length, 3);
});

test('kata\'s configuration-qemu.toml as installed: every table read, honoured keys applied, the rest listed', () => {
  const c = parse(KATA_QEMU);
  assert.equal(c.default, 'qemu');
  const q = c.hypervisors.qemu!;
  assert.deepEqual(
    [q.path, q.kernel, q.image, q.machineType, q.kernelParams, q.defaultVcpus, q.defaultMemory, q.sharedFs, q.virtioFsDaemon, q.blockDeviceDriver],
    ['/opt/kata/bin/qemu-system-x86_64', '/opt/kata/share/kata-containers/vmlinux.container', '/opt/kata/share/kata-containers/kata-containers.img',
      'q35', 'tsula.kata=1', 2, 2048, 'virtio-fs', '/opt/kata/libexec/virtiofsd', 'virtio-scsi'],
  );
  assert.equal(q.bootTimeout, 45, '[agent.kata] dial_timeout is the wait for the agent');
  assert.equal(q.internetworkingModel, 'tcfilter');
  assert.equal(q.disableVhostNet, true, 'unset: no /dev/vhost-net here');
  assert.equal(q.initrd, defaultHypervisorConfig('qemu').initrd, 'initrd is commented out: tsula\'s');
  const ignored = c.ignored!;
  for (const k of ['hypervisor.qemu.rootfs_type', 'hypervisor.qemu.enable_annotations', 'hypervisor.qemu.cpu_features', 'hypervisor.qemu.vhost_user_reconnect_timeout_sec',
    'runtime.vfio_mode', 'runtime.create_container_timeout']) {
    assert.ok(ignored.includes(k), `${k} is listed`);
  }
  // honoured keys and values tsula does anyway are not
  assert.equal(q.disableGuestSeccomp, true, '[runtime] disable_guest_seccomp is honoured');
  assert.equal(q.sandboxCgroupOnly, false, '[runtime] sandbox_cgroup_only is honoured');
  for (const k of ['runtime.internetworking_model', 'runtime.disable_guest_seccomp', 'runtime.sandbox_cgroup_only', 'agent.kata.dial_timeout', 'agent.kata.kernel_modules', 'hypervisor.qemu.kernel_params']) {
    assert.ok(!ignored.includes(k), `${k} is not listed`);
  }
  assert.equal(ignoredKeysWarning(c, 'f').split('\n').length, 1, 'one line');
  // on a host with vhost-net, unset disable_vhost_net means vhost-net, as in kata
  assert.equal(parse(KATA_QEMU, full).hypervisors.qemu!.disableVhostNet, false);
});

test('kata\'s [runtime], [agent.kata] and the other tables: values that take effect, tables kata 1.x had', () => {
  const c = parse(`
[hypervisor.qemu]
enable_debug = false
[agent.kata]
enable_debug = true
debug_console_enabled = true
[runtime]
internetworking_model = "none"
enable_debug = true
disable_new_netns = false
[proxy.kata]
path = "/usr/libexec/kata-containers/kata-proxy"
[shim.kata]
path = "/usr/libexec/kata-containers/kata-shim"
[netmon]
enable_netmon = false
[image]
service_offload = false
[factory]
enable_template = false
`);
  const q = c.hypervisors.qemu!;
  assert.equal(q.enableTemplate, false, '[factory] enable_template is honoured');
  assert.equal(q.internetworkingModel, 'none');
  assert.equal(q.enableDebug, false, 'the hypervisor table wins over [agent.kata]');
  assert.deepEqual(c.ignored, ['runtime.enable_debug', 'proxy.kata.path', 'shim.kata.path', 'netmon.enable_netmon', 'image.service_offload']);
  assert.equal(parse('[agent.kata]\nenable_debug = true\n').hypervisors.qemu!.enableDebug, true);
  // the hypervisor table's own internetworking_model wins over [runtime]'s
  assert.equal(parse('[runtime]\ninternetworking_model = "none"\n[hypervisor.qemu]\ninternetworking_model = "tcfilter"\n').hypervisors.qemu!.internetworkingModel, 'tcfilter');
  // the QEMU guide's one-line edit, wherever it lands
  for (const text of ['sandbox_cgroup_with_emulator = false\n', '[runtime]\nsandbox_cgroup_with_emulator = false\n', '[hypervisor.qemu]\nsandbox_cgroup_with_emulator = false\n']) {
    const g = parse(text);
    assert.equal(g.default, 'qemu');
    assert.equal(g.ignored!.length, 1, text);
    assert.match(g.ignored![0], /sandbox_cgroup_with_emulator$/);
  }
});

test('values tsula cannot honour are refused, naming the key and why', () => {
  const bad: Array<[string, RegExp, HostDevices?]> = [
    ['[runtime]\ninternetworking_model = "macvtap"', /runtime\.internetworking_model: "macvtap" is not built in tsula: .*"tcfilter".*"none"/],
    ['[hypervisor.qemu]\ninternetworking_model = "macvtap"', /hypervisor\.qemu\.internetworking_model: "macvtap" is not built/],
    ['[hypervisor.qemu]\ndisable_vhost_net = false', /hypervisor\.qemu\.disable_vhost_net: false asks for vhost-net, but this host has no \/dev\/vhost-net/],
    ['[hypervisor.qemu]\nuse_vsock = true', /hypervisor\.qemu\.use_vsock: true needs \/dev\/vhost-vsock/],
    ['[hypervisor.qemu]\nshared_fs = "virtio-fs-nydus"', /hypervisor\.qemu\.shared_fs: "virtio-fs-nydus" is not supported/],
    ['[hypervisor.qemu]\nconfidential_guest = true', /hypervisor\.qemu\.confidential_guest: a confidential guest .* is not built in tsula/],
    ['[hypervisor.qemu]\nrootless = true', /hypervisor\.qemu\.rootless: a rootless VMM/],
    ['[runtime]\ndisable_new_netns = true', /runtime\.disable_new_netns: tsula runs every VM in its pod's network namespace/],
    ['[agent.kata]\nkernel_modules = ["e1000e InterruptThrottleRate=3000"]', /agent\.kata\.kernel_modules: the guest loads only the modules built into it/],
    ['[agent.kata]\ndial_timeout = 0', /agent\.kata\.dial_timeout: 0 is out of range 1\.\.3600/],
    ['[hypervisor.qemu]\nenable_hugepages = "yes"', /hypervisor\.qemu\.enable_hugepages: must be true or false/],
    ['[runtime]\nexperimental = "a"', /runtime\.experimental: must be an array of strings/],
    ['[hypervisor.qemu]\nblock_device_driver = "nvdimm"', /hypervisor\.qemu\.block_device_driver: must be one of virtio-blk, virtio-scsi, virtio-mmio/],
  ];
  for (const [text, re, host] of bad) assert.throws(() => parse(`${text}\n`, host), re, text);
  // with the devices, the same keys are fine
  assert.equal(parse('[hypervisor.qemu]\ndisable_vhost_net = false\n', full).hypervisors.qemu!.disableVhostNet, false);
});

test('unknown keys and tables stay errors', () => {
  const bad: Array<[string, RegExp]> = [
    ['[runtime]\nenable_debugg = true', /runtime\.enable_debugg: unknown key/],
    ['[hypervisor.stratovirt]\nsandbox_cgroup_with_emulater = false', /hypervisor\.stratovirt\.sandbox_cgroup_with_emulater: unknown key/],
    ['[agent.kata]\nfoo = 1', /agent\.kata\.foo: unknown key/],
    ['[agent.kata2]\nenable_debug = true', /configuration\.toml: unknown table \[agent\.kata2\]/],
    ['[hypervisor.clh]\npath = "/usr/bin/cloud-hypervisor"', /hypervisor\.clh: unknown hypervisor/],
    ['[runtimes]\n', /configuration\.toml: unknown table or key runtimes \(kata's tables: /],
    ['enable_netmon = true', /unknown table or key enable_netmon/],
    ['[factory]\nenable_templates = true', /factory\.enable_templates: unknown key/],
  ];
  for (const [text, re] of bad) assert.throws(() => parse(`${text}\n`), re, text);
});

test('Kuasar\'s config_qemu.toml (the seed guide\'s): read as vmm.toml', () => {
  const c = parse(KUASAR_QEMU);
  assert.equal(c.default, 'qemu');
  assert.equal(c.logLevel, 'info');
  assert.deepEqual(c.hypervisors.qemu, {
    ...defaultHypervisorConfig('qemu'), path: '/usr/bin/qemu-system-x86_64', machineType: 'q35', kernel: '/var/lib/kuasar/vmlinux.bin',
    initrd: '/var/lib/kuasar/kuasar.initrd', kernelParams: '', defaultVcpus: 1, defaultMemory: 1024, blockDeviceDriver: 'virtio-blk',
    enableDebug: false, virtioFsDaemon: '/usr/local/bin/virtiofsd',
  });
  assert.deepEqual(c.ignored, ['hypervisor.enable_mem_prealloc']);
});

test('Kuasar\'s config_stratovirt.toml: StratoVirt by its binary, machine options, debug', () => {
  const c = parse(KUASAR_STRATOVIRT);
  assert.equal(c.default, 'stratovirt');
  const s = c.hypervisors.stratovirt!;
  assert.deepEqual([s.machineType, s.machineAccelerators, s.kernelParams, s.enableDebug, s.virtioFsDaemon, s.blockDeviceDriver],
    ['virt', 'mem-share=on', 'task.log_level=debug task.sharefs_type=virtiofs', true, '/usr/bin/vhost_user_fs', 'virtio-blk']);
  assert.equal(c.logLevel, undefined);
  // the guides' wrapper script is StratoVirt too; Kuasar's x86 config asks for q35
  assert.equal(parse('[hypervisor]\npath = "/home/stratovirt.sh"\nmachine_type = "q35,mem-share=on"\n').default, 'stratovirt');
  // Kuasar's QEMU keys (config_qemu_x86_64.toml)
  const q = parse('[hypervisor]\nqemu_path = "/usr/bin/qemu-system-x86_64"\ncpu_model = "host"\nshare_fs = "VirtioFS"\nmachine_type = "pc"\nmsize_9p = 8192\nvirtiofs_extra_args = []\n');
  assert.deepEqual([q.default, q.hypervisors.qemu!.cpuModel, q.hypervisors.qemu!.sharedFs, q.hypervisors.qemu!.machineType], ['qemu', '', 'virtio-fs', 'pc']);
  assert.deepEqual(q.ignored, ['hypervisor.msize_9p', 'hypervisor.virtiofs_extra_args']);
});

test('Kuasar\'s files: refusals and unknown keys name the key', () => {
  const bad: Array<[string, RegExp]> = [
    ['[hypervisor]\nshare_fs = "Virtio9P"', /hypervisor\.share_fs: "Virtio9P" is not supported/],
    ['[hypervisor]\nuse_vsock = true', /hypervisor\.use_vsock: true needs \/dev\/vhost-vsock/],
    ['[hypervisor]\nvcpu = 1', /hypervisor\.vcpu: unknown key/],
    ['[hypervisor]\nvcpus = "1"', /hypervisor\.vcpus: must be an integer/],
    ['[hypervisor]\nmemory_in_mb = 16', /hypervisor\.memory_in_mb: 16 is out of range/],
    ['[hypervisor]\nmachine_type = "virt"', /hypervisor\.machine_type: must be one of q35, pc, microvm/],
    ['[hypervisor]\nblock_device_driver = "Nvdimm"', /hypervisor\.block_device_driver: must be one of/],
    ['[sandbox]\nlog_level = "verbose"', /sandbox\.log_level: must be one of trace, debug, info, warn, error/],
    ['[sandbox]\nlog_levels = "info"', /sandbox\.log_levels: unknown key/],
    ['[hypervisor]\npath = "/usr/local/bin/cloud-hypervisor"', /hypervisor\.path: .*tsula runs QEMU or StratoVirt/],
    ['[sandbox]\n[runtime]\nenable_debug = true', /unknown table or key runtime \(Kuasar's tables/],
    ['[hypervisor]\npath = "/usr/bin/stratovirt"\n[hypervisor.virtiofsd_conf]\npath = "vhost_user_fs"', /hypervisor\.virtiofsd_conf\.path: must be an absolute path/],
  ];
  for (const [text, re] of bad) assert.throws(() => parse(`${text}\n`), re, text);
});

test('loading: Kuasar\'s image_path = "" means unset (rootfs.img beside the initrd is used); kata\'s image = "" means none', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-kata-'));
  try {
    await fs.writeFile(path.join(dir, 'rootfs.img'), '');
    const kuasar = path.join(dir, 'config_qemu.toml');
    await fs.writeFile(kuasar, KUASAR_QEMU.replace('/var/lib/kuasar/kuasar.initrd', `${dir}/initrd`));
    assert.equal((await loadVmmConfig(kuasar, { host: bare })).hypervisors.qemu!.image, `${dir}/rootfs.img`);
    const kata = path.join(dir, 'configuration.toml');
    await fs.writeFile(kata, `[hypervisor.qemu]\ninitrd = "${dir}/initrd"\nimage = ""\n`);
    assert.equal((await loadVmmConfig(kata, { host: bare })).hypervisors.qemu!.image, '');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
test('scripts/vmm.toml (what install.sh writes): the defaults, and the same with every key uncommented', async () => {
  const text = await fs.readFile(new URL('../../../scripts/vmm.toml', import.meta.url), 'utf8');
  const c = parse(text);
  assert.equal(c.default, 'qemu');
  assert.deepEqual(c.hypervisors.qemu, defaultHypervisorConfig('qemu'));
  assert.deepEqual(c.ignored, []);
  // each key is there, commented out with its default value: uncommenting changes nothing
  // (image's default is rootfs.img beside the initrd, which the file names)
  const open = text.replace(/^#\s?([a-z_]+ = .*)$/gm, '$1');
  assert.ok((open.match(/^[a-z_]+ = /gm) ?? []).length >= 15, 'the keys are in the file');
  const d = defaultHypervisorConfig('qemu');
  assert.deepEqual(parse(open).hypervisors.qemu, { ...d, image: path.join(path.dirname(d.initrd), 'rootfs.img') });
});
