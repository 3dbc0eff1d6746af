// tsulad's CRI endpoint: runtime.v1.RuntimeService and runtime.v1.ImageService over gRPC on a
// unix socket (kubelet and crictl are the clients). Every RPC goes through one wrapper that
// logs it and maps errors to gRPC codes once (containerd's instrumented_service). The socket
// is tsulad's (claimed and listened on before this module is even loaded): grpc-js is handed
// each connection it accepts.
import * as grpc from '@grpc/grpc-js';
import type * as net from 'node:net';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ImageService, RuntimeService } from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { grpcHandlers, injectedServer, serviceDefinition, type GrpcImpl } from '../common/grpc.js';
import { errorKind, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/log.js';

type Methods<T> = T extends GenService<infer S extends GenServiceMethods> ? S : never;
export type RuntimeServiceImpl = GrpcImpl<Methods<typeof RuntimeService>>;
export type ImageServiceImpl = GrpcImpl<Methods<typeof ImageService>>;

export interface CriServerOptions {
  runtime: RuntimeServiceImpl;
  images: ImageServiceImpl;
  log: Logger;
}

export interface CriServer {
  /** Serve a connection the daemon accepted on the CRI socket. */
  serve(c: net.Socket): void;
  close(): Promise<void>;
}

/** Log every call (debug) and every failure (what kubelet would see), once, here. */
function instrument<S extends GenServiceMethods>(desc: GenService<S>, impl: GrpcImpl<S>, log: Logger): GrpcImpl<S> {
  type Handler = (req: unknown, signal: AbortSignal, ...rest: unknown[]) => Promise<unknown>;
  const out: Record<string, Handler> = {};
  for (const [name, fn] of Object.entries(impl as Record<string, Handler>)) {
    const rpc = `${desc.typeName.split('.').pop()}.${name[0]!.toUpperCase()}${name.slice(1)}`;
    // a streaming method's `send` comes after (req, signal): passed on as it is
    out[name] = async (req, signal, ...rest) => {
      log.debug(`cri: ${rpc}`);
      try {
        return await fn(req, signal, ...rest);
      } catch (e) {
        const kind = errorKind(e);
        (kind === 'Internal' ? log.error : log.warn).call(log, `cri: ${rpc} failed`, { kind, err: errorMessage(e) });
        throw e;
      }
    };
  }
  return out as unknown as GrpcImpl<S>;
}

export function createCriServer(o: CriServerOptions): CriServer {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 });
  server.addService(serviceDefinition(RuntimeService), grpcHandlers(RuntimeService, instrument(RuntimeService, o.runtime, o.log)));
  server.addService(serviceDefinition(ImageService), grpcHandlers(ImageService, instrument(ImageService, o.images, o.log)));
  return injectedServer(server);
}
