// A bare SPDY/3.1 client for tests that need what crictl never does (older subprotocols,
// malformed streams, a client that stalls): raw HTTP upgrade on a TCP socket, then frames
// from src/cri/streaming/spdy, recording everything the server sends per stream.
import * as net from 'node:net';
import { FrameParser, encodeFrame, FLAG_FIN, type Frame } from '../../src/cri/streaming/spdy/frames.js';
import { HeaderCompressor, HeaderDecompressor } from '../../src/cri/streaming/spdy/headers.js';

export interface StreamRecord { replied: boolean; data: Buffer[]; fin: boolean; rst?: number }

export interface HttpAnswer {
  status: number;
  headers: Array<[string, string]>;
  body: string;
  client?: SpdyTestClient;
}

/** Sends the request; a 101 yields a client on the upgraded socket, anything else its body. */
export function request(url: string, opts: { method?: string; protocols?: string[]; upgrade?: boolean } = {}): Promise<HttpAnswer> {
  const u = new URL(url);
  const lines = [`${opts.method ?? 'POST'} ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, 'Content-Length: 0'];
  if (opts.upgrade ?? true) lines.push('Connection: Upgrade', 'Upgrade: SPDY/3.1');
  for (const p of opts.protocols ?? []) lines.push(`X-Stream-Protocol-Version: ${p}`);
  const socket = net.connect(Number(u.port), u.hostname);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const [statusLine, ...rest] = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(statusLine!.split(' ')[1]);
      const headers = rest.map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as [string, string]);
      const after = buf.subarray(end + 4);
      socket.off('data', onData);
      if (status === 101) return resolve({ status, headers, body: '', client: new SpdyTestClient(socket, after) });
      let body = after.toString();
      socket.on('data', (x: Buffer) => { body += x.toString(); });
      socket.on('close', () => resolve({ status, headers, body }));
    };
    socket.on('data', onData);
    socket.on('error', reject);
  });
}

export class SpdyTestClient {
  readonly streams = new Map<number, StreamRecord>();
  readonly pings: number[] = [];
  goAway: Extract<Frame, { type: 'goaway' }> | undefined;
  closed = false;
  private nextId = 1;
  private readonly parser = new FrameParser();
  private readonly compressor = new HeaderCompressor();
  private readonly decompressor = new HeaderDecompressor();

  constructor(readonly socket: net.Socket, head: Buffer) {
    socket.on('data', (d: Buffer) => this.onBytes(d));
    socket.on('close', () => { this.closed = true; this.decompressor.close(); });
    socket.on('error', () => {});
    if (head.length) this.onBytes(head);
  }

  /** SYN_STREAM with these headers; the new stream's id. */
  open(headers: Record<string, string>, opts: { id?: number } = {}): number {
    const id = opts.id ?? this.nextId;
    this.nextId = id + 2;
    this.streams.set(id, { replied: false, data: [], fin: false });
    const h = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), [v]]));
    this.send({ type: 'syn_stream', streamId: id, associatedId: 0, priority: 0, slot: 0, flags: 0, headerBlock: this.compressor.compress(h) });
    return id;
  }

  write(id: number, data: Buffer | string, fin = false): void {
    this.send({ type: 'data', streamId: id, flags: fin ? FLAG_FIN : 0, data: Buffer.from(data) });
  }

  send(f: Frame): void {
    this.socket.write(encodeFrame(f));
  }

  text(id: number): string {
    return Buffer.concat(this.streams.get(id)?.data ?? []).toString();
  }

  close(): void {
    this.socket.destroy();
  }

  private onBytes(d: Buffer): void {
    for (const f of this.parser.push(d)) {
      const s = 'streamId' in f ? this.streams.get(f.streamId) : undefined;
      switch (f.type) {
        case 'syn_reply':
          void this.decompressor.decode(f.headerBlock).catch(() => {});
          if (s) s.replied = true;
          break;
        case 'data':
          if (s) { s.data.push(Buffer.from(f.data)); if (f.flags & FLAG_FIN) s.fin = true; }
          break;
        case 'rst_stream':
          if (s) s.rst = f.status;
          break;
        case 'ping': this.pings.push(f.id); break;
        case 'goaway': this.goAway = f; break;
        default: break;
      }
    }
  }
}

/** Polls `pred` every 10 ms. */
export async function until(pred: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
