// The bare QEMU boot the VM benches measure tsula against (bench/vmm.mjs, bench/cri.mjs):
// tsula's own QEMU command line for a pod (same kernel, initramfs, rootfs.img,
// machine/cpu/memory, memfd-backed RAM), minus the virtio-fs device, with a tiny init
// appended to the same initramfs (rdinit=) that prints a marker on the serial console and
// powers off:
//   bench-bare  prints "BARE-READY <guest uptime>" as soon as it runs;
//   bench-node  also does what the guest's /init does before the agent (modules, the disk:
//               virtio-pmem with DAX or virtio-blk, as tsula's command line has it; node from it): "BARE-READY", "DISK-READY", "NODE-DONE" (node --jitless -e 0).
// Every qemu it starts names `dir` on its command line (the caller's cleanup finds them).
import { spawn } from 'node:child_process';
import { promises as fs, closeSync, openSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const DIST = path.join(ROOT, 'dist/src');

export const BARE_MARKERS = ['BARE-READY'];
export const NODE_MARKERS = ['BARE-READY', 'DISK-READY', 'NODE-DONE'];

const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A newc cpio archive (what the kernel unpacks) of regular files; appended after the gzip'd one. */
export function cpio(files) {
  const parts = [];
  let ino = 900000;
  const entry = (name, mode, data) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const f = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0];
    const hdr = Buffer.from(`070701${f.map((v) => v.toString(16).padStart(8, '0')).join('')}`);
    parts.push(hdr, nameBuf, Buffer.alloc((4 - ((hdr.length + nameBuf.length) % 4)) % 4), data, Buffer.alloc((4 - (data.length % 4)) % 4));
  };
  for (const [name, text] of Object.entries(files)) entry(name, 0o100755, Buffer.from(text));
  entry('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

// every external command costs ~20 ms under TCG: busybox applets called directly
const BARE_INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "BARE-READY $(/bin/busybox cut -d' ' -f1 /proc/uptime)"
/bin/busybox poweroff -f
`;
// what /init does before the agent, in short: modules, the disk, node from it
const NODE_INIT = `#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t devtmpfs devtmpfs /dev
echo "BARE-READY $($bb cut -d' ' -f1 /proc/uptime)"
for m in $($bb cat /etc/modules-order); do $bb insmod /lib/modules/$m.ko 2>/dev/null; done
dev=/dev/vda; opt=ro
$bb grep -qw tsula.image=pmem /proc/cmdline && { dev=/dev/pmem0; opt=ro,dax=always; }
i=0; while [ ! -b $dev ] && [ $i -lt 500 ]; do $bb usleep 10000; i=$((i+1)); done
$bb mkdir -p /mnt/sys && $bb mount -o $opt $dev /mnt/sys
for d in /mnt/sys/*; do
  [ "$d" = /mnt/sys/lost+found ] && continue
  $bb mkdir -p "/\${d#/mnt/sys/}" && $bb mount -o bind "$d" "/\${d#/mnt/sys/}"
done
echo "DISK-READY $($bb cut -d' ' -f1 /proc/uptime)"
/usr/bin/node --jitless -e 0 && echo "NODE-DONE $($bb cut -d' ' -f1 /proc/uptime)"
$bb poweroff -f
`;

/**
 * A bare-boot runner for one hypervisor config (loadVmmConfig(...).hypervisors.qemu) and
 * accelerator ('kvm' | 'tcg'); its initramfs copy and VM dirs go under dir.
 * boot(name, 'bench-bare' | 'bench-node', markers) → ms from spawn to each marker, to qemu's
 * exit, and the guest's own uptime at each marker ({ [marker]: ms, exit, guest: {...} }).
 */
export async function bareBooter({ dir, hvConfig, accel }) {
  const { QemuHypervisor } = await import(path.join(DIST, 'hypervisor/index.js'));
  const { Kernel, VhostUserFs, ChardevSocket } = await import(path.join(DIST, 'hypervisor/qemu/devices.js'));
  const initrd = path.join(dir, 'bench-initramfs.cpio.gz');
  const orig = await fs.readFile(hvConfig.initrd);
  await fs.writeFile(initrd, Buffer.concat([orig, zlib.gzipSync(cpio({ 'bench-bare': BARE_INIT, 'bench-node': NODE_INIT }))]));

  async function boot(name, init, markers) {
    const vm = path.join(dir, name);
    await fs.mkdir(vm);
    const paths = {
      agentSocket: path.join(vm, 'agent.sock'), debugSocket: path.join(vm, 'debug.sock'), qmpSocket: path.join(vm, 'qmp.sock'),
      consoleLog: path.join(vm, 'console.log'), pidFile: path.join(vm, 'vmm.pid'),
    };
    // tsula's device list for a pod with virtio-fs (memfd-backed RAM) minus the fs device itself
    // the peer is plain QEMU: its own TCG translation cache size, not tsula's tcg_tb_size
    const devices = new QemuHypervisor({ ...hvConfig, tcgTbSize: 0 }).devices({ id: name, accel, paths, sharedFs: { socket: path.join(vm, 'fs.sock'), tag: 'tsula' } })
      .filter((d) => !(d instanceof VhostUserFs) && !(d instanceof ChardevSocket && d.id === 'fs0'))
      .map((d) => (d instanceof Kernel ? new Kernel(d.kernel, initrd, d.append.replace('rdinit=/init', `rdinit=/${init}`)) : d));
    const argv = [hvConfig.path, ...devices.flatMap((d) => d.args())];
    await fs.writeFile(paths.consoleLog, '');
    const errFd = openSync(path.join(vm, 'qemu.stderr'), 'w');
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ['ignore', 'ignore', errFd] });
    closeSync(errFd);
    let exitAt = null;
    child.once('exit', () => { exitAt = now(); });
    const seen = {};
    const guest = {};
    try {
      const deadline = t0 + 300_000;
      while (exitAt === null && now() < deadline) {
        const text = readFileSync(paths.consoleLog, 'utf8');
        for (const m of markers) {
          if (seen[m] !== undefined) continue;
          const r = new RegExp(`${m} ([0-9.]+)`).exec(text);
          if (r) { seen[m] = now() - t0; guest[m] = Number(r[1]) * 1000; }
        }
        await sleep(5);
      }
      if (exitAt === null) throw new Error(`bare boot ${init}: no exit within 300 s`);
      const text = readFileSync(paths.consoleLog, 'utf8');
      const missed = markers.filter((m) => seen[m] === undefined);
      if (missed.length) throw new Error(`bare boot ${init}: never printed ${missed.join(', ')}; console:\n${text.split('\n').slice(-15).join('\n')}\n${readFileSync(path.join(vm, 'qemu.stderr'), 'utf8')}`);
      return { ...seen, exit: exitAt - t0, guest };
    } finally {
      if (exitAt === null) { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } }
    }
  }
  return { initrd, boot };
}
