// What a sandbox learns about its pod from an OCI spec: the spec of the task a sandbox is made
// for (containerd 1.6's CRI gives its sandbox container the pod's hostname and netns), or the
// one a Controller client puts in CreateSandbox's `sandbox.spec` (containerd's sandbox API).
// The Controller API itself carries only netns_path, and '' there can't tell "the host's
// network" from "no network"; a spec can: no network namespace at all is the host's. The
// pod's net.* sysctls (containerd's pause container has the pod's) are the sandbox's to set:
// a VM writes them once into its guest's network namespace, the pod's.
import type { Spec } from '../oci/types.js';
import { invalidArgument } from '../common/errors.js';

/** The pod's hostname for the sandbox (the vmm kind puts it on the guest's kernel command line). */
export const HOSTNAME_ANNOTATION = 'io.tsula.hostname';
/** The limits of the one container a sandbox is made for (bytes; CPUs): the vmm kind sizes the VM to them. */
export const MEMORY_LIMIT_ANNOTATION = 'io.tsula.container-memory-limit';
export const CPUS_ANNOTATION = 'io.tsula.container-cpus';
/** The pod's net.* sysctls, a JSON object: a VM sandbox sets them in its guest at set-up. */
export const NET_SYSCTLS_ANNOTATION = 'io.tsula.net-sysctls';
/** The pod sandbox's host cgroup (absolute, cgroupfs): a VM sandbox's processes may join it (vmm.toml sandbox_cgroup_only). */
export const CGROUPS_PATH_ANNOTATION = 'io.tsula.cgroups-path';
/** Keys of a VM sandbox's size in the Controller's verbose Status info. */
export const MACHINE_INFO = { memoryMib: 'memory_mib', vcpus: 'vcpus' } as const;

export interface PodFromSpec {
  hostname: string;
  /** The pinned netns the pod's network is in ('' = none given: a new, empty one). */
  netnsPath: string;
  /** The spec has no network namespace: the pod uses the host's network. */
  hostNetwork: boolean;
  /** The spec's memory limit in bytes and its CPUs (quota / period), 0 for none. */
  memoryLimit: number;
  cpus: number;
  /** The spec's net.* sysctls (those of the pod's network namespace). */
  netSysctls: Record<string, string>;
  /** The spec's cgroupsPath when it is a cgroupfs path ('' for none or a systemd slice:prefix:name). */
  cgroupsPath: string;
}

export function podFromSpec(spec: Pick<Spec, 'hostname' | 'linux'>): PodFromSpec {
  const netSysctls = Object.fromEntries(Object.entries(spec.linux?.sysctl ?? {}).filter(([k]) => k.startsWith('net.')));
  const ns = spec.linux?.namespaces?.find((n) => n.type === 'network');
  const r = spec.linux?.resources;
  const quota = Number(r?.cpu?.quota ?? 0);
  const period = Number(r?.cpu?.period ?? 0);
  return {
    hostname: spec.hostname ?? '', netnsPath: ns?.path ?? '', hostNetwork: !ns,
    memoryLimit: Math.max(0, Number(r?.memory?.limit ?? 0)), cpus: quota > 0 && period > 0 ? quota / period : 0, netSysctls,
    cgroupsPath: spec.linux?.cgroupsPath?.startsWith('/') ? spec.linux.cgroupsPath : '',
  };
}

/** The annotations that carry a spec's limits to the sandbox (none for none). */
export function limitAnnotations(p: PodFromSpec): Record<string, string> {
  return {
    ...(p.memoryLimit > 0 ? { [MEMORY_LIMIT_ANNOTATION]: String(p.memoryLimit) } : {}),
    ...(p.cpus > 0 ? { [CPUS_ANNOTATION]: String(p.cpus) } : {}),
  };
}

/** The annotations that carry the pod's net.* sysctls and its cgroup to the sandbox (none for none). */
export function podAnnotations(p: Pick<PodFromSpec, 'netSysctls' | 'cgroupsPath'>): Record<string, string> {
  return {
    ...(Object.keys(p.netSysctls).length ? { [NET_SYSCTLS_ANNOTATION]: JSON.stringify(p.netSysctls) } : {}),
    ...(p.cgroupsPath ? { [CGROUPS_PATH_ANNOTATION]: p.cgroupsPath } : {}),
  };
}

/** The net.* sysctls a sandbox's annotations carry ({} for none); a value that is not a JSON object of strings is the client's error. */
export function netSysctlsOf(annotations: Record<string, string>): Record<string, string> {
  const raw = annotations[NET_SYSCTLS_ANNOTATION];
  if (!raw) return {};
  let v: unknown;
  try { v = JSON.parse(raw); } catch { v = null; }
  if (!v || typeof v !== 'object' || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
    throw invalidArgument(`annotation ${NET_SYSCTLS_ANNOTATION}: ${JSON.stringify(raw)} is not a JSON object of sysctl names and string values`);
  }
  return v as Record<string, string>;
}
