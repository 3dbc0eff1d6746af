// The stock docker CLI (20.10) on a real terminal against tsulad: run -it, detach with
// Ctrl-P Ctrl-Q, attach again (docker's and tsula's CLI) and type; the terminal's size
// follows a resize in run -it and exec -it, and each container resize is a `resize` event.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { IMAGES, TestDaemon, TSULA, waitFor } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerEnv } from '../helpers/docker-cli.js';
import { PtyProcess } from '../helpers/pty.js';
import { renderScreen } from '../helpers/screen.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-tty', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/python3': 'python3' } });

let d: TestDaemon;
const ptys: PtyProcess[] = [];
const SHIM = ['--runtime', 'io.containerd.runc.v2'];

before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});

after(async () => {
  for (const p of ptys) p.kill();
  await d?.destroy();
});

/** The docker CLI (or tsula's, with tsula: true) on a 24x80 terminal (or cols wide). */
function term(args: string[], o: { tsula?: boolean; cols?: number } = {}): PtyProcess {
  const argv = o.tsula ? [TSULA, '-H', d.hostArg, ...args] : [dockerCliPath(), ...args];
  const p = new PtyProcess(argv, { size: [24, o.cols ?? 80], env: dockerEnv(d) });
  ptys.push(p);
  return p;
}

for (const [label, rt] of [['runc', []], ['io.containerd.runc.v2', SHIM]] as const) {
  test(`docker run -it, Ctrl-P Ctrl-Q, then docker attach and tsula attach: typing reaches the shell (${label})`, async () => {
    const name = `tty-${label.replace(/\W/g, '')}`;
    const run = term(['run', '-it', '--name', name, ...rt, 'busybox', 'sh']);
    await run.expect(/# /);
    run.type('echo one-$((40+2))\r');
    await run.expect(/one-42/);
    run.type('\x10\x11');
    assert.equal(await run.status(), 0, 'detaching from run is a success');
    assert.equal((await docker(d, ['inspect', '-f', '{{.State.Running}}', name])).stdout.trim(), 'true');

    const att = term(['attach', name]);
    // a bare Enter first: had the Ctrl-P of the detach reached ash, it would recall the
    // last line, and this Enter would run it again
    att.type('\r');
    await att.expect(/# /);
    att.type('echo two-$((1+1))\r');
    await att.expect(/two-2/);
    assert.doesNotMatch(att.output, /one-42/, 'the detach keys reached the shell');
    att.type('\x10\x11');
    // docker attach ends a detach with "read escape sequence" and status 1, against dockerd too
    assert.equal(await att.status(), 1);
    assert.match(att.output, /read escape sequence/);

    // tsula attach detaches as docker attach does
    const tsd = term(['attach', name], { tsula: true });
    tsd.type('\r');
    await tsd.expect(/# /);
    tsd.type('\x10\x11');
    assert.equal(await tsd.status(), 1);
    assert.match(tsd.output, /read escape sequence/);

    const ts = term(['attach', name], { tsula: true });
    ts.type('\r');
    await ts.expect(/# /);
    ts.type('echo three-$((1+2))\r');
    await ts.expect(/three-3/);
    ts.type('exit 3\r');
    assert.equal(await ts.status(), 3, 'attach returns the exit status');
    const r = await docker(d, ['rm', name]);
    assert.equal(r.code, 0, r.stderr);
  });
}

test('a resize reaches the shell of run -it and exec -it; each container resize is a resize event', async () => {
  const since = (Date.now() / 1000).toFixed(3);
  const run = term(['run', '-it', '--rm', '--name', 'sized', 'busybox', 'sh']);
  await run.expect(/# /);
  run.type('stty size\r');
  await run.expect(/24 80/);
  run.resize(30, 100);
  await waitFor(async () => {
    const from = run.output.length;
    run.type('stty size\r');
    await new Promise((r) => setTimeout(r, 300));
    return /30 100/.test(run.output.slice(from));
  }, 15_000, 'the new size in the container');

  const exec = term(['exec', '-it', 'sized', 'sh']);
  await exec.expect(/# /);
  exec.type('stty size\r');
  await exec.expect(/24 80/);
  exec.resize(40, 120);
  await waitFor(async () => {
    const from = exec.output.length;
    exec.type('stty size\r');
    await new Promise((r) => setTimeout(r, 300));
    return /40 120/.test(exec.output.slice(from));
  }, 15_000, 'the new size in the exec');
  exec.type('exit 4\r');
  assert.equal(await exec.status(), 4, 'exec -it returns the status');

  const ev = await docker(d, ['events', '--since', since, '--until', (Date.now() / 1000 + 0.5).toFixed(3),
    '--filter', 'container=sized', '--format', '{{.Action}} {{index .Actor.Attributes "height"}}x{{index .Actor.Attributes "width"}}']);
  assert.equal(ev.code, 0, ev.stderr);
  const resizes = ev.stdout.split('\n').filter((l) => l.startsWith('resize '));
  assert.ok(resizes.includes('resize 24x80'), ev.stdout);
  assert.ok(resizes.includes('resize 30x100'), ev.stdout);
  assert.ok(!resizes.includes('resize 40x120'), 'an exec resize is no container event');
  run.type('exit\r');
  assert.equal(await run.status(), 0);
});

test('docker load on a terminal: a layer it has gets no line, a new one its "Loading layer" bar, full at the end, as dockerd\'s loader draws it', async () => {
  // 120 columns: the CLI draws the bar only on a terminal wider than 110
  const again = term(['load', '-i', path.join(IMAGES, 'busybox.tar')], { cols: 120 });
  assert.equal(await again.status(60_000), 0, again.output);
  assert.deepEqual(renderScreen(again.output, 120).filter(Boolean), ['Loaded image: busybox:latest']);
  // layered's bottom layer is busybox's: only its two others are loaded
  const fresh = term(['load', '-i', path.join(IMAGES, 'layered.tar')], { cols: 120 });
  assert.equal(await fresh.status(60_000), 0, fresh.output);
  const screen = renderScreen(fresh.output, 120).filter(Boolean);
  assert.equal(screen.length, 3, screen.join('\n'));
  for (const l of screen.slice(0, 2)) {
    const m = /^[0-9a-f]{12}: Loading layer \[=+>\]\s+(\S+)\/(\S+)$/.exec(l);
    assert.ok(m && m[1] === m[2], l);
  }
  assert.equal(screen[2], 'Loaded image: layered:latest');
});
