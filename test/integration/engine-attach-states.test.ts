// POST /containers/{id}/attach in every state, as dockerd answers it, over raw HTTP on the
// unix socket: headers at once on every path; a created or exited container's attach waits
// for its next start (docker's `start -a`), one whose process just ended ends with it;
// removal and a client that leaves end the wait (a half-close does not); a paused container
// is a 409 before any switch of protocols.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { promises as fs } from 'node:fs';
import { TestDaemon, waitFor } from '../helpers/daemon.js';

let d: TestDaemon;

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  await d?.destroy();
});

interface Attach {
  /** Resolves with the status line and headers as soon as they arrive. */
  head: Promise<string>;
  /** The body so far, docker's 8-byte frames stripped (multiplexed containers). */
  body(): string;
  ended: Promise<void>;
  write(s: string): void;
  endInput(): void;
  destroy(): void;
}

function attach(id: string, query: string, upgrade = true): Attach {
  const sock = net.connect(d.sock);
  sock.write(`POST /v1.41/containers/${id}/attach?${query} HTTP/1.1\r\nHost: tsula\r\n`
    + (upgrade ? 'Connection: Upgrade\r\nUpgrade: tcp\r\n' : '') + 'Content-Length: 0\r\n\r\n');
  let buf = Buffer.alloc(0);
  let gotHead: (h: string) => void;
  const head = new Promise<string>((r) => { gotHead = r; });
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    const i = buf.indexOf('\r\n\r\n');
    if (i >= 0) gotHead(buf.subarray(0, i).toString('latin1'));
  });
  const ended = new Promise<void>((r) => { sock.once('end', () => r()); sock.once('close', () => r()); });
  return {
    head,
    body: () => {
      const i = buf.indexOf('\r\n\r\n');
      return i < 0 ? '' : demux(buf.subarray(i + 4));
    },
    ended,
    write: (s) => sock.write(s),
    endInput: () => sock.end(),
    destroy: () => sock.destroy(),
  };
}

/** Strip docker's stream frames ([stream,0,0,0,len BE32] payload). */
function demux(b: Buffer): string {
  let out = '';
  while (b.length >= 8 && b[1] === 0 && b[2] === 0 && b[3] === 0 && b[0]! <= 2) {
    const n = b.readUInt32BE(4);
    out += b.subarray(8, 8 + n).toString('utf8');
    b = b.subarray(8 + n);
  }
  return out + b.toString('utf8');
}

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

const create = async (cmd: string[], extra: Record<string, unknown> = {}) => {
  const r = await d.api('POST', '/v1.41/containers/create', JSON.stringify({ Image: 'busybox', Cmd: cmd, ...extra }));
  assert.equal(r.status, 201, r.body);
  return (JSON.parse(r.body) as { Id: string }).Id;
};

test('a created container: headers at once, then its output once started, and the end with its exit', async () => {
  const id = await create(['sh', '-c', 'echo out; echo err >&2']);
  for (const upgrade of [true, false]) {
    const a = attach(id, 'stream=1&stdout=1&stderr=1', upgrade);
    assert.match(await within(a.head, 10_000, 'the headers'), upgrade ? /^HTTP\/1.1 101/ : /^HTTP\/1.1 200/);
    await d.ok(['start', id]);
    await within(a.ended, 30_000, 'the end of the stream');
    assert.match(a.body(), /out\n/);
    assert.match(a.body(), /err\n/);
    await d.ok(['wait', id]);
  }
  await d.ok(['rm', id]);
});

test('an exited container: logs=1 replays at once; stream=1 waits for the next start (docker start -a)', async () => {
  const id = await create(['sh', '-c', 'echo run-$(cat /proc/uptime | cut -d. -f1)-$$; echo e >&2']);
  await d.ok(['start', id]);
  await d.ok(['wait', id]);
  const logs = attach(id, 'logs=1&stdout=1');
  await within(logs.ended, 10_000, 'a logs-only attach to end');
  assert.match(logs.body(), /^run-/);
  assert.doesNotMatch(logs.body(), /\ne\n|^e\n/, 'stderr was not asked for');
  const a = attach(id, 'stream=1&stdout=1');
  assert.match(await within(a.head, 10_000, 'the headers'), /^HTTP\/1.1 101/);
  await d.ok(['start', id]);
  await within(a.ended, 30_000, 'the end of the stream');
  assert.match(a.body(), /^run-/);
  assert.equal(a.body().split('\n').filter(Boolean).length, 1, 'only the new run, no replay');
  await d.ok(['rm', id]);
});

test('started, then attached (compose\'s order): a process already gone ends the stream with its exit, no error in it', async () => {
  // the attach may come after the process ended and before its exit is recorded: dockerd's
  // attach then gets the end of that run's streams; it must never read "Error attaching"
  for (let i = 0; i < 8; i++) {
    const id = await create(['true']);
    await d.ok(['start', id]);
    const a = attach(id, 'stream=1&stdout=1&stderr=1');
    assert.match(await within(a.head, 10_000, 'the headers'), /^HTTP\/1.1 101/);
    // it ends: with that exit, or (recorded already) with the next run's, started here
    const next = (async () => { await d.ok(['wait', id]); await d.ok(['start', id]); })().catch(() => undefined);
    await within(a.ended, 30_000, 'the end of the stream');
    assert.doesNotMatch(a.body(), /Error attaching/);
    await next;
    await d.ok(['rm', '-f', id]);
  }
});

test('a running container: logs=1&stream=1 gives the past, then what comes', async () => {
  const id = await create(['sh', '-c', 'echo one; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo two']);
  await d.ok(['start', id]);
  await waitFor(async () => (await d.ok(['logs', id])).includes('one'), 10_000, 'the first line');
  const a = attach(id, 'logs=1&stream=1&stdout=1');
  await within(a.head, 10_000, 'the headers');
  await waitFor(async () => a.body().includes('one\n'), 10_000, 'the replayed line');
  await d.ok(['exec', id, 'touch', '/tmp/go']);
  await within(a.ended, 30_000, 'the end of the stream');
  assert.equal(a.body(), 'one\ntwo\n');
  await d.ok(['rm', id]);
});

test('removing a container ends the attaches that wait for its start', async () => {
  const id = await create(['true']);
  const a = attach(id, 'stream=1&stdout=1');
  await within(a.head, 10_000, 'the headers');
  await d.ok(['rm', id]);
  await within(a.ended, 10_000, 'the end of the stream');
});

test('a reader that leaves while it waits is forgotten; one that only half-closes stays attached', async () => {
  // conmon holds one socket per attached client: count them against a container nobody attached to
  const cmd = ['sh', '-c', 'echo hello; sleep 300'];
  const baseline = await create(cmd);
  const id = await create(cmd);
  const gone = attach(id, 'stream=1&stdout=1');
  await within(gone.head, 10_000, 'the headers');
  gone.destroy();
  // the docker CLI half-closes at once when it sends no stdin, and reads on (dockerd ignores it)
  const eof = attach(id, 'stream=1&stdout=1');
  await within(eof.head, 10_000, 'the headers');
  eof.endInput();
  const kept = attach(id, 'stream=1&stdout=1');
  await within(kept.head, 10_000, 'the headers');
  await d.ok(['start', baseline]);
  await d.ok(['start', id]);
  await waitFor(async () => eof.body().includes('hello') && kept.body().includes('hello'), 10_000, 'the output in both streams');
  const sockets = async (cid: string) => {
    const pid = await conmonOf(cid);
    let n = 0;
    for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
      if ((await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')).startsWith('socket:')) n++;
    }
    return n;
  };
  // the readers still there share one connection to conmon (made at the start, before any output)
  assert.equal(await sockets(id), (await sockets(baseline)) + 1, 'only the readers still there are attached');
  kept.destroy();
  eof.destroy();
  await d.ok(['rm', '-f', id, baseline]);
});

async function conmonOf(id: string): Promise<number> {
  for (const p of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const cmd = await fs.readFile(`/proc/${p}/cmdline`, 'utf8').catch(() => '');
    if (cmd.split('\0')[0]!.endsWith('conmon') && cmd.includes(id) && cmd.includes(d.dir)) return Number(p);
  }
  throw new Error(`no conmon for ${id}`);
}

test('a paused container is a 409 and a missing one a 404, before any upgrade', async () => {
  const id = await create(['sleep', '300']);
  await d.ok(['start', id]);
  await d.ok(['pause', id]);
  const a = attach(id, 'stream=1&stdout=1');
  assert.match(await within(a.head, 10_000, 'the answer'), /^HTTP\/1.1 409/);
  await within(a.ended, 10_000, 'the end of the answer');
  assert.match(a.body(), /is paused, unpause the container before attach/);
  await d.ok(['unpause', id]);
  const bad = attach(id, 'stream=1&stdin=1&detachKeys=ctrl-%C3%A9');
  assert.match(await within(bad.head, 10_000, 'the answer'), /^HTTP\/1.1 400/);
  await d.ok(['rm', '-f', id]);
  const missing = attach('nosuch', 'stream=1&stdout=1');
  assert.match(await within(missing.head, 10_000, 'the answer'), /^HTTP\/1.1 404/);
});
