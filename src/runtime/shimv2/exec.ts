// An exec through a shim v2: Exec (the OCI Process as JSON in an Any), Wait ∥ Start, and
// Delete of the exec once it exited, with its own FIFOs in the exec's scratch dir.
import { promises as fs } from 'node:fs';
import type { ExecHandle, ExecRequest } from '../types.js';
import { ProcessIO, makeFifos } from './io.js';
import type { ExecEntry, ShimTask } from './task.js';

/** containerd's typeurl for specs.Process (JSON-encoded, registered by the shims). */
export const PROCESS_SPEC_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

const CALL = { timeoutMs: 30_000 };

export interface ExecHooks {
  drainMs: number;
  /** The attached client is done with stdin: close the exec's stdin (CloseIO). */
  closeStdin: (io: ProcessIO) => void;
  /** The exec is gone (exited and deleted): forget it. */
  done: () => void;
}

export async function runExec(t: ShimTask, req: ExecRequest, entry: ExecEntry, h: ExecHooks): Promise<ExecHandle> {
  const id = req.containerId;
  const execId = req.execId;
  const terminal = !!req.process.terminal;
  // a detached exec without a tty gets the shim's null IO (all paths empty); a detached
  // one with a tty still needs its pty read, so it gets FIFOs that nobody listens to
  const paths = ProcessIO.paths(req.dir, { stdin: req.attach && req.stdin, output: req.attach || terminal, terminal });
  await fs.mkdir(req.dir, { recursive: true, mode: 0o700 });
  await makeFifos([paths.stdin, paths.stdout, paths.stderr].filter(Boolean));
  const io = await ProcessIO.openNew(paths, terminal, null);
  entry.io = io;
  const discard = async () => { io.close(); await io.remove(); };
  try {
    await t.api.exec({
      id, execId, terminal, stdin: paths.stdin, stdout: paths.stdout, stderr: paths.stderr,
      spec: { typeUrl: PROCESS_SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(req.process)) },
    }, CALL);
  } catch (e) {
    await discard();
    throw e;
  }
  io.start();
  // the client's view exists before Start so the first output is kept for it
  const attached = req.attach ? io.attach(() => h.closeStdin(io)) : null;
  // holdOutput: the output is read until its last holder closes it, or until the caller
  // lets the stream go (its close), whichever is first
  let letGo!: () => void;
  const released = new Promise<void>((r) => { letGo = r; });
  const stdio = attached && req.holdOutput ? { ...attached, close: () => { attached.close(); letGo(); } } : attached;
  const waited = t.api.wait({ id, execId });
  waited.catch(() => { /* handled below */ });
  let pid: number;
  try {
    pid = (await t.api.start({ id, execId }, CALL)).pid;
  } catch (e) {
    stdio?.close();
    await t.api.delete({ id, execId }, CALL).catch(() => {});
    await discard();
    throw e;
  }
  const forget = async () => {
    await t.api.delete({ id, execId }, CALL).catch(() => {});
    await discard();
    h.done();
  };
  const exited = (async () => {
    let code = 255; // the shim went away: nobody knows the exit code
    try { code = (await waited).exitStatus; } catch { /* keep 255 */ }
    // holdOutput: the exit is known now, the output goes on to its end (the caller, who
    // waits for both, may close it; the docker API does 2 s after this exit)
    if (stdio && req.holdOutput) void Promise.race([io.drained, released]).then(forget);
    else await io.drain(h.drainMs).then(forget);
    return code;
  })();
  // its pid is the task's (a VM's guest pid): a signal goes through the task API, by exec id
  const kill = async (signal: number) => { await t.api.kill({ id, execId, signal, all: false }, CALL); };
  return { pid, stdio, exited, kill };
}
