// The streaming server's WebSocket transport against a third-party client: Debian's
// python3-websocket (websocket-client 1.2.3) opens the URLs that tsulad's own CRI Exec,
// Attach and PortForward hand out for busybox containers in a pod, and speaks the channel
// protocols: exec (stdout, stderr, stdin ended by v5's close signal, exit codes through the
// error channel, the base64 and pre-v4 variants, a tty with resizes), attach, and
// port-forward to a server in the pod and to a port nobody listens on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { crictl, crictlPath } from '../helpers/crictl.js';
import { criCall } from '../helpers/cri-grpc.js';
import { createTestNet, type TestNet } from '../helpers/network.js';

/**
 * The client: connects with the given subprotocols, runs the steps (send on a channel,
 * wait for text in the output, send raw bytes, close), records every frame until the
 * server's close frame, and prints it all as JSON.
 */
const DRIVER = String.raw`
import base64, json, sys, threading, time
import websocket

spec = json.load(sys.stdin)
out = {"frames": [], "close": None, "error": None}
try:
    ws = websocket.create_connection(spec["url"].replace("http://", "ws://", 1), subprotocols=spec.get("protocols") or None, timeout=30)
except websocket.WebSocketBadStatusException as e:
    print(json.dumps({"status": e.status_code}))
    sys.exit(0)
out["subprotocol"] = ws.getsubprotocol()
b64 = "base64" in (out["subprotocol"] or "")
seen = []
cond = threading.Condition()

def receive():
    try:
        while True:
            op, data = ws.recv_data(control_frame=True)
            data = getattr(data, "data", data)
            if isinstance(data, str):
                data = data.encode()
            with cond:
                out["frames"].append([op, base64.b64encode(data).decode()])
                if op in (1, 2) and len(data) > 1:
                    seen.append(base64.b64decode(data[1:]) if b64 else data[1:])
                cond.notify_all()
            if op == 8:
                out["close"] = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                return
    except Exception as e:
        out["error"] = repr(e)
        with cond:
            cond.notify_all()

t = threading.Thread(target=receive, daemon=True)
t.start()
for step in spec.get("steps", []):
    if "send" in step:
        ch, text = step["send"]
        if b64:
            ws.send(str(ch) + base64.b64encode(text.encode()).decode())
        else:
            ws.send_binary(bytes([ch]) + text.encode())
    elif "raw" in step:
        ws.send_binary(bytes(step["raw"]))
    elif "wait" in step:
        deadline = time.time() + 20
        with cond:
            while step["wait"].encode() not in b"".join(seen) and out["close"] is None and out["error"] is None and time.time() < deadline:
                cond.wait(0.2)
    elif "close" in step:
        ws.send_close(status=step["close"])
t.join(60)
ws.shutdown()
print(json.dumps(out))
`;

let net: TestNet;
let d: TestDaemon;
let driver: string;
const children: ChildProcess[] = [];
let podId: string;
let podCfg: string;
let shell: string;

before(async () => {
  crictlPath();
  net = await createTestNet('crws');
  d = await TestDaemon.create({ configJson: { 'cni-conf-dir': net.confDir } });
  await d.loadBusybox();
  driver = path.join(d.dir, 'ws-driver.py');
  await fs.writeFile(driver, DRIVER);
  podCfg = path.join(d.dir, 'pod.json');
  await fs.writeFile(podCfg, JSON.stringify({
    metadata: { name: 'ws', namespace: 'default', uid: 'uid-ws', attempt: 0 }, hostname: 'ws',
    log_directory: path.join(d.dir, 'pod-logs'), linux: {},
  }));
  podId = await ok(['runp', podCfg]);
  shell = await ctr('shell', { command: ['sleep', '1000'] });
});

after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (d?.proc) await crictl(d.criSock, ['rmp', '--all', '--force']).catch(() => {});
  await d?.destroy();
  await net?.destroy();
});

async function ok(args: string[]): Promise<string> {
  const r = await crictl(d.criSock, args);
  assert.equal(r.code, 0, `crictl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

async function ctr(name: string, extra: Record<string, unknown>): Promise<string> {
  const f = path.join(d.dir, `ctr-${name}.json`);
  await fs.writeFile(f, JSON.stringify({ metadata: { name }, image: { image: 'busybox' }, log_path: `${name}.log`, linux: {}, ...extra }));
  const id = await ok(['create', podId, f, podCfg]);
  await ok(['start', id]);
  return id;
}

type Step = { send: [number, string] } | { raw: number[] } | { wait: string } | { close: number };
interface Session {
  status?: number;
  subprotocol: string;
  frames: Array<[number, Buffer]>;
  close: number | null;
  error: string | null;
  /** What came on channel n, decoded (base64 protocols) and joined. */
  channel(n: number): string;
}

function drive(url: string, protocols: string[], steps: Step[] = []): Promise<Session> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/python3', [driver], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(p);
    let out = '';
    let err = '';
    p.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    p.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    p.stdin.end(JSON.stringify({ url, protocols, steps }));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the python client exited ${code}: ${err}`));
      const o = JSON.parse(out) as Omit<Session, 'frames' | 'channel'> & { frames: Array<[number, string]> };
      const frames = (o.frames ?? []).map(([op, b]) => [op, Buffer.from(b, 'base64')] as [number, Buffer]);
      const b64 = (o.subprotocol ?? '').includes('base64');
      resolve({
        ...o, frames,
        channel: (n) => Buffer.concat(frames.filter(([op, b]) => op !== 8 && b.length && (b64 ? b[0] === 48 + n : b[0] === n))
          .map(([, b]) => (b64 ? Buffer.from(b.subarray(1).toString(), 'base64') : b.subarray(1)))).toString('latin1'),
      });
    });
  });
}

async function execUrl(cmd: string[], o: { tty?: boolean; stdin?: boolean } = {}): Promise<string> {
  const tty = o.tty ?? false;
  const r = await criCall(d.criSock, 'exec', { containerId: shell, cmd, tty, stdin: o.stdin ?? false, stdout: true, stderr: !tty }) as { url: string };
  return r.url;
}

const exitStatus = (cmd: string, code: number) => '{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: '
  + `error executing command [${cmd}], exit code ${code}","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"${code}"}]}}`;
const SUCCESS = '{"metadata":{},"status":"Success"}';

test('exec over v5.channel.k8s.io: stdin ended by the close signal, stdout and stderr apart, the exit code', async () => {
  const url = await execUrl(['sh', '-c', 'cat; echo err >&2; exit 7'], { stdin: true });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[\w-]{8}$/);
  const s = await drive(url, ['v5.channel.k8s.io', 'v4.channel.k8s.io'], [
    { send: [0, 'hello\n'] }, { wait: 'hello' }, { send: [0, 'again\n'] }, { raw: [255, 0] },
  ]);
  assert.equal(s.error, null);
  assert.equal(s.subprotocol, 'v5.channel.k8s.io');
  assert.deepEqual([...s.frames[0]![1]], [1], 'the empty message on stdout first');
  assert.equal(s.channel(1), 'hello\nagain\n');
  assert.equal(s.channel(2), 'err\n');
  assert.equal(s.channel(3), exitStatus('sh -c cat; echo err \\u003e\\u00262; exit 7', 7));
  assert.equal(s.close, 1000);
});

test('exec over v4 (binary and base64) and the pre-v4 protocols: statuses as each says them', async () => {
  const v4 = await drive(await execUrl(['sh', '-c', 'echo fine']), ['v4.channel.k8s.io']);
  assert.deepEqual([v4.subprotocol, v4.channel(1), v4.channel(2), v4.channel(3), v4.close], ['v4.channel.k8s.io', 'fine\n', '', SUCCESS, 1000]);

  const b64 = await drive(await execUrl(['sh', '-c', 'echo out; echo err >&2; exit 3']), ['v4.base64.channel.k8s.io']);
  assert.equal(b64.subprotocol, 'v4.base64.channel.k8s.io');
  assert.ok(b64.frames.filter(([op]) => op !== 8).every(([op]) => op === 1), 'text messages only');
  assert.deepEqual([b64.frames[0]![1].toString()], ['1']);
  assert.deepEqual([b64.channel(1), b64.channel(2)], ['out\n', 'err\n']);
  assert.equal(b64.channel(3), exitStatus('sh -c echo out; echo err \\u003e\\u00262; exit 3', 3));

  const v1 = await drive(await execUrl(['sh', '-c', 'exit 5']), ['channel.k8s.io']);
  assert.equal(v1.channel(3), 'command terminated with non-zero exit code: error executing command [sh -c exit 5], exit code 5');
  const v1ok = await drive(await execUrl(['true']), ['base64.channel.k8s.io']);
  assert.deepEqual([v1ok.subprotocol, v1ok.channel(3), v1ok.close], ['base64.channel.k8s.io', '', 1000]);

  const missing = await drive(await execUrl(['/no/such/cmd']), ['v4.channel.k8s.io']);
  assert.match(missing.channel(3), /"status":"Failure","message":"Internal error occurred: error executing command in container: /);

  // wsstream refuses what it does not know with a bare 403, and the token is then used up.
  const url = await execUrl(['true']);
  assert.equal((await drive(url, ['v3.channel.k8s.io', 'v2.channel.k8s.io'])).status, 403);
  assert.equal((await drive(url, ['v4.channel.k8s.io'])).status, 404);
});

test('exec with a tty: the sizes sent on the resize channel reach the terminal', async () => {
  const s = await drive(await execUrl(['sh'], { tty: true, stdin: true }), ['v5.channel.k8s.io'], [
    { send: [4, '{"Width":100,"Height":30}'] },
    { send: [0, 'for i in $(seq 50); do stty size | grep -q "^30 100" && break; sleep 0.1; done; stty size\r'] }, { wait: '\n30 100' },
    // The runtime applies a size when it gets to it: the shell waits for it (5 s at most).
    { send: [4, '{"Width":120,"Height":40}'] },
    { send: [0, 'for i in $(seq 50); do stty size | grep -q "^40 120" && break; sleep 0.1; done; stty size; tty; exit 3\r'] },
    { wait: '/dev/pts' },
  ]);
  assert.equal(s.error, null);
  const out = s.channel(1);
  assert.match(out, /\n30 100\r\n/);
  assert.match(out, /\n40 120\r\n/);
  assert.match(out, /\/dev\/pts\/\d+/);
  assert.equal(s.channel(3), exitStatus('sh', 3));
});

test('attach over WebSocket: the container reads what is sent and its output comes back', async () => {
  const att = await ctr('att', { command: ['sh', '-c', 'while read l; do echo "got $l"; done'], stdin: true });
  const { url } = await criCall(d.criSock, 'attach', { containerId: att, tty: false, stdin: true, stdout: true, stderr: true }) as { url: string };
  const s = await drive(url, ['v5.channel.k8s.io'], [{ send: [0, 'one\n'] }, { wait: 'got one' }, { send: [0, 'two\n'] }, { wait: 'got two' }, { close: 1000 }]);
  assert.equal(s.error, null);
  assert.equal(s.channel(1), 'got one\ngot two\n');
  assert.equal(s.close, 1000, 'our close answered');
});

test('port-forward over WebSocket: a server in the pod, and a port nobody listens on', async () => {
  await ctr('web', { command: ['sh', '-c', 'echo pong > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'] });
  await waitFor(async () => (await crictl(d.criSock, ['exec', shell, 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/index.html'])).stdout === 'pong\n', 15_000, 'httpd in the pod');
  const { url } = await criCall(d.criSock, 'portForward', { podSandboxId: podId, port: [8080, 81] }) as { url: string };
  // The client cannot half-close a channel, and the runtime's socat waits for that before it
  // passes the pod's EOF on: the client hangs up when it has its answer.
  const get: Step[] = [{ send: [0, 'GET /index.html HTTP/1.0\r\n\r\n'] }, { wait: 'pong\n' }, { wait: 'error forwarding' }, { close: 1000 }];
  const s = await drive(url, ['v4.channel.k8s.io'], get);
  assert.equal(s.error, null, JSON.stringify(s.frames.map(([op, b]) => [op, b.toString('latin1')])));
  // Each channel starts with its port, little-endian.
  assert.deepEqual(s.frames.slice(0, 4).map(([, b]) => [...b]), [[0, 0x90, 0x1f], [1, 0x90, 0x1f], [2, 81, 0], [3, 81, 0]]);
  const data = s.channel(0).slice(2);
  assert.match(data, /^HTTP\/1\.[01] 200 OK\r\n/);
  assert.ok(data.endsWith('\r\n\r\npong\n'), data);
  assert.equal(s.channel(1).slice(2), '');
  assert.match(s.channel(3).slice(2), new RegExp(`^error forwarding port 81 to pod ${podId}, uid : `));
  assert.equal(s.close, 1000, 'our close answered');

  // Without ports in the CRI request, the query's `port` parameters name them (kubelet's V4Options).
  const bare = await criCall(d.criSock, 'portForward', { podSandboxId: podId }) as { url: string };
  const q = await drive(`${bare.url}?port=8080`, ['v4.base64.channel.k8s.io'], get.filter((x) => !('wait' in x && x.wait !== 'pong\n')));
  assert.equal(q.channel(0).slice(0, 2), '\x90\x1f');
  assert.ok(q.channel(0).endsWith('pong\n'), q.channel(0));
  assert.equal(q.close, 1000);
  await waitFor(async () => (await crictl(d.criSock, ['exec', shell, 'sh', '-c', 'netstat -tn | grep -c ":8080 .*ESTABLISHED" || true'])).stdout.trim() === '0',
    10_000, 'the forwarded connections to end in the pod');
});

test('the daemon\'s SPDY path is untouched: crictl exec still works beside WebSocket sessions', async () => {
  const r = await crictl(d.criSock, ['exec', shell, 'sh', '-c', 'echo spdy; exit 4']);
  assert.equal(r.stdout, 'spdy\n');
  assert.match(r.stderr, /command terminated with exit code 4/);
});
