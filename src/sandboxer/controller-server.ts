// The sandboxer's gRPC endpoint: containerd.services.sandbox.v1.Controller (tsulad's VM
// runtime, iSulad's cri-sandboxers, containerd's sandbox API) and Admin.List (`tsula sandbox ls
// --address`). Loaded on the first connection to the Controller socket (common/lazy-endpoint):
// a sandboxer that only containerd's shims drive over ttrpc never loads grpc-js.
import * as grpc from '@grpc/grpc-js';
import type { ConnectionServer } from '../common/lazy-endpoint.js';
import { grpcHandlers, injectedServer, serviceDefinition } from '../common/grpc.js';
import { Controller, controllerService, type ControllerDeps } from './controller.js';
import { ADMIN_LIST_GRPC_PATH, sandboxSummary, type ListResponse } from './admin.js';

export function controllerServer(d: ControllerDeps): ConnectionServer {
  const server = new grpc.Server();
  server.addService(serviceDefinition(Controller), grpcHandlers(Controller, controllerService(d)));
  // Admin.List on the Controller socket too: a sandboxer named by that socket only (tsulad's
  // cri-sandboxers, `tsula sandbox ls --address`) can be listed; JSON bodies, as on ttrpc
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const unjson = (b: Buffer) => JSON.parse(b.toString('utf8') || '{}') as unknown;
  server.addService({
    List: {
      path: ADMIN_LIST_GRPC_PATH, requestStream: false, responseStream: false, originalName: 'List',
      requestSerialize: json, requestDeserialize: unjson, responseSerialize: json, responseDeserialize: unjson,
    },
  }, {
    List: (_call: unknown, cb: grpc.sendUnaryData<ListResponse>) => cb(null, { sandboxes: d.sandboxes.list().map(sandboxSummary) }),
  });
  return injectedServer(server);
}
