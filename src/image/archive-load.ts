// Read an extracted image archive into load plans: which config, which layer blobs (with
// their expected diff ids and chain ids) and which names, for both docker-archive
// (manifest.json) and oci-archive (oci-layout + index.json). Every blob named by an OCI
// descriptor is checked against its digest and size here, before anything is unpacked.
import { promises as fs } from 'node:fs';
import type * as zt from 'zod';
import * as z from '../common/zod-subset.js';
import { invalidArgument } from '../common/errors.js';
import { type ArchiveFile, type ExtractedArchive } from './archive-extract.js';
import { digestMismatch } from './content.js';
import {
  chainIds, compressionOfBytes, compressionOfMediaType, MEDIA_TYPES, type LayerCompression,
} from './layers.js';
import { normalizeName } from './reference.js';

export interface LayerPlan {
  /**
   * null: a docker-archive that leaves the layer out (`missing` names its file), which loads
   * only where the layer is here already (dockerd's loader looks the chain up first)
   */
  file: ArchiveFile | null;
  missing?: string;
  digest: string;          // of the blob as stored (compressed or not); '' when left out
  mediaType: string;
  compression: LayerCompression;
  diffId: string;          // what config.rootfs.diff_ids promises
  chainId: string;
  label: string;           // names the layer in errors
}

export interface ImagePlan {
  id: string;              // sha256:<config digest>
  config: ArchiveFile;
  image: ImageConfigJson;
  manifest?: ArchiveFile;  // the OCI manifest blob, kept for a later push or OCI save
  manifestMediaType?: string;
  names: string[];         // familiar name:tag
  layers: LayerPlan[];
  parent?: string;         // manifest.json's Parent, once checked (validParents)
}

const DIGEST = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex>');

const ImageConfigSchema = z.looseObject({
  architecture: z.string().optional(),
  os: z.string().optional(),
  created: z.string().optional(),
  config: z.record(z.string(), z.unknown()).nullable().optional(),
  rootfs: z.object({ type: z.string(), diff_ids: z.array(DIGEST) }),
});
export type ImageConfigJson = zt.infer<typeof ImageConfigSchema>;

const DockerManifestSchema = z.array(z.object({
  Config: z.string().min(1),
  RepoTags: z.array(z.string()).nullable().optional(),
  Layers: z.array(z.string().min(1)),
  // the image's parent when the archive holds it too (dockerd's save writes it)
  Parent: z.string().optional(),
}));

const DescriptorSchema = z.looseObject({
  mediaType: z.string().optional(),
  digest: z.string(),
  size: z.number().int().nonnegative(),
  annotations: z.record(z.string(), z.string()).nullable().optional(),
  platform: z.looseObject({ architecture: z.string(), os: z.string(), variant: z.string().optional() }).optional(),
});
type Descriptor = zt.infer<typeof DescriptorSchema>;

const IndexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(DescriptorSchema),
});

const ManifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
});

function parse<T>(schema: zt.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const where = issue && issue.path.length ? ` at ${issue.path.join('.')}` : '';
    throw invalidArgument(`malformed ${what}${where}: ${issue?.message ?? 'invalid'}`);
  }
  return r.data;
}

/** Work out which images an extracted archive holds. */
export async function planImages(ar: ExtractedArchive): Promise<ImagePlan[]> {
  // docker >= 25 writes both formats into one archive; manifest.json carries the names.
  if (ar.has('manifest.json')) return planDockerArchive(ar);
  if (ar.has('index.json')) return planOciArchive(ar);
  if (ar.has('repositories')) throw invalidArgument('unsupported legacy (v1) docker archive: it has no manifest.json');
  throw invalidArgument('not an image archive: neither manifest.json (docker-archive) nor index.json (oci-archive) found');
}

function need(ar: ExtractedArchive, name: string, what: string): ArchiveFile {
  const f = ar.lookup(name);
  if (!f) throw missingFromArchive(what, name);
  return f;
}

export function missingFromArchive(what: string, name: string): Error {
  return invalidArgument(`archive is missing ${what} ${name} (truncated or incomplete archive?)`);
}

async function readConfig(ar: ExtractedArchive, name: string): Promise<{ file: ArchiveFile; image: ImageConfigJson }> {
  const { value, file } = await ar.readJson(name);
  const image = parse(ImageConfigSchema, value, `image config ${name}`);
  if (image.rootfs.type !== 'layers') throw invalidArgument(`image config ${name}: unsupported rootfs type "${image.rootfs.type}"`);
  return { file, image };
}

async function sniff(file: ArchiveFile): Promise<LayerCompression> {
  const fh = await fs.open(file.file, 'r');
  try {
    const buf = Buffer.alloc(10);
    const { bytesRead } = await fh.read(buf, 0, 10, 0);
    return compressionOfBytes(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

async function planDockerArchive(ar: ExtractedArchive): Promise<ImagePlan[]> {
  const manifest = parse(DockerManifestSchema, (await ar.readJson('manifest.json')).value, 'manifest.json');
  if (manifest.length === 0) throw invalidArgument('manifest.json lists no images');
  const plans: ImagePlan[] = [];
  for (const entry of manifest) {
    const { file: config, image } = await readConfig(ar, entry.Config);
    const diffIds = image.rootfs.diff_ids;
    if (entry.Layers.length !== diffIds.length) {
      throw invalidArgument(`manifest.json: ${entry.Layers.length} layers for ${diffIds.length} diff ids in ${entry.Config}`);
    }
    const chains = chainIds(diffIds);
    const layers: LayerPlan[] = [];
    for (const [i, name] of entry.Layers.entries()) {
      const file = ar.lookup(name);
      if (!file) {
        layers.push({ file: null, missing: name, digest: '', mediaType: MEDIA_TYPES.dockerLayer, compression: 'none', diffId: diffIds[i]!, chainId: chains[i]!, label: `layer ${name}` });
        continue;
      }
      const compression = await sniff(file);
      layers.push({
        file, digest: file.digest, compression,
        // xz and bzip2 have no layer media type: such a layer is what dockerd keeps of it,
        // the plain diff (a push sends it gzipped)
        mediaType: compression === 'gzip' ? MEDIA_TYPES.dockerLayerGzip
          : compression === 'zstd' ? MEDIA_TYPES.ociLayerZstd : MEDIA_TYPES.dockerLayer,
        diffId: diffIds[i]!, chainId: chains[i]!, label: `layer ${file.digest} (${name})`,
      });
    }
    plans.push({
      id: config.digest, config, image, layers,
      names: (entry.RepoTags ?? []).map((t) => normalizeName(t)),
      ...(entry.Parent ? { parent: entry.Parent } : {}),
    });
  }
  return validParents(mergeByIds(plans));
}

/**
 * dockerd's validatedParentLinks and checkValidParent: a Parent counts when the archive
 * holds that image too and its layers (and history) begin the child's; others are dropped.
 */
function validParents(plans: ImagePlan[]): ImagePlan[] {
  const byId = new Map(plans.map((p) => [p.id, p]));
  for (const p of plans) {
    if (!p.parent) continue;
    const parent = byId.get(p.parent);
    const [pd, cd] = [parent?.image.rootfs.diff_ids ?? [], p.image.rootfs.diff_ids];
    const [ph, ch] = [(parent?.image.history ?? []) as unknown[], (p.image.history ?? []) as unknown[]];
    const prefix = (a: unknown[], b: unknown[]) => a.every((x, i) => JSON.stringify(x) === JSON.stringify(b[i]));
    const ok = !!parent && pd.length <= cd.length && prefix(pd, cd) && (!ph.length && !ch.length || (ph.length < ch.length && prefix(ph, ch)));
    if (!ok) delete p.parent;
  }
  return plans;
}

function blobName(d: Descriptor): string {
  const m = /^(sha256):([0-9a-f]{64})$/.exec(d.digest);
  if (!m) throw invalidArgument(`unsupported or invalid digest "${d.digest}" in oci-archive`);
  return `blobs/${m[1]}/${m[2]}`;
}

/** The blob a descriptor names, checked against the descriptor's digest and size. */
function blob(ar: ExtractedArchive, d: Descriptor, what: string): ArchiveFile {
  const f = need(ar, blobName(d), what);
  if (f.digest !== d.digest) throw digestMismatch(`${what} ${blobName(d)}`, d.digest, f.digest);
  if (f.size !== d.size) throw invalidArgument(`size mismatch for ${what} ${d.digest}: descriptor says ${d.size} bytes, blob has ${f.size}`);
  return f;
}

async function blobJson(ar: ExtractedArchive, d: Descriptor, what: string): Promise<{ value: unknown; file: ArchiveFile }> {
  blob(ar, d, what);
  return ar.readJson(blobName(d));
}

/** Names an OCI index entry carries; a bare tag (what umoci writes) names no repository. */
export function namesFromAnnotations(annotations: Record<string, string> | null | undefined): string[] {
  if (!annotations) return [];
  const candidates = [annotations['io.containerd.image.name'], annotations['org.opencontainers.image.ref.name']];
  for (const c of candidates) {
    if (!c || !/[:/@]/.test(c)) continue;
    try {
      return [normalizeName(c)];
    } catch {
      // not a reference (e.g. an odd tag): keep looking, the image stays loadable
    }
  }
  return [];
}

const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

function pickPlatform(index: zt.infer<typeof IndexSchema>, what: string): Descriptor {
  const arch = GOARCH[process.arch] ?? process.arch;
  const images = index.manifests.filter((m) => m.mediaType !== MEDIA_TYPES.ociIndex && m.mediaType !== MEDIA_TYPES.dockerList);
  const match = images.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (match) return match;
  if (images.length === 1 && !images[0]!.platform) return images[0]!;
  throw invalidArgument(`${what} has no image for linux/${arch}`);
}

async function planOciArchive(ar: ExtractedArchive): Promise<ImagePlan[]> {
  const layout = (await ar.readJson('oci-layout')).value as { imageLayoutVersion?: unknown } | null;
  if (!layout || typeof layout.imageLayoutVersion !== 'string') throw invalidArgument('malformed oci-layout in archive');
  const index = parse(IndexSchema, (await ar.readJson('index.json')).value, 'index.json');
  if (index.manifests.length === 0) throw invalidArgument('index.json lists no images');
  const plans: ImagePlan[] = [];
  for (const top of index.manifests) {
    let desc = top;
    // A nested index (a multi-platform image) resolves to the manifest for this host.
    for (let depth = 0; desc.mediaType === MEDIA_TYPES.ociIndex || desc.mediaType === MEDIA_TYPES.dockerList; depth++) {
      if (depth > 4) throw invalidArgument('oci-archive: indexes nested too deep');
      const nested = parse(IndexSchema, (await blobJson(ar, desc, 'index')).value, `index ${desc.digest}`);
      desc = pickPlatform(nested, `index ${desc.digest}`);
    }
    if (desc.mediaType !== undefined && desc.mediaType !== MEDIA_TYPES.ociManifest && desc.mediaType !== MEDIA_TYPES.dockerManifest) {
      throw invalidArgument(`oci-archive: unsupported manifest media type "${desc.mediaType}"`);
    }
    const { value, file: manifestFile } = await blobJson(ar, desc, 'manifest');
    const manifest = parse(ManifestSchema, value, `manifest ${desc.digest}`);
    const configFile = blob(ar, manifest.config, 'config');
    const { image } = await readConfig(ar, blobName(manifest.config));
    const diffIds = image.rootfs.diff_ids;
    if (manifest.layers.length !== diffIds.length) {
      throw invalidArgument(`manifest ${desc.digest}: ${manifest.layers.length} layers for ${diffIds.length} diff ids in its config`);
    }
    const chains = chainIds(diffIds);
    const layers = manifest.layers.map((l, i): LayerPlan => {
      const mediaType = l.mediaType ?? MEDIA_TYPES.ociLayerGzip;
      const compression = compressionOfMediaType(mediaType);
      if (!compression) throw invalidArgument(`layer ${l.digest}: unsupported media type "${mediaType}"`);
      return {
        file: blob(ar, l, 'layer'), digest: l.digest, mediaType, compression,
        diffId: diffIds[i]!, chainId: chains[i]!, label: `layer ${l.digest}`,
      };
    });
    plans.push({
      id: configFile.digest, config: configFile, image, layers,
      manifest: manifestFile, manifestMediaType: desc.mediaType ?? manifest.mediaType ?? MEDIA_TYPES.ociManifest,
      names: namesFromAnnotations(top.annotations),
    });
  }
  return mergeByIds(plans);
}

/** One plan per image id, with the names of every entry that pointed at it. */
function mergeByIds(plans: ImagePlan[]): ImagePlan[] {
  const byId = new Map<string, ImagePlan>();
  for (const p of plans) {
    const seen = byId.get(p.id);
    if (!seen) { byId.set(p.id, { ...p, names: [...new Set(p.names)] }); continue; }
    for (const n of p.names) if (!seen.names.includes(n)) seen.names.push(n);
  }
  // A name listed for two different images goes to the last one, as loading them in order would do.
  const owner = new Map<string, ImagePlan>();
  for (const p of byId.values()) for (const n of p.names) owner.set(n, p);
  for (const p of byId.values()) p.names = p.names.filter((n) => owner.get(n) === p);
  return [...byId.values()];
}
