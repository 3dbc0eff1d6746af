// The stock docker CLI's classic build (DOCKER_BUILDKIT=0) with --label and --target, and
// with --platform, against tsulad as against dockerd 20.10: the labels land on the target
// (dockerd cuts the stages before it adds them), and the build's platform is every FROM's
// default: a local image of another platform is not used but pulled for it (which fails
// here: no registry is reachable), a bad platform is the 400 of containerd's parser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { docker, dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

requirePrerequisites('docker-cli-build-options', { root: true, files: { '/usr/sbin/runc': 'runc', '/usr/bin/conmon': 'conmon' } });

let d: TestDaemon;
before(async () => {
  dockerCliPath();
  d = await TestDaemon.create();
  await d.loadBusybox();
});
after(async () => {
  await d?.destroy();
});

const ok = (args: string[]): Promise<string> => dockerOk(d, args);

async function context(name: string, dockerfile: string): Promise<string> {
  const dir = path.join(d.dir, 'ctx', name);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

const STAGES = 'FROM busybox AS base\nRUN echo b > /b\nFROM base AS second\nRUN echo s > /s\nFROM busybox\nRUN echo l > /l\n';

test('--label with --target: the labels are the target stage\'s, a LABEL step each, their words as given', async () => {
  const dir = await context('target', STAGES);
  const id = (await ok(['build', '-q', '--label', 'lab=L', '--target', 'second', '-t', 'rb:1', dir])).trim();
  assert.equal((await ok(['image', 'inspect', '-f', '{{json .Config.Labels}}', 'rb:1'])).trim(), '{"lab":"L"}');
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'rb:1'])).trim(), id);
  assert.equal(await ok(['run', '--rm', 'rb:1', 'sh', '-c', 'cat /b /s; test -e /l || echo no-l']), 'b\ns\nno-l\n');

  // dockerd's buildLabelOptions: one LABEL per key, sorted, after the target's own steps, unexpanded
  const out = await ok(['build', '--label', 'z=$HOME', '--label', 'lab=L', '--target', 'second', '-t', 'rb:2', dir]);
  assert.match(out, /Step 4\/6 : RUN echo s > \/s\n[^]*Step 5\/6 : LABEL lab=L\n[^]*Step 6\/6 : LABEL z=\$HOME\n/);
  assert.doesNotMatch(out, /RUN echo l/, 'the stages after the target are not built');
  assert.equal((await ok(['image', 'inspect', '-f', '{{json .Config.Labels}}', 'rb:2'])).trim(), '{"lab":"L","z":"$HOME"}');
  assert.match(await ok(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'rb:2']), /^\/bin\/sh -c #\(nop\)  LABEL z=\$HOME\n/);

  // without --target the last stage takes them, as before
  await ok(['build', '-q', '--label', 'lab=L', '-t', 'rb:3', dir]);
  assert.equal((await ok(['image', 'inspect', '-f', '{{json .Config.Labels}}', 'rb:3'])).trim(), '{"lab":"L"}');
  await ok(['rmi', 'rb:1', 'rb:2', 'rb:3']);
});

test('--platform: the local busybox serves linux/amd64; for linux/arm64 it is pulled, which fails here', async () => {
  const dir = await context('platform', 'FROM busybox\nLABEL p=1\n');
  const busybox = (await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim();
  const amd = await ok(['build', '--platform', 'linux/amd64', '-t', 'pl:amd64', dir]);
  assert.match(amd, new RegExp(`Step 1/2 : FROM busybox\n ---> ${busybox.slice(7, 19)}\n`), 'the local image, no pull');
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Os}}/{{.Architecture}} {{.Config.Labels.p}}', 'pl:amd64'])).trim(), 'linux/amd64 1');

  // dockerd's GetImage finds busybox of another platform, so pullForBuilder pulls it for arm64:
  // docker.io is out of reach, and that pull's error ends the build after its FROM step
  const arm = await docker(d, ['build', '--platform', 'linux/arm64', '-t', 'pl:arm64', dir], { timeoutMs: 120_000 });
  assert.equal(arm.code, 1, arm.stderr);
  assert.match(arm.stdout, /Step 1\/2 : FROM busybox\n$/);
  assert.match(arm.stderr, /registry-1\.docker\.io.*(no such host|name resolution|connect)/);
  assert.doesNotMatch(arm.stderr, /does not match the specified platform/, 'the mismatch is not the error: the pull is');
  await assert.rejects(ok(['image', 'inspect', 'pl:arm64']));
  assert.equal((await ok(['image', 'inspect', '-f', '{{.Id}}', 'busybox'])).trim(), busybox, 'the local busybox is left as it was');

  // FROM --platform is the stage's own (the build's is the default); the classic builder
  // has no BUILDPLATFORM arg, so that FROM's platform expands to nothing and is refused
  const own = await docker(d, ['build', await context('fromplatform', 'FROM --platform=linux/arm64 busybox\n')], { timeoutMs: 120_000 });
  assert.equal(own.code, 1);
  assert.match(own.stderr, /registry-1\.docker\.io/);
  const over = await ok(['build', '-q', '--platform', 'linux/arm64', await context('override', 'FROM --platform=linux/amd64 busybox\nLABEL o=1\n')]);
  assert.match(over, /^sha256:/, 'a FROM\'s own platform wins over the build\'s');
  const buildplatform = await docker(d, ['build', await context('buildplatform', 'FROM --platform=$BUILDPLATFORM busybox\n')]);
  assert.equal(buildplatform.code, 1);
  assert.equal(buildplatform.stderr, 'failed to parse platform : "" is an invalid component of "": platform specifier component must match "^[A-Za-z0-9_-]+$": invalid argument\n');
  await ok(['rmi', 'pl:amd64']);
});

test('--platform that containerd cannot parse: a 400 before any step, in its words', async () => {
  const dir = await context('bogus', 'FROM busybox\n');
  const r = await docker(d, ['build', '--platform', 'bogus/x/y/z', dir]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'Error response from daemon: "bogus/x/y/z": cannot parse platform specifier: invalid argument\n');
  assert.doesNotMatch(r.stdout, /Step/);
  const tar = execFileSync('tar', ['-C', dir, '-cf', '-', '.']);
  const res = await d.api('POST', '/v1.41/build?platform=bogus', tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(res.status, 400);
  assert.equal(JSON.parse(res.body).message, '"bogus": unknown operating system or architecture: invalid argument');
  // API < 1.32 has no platform: it goes unread, as in dockerd
  const old = await d.api('POST', '/v1.31/build?platform=bogus&q=1', tar, { 'Content-Type': 'application/x-tar' });
  assert.equal(old.status, 200, old.body);
});

test('tsula build --platform sends it', async () => {
  const dir = await context('tsula', 'FROM busybox\nLABEL t=1\n');
  const bad = await d.cli(['build', '--platform', 'BOGUS/x/y/z', dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /"bogus\/x\/y\/z": cannot parse platform specifier: invalid argument/, 'lower-cased, as docker sends it');
  const good = await d.cli(['build', '-q', '--platform', 'linux/amd64', dir]);
  assert.equal(good.code, 0, good.stderr);
  const arm = await d.cli(['build', '--platform', 'linux/arm64', dir], { timeoutMs: 120_000 });
  assert.equal(arm.code, 1);
  assert.match(arm.stderr, /registry-1\.docker\.io/);
});
