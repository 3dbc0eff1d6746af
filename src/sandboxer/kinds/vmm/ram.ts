// A clone's RAM when virtiofsd must see it (clone.ts): QEMU's own memfd
// (memory-backend-memfd, share=on), filled from the template's RAM file before the device
// state is loaded. A memfd is anonymous shared memory with no mount's size cap (a copy in the
// sandboxer's state dir was a tmpfs file, and /run is sized at a tenth or a fifth of RAM on
// most hosts: busy clones could fill it, and QEMU dies of SIGBUS on a page it can't get), it
// goes with the last process that holds it, and QEMU creates it while the sandboxer goes on.
//
// The template's file is mostly holes and zero pages; its non-zero runs are found once, when
// the template is made (ramRuns), and a clone copies only those.
import { promises as fs } from 'node:fs';
import { unavailable } from '../../../common/errors.js';

const PAGE = 4096;
const SCAN_CHUNK = 4 << 20;
const COPY_CHUNK = 1 << 20;
/** Copies in flight: reads and writes of 1 MiB go through libuv's pool, 4 threads by default. */
const PARALLEL = 4;
/** The name QEMU gives memory-backend-memfd's memfd (memfd_create's name, as /proc shows it). */
const QEMU_MEMFD = '/memfd:memory-backend-memfd';

/** [offset, length, offset, length, ...]: the page-aligned runs of `file` that are not all zeros. */
export async function ramRuns(file: string): Promise<number[]> {
  const h = await fs.open(file, 'r');
  try {
    const size = (await h.stat()).size;
    const buf = Buffer.alloc(SCAN_CHUNK);
    const zero = Buffer.alloc(PAGE);
    const runs: number[] = [];
    let start = -1;
    for (let off = 0; off < size; off += SCAN_CHUNK) {
      const { bytesRead } = await h.read(buf, 0, Math.min(SCAN_CHUNK, size - off), off);
      for (let i = 0; i < bytesRead; i += PAGE) {
        const data = !buf.subarray(i, Math.min(i + PAGE, bytesRead)).equals(zero.subarray(0, Math.min(PAGE, bytesRead - i)));
        if (data && start < 0) start = off + i;
        else if (!data && start >= 0) {
          runs.push(start, off + i - start);
          start = -1;
        }
      }
    }
    if (start >= 0) runs.push(start, size - start);
    return runs;
  } finally {
    await h.close();
  }
}

export function runsBytes(runs: number[]): number {
  let n = 0;
  for (let i = 1; i < runs.length; i += 2) n += runs[i]!;
  return n;
}

/** Checks a runs list read back from a template (offsets and lengths in order, within `size`). */
export function validRuns(runs: unknown, size: number): runs is number[] {
  if (!Array.isArray(runs) || runs.length % 2) return false;
  let end = 0;
  for (let i = 0; i < runs.length; i += 2) {
    const [o, l] = [runs[i], runs[i + 1]];
    if (!Number.isSafeInteger(o) || !Number.isSafeInteger(l) || o < end || l <= 0 || o + l > size) return false;
    end = o + l;
  }
  return true;
}

/**
 * QEMU's guest-RAM memfd, as a path the sandboxer can open (/proc/<pid>/fd/<n>): QEMU makes
 * it after its chardevs, so it is looked for until `deadline` (ms since the epoch).
 */
export async function findQemuMemfd(pid: number, deadline: number, alive: () => boolean): Promise<string> {
  for (;;) {
    for (const fd of await fs.readdir(`/proc/${pid}/fd`).catch(() => [] as string[])) {
      const link = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (link.startsWith(QEMU_MEMFD)) return `/proc/${pid}/fd/${fd}`;
    }
    if (!alive()) throw unavailable(`QEMU (pid ${pid}) exited before it made the guest's RAM`);
    if (Date.now() > deadline) throw unavailable(`QEMU (pid ${pid}) made no guest RAM (${QEMU_MEMFD}) in time`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Copy the runs of `src` to the same offsets of `dst` (opened in place: a sealed memfd can't be truncated). */
export async function copyRuns(src: string, dst: string, runs: number[]): Promise<void> {
  const jobs: Array<[number, number]> = [];
  for (let i = 0; i < runs.length; i += 2) {
    for (let o = 0; o < runs[i + 1]!; o += COPY_CHUNK) jobs.push([runs[i]! + o, Math.min(COPY_CHUNK, runs[i + 1]! - o)]);
  }
  const [from, to] = await Promise.all([fs.open(src, 'r'), fs.open(dst, 'r+')]);
  try {
    let next = 0;
    const worker = async () => {
      const buf = Buffer.allocUnsafe(COPY_CHUNK);
      try {
        while (next < jobs.length) {
          const [pos, len] = jobs[next++]!;
          const { bytesRead } = await from.read(buf, 0, len, pos);
          if (bytesRead !== len) throw unavailable(`the VM template's RAM file ${src} is shorter than its recorded pages`);
          const { bytesWritten } = await to.write(buf, 0, len, pos);
          if (bytesWritten !== len) throw unavailable(`the guest's RAM took ${bytesWritten} of ${len} bytes at ${pos}`);
        }
      } catch (e) {
        next = jobs.length; // the other workers stop too
        throw e;
      }
    };
    // every worker done before the files close
    const done = await Promise.allSettled(Array.from({ length: PARALLEL }, worker));
    const failed = done.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await Promise.all([from.close(), to.close()]);
  }
}
