// iSulad's daemon.json (its installed /etc/isulad/daemon.json, key for key) starts tsulad:
// what tsulad takes from it, what it names as not acted on, what it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadDaemonConfig } from '../../src/engine/config.js';
import { ISULAD_DAEMON_JSON } from '../helpers/isulad-config.js';

async function load(cfg: unknown, flags: { logLevel?: string } = {}) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-isuladcfg-'));
  try {
    const file = path.join(dir, 'daemon.json');
    await fs.writeFile(file, JSON.stringify(cfg));
    return await loadDaemonConfig({ configFile: file, ...flags });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

test('iSulad\'s installed daemon.json loads: its levels, pid file, umask; "" is unset; lcr runs as runc; the keys without effect are named', async () => {
  const c = await load(ISULAD_DAEMON_JSON);
  assert.equal(c.logLevel, 'error');
  assert.equal(c.pidFile, '/var/run/isulad.pid');
  assert.equal(c.umask, 0o027);
  assert.equal(c.defaultRuntime, 'runc');
  assert.equal(c.storageDriver, 'overlay');
  assert.deepEqual([c.podSandboxImage, c.networkPlugin, c.cniBinDirs, c.cniConfDir], ['', '', ['/usr/lib/cni'], '/etc/cni/net.d']);
  assert.deepEqual([c.graph, c.state, c.group], ['/var/lib/isulad', '/var/run/isulad', 'isulad']);
  assert.equal(c.notes.length, 3, c.notes.join('\n'));
  assert.match(c.notes[0]!, /iSulad's keys tsulad accepts but does not act on: "log-opts", "start-timeout", "image-opt-timeout", "image-server-sock-addr"$/);
  assert.match(c.notes[1]!, /iSulad's "lcr" runtime \(liblcr\) is not tsula's: its containers run with runc/);
  // its hook spec is iSulad's package's file: not on this host
  assert.match(c.notes[2]!, /"hook-spec" \/etc\/default\/isulad\/hooks\/default\.json is not there: containers get no default hooks/);
  assert.equal(c.hookSpec, undefined);
  // tsulad's own file: nothing to say
  assert.deepEqual((await load({ 'log-level': 'info' })).notes, []);
});

test('iSulad\'s log levels in any case, from the file and the flag; the CRI streaming port under its iSulad name', async () => {
  const levels: Record<string, string> = { FATAL: 'error', alert: 'error', CRIT: 'error', WARN: 'warn', NOTICE: 'warn', Info: 'info', DEBUG: 'debug', trace: 'debug' };
  for (const [given, want] of Object.entries(levels)) assert.equal((await load({ 'log-level': given })).logLevel, want, given);
  assert.equal((await load({}, { logLevel: 'DEBUG' })).logLevel, 'debug');
  await assert.rejects(load({ 'log-level': 'loud' }), /key "log-level": want one of debug, info, warn, error/);
  assert.equal((await load({ 'websocket-server-listening-port': 10350 })).streamServer.port, 10350);
  assert.equal((await load({ 'websocket-server-listening-port': 10350, 'stream-server-port': 10351 })).streamServer.port, 10351);
  assert.equal((await load({ 'native.umask': 'normal' })).umask, 0o022);
});

test('security switches tsulad cannot honour are refused, not ignored', async () => {
  await assert.rejects(load({ tls: true }), /key "tls": tsulad has no TCP listener \(TLS\): remove the key or set it false/);
  await assert.rejects(load({ tlsverify: true }), /key "tlsverify"/);
  await assert.rejects(load({ 'authorization-plugin': 'authz' }), /key "authorization-plugin": tsulad has no authorization plugins/);
  await assert.rejects(load({ 'userns-remap': 'default' }), /key "userns-remap"/);
  assert.deepEqual((await load({ tls: false, tlsverify: false, 'authorization-plugin': '', 'userns-remap': '' })).notes, []);
  await assert.rejects(load({ 'native.umask': 'loose' }), /key "native.umask"/);
});

test('log-driver and log-opts: dockerd\'s containers\' default (checked at start), or iSulad\'s own log (named, not acted on)', async () => {
  const docker = await load({ 'log-driver': 'json-file', 'log-opts': { 'max-size': '10m', 'max-file': '3' } });
  assert.deepEqual(docker.logDefaults, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
  assert.deepEqual(docker.notes, []);
  assert.deepEqual((await load({ 'log-opts': { 'max-size': '1m' } })).logDefaults, { Type: 'json-file', Config: { 'max-size': '1m' } });
  assert.deepEqual((await load({ 'log-driver': 'local' })).logDefaults, { Type: 'local', Config: {} });
  await assert.rejects(load({ 'log-driver': 'journald' }), /key "log-driver"\/"log-opts": logging driver "journald" is not supported by tsulad/);
  await assert.rejects(load({ 'log-opts': { 'max-size': 'big' } }), /key "log-driver"\/"log-opts": invalid size: 'big'/);
  // iSulad's: its own log file's settings
  const isulad = await load({ 'log-driver': 'file', 'log-opts': { 'log-path': '/var/lib/isulad', 'max-size': '30KB' } });
  assert.equal(isulad.logDefaults, undefined);
  assert.match(isulad.notes[0]!, /"log-driver", "log-opts"/);
  assert.equal((await load({ 'log-opts': { 'log-file-mode': '0600', 'max-file': '1' } })).logDefaults, undefined);
});

test('default-ulimits (dockerd\'s and iSulad\'s): taken by name, a bad one stops the start', async () => {
  const c = await load({ 'default-ulimits': { nofile: { Name: 'nofile', Hard: 4096, Soft: 1024 }, nproc: { Hard: -1, Soft: -1 } } });
  assert.deepEqual(c.defaultUlimits, [{ name: 'nofile', soft: 1024, hard: 4096 }, { name: 'nproc', soft: -1, hard: -1 }]);
  await assert.rejects(load({ 'default-ulimits': { files: { Hard: 1, Soft: 1 } } }), /key "default-ulimits.files": want a ulimit name/);
  await assert.rejects(load({ 'default-ulimits': { nofile: { Hard: 10, Soft: 20 } } }), /soft limit must be less than or equal to hard limit/);
});

test('hook-spec: a file that is there is every container\'s default; a bad one stops the start', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-hookspec-'));
  try {
    const good = path.join(dir, 'good.json');
    await fs.writeFile(good, JSON.stringify({ prestart: [{ path: '/bin/true', args: ['true'], env: ['A=b'], timeout: 5 }], poststop: null }));
    assert.equal((await load({ 'hook-spec': good })).hookSpec, good);
    const bad = path.join(dir, 'bad.json');
    await fs.writeFile(bad, JSON.stringify({ prestart: [{ path: 'relative' }] }));
    await assert.rejects(load({ 'hook-spec': bad }), /key "hook-spec": hook spec file .*bad\.json: prestart\[0\]\.path: must be an absolute path/);
    await fs.writeFile(bad, JSON.stringify({ createRuntime: [] }));
    await assert.rejects(load({ 'hook-spec': bad }), /unknown hook kind "createRuntime"/);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
