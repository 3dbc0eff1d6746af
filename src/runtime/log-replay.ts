// Output conmon never passed on to an attached client. conmon accepts attach connections in
// its main loop; for a process whose exit it learns first (a fast command on a busy host: an
// exec waiting for its console, a container whose attach connection still sat in the listen
// backlog), conmon 2.1 drains the output into the log alone: the attached client gets nothing
// at all. The log has every byte, so when the attach stream ended without any output, the
// log's records from where this run began are what the client gets.
import { promises as fs } from 'node:fs';
import type { StdioStream } from './types.js';
import { parseLine } from '../common/k8s-log.js';

/** More than this in a log nobody was sent is not replayed (it is still in the log). */
const MAX_REPLAY = 1 << 20;

/** `inner`, replayed from `logFile` (its bytes from `offset` on: this run's) when it ends without output. */
export function withLogReplay(inner: StdioStream, logFile: string, offset = 0): StdioStream {
  const outCbs: Array<(s: 1 | 2, d: Buffer) => void> = [];
  const endCbs: Array<() => void> = [];
  let pending: Array<[1 | 2, Buffer]> = [];
  let got = 0;
  let ended = false;
  const emit = (s: 1 | 2, d: Buffer) => {
    if (outCbs.length) for (const cb of outCbs) cb(s, d);
    else pending.push([s, d]);
  };
  inner.onEnd(() => {
    void (async () => {
      if (got === 0) {
        const all = await fs.readFile(logFile).catch(() => Buffer.alloc(0));
        // a log cut or rotated since the run began: nothing of it can be told apart
        const text = all.length >= offset ? all.subarray(offset).toString('latin1') : '';
        if (text.length <= MAX_REPLAY) {
          for (const line of text.split('\n')) {
            const r = line ? parseLine(line, 'latin1') : null;
            if (r?.data.length) emit(r.stream, r.data);
          }
        }
      }
      ended = true;
      for (const cb of endCbs.splice(0)) cb();
    })();
  });
  return {
    onOutput: (cb) => {
      if (!outCbs.length) inner.onOutput((s, d) => { got += d.length; emit(s, d); });
      outCbs.push(cb);
      for (const [s, d] of pending) cb(s, d);
      pending = [];
    },
    onEnd: (cb) => { if (ended) cb(); else endCbs.push(cb); },
    write: (d) => inner.write(d),
    closeStdin: () => inner.closeStdin(),
    close: () => inner.close(),
  };
}
