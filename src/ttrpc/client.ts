// ttrpc client, wire-exact to containerd/ttrpc v1.1 (client.go): odd stream ids from 1,
// any number of calls in flight on one connection, answers matched by stream id in
// whatever order they come. A call rejects with a TtrpcError (a TsulaError carrying the
// status code); a lost connection rejects every pending call with UNAVAILABLE.
import * as net from 'node:net';
import { promises as fs } from 'node:fs';
import type { Duplex } from 'node:stream';
import { create, fromBinary, toBinary, type DescMessage, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { RequestSchema, ResponseSchema } from '../gen/github.com/containerd/ttrpc/request_pb.js';
import { encodeFrame, FrameReader, MAX_MESSAGE_LENGTH, TYPE_REQUEST, TYPE_RESPONSE } from './frame.js';
import { Code, TtrpcError, errorFromStatus } from './status.js';
import { socketPath } from './address.js';
import { errorMessage } from '../common/errors.js';

export interface CallOptions {
  /** Sent as timeout_nano and enforced here too (DEADLINE_EXCEEDED). */
  timeoutMs?: number;
  /** ttrpc metadata, e.g. { 'containerd-namespace-ttrpc': 'tsula' }. */
  metadata?: Record<string, string | string[]>;
  signal?: AbortSignal;
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 5 s, like ttrpcutil's dial timeout). */
  timeoutMs?: number;
  /**
   * Refuse a filesystem socket owned by another uid (our half of ttrpc's same-user
   * check; see server.ts for why it is done with file ownership). Default true.
   */
  checkOwner?: boolean;
}

/** A typed stub: one async function per method of a generated service. */
export type ServiceClient<S extends GenServiceMethods> = {
  [K in keyof S]: (req: MessageInitShape<S[K]['input']>, opts?: CallOptions) => Promise<MessageShape<S[K]['output']>>;
};

interface Pending {
  resolve: (payload: Uint8Array) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

export class TtrpcClient {
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closeCbs: Array<(err?: Error) => void> = [];
  private isClosed = false;

  private constructor(private readonly sock: Duplex, readonly address: string) {
    const reader = new FrameReader();
    sock.on('data', (chunk: Buffer) => {
      for (const ev of reader.push(chunk)) {
        if (ev.kind === 'garbage') {
          this.fail(new TtrpcError(Code.UNAVAILABLE, `ttrpc: ${address} sent a frame of unknown type ${ev.header.type}`));
          return;
        }
        if (ev.kind === 'oversize') {
          this.settle(ev.header.streamId, new TtrpcError(Code.RESOURCE_EXHAUSTED,
            `message length ${ev.header.length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`));
          continue;
        }
        if (ev.header.type !== TYPE_RESPONSE) continue;
        let res;
        try {
          res = fromBinary(ResponseSchema, ev.payload);
        } catch (e) {
          this.settle(ev.header.streamId, new TtrpcError(Code.INTERNAL, `ttrpc: bad response: ${errorMessage(e)}`));
          continue;
        }
        if (res.status && res.status.code !== Code.OK) this.settle(ev.header.streamId, errorFromStatus(res.status.code, res.status.message));
        else this.settle(ev.header.streamId, res.payload);
      }
    });
    const closed = () => this.fail(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: closed'));
    sock.on('close', closed);
    sock.on('end', closed);
    sock.on('error', (e: Error) => this.fail(new TtrpcError(Code.UNAVAILABLE, `ttrpc: ${errorMessage(e)}`)));
  }

  /** Connect to a unix socket: a path, `unix:///path`, `ttrpc+unix:///path` or `unix://@abstract`. */
  static async connect(address: string, o: ConnectOptions = {}): Promise<TtrpcClient> {
    const p = socketPath(address);
    if (o.checkOwner !== false && !p.startsWith('\0')) {
      const st = await fs.stat(p).catch((e: NodeJS.ErrnoException) => {
        throw new TtrpcError(Code.UNAVAILABLE, `ttrpc: cannot connect to ${address}: ${e.code ?? e.message}`);
      });
      const uid = process.geteuid?.() ?? 0;
      if (st.uid !== uid) throw new TtrpcError(Code.UNAVAILABLE, `ttrpc: ${address} belongs to uid ${st.uid}, not to us (uid ${uid})`);
    }
    return TtrpcClient.connectPath(p, address, o.timeoutMs ?? 5000);
  }

  /** Speak ttrpc over an already connected stream (a virtio-serial port, a test pipe). */
  static fromStream(stream: Duplex, name = 'stream'): TtrpcClient {
    return new TtrpcClient(stream, name);
  }

  private static connectPath(p: string, address: string, timeoutMs: number): Promise<TtrpcClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(p);
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new TtrpcError(Code.UNAVAILABLE, `ttrpc: timed out connecting to ${address}`));
      }, timeoutMs);
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new TtrpcError(Code.UNAVAILABLE, `ttrpc: cannot connect to ${address}: ${e.code ?? e.message}`));
      });
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new TtrpcClient(sock, address));
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Called once when the connection is lost or closed. */
  onClose(cb: (err?: Error) => void): void {
    if (this.isClosed) cb(); else this.closeCbs.push(cb);
  }

  /** Call with raw payload bytes; resolves with the reply's bytes. */
  callRaw(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Uint8Array> {
    if (this.isClosed) return Promise.reject(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: closed'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xffff_fffd ? 1 : this.nextId + 2;
    const metadata: Array<{ key: string; value: string }> = [];
    for (const [key, v] of Object.entries(opts.metadata ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) metadata.push({ key, value });
    }
    const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? Math.min(opts.timeoutMs, 0x7fff_ffff) : 0;
    const body = toBinary(RequestSchema, create(RequestSchema, {
      service, method, payload, metadata, timeoutNano: BigInt(Math.round(timeoutMs * 1e6)),
    }));
    if (body.length > MAX_MESSAGE_LENGTH) {
      // ttrpc 1.2 refuses to send it; 1.1 would get RESOURCE_EXHAUSTED back: same answer
      return Promise.reject(new TtrpcError(Code.RESOURCE_EXHAUSTED,
        `message length ${body.length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`));
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => this.settle(id, new TtrpcError(Code.CANCELED, 'context canceled'));
      const cleanup = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
      };
      this.pending.set(id, { resolve, reject, cleanup });
      if (timeoutMs) {
        timer = setTimeout(() => this.settle(id, new TtrpcError(Code.DEADLINE_EXCEEDED,
          `context deadline exceeded: ${service}/${method} after ${timeoutMs} ms`)), timeoutMs);
      }
      if (opts.signal) {
        if (opts.signal.aborted) return onAbort();
        opts.signal.addEventListener('abort', onAbort, { once: true });
      }
      this.sock.write(encodeFrame(id, TYPE_REQUEST, body));
    });
  }

  /** Call with typed messages: client.call('containerd.task.v2.Task', 'State', {id}, StateRequestSchema, StateResponseSchema). */
  async call<I extends DescMessage, O extends DescMessage>(
    service: string, method: string, req: MessageInitShape<I>, reqSchema: I, resSchema: O, opts?: CallOptions,
  ): Promise<MessageShape<O>> {
    const out = await this.callRaw(service, method, toBinary(reqSchema, create(reqSchema, req)), opts);
    try {
      return fromBinary(resSchema, out);
    } catch (e) {
      throw new TtrpcError(Code.INTERNAL, `ttrpc: cannot decode the reply of ${service}/${method}: ${errorMessage(e)}`);
    }
  }

  /** A typed stub for a generated service: client.service(Task).create({...}). */
  service<S extends GenServiceMethods>(desc: GenService<S>): ServiceClient<S> {
    const stub: Record<string, unknown> = {};
    for (const [localName, m] of Object.entries(desc.method) as Array<[string, DescMethod]>) {
      stub[localName] = (req: MessageInitShape<DescMessage>, opts?: CallOptions) =>
        this.call(desc.typeName, m.name, req, m.input, m.output, opts);
    }
    return stub as ServiceClient<S>;
  }

  close(): void {
    this.sock.destroy();
    this.fail(new TtrpcError(Code.UNAVAILABLE, 'ttrpc: closed'));
  }

  private settle(id: number, result: Uint8Array | Error): void {
    const p = this.pending.get(id);
    if (!p) return; // late answer to a call that timed out or was canceled
    this.pending.delete(id);
    p.cleanup();
    if (result instanceof Error) p.reject(result); else p.resolve(result);
  }

  private fail(err: Error): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sock.destroy();
    for (const [id] of this.pending) this.settle(id, err);
    for (const cb of this.closeCbs.splice(0)) cb(err);
  }
}
