// The streaming server against the real client: crictl v1.29.0 (client-go's SPDY executor
// and port-forwarder) runs exec, exec -i, exec -it on a real pty with a resize, attach
// and port-forward through a CRI gRPC server in this process whose Exec/Attach/PortForward
// URLs come from a StreamingServer over a fake runtime of local processes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { FakeCri, FakeRuntime, SizedPty, findCrictl } from '../helpers/cri-streaming.js';
import { waitFor } from '../helpers/daemon.js';
import { freePort } from '../helpers/network.js';

let rt: FakeRuntime;
let cri: FakeCri;
let crictlPath: string;
const children: ChildProcess[] = [];
const ptys: SizedPty[] = [];
const servers: net.Server[] = [];

before(async () => {
  crictlPath = findCrictl();
  rt = new FakeRuntime();
  cri = await FakeCri.start(rt);
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const p of ptys) p.kill();
  for (const s of servers) s.close();
  rt?.killAll();
  await cri?.stop();
});

interface Run { code: number; out: string; err: string }

function crictl(args: string[], input?: Buffer | string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(crictlPath, [...cri.crictlArgs(), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(p);
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.stdin.on('error', () => {});
    p.stdin.end(input ?? '');
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, out: Buffer.concat(out).toString('latin1'), err }));
  });
}

const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

test('exec: stdout and stderr apart, the exit code through the v4 error stream', async () => {
  const r = await crictl(['exec', 'c1', 'sh', '-c', 'echo out; echo err >&2; exit 7']);
  assert.equal(r.out, 'out\n');
  assert.match(r.err, /^err\n/);
  // crictl v1.29 reports a non-zero exit as a fatal error: status 1, the code in the message.
  assert.match(r.err, /command terminated with exit code 7/);
  assert.equal(r.code, 1);
  const req = rt.execs.at(-1)!;
  assert.deepEqual({ ...req, cmd: req.cmd.join(' ') },
    { containerId: 'c1', cmd: 'sh -c echo out; echo err >&2; exit 7', tty: false, stdin: false, stdout: true, stderr: true });
  assert.deepEqual(cri.calls.slice(-2), ['Version', 'Exec']);

  const ok = await crictl(['exec', 'c1', 'sh', '-c', 'echo fine']);
  assert.deepEqual([ok.code, ok.out, ok.err], [0, 'fine\n', '']);
});

test('exec -i: piped stdin reaches the command and its EOF ends it (2 MiB through sha256sum)', async () => {
  const small = await crictl(['exec', '-i', 'c1', 'cat'], 'hello stdin\n');
  assert.deepEqual([small.code, small.out], [0, 'hello stdin\n']);
  const big = randomBytes(2 << 20);
  const r = await crictl(['exec', '-i', 'c1', 'sha256sum'], big);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.split(' ')[0], sha(big));
});

test('exec: 3 MB of output arrive whole, and 40 short execs in a row lose no tail', async () => {
  const r = await crictl(['exec', 'c1', 'sh', '-c', 'head -c 3000000 /dev/zero | tr "\\0" x; echo; echo end']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out.length, 3_000_000 + 5);
  assert.ok(r.out.endsWith('x\nend\n'));
  const wrong: string[] = [];
  for (let i = 0; i < 40; i++) {
    const e = await crictl(['exec', 'c1', 'sh', '-c', `echo line-${i}; echo err-${i} >&2`]);
    if (e.code !== 0 || e.out !== `line-${i}\n` || e.err !== `err-${i}\n`) wrong.push(`#${i}: ${JSON.stringify(e)}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length}/40 execs lost output`);
});

test('exec of a command the runtime cannot run: an internal error, said to the client', async () => {
  const r = await crictl(['exec', 'c1', '/nonexistent/cmd']);
  assert.equal(r.code, 1);
  assert.match(r.err, /error executing command in container: .*ENOENT/);
});

test('exec -it on a real terminal: the tty, its size and a resize reach the runtime', async () => {
  const before = rt.resizes.length;
  const p = new SizedPty([crictlPath, ...cri.crictlArgs(), 'exec', '-it', 'c1', 'sh'], { rows: 30, cols: 100 }, { rows: 40, cols: 120 });
  ptys.push(p);
  await waitFor(async () => /# $|\$ $/.test(p.output), 15_000, `a shell prompt in ${JSON.stringify(p.output)}`);
  p.type('stty size\r');
  await waitFor(async () => p.output.includes('30 100'), 10_000, `"30 100" in ${JSON.stringify(p.output)}`);
  p.resize();
  await waitFor(async () => rt.resizes.length > before + 1, 10_000, 'the second size');
  p.type('stty size; tty\r');
  await waitFor(async () => p.output.includes('40 120'), 10_000, `"40 120" in ${JSON.stringify(p.output)}`);
  p.type('exit 3\r');
  assert.equal(await p.exited, 1);
  assert.match(p.output, /\/dev\/pts\/\d+/);
  assert.match(p.output, /command terminated with exit code 3/);
  assert.deepEqual(rt.resizes.slice(before), [{ width: 100, height: 30 }, { width: 120, height: 40 }]);
  const req = rt.execs.at(-1)!;
  assert.deepEqual([req.tty, req.stdin, req.stdout, req.stderr], [true, true, true, false]);
});

test('attach -i: the container gets the client\'s stdin and its output comes back', async () => {
  rt.startContainer('a1', 'while read l; do echo "got $l"; done; echo bye');
  const r = await crictl(['attach', '-i', 'a1'], 'one\ntwo\n');
  assert.deepEqual([r.code, r.out, r.err], [0, 'got one\ngot two\nbye\n', '']);
  assert.equal(cri.calls.at(-1), 'Attach');
  const missing = await crictl(['attach', 'nosuch']);
  assert.equal(missing.code, 1);
  assert.match(missing.err, /error attaching to container: container nosuch not found/);
});


/** One forwarded connection: the pod's greeting, then `data` echoed back, then EOF. */
function roundTrip(port: number, data: Buffer): Promise<{ greeting: string; echoed: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(got);
      const nl = all.indexOf(10);
      resolve({ greeting: all.subarray(0, nl + 1).toString(), echoed: all.subarray(nl + 1) });
    });
    s.end(data);
  });
}

test('port-forward LOCAL:80: TCP clients reach the pod\'s server, one by one and at once', async () => {
  // The pod's port 80: greets, echoes, and closes when the client is done sending.
  const pod = net.createServer({ allowHalfOpen: true }, (c) => { c.write('hello from pod\n'); c.pipe(c); });
  servers.push(pod);
  await new Promise<void>((r) => pod.listen(0, '127.0.0.1', r));
  rt.ports.set(80, (pod.address() as net.AddressInfo).port);

  const local = await freePort();
  const pf = spawn(crictlPath, [...cri.crictlArgs(), 'port-forward', 'pod1', `${local}:80`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(pf);
  let out = '';
  let err = '';
  pf.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  pf.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await waitFor(async () => out.includes(`Forwarding from 127.0.0.1:${local} -> 80`), 15_000, `crictl's "Forwarding from" in ${JSON.stringify(out + err)}`);
  assert.equal(cri.calls.at(-1), 'PortForward');

  const wrong: string[] = [];
  const check = async (i: number, size: number): Promise<void> => {
    const data = randomBytes(size);
    const r = await roundTrip(local, data);
    if (r.greeting !== 'hello from pod\n' || !r.echoed.equals(data)) wrong.push(`#${i}: ${r.greeting.trim()} ${r.echoed.length}/${size} bytes`);
  };
  for (let i = 0; i < 20; i++) await check(i, i === 0 ? 1 << 20 : 1000 + i);
  await Promise.all(Array.from({ length: 10 }, (_, i) => check(100 + i, 256 * 1024)));
  assert.deepEqual(wrong, [], `${wrong.length}/30 forwarded connections wrong`);
  assert.equal(rt.forwarded.filter((f) => f.pod === 'pod1' && f.port === 80).length, 30);
  assert.equal(pf.exitCode, null, `crictl port-forward stopped: ${err}`);

  pf.kill('SIGINT');
  await new Promise((r) => (pf.exitCode !== null ? r(null) : pf.on('close', r)));
  await waitFor(async () => cri.streaming.sessions === 0, 10_000, 'the port-forward session to end');
});

test('port-forward to a port nobody listens on: the runtime\'s error reaches crictl', async () => {
  const local = await freePort();
  const pf = spawn(crictlPath, [...cri.crictlArgs(), 'port-forward', 'pod2', `${local}:81`], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(pf);
  let out = '';
  let err = '';
  pf.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  pf.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await waitFor(async () => out.includes(`-> 81`), 15_000, 'crictl to listen');
  const s = net.connect(local, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.on('close', r));
  const code = await new Promise((r) => (pf.exitCode !== null ? r(pf.exitCode) : pf.on('close', r)));
  assert.match(err, /error forwarding port 81 to pod pod2, uid : dial tcp4 127\.0\.0\.1:81/);
  // client-go drops the whole connection after an error on a pair's error stream.
  assert.match(err, /lost connection to pod/);
  assert.equal(code, 1);
});

test('every session is over and no runtime process is left', async () => {
  await waitFor(async () => cri.streaming.sessions === 0, 10_000, `sessions to end (${cri.streaming.sessions} open)`);
  await waitFor(async () => rt.running === 0, 10_000, `runtime processes to end (${rt.running} running)`);
});
