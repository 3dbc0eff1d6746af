// runc's start through its exec fifo (runtime/runc/exec-fifo.ts), against real fifos and
// real processes standing in for runc init: the open for writing blocks until the start
// opens the other end, one byte, then the exec (here: the writer's exit) closes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startThroughFifo } from '../../src/runtime/runc/exec-fifo.js';

function fifoIn(dir: string): string {
  const f = path.join(dir, 'exec.fifo');
  execFileSync('mkfifo', ['-m', '0622', f]);
  return f;
}
/** A stand-in for runc init: opens the fifo for writing (blocks), writes `data`, exits. */
function writer(fifo: string, data: string): ChildProcess {
  return spawn('sh', ['-c', `printf '${data}' > "$1"; sleep 0.05`, 'sh', fifo], { stdio: 'ignore' });
}
const exited = (cp: ChildProcess) => new Promise<void>((r) => (cp.exitCode !== null ? r() : cp.once('exit', () => r())));

test('start through the exec fifo: reads the byte to EOF, then the fifo is gone (runc: "running")', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fifo-'));
  try {
    const fifo = fifoIn(dir);
    const w = writer(fifo, '0');
    assert.equal(await startThroughFifo(fifo, w.pid!), 'started');
    assert.equal(existsSync(fifo), false);
    await exited(w);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('no fifo: "absent" (the caller asks runc, which words the refusal)', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fifo-'));
  try {
    assert.equal(await startThroughFifo(path.join(dir, 'exec.fifo'), process.pid), 'absent');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an init that died before it wrote: runc\'s "container process is already dead", not a hang', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fifo-'));
  try {
    const fifo = fifoIn(dir);
    const gone = spawn('true');
    await exited(gone);
    const t0 = Date.now();
    await assert.rejects(startThroughFifo(fifo, gone.pid!), /container process is already dead/);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a writer that closes without writing: runc\'s "cannot start an already running container"', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fifo-'));
  try {
    const fifo = fifoIn(dir);
    const w = writer(fifo, '');
    await assert.rejects(startThroughFifo(fifo, w.pid!), /cannot start an already running container/);
    await exited(w);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
