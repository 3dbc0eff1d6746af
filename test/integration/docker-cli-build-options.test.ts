// The stock docker CLI's classic build (DOCKER_BUILDKIT=0) with --label and --target against
// tsulad as against dockerd 20.10: the labels land on the target (dockerd cuts the stages
// before it adds them).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { TestDaemon } from '../helpers/daemon.js';
import { dockerCliPath, dockerOk } from '../helpers/docker-cli.js';
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
