// daemon.json and tsulad's flags reach what they configure: a runtime of "runtimes" with its
// "runtime-args" is the program every runc call goes to (conmon's create and exec too), with
// those arguments; --group gives the API socket to that group (mode 0660), and a member of
// the group who is not root can use it while others cannot.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { TestDaemon, TSULA } from '../helpers/daemon.js';
import { requirePrerequisites } from '../helpers/prereqs.js';
import { ISULAD_DAEMON_JSON } from '../helpers/isulad-config.js';

requirePrerequisites('engine-config', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/setpriv': 'util-linux' } });

const execFileP = promisify(execFile);
const daemons: TestDaemon[] = [];
after(async () => {
  for (const d of daemons) await d.destroy();
});

/** A daemon of this file, destroyed at its end (also when a test fails). */
async function daemon(opts: Parameters<typeof TestDaemon.create>[0]): Promise<TestDaemon> {
  const d = await TestDaemon.create(opts);
  daemons.push(d);
  return d;
}

test('daemon.json runtimes: the runtime-args reach every runc call of that runtime, conmon\'s create and exec included', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  // a wrapper that records each call's arguments, one line per call, then runs runc
  const calls = path.join(dir, 'calls.log');
  const wrapper = path.join(dir, 'runc-recorded');
  await fs.writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> ${calls}\nexec /usr/sbin/runc "$@"\n`, { mode: 0o755 });
  const d = await daemon({ dir, configJson: { runtimes: { recorded: { path: wrapper, 'runtime-args': ['--debug', '--log-format=json'] } } } });
  await d.loadBusybox();

  const id = (await d.ok(['run', '-d', '--runtime', 'recorded', 'busybox', 'sleep', '300'])).trim();
  assert.equal((await d.ok(['inspect', '-f', '{{.HostConfig.Runtime}}', id])).trim(), 'recorded');
  const ex = await d.cli(['exec', id, 'sh', '-c', 'echo in; exit 3']);
  assert.deepEqual([ex.code, ex.stdout], [3, 'in\n']);
  await d.ok(['rm', '-f', id]);
  assert.equal(await d.ok(['run', '--rm', '--runtime', 'recorded', 'busybox', 'echo', 'ran']), 'ran\n');

  const lines = readFileSync(calls, 'utf8').trim().split('\n');
  const verb = (l: string) => l.split(' ').find((w) => !w.startsWith('-')) ?? '';
  const verbs = new Set(lines.map(verb));
  for (const v of ['create', 'start', 'exec', 'delete']) assert.ok(verbs.has(v), `runc ${v} went through the runtime: ${[...verbs].join(' ')}`);
  // every call has both arguments before its verb
  for (const l of lines) {
    const before = l.slice(0, l.indexOf(` ${verb(l)}`)).split(' ');
    assert.ok(before.includes('--debug') && before.includes('--log-format=json'), `runtime-args missing: runc ${l}`);
  }
  // the default runtime is plain runc: none of its calls were recorded
  const n = lines.length;
  assert.equal(await d.ok(['run', '--rm', 'busybox', 'echo', 'plain']), 'plain\n');
  assert.equal(readFileSync(calls, 'utf8').trim().split('\n').length, n);
});

/** `tsula version` as uid 65534 with these supplementary groups: its exit code and stderr. */
async function versionAs(d: TestDaemon, groups: number[]): Promise<{ code: number; stderr: string }> {
  const ids = ['--reuid', '65534', '--regid', '65534', ...(groups.length ? ['--groups', groups.join(',')] : ['--clear-groups'])];
  return execFileP('setpriv', [...ids, TSULA, '-H', d.hostArg, 'version'], { timeout: 20_000 })
    .then(() => ({ code: 0, stderr: '' }), (e: { code?: number; stderr?: string }) => ({ code: Number(e.code ?? 1), stderr: e.stderr ?? '' }));
}

test('--group: the socket is 0660 and the group\'s; a member that is not root may use it, others may not', async () => {
  const group = readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'daemon');
  assert.ok(group, 'a group "daemon" in /etc/group (Debian\'s base-passwd has gid 1)');
  const gid = Number(group[2]);
  // the CLI runs as a user who is not root: it must reach the checkout's build (a clone
  // under a 0700 directory, as `mktemp -d` makes, would fail this test for that reason alone)
  const bundle = path.join(path.dirname(path.dirname(TSULA)), 'build/tsula.mjs');
  const reach = await execFileP('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', 'sh', '-c', 'test -x "$1" && test -r "$2"', 'sh', TSULA, bundle]).then(() => true, () => false);
  assert.ok(reach, `uid 65534 cannot reach ${TSULA} and ${bundle}: a parent directory of the checkout lets no other user through (o+x); clone it under a directory others may traverse`);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  await fs.chmod(dir, 0o711); // others may reach the socket's dir, not list it
  const d = await daemon({ dir, args: ['--group', 'daemon'] });
  const st = await fs.stat(d.sock);
  assert.equal(st.mode & 0o777, 0o660, `mode ${(st.mode & 0o777).toString(8)}`);
  assert.equal(st.gid, gid);
  assert.equal(st.uid, 0);
  assert.deepEqual(await versionAs(d, [gid]), { code: 0, stderr: '' });
  const stranger = await versionAs(d, []);
  assert.notEqual(stranger.code, 0);
  assert.match(stranger.stderr, /permission denied|EACCES/i);

  // daemon.json's "group" does the same, a gid too; a group that does not exist stops the
  // start (dockerd's "group X not found"), but the default one, which leaves root's (0660 still)
  const dir2 = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  const d2 = await daemon({ dir: dir2, configJson: { group: String(gid) } });
  assert.equal((await fs.stat(d2.sock)).gid, gid);
  const dir3 = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  await assert.rejects(daemon({ dir: dir3, args: ['--group', 'no-such-group-here'] }), /--group: group no-such-group-here not found/);
  await fs.rm(dir3, { recursive: true, force: true });
  if (!readFileSync('/etc/group', 'utf8').split('\n').some((l) => l.startsWith('tsula:'))) {
    const dir4 = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
    const st4 = await fs.stat((await daemon({ dir: dir4 })).sock);
    assert.deepEqual([st4.mode & 0o777, st4.gid], [0o660, 0]);
  }
});

test('a runtime whose kill fails: stop gives the stop signal up after 2 s and returns the SIGKILL\'s error instead of waiting forever (dockerd\'s containerStop); it works once the runtime does', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  const broken = path.join(dir, 'kill-broken');
  const wrapper = path.join(dir, 'runc-flaky');
  await fs.writeFile(wrapper, `#!/bin/sh\nfor a in "$@"; do [ "$a" = kill ] && [ -e ${broken} ] && { echo "kill refused for the test" >&2; exit 1; }; done\nexec /usr/sbin/runc "$@"\n`, { mode: 0o755 });
  const d = await daemon({ dir, configJson: { runtimes: { flaky: { path: wrapper } } } });
  await d.loadBusybox();
  const id = (await d.ok(['run', '-d', '--runtime', 'flaky', 'busybox', 'sleep', '300'])).trim();
  await fs.writeFile(broken, '');
  const t0 = Date.now();
  const r = await d.cli(['stop', '-t', '30', id], { timeoutMs: 60_000 });
  assert.notEqual(r.code, 0, 'the stop fails');
  assert.match(r.stderr, /kill refused for the test/);
  assert.ok(Date.now() - t0 < 15_000, `returned in ${Date.now() - t0} ms, not after -t 30`);
  await fs.rm(broken);
  await d.ok(['stop', '-t', '1', id]);
  assert.equal((await d.ok(['inspect', '-f', '{{.State.Running}}', id])).trim(), 'false');
  await d.ok(['rm', id]);
});

test('iSulad\'s installed daemon.json starts tsulad: its pid file, native.umask in the containers, the keys it does not act on named once', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  const pidfile = path.join(dir, 'run', 'isulad.pid');
  // iSulad's file, but graph and state (the test's flags name them) and its pid file's place
  const { graph: _g, state: _s, ...isulad } = ISULAD_DAEMON_JSON;
  const d = await daemon({ dir, configJson: { ...isulad, pidfile } });
  assert.equal(readFileSync(pidfile, 'utf8').trim(), String(d.proc!.pid));
  const log = await d.log();
  // (logfmt: the quotes escaped)
  assert.match(log, /level=warn msg=".*daemon\.json: iSulad's keys tsulad accepts but does not act on: \\"log-opts\\", \\"start-timeout\\"/);
  assert.match(log, /\\"hook-spec\\" \/etc\/default\/isulad\/hooks\/default\.json is not there: containers get no default hooks/);
  assert.match(log, /iSulad's \\"lcr\\" runtime \(liblcr\) is not tsula's: its containers run with runc/);
  await d.loadBusybox();
  // "secure": 0027 for the container's processes (iSulad's), files made so
  assert.equal(await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'umask; touch /f; stat -c %a /f']), '0027\n640\n');
  await d.stop('SIGTERM');
  await assert.rejects(fs.access(pidfile), 'the pid file goes with the daemon');
});

test('daemon.json log-driver/log-opts and default-ulimits (dockerd\'s): a container that names no driver gets them, its own options over them; another driver gets none of them; its own ulimits win', async () => {
  const d = await daemon({ configJson: { 'log-driver': 'json-file', 'log-opts': { 'max-size': '1k', 'max-file': '2' }, 'default-ulimits': { nofile: { Name: 'nofile', Hard: 2048, Soft: 512 }, core: { Name: 'core', Hard: 0, Soft: 0 } } } });
  await d.loadBusybox();
  const logConfig = async (args: string[]) => {
    const id = (await d.ok(['create', ...args, 'busybox', 'true'])).trim();
    return JSON.parse(await d.ok(['inspect', '-f', '{{json .HostConfig.LogConfig}}', id])) as unknown;
  };
  assert.deepEqual(await logConfig([]), { Type: 'json-file', Config: { 'max-size': '1k', 'max-file': '2' } });
  assert.deepEqual(await logConfig(['--log-opt', 'max-size=2k']), { Type: 'json-file', Config: { 'max-size': '2k', 'max-file': '2' } });
  assert.deepEqual(await logConfig(['--log-driver', 'none']), { Type: 'none', Config: {} });
  // default-ulimits: each of a name the container does not set itself (dockerd's mergeUlimits)
  assert.equal(await d.ok(['run', '--rm', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn; ulimit -c']), '512\n2048\n0\n');
  assert.equal(await d.ok(['run', '--rm', '--ulimit', 'nofile=100:200', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -c']), '100\n0\n');
  // ...and they join its HostConfig at the start, as dockerd's (inspect shows them)
  const ul = (await d.ok(['run', '-d', '--ulimit', 'nofile=100:200', 'busybox', 'true'])).trim();
  await d.ok(['wait', ul]);
  assert.deepEqual(JSON.parse(await d.ok(['inspect', '-f', '{{json .HostConfig.Ulimits}}', ul])), [{ Name: 'nofile', Soft: 100, Hard: 200 }, { Name: 'core', Soft: 0, Hard: 0 }]);
  // the bound works: 5 KiB of output keeps at most max-size × max-file on disk
  const id = (await d.ok(['run', '-d', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 100 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done'])).trim();
  await d.ok(['wait', id]);
  const logs = (await d.ok(['inspect', '-f', '{{.LogPath}}', id])).trim();
  assert.ok((await fs.stat(logs)).size <= 4096, 'the log is bounded by the daemon\'s max-size');
});

test('--hook-spec (iSulad\'s): runc runs its prestart, poststart and poststop hooks on the host with their args and env; a bad file or hook refuses; daemon.json hook-spec is the default', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'tsula-test-'));
  const out = path.join(dir, 'out');
  await fs.mkdir(out);
  // a hook gets the container's state on stdin (OCI): it keeps it, with its env and args
  const hook = path.join(dir, 'hook.sh');
  await fs.writeFile(hook, `#!/bin/sh\ncat > ${out}/$1.state\necho "$AAA" > ${out}/$1.env\n`, { mode: 0o755 });
  const spec = (tag: string) => ({
    prestart: [{ path: hook, args: ['hook.sh', `${tag}-prestart`], env: ['AAA=bbb', 'PATH=/usr/bin:/bin'], timeout: 10 }],
    poststart: [{ path: hook, args: ['hook.sh', `${tag}-poststart`], env: ['AAA=ccc'] }],
    poststop: [{ path: hook, args: ['hook.sh', `${tag}-poststop`], env: ['AAA=ddd'] }],
  });
  await fs.writeFile(path.join(dir, 'own.json'), JSON.stringify(spec('own')));
  await fs.writeFile(path.join(dir, 'daemon-hooks.json'), JSON.stringify(spec('dflt')));
  const d = await daemon({ dir, configJson: { 'hook-spec': path.join(dir, 'daemon-hooks.json') } });
  await d.loadBusybox();
  const id = (await d.ok(['run', '-d', '--hook-spec', path.join(dir, 'own.json'), 'busybox', 'sleep', '300'])).trim();
  assert.equal((await d.ok(['inspect', '-f', '{{.HostConfig.HookSpec}}', id])).trim(), path.join(dir, 'own.json'));
  await d.ok(['rm', '-f', id]);
  for (const kind of ['prestart', 'poststart', 'poststop']) {
    const state = JSON.parse(await fs.readFile(path.join(out, `own-${kind}.state`), 'utf8')) as { id: string };
    assert.equal(state.id, id, kind);
  }
  assert.deepEqual(await Promise.all(['prestart', 'poststart', 'poststop'].map((k) => fs.readFile(path.join(out, `own-${k}.env`), 'utf8'))), ['bbb\n', 'ccc\n', 'ddd\n']);
  // no --hook-spec: the daemon's
  await d.ok(['run', '--rm', 'busybox', 'true']);
  assert.equal((await fs.readFile(path.join(out, 'dflt-prestart.env'), 'utf8')), 'bbb\n');
  // a hook that cannot run stops the start; a bad file the create
  await fs.writeFile(path.join(dir, 'noexec.json'), JSON.stringify({ prestart: [{ path: path.join(dir, 'out') }] }));
  const noexec = await d.cli(['run', '--rm', '--hook-spec', path.join(dir, 'noexec.json'), 'busybox', 'true']);
  assert.notEqual(noexec.code, 0);
  assert.match(noexec.stderr, /prestart|permission denied/i);
  await fs.writeFile(path.join(dir, 'bad.json'), '{"prestart": [{"path": "rel"}]}');
  const bad = await d.cli(['create', '--hook-spec', path.join(dir, 'bad.json'), 'busybox']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /hook spec file .*bad\.json: prestart\[0\]\.path: must be an absolute path/);
});

test('signals as dockerd takes them: SIGHUP reloads daemon.json (changes named for the next start, a bad file changes nothing); SIGUSR1 writes a diagnostic report and never opens node\'s inspector; SIGUSR2 is ignored', async () => {
  const d = await daemon({ configJson: {} });
  const cfg = path.join(d.dir, 'daemon.json');
  const pid = d.proc!.pid!;
  const logHas = async (re: RegExp) => { for (let i = 0; i < 100; i++) { if (re.test(await d.log())) return; await new Promise((r) => setTimeout(r, 50)); } assert.fail(`not logged: ${re}\n${await d.log()}`); };
  // (the test daemon's --log-level flag wins over the file's: no level change to apply)
  await fs.writeFile(cfg, JSON.stringify({ bridge: 'none', 'log-level': 'warn', 'insecure-registries': ['10.0.0.1:5000'], mtu: 1400 }));
  process.kill(pid, 'SIGHUP');
  await logHas(/msg="Reloaded configuration" applied=\[\]/);
  // named by daemon.json's own keys (mtu, not the field it fills)
  await logHas(/take effect only when tsulad starts again" keys=\["insecure-registries","mtu"\]/);
  await d.ok(['ps']);
  await fs.writeFile(cfg, '{bad');
  process.kill(pid, 'SIGHUP');
  await logHas(/Error reconfiguring the daemon: the configuration in use is kept/);
  process.kill(pid, 'SIGUSR2');
  process.kill(pid, 'SIGUSR1');
  await logHas(/SIGUSR1: diagnostic report written" file="([^"]+)"/);
  const file = /SIGUSR1: diagnostic report written" file="([^"]+)"/.exec(await d.log())![1]!;
  const report = JSON.parse(readFileSync(file, 'utf8')) as { header: { processId: number }; environmentVariables?: unknown };
  assert.equal(report.header.processId, pid);
  assert.equal(report.environmentVariables, undefined, 'no environment (a proxy password lives there)');
  assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
  // no inspector: nothing listens on its port (9229 = 0x240D)
  const tcp = readFileSync('/proc/net/tcp', 'utf8') + readFileSync('/proc/net/tcp6', 'utf8');
  assert.deepEqual(tcp.split('\n').filter((l) => / [0-9A-F]+:240D [0-9A-F]+:0000 0A /.test(l)), [], 'nothing listens on 9229');
  await d.ok(['ps']);
});
