// The API's switch to a raw stream (hijack): the 101 goes out in a write of its own before
// any output, and a client's half-close is told apart from a client that left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { hijack, type Ctx } from '../../src/engine/api/http.js';

function ctxFor(socket: Duplex): Ctx {
  return { req: {} as IncomingMessage, res: null, params: [], query: new URLSearchParams(), upgraded: { socket, head: Buffer.alloc(0) }, version: '1.41' };
}

test('the 101 is written alone, and output only once it is out', async () => {
  const writes: string[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) { writes.push(chunk.toString('latin1')); setTimeout(cb, 5); },
    writev(chunks, cb) { writes.push(chunks.map((c) => (c.chunk as Buffer).toString('latin1')).join('')); setTimeout(cb, 5); },
  });
  // corked, as a socket with writes in flight: whatever is written before it drains goes
  // out in one writev, head and frames together unless the frames wait for the head
  socket.cork();
  const raw = hijack(ctxFor(socket));
  process.nextTick(() => socket.uncork());
  raw.write(Buffer.from('first frame'));
  raw.write(Buffer.from('second'));
  raw.end();
  await new Promise((r) => socket.once('finish', r));
  assert.match(writes[0]!, /^HTTP\/1.1 101 UPGRADED\r\n[^]*\r\n\r\n$/, 'the head alone in the first write');
  assert.equal(writes.slice(1).join(''), 'first framesecond');
});

test('a half-close is the end of input, not a client that left; a closed client is found at once', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-hijack-'));
  const sockPath = path.join(dir, 's');
  const served: Array<{ ended: boolean; closed: boolean; raw: ReturnType<typeof hijack> }> = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    const st = { ended: false, closed: false, raw: hijack(ctxFor(s)) };
    st.raw.onInputEnd(() => { st.ended = true; });
    st.raw.onClose(() => { st.closed = true; });
    served.push(st);
  });
  await new Promise<void>((r) => server.listen(sockPath, r));
  const clients: net.Socket[] = [];
  try {
    const connect = async () => {
      const c = net.connect(sockPath);
      clients.push(c);
      let got = '';
      c.on('data', (d) => { got += d.toString('latin1'); });
      await new Promise((r) => c.once('connect', r));
      await waitUntil(() => got.includes('\r\n\r\n'));
      return { c, text: () => got };
    };
    const half = await connect();
    half.c.end(); // docker's CloseWrite: it still reads
    await waitUntil(() => served[0]!.ended);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(served[0]!.closed, false, 'a half-closed client is still there');
    served[0]!.raw.write(Buffer.from('still read'));
    await waitUntil(() => half.text().endsWith('still read'));

    const gone = await connect();
    gone.c.destroy();
    await waitUntil(() => served[1]!.closed);
    half.c.destroy();
  } finally {
    for (const c of clients) c.destroy();
    for (const x of served) x.raw.end();
    server.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});

async function waitUntil(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
