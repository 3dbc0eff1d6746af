// The QEMU command line built from typed devices, and the StratoVirt one: checked argument
// by argument (the device model is the contract with the guest: port names, console, -name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QemuHypervisor, StratovirtHypervisor, defaultHypervisorConfig, hypervisorFor, launchVm, type VmSpec } from '../../src/hypervisor/index.js';
import { optValue, opts } from '../../src/hypervisor/qemu/devices.js';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const spec: VmSpec = {
  id: 'pod1', accel: 'tcg',
  paths: { agentSocket: '/r/agent.sock', debugSocket: '/r/debug.sock', qmpSocket: '/r/qmp.sock', consoleLog: '/r/console.log', pidFile: '/r/vmm.pid' },
};

/** The value following each occurrence of a flag. */
const values = (argv: string[], flag: string) => argv.flatMap((a, i) => (a === flag ? [argv[i + 1]] : []));

test('qemu q35 argv: machine, cpu, memory, kernel, console, qmp, agent and debug ports', () => {
  const cfg = { ...defaultHypervisorConfig('qemu'), kernel: '/g/vmlinuz', initrd: '/g/initrd', defaultMemory: 256, defaultVcpus: 2 };
  const argv = new QemuHypervisor(cfg).argv(spec);
  assert.equal(argv[0], '/usr/bin/qemu-system-x86_64');
  assert.deepEqual(values(argv, '-name'), ['sandbox-pod1']);
  assert.deepEqual(values(argv, '-machine'), ['q35']);
  // TCG's translation cache capped (tcg_tb_size, 256 MiB unless set): QEMU's own is 1 GiB
  assert.deepEqual(values(argv, '-accel'), ['tcg,tb-size=256']);
  assert.deepEqual(values(argv, '-cpu'), ['max']);
  assert.deepEqual(values(argv, '-smp'), ['2']);
  assert.deepEqual(values(argv, '-m'), ['256M']);
  assert.deepEqual(values(argv, '-kernel'), ['/g/vmlinuz']);
  assert.deepEqual(values(argv, '-initrd'), ['/g/initrd']);
  assert.match(values(argv, '-append')[0], /^console=ttyS0 panic=-1 /);
  assert.match(values(argv, '-append')[0], / cryptomgr\.notests /); // no crypto self-tests at boot
  assert.deepEqual(values(argv, '-pidfile'), ['/r/vmm.pid']);
  for (const f of ['-nographic', '-nodefaults', '-no-reboot']) assert.ok(argv.includes(f), f);
  assert.deepEqual(values(argv, '-chardev'), [
    'file,id=console0,path=/r/console.log',
    'socket,id=qmp0,path=/r/qmp.sock,server=on,wait=off',
    'socket,id=agent0,path=/r/agent.sock,server=on,wait=off',
    'socket,id=debug0,path=/r/debug.sock,server=on,wait=off',
  ]);
  assert.deepEqual(values(argv, '-serial'), ['chardev:console0']);
  assert.deepEqual(values(argv, '-mon'), ['chardev=qmp0,mode=control']);
  assert.deepEqual(values(argv, '-device'), [
    'virtio-serial-pci,id=vserial0',
    'virtserialport,bus=vserial0.0,chardev=agent0,name=agent.channel.0',
    'virtconsole,bus=vserial0.0,chardev=debug0,name=debug.console.0',
    'virtio-rng-pci',
  ]);
});

test('qemu microvm uses virtio-mmio devices; kvm uses the host cpu; accelerators and debug reach argv', () => {
  const cfg = { ...defaultHypervisorConfig('qemu'), machineType: 'microvm', machineAccelerators: 'kernel_irqchip=on,x-option-roms=off', enableDebug: true, kernelParams: 'foo=1' };
  const argv = new QemuHypervisor(cfg).argv({ ...spec, accel: 'kvm', memoryMib: 128 });
  assert.deepEqual(values(argv, '-machine'), ['microvm,kernel_irqchip=on,x-option-roms=off']);
  assert.deepEqual(values(argv, '-accel'), ['kvm']);
  assert.deepEqual(values(argv, '-cpu'), ['host']);
  assert.deepEqual(values(argv, '-m'), ['128M']);
  assert.ok(values(argv, '-device').includes('virtio-serial-device,id=vserial0'));
  assert.ok(values(argv, '-device').includes('virtio-rng-device'));
  assert.match(values(argv, '-append')[0], / tsula\.debug=1 foo=1$/);
  assert.deepEqual(values(argv, '-drive'), []);
});

test('tcg_tb_size: the cache QEMU gets under TCG; 0 leaves QEMU its own', () => {
  const at = (n: number) => values(new QemuHypervisor({ ...defaultHypervisorConfig('qemu'), tcgTbSize: n }).argv(spec), '-accel');
  assert.deepEqual(at(128), ['tcg,tb-size=128']);
  assert.deepEqual(at(0), ['tcg']);
});

test('an image DAX can\'t map (here: none at that path) is a read-only virtio-blk disk', () => {
  const argv = new QemuHypervisor({ ...defaultHypervisorConfig('qemu'), image: '/g/rootfs.img' }).argv(spec);
  assert.deepEqual(values(argv, '-drive'), ['file=/g/rootfs.img,if=none,id=image0,format=raw,readonly=on']);
  assert.ok(values(argv, '-device').includes('virtio-blk-pci,drive=image0'));
});

/** A sparse file with an ext4 superblock's magic and block size (1024 << logBlock). */
function fakeExt4(file: string, bytes: number, logBlock: number): void {
  const fd = openSync(file, 'w');
  const sb = Buffer.alloc(64);
  sb.writeUInt32LE(logBlock, 24);
  sb.writeUInt16LE(0xef53, 56);
  writeSync(fd, sb, 0, sb.length, 1024);
  writeSync(fd, Buffer.alloc(1), 0, 1, bytes - 1);
  closeSync(fd);
}

test('a DAX-ready image (ext4, 4 KiB blocks, 2 MiB multiple) goes on virtio-pmem, read-only and shared, with room for it in -m', () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'tsula-pmem-'));
  try {
    const img = path.join(d, 'rootfs.img');
    fakeExt4(img, 6 << 20, 2);
    const cfg = { ...defaultHypervisorConfig('qemu'), image: img };
    const argv = new QemuHypervisor(cfg).argv({ ...spec, kernelParams: ['rdinit=/bin/busybox', '--', 'sleep', '1'] });
    assert.deepEqual(values(argv, '-object'), [`memory-backend-file,id=image0-mem,mem-path=${img},size=${6 << 20},share=on,readonly=on`]);
    assert.ok(values(argv, '-device').includes('virtio-pmem-pci,memdev=image0-mem,id=image0'));
    assert.deepEqual(values(argv, '-drive'), []);
    assert.deepEqual(values(argv, '-m'), ['512M,slots=1,maxmem=640M']);
    // the guest's /init is told, before a spec's own parameters (which may end in init's arguments)
    assert.match(values(argv, '-append')[0]!, / tsula\.image=pmem swiotlb=noforce rdinit=\/bin\/busybox -- sleep 1$/);
    // virtio-fs: the memfd's -m has the room too
    assert.deepEqual(values(new QemuHypervisor(cfg).argv({ ...spec, sharedFs: { socket: '/r/fs.sock', tag: 'tsula' } }), '-m'), ['512M,slots=1,maxmem=640M']);
    const blk = (c: typeof cfg) => {
      const a = new QemuHypervisor(c).argv(spec);
      return values(a, '-drive').length === 1 && !values(a, '-device').some((x) => x.startsWith('virtio-pmem')) && !values(a, '-append')[0]!.includes('tsula.image=pmem');
    };
    // kata's disable_image_nvdimm, microvm (virtio-pmem is PCI only), and images DAX can't map: virtio-blk
    assert.ok(blk({ ...cfg, disableImageNvdimm: true }));
    assert.ok(blk({ ...cfg, machineType: 'microvm' }));
    fakeExt4(img, 6 << 20, 0); // 1 KiB blocks: the images built before DAX
    assert.ok(blk(cfg));
    fakeExt4(img, (6 << 20) + 4096, 2); // not a 2 MiB multiple
    assert.ok(blk(cfg));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('virtio-fs: guest RAM in a shared memfd named by the machine, virtiofsd as a client chardev, the tag', () => {
  const argv = new QemuHypervisor(defaultHypervisorConfig('qemu')).argv({ ...spec, memoryMib: 256, sharedFs: { socket: '/r/fs.sock', tag: 'tsula' } });
  assert.deepEqual(values(argv, '-object'), ['memory-backend-memfd,id=mem0,size=256M,share=on']);
  assert.deepEqual(values(argv, '-m'), ['256M']);
  assert.match(values(argv, '-machine')[0], /^q35,memory-backend=mem0$/);
  assert.ok(values(argv, '-chardev').includes('socket,id=fs0,path=/r/fs.sock'));
  assert.ok(values(argv, '-device').includes('vhost-user-fs-pci,chardev=fs0,tag=tsula'));
  // without a share: plain RAM, no vhost-user device
  const plain = new QemuHypervisor(defaultHypervisorConfig('qemu')).argv(spec);
  assert.deepEqual(values(plain, '-object'), []);
  assert.ok(!values(plain, '-device').some((d) => d.startsWith('vhost-user-fs')));
});

test('commas inside option values are doubled (QEMU would split there)', () => {
  assert.equal(optValue('/a,b/c'), '/a,,b/c');
  assert.equal(opts('socket', { id: 'x', path: '/tmp/a,b', server: true, skip: undefined }), 'socket,id=x,path=/tmp/a,,b,server=on');
  const argv = new QemuHypervisor(defaultHypervisorConfig('qemu')).argv({ ...spec, paths: { ...spec.paths, agentSocket: '/r,x/agent.sock' } });
  assert.ok(values(argv, '-chardev').includes('socket,id=agent0,path=/r,,x/agent.sock,server=on,wait=off'));
});

test('stratovirt argv: its own binary, name, qmp and the same two ports', () => {
  const hv = hypervisorFor(defaultHypervisorConfig('stratovirt'));
  assert.ok(hv instanceof StratovirtHypervisor);
  const argv = hv.argv(spec);
  assert.equal(argv[0], '/usr/bin/stratovirt');
  assert.deepEqual(values(argv, '-name'), ['sandbox-pod1']);
  assert.deepEqual(values(argv, '-machine'), ['microvm']);
  assert.deepEqual(values(argv, '-qmp'), ['unix:/r/qmp.sock,server,nowait']);
  assert.ok(values(argv, '-device').includes('virtserialport,bus=vserial0.0,chardev=agent0,name=agent.channel.0,nr=1'));
  assert.match(values(argv, '-append')[0], /^console=hvc0 /);
});

test('launching without the binary or the guest assets fails at once, naming what is missing', async () => {
  const sv = hypervisorFor(defaultHypervisorConfig('stratovirt'));
  await assert.rejects(launchVm(sv, spec, { timeoutMs: 1000 }),
    /stratovirt: binary \/usr\/bin\/stratovirt not found or not executable \(set hypervisor\.stratovirt\.path in vmm\.toml\)/);
  const q = hypervisorFor({ ...defaultHypervisorConfig('qemu'), path: process.execPath, kernel: '/nonexistent/vmlinuz' });
  await assert.rejects(launchVm(q, spec, { timeoutMs: 1000 }), /qemu: guest kernel \/nonexistent\/vmlinuz is missing \(build it with scripts\/build-guest\.sh \/nonexistent\)/);
  const v = hypervisorFor({ ...defaultHypervisorConfig('qemu'), path: process.execPath, kernel: process.execPath, initrd: process.execPath, useVsock: true });
  await assert.rejects(launchVm(v, spec, { timeoutMs: 1000 }), /use_vsock: vsock is not supported yet/);
});

test('cpu_model picks -cpu; agent_snapshot = false and a VM\'s own kernel parameters reach the command line', () => {
  const paths = { agentSocket: '/r/a.sock', debugSocket: '/r/d.sock', qmpSocket: '/r/q.sock', consoleLog: '/r/c.log', pidFile: '/r/p' };
  const argvOf = (over: object, spec: Partial<VmSpec> = {}) => new QemuHypervisor({ ...defaultHypervisorConfig('qemu'), ...over }).argv({ id: 'x', accel: 'tcg', paths, ...spec });
  const after = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];
  assert.equal(after(argvOf({}), '-cpu'), 'max');
  assert.equal(after(argvOf({}, { accel: 'kvm' }), '-cpu'), 'host');
  assert.equal(after(argvOf({ cpuModel: 'EPYC' }, { accel: 'kvm' }), '-cpu'), 'EPYC');
  assert.doesNotMatch(after(argvOf({}), '-append'), /agent_snapshot/);
  assert.match(after(argvOf({ agentSnapshot: false }), '-append'), / tsula\.agent_snapshot=off( |$)/);
  assert.match(after(argvOf({}, { kernelParams: ['tsula.agent_snapshot=build'] }), '-append'), / tsula\.agent_snapshot=build$/);
});
