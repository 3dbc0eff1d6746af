// tsulad's streaming server: kubelet's pkg/kubelet/cri/streaming server in TypeScript.
// The CRI RPCs Exec, Attach and PortForward call getExec/getAttach/getPortForward, which
// validate the request, keep it under a one-time token and return the URL
// (http://127.0.0.1:<port>/{exec,attach,portforward}/<token>). The client (kubelet,
// crictl) then GETs or POSTs that URL asking to upgrade to SPDY/3.1 with its subprotocols;
// we answer 101 with the chosen one and serve the session over the upgraded socket. A GET
// asking for `Upgrade: websocket` gets the same session over WebSocket (websocket/), as
// kubelet's server picks by wsstream.IsWebSocketRequest.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { failedPrecondition, invalidArgument, errorMessage, withContext } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { RequestCache } from './cache.js';
import { PortForwardSession } from './portforward.js';
import {
  DEFAULT_STREAM_CREATION_TIMEOUT_MS, DEFAULT_STREAM_IDLE_TIMEOUT_MS, HEADER_ACCEPTED_PROTOCOL_VERSIONS,
  HEADER_PROTOCOL_VERSION, PORT_FORWARD_PROTOCOLS, REMOTE_COMMAND_PROTOCOLS, SUCCESS, exitCodeStatus,
  negotiate, type RemoteCommandProtocol,
} from './protocol.js';
import { RemoteCommandSession, type RunCommand } from './remotecommand.js';
import type { AttachRequest, ExecRequest, PortForwardRequest, StreamingRuntime } from './runtime.js';
import { SpdyConnection } from './spdy/connection.js';
import type { ChannelConnection } from './websocket/channels.js';
import { WsConnection } from '../../common/websocket/connection.js';
import { handshake, isWebSocketRequest } from '../../common/websocket/handshake.js';
import { WS_PORT_FORWARD_PROTOCOLS, WsPortForwardSession, portsFromQuery } from './websocket/portforward.js';
import { WS_REMOTE_COMMAND_PROTOCOLS, WsRemoteCommandSession } from './websocket/remotecommand.js';

export interface StreamingServerOptions {
  runtime: StreamingRuntime;
  /** Listen address; kubelet's CRI runtimes default to loopback. */
  address?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /**
   * Base of the URLs handed out, when clients reach the server under another name
   * (a proxy); default http://<address>:<port>/. Its path prefixes the routes.
   */
  baseUrl?: string;
  streamIdleTimeoutMs?: number;
  streamCreationTimeoutMs?: number;
  tokenTtlMs?: number;
  maxInFlight?: number;
  /** For the token cache's expiry; tests pass their own. */
  now?: () => number;
  log?: Logger;
}

type Cached =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };
type Kind = Cached['kind'];

/** Where an answer goes: a plain response, or the raw socket of an upgrade request. */
type Reply = { res: http.ServerResponse } | { socket: Socket };

/** An upgraded connection, SPDY or WebSocket, as stop() ends it. */
interface Upgraded { shutdown(): void; destroy(): void; readonly done: Promise<void> }

export class StreamingServer {
  private readonly server = http.createServer();
  private readonly cache: RequestCache<Cached>;
  private readonly conns = new Set<Upgraded>();
  private base: URL | undefined;

  constructor(private readonly opts: StreamingServerOptions) {
    this.cache = new RequestCache({ ttlMs: opts.tokenTtlMs, maxInFlight: opts.maxInFlight, now: opts.now });
    this.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => this.handle(req, { res }, Buffer.alloc(0)));
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => this.handle(req, { socket }, head));
  }

  async start(): Promise<void> {
    const address = this.opts.address ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port ?? 0, address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const { port } = this.server.address() as AddressInfo;
    const host = address.includes(':') ? `[${address}]` : address;
    const base = new URL(this.opts.baseUrl ?? `http://${host}:${port}/`);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.opts.log?.info('streaming server listening', { url: base.href });
  }

  /** Closes the listener and every live session (their runtime calls are aborted). */
  async stop(): Promise<void> {
    for (const c of this.conns) c.shutdown();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await Promise.all([closed, ...[...this.conns].map((c) => { c.destroy(); return c.done; })]);
  }

  /** Upgraded connections still open (sessions being served or lingering). */
  get sessions(): number { return this.conns.size; }

  /** The URL prefix the server hands out, e.g. http://127.0.0.1:38211/. */
  get url(): string {
    if (!this.base) throw failedPrecondition('the streaming server is not started');
    return this.base.href;
  }

  getExec(req: ExecRequest): { url: string } {
    if (!req.containerId) throw invalidArgument('missing required container_id');
    checkStdio(req, 'or');
    const copy: ExecRequest = {
      containerId: req.containerId, cmd: [...req.cmd], tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr,
    };
    return { url: this.urlFor({ kind: 'exec', req: copy }) };
  }

  getAttach(req: AttachRequest): { url: string } {
    if (!req.containerId) throw invalidArgument('missing required container_id');
    checkStdio(req, 'and');
    const copy: AttachRequest = { containerId: req.containerId, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr };
    return { url: this.urlFor({ kind: 'attach', req: copy }) };
  }

  getPortForward(req: PortForwardRequest): { url: string } {
    if (!req.podSandboxId) throw invalidArgument('missing required pod_sandbox_id');
    return { url: this.urlFor({ kind: 'portforward', req: { podSandboxId: req.podSandboxId, port: [...(req.port ?? [])] } }) };
  }

  private urlFor(c: Cached): string {
    const base = new URL(this.url);
    const token = this.cache.insert(c);
    return new URL(`${c.kind}/${token}`, base).href;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private handle(req: http.IncomingMessage, reply: Reply, head: Buffer): void {
    try {
      this.route(req, reply, head);
    } catch (e) {
      this.opts.log?.error('streaming request failed', { url: req.url, error: errorMessage(e) });
      respond(reply, 500, errorMessage(e));
    }
  }

  private route(req: http.IncomingMessage, reply: Reply, head: Buffer): void {
    const base = this.base;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const m = base && path.startsWith(base.pathname) ? /^(exec|attach|portforward)\/([^/]+)$/.exec(path.slice(base.pathname.length)) : null;
    if (!m) return respond(reply, 404, '404 page not found');
    if (req.method !== 'GET' && req.method !== 'POST') return respond(reply, 405, '405: Method Not Allowed');
    const kind = m[1] as Kind;
    // The token is used up by this request, whatever comes of it (kubelet's Consume).
    const cached = this.cache.consume(m[2]!);
    if (!cached || cached.kind !== kind) return respond(reply, 404, '404 page not found');
    if ('socket' in reply && isWebSocketRequest(req)) return this.serveWebSocket(cached, req, reply.socket, head);

    const n = negotiate(req.headersDistinct[HEADER_PROTOCOL_VERSION.toLowerCase()] ?? [],
      cached.kind === 'portforward' ? PORT_FORWARD_PROTOCOLS : REMOTE_COMMAND_PROTOCOLS);
    if (!n.ok) {
      return respond(reply, n.status, n.message, n.accepted.map((p) => [HEADER_ACCEPTED_PROTOCOL_VERSIONS, p]));
    }
    const connection = String(req.headers.connection ?? '').toLowerCase();
    const upgrade = String(req.headers.upgrade ?? '').toLowerCase();
    if (!('socket' in reply) || !connection.includes('upgrade') || !upgrade.includes('spdy/3.1')) {
      return respond(reply, 400, `unable to upgrade: missing upgrade headers in request: ${JSON.stringify(req.headersDistinct)}`);
    }
    const socket = reply.socket;
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n' +
      `Date: ${new Date().toUTCString()}\r\nUpgrade: SPDY/3.1\r\n${HEADER_PROTOCOL_VERSION}: ${n.protocol}\r\n\r\n`);
    this.serveSession(cached, n.protocol, socket, head);
  }

  private serveSession(cached: Cached, protocol: string, socket: Socket, head: Buffer): void {
    const o = this.opts;
    const log = o.log;
    const creation = o.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT_MS;
    const idleTimeoutMs = o.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
    let session: Promise<void>;
    let conn: SpdyConnection;
    if (cached.kind === 'portforward') {
      const pf = new PortForwardSession(cached.req.podSandboxId, o.runtime, creation, `${socket.remoteAddress}:${socket.remotePort}`, log);
      conn = new SpdyConnection(socket, { onStream: (s) => pf.onStream(s), idleTimeoutMs, log });
      session = pf.serve(conn);
    } else {
      const rc = new RemoteCommandSession(protocol as RemoteCommandProtocol, cached.req, log);
      conn = new SpdyConnection(socket, { onStream: (s) => rc.onStream(s), idleTimeoutMs, log });
      session = rc.serve(conn, creation, this.runFor(cached));
    }
    this.track(conn, session, cached.kind, protocol);
    conn.feed(head);
  }

  /** The runtime call behind an exec or attach, its outcome as the status to report. */
  private runFor(cached: Exclude<Cached, { kind: 'portforward' }>): RunCommand {
    const rt = this.opts.runtime;
    if (cached.kind === 'exec') {
      return async (io, signal) => {
        const r = await rt.exec(cached.req, io, signal).catch((e: unknown) => {
          throw withContext(e, 'error executing command in container');
        });
        return r.exitCode === 0 ? SUCCESS : exitCodeStatus(r.exitCode, cached.req.cmd);
      };
    }
    return async (io, signal) => {
      await rt.attach(cached.req, io, signal).catch((e: unknown) => {
        throw withContext(e, 'error attaching to container');
      });
      return SUCCESS;
    };
  }

  /**
   * kubelet's WebSocket path: the ports of a port-forward are known up front (the CRI
   * request's, else the `port` query parameters), then the handshake, then the session.
   */
  private serveWebSocket(cached: Cached, req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    let ports: number[] = [];
    if (cached.kind === 'portforward') {
      ports = cached.req.port ?? [];
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      if (!ports.length && query.has('port')) {
        try {
          ports = portsFromQuery(query);
        } catch (e) {
          return respond({ socket }, 400, errorMessage(e));
        }
      }
    }
    const hs = handshake(req, cached.kind === 'portforward' ? WS_PORT_FORWARD_PROTOCOLS : WS_REMOTE_COMMAND_PROTOCOLS);
    if (!hs.ok) {
      this.opts.log?.debug('websocket handshake refused', { response: hs.response.split('\r\n')[0] });
      socket.end(hs.response);
      return;
    }
    socket.write(hs.response);
    const o = this.opts;
    let mux: ChannelConnection | undefined;
    const ws = new WsConnection(socket, {
      onMessage: (_type, data) => mux?.onMessage(data),
      idleTimeoutMs: o.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
      log: o.log,
    });
    let session: Promise<void>;
    if (cached.kind === 'portforward') {
      const pf = new WsPortForwardSession(ws, hs.protocol, cached.req.podSandboxId, ports, o.runtime, o.log);
      mux = pf.mux;
      session = pf.serve();
    } else {
      const rc = new WsRemoteCommandSession(ws, hs.protocol, cached.req, o.log);
      mux = rc.mux;
      session = rc.serve(this.runFor(cached));
    }
    this.track(ws, session, cached.kind, `websocket ${hs.protocol}`);
    ws.feed(head);
  }

  private track(conn: Upgraded, session: Promise<void>, kind: Kind, protocol: string): void {
    const log = this.opts.log;
    this.conns.add(conn);
    log?.debug('streaming session', { kind, protocol });
    void session.catch((e: unknown) => log?.error('streaming session failed', { kind, error: errorMessage(e) }));
    void conn.done.then(() => this.conns.delete(conn));
  }
}

/** kubelet's validateExecRequest / validateAttachRequest. */
function checkStdio(req: { tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }, joiner: 'or' | 'and'): void {
  // With a tty, stdout and stderr are one stream: there is no stderr to multiplex.
  if (req.tty && req.stderr) throw invalidArgument('tty and stderr cannot both be true');
  if (!req.stdin && !req.stdout && !req.stderr) throw invalidArgument(`one of stdin, stdout, ${joiner} stderr must be set`);
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 500: 'Internal Server Error' };

/** Go's http.Error: text/plain, nosniff, the message and a newline; the connection closes. */
function respond(reply: Reply, status: number, message: string, extra: Array<[string, string]> = []): void {
  const body = `${message}\n`;
  const headers: Array<[string, string]> = [
    ['Content-Type', 'text/plain; charset=utf-8'], ['X-Content-Type-Options', 'nosniff'], ...extra,
  ];
  if ('res' in reply) {
    const res = reply.res;
    for (const [k, v] of headers) res.appendHeader(k, v);
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.setHeader('Connection', 'close');
    res.writeHead(status).end(body);
    return;
  }
  const lines = [...headers, ['Date', new Date().toUTCString()], ['Content-Length', String(Buffer.byteLength(body))], ['Connection', 'close']];
  reply.socket.end(`HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`);
}
