// runtime/runc/state-delete.ts against runc itself: a container runc ran and saw exit is
// gone for runc after deleteStoppedState (no state, no cgroup left in any hierarchy), as after
// `runc delete`; what it must not take (a live container) stays runc's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deleteStoppedState } from '../../src/runtime/runc/state-delete.js';
import { requirePrerequisites } from '../helpers/prereqs.js';

const RUNC = '/usr/sbin/runc';
const BUSYBOX = '/bin/busybox';
requirePrerequisites('runtime-runc-state', { root: true, files: { [RUNC]: 'runc', [BUSYBOX]: 'busybox-static' } });

let tmp: string, root: string, bundle: string;
const ids: string[] = [];

const runc = (...args: string[]) => spawnSync(RUNC, ['--root', root, ...args], { encoding: 'utf8' });

before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'tsula-runc-state-'));
  root = path.join(tmp, 'root');
  bundle = path.join(tmp, 'bundle');
  mkdirSync(path.join(bundle, 'rootfs/bin'), { recursive: true });
  copyFileSync(BUSYBOX, path.join(bundle, 'rootfs/bin/busybox'));
  for (const tool of ['sh', 'true', 'sleep']) execFileSync('ln', ['-s', 'busybox', path.join(bundle, 'rootfs/bin', tool)]);
  execFileSync(RUNC, ['spec', '--bundle', bundle]);
});

const PARENT = 'tsula-test-runc-state';

after(() => {
  for (const id of ids) runc('delete', '--force', id);
  rmSync(tmp, { recursive: true, force: true });
  // runc makes the parent cgroup and never removes it
  for (const h of readdirSync('/sys/fs/cgroup')) {
    try { rmdirSync(path.join('/sys/fs/cgroup', h, PARENT)); } catch { /* none, or not ours to take */ }
  }
});

/** runc run -d (or create) of argv, in a cgroup of its own; its state.json as runc wrote it. */
function run(id: string, argv: string[], verb: 'run' | 'create' = 'run'): { cgroups: string[]; init: number } {
  const spec = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  spec.process.terminal = false;
  spec.process.args = argv;
  spec.linux.cgroupsPath = `/${PARENT}/${path.basename(tmp)}-${id}`;
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
  ids.push(id);
  const r = spawnSync(RUNC, ['--root', root, verb, ...(verb === 'run' ? ['-d'] : []), '--bundle', bundle, id], { stdio: 'ignore' });
  assert.equal(r.status, 0);
  const st = JSON.parse(readFileSync(path.join(root, id, 'state.json'), 'utf8'));
  return { cgroups: [...new Set(Object.values(st.cgroup_paths as Record<string, string>))], init: st.init_process_pid };
}

async function stopped(id: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (JSON.parse(runc('state', id).stdout).status === 'stopped') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`${id} did not stop`);
}

test('an exited container: gone for runc, its cgroups gone in every hierarchy, as runc delete leaves it', async () => {
  const { cgroups } = run('exited', ['true']);
  assert.ok(cgroups.length > 0 && cgroups.every((c) => existsSync(c)));
  await stopped('exited');
  assert.equal(await deleteStoppedState(root, 'exited'), true);
  assert.equal(existsSync(path.join(root, 'exited')), false);
  for (const c of cgroups) assert.equal(existsSync(c), false, c);
  const state = runc('state', 'exited');
  assert.notEqual(state.status, 0);
  assert.match(state.stderr, /does not exist/);
  assert.doesNotMatch(runc('list', '-q').stdout, /exited/);
  // runc's own delete finds nothing left to do
  assert.match(runc('delete', 'exited').stderr, /does not exist/);
});

test('a live container stays runc\'s: nothing removed; after its kill it goes', async () => {
  const { cgroups } = run('live', ['sleep', '60']);
  assert.equal(await deleteStoppedState(root, 'live'), false);
  assert.equal(JSON.parse(runc('state', 'live').stdout).status, 'running');
  assert.ok(cgroups.every((c) => existsSync(c)));
  assert.equal(runc('kill', 'live', 'KILL').status, 0);
  await stopped('live');
  assert.equal(await deleteStoppedState(root, 'live'), true);
  for (const c of cgroups) assert.equal(existsSync(c), false, c);
});

test('a created container whose init died (runc: stopped, whatever its exec fifo says) goes too', async () => {
  const { cgroups, init } = run('created', ['true'], 'create');
  assert.equal(JSON.parse(runc('state', 'created').stdout).status, 'created');
  process.kill(init, 'SIGKILL');
  await stopped('created');
  assert.equal(await deleteStoppedState(root, 'created'), true);
  assert.equal(existsSync(path.join(root, 'created')), false);
  for (const c of cgroups) assert.equal(existsSync(c), false, c);
  assert.match(runc('state', 'created').stderr, /does not exist/);
});
