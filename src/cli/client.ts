// The CLI's only way to the engine: HTTP/JSON on tsulad's unix socket, Docker Engine API
// v1.41 shape. Errors come back as ApiError (the daemon's {"message"}) or ConnectError
// (nobody listening), so every command reports them the same way docker does.
import type { Duplex, Readable } from 'node:stream';
import { compareVersions } from '../common/compare.js';
import { Response, send, type Address, type Headers, type Upgraded } from './http1.js';

export const API_VERSION = '1.41';
export const DEFAULT_HOST = 'unix:///run/tsula/tsulad.sock';
const USER_AGENT = 'tsula-cli/0.1.0';

/** The API version a request needs: `min` where what it asks for already is older. */
export function versionFor(min: string, asked?: string): string {
  return asked && compareVersions(asked, min) >= 0 ? asked : min;
}

/** The daemon answered with an error status; message is the daemon's own text. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly daemonMessage: string) {
    super(`Error response from daemon: ${daemonMessage}`);
    this.name = 'ApiError';
  }
}

/**
 * docker's client turns a 404 of the calls that name one object (inspect, remove) into
 * objectNotFoundError: "Error: No such <kind>: <the name as given>", not the daemon's words.
 */
export async function orNotFound<T>(kind: string, name: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) throw new Error(`Error: No such ${kind}: ${name}`);
    throw err;
  }
}

/** No daemon at the address (socket missing, refused, or not permitted). */
export class ConnectError extends Error {
  constructor(message: string, readonly code?: string) {
    super(message);
    this.name = 'ConnectError';
  }
}

export type QueryValue = string | number | boolean | undefined | null | readonly string[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  method: string;
  path: string;
  query?: Query;
  /** A plain value is sent as JSON; a Buffer or stream is sent as is (see contentType). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /** The API version asked for, when a request needs a field API_VERSION lacks. */
  apiVersion?: string;
}

/** A hijacked connection (attach, exec start): raw bytes both ways after the HTTP head. */
export interface Hijacked {
  /** Bytes from the daemon (the first ones the HTTP parser read ahead are replayed). */
  output: Readable;
  /** Where stdin goes; null when the daemon answered 200 instead of upgrading. */
  input: Duplex | null;
  /** Half-close: tell the daemon stdin is finished but keep reading its output. */
  closeWrite(): void;
  /** Tear the connection down. */
  destroy(): void;
  /** Response headers (Content-Type tells raw TTY bytes from the multiplexed stream). */
  headers: Headers;
}

export function parseHost(host: string): Address {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(?:tcp|http):\/\/([^:/]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 2375 };
  throw new ConnectError(`invalid host address "${host}": want unix:///path or tcp://host:port`);
}

export function buildQuery(query?: Query): string {
  if (!query) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null) continue;
    const vals = Array.isArray(v) ? v : [v];
    for (const one of vals as unknown[]) {
      const s = typeof one === 'boolean' ? (one ? '1' : '0') : String(one);
      parts.push(`${encodeURIComponent(k)}=${encodeURIComponent(s)}`);
    }
  }
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Encode a path segment the user typed (container names and ids). */
export const seg = (s: string) => encodeURIComponent(s);
/** Image references keep their "/" (the API routes /images/{name:.*}/json). */
export const imageSeg = (s: string) => s.split('/').map(encodeURIComponent).join('/');

export async function readBody(res: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export class Client {
  private readonly addr: Address;

  constructor(readonly host: string = DEFAULT_HOST) {
    this.addr = parseHost(host);
  }

  /** Send a request; resolves once the response head is in and the status is a success. */
  async request(opts: RequestOptions): Promise<Response> {
    const res = await this.open(opts);
    if (!(res instanceof Response)) {
      res.socket.destroy();
      throw new Error(`the daemon switched protocols for ${opts.method} ${opts.path}, which asked for no upgrade`);
    }
    if (res.statusCode >= 400) throw await toApiError(res);
    return res;
  }

  /** A JSON request with a JSON (or empty) answer. */
  async json<T = unknown>(method: string, path: string, query?: Query, body?: unknown, apiVersion?: string): Promise<T> {
    const res = await this.request({ method, path, query, body, apiVersion });
    const buf = await readBody(res);
    if (buf.length === 0) return undefined as T;
    try {
      return JSON.parse(buf.toString('utf8')) as T;
    } catch {
      throw new Error(`invalid JSON from daemon for ${method} ${path}: ${buf.toString('utf8').slice(0, 200)}`);
    }
  }

  /** A request whose answer is discarded (204s: start, stop, kill, …). */
  async call(method: string, path: string, query?: Query, body?: unknown, apiVersion?: string): Promise<number> {
    const res = await this.request({ method, path, query, body, apiVersion });
    res.resume();
    return res.statusCode;
  }

  /**
   * Hijack: ask for `Upgrade: tcp` and take the raw socket after `101 UPGRADED`, as the
   * docker client does for attach and exec. A daemon that answers a plain 200 instead
   * gets its body streamed as output (stdin then cannot be sent).
   */
  async hijack(method: string, path: string, query?: Query, body?: unknown, apiVersion?: string): Promise<Hijacked> {
    const res = await this.open({ method, path, query, body, apiVersion, headers: { Connection: 'Upgrade', Upgrade: 'tcp' } });
    if (!(res instanceof Response)) {
      const { socket, head } = res;
      // Bytes already read past the head belong to the stream: replay them first.
      if (head.length) socket.unshift(head);
      return {
        output: socket,
        input: socket,
        headers: res.headers,
        closeWrite: () => { if (!socket.writableEnded) socket.end(); },
        destroy: () => socket.destroy(),
      };
    }
    if (res.statusCode >= 400) throw await toApiError(res);
    return { output: res, input: null, headers: res.headers, closeWrite: () => {}, destroy: () => res.destroy() };
  }

  private async open(opts: RequestOptions): Promise<Response | Upgraded> {
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...opts.headers };
    const body = opts.body;
    if (body !== undefined && !isReadable(body) && !Buffer.isBuffer(body)) {
      headers['Content-Type'] = 'application/json';
    } else if (opts.contentType) {
      headers['Content-Type'] = opts.contentType;
    }
    try {
      return await send(this.addr, {
        method: opts.method,
        path: `/v${opts.apiVersion ?? API_VERSION}${opts.path}${buildQuery(opts.query)}`,
        headers,
        // Streamed uploads (image load from stdin) go chunked.
        body: body === undefined || isReadable(body) || Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body)),
      });
    } catch (err) {
      throw this.connectError(err as NodeJS.ErrnoException);
    }
  }

  private connectError(err: NodeJS.ErrnoException): Error {
    switch (err.code) {
      case 'ENOENT':
      case 'ECONNREFUSED':
      case 'ENOTSOCK':
      case 'EHOSTUNREACH':
        return new ConnectError(`Cannot connect to the tsula daemon at ${this.host}. Is tsulad running?`, err.code);
      case 'EACCES':
      case 'EPERM':
        return new ConnectError(
          `permission denied while trying to connect to the tsula daemon socket at ${this.host}: ${err.message}`,
          err.code);
      default:
        return err;
    }
  }
}

function isReadable(v: unknown): v is Readable {
  return typeof v === 'object' && v !== null && typeof (v as Readable).pipe === 'function'
    && typeof (v as Readable).on === 'function' && !Buffer.isBuffer(v);
}

/** Turn an error response into ApiError, preferring the daemon's {"message"} text. */
export async function toApiError(res: Response): Promise<ApiError> {
  const status = res.statusCode;
  const text = (await readBody(res)).toString('utf8').trim();
  let message = text;
  if (text.startsWith('{')) {
    try {
      const obj = JSON.parse(text) as { message?: unknown };
      if (typeof obj.message === 'string') message = obj.message;
    } catch {
      // Not JSON after all: the text itself is the best message there is.
    }
  }
  if (!message) {
    message = `request returned ${res.statusMessage || status} for API route and version ` +
      `${API_VERSION}, check if the server supports the requested API version`;
  }
  return new ApiError(status, message);
}

/** Split a stream into lines (without the newline); a last unterminated line is kept. */
export async function* lines(src: Readable): AsyncGenerator<string> {
  let rest = '';
  src.setEncoding('utf8');
  for await (const chunk of src) {
    rest += chunk as string;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) yield rest;
}

/** Read a JSON-lines stream (events, image load/pull progress), one object per line. */
export async function* jsonLines(src: Readable): AsyncGenerator<Record<string, unknown>> {
  for await (const line of lines(src)) {
    const t = line.trim();
    if (!t) continue;
    try {
      yield JSON.parse(t) as Record<string, unknown>;
    } catch {
      throw new Error(`invalid JSON in stream from daemon: ${t.slice(0, 200)}`);
    }
  }
}
