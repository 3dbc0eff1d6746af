// `tsula pull` on a real terminal (a pty of 60 columns, then 30): the final screen is the one
// the stock docker CLI draws against the same daemon (docker's jsonmessage: a line per
// layer rewritten in place, Digest and Status below, the pulled reference last), and no
// layer line is ever longer than the terminal. `run -q` says nothing about its pull.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { IMAGES, TestDaemon, TSULA } from '../helpers/daemon.js';
import { dockerCliPath, dockerEnv } from '../helpers/docker-cli.js';
import { TestRegistry } from '../helpers/registry.js';
import { PtyProcess } from '../helpers/pty.js';
import { renderScreen } from '../helpers/screen.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('cli-tty', {
  root: true,
  files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon', '/usr/bin/docker-registry': 'docker-registry', '/usr/bin/skopeo': 'skopeo', '/usr/bin/python3': 'python3' },
});

let reg: TestRegistry;
let d: TestDaemon;
let R: string;
const ptys: PtyProcess[] = [];

before(async () => {
  reg = await TestRegistry.start();
  R = reg.host;
  await reg.push(path.join(IMAGES, 'layered.tar'), 'layered:latest');
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'quiet:1');
  await reg.push(path.join(IMAGES, 'busybox.tar'), 'loud:1');
  d = await TestDaemon.create();
  await d.loadBusybox(); // layered's bottom layer: one "Already exists" line
});

after(async () => {
  for (const p of ptys) p.kill();
  await d?.destroy();
  await reg?.stop();
});

/** argv on a pty of `cols` columns; resolves to its output once it exited 0. */
async function onPty(argv: string[], cols: number, env: NodeJS.ProcessEnv = {}): Promise<string> {
  const p = new PtyProcess(argv, { size: [24, cols], env: { ...process.env, ...env } });
  ptys.push(p);
  const code = await p.status(90_000);
  assert.equal(code, 0, p.output);
  return p.output;
}

/** The layer lines as drawn: each text between an erase-line and its carriage return. */
const drawnLayerLines = (out: string) => [...out.matchAll(/\x1b\[2K\r([^\r\x1b]*)\r/g)].map((m) => m[1]!);

const pullWithTsula = (cols: number) => onPty([TSULA, '-H', d.hostArg, 'pull', `${R}/layered`], cols);
const pullWithDocker = (cols: number) => onPty([dockerCliPath(), 'pull', `${R}/layered`], cols, {
  DOCKER_HOST: dockerEnv(d).DOCKER_HOST!, DOCKER_CONFIG: dockerEnv(d).DOCKER_CONFIG!,
});

test('pull on a 60-column terminal: layers in place, Digest and Status below, as the docker CLI draws it', async () => {
  const out = await pullWithTsula(60);
  const screen = renderScreen(out, 60);
  assert.equal(screen[0], 'Using default tag: latest');
  assert.equal(screen[1], 'latest: Pulling from layered', 'the first line is not overwritten');
  const layers = screen.slice(2, 5);
  assert.equal(layers.filter((l) => /^[0-9a-f]{12}: Already exists$/.test(l)).length, 1, screen.join('\n'));
  assert.equal(layers.filter((l) => /^[0-9a-f]{12}: Pull complete$/.test(l)).length, 2, screen.join('\n'));
  // the Digest and Status lines are wider than 60 columns: the terminal wraps them
  const rest = screen.slice(5).join('');
  assert.equal(rest.replace(/sha256:[0-9a-f]{64}/, 'sha256:D'), `Digest: sha256:DStatus: Downloaded newer image for ${R}/layered:latest${R}/layered:latest`);
  for (const l of drawnLayerLines(out)) assert.ok(l.length <= 60, l);

  await d.ok(['rmi', `${R}/layered`]);
  const docker = await pullWithDocker(60);
  assert.deepEqual(renderScreen(docker, 60), screen);
  await d.ok(['rmi', `${R}/layered`]);
});

test('pull on a 30-column terminal: a layer line is cut, never wrapped, so none is drawn twice', async () => {
  const out = await pullWithTsula(30);
  const screen = renderScreen(out, 30);
  const drawn = drawnLayerLines(out);
  assert.ok(drawn.some((l) => l.length === 30), `a line was cut to the width: ${JSON.stringify(drawn)}`);
  for (const l of drawn) assert.ok(l.length <= 30, l);
  // each layer's final state exactly once, under the unbroken first line
  assert.deepEqual(screen.slice(0, 2), ['Using default tag: latest', 'latest: Pulling from layered']);
  const layerRows = screen.filter((l) => /^[0-9a-f]{12}: /.test(l));
  assert.equal(layerRows.length, 3, screen.join('\n'));
  assert.equal(new Set(layerRows.map((l) => l.slice(0, 12))).size, 3, screen.join('\n'));
  assert.ok(layerRows.every((l) => /: (Already exists|Pull complete)$/.test(l)), screen.join('\n'));
  await d.ok(['rmi', `${R}/layered`]);
});

test('run -q pulls without a word: no "Unable to find image", no progress; without -q both show', async () => {
  const q = await d.cli(['run', '-q', '--rm', `${R}/quiet:1`, 'echo', 'hi']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(q.stdout, 'hi\n');
  assert.equal(q.stderr, '');
  const loud = await d.cli(['run', '--rm', `${R}/loud:1`, 'echo', 'hi']);
  assert.equal(loud.code, 0, loud.stderr);
  assert.equal(loud.stdout, 'hi\n');
  assert.match(loud.stderr, new RegExp(`^Unable to find image '${R.replace(/\./g, '\\.')}/loud:1' locally\n1: Pulling from loud\n`));
  assert.match(loud.stderr, /\nStatus: Downloaded newer image for .*loud:1\n$/);
});

test("run -it on a terminal: the container's lines arrive as docker's raw terminal shows them (no \\r\\r\\n), its exit code, the terminal given back", async () => {
  const onTty = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const p = new PtyProcess(argv, { size: [24, 80], env: { ...process.env, ...env } });
    ptys.push(p);
    return { code: await p.status(60_000), out: p.output };
  };
  // the container outlives both CLIs' first resize (sent after the start): one that exited
  // first answers 409, and docker's CLI then prints "failed to resize tty, using default
  // size" after its retries (a race between its resize and the exit, seen under load)
  const cmd = ['run', '--rm', '-it', 'busybox', 'sh', '-c', 'echo a; echo b; sleep 1; exit 3'];
  const mine = await onTty([TSULA, '-H', d.hostArg, ...cmd]);
  const theirs = await onTty([dockerCliPath(), ...cmd], { DOCKER_HOST: dockerEnv(d).DOCKER_HOST!, DOCKER_CONFIG: dockerEnv(d).DOCKER_CONFIG! });
  assert.deepEqual([mine.code, theirs.code], [3, 3]);
  assert.match(mine.out, /a\r\nb\r\n/);
  assert.ok(!mine.out.includes('\r\r\n'), JSON.stringify(mine.out));
  assert.equal(mine.out.replace(/\0/g, ''), theirs.out.replace(/\0/g, ''));
  // the terminal's output processing is back once tsula is done
  const after = await onTty(['sh', '-c', `${TSULA} -H ${d.hostArg} run --rm -it busybox true; stty -a`]);
  assert.match(after.out, /(^|\s)opost(\s|$)/);
});

test('run -it and exec -it: the TTY has the terminal\'s size from its first instant (API 1.42\'s ConsoleSize, as docker 23+ sends it)', async () => {
  // (the docker CLI these tests drive is Debian's 20.10: its run sends ConsoleSize on Windows
  // only, and its first resize races the start as tsula's did)
  const onTty = async (argv: string[], size: [number, number]) => {
    const p = new PtyProcess(argv, { size });
    ptys.push(p);
    return { code: await p.status(60_000), out: p.output };
  };
  // `stty size` asks at once: a resize sent after the start would come too late (0 0, which
  // busybox's stty answers with "stty: standard input")
  for (let i = 0; i < 3; i++) {
    const r = await onTty([TSULA, '-H', d.hostArg, 'run', '--rm', '-it', 'busybox', 'stty', 'size'], [31, 97]);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^31 97\r\n$/, JSON.stringify(r.out));
  }
  await d.ok(['run', '-d', '--name', 'sized', 'busybox', 'sleep', '60']);
  try {
    for (let i = 0; i < 3; i++) {
      const r = await onTty([TSULA, '-H', d.hostArg, 'exec', '-it', 'sized', 'stty', 'size'], [17, 63]);
      assert.match(r.out, /^17 63\r\n$/, JSON.stringify(r.out));
    }
  } finally {
    await d.ok(['rm', '-f', 'sized']);
  }
});
