// What POST /containers/create takes from each Engine API version, as dockerd's
// postContainersCreate gates it: fields a version did not have are cleared (or, where a
// client could expect them to hold, refused), and checks added later apply from their
// version on. The body is the schema-checked one (docker-model.ts); it is changed in place.
import { invalidArgument } from '../../common/errors.js';
import type { CreateBody } from './docker-model.js';
import { versionAtLeast } from './version.js';

/** dockerd's words when a Mounts entry carries another type's options (API 1.42 on). */
const OPTIONS_OF = [['VolumeOptions', 'volume'], ['BindOptions', 'bind'], ['TmpfsOptions', 'tmpfs']] as const;

/** Gate a create body on the API version asked for; the warnings dockerd adds for it. */
export function gateCreateBody(b: CreateBody, version: string): string[] {
  const hc = b.HostConfig;
  const mounts = hc?.Mounts ?? [];
  dropRemovedResources(hc, version);
  // clients older than 1.40 expect a shareable IPC namespace by default (postContainersCreate,
  // which makes a missing HostConfig an empty one first)
  if (!versionAtLeast(version, '1.40') && !hc?.IpcMode) (b.HostConfig ??= {} as NonNullable<CreateBody['HostConfig']>).IpcMode = 'shareable';
  if (!versionAtLeast(version, '1.42')) {
    // BindOptions.CreateMountpoint and ConsoleSize came in 1.42 (tsula refused the other
    // types' options before 1.42 already, in docker 20.10's words: docker-mounts.ts)
    for (const m of mounts) if (m.BindOptions) delete m.BindOptions.CreateMountpoint;
    if (hc) delete hc.ConsoleSize;
  } else {
    for (const m of mounts) {
      for (const [field, type] of OPTIONS_OF) {
        if (m[field] && m.Type !== type) throw invalidArgument(`${field} must not be specified on mount type "${m.Type}"`);
      }
    }
  }
  if (!versionAtLeast(version, '1.44')) {
    if (b.Healthcheck) delete b.Healthcheck.StartInterval;
    for (const m of mounts) {
      if (m.Type === 'bind' && m.BindOptions?.ReadOnlyForceRecursive) throw invalidArgument('BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer');
      // before 1.44 every read-only bind was non-recursive (parseMounts keeps them so)
      if (m.BindOptions) delete m.BindOptions.ReadOnlyNonRecursive;
    }
  }
  if (!versionAtLeast(version, '1.45')) {
    for (const m of mounts) if (m.VolumeOptions?.Subpath) throw invalidArgument('VolumeOptions.Subpath needs API v1.45 or newer');
  }
  const warnings: string[] = [];
  if (!versionAtLeast(version, '1.48')) {
    for (const m of mounts) if (m.Type === 'image') throw invalidArgument('Mount type "Image" needs API v1.48 or newer');
  } else if (hc?.VolumeDriver && mounts.some((m) => m.Type === 'volume' && !m.VolumeOptions?.DriverConfig?.Name)) {
    warnings.push("WARNING: the container-wide volume-driver configuration is ignored for volumes specified via 'mount'. Use '--mount type=volume,volume-driver=...' instead");
  }
  return warnings;
}

/**
 * KernelMemory is ignored from API 1.42 on, KernelMemoryTCP from 1.52 on (create and update;
 * dockerd removed them from its HostConfig and its Resources).
 */
export function dropRemovedResources(r: Record<string, unknown> | null | undefined, version: string): void {
  if (!r || typeof r !== 'object') return;
  if (versionAtLeast(version, '1.42')) delete r.KernelMemory;
  if (versionAtLeast(version, '1.52')) delete r.KernelMemoryTCP;
}
