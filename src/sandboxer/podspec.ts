// What a sandbox learns about its pod from an OCI spec: the spec of the task a sandbox is made
// for (containerd 1.6's CRI gives its sandbox container the pod's hostname and netns), or the
// one a Controller client puts in CreateSandbox's `sandbox.spec` (containerd's sandbox API).
// The Controller API itself carries only netns_path, and '' there can't tell "the host's
// network" from "no network"; a spec can: no network namespace at all is the host's.
import type { Spec } from '../oci/types.js';

/** The pod's hostname for the sandbox (the vmm kind puts it on the guest's kernel command line). */
export const HOSTNAME_ANNOTATION = 'io.tsula.hostname';

export interface PodFromSpec {
  hostname: string;
  /** The pinned netns the pod's network is in ('' = none given: a new, empty one). */
  netnsPath: string;
  /** The spec has no network namespace: the pod uses the host's network. */
  hostNetwork: boolean;
}

export function podFromSpec(spec: Pick<Spec, 'hostname' | 'linux'>): PodFromSpec {
  const ns = spec.linux?.namespaces?.find((n) => n.type === 'network');
  return { hostname: spec.hostname ?? '', netnsPath: ns?.path ?? '', hostNetwork: !ns };
}
