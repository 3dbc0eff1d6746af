// The CLI's HTTP/1.1 client: its response parser fed byte by byte, and requests against
// node's own HTTP server (an implementation it did not come from) and raw sockets.
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { ResponseParser, send, type Head, type Response } from '../../src/cli/http1.js';

/** Feed `wire` to a parser in pieces of `step` bytes; what came out. */
function parse(wire: string | Buffer, step = 1, noBody = false) {
  const heads: Head[] = [];
  const body: Buffer[] = [];
  let ended = 0;
  let rest: Buffer | undefined;
  const p = new ResponseParser({
    head: (h) => { heads.push(h); return h.statusCode === 101; },
    data: (b) => body.push(Buffer.from(b)),
    end: () => { ended++; },
  }, noBody);
  const buf = Buffer.isBuffer(wire) ? wire : Buffer.from(wire, 'latin1');
  for (let i = 0; i < buf.length && rest === undefined; i += step) {
    rest = p.push(buf.subarray(i, i + step));
    if (rest !== undefined) rest = Buffer.concat([rest, buf.subarray(i + step)]);
  }
  return { heads, body: Buffer.concat(body).toString('latin1'), get ended() { return ended; }, rest, parser: p };
}

describe('ResponseParser', () => {
  it('frames a body by Content-Length, split at every byte', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-A: 1\r\nx-a: 2\r\n\r\n{"a":1}');
    assert.equal(r.heads[0]!.statusCode, 200);
    assert.equal(r.heads[0]!.statusMessage, 'OK');
    assert.equal(r.heads[0]!.headers['content-type'], 'application/json');
    assert.equal(r.heads[0]!.headers['x-a'], '1, 2');
    assert.equal(r.body, '{"a":1}');
    assert.equal(r.ended, 1);
  });

  it('decodes chunked bodies with extensions and trailers, in any split', () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n';
    for (const step of [1, 2, 3, 7, 1000]) {
      const r = parse(wire, step);
      assert.equal(r.body, 'hello 0123456789', `step ${step}`);
      assert.equal(r.ended, 1);
    }
  });

  it('skips 1xx heads; 204, 304 and HEAD answers have no body', () => {
    const r = parse('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n');
    assert.deepEqual(r.heads.map((h) => h.statusCode), [204]);
    assert.equal(r.ended, 1);
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 1, true).ended, 1);
    assert.equal(parse('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n').ended, 1);
  });

  it('a body without framing lasts until the connection ends', () => {
    const r = parse('HTTP/1.0 200 OK\r\n\r\nall of it');
    assert.equal(r.body, 'all of it');
    assert.equal(r.ended, 0);
    r.parser.finish();
    assert.equal(r.ended, 1);
  });

  it('101: parsing stops and the bytes after the head are handed back', () => {
    const r = parse('HTTP/1.1 101 UPGRADED\r\nUpgrade: tcp\r\n\r\n\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0002hi', 4);
    assert.equal(r.heads[0]!.statusCode, 101);
    assert.equal(r.rest?.toString('latin1'), '\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0002hi');
  });

  it('refuses malformed and truncated answers', () => {
    assert.throws(() => parse('HTTP/2 200\r\n\r\n'), /status line/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nno colon\r\n\r\n'), /header/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'), /Content-Length/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'), /chunk size/);
    assert.throws(() => parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY'), /CRLF/);
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70000)}`), /larger than/);
    const cut = parse('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
    assert.throws(() => cut.parser.finish(), /in the middle of its answer/);
    assert.throws(() => parse('HTTP/1.1 200 O').parser.finish(), /without an answer/);
  });
});

describe('send', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsula-http1-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function serve(handler: http.RequestListener): Promise<{ path: string; close: () => void }> {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.sock`);
    const server = http.createServer(handler);
    await new Promise<void>((r) => server.listen(path, r));
    return { path, close: () => server.close() };
  }

  const readAll = async (res: Readable) => { const c: Buffer[] = []; for await (const b of res) c.push(b as Buffer); return Buffer.concat(c); };

  it('uploads a stream chunked and reads a large answer with back-pressure', async () => {
    const up = randomBytes(3 << 20);
    const down = randomBytes(8 << 20);
    let got = '';
    let te = '';
    const s = await serve((req, res) => {
      te = req.headers['transfer-encoding'] ?? '';
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => h.update(d));
      req.on('end', () => { got = h.digest('hex'); res.end(down); });
    });
    try {
      const res = await send({ socketPath: s.path }, { method: 'POST', path: '/load', headers: {}, body: Readable.from([up.subarray(0, 1 << 20), up.subarray(1 << 20)]) }) as Response;
      assert.equal(te, 'chunked');
      assert.equal(res.statusCode, 200);
      // a slow reader: the parser must pause the socket rather than buffer without bound
      await new Promise((r) => setTimeout(r, 200));
      const body = await readAll(res);
      assert.equal(got, createHash('sha256').update(up).digest('hex'));
      assert.ok(body.equals(down));
    } finally {
      s.close();
    }
  });

  it('a stream of a given length goes as is (a file: docker load -i)', async () => {
    let seen: http.IncomingHttpHeaders = {};
    let n = 0;
    const s = await serve((req, res) => {
      seen = req.headers;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => res.end('ok'));
    });
    try {
      const res = await send({ socketPath: s.path }, { method: 'POST', path: '/load', headers: { 'Content-Length': '300000' }, body: Readable.from([Buffer.alloc(100000), Buffer.alloc(200000)]) }) as Response;
      assert.equal((await readAll(res)).toString(), 'ok');
      assert.equal(seen['transfer-encoding'], undefined);
      assert.equal(n, 300000);
      await assert.rejects(send({ socketPath: s.path }, { method: 'GET', path: '/x\r\nX: y', headers: {} }), /invalid character/);
    } finally {
      s.close();
    }
  });

  it('sends Host, Connection: close and a Content-Length; node parses the request as sent', async () => {
    let seen: http.IncomingHttpHeaders = {};
    let body = '';
    const s = await serve((req, res) => {
      seen = req.headers;
      req.on('data', (d: Buffer) => { body += d; });
      req.on('end', () => res.end('ok'));
    });
    try {
      const res = await send({ socketPath: s.path }, { method: 'PUT', path: '/x?a=1', headers: { 'User-Agent': 't' }, body: Buffer.from('{"é":1}') }) as Response;
      assert.equal((await readAll(res)).toString(), 'ok');
      assert.equal(seen.host, 'localhost');
      assert.equal(seen.connection, 'close');
      assert.equal(seen['content-length'], String(Buffer.byteLength('{"é":1}')));
      assert.equal(body, '{"é":1}');
    } finally {
      s.close();
    }
  });

  it('an answer cut short is an error on the body; no daemon is the socket error', async () => {
    const path = join(dir, 'raw.sock');
    const server = net.createServer((c) => c.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort'));
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const res = await send({ socketPath: path }, { method: 'GET', path: '/', headers: {} }) as Response;
      await assert.rejects(readAll(res), /in the middle of its answer/);
      await assert.rejects(send({ socketPath: join(dir, 'nobody.sock') }, { method: 'GET', path: '/', headers: {} }), { code: 'ENOENT' });
    } finally {
      server.close();
    }
  });
});
