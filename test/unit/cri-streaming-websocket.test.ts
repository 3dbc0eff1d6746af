// The WebSocket transport of the streaming server: RFC 6455 framing and reassembly, the
// handshake's answers (x/net/websocket's, with wsstream's subprotocol choice), wsstream's
// channel codecs, and a connection driven by a bare client of masked frames: fragments,
// pings, close codes, the size bound, and sessions of the StreamingServer over a fake runtime.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import {
  CloseCode, FrameParser, MessageAssembler, Opcode, WsProtocolError, encodeFrame, parseClose,
} from '../../src/common/websocket/frames.js';
import { acceptKey, chooseProtocol } from '../../src/common/websocket/handshake.js';
import { decodeChannelMessage, encodeChannelMessage } from '../../src/cri/streaming/websocket/channels.js';
import { WsConnection } from '../../src/common/websocket/connection.js';
import { StreamingServer, type StreamingRuntime } from '../../src/cri/streaming/index.js';

/** A client frame: masked with a random key. */
function masked(opcode: number, payload: Buffer | string, fin = true): Buffer {
  const p = Buffer.from(payload);
  const key = randomBytes(4);
  const n = p.length;
  const head = n < 126 ? Buffer.from([0, n]) : n < 0x10000 ? Buffer.from([0, 126, n >> 8, n & 255]) : Buffer.concat([Buffer.from([0, 127]), Buffer.alloc(8)]);
  if (n >= 0x10000) head.writeBigUInt64BE(BigInt(n), 2);
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1]! |= 0x80;
  return Buffer.concat([head, key, Buffer.from(p.map((b, i) => b ^ key[i & 3]!))]);
}

const protocolError = (code: number) => (e: unknown) => e instanceof WsProtocolError && e.code === code;

test('frames: the three length forms, and server frames are never masked', () => {
  assert.deepEqual([...encodeFrame(Opcode.Binary, Buffer.alloc(125)).subarray(0, 2)], [0x82, 125]);
  assert.deepEqual([...encodeFrame(Opcode.Text, Buffer.alloc(126)).subarray(0, 4)], [0x81, 126, 0, 126]);
  assert.deepEqual([...encodeFrame(Opcode.Binary, Buffer.alloc(65535)).subarray(0, 4)], [0x82, 126, 255, 255]);
  const big = encodeFrame(Opcode.Binary, Buffer.alloc(65536));
  assert.deepEqual([...big.subarray(0, 10)], [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
  assert.equal(big.length, 65546);
  assert.deepEqual([...encodeFrame(Opcode.Close, Buffer.from([3, 232]), true)], [0x88, 2, 3, 232]);
});

test('parser: unmasks, takes frames cut anywhere, refuses what RFC 6455 forbids', () => {
  const p = new FrameParser(1 << 20);
  const bytes = Buffer.concat([masked(Opcode.Binary, 'hello'), masked(Opcode.Text, 'x'.repeat(300)), masked(Opcode.Ping, 'p')]);
  const frames = [];
  for (let i = 0; i < bytes.length; i += 7) frames.push(...p.push(bytes.subarray(i, i + 7)));
  assert.deepEqual(frames.map((f) => [f.opcode, f.fin, f.payload.length]), [[2, true, 5], [1, true, 300], [9, true, 1]]);
  assert.equal(frames[0]!.payload.toString(), 'hello');

  const unmasked = encodeFrame(Opcode.Binary, Buffer.from('a'));
  assert.throws(() => [...new FrameParser(100).push(unmasked)], protocolError(CloseCode.ProtocolError));
  const rsv = masked(Opcode.Binary, 'a');
  rsv[0]! |= 0x40;
  assert.throws(() => [...new FrameParser(100).push(rsv)], protocolError(CloseCode.ProtocolError));
  assert.throws(() => [...new FrameParser(100).push(masked(3, 'a'))], protocolError(CloseCode.ProtocolError));
  assert.throws(() => [...new FrameParser(1000).push(masked(Opcode.Ping, Buffer.alloc(126)))], protocolError(CloseCode.ProtocolError));
  assert.throws(() => [...new FrameParser(1000).push(masked(Opcode.Ping, 'a', false))], protocolError(CloseCode.ProtocolError));
  // Too big is known from the header alone: refused before the payload is there.
  assert.throws(() => [...new FrameParser(1000).push(masked(Opcode.Binary, Buffer.alloc(2000)).subarray(0, 8))], protocolError(CloseCode.TooBig));
});

test('parser: a large frame in small chunks is copied once, not once per chunk; what follows it in the last chunk is kept', () => {
  const p = new FrameParser(64 << 20);
  const data = randomBytes(8 << 20);
  const bytes = Buffer.concat([masked(Opcode.Binary, data), masked(Opcode.Text, 'next')]);
  const t0 = Date.now();
  const frames = [];
  for (let i = 0; i < bytes.length; i += 16 << 10) frames.push(...p.push(bytes.subarray(i, i + (16 << 10))));
  assert.ok(Date.now() - t0 < 2000, `${Date.now() - t0} ms for 8 MiB in 16 KiB chunks`);
  assert.equal(frames.length, 2);
  assert.ok(frames[0]!.payload.equals(data));
  assert.equal(frames[1]!.payload.toString(), 'next');
});

test('assembler: fragments joined around a ping; bad sequences, sizes and text refused', () => {
  const a = new MessageAssembler(10);
  const f = (opcode: number, s: string, fin: boolean) => ({ opcode, fin, payload: Buffer.from(s) });
  assert.equal(a.push(f(Opcode.Binary, 'ab', false)), undefined);
  assert.deepEqual(a.push(f(Opcode.Ping, 'x', true)), { type: 'ping', data: Buffer.from('x') });
  assert.equal(a.push(f(Opcode.Continuation, 'cd', false)), undefined);
  assert.deepEqual(a.push(f(Opcode.Continuation, 'e', true)), { type: 'binary', data: Buffer.from('abcde') });
  assert.deepEqual(a.push(f(Opcode.Text, 'héllo', true)), { type: 'text', data: Buffer.from('héllo') });

  assert.throws(() => new MessageAssembler(10).push(f(Opcode.Continuation, 'a', true)), protocolError(CloseCode.ProtocolError));
  const b = new MessageAssembler(10);
  b.push(f(Opcode.Text, 'a', false));
  assert.throws(() => b.push(f(Opcode.Binary, 'b', true)), protocolError(CloseCode.ProtocolError));
  const c = new MessageAssembler(10);
  c.push(f(Opcode.Binary, '123456', false));
  assert.throws(() => c.push(f(Opcode.Continuation, '78901', true)), protocolError(CloseCode.TooBig));
  assert.throws(() => new MessageAssembler(10).push({ opcode: Opcode.Text, fin: true, payload: Buffer.from([0xc3]) }), protocolError(CloseCode.InvalidPayload));
});

test('close payloads: no code is 1005, a lone byte or a reserved code is a protocol error', () => {
  assert.deepEqual(parseClose(Buffer.alloc(0)), { code: 1005, reason: '' });
  assert.deepEqual(parseClose(Buffer.from([3, 232, 0x62, 0x79, 0x65])), { code: 1000, reason: 'bye' });
  assert.deepEqual(parseClose(Buffer.from([0x0f, 0xa0])).code, 4000);
  assert.throws(() => parseClose(Buffer.from([3])), protocolError(CloseCode.ProtocolError));
  for (const code of [999, 1004, 1005, 1006, 1015, 2999, 5000]) {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(code);
    assert.throws(() => parseClose(b), protocolError(CloseCode.ProtocolError), String(code));
  }
  assert.throws(() => parseClose(Buffer.from([3, 232, 0xff])), protocolError(CloseCode.InvalidPayload));
});

test('handshake: RFC 6455\'s sample key, and wsstream\'s choice (client order, "" for no offer)', () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  const server = ['', 'channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'];
  assert.equal(chooseProtocol(['v6.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'], server), 'v4.channel.k8s.io');
  assert.equal(chooseProtocol([], server), '');
  assert.equal(chooseProtocol([], ['v4.channel.k8s.io']), undefined);
  assert.equal(chooseProtocol(['v3.channel.k8s.io'], server), undefined);
});

test('channels: a byte or an ASCII digit, base64 strict as Go\'s, v5\'s close signal', () => {
  const bin = { base64: false, closeSignal: false };
  const b64 = { base64: true, closeSignal: false };
  const v5 = { base64: false, closeSignal: true };
  assert.deepEqual(encodeChannelMessage(bin, 1, Buffer.from('hi')), { type: 'binary', data: Buffer.from([1, 104, 105]) });
  assert.deepEqual(encodeChannelMessage(b64, 3, Buffer.from('\n')), { type: 'text', data: Buffer.from('3Cg==') });
  assert.deepEqual(encodeChannelMessage(b64, 1, Buffer.alloc(0)), { type: 'text', data: Buffer.from('1') });

  assert.deepEqual(decodeChannelMessage(b64, 5, Buffer.from('0Zm9vCg==')), { kind: 'data', channel: 0, data: Buffer.from('foo\n') });
  assert.equal(decodeChannelMessage(b64, 5, Buffer.from('0Zm9vCg')).kind, 'skip', 'unpadded');
  assert.equal(decodeChannelMessage(b64, 5, Buffer.from('0Zm9v!g==')).kind, 'skip');
  assert.equal(decodeChannelMessage(b64, 5, Buffer.from('/Zm9v')).kind, 'skip', "below '0' is a channel too big");
  assert.equal(decodeChannelMessage(b64, 5, Buffer.from('0Zm9=vCg=')).kind, 'skip', 'padding inside');
  // a message of several MiB is checked without running out of stack
  const big = randomBytes(6 << 20);
  const m = decodeChannelMessage(b64, 5, Buffer.from(`0${big.toString('base64')}`, 'latin1'));
  assert.ok(m.kind === 'data' && m.data.equals(big));
  assert.deepEqual(decodeChannelMessage(bin, 5, Buffer.from([4, 1])), { kind: 'data', channel: 4, data: Buffer.from([1]) });
  assert.equal(decodeChannelMessage(bin, 5, Buffer.from([5, 1])).kind, 'skip');
  assert.equal(decodeChannelMessage(bin, 5, Buffer.alloc(0)).kind, 'skip');
  // Before v5, 255 is just a channel nobody has.
  assert.equal(decodeChannelMessage(bin, 5, Buffer.from([255, 0])).kind, 'skip');
  assert.deepEqual(decodeChannelMessage(v5, 5, Buffer.from([255, 0])), { kind: 'close', channel: 0 });
  assert.equal(decodeChannelMessage(v5, 5, Buffer.from([255, 0, 1])).kind, 'fail');
  assert.equal(decodeChannelMessage(v5, 5, Buffer.from([255, 9])).kind, 'fail');
});

// ---- a bare client over TCP -------------------------------------------------------------

interface Got { opcode: number; payload: Buffer }

class Client {
  readonly frames: Got[] = [];
  head = '';
  ended = false;
  private buf = Buffer.alloc(0);
  private upgraded = false;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('close', () => { this.ended = true; });
    socket.on('error', () => {});
  }

  static async connect(port: number, request: string): Promise<Client> {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const c = new Client(s);
    s.write(request);
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.buf.subarray(0, end + 4).toString();
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
      if (!this.head.startsWith('HTTP/1.1 101')) { this.head += this.buf.toString(); this.buf = Buffer.alloc(0); return; }
    }
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (this.buf.length < off + len) return;
      this.frames.push({ opcode: this.buf[0]! & 15, payload: this.buf.subarray(off, off + len) });
      this.buf = this.buf.subarray(off + len);
    }
  }

  send(b: Buffer): void { this.socket.write(b); }

  async until(what: string, ok: () => boolean): Promise<void> {
    for (let i = 0; i < 250 && !ok(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(ok(), `timed out waiting for ${what}`);
  }

  /** Output of one channel (binary protocols). */
  channel(n: number): string {
    return Buffer.concat(this.frames.filter((f) => f.opcode === 2 && f.payload[0] === n).map((f) => f.payload.subarray(1))).toString();
  }

  get close(): Got | undefined { return this.frames.find((f) => f.opcode === Opcode.Close); }
}

function upgradeRequest(url: string, o: { protocols?: string; method?: string; version?: string } = {}): string {
  const u = new URL(url);
  return `${o.method ?? 'GET'} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${o.version ?? '13'}\r\n`
    + (o.protocols !== undefined ? `Sec-WebSocket-Protocol: ${o.protocols}\r\n` : '') + '\r\n';
}

let stdinSeen = '';
const runtime: StreamingRuntime = {
  async exec(req, io) {
    if (req.cmd[0] === 'echo-stdin') {
      for await (const d of io.stdin!) stdinSeen += String(d);
      io.stdout!.write(`read ${stdinSeen.length}`);
      return { exitCode: 0 };
    }
    io.stdout!.write('x'.repeat(Number(req.cmd[1] ?? 0)));
    return { exitCode: Number(req.cmd[2] ?? 0) };
  },
  async attach() { throw new Error('no such container'); },
  async portForward() { throw new Error('connection refused'); },
};
const server = new StreamingServer({ runtime });
const clients: Client[] = [];
after(async () => {
  for (const c of clients) c.socket.destroy();
  await server.stop();
});
const started = server.start();
const exec = async (cmd: string[], stdin = false) => {
  await started;
  return server.getExec({ containerId: 'c', cmd, tty: false, stdin, stdout: true, stderr: false }).url;
};
async function open(url: string, o: Parameters<typeof upgradeRequest>[1] = {}): Promise<Client> {
  const c = await Client.connect(Number(new URL(url).port), upgradeRequest(url, o));
  clients.push(c);
  return c;
}

test('server: the 101 and x/net\'s refusals (403 bare, 405, a bad version)', async () => {
  const ok = await open(await exec(['out', '3']), { protocols: 'v3.channel.k8s.io, v4.channel.k8s.io' });
  await ok.until('the close', () => ok.close !== undefined);
  assert.equal(ok.head, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
    + 'Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n');
  assert.deepEqual(ok.frames.map((f) => [f.opcode, f.payload.toString('latin1')]), [
    [2, '\x01'], [2, '\x01xxx'], [2, '\x03{"metadata":{},"status":"Success"}'], [8, '\x03\xe8'],
  ]);

  const none = await open(await exec(['out']), { protocols: 'v3.channel.k8s.io' });
  await none.until('the refusal', () => none.ended);
  assert.equal(none.head, 'HTTP/1.1 403 Forbidden\r\n\r\n');
  const post = await open(await exec(['out']), { method: 'POST' });
  await post.until('the refusal', () => post.ended);
  assert.equal(post.head, 'HTTP/1.1 405 Method Not Allowed\r\n\r\nbad method');
  const v8 = await open(await exec(['out']), { version: '8' });
  await v8.until('the refusal', () => v8.ended);
  assert.equal(v8.head, 'HTTP/1.1 400 Bad Request\r\nSec-WebSocket-Version: 13\r\n\r\nmissing or bad WebSocket Version');
  // No subprotocol offered: channel.k8s.io, not named back, errors as text.
  const plain = await open(await exec(['out', '1', '4']));
  await plain.until('the close', () => plain.close !== undefined);
  assert.doesNotMatch(plain.head, /Sec-WebSocket-Protocol/i);
  assert.equal(plain.channel(3), 'command terminated with non-zero exit code: error executing command [out 1 4], exit code 4');
});

test('server: stdin in fragments around a ping (answered), ended by v5\'s close signal', async () => {
  stdinSeen = '';
  const c = await open(await exec(['echo-stdin'], true), { protocols: 'v5.channel.k8s.io' });
  await c.until('the first message', () => c.frames.length > 0);
  c.send(Buffer.concat([
    masked(Opcode.Binary, '\x00abc', false), masked(Opcode.Ping, 'are you there'),
    masked(Opcode.Continuation, 'def', true), masked(Opcode.Pong, 'unsolicited'), masked(Opcode.Binary, '\x00ghi'),
    masked(Opcode.Binary, Buffer.from([255, 0])),
  ]));
  await c.until('the close', () => c.close !== undefined);
  assert.equal(stdinSeen, 'abcdefghi');
  assert.deepEqual(c.frames.filter((f) => f.opcode === Opcode.Pong).map((f) => f.payload.toString()), ['are you there']);
  assert.equal(c.channel(1), 'read 9');
  assert.equal(c.channel(3), '{"metadata":{},"status":"Success"}');
  assert.equal(c.close!.payload.readUInt16BE(0), 1000);
  await c.until('the hang-up', () => c.ended);
});

test('server: before v5 stdin ends with the connection; the client\'s close is echoed', async () => {
  stdinSeen = '';
  const c = await open(await exec(['echo-stdin'], true), { protocols: 'v4.channel.k8s.io' });
  c.send(Buffer.concat([masked(Opcode.Binary, '\x00abc'), masked(Opcode.Binary, Buffer.from([255, 0]))]));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(c.close, undefined, 'still running: 255 is no signal before v5');
  c.send(masked(Opcode.Close, Buffer.from([0x0f, 0xa0, 0x62])));
  await c.until('the close', () => c.close !== undefined && c.ended);
  assert.deepEqual([...c.close!.payload], [0x0f, 0xa0], 'the code echoed');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(stdinSeen, 'abc');
});

test('server: 3 MB of output whole and in order, in messages of at most 32 KiB', async () => {
  const c = await open(await exec(['out', String(3_000_000)]), { protocols: 'v4.channel.k8s.io' });
  await c.until('the close', () => c.close !== undefined);
  assert.equal(c.channel(1), 'x'.repeat(3_000_000));
  assert.ok(c.frames.every((f) => f.payload.length <= 32 * 1024 + 1));
});

test('server: unmasked frames fail with 1002, attach and port-forward errors reach the client', async () => {
  const c = await open(await exec(['echo-stdin'], true), { protocols: 'v4.channel.k8s.io' });
  await c.until('the first message', () => c.frames.length > 0);
  c.send(encodeFrame(Opcode.Binary, Buffer.from('\x00abc')));
  await c.until('the close', () => c.close !== undefined);
  assert.equal(c.close!.payload.readUInt16BE(0), 1002);

  const a = await open(server.getAttach({ containerId: 'c', tty: false, stdin: false, stdout: true, stderr: true }).url,
    { protocols: 'v4.base64.channel.k8s.io' });
  await a.until('the close', () => a.close !== undefined);
  const texts = a.frames.filter((f) => f.opcode === Opcode.Text).map((f) => f.payload.toString());
  assert.equal(texts[0], '1');
  assert.match(Buffer.from(texts[1]!.slice(1), 'base64').toString(), /"message":"Internal error occurred: error attaching to container: no such container"/);
  assert.equal(texts[1]![0], '3');

  const pf = await open(server.getPortForward({ podSandboxId: 'pod', port: [8080] }).url, { protocols: 'v4.channel.k8s.io' });
  await pf.until('the close', () => pf.close !== undefined);
  assert.deepEqual(pf.frames.slice(0, 2).map((f) => [...f.payload]), [[0, 0x90, 0x1f], [1, 0x90, 0x1f]]);
  assert.equal(pf.channel(1).slice(2), 'error forwarding port 8080 to pod pod, uid : connection refused');
  const bad = await open(`${server.getPortForward({ podSandboxId: 'pod' }).url}?port=0`, { protocols: 'v4.channel.k8s.io' });
  await bad.until('the refusal', () => bad.ended);
  assert.match(bad.head, /^HTTP\/1\.1 400 Bad Request\r\n[^]*\r\n\r\nport "0" must be > 0\n$/);
});

test('connection: a message past the bound is refused with 1009 as soon as its header says so', async () => {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const got: Buffer[] = [];
  srv.on('connection', (s) => {
    s.write('HTTP/1.1 101 Switching Protocols\r\n\r\n');
    new WsConnection(s, { onMessage: (_t, d) => got.push(d), maxMessageBytes: 1000 });
  });
  const c = await Client.connect((srv.address() as net.AddressInfo).port, '');
  try {
    c.send(Buffer.concat([masked(Opcode.Binary, 'small'), masked(Opcode.Binary, Buffer.alloc(5000)).subarray(0, 20)]));
    await c.until('the close', () => c.close !== undefined && c.ended);
    assert.equal(c.close!.payload.readUInt16BE(0), 1009);
    assert.deepEqual(got.map(String), ['small'], 'the message before the bad one is delivered');
  } finally {
    c.socket.destroy();
    srv.close();
  }
});
