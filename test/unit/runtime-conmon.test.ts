// conmon in front of runc: runc logs to a file of the bundle (conmon reports only the first
// line runc writes to stderr), and runc's own error is what a failure says, not a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanRuntimeError, conmonArgv, RUNC_LOG } from '../../src/runtime/runc/conmon.js';

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
