// tsulad's CRI endpoint: runtime.v1.RuntimeService and runtime.v1.ImageService over gRPC on a
// unix socket (kubelet and crictl are the clients). Every RPC goes through one wrapper that
// logs it and maps errors to gRPC codes once (containerd's instrumented_service), and the
// socket is claimed like tsulad's API socket: a live server there makes the daemon refuse
// to start; a stale file is replaced.
import * as grpc from '@grpc/grpc-js';
import * as net from 'node:net';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { ImageService, RuntimeService } from '../gen/k8s.io/cri-api/pkg/apis/runtime/v1/api_pb.js';
import { grpcHandlers, serviceDefinition, type GrpcImpl } from '../common/grpc.js';
import { errorKind, errorMessage } from '../common/errors.js';
import type { SocketClaim } from '../common/unixsocket.js';
import type { Logger } from '../common/log.js';

type Methods<T> = T extends GenService<infer S extends GenServiceMethods> ? S : never;
export type RuntimeServiceImpl = GrpcImpl<Methods<typeof RuntimeService>>;
export type ImageServiceImpl = GrpcImpl<Methods<typeof ImageService>>;

export interface CriServerOptions {
  /** The socket, claimed by the daemon before it touched anything (see unixsocket.ts). */
  claim: SocketClaim;
  runtime: RuntimeServiceImpl;
  images: ImageServiceImpl;
  log: Logger;
}

export interface CriServer {
  socket: string;
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

export async function startCriServer(o: CriServerOptions): Promise<CriServer> {
  const claim = o.claim;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024, 'grpc.max_send_message_length': 16 * 1024 * 1024 });
  server.addService(serviceDefinition(RuntimeService), grpcHandlers(RuntimeService, instrument(RuntimeService, o.runtime, o.log)));
  server.addService(serviceDefinition(ImageService), grpcHandlers(ImageService, instrument(ImageService, o.images, o.log)));
  // grpc-js takes connections we accept ourselves: the socket file is ours (see unixsocket.ts)
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const listener = net.createServer((c) => injector.injectConnection(c));
  await claim.listen(listener, { mode: 0o600 });
  o.log.info('CRI listening', { socket: `unix://${claim.path}` });
  return {
    socket: claim.path,
    close: async () => {
      await new Promise<void>((r) => listener.close(() => r()));
      await new Promise<void>((r) => server.tryShutdown(() => r()));
      injector.destroy();
      await claim.release();
    },
  };
}
