// The stock docker CLI (20.10) streaming through tsulad as through dockerd: run/start/attach
// output (the CLI half-closes a connection it sends no stdin on, and reads on), piped stdin
// that ends, exec exit codes read right after the stream ends, and a failed exec start as
// dockerd reports it (a 101, the error in the stream, its exit code from GET /exec/{id}/json).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerEnv } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-streams', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
const SHIM = ['--runtime', 'io.containerd.runc.v2'];

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
  const r = await docker(d, ['run', '-d', '--name', 'web', 'busybox', 'sleep', '3600']);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => { await d?.destroy(); });

test('docker run --rm prints the output and gives the status of 50 containers in a row', async () => {
  const wrong: string[] = [];
  for (let i = 0; i < 50; i++) {
    const r = await docker(d, ['run', '--rm', 'busybox', 'sh', '-c', `echo hi-${i}; echo err-${i} >&2; exit ${i % 4 + 1}`]);
    if (r.code !== i % 4 + 1 || r.stdout !== `hi-${i}\n` || r.stderr !== `err-${i}\n`) wrong.push(`#${i}: ${r.code} ${JSON.stringify(r.stdout)} ${JSON.stringify(r.stderr)}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length}/50 wrong`);
  const ps = await docker(d, ['ps', '-aq', '--filter', 'status=exited']);
  assert.equal(ps.stdout.trim(), '', '--rm left containers behind');
});

test('docker start -a and docker attach print what comes after they connect', async () => {
  const c = await docker(d, ['create', '--name', 'later', 'busybox', 'sh', '-c', 'echo first; exit 2']);
  assert.equal(c.code, 0, c.stderr);
  const s = await docker(d, ['start', '-a', 'later']);
  assert.deepEqual([s.code, s.stdout], [2, 'first\n']);
  const run = await docker(d, ['run', '-d', '--name', 'slow', 'busybox', 'sh', '-c', 'sleep 2; echo late; exit 4']);
  assert.equal(run.code, 0, run.stderr);
  const a = await docker(d, ['attach', 'slow']);
  assert.deepEqual([a.code, a.stdout], [4, 'late\n']);
  await docker(d, ['rm', 'later', 'slow']);
});

test('piped stdin ends: run -i, start -ai, exec -i (runc and shim v2)', async () => {
  for (const rt of [[], SHIM]) {
    const r = await docker(d, ['run', '-i', '--rm', ...rt, 'busybox', 'wc', '-l'], { input: 'abc\n', timeoutMs: 30_000 });
    assert.deepEqual([r.code, r.stdout.trim()], [0, '1'], `run -i ${rt.join(' ')}: ${r.stderr}`);
  }
  const big = Array.from({ length: 100_000 }, (_, i) => `line ${i}`).join('\n') + '\n';
  const wc = await docker(d, ['run', '-i', '--rm', 'busybox', 'wc', '-l'], { input: big, timeoutMs: 60_000 });
  assert.deepEqual([wc.code, wc.stdout.trim()], [0, '100000'], wc.stderr);

  const c = await docker(d, ['create', '-i', '--name', 'cat', 'busybox', 'cat']);
  assert.equal(c.code, 0, c.stderr);
  for (const word of ['hi', 'again']) {
    const s = await docker(d, ['start', '-ai', 'cat'], { input: `${word}\n`, timeoutMs: 30_000 });
    assert.deepEqual([s.code, s.stdout], [0, `${word}\n`], s.stderr);
  }
  await docker(d, ['rm', 'cat']);
  // a TTY container's start -ai takes piped input (start has no CheckTty, unlike run): both CLIs
  for (const [who, run] of [['docker', (a: string[], o: { input: string }) => docker(d, a, o)], ['tsula', (a: string[], o: { input: string }) => d.cli(a, o)]] as const) {
    const name = `ttyin-${who}`;
    assert.equal((await docker(d, ['create', '-it', '--name', name, 'busybox', 'sh', '-c', 'read x; echo got $x'])).code, 0);
    const s = await run(['start', '-ai', name], { input: 'hi\n' });
    assert.equal(s.code, 0, `${who}: ${s.stderr}`);
    assert.match((await docker(d, ['logs', name])).stdout, /got hi/, who);
    await docker(d, ['rm', '-f', name]);
  }

  const e = await docker(d, ['exec', '-i', 'web', 'cat'], { input: 'through exec\n', timeoutMs: 30_000 });
  assert.deepEqual([e.code, e.stdout], [0, 'through exec\n'], e.stderr);
  // input that ends well after the process started
  const slow = await dockerSlowInput(['run', '-i', '--rm', 'busybox', 'sh', '-c', 'cat; echo done'], ['one\n', 'two\n'], 700);
  assert.deepEqual([slow.code, slow.stdout], [0, 'one\ntwo\ndone\n'], slow.stderr);
});

test('docker exec gives the exit code, 60 in a row', async () => {
  const wrong: string[] = [];
  for (let i = 0; i < 60; i++) {
    const want = [5, 0, 1, 42][i % 4]!;
    const r = await docker(d, ['exec', 'web', 'sh', '-c', `echo x-${i}; exit ${want}`]);
    if (r.code !== want || r.stdout !== `x-${i}\n`) wrong.push(`#${i}: ${r.code} ${JSON.stringify(r.stdout)}, want ${want}`);
  }
  assert.deepEqual(wrong, [], `${wrong.length}/60 wrong`);
});

test('GET /exec/{id}/json right after the stream ends has Running false and the code', async () => {
  for (let i = 0; i < 20; i++) {
    const code = i % 3 === 0 ? 0 : 7 + i;
    const created = await d.api('POST', '/v1.41/containers/web/exec', JSON.stringify({ Cmd: ['sh', '-c', `exit ${code}`], AttachStdout: true, AttachStderr: true }));
    assert.equal(created.status, 201, created.body);
    const id = (JSON.parse(created.body) as { Id: string }).Id;
    const stream = await upgradedPost(`/v1.41/exec/${id}/start`, JSON.stringify({ Detach: false, Tty: false }));
    assert.match(stream.head, /^HTTP\/1.1 101/);
    const info = JSON.parse((await d.api('GET', `/v1.41/exec/${id}/json`)).body) as { Running: boolean; ExitCode: number | null };
    assert.deepEqual([info.Running, info.ExitCode], [false, code], `exec #${i}`);
  }
});

// dockerd since 27.3 (moby#48552): 127 for a command not found, 126 for one not executable
test('a command that cannot start: the error in the stream, 127 not found, 126 not executable', async () => {
  const missing = await docker(d, ['exec', 'web', 'nosuchcmd']);
  assert.equal(missing.code, 127, missing.stderr);
  assert.match(missing.stdout, /^OCI runtime exec failed: .*"nosuchcmd": executable file not found in \$PATH: unknown\r?\n$/);
  assert.doesNotMatch(missing.stderr, /Unrecognized input header/);
  const tty = await docker(d, ['exec', '-t', 'web', 'nosuchcmd']);
  assert.equal(tty.code, 127);
  assert.match(tty.stdout, /executable file not found/);
  const notExec = await docker(d, ['exec', 'web', '/etc/passwd']);
  assert.equal(notExec.code, 126);
  assert.match(notExec.stdout, /permission denied/);
  // docker run: the same codes, the error in dockerd's words
  const run = await docker(d, ['run', '--rm', 'busybox', 'nosuchcmd']);
  assert.equal(run.code, 127, run.stderr);
  assert.match(run.stderr, /Error response from daemon: .*OCI runtime create failed: .*"nosuchcmd": executable file not found in \$PATH/);
  // over the wire: the switch of protocols, then the text on stdout (stream 1)
  const created = await d.api('POST', '/v1.41/containers/web/exec', JSON.stringify({ Cmd: ['nosuchcmd'], AttachStdout: true, AttachStderr: true }));
  const id = (JSON.parse(created.body) as { Id: string }).Id;
  const stream = await upgradedPost(`/v1.41/exec/${id}/start`, JSON.stringify({ Detach: false, Tty: false }));
  assert.match(stream.head, /^HTTP\/1.1 101/);
  assert.equal(stream.body[0], 1, 'a stdout frame');
  assert.match(stream.body.subarray(8).toString(), /executable file not found in \$PATH: unknown\r\n$/);
  const info = JSON.parse((await d.api('GET', `/v1.41/exec/${id}/json`)).body) as { Running: boolean; ExitCode: number | null };
  assert.deepEqual([info.Running, info.ExitCode], [false, 127]);
  // an unknown exec is still a 404 before any switch
  const unknown = await upgradedPost('/v1.41/exec/0123456789ab/start', '{}');
  assert.match(unknown.head, /^HTTP\/1.1 404/);
});

/** `docker args` whose stdin gets chunks `gapMs` apart, then EOF. */
function dockerSlowInput(args: string[], chunks: string[], gapMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(dockerCliPath(), args, { env: dockerEnv(d), timeout: 30_000 },
      (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }));
    let i = 0;
    const next = () => {
      if (i < chunks.length) { p.stdin!.write(chunks[i++]); setTimeout(next, gapMs); } else p.stdin!.end();
    };
    setTimeout(next, gapMs);
  });
}

/** POST with Upgrade: tcp on a bare socket; resolves at the server's end of the stream. */
async function upgradedPost(urlPath: string, body: string): Promise<{ head: string; body: Buffer }> {
  const sock = net.connect(d.sock);
  await new Promise((r) => sock.once('connect', r));
  sock.write(`POST ${urlPath} HTTP/1.1\r\nHost: tsula\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\n`
    + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  sock.end(); // no stdin, as the docker CLI: a half-close
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no end of ${urlPath}`)), 30_000);
    sock.once('close', () => { clearTimeout(t); resolve(); });
  });
  const all = Buffer.concat(chunks);
  const i = all.indexOf('\r\n\r\n');
  return { head: all.subarray(0, i).toString('latin1'), body: all.subarray(i + 4) };
}
