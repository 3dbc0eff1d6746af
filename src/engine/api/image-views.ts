// GET /images/{name}/json as dockerd 20.10 answers it (types.ImageInspect): its Config and
// ContainerConfig are whole container.Config structs (templates such as
// `{{.Config.User}}` fail on a missing key), and Comment, Author, DockerVersion, Container
// and ContainerConfig come from the image's config blob.
import type { ImageRecord } from '../../image/types.js';
import { dockerDriverName } from '../../storage/types.js';

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

export function inspectImage(i: ImageRecord, blob: Record<string, unknown> | null, driver = ''): Record<string, unknown> {
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
    GraphDriver: { Name: dockerDriverName(driver), Data: null },
    RootFS: { Type: 'layers', Layers: i.rootfs.diffIds },
    // dockerd's zero time.Time until `docker tag` names the image
    Metadata: { LastTagTime: i.lastTagTime ?? '0001-01-01T00:00:00Z' },
  };
}
