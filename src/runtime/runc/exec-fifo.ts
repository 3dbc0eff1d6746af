// `runc start` without a runc process. `runc create` leaves runc init blocked opening its exec
// fifo (<root>/<id>/exec.fifo, through an fd of its own) for writing; `runc start` opens the
// fifo for reading, reads until EOF (init writes one byte, then execs the container's
// process, which closes it) and removes it: runc tells "created" from "running" by the file's
// existence. runc runs poststart hooks in create, before anyone reads the fifo, so nothing
// else is skipped. A fork and Go start-up of runc fewer on every start (~5 ms, and its CPU).
import { constants, fstat, open, closeSync, write } from 'node:fs';
import * as net from 'node:net';
import { failedPrecondition, internal } from '../../common/errors.js';
import { stillRunning } from '../../common/proc.js';
import { removeFile } from '../../common/fsutil.js';

const POLL_MS = 100;

/** The init as create left it: its pid, its start time (a reused pid is not it); crun's, or runc's. */
export interface InitProcess { pid: number; startTime?: string; crun?: boolean }

/**
 * Start a created container through its exec fifo; 'absent' when there is none (the caller
 * falls back to `runc start`, which words the refusal: running, stopped, unknown). `what`
 * heads the errors, as the caller's `runc start` errors are headed.
 */
export async function startThroughFifo(fifo: string, init: InitProcess, what: string): Promise<'started' | 'absent'> {
  // non-blocking: with no writer (an init that died) a blocking open would never return
  const fd = await openExecFifo(fifo, constants.O_RDONLY, `${what}: ${fifo} is not runc's exec fifo`, ['ENOENT']);
  if (fd === 'absent') return 'absent';
  let pipe: net.Socket;
  try {
    // the open lets init go on: the name goes at once, so that a tsulad that dies from here
    // on leaves runc saying running (or stopped), never created with the process running
    await removeFile(fifo);
    pipe = new net.Socket({ fd, readable: true, writable: false });
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  await new Promise<void>((resolve, reject) => {
    let got = 0;
    let gone = false;
    let done = false;
    // runc's own watch: an init that is gone (or a zombie) before it wrote will never write
    const timer = setInterval(() => {
      void stillRunning(init.pid, init.startTime).then((running) => {
        if (running) return;
        if (gone) finish(failedPrecondition(`${what}: container process is already dead`));
        gone = true; // what it wrote may still be unread: once more
      });
    }, POLL_MS);
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      pipe.destroy();
      if (err) reject(err); else resolve();
    };
    pipe.on('data', (b: Buffer) => { got += b.length; });
    pipe.on('end', () => finish(got > 0 ? undefined : failedPrecondition(`${what}: cannot start an already running container`)));
    pipe.on('error', (e) => finish(e));
  });
  return 'started';
}

/**
 * `crun start` without a crun process (the guest's runtime: a process' exec and crun's load
 * of the bundle cost ~50 ms under TCG). crun's protocol is runc's turned round: `crun create`
 * leaves the container's init reading <root>/<id>/exec.fifo; `crun start` opens it for
 * writing, removes it (crun then says running) and writes one byte, which lets init exec the
 * process; then it runs the poststart hooks, so a spec with those keeps `crun start`.
 * 'absent': no fifo, or no init reading it (gone): the caller's `crun start` words why.
 */
export async function startThroughCrunFifo(fifo: string, what: string): Promise<'started' | 'absent'> {
  // non-blocking: with no reader (an init that died) the open fails (ENXIO), never waits
  const fd = await openExecFifo(fifo, constants.O_WRONLY, `${what}: ${fifo} is not crun's exec fifo`, ['ENOENT', 'ENXIO']);
  if (fd === 'absent') return 'absent';
  try {
    await removeFile(fifo);
    await new Promise<void>((resolve, reject) => write(fd, Buffer.alloc(1), (e) => (e ? reject(e) : resolve())));
  } finally {
    closeSync(fd);
  }
  return 'started';
}

/**
 * The exec fifo opened non-blocking (libuv adds O_CLOEXEC) and checked to be a fifo; 'absent'
 * for the open's errors `absentCodes` (no fifo, no peer). A path that is no fifo: `notFifo`,
 * no fd left open.
 */
async function openExecFifo(fifo: string, flags: number, notFifo: string, absentCodes: string[]): Promise<number | 'absent'> {
  let fd: number;
  try {
    fd = await new Promise<number>((resolve, reject) => open(fifo, flags | constants.O_NONBLOCK, (e, n) => (e ? reject(e) : resolve(n))));
  } catch (e) {
    if (absentCodes.includes((e as NodeJS.ErrnoException).code ?? '')) return 'absent';
    throw e;
  }
  try {
    const isFifo = await new Promise<boolean>((resolve, reject) => fstat(fd, (e, st) => (e ? reject(e) : resolve(st.isFIFO()))));
    if (!isFifo) throw internal(notFifo);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}
