// A throwaway container run in a cached clone before it waits (cache.ts): under TCG a clone's
// first container costs ~1.0 s in the guest against ~0.35 s for its second, because QEMU
// translates conmon's, crun's and the kernel's create path afresh in every new QEMU process
// (a template holds no translations: tried there, see rehearsal.ts). A cached clone's QEMU
// keeps what it translated, so the pod that takes it starts its first container warm.
//
// The container goes the way a pod's does (GuestRuntime: its rootfs bind-mounted into the
// clone's share, conmon and the OCI runtime in the guest, docker's default mounts, masked and
// read-only paths): `busybox true` from a rootfs of one file, the host's static busybox (the
// guest's own /init is that binary: scripts/build-guest.sh), linked or copied into the
// clone's dir. No static busybox on the host: no warm-up (the clone is cached cold).
import { promises as fs } from 'node:fs';
import { sha256Hex } from '../../../common/crypto.js';
import * as path from 'node:path';
import { DEFAULT_CAPS } from '../../../oci/caps.js';
import { defaultMaskedPaths, defaultMounts, OCI_VERSION, READONLY_PATHS } from '../../../oci/spec.js';
import type { Spec } from '../../../oci/types.js';
import type { Logger } from '../../../common/log.js';
import { GuestRuntime } from './runtime.js';
import type { GuestTasks } from './tasks.js';
import type { SharedDir } from './shared.js';

export const WARM_BUSYBOX = '/bin/busybox';
/** The agent takes task ids of 64 hex digits (a pod's are hashes too). */
const ID = sha256Hex('tsula-warm-up');

/** Is `file` a static ELF executable (no PT_INTERP: it runs without the guest having its libc)? */
export async function staticElf(file: string): Promise<boolean> {
  const b = await fs.readFile(file).catch(() => null);
  if (!b || b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2) return false; // ELF64
  const phoff = Number(b.readBigUInt64LE(32));
  const phentsize = b.readUInt16LE(54);
  const phnum = b.readUInt16LE(56);
  for (let i = 0; i < phnum; i++) {
    const off = phoff + i * phentsize;
    if (off + 4 > b.length) return false;
    if (b.readUInt32LE(off) === 3) return false; // PT_INTERP
  }
  return true;
}

export function warmUpSpec(rootfs: string): Spec {
  const caps = [...DEFAULT_CAPS];
  return {
    ociVersion: OCI_VERSION,
    process: {
      terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/busybox', 'true'], env: ['PATH=/bin'], cwd: '/',
      capabilities: { bounding: caps, effective: [...caps], permitted: [...caps] }, noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: true },
    mounts: defaultMounts(false),
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: [...defaultMaskedPaths()], readonlyPaths: [...READONLY_PATHS],
    },
  };
}

/** Run the throwaway container in the clone whose dir is `dir`: ms taken, or null when skipped (said in the log). */
export async function warmUp(tasks: GuestTasks, shared: SharedDir, dir: string, o: { noSeccomp: boolean; log?: Logger }): Promise<number | null> {
  if (!(await staticElf(WARM_BUSYBOX))) {
    o.log?.debug('no static busybox on the host: cached VMs are not warmed up', { busybox: WARM_BUSYBOX });
    return null;
  }
  const t0 = Date.now();
  const root = path.join(dir, 'warm-up');
  const rootfs = path.join(root, 'rootfs');
  try {
    for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp']) await fs.mkdir(path.join(rootfs, d), { recursive: true });
    await fs.link(WARM_BUSYBOX, path.join(rootfs, 'bin', 'busybox')).catch(() => fs.copyFile(WARM_BUSYBOX, path.join(rootfs, 'bin', 'busybox')));
    const rt = new GuestRuntime(tasks, shared, path.basename(dir), o.log, { noSeccomp: o.noSeccomp });
    await rt.create({ id: ID, bundle: root, spec: warmUpSpec(rootfs), logPath: '', terminal: false, stdin: false, stdinOnce: false });
    try {
      await rt.start(ID);
      const x = await tasks.wait(ID);
      if (x?.exitStatus !== 0) o.log?.debug('the warm-up container exited non-zero', { dir, status: x?.exitStatus });
    } finally {
      await rt.delete(ID, root, true);
    }
    return Date.now() - t0;
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
