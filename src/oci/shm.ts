// A pod's containers share its /dev/shm (containerd's sandbox shm): each container's own
// tmpfs there becomes a bind of the pod's (the guest's agent and the runc sandbox kind).
import type { Spec } from './types.js';

/** The size of a /dev/shm nobody sized (docker's, containerd's and kubelet's default). */
export const DEFAULT_SHM_BYTES = 64 * 1024 * 1024;

/** The default /dev/shm's size option as a spec writes it (oci/spec.ts), and in bytes. */
export const DEFAULT_SHM_OPTION = `size=${DEFAULT_SHM_BYTES / 1024}k`;
const DEFAULT_SIZES = new Set([DEFAULT_SHM_OPTION, `size=${DEFAULT_SHM_BYTES}`]);

/**
 * The spec with its own /dev/shm (the default tmpfs) replaced by a bind of `source`, the
 * /dev/shm of its pod. A /dev/shm the container asked for stays: a bind there already, or a
 * tmpfs of another size (docker's --shm-size).
 */
export function bindSharedShm(spec: Spec, source: string): Spec {
  const own = spec.mounts?.findIndex((m) => m.destination === '/dev/shm' && m.type === 'tmpfs'
    && (m.options ?? []).every((o) => !o.startsWith('size=') || DEFAULT_SIZES.has(o))) ?? -1;
  if (own < 0) return spec;
  const mounts = spec.mounts!.map((m, i) => (i === own ? { destination: '/dev/shm', type: 'bind', source, options: ['rbind', 'rprivate', 'nosuid', 'nodev', 'noexec'] } : m));
  return { ...spec, mounts };
}
