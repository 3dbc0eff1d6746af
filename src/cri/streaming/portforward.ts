// Port forwarding over an upgraded SPDY connection, as kubelet's
// pkg/kubelet/cri/streaming/portforward serves it: one connection carries any number of
// forwarded TCP connections, each a pair of streams (`error` and `data`) with the same
// `requestID` and the remote `port` in their headers. A complete pair goes to the runtime;
// what fails is written as text on the pair's error stream, and both streams are closed
// when the runtime is done. The connection lasts until the client hangs up (or idles out).
import type { Duplex, Writable } from 'node:stream';
import type { Logger } from '../../common/log.js';
import { errorMessage } from '../../common/errors.js';
import type { SpdyConnection } from './spdy/connection.js';
import type { SpdyStream } from './spdy/stream.js';
import { StreamHeader, StreamType } from './protocol.js';
import type { StreamingRuntime } from './runtime.js';

interface Pair {
  requestId: string;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

export class PortForwardSession {
  private readonly pairs = new Map<string, Pair>();
  private readonly ac = new AbortController();
  private readonly running = new Set<Promise<void>>();

  constructor(
    private readonly podSandboxId: string,
    private readonly runtime: StreamingRuntime,
    private readonly creationTimeoutMs: number,
    /** Names the connection in messages (the client's address). */
    private readonly label: string,
    private readonly log?: Logger,
  ) {}

  /** The connection's onStream: checks the headers, then pairs streams by request id. */
  onStream(s: SpdyStream): void {
    const problem = checkHeaders(s);
    if (problem) {
      this.log?.warn('port-forward stream rejected', { error: problem });
      s.reset();
      return;
    }
    s.reply();
    const requestId = this.requestId(s);
    let pair = this.pairs.get(requestId);
    if (!pair) {
      const p: Pair = {
        requestId,
        timer: setTimeout(() => {
          const msg = `(conn=${this.label}, request=${requestId}) timed out waiting for streams`;
          this.log?.warn(msg);
          p.error?.write(msg);
          this.pairs.delete(requestId);
        }, this.creationTimeoutMs),
      };
      this.pairs.set(requestId, p);
      pair = p;
    }
    const type = s.header(StreamHeader.Type);
    const slot = type === StreamType.Error ? 'error' : 'data';
    if (pair[slot]) {
      const msg = `error processing stream for request ${requestId}: ${slot} stream already assigned`;
      this.log?.warn(msg);
      pair.error?.write(msg);
      s.reset();
      return;
    }
    pair[slot] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      this.pairs.delete(requestId);
      const run = this.forward(pair.error, pair.data);
      this.running.add(run);
      void run.finally(() => this.running.delete(run));
    }
  }

  /** Serves until the client hangs up; then stops what is still forwarding. */
  async serve(conn: SpdyConnection): Promise<void> {
    await conn.done;
    this.ac.abort();
    for (const p of this.pairs.values()) clearTimeout(p.timer);
    this.pairs.clear();
    await Promise.all(this.running);
  }

  private async forward(error: SpdyStream, data: SpdyStream): Promise<void> {
    const port = Number(data.header(StreamHeader.Port));
    try {
      await forwardPort(this.runtime, this.podSandboxId, port, data, error, this.ac.signal, this.log);
    } finally {
      data.end();
      data.resume();
      error.end();
      error.resume();
    }
  }

  /**
   * The request id header; clients from before it existed get kubelet's guess from the
   * stream id (error and data streams of one connection are consecutive odd ids).
   */
  private requestId(s: SpdyStream): string {
    const id = s.header(StreamHeader.RequestId);
    if (id) return id;
    return String(s.header(StreamHeader.Type) === StreamType.Error ? s.id : s.id - 2);
  }
}

/**
 * One forwarded connection through the runtime; a failure goes to the log and, in kubelet's
 * words (with its empty pod uid), to the pair's error stream or channel.
 */
export async function forwardPort(
  runtime: StreamingRuntime, podSandboxId: string, port: number, data: Duplex, error: Writable, signal: AbortSignal, log?: Logger,
): Promise<void> {
  try {
    await runtime.portForward(podSandboxId, port, data, signal);
  } catch (e) {
    const msg = `error forwarding port ${port} to pod ${podSandboxId}, uid : ${errorMessage(e)}`;
    log?.warn(msg);
    error.write(msg);
  }
}

/** kubelet's httpStreamReceived checks: a port in 1..65535, a type of error or data. */
function checkHeaders(s: SpdyStream): string | undefined {
  const port = s.header(StreamHeader.Port);
  if (!port) return `"${StreamHeader.Port}" header is required`;
  if (!/^\d+$/.test(port) || Number(port) > 0xffff) return `unable to parse "${port}" as a port`;
  if (Number(port) < 1) return `port "${port}" must be > 0`;
  const type = s.header(StreamHeader.Type);
  if (!type) return `"${StreamHeader.Type}" header is required`;
  if (type !== StreamType.Error && type !== StreamType.Data) return `invalid stream type "${type}"`;
  return undefined;
}
