// runtime.v1.RuntimeService: Version and Status here; pods, containers and streaming in the
// files beside. An RPC nobody implements answers UNIMPLEMENTED with its name.
import { RuntimeService } from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { invalidArgument, unimplemented } from '../common/errors.js';
import { isIP } from 'node:net';
import type { RuntimeServiceImpl } from './server.js';

export const CRI_API_VERSION = 'v1';
/** kubelet sends "0.1.0" as its version and expects the same back. */
const KUBE_API_VERSION = '0.1.0';

export interface CriRuntimeInfo {
  version: string;
  /** Why the pod network is not ready (no CNI config...), or null when it is. */
  networkNotReady: () => Promise<string | null>;
  /** What Status { verbose } shows as "config". */
  config: () => unknown;
}

/** Every RPC of the service, answering UNIMPLEMENTED until a part of tsula implements it. */
export function unimplementedRuntime(): RuntimeServiceImpl {
  const out: Record<string, () => Promise<never>> = {};
  for (const m of Object.values(RuntimeService.method)) {
    out[m.localName] = async () => { throw unimplemented(`${m.name} is not implemented by tsulad`); };
  }
  return out as unknown as RuntimeServiceImpl;
}

export function criRuntimeBasics(i: CriRuntimeInfo): Pick<RuntimeServiceImpl, 'version' | 'status' | 'updateRuntimeConfig'> {
  return {
    version: async () => ({ version: KUBE_API_VERSION, runtimeName: 'tsula', runtimeVersion: i.version, runtimeApiVersion: CRI_API_VERSION }),
    status: async (req) => {
      const net = await i.networkNotReady();
      return {
        status: {
          conditions: [
            { type: 'RuntimeReady', status: true, reason: '', message: '' },
            net === null
              ? { type: 'NetworkReady', status: true, reason: '', message: '' }
              : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: net },
          ],
        },
        info: (req.verbose ? { config: JSON.stringify(i.config()) } : {}) as Record<string, string>,
      };
    },
    // kubelet sends the node's pod CIDR; the CNI config has its own subnet (as containerd),
    // which still refuses one that is no CIDR (its getRoutes)
    updateRuntimeConfig: async (req) => {
      const cidrs = req.runtimeConfig?.networkConfig?.podCidr ?? '';
      for (const c of cidrs.split(',').filter(Boolean)) {
        if (!isCidr(c.trim())) throw invalidArgument(`get routes: invalid CIDR address: ${c.trim()}`);
      }
      return {};
    },
  };
}

/** An IPv4 or IPv6 CIDR as Go's net.ParseCIDR takes it. */
function isCidr(c: string): boolean {
  const m = /^(.+)\/(\d{1,3})$/.exec(c);
  if (!m) return false;
  const bits = Number(m[2]);
  const v = isIP(m[1]!);
  return (v === 4 && bits <= 32) || (v === 6 && bits <= 128);
}
