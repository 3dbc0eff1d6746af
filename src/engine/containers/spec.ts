// The OCI runtime spec of a container: the engine's model mapped onto the spec builder's
// options. A pod's container joins the pod's namespaces by path, mounts the pod's /etc
// files and gets its sysctls.
import { promises as fs } from 'node:fs';
import type { Container, Device } from './model.js';
import type { Spec } from '../../oci/types.js';
import { buildSpec, type HostInfo, type SpecOptions } from '../../oci/spec.js';
import { resolveUser } from '../../oci/user.js';
import type { SeccompProfile } from '../../oci/seccomp.js';
import { invalidArgument } from '../../common/errors.js';
import { cgroupsPath, ociResources } from './resources.js';

/** A host device node's type and numbers, as the spec needs them. */
async function deviceOf(d: Device): Promise<NonNullable<SpecOptions['devices']>[number]> {
  const st = await fs.stat(d.hostPath, { bigint: true }).catch(() => null);
  if (!st || !(st.isCharacterDevice() || st.isBlockDevice())) throw invalidArgument(`device ${d.hostPath} is not a device node on the host`);
  const rdev = st.rdev;
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return {
    hostPath: d.hostPath, containerPath: d.containerPath, permissions: d.permissions || 'rwm',
    type: st.isCharacterDevice() ? 'c' : 'b', major, minor, fileMode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid),
  };
}

async function seccompOf(c: Container): Promise<SpecOptions['seccomp']> {
  const sc = c.config.security.seccomp;
  if (sc.type !== 'localhost') return sc.type;
  const text = await fs.readFile(sc.profile ?? '', 'utf8').catch((e: Error) => { throw invalidArgument(`seccomp profile ${sc.profile}: ${e.message}`); });
  try {
    return { profile: JSON.parse(text) as SeccompProfile };
  } catch (e) {
    throw invalidArgument(`seccomp profile ${sc.profile}: invalid JSON: ${(e as Error).message}`);
  }
}

export async function containerSpec(c: Container, rootfs: string, host: HostInfo): Promise<Spec> {
  const k = c.config;
  const user = await resolveUser(rootfs, k.user || undefined);
  const pod = k.pod;
  const netns = pod?.namespaces.network;
  return buildSpec({
    id: c.id, rootfs, readonlyRootfs: k.security.readonlyRootfs,
    args: [...k.entrypoint, ...k.cmd], env: k.env, cwd: k.workingDir || '/',
    user: { ...user, additionalGids: [...new Set([...user.additionalGids, ...k.security.supplementalGroups])] },
    terminal: k.tty, hostname: k.hostname,
    binds: k.binds.map((b) => ({ source: b.source, destination: b.destination, readonly: b.readonly, propagation: b.propagation })),
    network: k.network === 'pod' ? (netns && netns !== 'host' ? { netnsPath: netns } : 'host') : k.network,
    ...(pod ? { join: pod.namespaces } : {}),
    annotations: k.annotations,
    limits: await ociResources(k.resources),
    oomScoreAdj: k.resources.OomScoreAdj || undefined,
    ulimits: k.ulimits,
    noNewPrivileges: k.security.noNewPrivileges,
    privileged: k.security.privileged, capAdd: k.security.capAdd, capDrop: k.security.capDrop,
    cgroupsPath: cgroupsPath(k.resources, c.id),
    etcFiles: { hosts: c.paths.hosts, resolvConf: c.paths.resolvConf, hostname: c.paths.hostname },
    seccomp: await seccompOf(c),
    ...(pod && Object.keys(pod.sysctls).length ? { sysctl: pod.sysctls } : {}),
    ...(k.devices.length ? { devices: await Promise.all(k.devices.map(deviceOf)) } : {}),
    ...(k.security.maskedPaths ? { maskedPaths: k.security.maskedPaths } : {}),
    ...(k.security.readonlyPaths ? { readonlyPaths: k.security.readonlyPaths } : {}),
  }, host);
}
