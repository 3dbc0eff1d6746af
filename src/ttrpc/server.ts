// ttrpc server, wire-exact to containerd/ttrpc v1.1 (server.go, services.go, channel.go):
// requests on a connection run concurrently and are answered as they finish; errors are
// answered on the stream they concern; a connection that sends non-ttrpc bytes is dropped
// alone while the others keep being served.
//
// Peer credentials: ttrpc servers in containerd check SO_PEERCRED (same uid/gid). Node
// can't read SO_PEERCRED and node-unix-socket doesn't expose it either; matching the
// peer through /proc/net/unix and every /proc/*/fd would cost a directory walk per
// connection. Instead the socket is created owner-only (mode 0600, under a umask so there
// is no window before chmod): the kernel then admits only our uid (and root) to connect,
// which is what the uid check guarantees. The gid is not checked.
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { create, fromBinary, toBinary, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { RequestSchema, ResponseSchema, type Request } from '../gen/github.com/containerd/ttrpc/request_pb.js';
import { encodeFrame, FrameReader, MAX_MESSAGE_LENGTH, TYPE_REQUEST, TYPE_RESPONSE } from './frame.js';
import { Code, statusCodeOf, statusMessageOf, TtrpcError } from './status.js';
import type { Logger } from '../common/log.js';
import { listenExclusive, type ExclusiveSocket } from '../common/unixsocket.js';

export const NAMESPACE_KEY = 'containerd-namespace-ttrpc';

export interface CallContext {
  service: string;
  method: string;
  streamId: number;
  /** Request metadata; a key may repeat (ttrpc's MD is map[string][]string). */
  metadata: Map<string, string[]>;
  /** containerd's namespace, from the `containerd-namespace-ttrpc` metadata key. */
  namespace: string | undefined;
  /** Absolute deadline (ms since epoch) when the caller sent timeout_nano. */
  deadline: number | undefined;
  /** Aborted at the deadline or when the connection goes away. */
  signal: AbortSignal;
}

export type RawHandler = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array> | Uint8Array;

/** Typed handlers for a generated service: any subset of its methods. */
export type ServiceImpl<S extends GenServiceMethods> = {
  [K in keyof S]?: (req: MessageShape<S[K]['input']>, ctx: CallContext) =>
    Promise<MessageInitShape<S[K]['output']>> | MessageInitShape<S[K]['output']>;
};

export interface ServerOptions {
  log?: Logger;
}

export class TtrpcServer {
  private services = new Map<string, Map<string, RawHandler>>();
  private servers: net.Server[] = [];
  private conns = new Set<Duplex>();
  private claims: ExclusiveSocket[] = [];

  constructor(private readonly o: ServerOptions = {}) {}

  /** Register raw handlers by service full name and method name (bytes in, bytes out). */
  register(service: string, methods: Record<string, RawHandler>): this {
    const m = this.services.get(service) ?? new Map<string, RawHandler>();
    for (const [name, h] of Object.entries(methods)) m.set(name, h);
    this.services.set(service, m);
    return this;
  }

  /** Register typed handlers for a protobuf-es service descriptor. */
  registerService<S extends GenServiceMethods>(desc: GenService<S>, impl: ServiceImpl<S>): this {
    const methods: Record<string, RawHandler> = {};
    for (const [localName, method] of Object.entries(desc.method) as Array<[string, DescMethod]>) {
      const fn = (impl as Record<string, ((req: unknown, ctx: CallContext) => unknown) | undefined>)[localName];
      if (!fn) continue; // unregistered methods answer UNIMPLEMENTED, as in ttrpc
      methods[method.name] = async (payload, ctx) => {
        let req;
        try {
          req = fromBinary(method.input, payload);
        } catch (e) {
          throw new TtrpcError(Code.INTERNAL, `ttrpc: error unmarshalling payload: ${statusMessageOf(e)}`);
        }
        const res = await fn.call(impl, req, ctx);
        return toBinary(method.output, create(method.output, res as MessageInitShape<typeof method.output>));
      };
    }
    return this.register(desc.typeName, methods);
  }

  /**
   * Listen on a unix socket path, owner-only. A stale socket file is replaced; a path another
   * live server answers on is refused (see common/unixsocket.ts).
   */
  async listen(socketPath: string): Promise<void> {
    const server = net.createServer((sock) => this.serve(sock));
    const claim = await listenExclusive(server, socketPath, { mode: 0o600 });
    server.on('error', (e) => this.o.log?.warn('ttrpc server error', { path: socketPath, err: e.message }));
    this.servers.push(server);
    this.claims.push(claim);
  }

  /** Serve ttrpc on an already connected stream (a socket, a virtio-serial port). */
  serve(sock: Duplex): void {
    this.conns.add(sock);
    const reader = new FrameReader();
    const inflight = new Map<number, AbortController>();
    const send = (streamId: number, payload: Uint8Array) => {
      if (!sock.destroyed && sock.writable) sock.write(encodeFrame(streamId, TYPE_RESPONSE, payload));
    };
    const sendStatus = (streamId: number, code: number, message: string) => {
      send(streamId, toBinary(ResponseSchema, create(ResponseSchema, { status: { code, message } })));
    };
    sock.on('data', (chunk: Buffer) => {
      for (const ev of reader.push(chunk)) {
        if (ev.kind === 'garbage') {
          this.o.log?.warn('ttrpc: dropping a connection that does not speak ttrpc', { type: ev.header.type });
          sock.destroy();
          return;
        }
        if (ev.kind === 'oversize') {
          sendStatus(ev.header.streamId, Code.RESOURCE_EXHAUSTED,
            `message length ${ev.header.length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`);
          continue;
        }
        // responses and data frames are not for a server; ttrpc ignores them for compatibility
        if (ev.header.type !== TYPE_REQUEST) continue;
        let req: Request;
        try {
          req = fromBinary(RequestSchema, ev.payload);
        } catch (e) {
          sendStatus(ev.header.streamId, Code.INVALID_ARGUMENT, `unmarshal request error: ${statusMessageOf(e)}`);
          continue;
        }
        if (ev.header.streamId % 2 !== 1) {
          sendStatus(ev.header.streamId, Code.INVALID_ARGUMENT, 'StreamID must be odd for client initiated streams');
          continue;
        }
        void this.dispatch(ev.header.streamId, req, inflight, send, sendStatus);
      }
    });
    const gone = () => {
      this.conns.delete(sock);
      for (const ac of inflight.values()) ac.abort(new TtrpcError(Code.CANCELED, 'ttrpc: connection closed'));
      inflight.clear();
    };
    sock.on('close', gone);
    sock.on('end', () => sock.end());
    sock.on('error', () => sock.destroy());
  }

  private async dispatch(
    streamId: number, req: Request, inflight: Map<number, AbortController>,
    send: (id: number, p: Uint8Array) => void, sendStatus: (id: number, code: number, msg: string) => void,
  ): Promise<void> {
    const svc = this.services.get(req.service);
    const handler = svc?.get(req.method);
    if (!svc) return sendStatus(streamId, Code.UNIMPLEMENTED, `service ${req.service}`);
    if (!handler) return sendStatus(streamId, Code.UNIMPLEMENTED, `method ${req.method}`);
    const metadata = new Map<string, string[]>();
    for (const kv of req.metadata) metadata.set(kv.key, [...(metadata.get(kv.key) ?? []), kv.value]);
    const ac = new AbortController();
    inflight.set(streamId, ac);
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = req.timeoutNano > 0n ? Number(req.timeoutNano / 1_000_000n) : 0;
    const ctx: CallContext = {
      service: req.service, method: req.method, streamId, metadata,
      namespace: metadata.get(NAMESPACE_KEY)?.[0],
      deadline: req.timeoutNano > 0n ? Date.now() + timeoutMs : undefined,
      signal: ac.signal,
    };
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (inflight.get(streamId) === ac) inflight.delete(streamId);
      fn(); // a closed connection drops the answer in send()
    };
    // setTimeout can't wait past 2^31-1 ms (it would fire at once): a deadline weeks away is none
    if (req.timeoutNano > 0n && timeoutMs <= 0x7fff_ffff) {
      // Go's handler sees ctx.Done(); we also answer at the deadline so a handler that
      // ignores the signal can't hold the caller past it
      timer = setTimeout(() => {
        ac.abort(new TtrpcError(Code.DEADLINE_EXCEEDED, 'context deadline exceeded'));
        finish(() => sendStatus(streamId, Code.DEADLINE_EXCEEDED, 'context deadline exceeded'));
      }, Math.max(timeoutMs, 1));
    }
    try {
      const out = await handler(req.payload, ctx);
      finish(() => {
        if (out.length > MAX_MESSAGE_LENGTH) {
          sendStatus(streamId, Code.RESOURCE_EXHAUSTED, `response of ${out.length} bytes exceeds the maximum message size of ${MAX_MESSAGE_LENGTH}`);
        } else {
          send(streamId, toBinary(ResponseSchema, create(ResponseSchema, { payload: out })));
        }
      });
    } catch (e) {
      if (!done && statusCodeOf(e) === Code.INTERNAL) {
        this.o.log?.debug('ttrpc handler failed', { service: req.service, method: req.method, err: statusMessageOf(e) });
      }
      finish(() => sendStatus(streamId, statusCodeOf(e), statusMessageOf(e)));
    }
  }

  /** Stop listening, drop every connection, remove the socket files. */
  async close(): Promise<void> {
    for (const s of this.servers) s.close();
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    this.servers = [];
    // only sockets still ours: one another server took over since is left alone
    await Promise.all(this.claims.map((c) => c.release()));
    this.claims = [];
  }
}
