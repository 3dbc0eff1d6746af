// Whether the guest image can go on virtio-pmem and be mounted with DAX (PmemImage), read
// from the file itself at each VM's start (a few bytes): an image built before DAX (1 KiB
// blocks, any size) goes on virtio-blk as it always did, and the guest's /init mounts what
// the kernel command line names (tsula.image=pmem), so the two always agree.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** QEMU places a virtio-pmem region at 2 MiB; the file must fill whole ones. */
const ALIGN = 2 << 20;

/** The image's size in bytes when DAX can map it (ext2/3/4, 4 KiB blocks, a 2 MiB multiple), else null. */
export function daxImageBytes(file: string): number | null {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = fstatSync(fd).size;
    if (size === 0 || size % ALIGN !== 0) return null;
    const sb = Buffer.alloc(64);
    if (readSync(fd, sb, 0, sb.length, 1024) < sb.length) return null;
    // the superblock at 1024: s_log_block_size at 24 (block = 1024 << it), s_magic at 56
    return sb.readUInt16LE(56) === 0xef53 && sb.readUInt32LE(24) === 2 ? size : null;
  } catch {
    return null; // a missing image is QEMU's error to give, on virtio-blk
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
