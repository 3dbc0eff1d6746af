// Exit statuses through run/start -a/attach, and stdin across detach and re-attach, with
// runc under conmon and with containerd-shim-runc-v2, through the real CLI (on a pty where
// a terminal matters) against a private tsulad.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import { spawn } from 'node:child_process';
import { TestDaemon, TSULA, waitFor } from '../helpers/daemon.js';
import { PtyProcess } from '../helpers/pty.js';

let d: TestDaemon;
const SHIM = ['--runtime', 'io.containerd.runc.v2'];
const ptys: PtyProcess[] = [];

// Short containers and the status each must give. 137 comes from the OOM killer's SIGKILL:
// a `kill -9 $$` from inside cannot kill the pid namespace's init (the kernel ignores it,
// the shell goes on and exits 0, under docker too).
const SHORT: Array<{ args: string[]; code: number }> = [
  { args: ['busybox', 'false'], code: 1 },
  { args: ['busybox', 'sh', '-c', 'exit 42'], code: 42 },
  { args: ['-m', '8m', 'busybox', 'sh', '-c', 'a=xxxxxxxx; while :; do a=$a$a; done'], code: 137 },
];

before(async () => {
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  for (const p of ptys) p.kill();
  await d?.destroy();
});

function pty(args: string[]): PtyProcess {
  const p = new PtyProcess([TSULA, '-H', d.hostArg, ...args]);
  ptys.push(p);
  return p;
}

async function statuses(run: (c: typeof SHORT[number], i: number) => Promise<number>, n: number): Promise<void> {
  const wrong: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = SHORT[i % SHORT.length]!;
    const got = await run(c, i);
    if (got !== c.code) wrong.push(`#${i} ${c.args.slice(-1)[0]}: ${got}, want ${c.code}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length}/${n} statuses wrong`);
  assert.equal((await d.ok(['ps', '-aq'])).trim(), '', '--rm left containers behind');
}

test('run --rm gives the status of 50 short containers in a row (runc)', async () => {
  await statuses(async (c) => (await d.cli(['run', '--rm', ...c.args])).code, 50);
});

test('run --rm gives the status of short containers (io.containerd.runc.v2)', async () => {
  await statuses(async (c) => (await d.cli(['run', '--rm', ...SHIM, ...c.args])).code, 12);
});

test('start -a gives the status of short containers (runc, shim v2, with and without --rm)', async () => {
  await statuses(async (c, i) => {
    const rm = i % 2 ? ['--rm'] : [];
    const rt = i % 4 >= 2 ? SHIM : [];
    const id = (await d.ok(['create', ...rm, ...rt, ...c.args])).trim();
    const r = await d.cli(['start', '-a', id]);
    if (!rm.length) await d.ok(['rm', id]);
    return r.code;
  }, 12);
});

test('attach gives the status of the container it followed', async () => {
  // the container speaks only once the attach is there (docker's "attach" event), however slow the CLI
  const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; echo bye; exit 7'])).trim();
  const att = d.cli(['attach', id]);
  await waitFor(async () => (await d.cli(['events', '--since', '0', '--until', `${Math.floor(Date.now() / 1000) + 1}`, '--filter', `container=${id}`, '--filter', 'event=attach'])).stdout.includes(' attach '), 30_000, 'the attach event');
  await d.ok(['exec', id, 'touch', '/tmp/go']);
  const r = await att;
  assert.equal(r.stdout, 'bye\n');
  assert.equal(r.code, 7);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.ExitCode}}', id])).trim(), '7');
  await d.ok(['rm', id]);
});

test('run -i without a TTY: the end of our input is the container\'s stdin EOF', async () => {
  for (const rt of [[], SHIM]) {
    const r = await d.cli(['run', '-i', '--rm', ...rt, 'busybox', 'sh', '-c', 'cat; echo done'], { input: 'piped\n' });
    assert.equal(r.stdout, 'piped\ndone\n');
    assert.equal(r.code, 0);
  }
});

for (const [label, rt] of [['runc', []], ['io.containerd.runc.v2', SHIM]] as const) {
  test(`run -it, Ctrl-P Ctrl-Q, attach: typing still reaches the shell (${label})`, async () => {
    const name = `detach-${label.replace(/\W/g, '')}`;
    const run = pty(['run', '-it', '--rm', '--name', name, ...rt, 'busybox', 'sh']);
    await run.expect(/# /);
    run.type('echo one-$((40+2))\r');
    await run.expect(/one-42/);
    run.type('\x10\x11');
    assert.equal(await run.status(), 0, 'detaching is a success');
    assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', name])).trim(), 'true');

    for (const [i, detach] of [[1, true], [2, false]] as const) {
      const att = pty(['attach', name]);
      // a bare Enter first: had the Ctrl-P of the last detach reached ash, it would recall
      // the last line, and this Enter would run it again
      att.type('\r');
      await att.expect(/# /);
      att.type(`echo again${i}-$((${i}+1))\r`);
      await att.expect(new RegExp(`again${i}-${i + 1}`));
      assert.doesNotMatch(att.output, i === 1 ? /one-42/ : /again1-2/, 'the detach keys reached the shell');
      if (detach) {
        att.type('\x10\x11');
        // docker attach's EscapeError: "read escape sequence", status 1 (run's detach is a success)
        assert.equal(await att.status(), 1);
        assert.match(att.output, /read escape sequence/);
      } else {
        att.type('exit 3\r');
        assert.equal(await att.status(), 3, 'attach returns the exit status');
      }
    }
    await waitFor(async () => (await d.api('GET', `/containers/${name}/json`)).status === 404, 10_000, '--rm removal');
  });
}

test('the daemon swallows the detach keys of a client that sends every byte, and stdin stays open; it logs dockerd\'s detach event', async () => {
  const since = Math.floor(Date.now() / 1000) - 1;
  const id = (await d.ok(['run', '-dit', 'busybox', 'sh'])).trim();
  const first = await rawAttach(id, '');
  first.write('echo raw-$((2+3))\r');
  await waitFor(async () => /raw-5/.test(first.text()), 10_000, 'raw-5');
  first.write('\x10\x11');
  await within(first.ended, 15_000, 'the end of the attach stream');
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'true');
  const until = Math.ceil(Date.now() / 1000) + 1;
  const ev = await d.api('GET', `/v1.41/events?since=${since}&until=${until}&filters=${encodeURIComponent(JSON.stringify({ event: ['detach'] }))}`);
  const detaches = ev.body.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Action: string; id: string });
  assert.deepEqual(detaches.map((e) => [e.Action, e.id]), [['detach', id]]);
  // custom keys through the API's detachKeys parameter
  const second = await rawAttach(id, 'ctrl-x,x');
  second.write('\recho raw-$((3+4))\r');
  await waitFor(async () => /raw-7/.test(second.text()), 10_000, 'raw-7');
  assert.doesNotMatch(second.text(), /raw-5/, 'Ctrl-P reached the shell');
  second.write('\x18x');
  await within(second.ended, 15_000, 'the end of the attach stream');
  const third = await rawAttach(id, '');
  third.write('exit 5\r');
  await within(third.ended, 15_000, 'the end of the attach stream');
  assert.equal((await d.ok(['wait', id])).trim(), '5');
  await d.ok(['rm', id]);
});

test('exec start whose body comes in a read of its own (docker 28 sends it so): stdin, its end and the exit still arrive; no fd left', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '600'])).trim();
  const exec = JSON.parse((await d.api('POST', `/v1.41/containers/${id}/exec`, JSON.stringify({ AttachStdin: true, AttachStdout: true, AttachStderr: true, Cmd: ['cat'] }))).body) as { Id: string };
  const fds = async () => (await fs.readdir(`/proc/${d.proc!.pid}/fd`)).length;
  const before = await fds();
  for (let i = 0; i < 3; i++) {
    const ex = JSON.parse((await d.api('POST', `/v1.41/containers/${id}/exec`, JSON.stringify({ AttachStdin: true, AttachStdout: true, AttachStderr: true, Cmd: ['cat'] }))).body) as { Id: string };
    const body = '{"Detach":false,"Tty":false}';
    const sock = net.connect(d.sock);
    await new Promise((r) => sock.once('connect', r));
    let buf = Buffer.alloc(0);
    sock.on('data', (c: Buffer) => { buf = Buffer.concat([buf, c]); });
    const ended = new Promise<void>((r) => sock.once('end', () => { sock.destroy(); r(); }));
    sock.write(`POST /v1.41/exec/${ex.Id}/start HTTP/1.1\r\nHost: tsula\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100)); // the head read alone first
    sock.write(body);
    await waitFor(async () => buf.includes('\r\n\r\n'), 10_000, 'exec start response');
    sock.end('hello\n'); // stdin, then its end
    await within(ended, 15_000, 'the end of the exec stream');
    const out = buf.subarray(buf.indexOf('\r\n\r\n') + 4);
    assert.equal(out.subarray(8).toString(), 'hello\n', 'stdout, in one frame');
    assert.equal(out[0], 1);
  }
  assert.ok(exec.Id);
  // the exec's attach sockets are gone with them (one fd per exec leaked before)
  await waitFor(async () => (await fds()) <= before + 1, 10_000, `tsulad's fds back to ${before}`);
  await d.ok(['rm', '-f', id]);
});

test('an exec whose client does not read waits on its writes (dockerd\'s copy blocks on its client), and everything comes once the client reads', async () => {
  const id = (await d.ok(['run', '-d', 'busybox', 'sleep', '600'])).trim();
  const size = 8 << 20;
  const ex = JSON.parse((await d.api('POST', `/v1.41/containers/${id}/exec`, JSON.stringify({ AttachStdout: true, AttachStderr: true, Cmd: ['sh', '-c', `head -c ${size} /dev/zero; touch /tmp/finished`] }))).body) as { Id: string };
  const sock = net.connect(d.sock);
  await new Promise((r) => sock.once('connect', r));
  const body = '{"Detach":false,"Tty":false}';
  sock.pause(); // a client that reads nothing
  sock.write(`POST /v1.41/exec/${ex.Id}/start HTTP/1.1\r\nHost: tsula\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  await new Promise((r) => setTimeout(r, 3000));
  assert.equal((await d.cli(['exec', id, 'test', '-e', '/tmp/finished'])).code, 1, 'the process waits on its writes');
  let got = 0;
  const ended = new Promise<void>((r) => sock.once('end', () => r()));
  sock.on('data', (c: Buffer) => { got += c.length; });
  sock.resume();
  await within(ended, 60_000, 'the end of the exec stream');
  sock.destroy();
  // 8 MiB of zeros in frames (8-byte headers), after the 101: nothing dropped
  assert.ok(got > size && got < size * 1.1, `${got} bytes`);
  assert.equal((await d.cli(['exec', id, 'test', '-e', '/tmp/finished'])).code, 0);
  await d.ok(['rm', '-f', id]);
});

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(t));
}

/** POST /attach with Upgrade: tcp on a bare socket: every byte we write goes to the daemon. */
async function rawAttach(id: string, detachKeys: string): Promise<{ write(s: string): void; text(): string; ended: Promise<void> }> {
  const sock = net.connect(d.sock);
  await new Promise((r) => sock.once('connect', r));
  const q = `stream=1&stdin=1&stdout=1&stderr=1${detachKeys ? `&detachKeys=${encodeURIComponent(detachKeys)}` : ''}`;
  sock.write(`POST /v1.41/containers/${id}/attach?${q} HTTP/1.1\r\nHost: tsula\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n`);
  let buf = '';
  sock.on('data', (c: Buffer) => { buf += c.toString('latin1'); });
  const ended = new Promise<void>((r) => sock.once('end', () => { sock.destroy(); r(); }));
  await waitFor(async () => buf.includes('\r\n\r\n'), 10_000, 'attach response');
  assert.match(buf, /^HTTP\/1.1 101/);
  return { write: (s) => sock.write(Buffer.from(s, 'latin1')), text: () => buf, ended };
}

/** websocket-client (python3-websocket, a stock client) on the daemon's unix socket: what it reads, then how it ended. */
function wsAttach(path: string, send: string[]): Promise<{ frames: Array<{ op: number; data: string }>; error: string }> {
  const script = `
import json, socket, sys, websocket
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
frames, error = [], ''
try:
    ws = websocket.create_connection('ws://localhost' + sys.argv[2], socket=s, timeout=20)
    for line in json.loads(sys.argv[3]):
        ws.send(line)
    while True:
        op, data = ws.recv_data(control_frame=False)
        if op == websocket.ABNF.OPCODE_CLOSE: break
        frames.append({'op': op, 'data': data.decode('utf-8', 'replace')})
except websocket.WebSocketConnectionClosedException:
    pass
except Exception as e:
    error = '%s: %s' % (type(e).__name__, e)
print(json.dumps({'frames': frames, 'error': error}))
`;
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', ['-c', script, d.sock, path, JSON.stringify(send)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => { out += b; });
    p.stderr.on('data', (b: Buffer) => { err += b; });
    p.on('close', () => { try { resolve(JSON.parse(out)); } catch { reject(new Error(`python: ${out} ${err}`)); } });
  });
}

test('GET /containers/{id}/attach/ws (dockerd\'s WebSocket attach): stdin in, raw output as binary messages (text before API 1.28), the exit closes it', async () => {
  const id = (await d.ok(['run', '-di', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; echo "err $l" >&2; [ "$l" = bye ] && exit 3; done'])).trim();
  const r = await wsAttach(`/v1.41/containers/${id}/attach/ws?stream=1`, ['one\n', 'bye\n']);
  assert.equal(r.error, '');
  // below 1.42 every stream is attached whatever the query says; never multiplexed
  const text = r.frames.map((f) => f.data).join('');
  assert.match(text, /got one\n/);
  assert.match(text, /err one\n/);
  assert.ok(r.frames.every((f) => f.op === 2), 'binary messages from API 1.28');
  assert.equal((await d.ok(['wait', id])).trim(), '3');
  await d.ok(['rm', id]);
  // API 1.27: text messages; 1.42: only the streams asked for
  const id2 = (await d.ok(['run', '-di', 'busybox', 'sh', '-c', 'read l; echo "out $l"; echo "err $l" >&2'])).trim();
  const old = await wsAttach(`/v1.27/containers/${id2}/attach/ws?stream=1`, ['x\n']);
  assert.ok(old.frames.length > 0 && old.frames.every((f) => f.op === 1), JSON.stringify(old));
  await d.ok(['rm', '-f', id2]);
  const id3 = (await d.ok(['run', '-di', 'busybox', 'sh', '-c', 'read l; echo "out $l"; echo "err $l" >&2'])).trim();
  const only = await wsAttach(`/v1.42/containers/${id3}/attach/ws?stream=1&stdin=1&stderr=1`, ['y\n']);
  assert.equal(only.frames.map((f) => f.data).join(''), 'err y\n');
  await d.ok(['rm', '-f', id3]);
  // what dockerd refuses before the handshake: an HTTP error
  const missing = await wsAttach('/v1.41/containers/nosuch/attach/ws?stream=1', []);
  assert.match(missing.error, /404/);
});
