// The CLI's HTTP/1.1: one request per connection (Connection: close, or an upgrade), over
// node:net. Why not node:http: Node 20 can't hold node:http in a startup snapshot, and its
// client compiles ~7 ms of functions lazily on a process's first request (a `tsula ps` makes
// one); this file is in the CLI's snapshot with its functions already compiled (see
// src/bin/tsula-snapshot.ts). It speaks what tsulad and dockerd send: a status line and
// headers, then a body framed by Content-Length, chunked, or the connection's close, or a
// 101 after which the socket is the caller's.
import net from 'node:net';
import { Readable } from 'node:stream';

/** Header names in lower case; a repeated header's values joined with ", " (as node does). */
export type Headers = Record<string, string | undefined>;

export interface Address {
  socketPath?: string;
  host?: string;
  port?: number;
}

export interface Request {
  method: string;
  /** The request target: path and query, already encoded. */
  path: string;
  headers: Record<string, string>;
  /** A Buffer goes with its Content-Length; a stream goes chunked; none: Content-Length 0. */
  body?: Buffer | Readable;
}

export interface Head {
  statusCode: number;
  statusMessage: string;
  headers: Headers;
}

/** A response body as a stream, with its head. Destroying it closes the connection. */
export class Response extends Readable implements Head {
  constructor(readonly statusCode: number, readonly statusMessage: string, readonly headers: Headers, private readonly socket: net.Socket) {
    super();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

/** A 101: the socket is the caller's, with the bytes read past the head (`head`) to replay. */
export interface Upgraded extends Head {
  socket: net.Socket;
  head: Buffer;
}

const MAX_HEAD = 64 * 1024;

/** What a ResponseParser hands on; `head` returns true to stop parsing (an upgrade). */
export interface ParserSink {
  head(h: Head): boolean;
  data(b: Buffer): void;
  end(): void;
}

/**
 * An HTTP/1.1 response parser fed with bytes as they arrive: 1xx heads other than 101 are
 * skipped; a body is framed by chunked transfer coding, Content-Length, or the end of the
 * connection (`finish`). Malformed input throws.
 */
export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private state: 'head' | 'length' | 'size' | 'chunk' | 'chunk-end' | 'trailer' | 'close' | 'done' = 'head';
  private left = 0;

  constructor(private readonly sink: ParserSink, private readonly noBody = false) {}

  get done(): boolean {
    return this.state === 'done';
  }

  /** Take bytes; after an upgrade head, returns the bytes that follow it. */
  push(chunk: Buffer): Buffer | undefined {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length && this.state !== 'done') {
      if (this.state === 'head') {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > MAX_HEAD) throw new Error(`response head larger than ${MAX_HEAD} bytes`);
          return undefined;
        }
        const h = parseHead(this.buf.subarray(0, end).toString('latin1'));
        this.buf = this.buf.subarray(end + 4);
        if (h.statusCode >= 100 && h.statusCode < 200 && h.statusCode !== 101) continue;
        if (this.sink.head(h)) {
          this.state = 'done';
          return this.buf;
        }
        this.state = bodyState(h, this.noBody);
        if (this.state === 'length') this.left = Number(h.headers['content-length']);
        if (this.state === 'length' && this.left === 0) this.state = 'done';
        if (this.state === 'done') this.sink.end();
      } else if (this.state === 'length' || this.state === 'chunk') {
        const n = Math.min(this.left, this.buf.length);
        this.sink.data(this.buf.subarray(0, n));
        this.buf = this.buf.subarray(n);
        this.left -= n;
        if (this.left === 0) {
          this.state = this.state === 'chunk' ? 'chunk-end' : 'done';
          if (this.state === 'done') this.sink.end();
        }
      } else if (this.state === 'chunk-end') {
        if (this.buf.length < 2) return undefined;
        if (this.buf[0] !== 0x0d || this.buf[1] !== 0x0a) throw new Error('malformed chunked body: no CRLF after a chunk');
        this.buf = this.buf.subarray(2);
        this.state = 'size';
      } else if (this.state === 'close') {
        this.sink.data(this.buf);
        this.buf = Buffer.alloc(0);
      } else {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) {
          if (this.buf.length > MAX_HEAD) throw new Error('malformed chunked body: line too long');
          return undefined;
        }
        const line = this.buf.subarray(0, nl).toString('latin1');
        this.buf = this.buf.subarray(nl + 2);
        if (this.state === 'size') {
          const m = /^([0-9a-fA-F]{1,8})[ \t]*(?:;.*)?$/.exec(line);
          if (!m) throw new Error(`malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
          this.left = parseInt(m[1]!, 16);
          this.state = this.left === 0 ? 'trailer' : 'chunk';
        } else if (line === '') { // the end of the (ignored) trailer
          this.state = 'done';
          this.sink.end();
        }
      }
    }
    return undefined;
  }

  /** The connection ended: the end of a close-delimited body, or a truncated response. */
  finish(): void {
    if (this.state === 'done') return;
    if (this.state === 'close') {
      this.state = 'done';
      this.sink.end();
      return;
    }
    throw new Error(this.state === 'head' ? 'the daemon closed the connection without an answer' : 'the daemon closed the connection in the middle of its answer');
  }
}

function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!m) throw new Error(`malformed response status line ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const headers: Headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed response header ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { statusCode: Number(m[1]), statusMessage: m[2] ?? '', headers };
}

function bodyState(h: Head, noBody: boolean): 'length' | 'size' | 'close' | 'done' {
  if (noBody || h.statusCode === 204 || h.statusCode === 304) return 'done';
  if (/(?:^|,)\s*chunked\s*$/i.test(h.headers['transfer-encoding'] ?? '')) return 'size';
  const len = h.headers['content-length'];
  if (len !== undefined) {
    if (!/^\d{1,15}$/.test(len)) throw new Error(`malformed Content-Length ${JSON.stringify(len)}`);
    return 'length';
  }
  return 'close';
}

/**
 * Send one request on a new connection. Resolves at the response head: a Response to read
 * (the connection closes after it), or, for a 101, the socket. Rejects with the socket's
 * own error (its code: ENOENT, ECONNREFUSED, …) when there is no answer.
 */
export function send(addr: Address, req: Request): Promise<Response | Upgraded> {
  // what node's http refuses too: a line break would end the head early
  const bad = [req.path, ...Object.entries(req.headers).flat()].find((x) => /[\r\n]/.test(x));
  if (bad !== undefined) return Promise.reject(new Error(`invalid character in HTTP request: ${JSON.stringify(bad.slice(0, 80))}`));
  return new Promise((resolve, reject) => {
    const socket = addr.socketPath !== undefined
      ? net.createConnection({ path: addr.socketPath })
      : net.createConnection({ host: addr.host ?? 'localhost', port: addr.port ?? 2375 });
    let res: Response | undefined;
    let upgrade: Head | undefined;
    const fail = (err: Error) => {
      // a whole answer came before the upload's end (an error the daemon gave at once): the
      // write the daemon no longer read (EPIPE) is not what the caller needs to hear
      if (res && parser.done) return void socket.destroy();
      if (res) res.destroy(err);
      else reject(err);
      socket.destroy();
    };
    let stopUpload = () => {};
    const parser = new ResponseParser({
      head: (h) => {
        if (h.statusCode === 101) {
          upgrade = h;
          return true;
        }
        res = new Response(h.statusCode, h.statusMessage, h.headers, socket);
        // a refusal before the whole upload: the daemon takes no more of it (docker's client
        // reads the answer, it does not report its own broken write); a 200 may come first
        // and the upload go on (load's progress)
        if (h.statusCode >= 400) stopUpload();
        resolve(res);
        return false;
      },
      data: (b) => { if (!res!.push(b)) socket.pause(); },
      end: () => {
        res!.push(null);
        socket.destroy();
      },
    }, req.method === 'HEAD');
    const onData = (chunk: Buffer) => {
      let rest: Buffer | undefined;
      try {
        rest = parser.push(chunk);
      } catch (err) {
        fail(err as Error);
        return;
      }
      if (rest === undefined) return;
      // the 101: from here on the bytes are the caller's
      socket.pause();
      socket.off('data', onData).off('end', onEnd).off('error', fail);
      // neither flowing nor paused by anyone: the caller's first 'data' listener starts it
      // (node's own http client hands an upgraded socket over the same way)
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
      resolve({ ...upgrade!, socket, head: rest });
    };
    const onEnd = () => {
      try {
        parser.finish();
      } catch (err) {
        fail(Object.assign(err as Error, { code: 'ECONNRESET' }));
      }
    };
    socket.on('data', onData).on('end', onEnd).on('error', fail);
    socket.on('close', () => { if (!parser.done) onEnd(); });
    stopUpload = writeRequest(socket, addr, req);
  });
}

/** Write the request; the function returned stops a streamed body's upload. */
function writeRequest(socket: net.Socket, addr: Address, req: Request): () => void {
  const host = addr.socketPath !== undefined ? 'localhost' : addr.port ? `${addr.host}:${addr.port}` : addr.host;
  let head = `${req.method} ${req.path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(req.headers)) head += `${k}: ${v}\r\n`;
  if (!/^upgrade$/i.test(req.headers.Connection ?? '')) head += 'Connection: close\r\n';
  const body = req.body;
  if (body === undefined || Buffer.isBuffer(body)) {
    head += `Content-Length: ${body?.length ?? 0}\r\n\r\n`;
    socket.write(body?.length ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
    return () => {};
  }
  // a stream goes chunked, unless the caller gave its length (a file)
  const sized = Object.keys(req.headers).some((k) => k.toLowerCase() === 'content-length');
  socket.write(sized ? `${head}\r\n` : `${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1');
  const onData = (c: Buffer | string) => {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    if (!b.length) return;
    let more: boolean;
    if (sized) {
      more = socket.write(b);
    } else {
      socket.cork();
      socket.write(`${b.length.toString(16)}\r\n`);
      socket.write(b);
      more = socket.write('\r\n');
      socket.uncork();
    }
    if (!more) {
      body.pause();
      socket.once('drain', () => body.resume());
    }
  };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    body.off('data', onData);
    body.pause();
  };
  body.on('data', onData);
  // an answer before the whole upload (an error): stop reading what no one will take
  socket.once('close', stop);
  body.once('end', () => { if (!sized && !stopped) socket.write('0\r\n\r\n'); });
  body.once('error', (err) => socket.destroy(err));
  return stop;
}
