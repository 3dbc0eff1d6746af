// GET /distribution/{name}/json's look at a registry (dockerd's distribution router): the
// descriptor a tag or digest resolves to there, and the platforms it serves, from an index's
// entries or from a single manifest's config. Nothing is stored.
import { invalidArgument } from '../../common/errors.js';
import { parseReference, type ParsedReference } from '../reference.js';
import type { AuthConfig } from './auth.js';
import { readLimited, type RegistryClient } from './client.js';
import { MAX_CONFIG, parseManifest } from './manifest.js';
import { Repository } from './repository.js';

/** An OCI platform as dockerd writes one (ocispec.Platform's JSON). */
export interface OciPlatform { architecture: string; os: string; 'os.version'?: string; 'os.features'?: string[]; variant?: string }

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: OciPlatform[];
}

function platformOf(v: Record<string, unknown>): OciPlatform {
  const str = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : '');
  return {
    architecture: str('architecture'), os: str('os'),
    ...(str('os.version') ? { 'os.version': str('os.version') } : {}),
    ...(Array.isArray(v['os.features']) && v['os.features'].length ? { 'os.features': (v['os.features'] as unknown[]).map(String) } : {}),
    ...(str('variant') ? { variant: str('variant') } : {}),
  };
}

export async function distributionInspect(client: RegistryClient, name: string, auth?: AuthConfig): Promise<DistributionInspect> {
  const ref: ParsedReference = parseReference(name);
  const repo = new Repository(client, ref, auth);
  const top = await repo.manifest(ref.digest ?? ref.tag ?? 'latest');
  const out: DistributionInspect = { Descriptor: { mediaType: top.mediaType, digest: top.digest, size: top.body.length }, Platforms: [] };
  const m = parseManifest(top.body, top.mediaType, name);
  if (m.kind === 'index') {
    // the raw entries: parseManifest keeps only os, architecture and variant
    const raw = JSON.parse(top.body.toString('utf8')) as { manifests?: Array<{ platform?: Record<string, unknown> }> };
    for (const e of raw.manifests ?? []) out.Platforms.push(platformOf(e.platform ?? {}));
    return out;
  }
  const res = await repo.blob(m.config.digest);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse((await readLimited(res, MAX_CONFIG, 'image config')).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    throw invalidArgument(`${name}: malformed image config ${m.config.digest}: ${(e as Error).message}`);
  }
  // dockerd lists a single manifest's platform only when its config names an os
  if (typeof config.os === 'string' && config.os) out.Platforms.push(platformOf(config));
  return out;
}
