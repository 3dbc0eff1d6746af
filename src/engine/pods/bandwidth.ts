// A pod's traffic shaping from its annotations, as containerd 1.7 hands it to the CNI
// `bandwidth` capability (toCNIBandWidth over kubelet's ExtractPodBandwidthResources):
// rates in bits/s from Kubernetes quantities, bursts at math.MaxUint32.
import { invalidArgument } from '../../common/errors.js';
import { quantityValue } from '../../common/quantity.js';
import type { BandwidthCapability } from '../../network/index.js';

export const INGRESS_ANNOTATION = 'kubernetes.io/ingress-bandwidth';
export const EGRESS_ANNOTATION = 'kubernetes.io/egress-bandwidth';
const MAX_UINT32 = 4294967295;
// kubelet's bounds: resource.MustParse("1k") and ("1P")
const MIN_RATE = 1000n;
const MAX_RATE = 10n ** 15n;

function rate(value: string): number {
  const v = quantityValue(value);
  if (v < MIN_RATE) throw invalidArgument('resource is unreasonably small (< 1kbit)');
  // (kubelet's typo, kept by containerd 1.7's copy)
  if (v > MAX_RATE) throw invalidArgument('resoruce is unreasonably large (> 1Pbit)');
  return Number(v);
}

/** undefined: no shaping asked for. A bad value refuses the pod (RunPodSandbox fails). */
export function podBandwidth(annotations: Record<string, string>): BandwidthCapability | undefined {
  const ingress = annotations[INGRESS_ANNOTATION];
  const egress = annotations[EGRESS_ANNOTATION];
  if (ingress === undefined && egress === undefined) return undefined;
  try {
    return {
      ...(ingress !== undefined ? { ingressRate: rate(ingress), ingressBurst: MAX_UINT32 } : {}),
      ...(egress !== undefined ? { egressRate: rate(egress), egressBurst: MAX_UINT32 } : {}),
    };
  } catch (e) {
    throw invalidArgument(`get cni namespace options: reading pod bandwidth annotations: ${(e as Error).message}`, e);
  }
}
