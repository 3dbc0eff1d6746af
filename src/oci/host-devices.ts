// The host's device nodes, for a privileged container: dockerd and containerd's CRI give it
// every node under the host's /dev at the same path (containerd's oci.HostDevices), so
// `--privileged` reaches loop devices, /dev/kvm, /dev/fuse, disks as on the host. And the
// nodes one `--device` names (one, or a directory's).
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { invalidArgument } from '../common/errors.js';

export interface HostDevice {
  hostPath: string;
  containerPath: string;
  type: 'c' | 'b';
  major: number;
  minor: number;
  fileMode: number;
  uid: number;
  gid: number;
  permissions: string;
}

/** Directories containerd's getDevices skips: the runtime mounts its own there. */
const SKIP_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** A node's type and numbers from its stat (Linux's new_encode_dev split). */
export async function deviceNode(hostPath: string, containerPath = hostPath, permissions = 'rwm'): Promise<HostDevice | null> {
  // stat, not lstat: a --device given as a symlink (/dev/disk/by-id/…) is its target, as dockerd resolves it
  const st = await fs.stat(hostPath, { bigint: true }).catch(() => null);
  if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) return null;
  const rdev = st.rdev;
  return {
    hostPath, containerPath, permissions, type: st.isCharacterDevice() ? 'c' : 'b',
    major: Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn)),
    minor: Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn)),
    fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid),
  };
}

/** Every device node under dir (symlinks and /dev/console left out, as containerd does). */
export async function hostDevices(dir = '/dev'): Promise<HostDevice[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: HostDevice[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (!SKIP_DIRS.has(e.name)) out.push(...await hostDevices(p));
      continue;
    }
    if (e.name === 'console' || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
    const d = await deviceNode(p);
    if (d) out.push(d);
  }
  return out;
}

/**
 * `--device DIR`: every device node under a directory (symlinks not followed), at the same
 * place under `inContainer`, in name order, as dockerd's DevicesFromPath walks one.
 */
export async function devicesUnder(dir: string, inContainer: string, permissions: string): Promise<HostDevice[]> {
  const entries = (await fs.readdir(dir, { withFileTypes: true }).catch(() => [])).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: HostDevice[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    const c = path.posix.join(inContainer, e.name);
    if (e.isDirectory()) out.push(...await devicesUnder(p, c, permissions));
    else if (e.isCharacterDevice() || e.isBlockDevice()) {
      const d = await deviceNode(p, c, permissions);
      if (d) out.push(d);
    }
  }
  return out;
}

/**
 * A `--device` as dockerd's DevicesFromPath takes it: a node (a symlink to one resolved), or
 * a directory holding nodes; anything else is its error.
 */
export async function devicesFromPath(hostPath: string, containerPath: string, permissions: string): Promise<HostDevice[]> {
  const node = await deviceNode(hostPath, containerPath, permissions);
  if (node) return [node];
  const st = await fs.stat(hostPath).catch(() => null);
  const found = st?.isDirectory() ? await devicesUnder(await fs.realpath(hostPath), containerPath, permissions) : [];
  if (found.length) return found;
  const why = !st ? 'no such file or directory' : 'not a device node';
  throw invalidArgument(`error gathering device information while adding custom device "${hostPath}": ${why}`);
}
