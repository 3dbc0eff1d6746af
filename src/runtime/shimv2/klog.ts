// The CRI "k8s-file" log that conmon writes and `tsula logs` reads (engine/containers/logs.ts):
// one record per line, "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n", P for a piece of a
// line that continues in the next record. Timestamps as conmon prints them: local time,
// 9 fraction digits, numeric zone. Past sizeMax bytes the log starts over as conmon's does
// (--log-size-max): a new file renamed onto the path; readers that hold the old one finish it.
import { createWriteStream, openSync, renameSync, statSync, type WriteStream } from 'node:fs';

const NL = Buffer.from('\n');

export class K8sLogWriter {
  private out: WriteStream;
  private closed: Promise<void> | null = null;
  private written = 0;

  constructor(readonly file: string, readonly sizeMax?: number) {
    this.out = K8sLogWriter.stream(file, 'a');
    if (sizeMax) { try { this.written = statSync(file).size; } catch { /* new */ } }
  }

  private static stream(file: string, flags: 'a' | 'w', fd?: number): WriteStream {
    const out = createWriteStream(file, { flags, mode: 0o600, ...(fd !== undefined ? { fd } : {}) });
    out.on('error', () => { /* a log we can't write must not take the daemon down */ });
    return out;
  }

  /** A new, empty file at the path; the old one is ended (sync: the next record goes to the new one). */
  private startOver(): void {
    const tmp = `${this.file}.tmp`;
    try {
      const fd = openSync(tmp, 'w', 0o600);
      renameSync(tmp, this.file);
      this.out.end();
      this.out = K8sLogWriter.stream(this.file, 'w', fd);
      this.written = 0;
    } catch { /* keep writing where we were */ }
  }

  write(stream: 'stdout' | 'stderr', data: Buffer): void {
    if (this.closed || !data.length) return;
    const ts = timestamp();
    const parts: Buffer[] = [];
    let start = 0;
    while (start < data.length) {
      const nl = data.indexOf(10, start);
      const end = nl < 0 ? data.length : nl;
      parts.push(Buffer.from(`${ts} ${stream} ${nl < 0 ? 'P' : 'F'} `), data.subarray(start, end), NL);
      start = end + 1;
    }
    const rec = Buffer.concat(parts);
    if (this.sizeMax && this.written + rec.length > this.sizeMax) this.startOver();
    this.written += rec.length;
    this.out.write(rec);
  }

  /** Flush and close; resolves when every record is in the file. */
  close(): Promise<void> {
    this.closed ??= new Promise<void>((resolve) => {
      if (this.out.destroyed) return resolve();
      this.out.end(() => resolve());
      this.out.once('error', () => resolve());
    });
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
