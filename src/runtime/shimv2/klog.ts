// The CRI "k8s-file" log that conmon writes and `tsula logs` reads (engine/containers/logs.ts):
// one record per line, "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n", P for a piece of a
// line that continues in the next record. Timestamps as conmon prints them: local time,
// 9 fraction digits, numeric zone. Past sizeMax bytes the log starts over as conmon's does
// (--log-size-max): a new file renamed onto the path once the old one has all its records, so
// that a reader who sees the rename finds the old one complete. reopen() is conmon's reopen
// (CRI's ReopenContainerLog, after kubelet renamed the file away): the next records go to a
// file at the path again, and the renamed one gets every record written before.
import { createWriteStream, fstatSync, openSync, renameSync, statSync, type WriteStream } from 'node:fs';
import { finished } from 'node:stream';

const NL = Buffer.from('\n');
/** containerd's defaultBufSize for a log line's pieces, and kubelet's max line (16 KiB). */
const LINE_MAX = 16 * 1024;

export class K8sLogWriter {
  private out: WriteStream;
  private closed: Promise<void> | null = null;
  private written = 0;
  private starts = 0;
  /** The last start-over's rename (done once its old file is flushed and closed). */
  private switching: Promise<void> | null = null;

  constructor(readonly file: string, readonly sizeMax?: number) {
    this.out = K8sLogWriter.stream(file, 'a');
    if (sizeMax) { try { this.written = statSync(file).size; } catch { /* new */ } }
  }

  private static stream(file: string, flags: 'a' | 'w', fd?: number): WriteStream {
    const out = createWriteStream(file, { flags, mode: 0o600, ...(fd !== undefined ? { fd } : {}) });
    out.on('error', () => { /* a log we can't write must not take the daemon down */ });
    return out;
  }

  /**
   * The next records go to a new file, renamed onto the path once the old one is flushed and
   * closed, and after the start-overs before it (a burst may start over several times).
   */
  private startOver(): void {
    const tmp = `${this.file}.${++this.starts}.tmp`;
    let fd: number;
    try { fd = openSync(tmp, 'w', 0o600); } catch { return; } // keep writing where we were
    const old = this.out;
    this.out = K8sLogWriter.stream(tmp, 'w', fd);
    this.written = 0;
    const flushed = new Promise<void>((resolve) => finished(old, () => resolve()));
    this.switching = Promise.all([this.switching, flushed]).then(() => {
      try { renameSync(tmp, this.file); } catch { /* the old file stays at the path */ }
    });
    old.end();
  }

  /**
   * Write the next records to the file at the path (a new one when it was renamed away).
   * Resolves once that file exists; the old one is flushed and closed in the background
   * (close() waits for it). Throws when the path can't be opened: the old file stays in use.
   */
  async reopen(): Promise<void> {
    if (this.closed) return;
    // a start-over's rename in flight would put its file back at the path after ours
    await this.switching;
    const fd = openSync(this.file, 'a', 0o600);
    const old = this.out;
    this.out = K8sLogWriter.stream(this.file, 'a', fd);
    try { this.written = fstatSync(fd).size; } catch { this.written = 0; }
    const flushed = new Promise<void>((resolve) => finished(old, () => resolve()));
    this.switching = Promise.all([this.switching, flushed]).then(() => undefined);
    old.end();
  }

  /**
   * A record per line, as containerd's redirectLogs writes them: a line's start is held until
   * its newline comes (or it reaches LINE_MAX bytes: a P record), not written per read
   * (byte-at-a-time output made a record per byte, and kubelet's size-based rotation came ~20x
   * sooner); what is held at close() is written as a P record.
   */
  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.closed || !data.length) return;
    const held = this.held[stream];
    const buf = held.length ? Buffer.concat([held, data]) : data;
    const ts = timestamp();
    const parts: Buffer[] = [];
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      for (; nl - start > LINE_MAX; start += LINE_MAX) parts.push(Buffer.from(`${ts} ${stream} P `), buf.subarray(start, start + LINE_MAX), NL);
      parts.push(Buffer.from(`${ts} ${stream} F `), buf.subarray(start, nl), NL);
      start = nl + 1;
    }
    for (; buf.length - start >= LINE_MAX; start += LINE_MAX) parts.push(Buffer.from(`${ts} ${stream} P `), buf.subarray(start, start + LINE_MAX), NL);
    this.held[stream] = Buffer.from(buf.subarray(start));
    if (parts.length) this.append(Buffer.concat(parts));
  }

  private readonly held: Record<'stdout' | 'stderr', Buffer> = { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0) };

  private append(rec: Buffer): void {
    if (this.sizeMax && this.written + rec.length > this.sizeMax) this.startOver();
    this.written += rec.length;
    this.out.write(rec);
  }

  /** Flush and close; resolves when every record is in the file (and that file at the path). */
  close(): Promise<void> {
    if (!this.closed) {
      // the end of the stream: a line without its newline is a P record (containerd's)
      const ts = timestamp();
      for (const stream of ['stdout', 'stderr'] as const) {
        const held = this.held[stream];
        if (held.length) this.append(Buffer.concat([Buffer.from(`${ts} ${stream} P `), held, NL]));
        this.held[stream] = Buffer.alloc(0);
      }
    }
    this.closed ??= new Promise<void>((resolve) => {
      if (this.out.destroyed) return resolve();
      this.out.end(() => resolve());
      this.out.once('error', () => resolve());
    }).then(() => this.switching ?? undefined);
    return this.closed;
  }
}

/** "2024-01-02T03:04:05.123456789+01:00" */
export function timestamp(now = new Date()): string {
  const offMin = -now.getTimezoneOffset();
  const local = new Date(now.getTime() + offMin * 60_000).toISOString().slice(0, 19);
  // ms from the clock; the sub-ms digits from the monotonic counter (Date has no more)
  const frac = String(now.getMilliseconds()).padStart(3, '0') + String(process.hrtime.bigint() % 1_000_000n).padStart(6, '0');
  const sign = offMin < 0 ? '-' : '+';
  const a = Math.abs(offMin);
  return `${local}.${frac}${sign}${String(Math.trunc(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
