// The streaming protocols' vocabulary: subprotocol negotiation, the error stream's
// metav1.Status as Go marshals it, resize messages, one-time tokens, request validation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import {
  REMOTE_COMMAND_PROTOCOLS, PORT_FORWARD_PROTOCOLS, SUCCESS, exitCodeStatus, internalErrorStatus, negotiate, statusJson,
  statusText,
} from '../../src/cri/streaming/protocol.js';
import { JsonObjectSplitter, resizeEvents } from '../../src/cri/streaming/remotecommand.js';
import { RequestCache } from '../../src/cri/streaming/cache.js';
import { StreamingServer, type TerminalSize } from '../../src/cri/streaming/index.js';
import { isKind } from '../../src/common/errors.js';

test('negotiation: the client\'s first protocol the server knows, over comma lists and header lines', () => {
  const ok = (offered: string[], server: readonly string[] = REMOTE_COMMAND_PROTOCOLS): string | undefined => {
    const n = negotiate(offered, server);
    return n.ok ? n.protocol : undefined;
  };
  // client-go's SPDY executor offers v4, v3, v2, v1 as separate header lines.
  assert.equal(ok(['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']), 'v4.channel.k8s.io');
  assert.equal(ok(['v5.channel.k8s.io, v3.channel.k8s.io', 'v4.channel.k8s.io']), 'v3.channel.k8s.io');
  assert.equal(ok([' channel.k8s.io ']), 'channel.k8s.io');
  assert.equal(ok(['portforward.k8s.io'], PORT_FORWARD_PROTOCOLS), 'portforward.k8s.io');
  assert.equal(ok(['v4.channel.k8s.io'], PORT_FORWARD_PROTOCOLS), undefined);

  const none = negotiate([], REMOTE_COMMAND_PROTOCOLS);
  assert.deepEqual(none, { ok: false, status: 400, message: 'unable to upgrade: X-Stream-Protocol-Version is required', accepted: [] });
  const bad = negotiate(['v5.channel.k8s.io,', 'x'], REMOTE_COMMAND_PROTOCOLS);
  assert.equal(bad.ok, false);
  if (bad.ok) return;
  assert.equal(bad.status, 403);
  assert.deepEqual(bad.accepted, REMOTE_COMMAND_PROTOCOLS);
  assert.equal(bad.message, 'unable to upgrade: unable to negotiate protocol: client supports [v5.channel.k8s.io x], '
    + 'server accepts [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]');
});

test('error stream statuses are byte for byte what kubelet marshals', () => {
  assert.equal(statusJson(SUCCESS), '{"metadata":{},"status":"Success"}');
  assert.equal(statusJson(exitCodeStatus(7, ['sh', '-c', 'exit 7'])),
    '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 7], exit code 7",'
    + '"reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"7"}]}}');
  assert.equal(statusJson(internalErrorStatus('error executing command in container: <boom> & "x"')),
    '{"metadata":{},"status":"Failure","message":"Internal error occurred: error executing command in container: \\u003cboom\\u003e \\u0026 \\"x\\"",'
    + '"reason":"InternalError","details":{"causes":[{"message":"error executing command in container: \\u003cboom\\u003e \\u0026 \\"x\\""}]},"code":500}');
  // v1–v3: the message as text, nothing for success.
  assert.equal(statusText(SUCCESS), '');
  assert.equal(statusText(exitCodeStatus(3, ['false'])), 'command terminated with non-zero exit code: error executing command [false], exit code 3');
});

test('resize messages: one JSON object after another, however the bytes are cut', async () => {
  const s = new JsonObjectSplitter();
  assert.deepEqual(s.push('{"Width":80,"He'), []);
  assert.deepEqual(s.push('ight":24}\n{"Width":1'), ['{"Width":80,"Height":24}']);
  assert.deepEqual(s.push('00,"Height":30}{"a":"}{"}  '), ['{"Width":100,"Height":30}', '{"a":"}{"}']);
  assert.throws(() => s.push('[1]'), /unexpected/);

  const pipe = new PassThrough();
  const sizes: TerminalSize[] = [];
  const done = (async () => { for await (const z of resizeEvents(pipe)) sizes.push(z); })();
  pipe.write('{"Width":80,"Height":24}\n');
  pipe.write('{"width":120,"height":40}\n{"Width":');
  pipe.write('7}\n{"Width":-1,"Height":2}\n{"Width":5,"Height":5}\n');
  pipe.end();
  await done;
  // Field names match as Go's decoder matches them; the first bad value ends the sequence.
  assert.deepEqual(sizes, [{ width: 80, height: 24 }, { width: 120, height: 40 }, { width: 7, height: 0 }]);
});

test('tokens: 8 URL-safe characters, used once, gone after their TTL, at most maxInFlight waiting', () => {
  let now = 1_000_000;
  const c = new RequestCache<string>({ ttlMs: 60_000, maxInFlight: 3, now: () => now });
  const t1 = c.insert('a');
  assert.match(t1, /^[A-Za-z0-9_-]{8}$/);
  assert.equal(c.consume(t1), 'a');
  assert.equal(c.consume(t1), undefined, 'a token is good once');
  const t2 = c.insert('b');
  now += 60_001;
  assert.equal(c.consume(t2), undefined, 'an expired token is refused');
  c.insert('c'); c.insert('d'); c.insert('e');
  assert.throws(() => c.insert('f'), (e: unknown) => isKind(e, 'Unavailable') && /in-flight/.test(String(e)));
  now += 60_001;
  c.insert('g');
  assert.equal(c.size, 1, 'expired entries are collected on insert');
});

test('getExec/getAttach/getPortForward validate as kubelet does (InvalidArgument)', async () => {
  const rt = { exec: async () => ({ exitCode: 0 }), attach: async () => {}, portForward: async () => {} };
  const s = new StreamingServer({ runtime: rt });
  const base = { containerId: 'c', cmd: ['true'], tty: false, stdin: false, stdout: true, stderr: false };
  const invalid = (f: () => unknown, msg: RegExp): void => {
    assert.throws(f, (e: unknown) => isKind(e, 'InvalidArgument') && msg.test(String(e)));
  };
  invalid(() => s.getExec({ ...base, containerId: '' }), /missing required container_id/);
  invalid(() => s.getExec({ ...base, tty: true, stderr: true }), /tty and stderr cannot both be true/);
  invalid(() => s.getExec({ ...base, stdout: false }), /one of stdin, stdout, or stderr must be set/);
  invalid(() => s.getAttach({ ...base, stdout: false }), /one of stdin, stdout, and stderr must be set/);
  invalid(() => s.getPortForward({ podSandboxId: '' }), /missing required pod_sandbox_id/);
  assert.throws(() => s.getExec(base), (e: unknown) => isKind(e, 'FailedPrecondition'), 'no URL before start()');

  await s.start();
  try {
    const { url } = s.getExec(base);
    assert.match(url, new RegExp(`^${s.url}exec/[A-Za-z0-9_-]{8}$`));
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.match(s.getAttach(base).url, /\/attach\/[A-Za-z0-9_-]{8}$/);
    assert.match(s.getPortForward({ podSandboxId: 'p', port: [80] }).url, /\/portforward\/[A-Za-z0-9_-]{8}$/);
  } finally {
    await s.stop();
  }
  const proxied = new StreamingServer({ runtime: rt, baseUrl: 'https://node.example:10010/cri' });
  await proxied.start();
  try {
    assert.match(proxied.getExec(base).url, /^https:\/\/node\.example:10010\/cri\/exec\/[A-Za-z0-9_-]{8}$/);
  } finally {
    await proxied.stop();
  }
});
