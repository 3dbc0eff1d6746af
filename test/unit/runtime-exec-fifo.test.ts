// runc's start through its exec fifo (runtime/runc/exec-fifo.ts), against real fifos and
// real processes standing in for runc init: the open for writing blocks until the start
// opens the other end, one byte, then the exec (here: the writer's exit) closes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { inTempDir } from '../helpers/tempdir.js';
import { startThroughCrunFifo, startThroughFifo } from '../../src/runtime/runc/exec-fifo.js';

function fifoIn(dir: string): string {
  const f = path.join(dir, 'exec.fifo');
  execFileSync('mkfifo', ['-m', '0622', f]);
  return f;
}
/**
 * A stand-in for runc init: writes `data` into the fifo and closes it, then lives `linger` s
 * more (an init alive). Through a second name, as init opens it through an fd of its own: a
 * shell slow to start must not find the name the start removes (it would write a file of that
 * name, and the start would wait for a writer that never comes).
 */
function writer(fifo: string, data: string, linger = 0.05): ChildProcess {
  const own = `${fifo}.init`;
  execFileSync('ln', [fifo, own]);
  return spawn('sh', ['-c', `printf '${data}' > "$1"; sleep ${linger}`, 'sh', own], { stdio: 'ignore' });
}
const exited = (cp: ChildProcess) => new Promise<void>((r) => (cp.exitCode !== null ? r() : cp.once('exit', () => r())));

const WHAT = 'start container 0123456789ab';

test('start through the exec fifo: reads the byte to EOF; the fifo is gone once opened (runc: "running")', () => inTempDir('fifo-', async (dir) => {
  const fifo = fifoIn(dir);
  // the writer keeps its end open a while after its byte, as init until its exec
  execFileSync('ln', [fifo, `${fifo}.init`]); // (its own name: see writer())
  const w = spawn('sh', ['-c', 'exec 3> "$1"; printf 0 >&3; sleep 0.4', 'sh', `${fifo}.init`], { stdio: 'ignore' });
  const started = startThroughFifo(fifo, { pid: w.pid! }, WHAT);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(existsSync(fifo), false, 'removed before the EOF: a daemon dying now leaves runc saying running');
  assert.equal(await started, 'started');
  await exited(w);
}));

test('no fifo: "absent" (the caller asks runc, which words the refusal)', () => inTempDir('fifo-', async (dir) => {
  assert.equal(await startThroughFifo(path.join(dir, 'exec.fifo'), { pid: process.pid }, WHAT), 'absent');
}));

test('an init that died before it wrote: runc\'s "container process is already dead", not a hang', () => inTempDir('fifo-', async (dir) => {
  const fifo = fifoIn(dir);
  const gone = spawn('true');
  await exited(gone);
  const t0 = Date.now();
  await assert.rejects(startThroughFifo(fifo, { pid: gone.pid! }, WHAT), (e: Error) => e.message === 'start container 0123456789ab: container process is already dead');
  assert.ok(Date.now() - t0 < 2000);
  // a pid that is another process now (its start time differs) is no init of ours either
  await assert.rejects(startThroughFifo(fifoIn(dir), { pid: process.pid, startTime: '1' }, WHAT), /container process is already dead/);
}));

test('a path that is no fifo: refused, and no fd is left open', () => inTempDir('fifo-', async (dir) => {
  const file = path.join(dir, 'exec.fifo');
  writeFileSync(file, '');
  const fds = readdirSync('/proc/self/fd').length;
  await assert.rejects(startThroughFifo(file, { pid: process.pid }, WHAT), /is not runc's exec fifo/);
  assert.equal(readdirSync('/proc/self/fd').length, fds);
  assert.equal(existsSync(file), true, 'not removed');
}));

test('a writer that closes without writing: runc\'s "cannot start an already running container"', () => inTempDir('fifo-', async (dir) => {
  const fifo = fifoIn(dir);
  // (alive a while after: on a loaded machine 50 ms was over before the check, "already dead")
  const w = writer(fifo, '', 1);
  await assert.rejects(startThroughFifo(fifo, { pid: w.pid! }, WHAT), /cannot start an already running container/);
  await exited(w);
}));

// crun's protocol is the other way round: its init reads the fifo (opened before the start),
// `crun start` writes one byte
test('crun: the start writes one byte to the init reading the fifo, whose name is gone by then', () => inTempDir('fifo-', async (dir) => {
  const fifo = fifoIn(dir);
  // a stand-in for crun's init: reads the fifo (its open waits for a writer), prints what came
  const r = spawn('sh', ['-c', 'od -An -tx1 < "$1"', 'sh', fifo], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  r.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  // until the reader has it open, there is none: the start says absent (crun start would word why)
  let res: 'started' | 'absent' = 'absent';
  for (let i = 0; i < 100 && res === 'absent'; i++) {
    res = await startThroughCrunFifo(fifo, WHAT);
    if (res === 'absent') await new Promise((s) => setTimeout(s, 20));
  }
  assert.equal(res, 'started');
  assert.equal(existsSync(fifo), false, 'removed: crun says running');
  await exited(r);
  assert.equal(out.trim(), '00');
}));

test('crun: no fifo, or no init reading it (gone): "absent"', () => inTempDir('fifo-', async (dir) => {
  assert.equal(await startThroughCrunFifo(path.join(dir, 'exec.fifo'), WHAT), 'absent');
  const fifo = fifoIn(dir);
  assert.equal(await startThroughCrunFifo(fifo, WHAT), 'absent');
  assert.equal(existsSync(fifo), true, 'left for crun start');
  const notFifo = path.join(dir, 'file');
  writeFileSync(notFifo, '');
  await assert.rejects(startThroughCrunFifo(notFifo, WHAT), /is not crun's exec fifo/);
}));
