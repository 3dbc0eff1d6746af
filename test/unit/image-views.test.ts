// docker image inspect's views: Go's container.Config with its zero values, RFC3339Nano times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerConfigView, goTime } from '../../src/engine/api/image-views.js';

test('containerConfigView: every field of container.Config in its order, omitempty ones only when set', () => {
  const v = containerConfigView({ Cmd: ['sh'], ExposedPorts: { '80/tcp': {} }, StopSignal: '', Shell: ['/bin/sh'], Custom: 1 });
  assert.deepEqual(Object.keys(v), ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts',
    'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels', 'Shell', 'Custom']);
  assert.equal(v.User, '');
  assert.equal(v.Env, null);
  assert.deepEqual(v.Cmd, ['sh']);
  assert.deepEqual(Object.keys(containerConfigView(null)).length, 17);
});

test('goTime: trailing zeros of the fraction go, as Go writes a time back', () => {
  assert.equal(goTime('2024-01-01T00:00:00.000000000Z'), '2024-01-01T00:00:00Z');
  assert.equal(goTime('2023-05-19T20:19:17.556566520Z'), '2023-05-19T20:19:17.55656652Z');
  assert.equal(goTime('2023-05-19T20:19:17.50-07:00'), '2023-05-19T20:19:17.5-07:00');
  assert.equal(goTime('2024-01-01T00:00:00Z'), '2024-01-01T00:00:00Z');
});
