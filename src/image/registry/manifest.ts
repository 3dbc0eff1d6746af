// Manifests as registries serve them: Docker schema 2 and OCI image manifests, Docker
// manifest lists and OCI indexes (one manifest per platform), and the image config they
// point at. Everything is checked before anything is downloaded on its word.
import { invalidArgument, notFound, unimplemented } from '../../common/errors.js';
import { compressionOfMediaType, MEDIA_TYPES, type LayerCompression } from '../layers.js';

export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest,
].join(', ');

const DOCKER_SCHEMA1 = [
  'application/vnd.docker.distribution.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v1+prettyjws',
];
const SHA256 = /^sha256:[0-9a-f]{64}$/;
/** Manifests and configs are small; a bigger one is not what it claims to be. */
export const MAX_MANIFEST = 4 << 20;
export const MAX_CONFIG = 8 << 20;

export interface Platform { os: string; architecture: string; variant?: string }

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  platform?: Platform;
}

export interface IndexManifest { kind: 'index'; mediaType: string; manifests: Descriptor[] }
export interface ImageManifest { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Array<Descriptor & { compression: LayerCompression }> }
export type AnyManifest = IndexManifest | ImageManifest;

/** The parts of an image config a pull needs to check (the store keeps the rest). */
export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: Record<string, unknown>;
  rootfs: { type: string; diff_ids: string[] };
}

function descriptor(v: unknown, what: string): Descriptor {
  if (!v || typeof v !== 'object') throw invalidArgument(`${what}: not a descriptor`);
  const d = v as Record<string, unknown>;
  if (typeof d.digest !== 'string' || !SHA256.test(d.digest)) {
    throw invalidArgument(`${what}: unsupported or invalid digest "${String(d.digest)}" (want sha256:<64 hex>)`);
  }
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw invalidArgument(`${what}: invalid size "${String(d.size)}"`);
  const out: Descriptor = { mediaType: typeof d.mediaType === 'string' ? d.mediaType : '', digest: d.digest, size: d.size };
  if (Array.isArray(d.urls)) out.urls = d.urls.filter((u): u is string => typeof u === 'string');
  if (d.platform && typeof d.platform === 'object') {
    const p = d.platform as Record<string, unknown>;
    out.platform = { os: String(p.os ?? ''), architecture: String(p.architecture ?? '') };
    if (typeof p.variant === 'string' && p.variant) out.platform.variant = p.variant;
  }
  return out;
}

/** Parse a manifest body; `contentType` is the registry's Content-Type (the body's mediaType wins). */
export function parseManifest(body: Buffer, contentType: string | undefined, label: string): AnyManifest {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw invalidArgument(`${label}: malformed manifest JSON: ${(e as Error).message}`);
  }
  if (!m || typeof m !== 'object') throw invalidArgument(`${label}: manifest is not a JSON object`);
  const ct = (contentType ?? '').split(';')[0]!.trim();
  const mediaType = typeof m.mediaType === 'string' && m.mediaType ? m.mediaType : ct;
  if (m.schemaVersion === 1 || DOCKER_SCHEMA1.includes(mediaType)) {
    throw unimplemented(`${label}: Docker schema 1 manifests are not supported (push the image again with a current client)`);
  }
  if (m.schemaVersion !== 2) throw invalidArgument(`${label}: unsupported manifest schemaVersion ${String(m.schemaVersion)}`);
  const isIndex = mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerList
    || (!mediaType && Array.isArray(m.manifests) && !m.config);
  if (isIndex) {
    if (!Array.isArray(m.manifests)) throw invalidArgument(`${label}: index without a "manifests" list`);
    return { kind: 'index', mediaType: mediaType || MEDIA_TYPES.ociIndex, manifests: m.manifests.map((d, i) => descriptor(d, `${label}: manifests[${i}]`)) };
  }
  if (mediaType && mediaType !== MEDIA_TYPES.ociManifest && mediaType !== MEDIA_TYPES.dockerManifest) {
    throw unimplemented(`${label}: unsupported manifest media type "${mediaType}"`);
  }
  if (!Array.isArray(m.layers)) throw invalidArgument(`${label}: manifest without a "layers" list`);
  const config = descriptor(m.config, `${label}: config`);
  const layers = m.layers.map((raw, i) => {
    const d = descriptor(raw, `${label}: layers[${i}]`);
    const compression = compressionOfMediaType(d.mediaType);
    if (compression === undefined) throw unimplemented(`${label}: layer ${d.digest} has unsupported media type "${d.mediaType}"`);
    return { ...d, compression };
  });
  return { kind: 'manifest', mediaType: mediaType || MEDIA_TYPES.ociManifest, config, layers };
}

export function parseImageConfig(body: Buffer, layerCount: number, label: string): ImageConfigFile {
  let c: ImageConfigFile;
  try {
    c = JSON.parse(body.toString('utf8')) as ImageConfigFile;
  } catch (e) {
    throw invalidArgument(`${label}: malformed image config JSON: ${(e as Error).message}`);
  }
  if (!c || typeof c !== 'object' || !c.rootfs || !Array.isArray(c.rootfs.diff_ids)) {
    throw invalidArgument(`${label}: image config has no rootfs.diff_ids`);
  }
  if (c.rootfs.type !== 'layers') throw invalidArgument(`${label}: image config rootfs.type is "${c.rootfs.type}", want "layers"`);
  for (const d of c.rootfs.diff_ids) if (typeof d !== 'string' || !SHA256.test(d)) throw invalidArgument(`${label}: invalid diff id "${String(d)}"`);
  if (c.rootfs.diff_ids.length !== layerCount) {
    throw invalidArgument(`${label}: the manifest has ${layerCount} layers but the config lists ${c.rootfs.diff_ids.length} diff ids`);
  }
  return c;
}

// ---- platforms --------------------------------------------------------------------------

const ARCH: Record<string, string> = { x64: 'amd64', x86_64: 'amd64', ia32: '386', aarch64: 'arm64', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** containerd's platforms.Normalize: x86_64 is amd64, arm64's variant v8, arm's v7... */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const architecture = ARCH[p.architecture.toLowerCase()] ?? p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  // containerd's normalisation: arm64 is v8 unless told otherwise, arm is v7.
  if (architecture === 'arm64' && (variant === undefined || variant === '8' || variant === 'v8')) variant = 'v8';
  if (architecture === 'arm' && (variant === undefined || variant === '7')) variant = 'v7';
  if (architecture === 'amd64' && variant === 'v1') variant = undefined;
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function hostPlatform(): Platform {
  return normalizePlatform({ os: 'linux', architecture: process.arch });
}

/** "linux/amd64", "linux/arm64/v8", "linux/arm/v7"; the os defaults to linux. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split('/');
  if (parts.length === 1 && parts[0] && parts[0] !== 'linux') return normalizePlatform({ os: 'linux', architecture: parts[0] });
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw invalidArgument(`invalid platform "${s}": want os/arch[/variant], e.g. linux/amd64`);
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, variant: parts[2] });
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  return w.os === h.os && w.architecture === h.architecture && (w.variant === undefined || w.variant === h.variant);
}

/** The index entry for `want` (the first match, as registries list the preferred one first). */
export function choosePlatform(index: IndexManifest, want: Platform, label: string): Descriptor {
  const images = index.manifests.filter((d) => d.mediaType !== 'application/vnd.in-toto+json' && d.platform?.architecture !== 'unknown');
  const exact = images.find((d) => d.platform && platformMatches(want, d.platform) && normalizePlatform(d.platform).variant === normalizePlatform(want).variant);
  const hit = exact ?? images.find((d) => d.platform && platformMatches(want, d.platform));
  if (!hit) {
    const have = images.map((d) => (d.platform ? formatPlatform(d.platform) : '?')).join(', ') || 'none';
    throw notFound(`no matching manifest for ${formatPlatform(want)} in the manifest list entries of ${label} (it has: ${have})`);
  }
  return hit;
}
