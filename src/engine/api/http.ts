// HTTP plumbing for the Docker-shaped API: routing, JSON bodies, errors as {"message"},
// docker's 8-byte stream framing, and connection hijacking for attach/exec.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { httpStatus, errorMessage, invalidArgument } from '../../common/errors.js';
import { decodeJsonBody } from '../../common/go-json-syntax.js';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse | null;      // null when the connection was upgraded
  params: string[];
  query: URLSearchParams;
  /** Raw connection after an Upgrade (attach, exec start). */
  upgraded?: { socket: Duplex; head: Buffer };
  /** The API version asked for by the path's /vX.Y/ prefix; the newest served when it has none (dockerd's default). */
  version: string;
}

export type Handler = (ctx: Ctx) => Promise<void>;

export class Router {
  private routes: Array<{ method: string; re: RegExp; h: Handler }> = [];

  add(method: string, pattern: string, h: Handler): void {
    // "{x}" matches one path segment; "{x*}" matches the rest (image names have slashes)
    const re = new RegExp('^' + pattern.replace(/\{\w+\*\}/g, '(.+)').replace(/\{\w+\}/g, '([^/]+)') + '$');
    this.routes.push({ method, re, h });
  }

  match(method: string, pathname: string): { h: Handler; params: string[] } | 'method' | null {
    let methodMismatch = false;
    for (const r of this.routes) {
      const m = r.re.exec(pathname);
      if (!m) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) { methodMismatch = true; continue; }
      return { h: r.h, params: m.slice(1).map(decodeURIComponent) };
    }
    return methodMismatch ? 'method' : null;
  }
}

/** A JSON answer; given the request, the connection stays until its upload is in (endAfterRequest). */
export function sendJson(res: ServerResponse, status: number, body: unknown, req?: IncomingMessage): void {
  const text = jsonText(body) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  if (req) endAfterRequest(req, res, text);
  else res.end(text);
}

/**
 * JSON.stringify, with bigints written as exact integers (Go's uint64 fields: a network's
 * IPv6 address counts), which JSON.stringify refuses; only bodies holding one pay for it.
 */
export function jsonText(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (e) {
    if (!(e instanceof TypeError) || !/BigInt/i.test(e.message)) throw e;
    const mark = '\u0000bigint:';
    return JSON.stringify(body, (_k, v: unknown) => (typeof v === 'bigint' ? `${mark}${v}` : v))
      .replace(/"\\u0000bigint:(\d+)"/g, '$1');
  }
}

export function sendStatus(res: ServerResponse, status: number): void {
  res.writeHead(status);
  res.end();
}

/**
 * An error answer. With the request, one refused before its body was read (a load of a bad
 * archive, a build context) is answered at once but the connection stays until the upload
 * is in: closing it under a client still writing fails that client with EPIPE before it
 * reads the answer.
 */
export function sendError(res: ServerResponse, err: unknown, req?: IncomingMessage): void {
  if (res.headersSent) { res.destroy(); return; }
  sendJson(res, httpStatus(err), { message: errorMessage(err) }, req);
}

/** How long an answered request may go on uploading before its connection is closed. */
const DRAIN_MS = 30_000;

/**
 * End a response once the request's body has been read (and dropped), as Go's net/http
 * drains before closing; bounded, so an endless upload cannot hold the connection.
 */
export function endAfterRequest(req: IncomingMessage, res: ServerResponse, last?: string | Buffer): void {
  if (req.complete || req.destroyed) { res.end(last); return; }
  if (last !== undefined) res.write(last);
  const done = () => {
    clearTimeout(timer);
    req.off('end', done).off('close', done);
    if (!res.writableEnded) res.end();
  };
  const timer = setTimeout(done, DRAIN_MS).unref();
  req.on('end', done).on('close', done);
  req.resume();
}

export async function readBody(req: IncomingMessage, limit = 4 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > limit) throw invalidArgument(`request body too large (over ${limit} bytes)`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * A JSON body; none is {}. With checkType, one of another Content-Type (or none) is refused,
 * on the routes where dockerd's handlers call CheckForJSON / ReadJSON (create, update, exec
 * and its start, commit, networks, volumes), not on auth's. Bad JSON in Go's words.
 */
export async function readJsonBody(req: IncomingMessage, o: { checkType?: boolean } = {}): Promise<unknown> {
  const buf = await readBody(req);
  if (!buf.length) return {};
  if (o.checkType) checkJsonType(req);
  return decodeJsonBody(buf, invalidArgument);
}

/** dockerd 25+'s CheckForJSON for a request with a body (mime.ParseMediaType's "no media type" for none). */
function checkJsonType(req: IncomingMessage): void {
  const type = req.headers['content-type'] ?? '';
  if (!type.trim()) throw invalidArgument('malformed Content-Type header (): mime: no media type');
  if (type.split(';')[0]!.trim().toLowerCase() !== 'application/json') {
    throw invalidArgument(`unsupported Content-Type header (${type}): must be 'application/json'`);
  }
}

export function boolParam(q: URLSearchParams, name: string): boolean {
  const v = q.get(name);
  return v !== null && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

export function intParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid value for ${name}: "${v}"`);
  return n;
}

/**
 * A TTY size from dockerd's resize (`h` or `w`): decimal, 0 to 2^32-1, else a 400 in dockerd
 * 25+'s words (`invalid resize height "-100": value out of range`); the console takes the
 * low 16 bits.
 */
export function resizeParam(q: URLSearchParams, name: 'h' | 'w'): number {
  const v = q.get(name) ?? '';
  const what = name === 'h' ? 'height' : 'width';
  if (!/^[+-]?\d+$/.test(v)) throw invalidArgument(`invalid resize ${what} ${JSON.stringify(v)}: invalid syntax`);
  const n = BigInt(v);
  if (n < 0n || n > 0xffffffffn) throw invalidArgument(`invalid resize ${what} ${JSON.stringify(v)}: value out of range`);
  return Number(n & 0xffffn);
}

/** Docker's multiplexed stream frame: [stream, 0, 0, 0, len BE32] payload. */
export function frame(stream: 0 | 1 | 2, data: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(data.length, 4);
  return Buffer.concat([h, data]);
}

/** A hijacked or streamed connection the engine pumps a process' stdio through. */
export interface RawStream {
  /** false: the client has not read what was written so far (onDrain says when it has). */
  write(data: Buffer): boolean | void;
  /** Once, when what was written has gone to the client, or the connection went. */
  onDrain?(cb: () => void): void;
  end(): void;
  onInput(cb: (d: Buffer) => void): void;
  /** The client half-closed (docker's CloseWrite after its stdin's EOF), or left. */
  onInputEnd(cb: () => void): void;
  /** The connection is gone: the client closed it, or a write found it closed. */
  onClose(cb: () => void): void;
}

/**
 * Switch the connection to raw mode: 101 for an Upgrade, else a streamed 200. The headers
 * go out at once, in a write of their own: a client that reads them through a buffered
 * reader and then takes the bare socket (the docker CLI does) loses what came in the same
 * read. The client's input, its end and the connection's close are remembered from here
 * on, so a callback registered later (after an attach waited for a start) still hears of
 * what happened before.
 *
 * A half-close is not a client that left: the docker CLI half-closes at once when it sends
 * no stdin, and reads on. A client that closed for good is found by an empty write, which a
 * unix socket refuses (EPIPE) only once the peer is gone (over TCP the next output finds it).
 */
export function hijack(ctx: Ctx, bodyPrefix: Buffer<ArrayBufferLike> = Buffer.alloc(0), multiplexed = false): RawStream {
  const contentType = multiplexed ? 'application/vnd.docker.multiplexed-stream' : 'application/vnd.docker.raw-stream';
  let inputEnded = false;
  let closed = false;
  const endCbs: Array<() => void> = [];
  const closeCbs: Array<() => void> = [];
  const onEnd = () => { inputEnded = true; for (const cb of endCbs.splice(0)) cb(); };
  const onClose = () => { closed = true; for (const cb of closeCbs.splice(0)) cb(); };
  const later = {
    onInputEnd: (cb: () => void) => { if (inputEnded) cb(); else endCbs.push(cb); },
    onClose: (cb: () => void) => { if (closed) cb(); else closeCbs.push(cb); },
  };
  if (ctx.upgraded) {
    const { socket } = ctx.upgraded;
    // output waits until the 101 is out on its own
    let queued: Buffer[] | null = [];
    let endQueued = false;
    const send = (d: Buffer): boolean => (!socket.destroyed && socket.writable ? socket.write(d) : true);
    const finish = () => { if (!socket.destroyed) socket.end(); };
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`, () => {
      const q = queued ?? [];
      queued = null;
      for (const d of q) send(d);
      if (endQueued) finish();
    });
    const inputCbs: Array<(d: Buffer) => void> = [];
    let pending: Buffer<ArrayBufferLike>[] = bodyPrefix.length ? [bodyPrefix] : [];
    socket.on('data', (d: Buffer) => { if (inputCbs.length) for (const cb of inputCbs) cb(d); else pending.push(d); });
    socket.on('end', () => {
      if (!socket.destroyed && socket.writable) socket.write(Buffer.alloc(0)); // gone for good? (EPIPE: close)
      onEnd();
    });
    socket.on('close', onClose);
    // readUpgradedBody paused it if the body came in reads of its own (docker 28 sends it so
    // at times): a 'data' listener does not undo an explicit pause, and stdin, its end and
    // the client's close would never be heard
    socket.resume();
    if (socket.destroyed) onClose();
    return {
      write: (d) => { if (queued) { queued.push(d); return true; } return send(d); },
      onDrain: (cb) => onceOf(socket, ['drain', 'close'], cb),
      end: () => { if (queued) endQueued = true; else finish(); },
      onInput: (cb) => { inputCbs.push(cb); for (const d of pending) cb(d); pending = []; },
      ...later,
    };
  }
  const res = ctx.res!;
  // the connection ends with the stream, as dockerd's hijacked one does: raw bytes after
  // the headers, not chunks
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, { 'Content-Type': contentType, Connection: 'close' });
  res.flushHeaders();
  ctx.req.on('end', onEnd);
  res.on('close', onClose);
  return {
    write: (d) => (res.writableEnded ? true : res.write(d)),
    onDrain: (cb) => onceOf(res, ['drain', 'close'], cb),
    end: () => { if (!res.writableEnded) res.end(); },
    onInput: (cb) => { ctx.req.on('data', cb); },
    ...later,
  };
}

/** cb once, at the first of `events` (its listeners then removed). */
function onceOf(em: NodeJS.EventEmitter, events: string[], cb: () => void): void {
  const fire = () => { for (const e of events) em.off(e, fire); cb(); };
  for (const e of events) em.on(e, fire);
}

/** For an upgraded POST with a JSON body (exec start): split the body from stdin bytes. */
export async function readUpgradedBody(ctx: Ctx): Promise<{ body: unknown; rest: Buffer }> {
  const len = Number(ctx.req.headers['content-length'] ?? 0);
  if (len > 0) checkJsonType(ctx.req);
  const { socket, head } = ctx.upgraded!;
  let buf = head;
  while (buf.length < len) {
    const chunk = await new Promise<Buffer | null>((resolve) => {
      const onData = (d: Buffer) => { cleanup(); resolve(d); };
      const onEnd = () => { cleanup(); resolve(null); };
      const cleanup = () => { socket.off('data', onData); socket.off('end', onEnd); socket.pause(); };
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.resume();
    });
    if (!chunk) break;
    buf = Buffer.concat([buf, chunk]);
  }
  const text = buf.subarray(0, len).toString('utf8');
  let body: unknown = {};
  if (text.trim()) body = decodeJsonBody(buf.subarray(0, len), invalidArgument);
  return { body, rest: buf.subarray(len) };
}
