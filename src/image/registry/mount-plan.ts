// Which known blobs of a layer a push tries before uploading it, and in what order, as
// dockerd's push does (moby distribution/push_v2.go): the sources most like the target
// repository first (registry, then path components, matched from the left), the newest
// first among equals; mounts only from other repositories of the same registry, as many as
// the layer's size makes worth it (getMaxMountAndExistenceCheckAttempts). Pure logic:
// push.ts does the requests.
import type { LayerSource } from '../layer-sources.js';
import { compressionOfMediaType, MEDIA_TYPES } from '../layers.js';

/** Where a push goes. */
export interface PushTarget { registry: string; repository: string }

export interface Attempts {
  /** Cross-repository mounts to try. */
  mounts: number;
  /** HEADs of known digests in the target repository, in all. */
  checks: number;
  /** Whether those HEADs may try digests known from other repositories too. */
  checkOther: boolean;
}

const SMALL = 100 * 1024;
const MIDDLE = 10 * 1024 * 1024;

/** moby's budget by layer size: a small layer's upload costs less than many round trips. */
export function attempts(size: number): Attempts {
  if (size > MIDDLE) return { mounts: 4, checks: 3, checkOther: true };
  if (size > SMALL) return { mounts: 3, checks: 1, checkOther: false };
  return { mounts: 1, checks: 1, checkOther: false };
}

const components = (registry: string, repository: string) => [registry, ...repository.split('/')];

/** How many leading path components (the registry first) two names share. */
function likeness(s: LayerSource, target: PushTarget): number {
  const a = components(s.registry, s.repository);
  const b = components(target.registry, target.repository);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

export const isTarget = (s: LayerSource, target: PushTarget): boolean => s.registry === target.registry && s.repository === target.repository;

/**
 * `sources` (oldest first) best first: moby's sortV2MetadataByLikenessAndAge. Among equally
 * like ones the blob stored here (`stored`) goes first: dockerd keeps no media type and
 * always names a gzip layer, so which of two compressions of one layer it mounts is only its
 * age; here the one this host pulled the layer as keeps its manifest as it came.
 */
export function byLikeness(sources: LayerSource[], target: PushTarget, stored?: string): LayerSource[] {
  const rank = [...sources].reverse().map((s) => ({ s, like: likeness(s, target), own: s.digest === stored ? 1 : 0 }));
  rank.sort((a, b) => (b.like - a.like) || (b.own - a.own)); // stable: newest first among equals
  return rank.map((r) => r.s);
}

/** moby's getRepositoryMountCandidates: same registry, not the target itself, at most `max`. */
export function mountCandidates(sources: LayerSource[], target: PushTarget, max: number, stored?: string): LayerSource[] {
  const same = sources.filter((s) => s.registry === target.registry && s.repository !== target.repository);
  return byLikeness(same, target, stored).slice(0, Math.max(0, max));
}

/**
 * The known blobs to HEAD in the target repository (moby's layerAlreadyExists): one per
 * digest, those not `checked` yet, at most `max`; with `checkOther` false only those the
 * target repository was seen to hold.
 */
export function existenceChecks(sources: LayerSource[], target: PushTarget, checkOther: boolean, max: number, checked: Set<string>, stored?: string): LayerSource[] {
  const out: LayerSource[] = [];
  const seen = new Set<string>();
  for (const s of byLikeness(checkOther ? sources : sources.filter((x) => isTarget(x, target)), target, stored)) {
    if (out.length >= max) break;
    if (seen.has(s.digest) || checked.has(s.digest)) continue;
    seen.add(s.digest);
    out.push(s);
  }
  return out;
}

/**
 * A layer's media type as a manifest of that kind names it: a blob known under the OCI name
 * goes in a docker manifest under docker's, and the other way round (the bytes are the same).
 */
export function layerTypeIn(mediaType: string, oci: boolean): string {
  const c = compressionOfMediaType(mediaType);
  if (c === undefined) return mediaType;
  if (oci) {
    return c === 'gzip' ? MEDIA_TYPES.ociLayerGzip : c === 'zstd' ? MEDIA_TYPES.ociLayerZstd : c === 'none' ? MEDIA_TYPES.ociLayer : mediaType;
  }
  if (c === 'gzip') return MEDIA_TYPES.dockerLayerGzip;
  if (c === 'none') return MEDIA_TYPES.dockerLayer;
  return mediaType; // zstd: such a manifest is OCI (push.ts)
}
