// GET /images/{name}/json and GET /images/json's items, in the shape of the API version asked
// for. API 1.41 (dockerd 20.10, types.ImageInspect): Config and ContainerConfig are whole
// container.Config structs (templates such as `{{.Config.User}}` fail on a missing key), and
// Comment, Author, DockerVersion, Container and ContainerConfig come from the image's config
// blob. Newer versions follow dockerd 29's gates (api/server/router/image), listed below.
import type { ImageRecord } from '../../image/types.js';
import { dockerDriverName } from '../../storage/types.js';
import { versionAtLeast } from './version.js';

/** container.Config's fields in its JSON order; null marks those with omitempty. */
const CONFIG_FIELDS: Array<[string, unknown]> = [
  ['Hostname', ''], ['Domainname', ''], ['User', ''], ['AttachStdin', false], ['AttachStdout', false], ['AttachStderr', false],
  ['ExposedPorts', undefined], ['Tty', false], ['OpenStdin', false], ['StdinOnce', false], ['Env', null], ['Cmd', null],
  ['Healthcheck', undefined], ['ArgsEscaped', undefined], ['Image', ''], ['Volumes', null], ['WorkingDir', ''], ['Entrypoint', null],
  ['NetworkDisabled', undefined], ['MacAddress', undefined], ['OnBuild', null], ['Labels', null],
  ['StopSignal', undefined], ['StopTimeout', undefined], ['Shell', undefined],
];

/** A config as Go's json.Marshal writes a container.Config: every field, zero values included. */
export function containerConfigView(c: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const src = c ?? {};
  const out: Record<string, unknown> = {};
  for (const [k, zero] of CONFIG_FIELDS) {
    const v = src[k];
    if (zero === undefined) { if (v !== undefined && v !== null && v !== '' && v !== false) out[k] = v; } else out[k] = v ?? zero;
  }
  // fields a newer writer added keep their place at the end
  for (const [k, v] of Object.entries(src)) if (!(k in out) && !CONFIG_FIELDS.some(([f]) => f === k)) out[k] = v;
  return out;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** A config's RFC 3339 time as Go's RFC3339Nano writes it back: no trailing zeros in the fraction. */
export function goTime(t: string): string {
  return t.replace(/\.(\d*?)0+(?=Z$|[+-]\d\d:\d\d$)/, (_m, d: string) => (d ? `.${d}` : ''));
}

/** The image config's fields as dockerd 29 stores them (OCI ImageConfig + docker's extensions), in its JSON order, all omitempty. */
const OCI_CONFIG_FIELDS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'ArgsEscaped', 'Healthcheck', 'OnBuild', 'Shell'];

/** Fields dockerd 29 puts back into an image's Config for older clients (its legacyConfigFields). */
const LEGACY_CONFIG: Record<string, Record<string, unknown>> = {
  // API <= 1.49: container.Config's fields without omitempty
  'v1.49': {
    AttachStderr: false, AttachStdin: false, AttachStdout: false, Cmd: null, Domainname: '', Entrypoint: null, Env: null,
    Hostname: '', Image: '', Labels: null, OnBuild: null, OpenStdin: false, StdinOnce: false, Tty: false, User: '', Volumes: null, WorkingDir: '',
  },
  // API 1.50 and 1.51: the OCI fields that lacked omitempty there
  'v1.50-v1.51': { Cmd: null, Entrypoint: null, Env: null, Labels: null, OnBuild: null, User: '', Volumes: null, WorkingDir: '' },
};

const isEmpty = (v: unknown) => v === undefined || v === null || v === '' || v === false || v === 0
  || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && !Array.isArray(v) && Object.keys(v as object).length === 0);

/**
 * Go's json.Marshal of a map[string]any: keys in byte order, at every depth (dockerd's compat
 * wrapper re-marshals its answer through one); `keep` names values it adds as structs, whose
 * own order stays.
 */
function sortedKeys(o: Record<string, unknown>, keep: string[] = []): Record<string, unknown> {
  const deep = (v: unknown): unknown => (Array.isArray(v) ? v.map(deep)
    : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, deep((v as Record<string, unknown>)[k])])) : v);
  return Object.fromEntries(Object.keys(o).sort().map((k) => [k, keep.includes(k) ? o[k] : deep(o[k])]));
}

/**
 * An image's Config for API 1.42 and newer, as dockerd 29 writes it: the OCI fields set, and
 * for clients older than 1.52 the legacy fields it adds back (whose map comes out sorted).
 */
export function imageConfigView(c: Record<string, unknown> | null | undefined, version: string): Record<string, unknown> {
  const src = c ?? {};
  const out: Record<string, unknown> = {};
  for (const k of OCI_CONFIG_FIELDS) if (!isEmpty(src[k])) out[k] = src[k];
  // Go maps (Labels, ExposedPorts, Volumes) come out with their keys sorted
  for (const k of ['Labels', 'ExposedPorts', 'Volumes']) if (out[k]) out[k] = sortedKeys(out[k] as Record<string, unknown>);
  if (versionAtLeast(version, '1.52')) return out;
  const legacy = LEGACY_CONFIG[versionAtLeast(version, '1.50') ? 'v1.50-v1.51' : 'v1.49'];
  return sortedKeys({ ...legacy, ...out });
}

/**
 * GET /images/{name}/json for the API version asked. dockerd 29's gates: VirtualSize until
 * 1.43; Container and ContainerConfig until 1.44 (kept here at every version); Descriptor and Manifests from 1.48 (the
 * graphdriver store has neither, so they stay out); from 1.52 Parent, Comment, DockerVersion
 * and Author only when set, and Config without its legacy fields. Below 1.52 dockerd's compat
 * wrapper re-marshals the answer through a map: its keys come out sorted.
 */
/** GraphDriver.Data: the driver's metadata of the image's top layer (overlay2's dirs), or null. */
type GraphData = Record<string, string> | null;

export function inspectImageFor(version: string, i: ImageRecord, blob: Record<string, unknown> | null, driver = '', graphData: GraphData = null): Record<string, unknown> {
  if (!versionAtLeast(version, '1.42')) return inspectImage(i, blob, driver, graphData);
  const b = blob ?? {};
  const variant = str(b.variant);
  const osVersion = str(b['os.version']);
  const v152 = versionAtLeast(version, '1.52');
  const opt = (k: string, v: string) => (v || !v152 ? { [k]: v } : {});
  const out: Record<string, unknown> = {
    Id: i.id, RepoTags: i.repoTags, RepoDigests: i.repoDigests, ...opt('Parent', i.parent ?? ''), ...opt('Comment', str(b.comment)),
    // an image without a creation time: omitted from 1.44, Go's zero time before (moby#47368)
    ...(i.created ? { Created: goTime(i.created) } : versionAtLeast(version, '1.44') ? {} : { Created: '0001-01-01T00:00:00Z' }),
    // dockerd drops these from 1.45; tsulad keeps them: clients that ask the server's version
    // read them (docker-compose 1.29 reads image ContainerConfig on every recreate)
    Container: str(b.container), ContainerConfig: containerConfigView(b.container_config as Record<string, unknown> | undefined),
    ...opt('DockerVersion', str(b.docker_version)), ...opt('Author', str(b.author)),
    Config: imageConfigView(i.config as Record<string, unknown>, version), Architecture: i.architecture,
    ...(variant ? { Variant: variant } : {}), Os: i.os, ...(osVersion ? { OsVersion: osVersion } : {}),
    Size: i.size, ...(versionAtLeast(version, '1.44') ? {} : { VirtualSize: i.size }),
    GraphDriver: { Name: dockerDriverName(driver), Data: graphData },
    RootFS: { Type: 'layers', Layers: i.rootfs.diffIds },
    Metadata: { LastTagTime: i.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
  // dockerd adds a set Parent or DockerVersion back through its compat wrapper, even at 1.52
  return v152 && !i.parent && !str(b.docker_version) ? out : sortedKeys(out, ['ContainerConfig']);
}

/** API 1.41's GET /images/{name}/json (dockerd 20.10's types.ImageInspect), unchanged. */
export function inspectImage(i: ImageRecord, blob: Record<string, unknown> | null, driver = '', graphData: GraphData = null): Record<string, unknown> {
  const b = blob ?? {};
  const variant = str(b.variant);
  const osVersion = str(b['os.version']);
  return {
    Id: i.id, RepoTags: i.repoTags, RepoDigests: i.repoDigests, Parent: i.parent ?? '', Comment: str(b.comment),
    Created: goTime(i.created), Container: str(b.container),
    ContainerConfig: containerConfigView(b.container_config as Record<string, unknown> | undefined),
    DockerVersion: str(b.docker_version), Author: str(b.author),
    Config: containerConfigView(i.config as Record<string, unknown>), Architecture: i.architecture,
    ...(variant ? { Variant: variant } : {}), Os: i.os, ...(osVersion ? { OsVersion: osVersion } : {}),
    Size: i.size, VirtualSize: i.size,
    GraphDriver: { Name: dockerDriverName(driver), Data: graphData },
    RootFS: { Type: 'layers', Layers: i.rootfs.diffIds },
    // dockerd's zero time.Time until `docker tag` names the image
    Metadata: { LastTagTime: i.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
}

/** What GET /images/json says of one image, besides the image itself. */
export interface SummaryFacts {
  repoTags: string[];
  repoDigests: string[];
  /** Bytes of layers shared with other images (shared-size=1), else undefined. */
  sharedSize?: number;
  /** Containers using the image. */
  containers: number;
  /** For GET /system/df, which counts them at every version (dockerd's withExtraAttrs). */
  diskUsage?: boolean;
}

/**
 * One item of GET /images/json for the API version asked, as dockerd 29's getImagesJSON
 * gates it: below 1.43 an image with neither tag nor digest shows as <none>:<none> (and
 * dockerd 20.10's null for an empty list), from 1.43 as empty lists; SharedSize only with
 * shared-size=1 (1.42), else -1; VirtualSize until 1.43; the real container count from 1.51,
 * -1 before (system df counts them at every version). Descriptor (1.48) and Manifests
 * (1.47) come from the containerd store only.
 */
export function imageSummaryFor(version: string, i: ImageRecord, f: SummaryFacts): Record<string, unknown> {
  const v143 = versionAtLeast(version, '1.43');
  const none = !f.repoTags.length && !f.repoDigests.length;
  const tags = v143 ? f.repoTags : none ? ['<none>:<none>'] : f.repoTags.length ? f.repoTags : null;
  const digests = v143 ? f.repoDigests : none ? ['<none>@<none>'] : f.repoDigests.length ? f.repoDigests : null;
  const out = {
    Id: i.id, ParentId: i.parent ?? '', RepoTags: tags, RepoDigests: digests,
    Created: Math.floor((Date.parse(i.created) || 0) / 1000), Size: i.size, SharedSize: f.sharedSize ?? -1,
    ...(versionAtLeast(version, '1.44') ? {} : { VirtualSize: i.size }),
    Labels: i.config.Labels ?? null, Containers: f.diskUsage || versionAtLeast(version, '1.51') ? f.containers : -1,
  };
  // API 1.41 keeps the order tsulad has always written; newer ones get image.Summary's
  // (its fields are in alphabetical order, as is a Go map's Labels)
  return versionAtLeast(version, '1.42') ? sortedKeys(out) : out;
}

/** Bytes of the layers `img` shares with another image (dockerd's SharedSize). */
export function sharedSize(img: ImageRecord, all: ImageRecord[]): number {
  const count = new Map<string, number>();
  for (const i of all) for (const c of new Set(i.chainIds)) count.set(c, (count.get(c) ?? 0) + 1);
  return img.chainIds.reduce((a, c, k) => a + ((count.get(c) ?? 0) > 1 ? img.layerSizes?.[k] ?? 0 : 0), 0);
}
