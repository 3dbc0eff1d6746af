// A client of a sandboxer's Controller (containerd.services.sandbox.v1). tsulad's own
// sandboxer (the one it starts: its state dir is known) serves the Controller over ttrpc on
// its task socket as well as over gRPC on its Controller socket: there neither process loads
// grpc-js for a VM pod (~4 MB of the sandboxer's RSS, and the client in tsulad when its CRI
// is not used). Any other sandboxer (cri-sandboxers: Kuasar's, iSulad's) is called over gRPC,
// and so is an own one started by an older tsula: it answers ttrpc's UNIMPLEMENTED for the
// service, and gRPC is used from then on.
import { Controller } from '../gen/github.com/containerd/containerd/api/services/sandbox/v1/sandbox_pb.js';
import type { GrpcClient } from '../common/grpc.js';
import { errorMessage } from '../common/errors.js';
import { TtrpcClient, type ServiceClient } from '../ttrpc/client.js';
import { Code, codeOf } from '../ttrpc/status.js';
import { taskSocketOf } from './admin.js';
import type { ControllerMethods } from './controller.js';

/** Every Controller method is unary: the same stub over either transport. */
export type ControllerClient = ServiceClient<ControllerMethods> & { close(): void };

/** `address`: the Controller socket; `ownState`: the state dir of a sandboxer tsulad starts. */
export function controllerClient(address: string, ownState?: string): ControllerClient {
  let grpc: Promise<GrpcClient<ControllerMethods>> | undefined;
  let conn: Promise<{ client: TtrpcClient; ctl: ServiceClient<ControllerMethods> }> | undefined;
  let overGrpc = !ownState;
  const viaGrpc = () => (grpc ??= import('../common/grpc.js').then((m) => m.grpcClient(Controller, address)));
  // one connection and its stub, made at the first call and again after it broke or failed
  const viaTtrpc = async () => {
    if (!conn) {
      const c = TtrpcClient.connect(`unix://${taskSocketOf(ownState!)}`).then((client) => {
        client.onClose(() => { if (conn === c) conn = undefined; });
        return { client, ctl: client.service(Controller) };
      });
      c.catch(() => { if (conn === c) conn = undefined; });
      conn = c;
    }
    return (await conn).ctl;
  };
  const out: Record<string, unknown> = {
    close: () => {
      void conn?.then((c) => c.client.close(), () => {});
      void grpc?.then((g) => g.close(), () => {});
      conn = grpc = undefined;
    },
  };
  for (const name of Object.keys(Controller.method) as Array<keyof ControllerMethods>) {
    out[name] = async (req: never, opts?: { timeoutMs?: number }) => {
      if (!overGrpc) {
        try {
          return await ((await viaTtrpc())[name] as (r: never, o?: object) => Promise<unknown>)(req, opts);
        } catch (e) {
          // the service unknown there (not a method's own UNIMPLEMENTED, as Metrics answers)
          if (codeOf(e) !== Code.UNIMPLEMENTED || !/^service\b/.test(errorMessage(e))) throw e;
          overGrpc = true;
        }
      }
      return ((await viaGrpc())[name] as (r: never, o?: object) => Promise<unknown>)(req, opts);
    };
  }
  return out as ControllerClient;
}
