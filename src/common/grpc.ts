// protobuf-es messages on @grpc/grpc-js: a grpc-js service definition built from a
// generated service descriptor, (de)serializing with toBinary / fromBinary. Used by the
// sandboxer's Controller server, tsulad's sandbox client and tsulad's CRI server.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { errorFromGrpc, errorMessage, grpcCode } from './errors.js';

export function serviceDefinition(desc: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of Object.values(desc.method) as DescMethod[]) {
    def[m.localName] = {
      path: `/${desc.typeName}/${m.name}`,
      requestStream: false,
      responseStream: false,
      requestSerialize: (v) => Buffer.from(toBinary(m.input, create(m.input, v as MessageInitShape<DescMessage>))),
      requestDeserialize: (b) => fromBinary(m.input, b),
      responseSerialize: (v) => Buffer.from(toBinary(m.output, create(m.output, v as MessageInitShape<DescMessage>))),
      responseDeserialize: (b) => fromBinary(m.output, b),
    };
  }
  return def;
}

export type GrpcImpl<S extends GenServiceMethods> = {
  [K in keyof S]: (req: MessageShape<S[K]['input']>, signal: AbortSignal) => Promise<MessageInitShape<S[K]['output']>>;
};

/** Unary handlers from async functions; a thrown TsulaError becomes its gRPC code. */
export function grpcHandlers<S extends GenServiceMethods>(desc: GenService<S>, impl: GrpcImpl<S>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const m of Object.values(desc.method) as DescMethod[]) {
    const fn = (impl as Record<string, (req: unknown, signal: AbortSignal) => Promise<unknown>>)[m.localName];
    out[m.localName] = ((call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const ac = new AbortController();
      call.on('cancelled', () => ac.abort());
      fn(call.request, ac.signal).then((res) => cb(null, res), (e: unknown) => {
        cb({ code: grpcCode(e), details: errorMessage(e), name: 'Error', message: errorMessage(e) } as grpc.ServiceError);
      });
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return out;
}

export type GrpcClient<S extends GenServiceMethods> = {
  [K in keyof S]: (req: MessageInitShape<S[K]['input']>, opts?: { timeoutMs?: number }) => Promise<MessageShape<S[K]['output']>>;
} & { close(): void };

/** A typed client; errors come back as TsulaErrors (errorFromGrpc). */
export function grpcClient<S extends GenServiceMethods>(desc: GenService<S>, address: string): GrpcClient<S> {
  const target = address.startsWith('unix:') ? address : `unix://${address}`;
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const def = serviceDefinition(desc as GenService<GenServiceMethods>);
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const [name, m] of Object.entries(def)) {
    out[name] = (req: unknown, opts: { timeoutMs?: number } = {}) => new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + (opts.timeoutMs ?? 60_000));
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, { deadline }, (err, res) => {
        if (err) reject(errorFromGrpc(err.code, err.details || err.message)); else resolve(res);
      });
    });
  }
  return out as GrpcClient<S>;
}
