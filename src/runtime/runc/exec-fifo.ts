// `runc start` without a runc process. `runc create` leaves runc init blocked opening
// <root>/<id>/exec.fifo for writing; `runc start` only opens that fifo for reading, reads
// until EOF (init writes one byte, then execs the container's process, which closes it),
// and removes the fifo: runc tells "created" from "running" by the file's existence. runc
// runs poststart hooks in create, before anyone reads the fifo, so nothing else is skipped.
// A fork and Go start-up of runc fewer on every start (~5 ms, and its CPU).
import { constants, open, promises as fs } from 'node:fs';
import * as net from 'node:net';
import { failedPrecondition } from '../../common/errors.js';

const POLL_MS = 100;

/**
 * Start a created container through its exec fifo; 'absent' when there is none (the caller
 * falls back to `runc start`, which words the refusal: running, stopped, unknown).
 */
export async function startThroughFifo(fifo: string, initPid: number): Promise<'started' | 'absent'> {
  let fd: number;
  try {
    // non-blocking: with no writer (an init that died) a blocking open would never return
    // (libuv opens with O_CLOEXEC)
    fd = await new Promise<number>((resolve, reject) => open(fifo, constants.O_RDONLY | constants.O_NONBLOCK, (e, n) => (e ? reject(e) : resolve(n))));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw e;
  }
  await new Promise<void>((resolve, reject) => {
    const pipe = new net.Socket({ fd, readable: true, writable: false });
    let got = 0;
    let deadSince = 0;
    // runc's own watch: an init that is gone before it wrote will never write
    const timer = setInterval(() => {
      if (alive(initPid)) return;
      if (!deadSince) { deadSince = Date.now(); return; } // what it wrote may still be unread
      finish(failedPrecondition('container process is already dead'));
    }, POLL_MS);
    const finish = (err?: Error) => {
      clearInterval(timer);
      pipe.destroy();
      if (err) reject(err); else resolve();
    };
    pipe.on('data', (b: Buffer) => { got += b.length; });
    pipe.on('end', () => finish(got > 0 ? undefined : failedPrecondition('cannot start an already running container')));
    pipe.on('error', (e) => finish(e));
  });
  await fs.rm(fifo, { force: true });
  return 'started';
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
