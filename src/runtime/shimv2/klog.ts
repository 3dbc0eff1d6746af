// The CRI "k8s-file" log that conmon writes and `tsula logs` reads (engine/containers/logs.ts):
// one record per line, "<RFC3339Nano> <stdout|stderr> <F|P> <text>\n", P for a piece of a
// line that continues in the next record. Timestamps as conmon prints them: local time,
// 9 fraction digits, numeric zone.
import { createWriteStream, type WriteStream } from 'node:fs';

const NL = Buffer.from('\n');

export class K8sLogWriter {
  private out: WriteStream;
  private closed: Promise<void> | null = null;

  constructor(readonly file: string) {
    this.out = createWriteStream(file, { flags: 'a', mode: 0o600 });
    this.out.on('error', () => { /* a log we can't write must not take the daemon down */ });
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
    this.out.write(Buffer.concat(parts));
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
