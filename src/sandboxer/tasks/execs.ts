// A task's execs (TaskManager delegates their add, start, kill, wait and delete): an extra
// process in the task's container, its stdio and its exit. They live in memory only: a
// restarted sandboxer re-adopts tasks from their records, not their execs.
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sha256Hex } from '../../common/crypto.js';
import { alreadyExists, errorMessage, failedPrecondition, invalidArgument, notFound } from '../../common/errors.js';
import type { Process } from '../../oci/types.js';
import { DRAIN_MS, noStdio, type FifoPaths } from './io.js';
import { openProcessIo } from './io-direct.js';
import { stateError } from './state-errors.js';
import { wake, type ExecEntry, type ExitInfo, type Task } from './task.js';
import type { TaskOps } from './task-ops.js';
import { runId } from './records.js';
import { ts } from './topics.js';

export function findExec(t: Task, execId: string): ExecEntry {
  const e = t.execs.get(execId);
  if (!e) throw notFound(`process does not exist ${execId}`); // containerd-shim-runc-v2's words
  return e;
}

export async function addExec(ops: TaskOps, t: Task, execId: string, process: Process, paths: FifoPaths): Promise<void> {
  if (!execId || execId.includes('/')) throw invalidArgument(`invalid exec id "${execId}"`);
  if (t.execs.has(execId)) throw alreadyExists(`id ${execId}`);
  if (t.rec.status === 'stopped' || t.rec.status === 'paused') throw stateError('exec', t.rec.status);
  const dir = path.join(t.rec.dir, 'execs', sha256Hex(execId).slice(0, 16));
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  t.execs.set(execId, {
    execId, dir, process, paths, io: null, pid: 0, status: 'created', exitStatus: 0, exitedAt: null, waiters: [],
  });
  ops.publish(t, '/tasks/exec-added', 'execAdded', { containerId: t.rec.id, execId });
}

export async function startExec(ops: TaskOps, t: Task, e: ExecEntry): Promise<number> {
  if (e.status !== 'created') throw stateError('start', e.status);
  if (t.rec.status !== 'running') throw stateError('exec', t.rec.status);
  const attach = !noStdio(e.paths);
  const rt = await ops.rt(t.rec);
  const { io, direct } = attach ? await openProcessIo(rt, e.paths, !!e.process.terminal, { id: e.execId, namespace: t.rec.namespace }) : { io: null, direct: null };
  e.io = io;
  e.status = 'running';
  try {
    const h = await rt.exec({
      containerId: runId(t.rec), execId: e.execId, dir: e.dir, process: e.process, attach, stdin: !!e.paths.stdin,
      ...(direct ? { passthrough: direct.fds } : {}),
    }).finally(() => direct?.release());
    e.pid = h.pid;
    e.kill = h.kill;
    if (h.stdio) e.io?.connect(h.stdio);
    void h.exited.then(async (code) => {
      await e.io?.drained(DRAIN_MS);
      e.io?.processExited();
      e.status = 'stopped';
      e.exitStatus = code;
      e.exitedAt = new Date();
      wake(e.waiters);
      ops.publish(t, '/tasks/exit', 'exit', { containerId: t.rec.id, id: e.execId, pid: e.pid, exitStatus: code, exitedAt: ts(e.exitedAt) });
    });
  } catch (err) {
    e.io?.close();
    e.status = 'created';
    // as runc-v2: a pending Wait returns (status 0, no exit time), or containerd's CRI exec
    // waits out its minute for one
    e.startFailed = true;
    wake(e.waiters);
    throw err;
  }
  ops.publish(t, '/tasks/exec-started', 'execStarted', { containerId: t.rec.id, execId: e.execId, pid: e.pid });
  return e.pid;
}

export async function killExec(e: ExecEntry, signal: number): Promise<void> {
  // runc-v2's words and codes
  if (e.status === 'created') throw failedPrecondition('process not created');
  if (e.status !== 'running') throw notFound('process already finished');
  try {
    if (e.kill) await e.kill(signal); else process.kill(e.pid, signal);
  } catch (err) {
    throw notFound(`process ${e.execId}: ${errorMessage(err)}`);
  }
}

/** Resolves once the exec's process exited. */
export async function waitExec(e: ExecEntry): Promise<ExitInfo> {
  if (e.status !== 'stopped' && !e.startFailed) await new Promise<void>((r) => e.waiters.push(r));
  return execExit(e);
}

export async function deleteExec(t: Task, e: ExecEntry): Promise<ExitInfo> {
  if (e.status === 'running') throw stateError('delete', 'running');
  await e.io?.drained(DRAIN_MS); // as runc-v2's delete waits for its copy
  e.io?.close();
  // a Wait still pending (an exec never started) ends with it
  wake(e.waiters);
  t.execs.delete(e.execId);
  await fs.rm(e.dir, { recursive: true, force: true });
  return execExit(e);
}

function execExit(e: ExecEntry): ExitInfo {
  return { pid: e.pid, exitStatus: e.exitStatus, exitedAt: e.exitedAt };
}
