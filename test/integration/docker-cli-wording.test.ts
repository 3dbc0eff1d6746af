// What the stock docker CLI prints and returns on less travelled paths, word for word as
// against dockerd 20.10 (scripts and compose match on these messages and exit codes).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { TestDaemon, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-wording', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => { await d?.destroy(); });

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

const CHARS = 'only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed';

test('docker rename: dockerd\'s "Error when allocating new name" for a taken or invalid name', async () => {
  const a = (await ok(['create', '--name', 'ren-a', 'busybox', 'true'])).trim();
  const b = (await ok(['create', '--name', 'ren-b', 'busybox', 'true'])).trim();
  const taken = await docker(d, ['rename', 'ren-a', 'ren-b']);
  assert.equal(taken.code, 1);
  assert.equal(taken.stderr, 'Error response from daemon: Error when allocating new name: Conflict. The container name "/ren-b" '
    + `is already in use by container "${b}". You have to remove (or rename) that container to be able to reuse that name.\n`
    + 'Error: failed to rename container named ren-a\n');
  // dockerd puts the "/" on the new name before checking it
  const bad = await docker(d, ['rename', 'ren-a', 'bad name!']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, `Error response from daemon: Error when allocating new name: Invalid container name (/bad name!), ${CHARS}\n`
    + 'Error: failed to rename container named ren-a\n');
  const same = await docker(d, ['rename', 'ren-a', 'ren-a']);
  assert.equal(same.code, 1);
  assert.match(same.stderr, /^Error response from daemon: Renaming a container with the same name as its current name\n/);
  // nothing changed by the refusals; a free name still works
  assert.equal((await ok(['inspect', '-f', '{{.Name}}', a])).trim(), '/ren-a');
  await ok(['rename', 'ren-a', 'ren-c']);
  assert.equal((await ok(['inspect', '-f', '{{.Name}}', a])).trim(), '/ren-c');
  await ok(['rm', 'ren-c', 'ren-b']);
});

test('docker create --name: dockerd\'s invalid-name and conflict wording', async () => {
  const bad = await docker(d, ['create', '--name', 'bad name!', 'busybox', 'true']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, `Error response from daemon: Invalid container name (bad name!), ${CHARS}\n`);
  const id = (await ok(['create', '--name', 'dup', 'busybox', 'true'])).trim();
  const dup = await docker(d, ['create', '--name', 'dup', 'busybox', 'true']);
  assert.equal(dup.code, 1);
  assert.equal(dup.stderr, `Error response from daemon: Conflict. The container name "/dup" is already in use by container "${id}". `
    + 'You have to remove (or rename) that container to be able to reuse that name.\n');
  await ok(['rm', 'dup']);
});

test('docker logs --tail: a count that is not a number, or a negative one, is the whole log', async () => {
  await ok(['run', '--name', 'tails', 'busybox', 'sh', '-c', 'echo one; echo two; echo three']);
  assert.equal(await ok(['logs', '--tail', '1', 'tails']), 'three\n');
  assert.equal(await ok(['logs', '--tail', '0', 'tails']), '');
  assert.equal(await ok(['logs', '--tail', 'abc', 'tails']), 'one\ntwo\nthree\n');
  assert.equal(await ok(['logs', '--tail', '-2', 'tails']), 'one\ntwo\nthree\n');
  assert.equal(await ok(['logs', '--tail', 'all', 'tails']), 'one\ntwo\nthree\n');
  await ok(['rm', 'tails']);
});

test('docker logs -f --until: ends at the first newer line though the container keeps logging', async () => {
  await ok(['run', '-d', '--name', 'chatty', 'busybox', 'sh', '-c', 'i=0; while :; do i=$((i+1)); echo line$i; sleep 0.2; done']);
  try {
    // two lines logged already (a loaded host may take more than a second for them), and
    // a second more: the CLI sends `until` in whole seconds (now, rounded down)
    for (let i = 0; i < 100 && !(await ok(['logs', 'chatty'])).includes('line2\n'); i++) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 1500));
    const started = Date.now();
    // without the fix, this follows for as long as the container logs: the timeout catches it
    const r = await docker(d, ['logs', '-f', '--until', '0s', 'chatty'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started}ms`);
    assert.match(r.stdout, /^line1\nline2\n/, r.stdout);
  } finally {
    await ok(['rm', '-f', 'chatty']);
  }
});

test('docker images: the Containers column is N/A (dockerd counts only for system df)', async () => {
  await ok(['create', '--name', 'user', 'busybox', 'true']);
  assert.equal((await ok(['images', '--format', '{{.Repository}} {{.Containers}}'])).trim(), 'busybox N/A');
  // system df still counts the image's containers
  const df = await ok(['system', 'df', '-v', '--format', '{{range .Images}}{{.Repository}} {{.Containers}}{{end}}']);
  assert.equal(df.trim(), 'busybox 1');
  await ok(['rm', 'user']);
});

test('docker run --stop-signal / kill -s: a signal dockerd can\'t parse is refused at once, in its words', async () => {
  const run = await docker(d, ['run', '--name', 'badsig', '--stop-signal', 'BOGUS', 'busybox', 'true']);
  assert.equal(run.code, 125);
  // moby/sys's words since dockerd 23 (20.10's pkg/signal said "Invalid signal")
  assert.equal(run.stderr, 'docker: Error response from daemon: invalid signal: BOGUS.\nSee \'docker run --help\'.\n');
  assert.equal((await docker(d, ['inspect', 'badsig'])).code, 1, 'no container is left behind');
  await ok(['run', '-d', '--name', 'sigs', '--stop-signal', 'usr1', 'busybox', 'sleep', '100']);
  const kill = await docker(d, ['kill', '-s', 'NOPE', 'sigs']);
  assert.equal(kill.code, 1);
  assert.equal(kill.stderr, 'Error response from daemon: invalid signal: NOPE\n');
  await ok(['rm', '-f', 'sigs']);
  // a real-time stop signal (systemd images: SIGRTMIN+3) stops the container, and kill -s takes one
  await ok(['run', '-d', '--name', 'rtsig', '--stop-signal', 'SIGRTMIN+3', 'busybox', 'sh', '-c', 'trap "exit 7" 37; trap "echo got38" 38; while :; do sleep 0.1; done']);
  await ok(['kill', '-s', 'RTMIN+4', 'rtsig']);
  await waitFor(async () => (await docker(d, ['logs', 'rtsig'])).stdout.includes('got38'), 10_000, 'SIGRTMIN+4 trapped');
  const t0 = Date.now();
  await ok(['stop', 'rtsig']);
  assert.ok(Date.now() - t0 < 8000, 'stopped by its stop signal, not by the SIGKILL after 10 s');
  assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'rtsig'])).trim(), '7');
  await ok(['rm', 'rtsig']);
});

test('docker create/run -w: the working directory is made at create, cleaned; a file there fails the create', async () => {
  const bad = await docker(d, ['run', '--name', 'wdfile', '-w', '/etc/passwd', 'busybox', 'true']);
  assert.equal(bad.code, 125);
  assert.equal(bad.stderr, 'docker: Error response from daemon: Cannot mkdir: /etc/passwd is not a directory.\nSee \'docker run --help\'.\n');
  assert.equal((await docker(d, ['inspect', 'wdfile'])).code, 1, 'no container is left behind');
  await ok(['create', '--name', 'wdnew', '-w', '/new/dir/', 'busybox', 'pwd']);
  assert.equal(await ok(['diff', 'wdnew']), 'A /new\nA /new/dir\n');
  assert.equal((await ok(['inspect', '-f', '{{.Config.WorkingDir}}', 'wdnew'])).trim(), '/new/dir');
  assert.equal(await ok(['start', '-a', 'wdnew']), '/new/dir\n');
  assert.equal(await ok(['run', '--rm', '-w', '/bin/sh/..', 'busybox', 'pwd']), '/bin\n');
  const rel = await docker(d, ['run', '--rm', '-w', 'rel', 'busybox', 'pwd']);
  assert.equal(rel.code, 125);
  assert.match(rel.stderr, /^docker: Error response from daemon: the working directory 'rel' is invalid, it needs to be an absolute path\./);
  await ok(['rm', 'wdnew']);
});

test('an image\'s WORKDIR: one the image has is not made again (each create alike), a missing one is made in each', async () => {
  await ok(['run', '--name', 'wdsrc', 'busybox', 'mkdir', '-p', '/srv/app']);
  await ok(['commit', '--change', 'WORKDIR /srv/app', 'wdsrc', 'wd-has:1']);
  await ok(['commit', '--change', 'WORKDIR /nope/x', 'wdsrc', 'wd-lacks:1']);
  for (let i = 0; i < 2; i++) {
    const has = (await ok(['create', 'wd-has:1', 'pwd'])).trim();
    assert.equal(await ok(['diff', has]), '', 'nothing made in the rootfs');
    assert.equal(await ok(['start', '-a', has]), '/srv/app\n');
    const lacks = (await ok(['create', 'wd-lacks:1', 'pwd'])).trim();
    assert.equal(await ok(['diff', lacks]), 'A /nope\nA /nope/x\n', `create ${i + 1} makes it`);
    assert.equal(await ok(['start', '-a', lacks]), '/nope/x\n');
    await ok(['rm', has, lacks]);
  }
  await ok(['rm', 'wdsrc']);
  await ok(['rmi', 'wd-has:1', 'wd-lacks:1']);
});

test('docker top: ps options pass through; a bad one or a table without PID in dockerd\'s words', async () => {
  await ok(['run', '-d', '--name', 'topped', 'busybox', 'sleep', '100']);
  const t = (await ok(['top', 'topped', '-o', 'pid,comm'])).split('\n').filter(Boolean);
  assert.match(t[0]!, /^PID\s+COMMAND$/);
  assert.match(t[1]!, /^\d+\s+sleep$/);
  const bad = await docker(d, ['top', 'topped', '-o', 'bogus']);
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'Error response from daemon: ps: error: unknown user-defined format specifier "bogus"\n');
  const nopid = await docker(d, ['top', 'topped', '-o', 'comm']);
  assert.equal(nopid.code, 1);
  assert.equal(nopid.stderr, 'Error response from daemon: Couldn\'t find PID field in ps output\n');
  // BSD-style arguments (ps then takes -q badly: dockerd runs it again without), -o with a
  // column renamed PID refused (moby's TestContainerTopValidatePSArgs / TestTop)
  for (const args of ['aux', 'axo pid,comm', '-eo pid,ppid,cmd', 'o pid,comm']) {
    const r = await d.api('GET', `/containers/topped/top?ps_args=${encodeURIComponent(args)}`);
    assert.equal(r.status, 200, `${args}: ${r.body}`);
    assert.ok((JSON.parse(r.body) as { Processes: string[][] }).Processes.some((p) => p.join(' ').includes('sleep')), `${args}: ${r.body}`);
  }
  const renamed = await d.api('GET', `/containers/topped/top?ps_args=${encodeURIComponent('-o uid=PID')}`);
  assert.equal(renamed.status, 400);
  assert.match(renamed.body, /specifying \\"uid=PID\\" is not allowed/);
  await ok(['rm', '-f', 'topped']);
});

test('docker run of a command the runtime refuses: containerd 1.6\'s "failed to create shim task: …: unknown", dockerd\'s codes', async () => {
  const shim = 'docker: Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ';
  // the CLI cancels its wait when the start fails and may log that from its goroutine before
  // it exits, under dockerd too ("error waiting for container: context canceled"): not ours
  const firstLine = (stderr: string) => stderr.split('\n').filter((l) => !/level=error msg="error waiting for container: context canceled"/.test(l))[0];
  const missing = await docker(d, ['run', '--name', 'nocmd', 'busybox', 'nosuch']);
  assert.equal(missing.code, 127);
  assert.equal(firstLine(missing.stderr), `${shim}exec: "nosuch": executable file not found in $PATH: unknown.`);
  assert.equal((await ok(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}} {{.State.Error}}', 'nocmd'])).trim(),
    'created 127 failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: '
    + 'exec: "nosuch": executable file not found in $PATH: unknown');
  // over the API: dockerd's 400 for a start it classes as bad config
  const again = await d.api('POST', '/v1.41/containers/nocmd/start');
  assert.equal(again.status, 400);
  const dir = await docker(d, ['run', '--name', 'nox', 'busybox', '/etc']);
  assert.equal(dir.code, 126);
  assert.equal(firstLine(dir.stderr), `${shim}exec: "/etc": permission denied: unknown.`);
  assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'nox'])).trim(), '126');
  // a file bound over a directory: runc's mount error with dockerd's hint; the CLI's 125
  const file = `${d.dir}/afile`;
  await fs.writeFile(file, '');
  const bind = await docker(d, ['run', '--name', 'badbind', '-v', `${file}:/etc`, 'busybox', 'true']);
  assert.equal(bind.code, 125);
  assert.match(bind.stderr, /: not a directory: unknown: Are you trying to mount a directory onto a file \(or vice-versa\)\? Check if the specified host path exists and is the expected type\.\n/);
  assert.equal((await ok(['inspect', '-f', '{{.State.ExitCode}}', 'badbind'])).trim(), '127');
  await ok(['rm', 'nocmd', 'nox', 'badbind']);
});

test('docker rm of a paused container: dockerd\'s "Unpause and then stop"', async () => {
  const id = (await ok(['run', '-d', 'busybox', 'sleep', '300'])).trim();
  try {
    await ok(['pause', id]);
    const r = await docker(d, ['rm', id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`You cannot remove a paused container ${id}\\. Unpause and then stop the container before attempting removal or force remove`));
  } finally {
    await ok(['rm', '-f', id]);
  }
});
