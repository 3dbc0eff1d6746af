// Linux capabilities: names, Docker's default set, and --cap-add/--cap-drop/--privileged
// resolution the way moby's oci/caps TweakCapabilities does it.
import { invalidArgument } from '../common/errors.js';

/** Every capability the kernel defines, indexed by its bit number (linux/capability.h). */
export const ALL_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL',
  'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT',
  'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** Docker's default capability set (moby oci/caps/defaults.go), in its order. */
export const DEFAULT_CAPS: readonly string[] = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** "net_admin", "CAP_NET_ADMIN", "all" → "CAP_NET_ADMIN", "ALL". Throws on unknown names. */
export function normalizeCap(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPS.includes(full)) throw invalidArgument(`unknown capability: ${JSON.stringify(name)}`);
  return full;
}

/** Capabilities in a /proc/<pid>/status Cap* hex mask. */
export function capsFromMask(hex: string): Set<string> {
  const mask = BigInt(`0x${hex.trim()}`);
  const out = new Set<string>();
  ALL_CAPS.forEach((c, bit) => { if ((mask >> BigInt(bit)) & 1n) out.add(c); });
  return out;
}

export interface CapRequest {
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
}

/**
 * The container's capability set. `available` is what this host's runc may grant (its
 * bounding ∩ permitted set): asking runc for more makes it fail, so "ALL"/privileged and
 * the defaults are silently narrowed to it, while a cap named in capAdd that the host lacks
 * is an error the user can act on.
 */
export function resolveCaps(req: CapRequest, available?: ReadonlySet<string>): string[] {
  const has = (c: string) => !available || available.has(c);
  if (req.privileged) return ALL_CAPS.filter(has);
  const adds = (req.capAdd ?? []).map(normalizeCap);
  const drops = (req.capDrop ?? []).map(normalizeCap);
  for (const c of adds) {
    if (c !== 'ALL' && !has(c)) {
      throw invalidArgument(`capability ${c} is not available on this host (not in the engine's bounding set)`);
    }
  }
  let caps: string[];
  if (adds.includes('ALL')) {
    caps = ALL_CAPS.filter((c) => !drops.includes(c));
  } else if (drops.includes('ALL')) {
    caps = [...adds];
  } else {
    caps = DEFAULT_CAPS.filter((c) => !drops.includes(c));
    for (const c of adds) if (!caps.includes(c)) caps.push(c);
  }
  return [...new Set(caps)].filter(has);
}
