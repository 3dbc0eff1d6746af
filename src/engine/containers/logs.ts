// Reading conmon's CRI "k8s-file" logs: "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n".
// P marks a partial line (continued by the next record). Follow uses inotify (fs.watch) on
// the log's directory: conmon starts a full log over (max-size) by renaming a new file onto
// it, and a rotation (log-rotation.ts) moves it to .1 before conmon reopens the path.
import { promises as fs, watch } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { parseLine, type LogRecord } from '../../common/k8s-log.js';
import { rotatedLogs } from './log-rotation.js';
import { internal } from '../../common/errors.js';

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
  /** Awaited after each batch of records: the reader's backpressure (a slow client). */
  drain?: () => Promise<void>;
}

const NS = 1_000_000_000n;

/**
 * "SECONDS[.NANOSECONDS]" as the API carries since/until → ns, as dockerd's
 * timetypes.ParseTimestamps reads it: a sign is taken (-5 is before the epoch), anything
 * else is strconv.ParseInt's error, which dockerd answers with a 500.
 */
export function apiTimestampNs(v: string): bigint {
  const [sec = '', frac] = v.split(/\.(.*)/s);
  const bad = (x: string) => internal(`strconv.ParseInt: parsing ${JSON.stringify(x)}: invalid syntax`);
  if (!/^[-+]?\d+$/.test(sec)) throw bad(sec);
  if (frac !== undefined && !/^[-+]?\d+$/.test(frac)) throw bad(frac);
  const f = frac === undefined ? 0n : BigInt(frac.replace(/^[-+]/, '').slice(0, 9).padEnd(9, '0')) * (frac.startsWith('-') ? -1n : 1n);
  return BigInt(sec) * NS + f;
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

/** Bytes read at a time: memory stays bounded whatever the log's size (moby streams it too). */
const CHUNK = 1 << 20;
const BACK = 64 << 10;

/**
 * Where the last `n` lines of h's first `size` bytes start, found backwards from the end as
 * moby's tailfile does, and how many lines there are from there (n or fewer). A line is what
 * `docker logs` prints as one: conmon's partial records (P) continue into the next record, so
 * a line ends at a full record (F); the start is never inside a line. A record cut at the end
 * (no newline yet) is no record.
 */
export async function tailStart(h: FileHandle, size: number, n: number): Promise<{ start: number; lines: number }> {
  const buf = Buffer.alloc(BACK);
  let from = size;
  let inBuf = 0;         // bytes of buf read (from `from` on)
  let full = 0;          // full records seen after `pending`
  let pending = -1;      // the newline ending the record whose start is being looked for
  // is the record at `at` (ending before `end`) a full one? its tag is its third field
  const isFull = async (at: number): Promise<boolean> => {
    let head: Buffer;
    if (at >= from && at + 96 <= from + inBuf) head = buf.subarray(at - from, at - from + 96);
    else {
      head = Buffer.alloc(96);
      head = head.subarray(0, (await h.read(head, 0, 96, at)).bytesRead);
    }
    const a = head.indexOf(0x20);
    const b = a < 0 ? -1 : head.indexOf(0x20, a + 1);
    return b >= 0 && head[b + 1] !== 0x50; // not "P"
  };
  // a record ends at `pending`; it starts at `at`: counted, or the line boundary found
  const closes = async (at: number): Promise<number | null> => {
    if (pending < 0 || !(await isFull(at))) return null;
    if (full === n) return pending + 1;
    full++;
    return null;
  };
  for (let end = size; end > 0;) {
    from = Math.max(0, end - BACK);
    const { bytesRead } = await h.read(buf, 0, end - from, from);
    inBuf = bytesRead;
    for (let i = bytesRead - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) continue;
      const start = await closes(from + i + 1);
      if (start !== null) return { start, lines: n };
      pending = from + i;
    }
    end = from;
  }
  const start = await closes(0);
  return start !== null ? { start, lines: n } : { start: 0, lines: full };
}

/** The records of h from `offset` to `end`, a chunk at a time; `rest` carries a line cut at a chunk's end. */
async function readRecords(h: FileHandle, offset: number, end: number, rest: Buffer, each: (recs: LogRecord[]) => Promise<void>,
  signal?: AbortSignal): Promise<{ offset: number; rest: Buffer }> {
  while (offset < end && !signal?.aborted) {
    const buf = Buffer.alloc(Math.min(CHUNK, end - offset));
    const { bytesRead } = await h.read(buf, 0, buf.length, offset);
    if (!bytesRead) break;
    offset += bytesRead;
    const data = rest.length ? Buffer.concat([rest, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
    // whole lines only: a multi-byte character is never cut in two
    const nl = data.lastIndexOf(0x0a);
    if (nl < 0) { rest = data; continue; }
    rest = Buffer.from(data.subarray(nl + 1));
    await each(data.subarray(0, nl).toString('utf8').split('\n').map((l) => parseLine(l)).filter((r): r is LogRecord => r !== null));
  }
  return { offset, rest };
}

/** Emit the log's records to cb; with follow, keep going until stopped/aborted. */
export async function readLogs(file: string, o: LogOptions, cb: (r: LogRecord) => void): Promise<void> {
  // The file stays open while followed: when conmon starts the log over (a new file renamed
  // onto the path), what the old one got is read to its end before the new one is opened.
  let fh: FileHandle | null = null;
  let ino = 0;
  let offset = 0;
  let rest: Buffer = Buffer.alloc(0);
  // Like dockerd's json-file reader, a record newer than `until` ends the read, following
  // included: `logs -f --until` of a container that keeps logging returns, it does not hang.
  let pastUntil = false;
  let tailed = false;
  // as moby's tailFiles: the last N records of the files first (found from their ends), then
  // since skips and the first record past until ends the read (--tail 5 --until T may print fewer)
  const emit = async (recs: LogRecord[]) => {
    for (const r of recs) {
      if (pastUntil || afterUntil(r, o)) { pastUntil = true; continue; }
      if (!beforeSince(r, o)) cb(r);
    }
    await o.drain?.();
  };
  // rotated files first, oldest first; with --tail, from the newest back only as far as the
  // tail needs, their records going out before the log's (counted across the files)
  const rotated = o.maxFiles && o.maxFiles > 1 ? await rotatedLogs(file, o.maxFiles) : [];
  const withFile = async <T>(f: string, fn: (h: FileHandle, size: number) => Promise<T>): Promise<T | undefined> => {
    const h = await fs.open(f, 'r').catch(() => null);
    if (!h) return undefined;
    try { return await fn(h, (await h.stat()).size); } finally { await h.close(); }
  };
  if (o.tail === null) {
    for (const f of rotated) await withFile(f, (h, size) => readRecords(h, 0, size, Buffer.alloc(0), emit, o.signal));
  }
  // --tail: the log's own last lines count first; the rotated files, newest back, give the
  // `want` it lacks (their records go out before the log's)
  const rotatedTail = async (want: number): Promise<LogRecord[]> => {
    let out: LogRecord[] = [];
    for (const f of [...rotated].reverse()) {
      if (want <= 0) break;
      const got = await withFile(f, async (h, size) => {
        const t = await tailStart(h, size, want);
        const recs: LogRecord[] = [];
        await readRecords(h, t.start, size, Buffer.alloc(0), async (r) => { recs.push(...r); }, o.signal);
        return { recs, lines: t.lines };
      });
      out = [...(got?.recs ?? []), ...out];
      want -= got?.lines ?? 0;
    }
    return out;
  };
  const readOpen = async (h: FileHandle): Promise<void> => {
    const { size } = await h.stat();
    if (size < offset) { offset = 0; rest = Buffer.alloc(0); } // truncated in place
    // --tail: the first file read starts at its last N lines
    if (!tailed && o.tail !== null) {
      tailed = true;
      const t = await tailStart(h, size, o.tail);
      offset = t.start;
      await emit(await rotatedTail(o.tail - t.lines));
    }
    ({ offset, rest } = await readRecords(h, offset, size, rest, emit, o.signal));
  };
  const readNew = async (): Promise<void> => {
    for (;;) {
      if (!fh) {
        try { fh = await fs.open(file, 'r'); } catch { return; }
        ino = (await fh.stat()).ino;
        offset = 0;
        rest = Buffer.alloc(0);
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
  // no log file (yet): the rotated ones alone
  if (!tailed && o.tail !== null) await emit(await rotatedTail(o.tail));
  tailed = true; // --tail counts what the log held when the read began
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
