// Reading conmon's CRI "k8s-file" logs: "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n".
// P marks a partial line (continued by the next record). Follow uses inotify (fs.watch) on
// the log's directory: conmon starts a full log over (max-size) by renaming a new file onto
// it, and a rotation (log-rotation.ts) moves it to .1 before conmon reopens the path.
import { promises as fs, watch } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { parseLine, type LogRecord } from '../../common/k8s-log.js';
import { rotatedLogs } from './log-rotation.js';
import { invalidArgument } from '../../common/errors.js';

export { parseLine, type LogRecord };

export interface LogOptions {
  follow: boolean;
  tail: number | null;        // null = all
  /** Unix time in ns (dockerd compares at that resolution). */
  since?: bigint;
  until?: bigint;
  /** The log's max-file (log-rotation.ts): its rotated files (.N-1 ... .1) are read first. */
  maxFiles?: number;
  /** Resolves when following should stop (container exited and the file is drained). */
  stopped?: Promise<void>;
  signal?: AbortSignal;
}

const NS = 1_000_000_000n;

/** "SECONDS[.NANOSECONDS]" as the API carries since/until (dockerd's timetypes.ParseTimestamps) → ns. */
export function apiTimestampNs(v: string): bigint {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (!m) throw invalidArgument(`invalid timestamp "${v}": want seconds since the epoch, with up to 9 decimals`);
  return BigInt(m[1]!) * NS + BigInt((m[2] ?? '').padEnd(9, '0') || '0');
}

/** A record's RFC 3339 time in ns since the epoch (conmon writes nanoseconds; Date keeps ms). */
export function recordNs(time: string): bigint {
  const frac = /\.(\d+)/.exec(time)?.[1] ?? '';
  return BigInt(Math.floor(Date.parse(time) / 1000)) * NS + BigInt(frac.slice(0, 9).padEnd(9, '0'));
}

function beforeSince(r: LogRecord, o: LogOptions): boolean {
  return o.since !== undefined && recordNs(r.time) < o.since;
}

function afterUntil(r: LogRecord, o: LogOptions): boolean {
  return o.until !== undefined && recordNs(r.time) > o.until;
}

/** Emit the log's records to cb; with follow, keep going until stopped/aborted. */
export async function readLogs(file: string, o: LogOptions, cb: (r: LogRecord) => void): Promise<void> {
  // The file stays open while followed: when conmon starts the log over (a new file renamed
  // onto the path), what the old one got is read to its end before the new one is opened.
  let fh: FileHandle | null = null;
  let ino = 0;
  let offset = 0;
  let rest = '';
  // Like dockerd's json-file reader, a record newer than `until` ends the read, following
  // included: `logs -f --until` of a container that keeps logging returns, it does not hang.
  let pastUntil = false;
  let first = true;
  const emit = (recs: LogRecord[]) => {
    // as moby's tailFiles: the last N records of the files first, then since skips and
    // the first record past until ends the read (so --tail 5 --until T may print fewer)
    if (first && o.tail !== null) recs = o.tail === 0 ? [] : recs.slice(-o.tail);
    for (const r of recs) {
      if (pastUntil || afterUntil(r, o)) { pastUntil = true; continue; }
      if (!beforeSince(r, o)) cb(r);
    }
  };
  // rotated files first, one in memory at a time; with --tail, from the newest back only as
  // far as the tail needs, their records going with the log's first read (counted across)
  let older: LogRecord[] = [];
  const rotated = o.maxFiles && o.maxFiles > 1 ? await rotatedLogs(file, o.maxFiles) : [];
  const recordsOf = async (f: string) => (await fs.readFile(f, 'utf8').catch(() => '')).split('\n').map((l) => parseLine(l)).filter((r): r is LogRecord => r !== null);
  if (o.tail === null) for (const f of rotated) emit(await recordsOf(f));
  else for (const f of [...rotated].reverse()) { if (older.length >= o.tail) break; older = [...(await recordsOf(f)), ...older]; }
  const readOpen = async (h: FileHandle): Promise<void> => {
    const { size } = await h.stat();
    if (size < offset) { offset = 0; rest = ''; } // truncated in place
    if (size === offset && !older.length) return;
    const buf = Buffer.alloc(size - offset);
    const { bytesRead } = await h.read(buf, 0, buf.length, offset);
    offset += bytesRead;
    const text = rest + buf.subarray(0, bytesRead).toString('utf8');
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    const recs = lines.map((l) => parseLine(l)).filter((r): r is LogRecord => r !== null);
    emit(older.length ? [...older.splice(0), ...recs] : recs);
  };
  const readNew = async (): Promise<void> => {
    for (;;) {
      if (!fh) {
        try { fh = await fs.open(file, 'r'); } catch { return; }
        ino = (await fh.stat()).ino;
        offset = 0;
        rest = '';
      }
      await readOpen(fh);
      const now = await fs.stat(file).catch(() => null);
      if (!now || now.ino === ino) return;
      // the path names a new file: the old one is complete now (written to only before the
      // rename), and may have got more since the read above
      await readOpen(fh);
      await fh.close();
      fh = null;
    }
  };
  const close = async () => { const h = fh; fh = null; await h?.close().catch(() => undefined); };
  await readNew();
  if (older.length) emit(older.splice(0)); // no log file (yet): the rotated ones alone
  first = false; // --tail counts what the log held when the read began
  if (!o.follow || o.signal?.aborted || pastUntil) { await close(); return; }
  await new Promise<void>((resolve) => {
    // one read at a time; a change seen meanwhile makes the running one read again
    let running: Promise<void> | null = null;
    let again = false;
    let done = false;
    const pump = (): Promise<void> => {
      if (running) { again = true; return running; }
      running = (async () => { do { again = false; await readNew(); } while (again && !pastUntil); })()
        .catch(() => undefined)
        .finally(() => { running = null; if (pastUntil) void finish(); });
      return running;
    };
    const finish = async () => {
      if (done) return;
      done = true;
      watcher?.close();
      await pump();
      await close();
      resolve();
    };
    let watcher: ReturnType<typeof watch> | null = null;
    try {
      const base = path.basename(file);
      watcher = watch(path.dirname(file), (_ev, name) => { if (!name || name === base) void pump(); });
    } catch {
      // no directory: nothing will be written (the read above found no file either)
    }
    void pump();
    o.stopped?.then(finish, finish);
    o.signal?.addEventListener('abort', () => { void finish(); });
  });
}
