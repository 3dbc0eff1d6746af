// protobuf-es messages on @grpc/grpc-js: a grpc-js service definition built from a
// generated service descriptor, (de)serializing with toBinary / fromBinary, and servers fed
// the connections a lazy endpoint accepted. Used by the sandboxer's Controller server,
// tsulad's sandbox client and tsulad's CRI server.
// Unary and server-streaming methods are served (the descriptor's methodKind says which:
// declaring a streaming method as unary makes clients fail with a protocol error instead
// of the status the handler gives); client and bidi streaming have no user in tsula.
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { errorFromGrpc, errorMessage, grpcCode, unimplemented } from './errors.js';
import type { ConnectionServer } from './lazy-endpoint.js';

export function serviceDefinition(desc: GenService<GenServiceMethods>): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of Object.values(desc.method) as DescMethod[]) {
    def[m.localName] = {
      path: `/${desc.typeName}/${m.name}`,
      requestStream: m.methodKind === 'client_streaming' || m.methodKind === 'bidi_streaming',
      responseStream: m.methodKind === 'server_streaming' || m.methodKind === 'bidi_streaming',
      requestSerialize: (v) => Buffer.from(toBinary(m.input, create(m.input, v as MessageInitShape<DescMessage>))),
      requestDeserialize: (b) => fromBinary(m.input, b),
      responseSerialize: (v) => Buffer.from(toBinary(m.output, create(m.output, v as MessageInitShape<DescMessage>))),
      responseDeserialize: (b) => fromBinary(m.output, b),
    };
  }
  return def;
}

/**
 * A handler per method. Unary: the answer. Server streaming: `send` each message; the call
 * ends OK when the promise resolves, or with the thrown error's code. (req, signal) comes
 * first in both, so wrappers that only log or check pass the rest through untouched.
 */
export type GrpcImpl<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'server_streaming'
    ? (req: MessageShape<S[K]['input']>, signal: AbortSignal, send: (msg: MessageInitShape<S[K]['output']>) => Promise<void>) => Promise<void>
    : (req: MessageShape<S[K]['input']>, signal: AbortSignal) => Promise<MessageInitShape<S[K]['output']>>;
};

type AnyHandler = (req: unknown, signal: AbortSignal, send?: (msg: unknown) => Promise<void>) => Promise<unknown>;

const serviceError = (e: unknown): grpc.ServiceError =>
  ({ code: grpcCode(e), details: errorMessage(e), name: 'Error', message: errorMessage(e), metadata: new grpc.Metadata() });

function unaryHandler(fn: AnyHandler): grpc.handleUnaryCall<unknown, unknown> {
  return (call, cb) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    fn(call.request, ac.signal).then((res) => cb(null, res), (e: unknown) => cb(serviceError(e)));
  };
}

function serverStreamHandler(fn: AnyHandler): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    // a slow reader holds the handler back (grpc-js buffers otherwise without bound)
    const send = (msg: unknown) => new Promise<void>((resolve, reject) => {
      if (ac.signal.aborted) { reject(new Error('the client cancelled the call')); return; }
      if (call.write(msg)) resolve(); else call.once('drain', () => resolve());
    });
    fn(call.request, ac.signal, send).then(() => call.end(), (e: unknown) => {
      // grpc-js ends a writable call with the status of an emitted error
      if (!ac.signal.aborted) call.emit('error', serviceError(e));
    });
  };
}

/** Handlers from async functions, by the method's kind; a thrown TsulaError becomes its gRPC code. */
export function grpcHandlers<S extends GenServiceMethods>(desc: GenService<S>, impl: GrpcImpl<S>): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const m of Object.values(desc.method) as DescMethod[]) {
    const fn = (impl as unknown as Record<string, AnyHandler | undefined>)[m.localName]
      ?? (async () => { throw unimplemented(`${m.name} is not implemented`); });
    if (m.methodKind === 'unary') out[m.localName] = unaryHandler(fn);
    else if (m.methodKind === 'server_streaming') out[m.localName] = serverStreamHandler(fn);
    else {
      // no handler shape for these yet: answer UNIMPLEMENTED as a proper status
      out[m.localName] = ((call: grpc.ServerDuplexStream<unknown, unknown>) => call.emit('error', serviceError(unimplemented(`${m.name}: ${m.methodKind} methods are not served by tsula`)))) as grpc.handleBidiStreamingCall<unknown, unknown>;
    }
  }
  return out;
}

export type GrpcClient<S extends GenServiceMethods> = {
  [K in keyof S]: S[K]['methodKind'] extends 'server_streaming'
    ? (req: MessageInitShape<S[K]['input']>, opts?: { timeoutMs?: number; signal?: AbortSignal }) => AsyncIterable<MessageShape<S[K]['output']>>
    : (req: MessageInitShape<S[K]['input']>, opts?: { timeoutMs?: number }) => Promise<MessageShape<S[K]['output']>>;
} & { close(): void };

/** Messages of a server stream; its error status is thrown as a TsulaError (errorFromGrpc). */
async function* readStream(s: grpc.ClientReadableStream<unknown>, signal?: AbortSignal): AsyncGenerator<unknown> {
  const onAbort = () => s.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const msg of s) yield msg;
  } catch (e) {
    const err = e as Partial<grpc.ServiceError>;
    if (typeof err.code === 'number') throw errorFromGrpc(err.code, err.details || err.message || '');
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    s.cancel();
  }
}

/** A typed client; errors come back as TsulaErrors (errorFromGrpc). */
export function grpcClient<S extends GenServiceMethods>(desc: GenService<S>, address: string): GrpcClient<S> {
  const target = address.startsWith('unix:') ? address : `unix://${address}`;
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  const def = serviceDefinition(desc as GenService<GenServiceMethods>);
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const [name, m] of Object.entries(def)) {
    if (m.responseStream && !m.requestStream) {
      out[name] = (req: unknown, opts: { timeoutMs?: number; signal?: AbortSignal } = {}) => {
        const deadline = opts.timeoutMs ? new Date(Date.now() + opts.timeoutMs) : Infinity;
        return readStream(client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, { deadline }), opts.signal);
      };
      continue;
    }
    out[name] = (req: unknown, opts: { timeoutMs?: number } = {}) => new Promise((resolve, reject) => {
      const deadline = new Date(Date.now() + (opts.timeoutMs ?? 60_000));
      client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, req, { deadline }, (err, res) => {
        if (err) reject(errorFromGrpc(err.code, err.details || err.message)); else resolve(res);
      });
    });
  }
  return out as GrpcClient<S>;
}

/** How long a closing server waits for its calls under way. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * A server that serves connections accepted elsewhere (common/lazy-endpoint: the socket
 * listens before grpc-js is loaded), plaintext over a unix socket.
 */
export function injectedServer(server: grpc.Server): ConnectionServer {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    serve: (c) => injector.injectConnection(c),
    close: async () => {
      // calls under way get a moment to finish (grpc-go's GracefulStop, bounded); then the
      // rest is cut, as a client that keeps its connection (kubelet) would hold it forever
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((r) => server.tryShutdown(() => r())),
        new Promise<void>((r) => { timer = setTimeout(r, SHUTDOWN_GRACE_MS); }),
      ]);
      clearTimeout(timer);
      server.forceShutdown();
      injector.destroy();
    },
  };
}
