// The OCI runtime spec of a container: its record mapped onto the spec builder's options.
import type { ContainerRecord } from './record.js';
import type { Spec } from '../../oci/types.js';
import { buildSpec, type HostInfo } from '../../oci/spec.js';
import { resolveUser } from '../../oci/user.js';
import { cgroupsPath, ociResources } from './resources.js';

export async function containerSpec(rec: ContainerRecord, rootfs: string, host: HostInfo): Promise<Spec> {
  const user = await resolveUser(rootfs, rec.Config.User || undefined);
  return buildSpec({
    id: rec.Id, rootfs, readonlyRootfs: rec.HostConfig.ReadonlyRootfs,
    args: [rec.Path, ...rec.Args], env: rec.Config.Env, cwd: rec.Config.WorkingDir || '/',
    user, terminal: rec.Config.Tty, hostname: rec.Config.Hostname,
    binds: rec.Mounts.map((m) => ({ source: m.Source, destination: m.Destination, readonly: !m.RW })),
    network: rec.HostConfig.NetworkMode === 'host' ? 'host' : 'none',
    annotations: rec.HostConfig.Annotations ?? {},
    limits: await ociResources(rec.HostConfig),
    oomScoreAdj: rec.HostConfig.OomScoreAdj || undefined,
    ulimits: (rec.HostConfig.Ulimits ?? []).map((u) => ({ name: u.Name, soft: u.Soft, hard: u.Hard })),
    noNewPrivileges: (rec.HostConfig.SecurityOpt ?? []).some((o) => /^no-new-privileges(:true|=true)?$/.test(o)),
    privileged: rec.HostConfig.Privileged, capAdd: rec.HostConfig.CapAdd ?? [], capDrop: rec.HostConfig.CapDrop ?? [],
    cgroupsPath: cgroupsPath(rec.HostConfig, rec.Id),
    etcFiles: { hosts: rec.HostsPath, resolvConf: rec.ResolvConfPath, hostname: rec.HostnamePath },
    seccomp: (rec.HostConfig.SecurityOpt ?? []).includes('seccomp=unconfined') ? 'unconfined' : 'default',
  }, host);
}
