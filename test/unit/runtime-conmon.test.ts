// conmon in front of runc: runc logs to a file of the bundle (conmon reports only the first
// line runc writes to stderr), runc's own error is what a failure says, not a warning, and an
// exec's output conmon never sent to the attached client comes from its log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanRuntimeError, conmonArgv, RUNC_LOG } from '../../src/runtime/runc/conmon.js';
import { withLogReplay } from '../../src/runtime/log-replay.js';
import type { StdioStream } from '../../src/runtime/types.js';

test('conmon runs runc with a JSON log in the bundle, before the verb, for containers and execs', () => {
  const paths = { conmon: '/usr/bin/conmon', runtime: '/usr/sbin/runc', runtimeRoot: '/s/root', runtimeArgs: ['--systemd-cgroup'] };
  const base = { id: 'c1', uuid: 'c1', name: 'c1', bundle: '/b', pidFile: '/b/pid', logPath: '/b/log', exitDir: '/e', terminal: false, stdin: false, leaveStdinOpen: false };
  for (const a of [base, { ...base, bundle: '/b/execs/x', exec: { processSpec: '/b/execs/x/process.json', attach: true } }]) {
    const argv = conmonArgv(paths, a);
    const runtimeArgs = argv.flatMap((x, i) => (argv[i - 1] === '--runtime-arg' ? [x] : []));
    assert.deepEqual(runtimeArgs, ['--root=/s/root', `--log=${a.bundle}/${RUNC_LOG}`, '--log-format=json', '--systemd-cgroup']);
  }
});

test("a runtime error: runc's error line, not the warnings logged before it", () => {
  const stderr = [
    'time="2026-12-02T19:29:48Z" level=warning msg="cannot toggle freezer: cgroups not configured for container"',
    'time="2026-12-02T19:29:48Z" level=warning msg="lstat : no such file or directory"',
    'time="2026-12-02T19:29:48Z" level=error msg="runc create failed: unable to start container process: exec: \\"/x\\": stat /x: no such file or directory"',
  ].join('\n');
  assert.equal(cleanRuntimeError(stderr), 'runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory');
  assert.equal(cleanRuntimeError('time="t" level=warning msg="only a warning"'), 'only a warning');
  // runc with --log prints the bare error on stderr
  assert.equal(cleanRuntimeError('runc create failed: something\n'), 'runc create failed: something');
});

/** A stand-in for conmon's attach stream: the test says what it delivers and when it ends. */
function fakeStream() {
  const out: Array<(s: 1 | 2, d: Buffer) => void> = [];
  const end: Array<() => void> = [];
  let ended = false;
  const stream: StdioStream = {
    onOutput: (cb) => { out.push(cb); },
    onEnd: (cb) => { if (ended) cb(); else end.push(cb); },
    write: () => {}, closeStdin: () => {}, close: () => {},
  };
  return { stream, send: (s: 1 | 2, d: string) => { for (const cb of out) cb(s, Buffer.from(d)); }, end: () => { ended = true; for (const cb of end) cb(); } };
}

async function collect(s: StdioStream): Promise<string> {
  let got = '';
  s.onOutput((n, d) => { got += `${n}:${d.toString('latin1')}|`; });
  await new Promise<void>((r) => s.onEnd(r));
  return got;
}

test("an exec or a run whose attach stream brought nothing gets its output from conmon's log, byte for byte, from where the run began; otherwise the log is not read", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-replay-'));
  try {
    const log = path.join(dir, 'log');
    await fs.writeFile(log, Buffer.concat([
      Buffer.from('2026-12-02T20:11:36.1+00:00 stdout F end-42\r\n2026-12-02T20:11:36.2+00:00 stderr P part'),
      Buffer.from([0xff, 0x20]), Buffer.from('\n2026-12-02T20:11:36.3+00:00 stdout F \n'),
    ]));
    const lost = fakeStream();
    const replayed = collect(withLogReplay(lost.stream, log));
    lost.end();
    assert.equal(await replayed, `1:end-42\r\n|2:part${String.fromCharCode(0xff)} |1:\n|`);
    const fine = fakeStream();
    const direct = collect(withLogReplay(fine.stream, log));
    fine.send(1, 'end-42\r\n');
    fine.end();
    assert.equal(await direct, '1:end-42\r\n|');
    // a container's run: only what the log got from where the run began (an earlier run's lines stay out)
    const first = '2026-12-02T20:11:30.0+00:00 stdout F earlier run\n';
    await fs.writeFile(log, `${first}2026-12-02T20:11:37.0+00:00 stdout F lo\n`);
    const again = fakeStream();
    const fromRun = collect(withLogReplay(again.stream, log, Buffer.byteLength(first)));
    again.end();
    assert.equal(await fromRun, '1:lo\n|');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('shareStdio: every view gets all the output (kept until it registers), input goes through, the last close closes', async () => {
  const { shareStdio } = await import('../../src/runtime/shared-stdio.js');
  let emit: (s: 1 | 2, d: Buffer) => void = () => {};
  const written: string[] = [];
  let closes = 0;
  const inner = {
    onOutput: (cb: (s: 1 | 2, d: Buffer) => void) => { emit = cb; },
    onEnd: () => {},
    write: (d: Buffer) => { written.push(d.toString()); },
    closeStdin: () => {},
    close: () => { closes++; },
  };
  const [a, b] = shareStdio(inner, 2);
  const got = { a: '', b: '' };
  a!.onOutput((_s, d) => { got.a += d.toString(); });
  emit(1, Buffer.from('hello '));
  b!.onOutput((_s, d) => { got.b += d.toString(); });
  emit(2, Buffer.from('world'));
  assert.deepEqual(got, { a: 'hello world', b: 'hello world' });
  b!.write(Buffer.from('in'));
  a!.close();
  a!.close();
  assert.equal(closes, 0, 'one view left');
  a!.write(Buffer.from('after close'));
  emit(1, Buffer.from('!'));
  assert.deepEqual([got.a, got.b, written], ['hello world', 'hello world!', ['in']]);
  b!.close();
  assert.equal(closes, 1);
  assert.deepEqual(shareStdio(inner, 1), [inner]);
});
