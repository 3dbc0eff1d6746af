// conmon's attach socket: SOCK_SEQPACKET (Node's net module can't speak it, hence the
// node-unix-socket addon). Each packet conmon sends is [pipe byte][data]: 2 stdout,
// 3 stderr. What we send is written to the container's stdin as is.
import { openSync, closeSync } from 'node:fs';
import * as path from 'node:path';
import type { StdioStream } from '../types.js';
import { unavailable } from '../../common/errors.js';

const STDOUT_PIPE = 2;
const STDERR_PIPE = 3;
/** What is kept for a client that has not registered onOutput yet. */
const EARLY_MAX = 1 << 20;

export async function connectAttach(socketPath: string): Promise<StdioStream> {
  // the addon loads on the first attach: a daemon running only detached containers never maps
  // it. Its seqpacket module only: the package's index also loads node's worker_threads
  // (CommonJS: its exports are the default export, in node's interop as in the bundle)
  const { SeqpacketSocket } = (await import('node-unix-socket/js/seqpacket.js')).default;
  return new Promise((resolve, reject) => {
    const sock = new SeqpacketSocket();
    const outputCbs: Array<(s: 1 | 2, d: Buffer) => void> = [];
    // output that comes before the caller registers onOutput (an exec's first line, written
    // while the caller still waits for conmon's pid) is kept for it, up to a bound
    let early: Array<[1 | 2, Buffer]> | null = [];
    let earlyBytes = 0;
    const endCbs: Array<() => void> = [];
    let ended = false;
    const finish = () => {
      if (ended) return;
      ended = true;
      for (const cb of endCbs) cb();
      // conmon is done with it (its process exited): the fd goes now, not at a close() the
      // caller may never make (ExecSync, health probes and build steps only wait for the end)
      try { sock.destroy(); } catch { /* already closed */ }
    };
    sock.on('data', (buf: Buffer) => {
      if (buf.length < 1) return;
      const stream = buf[0] === STDERR_PIPE ? 2 : buf[0] === STDOUT_PIPE ? 1 : 0;
      if (!stream) return;
      const data = buf.subarray(1);
      if (early) {
        if (earlyBytes + data.length <= EARLY_MAX) { early.push([stream, data]); earlyBytes += data.length; }
        return;
      }
      for (const cb of outputCbs) cb(stream, data);
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', (e: Error) => {
      if (!connected) {
        releaseDir();
        reject(unavailable(`cannot attach to ${socketPath}: ${e.message}`));
      }
      finish();
    });
    let connected = false;
    const stream: StdioStream = {
      onOutput: (cb) => {
        outputCbs.push(cb);
        if (early) { for (const [st, d] of early) cb(st, d); early = null; }
      },
      onEnd: (cb) => { if (ended) cb(); else endCbs.push(cb); },
      write: (data) => { if (!ended && data.length) { for (let o = 0; o < data.length; o += 32768) sock.write(data.subarray(o, o + 32768)); } },
      closeStdin: () => { if (!ended) { try { sock.end(); } catch { /* already closed */ } } },
      close: () => { early = null; try { sock.destroy(); } catch { /* already closed */ } finish(); },
    };
    // sun_path holds 108 bytes; bundles under long state dirs exceed it. Connect through
    // /proc/self/fd/<dir fd>/<name> instead, as conmon itself does when it binds.
    let dirFd: number | null = null;
    const releaseDir = () => { if (dirFd !== null) { closeSync(dirFd); dirFd = null; } };
    try {
      let target = socketPath;
      if (Buffer.byteLength(socketPath) > 100) {
        dirFd = openSync(path.dirname(socketPath), 'r');
        target = `/proc/self/fd/${dirFd}/${path.basename(socketPath)}`;
      }
      sock.connect(target, () => {
        connected = true;
        releaseDir();
        resolve(stream);
      });
    } catch (e) {
      releaseDir();
      reject(unavailable(`cannot attach to ${socketPath}: ${(e as Error).message}`));
    }
  });
}
