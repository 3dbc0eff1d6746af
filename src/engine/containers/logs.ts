// Reading conmon's CRI "k8s-file" logs: "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n".
// P marks a partial line (continued by the next record). Follow uses inotify (fs.watch).
import { promises as fs, watch } from 'node:fs';
import { parseLine, type LogRecord } from '../../common/k8s-log.js';

export { parseLine, type LogRecord };

export interface LogOptions {
  follow: boolean;
  tail: number | null;        // null = all
  since?: number;             // unix seconds
  until?: number;
  /** Resolves when following should stop (container exited and the file is drained). */
  stopped?: Promise<void>;
  signal?: AbortSignal;
}

/** A record's time in seconds, its fraction kept past Date's milliseconds (conmon writes nanoseconds). */
function seconds(time: string): number {
  const frac = /\.(\d+)/.exec(time)?.[1];
  return Math.floor(Date.parse(time) / 1000) + (frac ? Number(`0.${frac}`) : 0);
}

function beforeSince(r: LogRecord, o: LogOptions): boolean {
  return o.since !== undefined && seconds(r.time) < o.since;
}

function afterUntil(r: LogRecord, o: LogOptions): boolean {
  return o.until !== undefined && seconds(r.time) > o.until;
}

/** Emit the log's records to cb; with follow, keep going until stopped/aborted. */
export async function readLogs(file: string, o: LogOptions, cb: (r: LogRecord) => void): Promise<void> {
  let offset = 0;
  let rest = '';
  // Like dockerd's json-file reader, a record newer than `until` ends the read, following
  // included: `logs -f --until` of a container that keeps logging returns, it does not hang.
  let pastUntil = false;
  const readNew = async (first: boolean): Promise<void> => {
    let fh;
    try { fh = await fs.open(file, 'r'); } catch { return; }
    try {
      const { size } = await fh.stat();
      if (size < offset) { offset = 0; rest = ''; } // rotated or truncated
      if (size === offset) return;
      const buf = Buffer.alloc(size - offset);
      const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
      offset += bytesRead;
      const text = rest + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop() ?? '';
      let recs = lines.map((l) => parseLine(l)).filter((r): r is LogRecord => r !== null);
      // as moby's tailFiles: the last N records of the file first, then since skips and
      // the first record past until ends the read (so --tail 5 --until T may print fewer)
      if (first && o.tail !== null) recs = o.tail === 0 ? [] : recs.slice(-o.tail);
      for (const r of recs) {
        if (pastUntil || afterUntil(r, o)) { pastUntil = true; continue; }
        if (!beforeSince(r, o)) cb(r);
      }
    } finally {
      await fh.close();
    }
  };
  await readNew(true);
  if (!o.follow || o.signal?.aborted || pastUntil) return;
  await new Promise<void>((resolve) => {
    let busy = false;
    let again = false;
    let done = false;
    const pump = async () => {
      if (busy) { again = true; return; }
      busy = true;
      do { again = false; await readNew(false); } while (again && !pastUntil);
      busy = false;
      if (pastUntil) void finish();
    };
    const finish = async () => {
      if (done) return;
      done = true;
      watcher?.close();
      await pump();
      resolve();
    };
    let watcher: ReturnType<typeof watch> | null = null;
    try {
      watcher = watch(file, () => { void pump(); });
    } catch {
      // the file may not exist yet (container not started): poll its creation via the dir
    }
    void pump();
    o.stopped?.then(finish, finish);
    o.signal?.addEventListener('abort', () => { void finish(); });
  });
}
