// docker's json-file `max-size` with `max-file` > 1: the log is rotated into numbered files
// (container.log.1 the newest, up to .<max-file - 1>) and `docker logs` reads them oldest
// first. conmon can only start a full log over, so tsulad rotates: it looks at the size of
// each such container's log, and when it reached max-size, renames the files one up and has
// the runtime reopen the log (conmon's control FIFO; lines written between the rename and the
// reopen land in .1, in order). A file may so pass max-size by what is written between two
// looks: such a .1 is cut with the files before it into max-size files at the next look,
// as one json-file stream; conmon's own cap (max-size times max-file, at least 4 MiB past max-size) bounds it
// while tsulad is down. When the container stops, a log past max-size (a burst before the
// first look) is spread over the files as docker's would be, and what is beyond them goes.
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { ContainerHooks } from './hooks.js';
import type { Container } from './model.js';

/** docker's local log driver's defaults: 20 MiB per file, 5 files. */
export const LOCAL_MAX_SIZE = 20 << 20;
const LOCAL_MAX_FILES = 5;

/** docker's max-file: how many files the log may span (1: one, started over at max-size). */
export function logFiles(rec: Container): number {
  if (rec.config.logDriver === 'none' || !rec.config.logSizeMax) return 1;
  const n = Number(rec.config.logOpts?.['max-file'] ?? (rec.config.logDriver === 'local' ? LOCAL_MAX_FILES : 1));
  return Number.isInteger(n) && n > 1 ? n : 1;
}

/**
 * The size at which the runtime starts the log over: max-size, or with rotation (a runtime
 * that can reopen its log) a safety cap for while tsulad is down, far enough past max-size
 * that a rotation running late never meets it (its start-over and then the rotation's reopen
 * would each begin a new file, and the one between would be lost).
 */
export function runtimeLogCap(rec: Container, canReopen: boolean): number | undefined {
  const max = rec.config.logSizeMax;
  if (!max) return undefined;
  const files = canReopen ? logFiles(rec) : 1;
  return files > 1 ? Math.max(max * files, max + CAP_SLACK) : max;
}

/** What a rotated log may grow past max-size before conmon starts it over itself. */
const CAP_SLACK = 4 << 20;

/** The rotated files of a log that exist now, oldest first (container.log.N ... .1). */
export async function rotatedLogs(log: string, files: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = files - 1; i >= 1; i--) {
    const f = `${log}.${i}`;
    if (await fs.access(f).then(() => true, () => false)) out.push(f);
  }
  return out;
}

/** A rename of a rotated file that may not be there (fewer files than max-file yet). */
async function renameIfThere(from: string, to: string): Promise<void> {
  await fs.rename(from, to).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
}

/** Shift the files one up (the oldest beyond max-file goes) and move the log to .1. */
export async function rotateLog(log: string, files: number): Promise<void> {
  await fs.rm(`${log}.${files - 1}`, { force: true });
  for (let i = files - 2; i >= 1; i--) {
    await renameIfThere(`${log}.${i}`, `${log}.${i + 1}`);
  }
  await fs.rename(log, `${log}.1`);
}

/** How far back from a cut a record's start is looked for (conmon's records are ≤ 8 KiB of text). */
const WINDOW = 64 << 10;

/** The first record start at or after `pos` (in [pos, end)), else `end`. */
async function recordStartFrom(fh: FileHandle, pos: number, end: number): Promise<number> {
  if (pos <= 0) return 0;
  const len = Math.min(WINDOW, end - (pos - 1));
  const buf = Buffer.alloc(len);
  const { bytesRead } = await fh.read(buf, 0, len, pos - 1);
  const nl = buf.subarray(0, bytesRead).indexOf(0x0a);
  return nl < 0 ? end : Math.min(end, pos + nl);
}

/** The start of the last record that ends at `end` (a record longer than the window: cut). */
async function lastRecordStart(fh: FileHandle, end: number): Promise<number> {
  const from = Math.max(0, end - 1 - WINDOW);
  const buf = Buffer.alloc(end - 1 - from);
  const { bytesRead } = await fh.read(buf, 0, buf.length, from);
  const nl = buf.subarray(0, bytesRead).lastIndexOf(0x0a);
  return nl < 0 ? from : from + nl + 1;
}

/**
 * Log files cut again as docker's json-file would have left them: the files from `from` to
 * `through` (0 the log itself, a stopped container's; 1 its `.1`, a burst rotated in one
 * piece, with the older rotated files it continues), read oldest first as one stream, are cut
 * at record starts into pieces of at most max-size from its end; the newest takes `from`'s
 * place, the older ones the places after it, the files older than `through` move along, and
 * whatever is beyond max-file files goes. Only on files nothing writes.
 */
export async function spreadLog(log: string, files: number, max: number, from = 0, through = from): Promise<void> {
  const name = (i: number) => (i === 0 ? log : `${log}.${i}`);
  const exists = (f: string) => fs.access(f).then(() => true, () => false);
  let src = name(from);
  let joined: string | undefined;
  if (through > from) {
    // one stream of the group, oldest first, streamed (a group is a few max-sizes)
    joined = `${log}.joined.tmp`;
    const out = await fs.open(joined, 'w');
    try {
      for (let i = through; i >= from; i--) {
        if (!(await exists(name(i)))) continue;
        for await (const chunk of createReadStream(name(i))) await out.write(chunk as Buffer);
      }
    } finally {
      await out.close();
    }
    src = joined;
  }
  try {
    const fh = await fs.open(src, 'r').catch(() => null);
    if (!fh) return;
    const pieces: Array<[number, number]> = []; // newest first
    try {
      const { size } = await fh.stat();
      if (!joined && size <= max) return;
      let end = size;
      while (end > 0 && pieces.length < files - from) {
        let start = await recordStartFrom(fh, end - max, end);
        if (start >= end) start = await lastRecordStart(fh, end);
        pieces.push([start, end]);
        end = start;
      }
    } finally {
      await fh.close();
    }
    const copy = async ([start, end]: [number, number], to: string) => {
      await pipeline(createReadStream(src, { start, end: end - 1 }), createWriteStream(`${to}.tmp`));
      await fs.rename(`${to}.tmp`, to);
    };
    // the group's old files are in the joined stream now
    if (joined) for (let i = from; i <= through; i++) await fs.rm(name(i), { force: true });
    // the files older than the group move by what it gained (or lost); those past max-file go
    const shift = pieces.length - (through - from + 1);
    const older = Array.from({ length: Math.max(0, files - 1 - through) }, (_, k) => through + 1 + k);
    if (shift) {
      // moved up from the oldest, down from the newest: no file lands on one not yet moved
      for (const i of shift > 0 ? older.reverse() : older) {
        if (i + shift <= files - 1) await renameIfThere(name(i), name(i + shift));
        else await fs.rm(name(i), { force: true });
      }
    }
    for (let i = pieces.length - 1; i >= 0; i--) await copy(pieces[i]!, name(from + i));
  } finally {
    if (joined) await fs.rm(joined, { force: true });
  }
}

/** The most a burst's cut reads again of the files before it (more: the burst is cut alone). */
const REJOIN_BUDGET = 64 << 20;

/**
 * The files a burst's `.1` is cut with: every rotated file, read again as one stream with it,
 * so that only the oldest piece can be short, as in json-file's stream (a burst cut alone
 * left its short start between full files, a slot of max-file lost at each burst); the files
 * up to what is not too much to copy again.
 */
async function burstGroup(log: string, files: number, max: number): Promise<number> {
  let through = 1;
  let total = 0;
  for (let i = 1; i < files; i++) {
    const size = await fs.stat(`${log}.${i}`).then((st) => st.size, () => -1);
    if (size < 0 || (i === 1 && size <= max)) break; // no burst: nothing to cut
    total += size;
    if (total > REJOIN_BUDGET) break;
    through = i;
  }
  return through;
}

export interface LogRotationDeps {
  log: Logger;
  /** Have the container's runtime reopen its log file (a new one at the path). */
  reopen: (id: string) => Promise<void>;
  /** Whether the container's runtime can reopen its log (conmon can; else its log starts over). */
  canReopen: (rec: Container) => boolean;
  /** The longest and shortest wait between two looks at one log. */
  maxIntervalMs?: number;
  minIntervalMs?: number;
}

interface Watched {
  id: string; log: string; max: number; files: number; timer: NodeJS.Timeout | null; size: number; at: number;
  /** The last rotation moved a file past max-size to .1: spread once the runtime writes the new log. */
  burst?: boolean;
  /** The look under way, if any (a stop waits for it before it spreads the log). */
  looking?: Promise<void>;
}

/**
 * The hook that rotates the logs of running containers that have max-file > 1. Each log is
 * looked at again after half the time its writer, at the rate seen since the last look,
 * needs to fill what is left (between 50 ms and 1 s): a slow writer costs a stat a second,
 * a fast one passes max-size by little.
 */
export class LogRotation implements ContainerHooks {
  private readonly watched = new Map<string, Watched>();

  constructor(private readonly d: LogRotationDeps) {}

  async started(rec: Container): Promise<void> {
    this.forget(rec.id);
    const files = logFiles(rec);
    if (files <= 1 || !this.d.canReopen(rec)) return;
    const w: Watched = { id: rec.id, log: rec.paths.log, max: rec.config.logSizeMax!, files, timer: null, size: 0, at: Date.now() };
    this.watched.set(rec.id, w);
    // soon after the start, to learn the writer's pace
    this.schedule(w, 2 * (this.d.minIntervalMs ?? 50));
  }

  /** The writer is gone: no more looks (a failed start ends here too). */
  async stopped(rec: Container): Promise<void> {
    const w = this.watched.get(rec.id);
    if (w?.timer) clearTimeout(w.timer);
  }

  async settled(rec: Container): Promise<void> {
    const w = this.watched.get(rec.id);
    this.forget(rec.id);
    // a burst the looks missed is cut down to what max-file keeps (not for a container about
    // to be removed); after the exit's waiters, whose `logs -f` read the files as they were
    await w?.looking;
    if (w && !rec.config.autoRemove) {
      if (w.burst) await spreadLog(w.log, w.files, w.max, 1, await burstGroup(w.log, w.files, w.max));
      await spreadLog(w.log, w.files, w.max);
    }
  }

  async removed(rec: Container): Promise<void> { this.forget(rec.id); }

  async recovered(list: Container[]): Promise<void> {
    for (const rec of list) if (rec.state.status === 'running' || rec.state.status === 'paused') await this.started(rec);
  }

  close(): void {
    for (const id of [...this.watched.keys()]) this.forget(id);
  }

  private forget(id: string): void {
    const w = this.watched.get(id);
    if (w?.timer) clearTimeout(w.timer);
    this.watched.delete(id);
  }

  private schedule(w: Watched, ms: number): void {
    w.timer = setTimeout(() => { w.looking = this.check(w); }, ms);
    w.timer.unref();
  }

  /** Rotate the log if it reached max-size; then the next look. */
  async check(w: Watched): Promise<void> {
    w.timer = null;
    const max = this.d.maxIntervalMs ?? 1000;
    const min = this.d.minIntervalMs ?? 50;
    let next = max;
    try {
      const st = await fs.stat(w.log).catch(() => null);
      const now = Date.now();
      const size = st?.size ?? 0;
      const rate = size > w.size && now > w.at ? (size - w.size) / (now - w.at) : 0; // bytes per ms
      let left = w.max - size;
      // a burst rotated in one piece: once the runtime writes the new log (it reopened),
      // nothing writes .1 and it is cut into max-size files, as docker's would be
      if (w.burst && st) {
        w.burst = false;
        await spreadLog(w.log, w.files, w.max, 1, await burstGroup(w.log, w.files, w.max));
      }
      if (st && size >= w.max && this.watched.get(w.id) === w) {
        await rotateLog(w.log, w.files);
        // a runtime that reached its own cap meanwhile has begun a new file already
        if (!(await fs.access(w.log).then(() => true, () => false))) await this.d.reopen(w.id);
        w.burst = true; // a look: its .1 may be within max-size
        left = w.max;
      }
      w.size = left === w.max ? 0 : size;
      w.at = now;
      if (rate > 0) next = Math.max(min, Math.min(max, left / rate / 2));
    } catch (e) {
      this.d.log.warn('rotating a container log', { id: w.id, err: errorMessage(e) });
    }
    if (this.watched.get(w.id) === w) this.schedule(w, next);
  }
}
