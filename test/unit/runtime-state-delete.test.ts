// The cases runtime/runc/state-delete.ts leaves to runc, on state.json files written here
// (plain directories stand in for cgroups: rmdir treats both alike). The equivalence with
// `runc delete` itself, on real containers, is in test/integration/runtime-runc-state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { inTempDir } from '../helpers/tempdir.js';
import { procStat } from '../../src/common/proc.js';
import { deleteStoppedState, type StuckCgroup } from '../../src/runtime/runc/state-delete.js';

/** A pid that was a process and is none now. */
async function deadPid(): Promise<number> {
  const cp = spawn('true');
  await new Promise((r) => cp.once('exit', r));
  return cp.pid!;
}

/** runc's state.json of a stopped container with two "cgroups" (one with a child). */
async function stateIn(dir: string, patch: (s: Record<string, any>) => void = () => {}): Promise<{ root: string; cgroups: string[] }> {
  const root = path.join(dir, 'root');
  const cgroups = [path.join(dir, 'cg/memory/c1'), path.join(dir, 'cg/pids/c1')];
  for (const c of cgroups) mkdirSync(c, { recursive: true });
  mkdirSync(path.join(cgroups[0], 'nested/deeper'), { recursive: true });
  const s: Record<string, any> = {
    id: 'c1', init_process_pid: await deadPid(), init_process_start: 1234, rootless: false, intel_rdt_path: '',
    cgroup_paths: { memory: cgroups[0], pids: cgroups[1], cpu: path.join(dir, 'cg/cpu/never-made') },
    config: { namespaces: [{ type: 'NEWPID', path: '' }, { type: 'NEWNS', path: '' }], cgroups: { Systemd: false, Rootless: false }, Hooks: { poststop: null } },
  };
  patch(s);
  mkdirSync(path.join(root, 'c1'), { recursive: true });
  writeFileSync(path.join(root, 'c1/state.json'), JSON.stringify(s));
  return { root, cgroups };
}

test('a stopped container: its cgroups (children first) and its state go, as runc delete removes them', () => inTempDir('runc-state-', async (dir) => {
  const { root, cgroups } = await stateIn(dir);
  assert.equal(await deleteStoppedState(root, 'c1'), true);
  for (const c of cgroups) assert.equal(existsSync(c), false, c);
  assert.equal(existsSync(path.join(root, 'c1')), false);
}));

test('left to runc: no state, a torn one, a live init, a shared pid namespace, hooks, systemd, rootless, RDT, joined cgroups', () => inTempDir('runc-state-', async (dir) => {
  const self = await procStat(process.pid);
  const cases: Array<[string, (s: Record<string, any>) => void]> = [
    ['a live init', (s) => { s.init_process_pid = process.pid; s.init_process_start = self.startTime; }],
    ['a shared pid namespace (runc kills what is left in the cgroup)', (s) => { s.config.namespaces[0].path = '/proc/1/ns/pid'; }],
    ['no pid namespace of its own', (s) => { s.config.namespaces = s.config.namespaces.slice(1); }],
    ['poststop hooks', (s) => { s.config.Hooks.poststop = [{ path: '/bin/true' }]; }],
    ['the systemd driver', (s) => { s.config.cgroups.Systemd = true; }],
    ['rootless', (s) => { s.rootless = true; }],
    ['an Intel RDT group', (s) => { s.intel_rdt_path = '/sys/fs/resctrl/c1'; }],
    ['an Intel RDT config (runc finds the group from the id)', (s) => { s.config.intel_rdt = { closID: 'c1' }; }],
    ['joined cgroup paths (runc removes none)', (s) => { s.config.cgroups.paths = { memory: '/sys/fs/cgroup/memory/x' }; }],
  ];
  for (const [what, patch] of cases) {
    rmSync(path.join(dir, 'root'), { recursive: true, force: true });
    const { root, cgroups } = await stateIn(dir, patch);
    assert.equal(await deleteStoppedState(root, 'c1'), false, what);
    assert.equal(existsSync(path.join(root, 'c1/state.json')), true, what);
    for (const c of cgroups) assert.equal(existsSync(c), true, what);
  }
  assert.equal(await deleteStoppedState(path.join(dir, 'root'), 'absent'), false, 'no state');
  writeFileSync(path.join(dir, 'root/c1/state.json'), '{"init_process_pid": 1');
  assert.equal(await deleteStoppedState(path.join(dir, 'root'), 'c1'), false, 'torn');
  for (const bad of ['../root', 'a/b', '..', '']) assert.equal(await deleteStoppedState(path.join(dir, 'root'), bad), false, bad);
}));

test('a cgroup that will not go: retried as runc retries v1 cgroups (10+20+40+80 ms), named with its error, then left to runc with the state', () => inTempDir('runc-state-', async (dir) => {
  const { root, cgroups } = await stateIn(dir);
  writeFileSync(path.join(cgroups[1], 'busy'), ''); // stands in for EBUSY: rmdir keeps failing
  const named: StuckCgroup[][] = [];
  const t0 = Date.now();
  assert.equal(await deleteStoppedState(root, 'c1', (left) => named.push(left)), false);
  const took = Date.now() - t0;
  assert.ok(took >= 145 && took < 1500, `${took} ms`);
  assert.deepEqual(named, [[{ path: cgroups[1], code: 'ENOTEMPTY' }]]);
  assert.equal(existsSync(cgroups[0]), false, 'the others went');
  assert.equal(existsSync(path.join(root, 'c1/state.json')), true, 'runc decides about the state');
}));

test('a v2 cgroup (the only path is the unified one) gets one try, as runc gives it', () => inTempDir('runc-state-', async (dir) => {
  const cg = path.join(dir, 'v2/c1');
  mkdirSync(cg, { recursive: true });
  writeFileSync(path.join(cg, 'busy'), '');
  const { root } = await stateIn(dir, (s) => { s.cgroup_paths = { '': cg }; });
  const t0 = Date.now();
  assert.equal(await deleteStoppedState(root, 'c1'), false);
  assert.ok(Date.now() - t0 < 100, `${Date.now() - t0} ms`);
}));

test('a frozen or freezing cgroup (runc: paused, even with its init dead) is runc\'s; a thawed one is not', () => inTempDir('runc-state-', async (dir) => {
  const cases = [['freezer', 'freezer.state', 'FROZEN', 'THAWED'], ['freezer', 'freezer.state', 'FREEZING', 'THAWED'], ['', 'cgroup.freeze', '1', '0']] as const;
  for (const [key, file, frozen, thawed] of cases) {
    rmSync(path.join(dir, 'root'), { recursive: true, force: true });
    const fz = path.join(dir, `fz-${file}`);
    mkdirSync(fz, { recursive: true });
    writeFileSync(path.join(fz, file), `${frozen}\n`);
    const { root } = await stateIn(dir, (s) => { s.cgroup_paths[key] = fz; });
    const named: StuckCgroup[][] = [];
    assert.equal(await deleteStoppedState(root, 'c1', (left) => named.push(left)), false, frozen);
    assert.equal(named.length, 0, `${frozen}: refused before any removal`);
    // thawed, the removal goes on (here the control file keeps the plain directory: named)
    writeFileSync(path.join(fz, file), `${thawed}\n`);
    assert.equal(await deleteStoppedState(root, 'c1', (left) => named.push(left)), false, thawed);
    assert.deepEqual(named.flat().map((c) => c.path), [fz], `${thawed}: past the freezer check`);
    rmSync(fz, { recursive: true });
  }
}));
