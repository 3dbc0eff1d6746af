// containerd's platforms package as dockerd uses it. Parse (containerd 1.4/1.5, what dockerd
// 20.10 vendors: platforms.go and database.go): "os", "arch", "os/arch" or "os/arch/variant",
// every part [A-Za-z0-9_-]+, normalized (x86_64 is amd64, aarch64 arm64, armhf arm/v7...); a
// specifier it refuses is refused in its words, errdefs.ErrInvalidArgument wrapped (": invalid
// argument"). Only: whether an image of one platform serves another, as the graphdriver
// image store's GetImage asks it.
import { invalidArgument } from '../common/errors.js';
import { hostPlatform, normalizePlatform, platformMatches as sameOrAnyVariant, type Platform } from './registry/manifest.js';
import type { ImageRecord } from './types.js';

const SPECIFIER = /^[A-Za-z0-9_-]+$/;

// GOOS and GOARCH values Go knows (containerd's isKnownOS, isKnownArch)
const KNOWN_OS = new Set(['aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd', 'openbsd', 'plan9', 'solaris', 'windows', 'zos']);
const KNOWN_ARCH = new Set(['386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm']);

const refused = (what: string) => invalidArgument(`${what}: invalid argument`);

function normalizeOS(os: string): string {
  const o = os.toLowerCase();
  return o === 'macos' ? 'darwin' : o;
}

/** containerd's normalizeArch: the architecture's Go name and the variant that goes with it. */
function normalizeArch(arch: string, variant: string): [string, string] {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386': return ['386', ''];
    case 'x86_64': case 'x86-64': return ['amd64', ''];
    case 'aarch64': case 'arm64': return ['arm64', v === '8' || v === 'v8' ? '' : v];
    case 'armhf': return ['arm', 'v7'];
    case 'armel': return ['arm', 'v6'];
    case 'arm': return ['arm', v === '' || v === '7' ? 'v7' : ['5', '6', '8'].includes(v) ? `v${v}` : v];
    default: return [a, v];
  }
}

const platform = (os: string, architecture: string, variant: string): Platform => (variant ? { os, architecture, variant } : { os, architecture });

/** A platform specifier as containerd parses it, or its error (InvalidArgument, 400 in dockerd). */
export function parsePlatformSpecifier(specifier: string): Platform {
  const q = JSON.stringify(specifier);
  if (specifier.includes('*')) throw refused(`${q}: wildcards not yet supported`);
  const parts = specifier.split('/');
  for (const part of parts) {
    if (!SPECIFIER.test(part)) throw refused(`${JSON.stringify(part)} is an invalid component of ${q}: platform specifier component must match "${SPECIFIER.source}"`);
  }
  switch (parts.length) {
    case 1: {
      const os = normalizeOS(parts[0]!);
      // an OS alone takes the host's architecture; an architecture alone the host's OS
      if (KNOWN_OS.has(os)) return platform(os, hostPlatform().architecture, '');
      const [arch, variant] = normalizeArch(parts[0]!, '');
      if (KNOWN_ARCH.has(arch)) return platform('linux', arch, arch === 'arm' && variant === 'v7' ? '' : variant);
      throw refused(`${q}: unknown operating system or architecture`);
    }
    case 2: {
      const [arch, variant] = normalizeArch(parts[1]!, '');
      return platform(normalizeOS(parts[0]!), arch, arch === 'arm' && variant === 'v7' ? '' : variant);
    }
    case 3: {
      const [arch, variant] = normalizeArch(parts[1]!, parts[2]!);
      return platform(normalizeOS(parts[0]!), arch, arch === 'arm64' && !variant ? 'v8' : variant);
    }
    default:
      throw refused(`${q}: cannot parse platform specifier`);
  }
}

/**
 * containerd's platforms.Only as dockerd's graphdriver store uses it: the pull's match (same
 * os and architecture once normalized, the variant if one is wanted), and arm/vN also runs
 * the older arm variants' images.
 */
export function platformMatches(wanted: Platform, have: Platform): boolean {
  if (sameOrAnyVariant(wanted, have)) return true;
  const w = normalizePlatform(wanted);
  const h = normalizePlatform(have);
  const level = (p: Platform) => Number((p.variant ?? '').replace(/^v/, ''));
  return w.os === h.os && w.architecture === 'arm' && h.architecture === 'arm' && level(h) < level(w);
}

/** An image's own platform (its config's os, architecture and variant). */
export function imagePlatform(i: Pick<ImageRecord, 'os' | 'architecture'>, blob?: Record<string, unknown> | null): Platform {
  const variant = typeof blob?.variant === 'string' ? blob.variant : '';
  return { os: i.os, architecture: i.architecture, ...(variant ? { variant } : {}) };
}
