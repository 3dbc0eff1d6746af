// The CLI's HTTP client and command flow against a tiny fake daemon on a unix socket
// (a unit test of the client side; the real tsulad is exercised by integration tests).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApiError, Client, ConnectError, readBody } from '../../src/cli/client.js';
import type { Streams } from '../../src/cli/context.js';
import { main } from '../../src/cli/main.js';
import { frame } from '../../src/cli/stdcopy.js';

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
}

function streams(input = ''): { s: Streams; out: Sink; err: Sink } {
  const stdin = new PassThrough();
  stdin.end(input);
  const out = new Sink();
  const err = new Sink();
  return { s: { stdin, stdout: out, stderr: err } as unknown as Streams, out, err };
}

const ID = 'f'.repeat(64);
const dir = mkdtempSync(join(tmpdir(), 'tsula-cli-'));
const sock = join(dir, 'd.sock');
const host = `unix://${sock}`;
const seen: string[] = [];
let waiting: http.ServerResponse[] = [];
let attached: Socket | undefined;

function json(res: http.ServerResponse, code: number, body?: unknown): void {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url!, 'http://d');
  seen.push(`${req.method} ${url.pathname}${url.search}`);
  let body = '';
  req.on('data', (d: Buffer) => { body += d; });
  req.on('end', () => {
    const p = url.pathname;
    if (p === '/v1.41/version') return json(res, 200, { Version: '9.9', ApiVersion: '1.41', q: url.searchParams.getAll('n') });
    if (p === '/v1.41/containers/x/json') {
      return json(res, 200, { Id: ID, HostConfig: { Runtime: 'runc' }, Config: { Tty: false } });
    }
    if (p.startsWith('/v1.41/containers/') && p.endsWith('/json')) {
      return json(res, 404, { message: `No such container: ${p.split('/')[3]}` });
    }
    if (p.startsWith('/v1.41/images/') && p.endsWith('/json')) return json(res, 404, { message: 'No such image: nope' });
    if (p === '/v1.41/plain') {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      return res.end('it broke\n');
    }
    if (p === '/v1.41/empty404') return json(res, 404);
    if (p === '/v1.41/echo') return json(res, 200, { body: JSON.parse(body), type: req.headers['content-type'] });
    if (p === '/v1.41/containers/create') {
      const b = JSON.parse(body) as { Image: string };
      if (b.Image === 'nosuch') return json(res, 404, { message: 'No such image: nosuch:latest' });
      return json(res, 201, { Id: ID, Warnings: [] });
    }
    if (p === `/v1.41/containers/${ID}/wait`) {
      // Docker's contract: the head as soon as the wait is registered, the body at exit.
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.flushHeaders();
      waiting.push(res);
      return;
    }
    if (p === `/v1.41/containers/${ID}/start`) {
      res.writeHead(204);
      res.end();
      // The "process" prints and exits 3 once started.
      setTimeout(() => {
        attached?.write(frame(1, 'hi\n'));
        attached?.end(frame(2, 'warn\n'));
        for (const w of waiting) w.end(JSON.stringify({ StatusCode: 3 }));
        waiting = [];
      }, 10);
      return;
    }
    if (p === '/v1.41/hijack200') {
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.raw-stream' });
      return res.end('plain stream');
    }
    if (p === '/v1.41/hijack409') return json(res, 409, { message: 'container x is not running' });
    json(res, 404, { message: 'page not found' });
  });
});

server.on('upgrade', (req: http.IncomingMessage, socket: Socket) => {
  const url = new URL(req.url!, 'http://d');
  // Answers a daemon may give instead of upgrading: a plain stream, or an error.
  if (url.pathname === '/v1.41/hijack200') {
    socket.end('HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nContent-Length: 12\r\n\r\nplain stream');
    return;
  }
  if (url.pathname === '/v1.41/hijack409') {
    const b = JSON.stringify({ message: 'container x is not running' });
    socket.end(`HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    return;
  }
  seen.push(`UPGRADE ${req.method} ${url.pathname}${url.search} ${req.headers.upgrade}`);
  socket.on('error', () => {});
  const head = 'HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n' +
    'Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n';
  if (url.pathname === '/v1.41/echo-hijack') {
    // The head and the first bytes in one write: the client must replay what it read ahead.
    socket.write(`${head}welcome;`);
    socket.on('data', (d: Buffer) => socket.write(`echo:${d.toString()};`));
    socket.on('end', () => socket.end('bye'));
    return;
  }
  socket.write(head);
  attached = socket;
});

before(() => new Promise<void>((resolve) => server.listen(sock, resolve)));
after(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('client', () => {
  it('prefixes /v1.41 and encodes queries', async () => {
    const c = new Client(host);
    const v = await c.json<{ Version: string; q: string[] }>('GET', '/version', { n: ['a b', 'c'], skip: undefined, t: true });
    assert.equal(v.Version, '9.9');
    assert.deepEqual(v.q, ['a b', 'c']);
    assert.ok(seen.includes('GET /v1.41/version?n=a%20b&n=c&t=1'));
  });

  it('sends JSON bodies', async () => {
    const r = await new Client(host).json<{ body: unknown; type: string }>('POST', '/echo', undefined, { A: [1] });
    assert.deepEqual(r, { body: { A: [1] }, type: 'application/json' });
  });

  it('404 → "Error response from daemon: No such container: x"', async () => {
    await assert.rejects(new Client(host).json('GET', '/containers/nope/json'), (e: ApiError) => {
      assert.ok(e instanceof ApiError);
      assert.equal(e.status, 404);
      assert.equal(e.message, 'Error response from daemon: No such container: nope');
      return true;
    });
  });

  it('non-JSON and empty error bodies still give a message', async () => {
    await assert.rejects(new Client(host).json('GET', '/plain'), { message: 'Error response from daemon: it broke' });
    await assert.rejects(new Client(host).json('GET', '/empty404'), /request returned Not Found for API route and version 1.41/);
  });

  it('no daemon: the docker-style "Cannot connect" message', async () => {
    const missing = `unix://${join(dir, 'missing.sock')}`;
    await assert.rejects(new Client(missing).json('GET', '/version'), (e: ConnectError) => {
      assert.ok(e instanceof ConnectError);
      assert.equal(e.message, `Cannot connect to the tsula daemon at ${missing}. Is tsulad running?`);
      return true;
    });
    const notSocket = join(dir, 'regular-file');
    writeFileSync(notSocket, '');
    await assert.rejects(new Client(`unix://${notSocket}`).json('GET', '/version'), /Cannot connect to the tsula daemon/);
  });

  it('hijack: 101, replays read-ahead bytes, both directions, half-close', async () => {
    const conn = await new Client(host).hijack('POST', '/echo-hijack', { stream: 1 });
    assert.ok(conn.input);
    conn.input.write('ping');
    setTimeout(() => conn.closeWrite(), 50);
    const got = (await readBody(conn.output)).toString();
    assert.equal(got, 'welcome;echo:ping;bye');
    assert.ok(seen.includes('UPGRADE POST /v1.41/echo-hijack?stream=1 tcp'));
  });

  it('hijack: a plain 200 streams its body; an error status is an ApiError', async () => {
    const conn = await new Client(host).hijack('POST', '/hijack200');
    assert.equal(conn.input, null);
    assert.equal((await readBody(conn.output)).toString(), 'plain stream');
    await assert.rejects(new Client(host).hijack('POST', '/hijack409'), { message: 'Error response from daemon: container x is not running' });
  });
});

describe('commands through main()', () => {
  it('inspect -f "{{ json .HostConfig.Runtime }}"', async () => {
    const { s, out } = streams();
    const code = await main(['-H', host, 'inspect', '-f', '{{ json .HostConfig.Runtime }}', 'x'], s);
    assert.equal(code, 0);
    assert.equal(out.text, '"runc"\n');
  });

  it('inspect of a missing object: [] and "No such object", exit 1', async () => {
    const { s, out, err } = streams();
    assert.equal(await main(['-H', host, 'inspect', 'nope'], s), 1);
    assert.equal(out.text, '[]\n');
    assert.equal(err.text, 'Error: No such object: nope\n');
  });

  it('a missing container is said as docker\'s client says it (its inspect\'s 404)', async () => {
    const { s, err } = streams();
    assert.equal(await main(['-H', host, 'logs', 'x1'], s), 1);
    assert.equal(err.text, 'Error: No such container: x1\n');
  });

  it('no daemon: message and exit 1', async () => {
    const { s, err } = streams();
    const h = `unix://${join(dir, 'none.sock')}`;
    assert.equal(await main(['--host', h, 'ps'], s), 1);
    assert.equal(err.text, `Cannot connect to the tsula daemon at ${h}. Is tsulad running?\n`);
  });

  it('TSULA_HOST is used when -H is absent', async () => {
    const { s, err } = streams();
    process.env.TSULA_HOST = `unix://${join(dir, 'env.sock')}`;
    try {
      assert.equal(await main(['ps'], s), 1);
      assert.match(err.text, /env\.sock\. Is tsulad running\?/);
    } finally {
      delete process.env.TSULA_HOST;
    }
  });

  it('run: create, attach, wait, start in docker order; exits with the status', async () => {
    seen.length = 0;
    const { s, out, err } = streams();
    const code = await main(['-H', host, 'run', '--rm', '--name', 'web', 'busybox', 'sh', '-c', 'echo hi'], s);
    assert.equal(err.text, 'warn\n');
    assert.equal(code, 3);
    assert.equal(out.text, 'hi\n');
    assert.equal(err.text, 'warn\n');
    assert.deepEqual(seen, [
      'POST /v1.41/containers/create?name=web',
      `UPGRADE POST /v1.41/containers/${ID}/attach?stream=1&stdout=1&stderr=1 tcp`,
      `POST /v1.41/containers/${ID}/wait?condition=removed`,
      `POST /v1.41/containers/${ID}/start`,
    ]);
  });

  it('run -d prints the full id', async () => {
    const { s, out } = streams();
    assert.equal(await main(['-H', host, 'run', '-d', 'busybox', 'sleep', '9'], s), 0);
    assert.equal(out.text, `${ID}\n`);
  });

  it('run with a daemon error before start exits 125', async () => {
    const { s, err } = streams();
    assert.equal(await main(['-H', host, 'run', '--pull', 'never', 'nosuch'], s), 125);
    // docker's reportError: its prefix, a full stop, where the help is
    assert.equal(err.text, "tsula: Error response from daemon: No such image: nosuch:latest.\nSee 'tsula run --help'.\n");
  });

  it('flag errors exit 125 with a pointer to --help', async () => {
    const { s, err } = streams();
    assert.equal(await main(['-H', host, 'ps', '--bogus'], s), 125);
    assert.equal(err.text, "unknown flag: --bogus\nSee 'tsula ps --help'.\n");
  });
});
