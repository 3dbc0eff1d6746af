// The streaming server's protocol edges with a bare SPDY client (crictl only ever speaks
// v4 and behaves): HTTP refusals and one-time tokens, what v4/v3/v2/v1 each count and
// report, the stream-creation timeout, port-forward header checks and pairing, PING,
// and stop() aborting a running session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Duplex } from 'node:stream';
import {
  StreamingServer, relay, type ExecRequest, type StreamIO, type StreamingRuntime, type TerminalSize,
} from '../../src/cri/streaming/index.js';
import { request, until, type SpdyTestClient } from '../helpers/spdy-client.js';

/** What the test's runtime does for the next exec, and what it saw. */
let onExec: (req: ExecRequest, io: StreamIO, signal: AbortSignal) => Promise<number>;
const sizes: TerminalSize[] = [];
let execCalls = 0;
let echo: net.Server;

const runtime: StreamingRuntime = {
  async exec(req, io, signal) { execCalls++; return { exitCode: await onExec(req, io, signal) }; },
  async attach() {},
  async portForward(_pod, _port, stream: Duplex, signal) {
    const s = net.connect((echo.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    await relay(stream, s, signal);
  },
};

let server: StreamingServer;
const clients: SpdyTestClient[] = [];

before(async () => {
  echo = net.createServer({ allowHalfOpen: true }, (c) => c.pipe(c));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  server = new StreamingServer({ runtime, streamCreationTimeoutMs: 400 });
  await server.start();
});

after(async () => {
  for (const c of clients) c.close();
  await server.stop();
  echo.close();
});

const exec = (over: Partial<ExecRequest> = {}): string =>
  server.getExec({ containerId: 'c', cmd: ['x'], tty: false, stdin: false, stdout: true, stderr: true, ...over }).url;

async function upgrade(url: string, protocols: string[]): Promise<SpdyTestClient> {
  const a = await request(url, { protocols });
  assert.equal(a.status, 101, a.body);
  assert.deepEqual(a.headers.filter(([k]) => /^(upgrade|connection|x-stream-protocol-version)$/i.test(k)).map(([k, v]) => `${k}: ${v}`),
    ['Connection: Upgrade', 'Upgrade: SPDY/3.1', `X-Stream-Protocol-Version: ${protocols[0]}`]);
  clients.push(a.client!);
  return a.client!;
}

test('HTTP: protocol required and negotiated, upgrade headers required, tokens good once', async () => {
  const url = exec();
  const none = await request(url);
  assert.deepEqual([none.status, none.body], [400, 'unable to upgrade: X-Stream-Protocol-Version is required\n']);
  assert.equal((await request(url, { protocols: ['v4.channel.k8s.io'] })).status, 404, 'the token was used up');

  const v5 = await request(exec(), { protocols: ['v5.channel.k8s.io'] });
  assert.equal(v5.status, 403);
  assert.deepEqual(v5.headers.filter(([k]) => k === 'X-Accepted-Stream-Protocol-Versions').map(([, v]) => v),
    ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']);
  const plain = await request(exec(), { protocols: ['v4.channel.k8s.io'], upgrade: false });
  assert.equal(plain.status, 400);
  assert.match(plain.body, /^unable to upgrade: missing upgrade headers in request/);
  assert.equal((await request(exec(), { method: 'PUT', protocols: ['v4.channel.k8s.io'] })).status, 405);
  assert.equal((await request(`${server.url}exec/nosuchtk`, { protocols: ['v4.channel.k8s.io'] })).status, 404);
  assert.equal((await request(`${server.url}nothing`)).status, 404);
  // An exec token is no port-forward token, and port-forward speaks its own protocol.
  assert.equal((await request(exec().replace('/exec/', '/portforward/'), { protocols: ['portforward.k8s.io'] })).status, 404);
  const pf = server.getPortForward({ podSandboxId: 'p' }).url;
  assert.equal((await request(pf, { protocols: ['v4.channel.k8s.io'] })).status, 403);
});

test('v4: streams counted, output then the JSON status, FIN on ours, GOAWAY; PINGs echoed', async () => {
  onExec = async (_req, io) => { io.stdout!.write('out'); io.stderr!.write('err'); return 7; };
  const c = await upgrade(exec({ cmd: ['sh', '-c', 'exit 7'] }), ['v4.channel.k8s.io', 'v3.channel.k8s.io']);
  c.send({ type: 'ping', id: 1 });
  await until(() => c.pings.includes(1), 5_000, 'the PING echo');
  const e = c.open({ streamType: 'error' });
  const o = c.open({ streamType: 'stdout' });
  const calls = execCalls;
  const r = c.open({ streamType: 'stderr' });
  await until(() => c.goAway !== undefined, 5_000, 'GOAWAY');
  assert.equal(execCalls, calls + 1);
  assert.deepEqual([c.text(o), c.text(r)], ['out', 'err']);
  assert.equal(c.text(e), '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: '
    + 'error executing command [sh -c exit 7], exit code 7","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}');
  assert.ok([e, o, r].every((id) => c.streams.get(id)!.replied && c.streams.get(id)!.fin));
  assert.deepEqual([c.goAway!.lastGoodStreamId, c.goAway!.status], [5, 0]);
  c.close();
});

test('v3: with a tty the resize stream is awaited and its sizes reach the runtime; errors as text', async () => {
  onExec = async (_req, io) => {
    for await (const s of io.resize!) { sizes.push(s); if (s.width === 99) break; }
    return 2;
  };
  const c = await upgrade(exec({ tty: true, stdin: true, stderr: false }), ['v3.channel.k8s.io']);
  const e = c.open({ streamType: 'error' });
  c.open({ streamType: 'stdin' });
  c.open({ streamType: 'stdout' });
  const calls = execCalls;
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(execCalls, calls, 'not started before the resize stream');
  const z = c.open({ streamType: 'resize' });
  c.write(z, '{"Width":80,"Height":24}\n{"Width":99,"Height":1}\n');
  await until(() => c.goAway !== undefined, 5_000, 'the end of the session');
  assert.deepEqual(sizes.slice(-2), [{ width: 80, height: 24 }, { width: 99, height: 1 }]);
  assert.equal(c.text(e), 'command terminated with non-zero exit code: error executing command [x], exit code 2');
  c.close();
});

test('v2: no resize stream (a late one is refused), stdin ends at the client\'s FIN, success is silent', async () => {
  let got = '';
  onExec = async (_req, io) => {
    io.stdin!.on('data', (d: Buffer) => { got += String(d); });
    await new Promise((r) => io.stdin!.on('end', r));
    return 0;
  };
  const c = await upgrade(exec({ tty: true, stdin: true, stderr: false }), ['v2.channel.k8s.io']);
  const e = c.open({ streamType: 'error' });
  const i = c.open({ streamType: 'stdin' });
  c.open({ streamType: 'stdout' });
  await until(() => c.streams.get(i)!.replied, 5_000, 'stdin accepted');
  const z = c.open({ streamType: 'resize' });
  await until(() => c.streams.get(z)!.rst !== undefined, 5_000, 'the extra stream refused');
  c.write(i, 'abc');
  c.write(i, 'def', true);
  await until(() => c.goAway !== undefined, 5_000, 'the end of the session');
  assert.equal(got, 'abcdef');
  assert.deepEqual([c.text(e), c.streams.get(e)!.fin, c.streams.get(i)!.fin], ['', true, true]);
  c.close();
});

test('a stream the runtime destroys (a for-await loop over stdin) is reset, not left hanging', async () => {
  let got = '';
  onExec = async (_req, io) => {
    for await (const d of io.stdin!) got += String(d);
    return 0;
  };
  const c = await upgrade(exec({ stdin: true }), ['v4.channel.k8s.io']);
  c.open({ streamType: 'error' });
  const i = c.open({ streamType: 'stdin' });
  c.open({ streamType: 'stdout' });
  c.open({ streamType: 'stderr' });
  c.write(i, 'xyz', true);
  await until(() => c.goAway !== undefined, 5_000, 'the end of the session');
  assert.equal(got, 'xyz');
  assert.equal(c.streams.get(i)!.rst, 5);
  c.close();
});

test('v1: kubelet closes its side of stdin at once and resets the error stream: no status', async () => {
  onExec = async () => { await new Promise((r) => setTimeout(r, 100)); return 7; };
  const c = await upgrade(exec({ stdin: true }), ['channel.k8s.io']);
  const e = c.open({ streamType: 'error' });
  const i = c.open({ streamType: 'stdin' });
  c.open({ streamType: 'stdout' });
  c.open({ streamType: 'stderr' });
  await until(() => c.streams.get(e)!.rst !== undefined && c.streams.get(i)!.fin, 5_000, 'RST on error, FIN on stdin');
  await until(() => c.goAway !== undefined, 5_000, 'the end of the session');
  assert.equal(c.text(e), '');
  c.close();
});

test('a client that does not open its streams in time is hung up on', async () => {
  const c = await upgrade(exec(), ['v4.channel.k8s.io']);
  const e = c.open({ streamType: 'error' });
  const t0 = Date.now();
  await until(() => c.closed, 5_000, 'the server to close');
  assert.ok(Date.now() - t0 >= 300, 'not before the creation timeout');
  assert.equal(c.streams.get(e)!.rst, 5, 'the open stream is reset (CANCEL)');
  assert.equal(c.goAway?.status, 0);
});

test('port-forward: header checks, pairing by requestID (or stream id), timeouts, duplicates', async () => {
  const c = await upgrade(server.getPortForward({ podSandboxId: 'pod' }).url, ['portforward.k8s.io']);
  const noPort = c.open({ streamType: 'data' });
  const badPort = c.open({ streamType: 'data', port: '70000' });
  const badType = c.open({ streamType: 'stdin', port: '80' });
  await until(() => [noPort, badPort, badType].every((id) => c.streams.get(id)!.rst !== undefined), 5_000, 'RSTs');

  // A whole pair: the data stream carries the connection both ways; both end with FIN.
  const e = c.open({ streamType: 'error', port: '80', requestID: '0' });
  const d = c.open({ streamType: 'data', port: '80', requestID: '0' });
  c.write(d, 'ping through the pod', true);
  await until(() => c.streams.get(d)!.fin && c.streams.get(e)!.fin, 5_000, 'the pair to finish');
  assert.deepEqual([c.text(d), c.text(e)], ['ping through the pod', '']);

  // A client too old for requestID: error stream N, data stream N+2.
  const le = c.open({ streamType: 'error', port: '80' });
  const ld = c.open({ streamType: 'data', port: '80' });
  c.write(ld, 'legacy', true);
  await until(() => c.streams.get(ld)!.fin, 5_000, 'the legacy pair');
  assert.equal(c.text(ld), 'legacy');
  assert.equal(le + 2, ld);

  const lone = c.open({ streamType: 'error', port: '80', requestID: '7' });
  const dup = c.open({ streamType: 'error', port: '80', requestID: '7' });
  await until(() => /timed out waiting for streams/.test(c.text(lone)), 5_000, 'the pair timeout');
  assert.match(c.text(lone), /^error processing stream for request 7: error stream already assigned\(conn=.*, request=7\) timed out waiting for streams$/);
  assert.notEqual(c.streams.get(dup)!.rst, undefined);
  assert.equal(c.closed, false, 'the connection outlives its forwarded connections');
  c.close();
  await until(() => server.sessions === 0, 5_000, 'the session to end with its client');
});

test('stop() aborts running sessions and closes their connections', async () => {
  let aborted = false;
  onExec = (_req, _io, signal) => new Promise((resolve) => {
    signal.addEventListener('abort', () => { aborted = true; resolve(137); });
  });
  const other = new StreamingServer({ runtime });
  await other.start();
  const c = await upgrade(other.getExec({ containerId: 'c', cmd: ['sleep'], tty: false, stdin: false, stdout: true, stderr: false }).url,
    ['v4.channel.k8s.io']);
  c.open({ streamType: 'error' });
  const o = c.open({ streamType: 'stdout' });
  await until(() => c.streams.get(o)!.replied, 5_000, 'the streams');
  await until(() => other.sessions === 1, 5_000, 'the session');
  await other.stop();
  assert.equal(aborted, true);
  await until(() => c.closed, 5_000, 'the client connection to close');
  assert.equal(other.sessions, 0);
});
