// Exec and attach over an upgraded SPDY connection, as kubelet's
// pkg/kubelet/cri/streaming/remotecommand serves them: wait (bounded) for the client's
// streams by their streamType, hand them to the runtime, then report the outcome on the
// error stream in the negotiated protocol's form and close.
//
// What differs by protocol (client-go tools/remotecommand, kubelet's handlers):
//   v4  error stream: JSON metav1.Status, also on success (exit codes in its causes)
//   v3  adds the `resize` stream (counted only with a tty); errors as plain text
//   v2  stdin half-close ends the command's stdin; no resize; errors as plain text
//   v1  kubelet closes its side of stdin at once and resets the error stream as soon as
//       the streams are there (a leftover `defer` kept for 1.0 clients): no error reaches them
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { SpdyConnection } from './spdy/connection.js';
import type { SpdyStream } from './spdy/stream.js';
import {
  RemoteCommandProtocol, StreamHeader, StreamType, internalErrorStatus, statusJson, statusText, supportsResize,
  type Status,
} from './protocol.js';
import type { StreamIO, TerminalSize } from './runtime.js';

export interface RemoteCommandOptions { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }

/** What the runtime call ended with; a thrown error becomes an internal-error status. */
export type RunCommand = (io: StreamIO, signal: AbortSignal) => Promise<Status>;

export class RemoteCommandSession {
  private error?: SpdyStream;
  private stdin?: SpdyStream;
  private stdout?: SpdyStream;
  private stderr?: SpdyStream;
  private resize?: SpdyStream;
  private received = 0;
  private readonly expected: number;
  private complete = false;
  private allThere!: () => void;
  private readonly streamsThere = new Promise<void>((r) => { this.allThere = r; });

  constructor(
    private readonly protocol: RemoteCommandProtocol,
    private readonly opts: RemoteCommandOptions,
    private readonly log?: Logger,
  ) {
    // The error stream, one per requested stdio stream, and resize when it can be used.
    this.expected = 1 + Number(opts.stdin) + Number(opts.stdout) + Number(opts.stderr)
      + Number(opts.tty && supportsResize(protocol));
  }

  /** The connection's onStream: every stream is accepted; known types are counted. */
  onStream(s: SpdyStream): void {
    if (this.complete) {
      // kubelet stops reading new streams once it has its set; they are never answered.
      s.reset();
      return;
    }
    s.reply();
    const type = s.header(StreamHeader.Type);
    switch (type) {
      case StreamType.Error: this.error = s; break;
      case StreamType.Stdin: this.stdin = s; break;
      case StreamType.Stdout: this.stdout = s; break;
      case StreamType.Stderr: this.stderr = s; break;
      case StreamType.Resize:
        // v1/v2 know no resize stream: it is unexpected there, as any other type.
        if (supportsResize(this.protocol)) { this.resize = s; break; }
        return this.unexpected(s, type);
      default:
        return this.unexpected(s, type);
    }
    if (++this.received === this.expected) {
      this.complete = true;
      this.allThere();
    }
  }

  private unexpected(s: SpdyStream, type: string): void {
    this.log?.warn('unexpected stream type', { streamType: type, protocol: this.protocol });
    s.resume();
  }

  /**
   * Waits for the streams, runs the command, reports and closes. Never throws: every
   * outcome goes to the client (or to the log, when the client is not there to hear it).
   */
  async serve(conn: SpdyConnection, creationTimeoutMs: number, run: RunCommand): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => { timer = setTimeout(() => r(true), creationTimeoutMs); });
    const there = await Promise.race([this.streamsThere.then(() => false), timedOut, conn.done.then(() => true)]);
    clearTimeout(timer);
    if (there) {
      if (!conn.isClosed) this.log?.warn('timed out waiting for client to create streams', { protocol: this.protocol });
      conn.close();
      return;
    }
    if (this.protocol === RemoteCommandProtocol.V1) {
      this.stdin?.end();
      this.error?.reset();
    }

    const ac = new AbortController();
    void conn.done.then(() => ac.abort());
    const sizes = this.resize && this.opts.tty ? resizeEvents(this.resize) : undefined;
    if (!sizes) this.resize?.resume();
    const io: StreamIO = { tty: this.opts.tty, stdin: this.stdin, stdout: this.stdout, stderr: this.stderr, resize: sizes };
    let status: Status;
    try {
      status = await run(io, ac.signal);
    } catch (e) {
      this.log?.warn('streaming command failed', { error: errorMessage(e) });
      status = internalErrorStatus(errorMessage(e));
    }

    // Output first (stdout/stderr EOF is what the client waits for), then the status.
    await Promise.all([finished(this.stdout, conn), finished(this.stderr, conn)]);
    const report = this.protocol === RemoteCommandProtocol.V4 ? statusJson(status) : statusText(status);
    if (this.error && report) this.error.write(report);
    this.error?.end();
    // Our halves of stdin and resize, so a v2+ client's "read stdin until closed" returns;
    // whatever the client still sends there is read and dropped.
    for (const s of [this.stdin, this.resize, this.error]) {
      s?.end();
      s?.resume();
    }
    await finished(this.error, conn);
    conn.finish();
  }
}

/** Ends a writable we handed out (if the runtime did not) and waits until it is flushed. */
function finished(s: SpdyStream | undefined, conn: SpdyConnection): Promise<void> {
  if (!s) return Promise.resolve();
  return new Promise<void>((resolve) => {
    if (s.writableFinished || s.isReset || conn.isClosed) return resolve();
    s.once('finish', resolve);
    s.once('reset', resolve);
    void conn.done.then(resolve);
    if (!s.writableEnded) s.end();
  });
}

/**
 * The resize stream as terminal sizes. client-go writes one JSON object per size
 * (`{"Width":80,"Height":24}` and a newline); like kubelet's json.Decoder, field names match
 * case-insensitively, and the first thing that does not decode ends the sequence.
 */
export function resizeEvents(stream: NodeJS.ReadableStream): AsyncIterable<TerminalSize> {
  const queue = new AsyncQueue<TerminalSize>();
  const splitter = new JsonObjectSplitter();
  stream.on('data', (d: Buffer) => {
    if (queue.ended) return;
    try {
      for (const text of splitter.push(d.toString('utf8'))) queue.push(parseSize(text));
    } catch {
      queue.end();
    }
  });
  stream.on('end', () => queue.end());
  stream.on('reset', () => queue.end());
  return queue;
}

function parseSize(text: string): TerminalSize {
  const v: unknown = JSON.parse(text);
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
  const size: TerminalSize = { width: 0, height: 0 };
  for (const [k, n] of Object.entries(v)) {
    const key = k.toLowerCase();
    if (key !== 'width' && key !== 'height') continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) throw new Error(`bad ${k}`);
    size[key] = n;
  }
  return size;
}

/** Cuts a text stream into top-level JSON objects (what json.Decoder reads one by one). */
export class JsonObjectSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (/\s/.test(c)) continue;
        if (c !== '{') throw new Error(`unexpected ${JSON.stringify(c)} between JSON objects`);
        this.start = i;
      }
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        if (--this.depth === 0) {
          out.push(this.buf.slice(this.start, i + 1));
          this.start = -1;
        }
      }
    }
    // Keep only an unfinished object.
    const keepFrom = this.start >= 0 ? this.start : this.buf.length;
    this.buf = this.buf.slice(keepFrom);
    this.scanned = this.buf.length;
    if (this.start >= 0) this.start = 0;
    return out;
  }
}

/** A one-consumer async queue: push and end on one side, for await on the other. */
class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiters: Array<(r: IteratorResult<T>) => void> = [];
  ended = false;

  push(v: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w({ value: v, done: false }); else this.items.push(v);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (this.items.length) return Promise.resolve({ value: this.items.shift()!, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this.waiters.push(r));
      },
      return: (): Promise<IteratorResult<T>> => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
