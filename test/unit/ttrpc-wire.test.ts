// ttrpc at the byte level: framing, stream ids and error answers, checked against raw
// sockets that write exactly what containerd/ttrpc v1.1 would put on the wire.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FrameReader, encodeFrame, TYPE_REQUEST, TYPE_RESPONSE, MAX_MESSAGE_LENGTH, type FrameEvent } from '../../src/ttrpc/frame.js';
import { TtrpcServer } from '../../src/ttrpc/server.js';
import { TtrpcClient } from '../../src/ttrpc/client.js';
import { codeOf } from '../../src/ttrpc/status.js';
import { RequestSchema, ResponseSchema } from '../../src/gen/github.com/containerd/ttrpc/request_pb.js';
import { Task, StateRequestSchema, StateResponseSchema } from '../../src/gen/github.com/containerd/containerd/runtime/v2/task/shim_pb.js';

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-ttrpc-'));
after(() => fs.rm(dir, { recursive: true, force: true }));
let n = 0;
const sockPath = () => path.join(dir, `s${++n}.sock`);

/** A server with a State method that echoes the id into the bundle field. */
async function echoServer(): Promise<{ server: TtrpcServer; path: string }> {
  const server = new TtrpcServer();
  server.registerService(Task, {
    state: (req) => ({ id: req.id, bundle: `bundle-of-${req.id}`, pid: 42 }),
  });
  const p = sockPath();
  await server.listen(p);
  return { server, path: p };
}

/** Raw connection: send bytes, collect decoded response frames. */
async function raw(p: string): Promise<{ sock: net.Socket; frames: FrameEvent[]; next: () => Promise<FrameEvent>; closed: Promise<void> }> {
  const sock = net.connect(p);
  await new Promise<void>((r) => sock.once('connect', () => r()));
  const reader = new FrameReader();
  const frames: FrameEvent[] = [];
  let wake: (() => void) | null = null;
  sock.on('data', (c: Buffer) => { frames.push(...reader.push(c)); wake?.(); });
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  const next = async () => {
    while (!frames.length) await new Promise<void>((r) => { wake = r; });
    return frames.shift()!;
  };
  return { sock, frames, next, closed };
}

function requestFrame(id: number, service: string, method: string, payload: Uint8Array, extra: { timeoutNano?: bigint } = {}): Buffer {
  return encodeFrame(id, TYPE_REQUEST, toBinary(RequestSchema, create(RequestSchema, { service, method, payload, ...extra })));
}

function statusOf(ev: FrameEvent): { id: number; code: number; message: string; payload: Uint8Array } {
  assert.equal(ev.kind, 'frame');
  if (ev.kind !== 'frame') throw new Error('unreachable');
  assert.equal(ev.header.type, TYPE_RESPONSE);
  const r = fromBinary(ResponseSchema, ev.payload);
  return { id: ev.header.streamId, code: r.status?.code ?? 0, message: r.status?.message ?? '', payload: r.payload };
}

test('frame reader: split byte by byte and merged frames give the same frames', () => {
  const a = encodeFrame(1, TYPE_REQUEST, Buffer.from('hello'));
  const b = encodeFrame(3, TYPE_REQUEST, Buffer.alloc(0));
  const c = encodeFrame(5, TYPE_RESPONSE, Buffer.alloc(70_000, 7));
  const all = Buffer.concat([a, b, c]);
  const merged = new FrameReader().push(all);
  const r = new FrameReader();
  const split: FrameEvent[] = [];
  for (let i = 0; i < all.length; i++) split.push(...r.push(all.subarray(i, i + 1)));
  for (const evs of [merged, split]) {
    assert.deepEqual(evs.map((e) => e.kind === 'frame' && [e.header.streamId, e.header.type, e.payload.length]), [[1, 1, 5], [3, 1, 0], [5, 2, 70_000]]);
  }
  assert.equal(all.readUInt32BE(0), 5, 'length is big-endian and excludes the header');
  assert.deepEqual([...all.subarray(4, 10)], [0, 0, 0, 1, 1, 0]);
});

test('typed round trip; client stream ids are odd from 1 step 2', async () => {
  const { server, path: p } = await echoServer();
  const ids: number[] = [];
  const proxyPath = sockPath();
  // a pass-through that records the stream ids the client writes
  const proxy = net.createServer((c) => {
    const up = net.connect(p);
    const rd = new FrameReader();
    c.on('data', (d: Buffer) => { for (const e of rd.push(d)) if (e.kind === 'frame') ids.push(e.header.streamId); up.write(d); });
    up.pipe(c);
  });
  await new Promise<void>((r) => proxy.listen(proxyPath, () => r()));
  const client = await TtrpcClient.connect(proxyPath);
  try {
    const task = client.service(Task);
    for (const id of ['a', 'b', 'c']) {
      const res = await task.state({ id });
      assert.equal(res.bundle, `bundle-of-${id}`);
      assert.equal(res.pid, 42);
    }
    const viaCall = await client.call('containerd.task.v2.Task', 'State', { id: 'd' }, StateRequestSchema, StateResponseSchema);
    assert.equal(viaCall.bundle, 'bundle-of-d');
    assert.deepEqual(ids, [1, 3, 5, 7]);
  } finally {
    client.close();
    proxy.close();
    await server.close();
  }
});

test('client matches out-of-order answers, merged in one write, by stream id', async () => {
  const p = sockPath();
  const srv = net.createServer((c) => {
    const rd = new FrameReader();
    const got: Array<{ id: number; req: ReturnType<typeof fromBinary<typeof RequestSchema>> }> = [];
    c.on('data', (d: Buffer) => {
      for (const e of rd.push(d)) if (e.kind === 'frame') got.push({ id: e.header.streamId, req: fromBinary(RequestSchema, e.payload) });
      if (got.length < 3) return;
      // answer last request first, all three frames in a single write
      const out = got.reverse().map(({ id, req }) => {
        const st = fromBinary(StateRequestSchema, req.payload);
        const payload = toBinary(StateResponseSchema, create(StateResponseSchema, { id: st.id, pid: id }));
        return encodeFrame(id, TYPE_RESPONSE, toBinary(ResponseSchema, create(ResponseSchema, { payload })));
      });
      c.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((r) => srv.listen(p, () => r()));
  const client = await TtrpcClient.connect(p);
  try {
    const task = client.service(Task);
    const res = await Promise.all(['x', 'y', 'z'].map((id) => task.state({ id })));
    assert.deepEqual(res.map((r) => [r.id, r.pid]), [['x', 1], ['y', 3], ['z', 5]]);
  } finally {
    client.close();
    srv.close();
  }
});

test('server runs requests concurrently and answers as they finish', async () => {
  const server = new TtrpcServer();
  const order: string[] = [];
  // every handler waits until all 11 requests are in flight: a server that ran them one at
  // a time would never get there (the first one would time out below)
  let inFlight = 0;
  let allIn!: () => void;
  const together = new Promise<void>((r) => { allIn = r; });
  let releaseSlow!: () => void;
  const slowMayAnswer = new Promise<void>((r) => { releaseSlow = r; });
  server.registerService(Task, {
    state: async (req) => {
      if (++inFlight === 11) allIn();
      await together;
      if (req.id === 'slow') await slowMayAnswer;
      order.push(req.id);
      return { id: req.id };
    },
  });
  const p = sockPath();
  await server.listen(p);
  const client = await TtrpcClient.connect(p);
  try {
    const task = client.service(Task);
    let slowDone = false;
    const slow = task.state({ id: 'slow' }, { timeoutMs: 10_000 }).then((r) => { slowDone = true; return r; });
    const fast = Promise.all(Array.from({ length: 10 }, (_, i) => task.state({ id: `f${i}` }, { timeoutMs: 10_000 })));
    // the ten later requests are answered while the first one is still being handled
    assert.deepEqual((await fast).map((r) => r.id), Array.from({ length: 10 }, (_, i) => `f${i}`));
    assert.equal(slowDone, false);
    releaseSlow();
    assert.equal((await slow).id, 'slow');
    assert.equal(order.at(-1), 'slow', 'the slow answer came last');
  } finally {
    client.close();
    await server.close();
  }
});

test('errors: unknown service/method 12, even stream id 3, undecodable payload 13, bad request 3', async () => {
  const { server, path: p } = await echoServer();
  const c = await raw(p);
  try {
    c.sock.write(requestFrame(1, 'no.such.Service', 'State', new Uint8Array()));
    let s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code, s.message], [1, 12, 'service no.such.Service']);

    c.sock.write(requestFrame(3, 'containerd.task.v2.Task', 'NoSuchMethod', new Uint8Array()));
    s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code, s.message], [3, 12, 'method NoSuchMethod']);

    c.sock.write(requestFrame(4, 'containerd.task.v2.Task', 'State', new Uint8Array()));
    s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code], [4, 3]);
    assert.match(s.message, /must be odd/);

    // field 1 (string) announcing 100 bytes that are not there
    c.sock.write(requestFrame(5, 'containerd.task.v2.Task', 'State', Uint8Array.from([0x0a, 100, 1])));
    s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code], [5, 13]);

    // a request frame whose body is not a ttrpc Request
    c.sock.write(encodeFrame(7, TYPE_REQUEST, Uint8Array.from([0x0a, 0xff])));
    s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code], [7, 3]);

    // the connection survived all of that
    c.sock.write(requestFrame(9, 'containerd.task.v2.Task', 'State', toBinary(StateRequestSchema, create(StateRequestSchema, { id: 'ok' }))));
    s = statusOf(await c.next());
    assert.equal(s.code, 0);
    assert.equal(fromBinary(StateResponseSchema, s.payload).bundle, 'bundle-of-ok');
  } finally {
    c.sock.destroy();
    await server.close();
  }
});

test('oversize frame: RESOURCE_EXHAUSTED on its stream, payload skipped, connection kept', async () => {
  const { server, path: p } = await echoServer();
  const c = await raw(p);
  try {
    const len = MAX_MESSAGE_LENGTH + 1;
    const hdr = Buffer.alloc(10);
    hdr.writeUInt32BE(len, 0);
    hdr.writeUInt32BE(11, 4);
    hdr[8] = TYPE_REQUEST;
    c.sock.write(hdr);
    // the payload arrives in pieces, the next request right behind it in the same write
    const body = Buffer.alloc(len, 0x5a);
    c.sock.write(body.subarray(0, 1 << 20));
    const s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code], [11, 8]);
    c.sock.write(Buffer.concat([body.subarray(1 << 20),
      requestFrame(13, 'containerd.task.v2.Task', 'State', toBinary(StateRequestSchema, create(StateRequestSchema, { id: 'after' })))]));
    const s2 = statusOf(await c.next());
    assert.deepEqual([s2.id, s2.code], [13, 0]);
    assert.equal(fromBinary(StateResponseSchema, s2.payload).id, 'after');
  } finally {
    c.sock.destroy();
    await server.close();
  }
});

test('garbage drops that connection only; the server keeps serving others', async () => {
  const { server, path: p } = await echoServer();
  const good = await TtrpcClient.connect(p);
  const bad = await raw(p);
  try {
    bad.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await bad.closed;
    assert.equal(bad.frames.length, 0);
    assert.equal((await good.service(Task).state({ id: 'still' })).bundle, 'bundle-of-still');
    const again = await TtrpcClient.connect(p);
    assert.equal((await again.service(Task).state({ id: 'new' })).id, 'new');
    again.close();
  } finally {
    good.close();
    await server.close();
  }
});

test('timeout_nano is a deadline: the handler is aborted and the caller gets 4', async () => {
  const server = new TtrpcServer();
  let aborted = false;
  let seenDeadline: number | undefined;
  server.registerService(Task, {
    state: (_req, ctx) => new Promise((_res, rej) => {
      seenDeadline = ctx.deadline;
      ctx.signal.addEventListener('abort', () => { aborted = true; rej(ctx.signal.reason); });
    }),
  });
  const p = sockPath();
  await server.listen(p);
  const client = await TtrpcClient.connect(p);
  const c = await raw(p);
  try {
    const t0 = Date.now();
    await assert.rejects(client.service(Task).state({ id: 'x' }, { timeoutMs: 150 }), (e) => codeOf(e) === 4);
    assert.ok(Date.now() - t0 >= 140);
    assert.ok(seenDeadline && seenDeadline > t0);
    // the server itself answers at the deadline (a raw caller that does not time out)
    c.sock.write(requestFrame(1, 'containerd.task.v2.Task', 'State', new Uint8Array(), { timeoutNano: 100_000_000n }));
    const s = statusOf(await c.next());
    assert.deepEqual([s.id, s.code], [1, 4]);
    assert.ok(aborted);
  } finally {
    c.sock.destroy();
    client.close();
    await server.close();
  }
});

test('metadata, error kinds both ways, lost connection, owner-only socket', async () => {
  const server = new TtrpcServer();
  const { notFound } = await import('../../src/common/errors.js');
  server.registerService(Task, {
    state: (req, ctx) => {
      if (req.id === 'missing') throw notFound('container missing: not found');
      return { id: `${ctx.namespace}/${ctx.metadata.get('k')?.join(',')}` };
    },
    wait: () => new Promise(() => {}),
  });
  const p = sockPath();
  await server.listen(p);
  assert.equal((await fs.stat(p)).mode & 0o777, 0o600);
  const client = await TtrpcClient.connect(`unix://${p}`);
  const task = client.service(Task);
  const res = await task.state({ id: 'x' }, { metadata: { 'containerd-namespace-ttrpc': 'tsula', k: ['1', '2'] } });
  assert.equal(res.id, 'tsula/1,2');
  await assert.rejects(task.state({ id: 'missing' }), (e: Error) => e.name === 'NotFound' && codeOf(e) === 5 && /container missing/.test(e.message));
  const pending = assert.rejects(task.wait({ id: 'x' }), (e: Error) => e.name === 'Unavailable' && codeOf(e) === 14);
  await server.close();
  await pending;
  assert.ok(client.closed);
  await assert.rejects(TtrpcClient.connect(p), (e: Error) => e.name === 'Unavailable');
});
