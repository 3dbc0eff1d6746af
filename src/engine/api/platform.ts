// The `platform` query parameters of the image endpoints (push 1.46, history/save/load 1.48,
// inspect 1.49, rmi's `platforms` 1.50): a JSON-encoded OCI platform, decoded and matched as
// dockerd's graphdriver image store does. That store holds one platform per image, so a
// platform the image does not have is dockerd's "was found but does not match" (404).
import type { ImageRecord, ImageStore } from '../../image/types.js';
import { invalidArgument, notFound } from '../../common/errors.js';
import { formatPlatform, type Platform } from '../../image/registry/manifest.js';
import { imagePlatform, platformMatches } from '../../image/platforms.js';
import { versionAtLeast } from './version.js';
import { goUnmarshalError } from '../../common/go-json-syntax.js';

export { formatPlatform, imagePlatform, platformMatches, type Platform };

/** dockerd's httputils.DecodePlatform: {"os":"linux","architecture":"amd64"[,"variant":...]}. */
export function decodePlatform(raw: string): Platform {
  let v: unknown;
  try { v = JSON.parse(raw); } catch { throw invalidArgument(`failed to parse platform: ${goUnmarshalError(raw)}`); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw invalidArgument(`failed to parse platform: json: cannot unmarshal ${Array.isArray(v) ? 'array' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : 'bool'} into Go value of type v1.Platform`);
  }
  const o = v as Record<string, unknown>;
  const str = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : '');
  const p: Platform = { os: str('os'), architecture: str('architecture'), ...(str('variant') ? { variant: str('variant') } : {}) };
  const optional = !!p.variant || !!str('os.version') || (Array.isArray(o['os.features']) && o['os.features'].length > 0);
  if (!p.os && !p.architecture && optional) throw invalidArgument('optional platform fields provided, but OS and Architecture are missing');
  if (!p.os || !p.architecture) throw invalidArgument('both OS and Architecture must be provided');
  return p;
}

/** A request's platform= from the API version `since` on (older versions ignore it). */
export function platformParam(query: URLSearchParams, version: string, since: string): Platform | undefined {
  const raw = query.get('platform');
  return raw && versionAtLeast(version, since) ? decodePlatform(raw) : undefined;
}

/** dockerd's httputils.DecodePlatforms: every value of a repeated query parameter. */
export function decodePlatforms(raws: string[]): Platform[] {
  return raws.map(decodePlatform);
}

/** dockerd's GetImage with a platform: the image, or its 404 when the image is of another platform. */
export function checkPlatform(ref: string, i: ImageRecord, blob: Record<string, unknown> | null, wanted: Platform | undefined): void {
  if (!wanted) return;
  const have = imagePlatform(i, blob);
  if (platformMatches(wanted, have)) return;
  throw notFound(`image with reference ${ref} was found but its platform (${formatPlatform(have)}) does not match the specified platform (${formatPlatform(wanted)})`);
}

/** checkPlatform for an image the store has under `ref` (its 404 when the image is not there). */
export async function checkImagePlatform(images: Pick<ImageStore, 'get' | 'configBlob'>, ref: string, wanted: Platform | undefined): Promise<void> {
  if (!wanted) return;
  const img = await images.get(ref);
  checkPlatform(ref, img, await images.configBlob(img.id).catch(() => null), wanted);
}
