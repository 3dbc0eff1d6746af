// One runtime connection to a process' stdio, shared by several clients (docker's attaches
// made before a start). conmon accepts one attach connection per turn of its main loop and
// sends the output it reads to the connections it has accepted so far: a second connection
// still waiting in its backlog when the first output comes (a busy host) would miss it. One
// connection, accepted before any output, copied to every client, misses nothing.
import type { StdioStream } from './types.js';

/** What a client that has not registered onOutput yet is kept (as connectAttach keeps). */
const EARLY_MAX = 1 << 20;

/**
 * `n` views of `inner`: each gets all of its output (kept until it registers, up to a bound);
 * input from any goes to the process; the connection closes when the last view closes.
 */
export function shareStdio(inner: StdioStream, n: number): StdioStream[] {
  if (n <= 1) return [inner];
  let open = n;
  const views = Array.from({ length: n }, () => {
    const cbs: Array<(s: 1 | 2, d: Buffer) => void> = [];
    let early: Array<[1 | 2, Buffer]> | null = [];
    let earlyBytes = 0;
    let closed = false;
    const deliver = (s: 1 | 2, d: Buffer) => {
      if (closed) return;
      if (early) {
        if (earlyBytes + d.length <= EARLY_MAX) { early.push([s, d]); earlyBytes += d.length; }
        return;
      }
      for (const cb of cbs) cb(s, d);
    };
    const view: StdioStream = {
      onOutput: (cb) => {
        cbs.push(cb);
        if (early) { for (const [s, d] of early) cb(s, d); early = null; }
      },
      onEnd: (cb) => inner.onEnd(cb),
      write: (d) => { if (!closed) inner.write(d); },
      closeStdin: () => { if (!closed) inner.closeStdin(); },
      close: () => {
        if (closed) return;
        closed = true;
        early = null;
        if (--open === 0) inner.close();
      },
    };
    return { view, deliver };
  });
  inner.onOutput((s, d) => { for (const v of views) v.deliver(s, d); });
  return views.map((v) => v.view);
}
