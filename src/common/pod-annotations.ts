// The annotations that group containers into pods, as the clients of tsula write them:
// containerd's CRI (io.kubernetes.cri.*), iSulad's engine (io.kubernetes.docker.type and
// io.kubernetes.sandbox.id, the seed guides' way with a shim v2 runtime) and tsula's own.
// One list, read by tsulad's sandboxer runtime and by the sandboxer's task manager.

/** The pod (sandbox) a container belongs to, in the order they are looked for. */
export const POD_ID_ANNOTATIONS = ['io.kubernetes.cri.sandbox-id', 'io.kubernetes.sandbox.id', 'io.tsula.sandbox-id'] as const;

/**
 * iSulad's pod sandbox container (io.kubernetes.docker.type=podsandbox): the engine's way to
 * make a pod, whose other containers name it in io.kubernetes.sandbox.id. (containerd's CRI
 * brings its own pause container and namespaces: its "sandbox" containers are not this.)
 */
export function isEnginePodSandbox(ann: Record<string, string> | undefined): boolean {
  return ann?.['io.kubernetes.docker.type'] === 'podsandbox';
}

/** The pod id a container's annotations name ('' for none). */
export function podIdOf(ann: Record<string, string> | undefined): string {
  for (const k of POD_ID_ANNOTATIONS) if (ann?.[k]) return ann[k]!;
  return '';
}

/**
 * On a VM pod's container (tsulad's CRI): the namespaces it shares with its pod ("uts,ipc,pid"),
 * which live in the guest, where no host path names them: tsula-agent joins it to the pod's.
 */
export const POD_NAMESPACES_ANNOTATION = 'io.tsula.pod-namespaces';
