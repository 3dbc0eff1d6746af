// What the streaming server asks of the container runtime: run an exec, attach to a
// container, reach a port inside a pod. Declared here, by its consumer (kubelet's
// streaming.Runtime in TypeScript); the CRI service implements it on the engine.
//
// Streams are plain Node streams. Each call gets an AbortSignal that fires when the client
// goes away (or the server stops): the call should then stop and settle.
import type { Duplex, Readable, Writable } from 'node:stream';
import type { Socket } from 'node:net';

/** The fields of CRI's ExecRequest the server uses (a generated ExecRequest fits as is). */
export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The fields of CRI's AttachRequest the server uses. */
export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

/** The fields of CRI's PortForwardRequest the server uses. */
export interface PortForwardRequest {
  podSandboxId: string;
  /** Informational: a SPDY client names the port on each stream pair. */
  port?: number[];
}

/** remotecommand.TerminalSize: columns and rows. */
export interface TerminalSize { width: number; height: number }

/**
 * The client's end of an exec or attach. A stream is there when the request asked for it:
 * stdin ends at the client's EOF (v2+; a v1 client never ends it), stdout/stderr are the
 * runtime's to write (the server ends them when the call settles, if the runtime has not),
 * and with a tty under v3+ `resize` yields the client's terminal sizes, the first one
 * right away, until the session ends.
 */
export interface StreamIO {
  tty: boolean;
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  resize?: AsyncIterable<TerminalSize>;
}

export interface ExecResult { exitCode: number }

export interface StreamingRuntime {
  /**
   * Runs `req.cmd` in the container with `io` as its stdio, to its end. A non-zero exit is
   * a result, not an error; a thrown error means the command could not be run (the client
   * reads it as an internal error).
   */
  exec(req: ExecRequest, io: StreamIO, signal: AbortSignal): Promise<ExecResult>;
  /** Connects `io` to the container's own stdio until the container or the client is done. */
  attach(req: AttachRequest, io: StreamIO, signal: AbortSignal): Promise<void>;
  /**
   * Carries one forwarded connection: `stream` to TCP `port` inside the pod's network
   * namespace, both ways (relay() does the copying), settling when both directions are
   * done. A thrown error's message is written to the client's error stream.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void>;
}

/**
 * Copies a forwarded stream and a socket into each other with half-closes passed on (the
 * client's EOF ends the socket's writing side and the reverse), and settles when both
 * directions are done, either side breaks, the stream is reset, or `signal` fires; the
 * socket is destroyed by then. For runtimes implementing portForward.
 */
export function relay(stream: Duplex, socket: Socket, signal?: AbortSignal): Promise<void> {
  // The pod closing its side must not cut what the client still sends, and back.
  socket.allowHalfOpen = true;
  return new Promise<void>((resolve) => {
    let toSocket = false;
    let toStream = false;
    const done = (): void => {
      signal?.removeEventListener('abort', done);
      stream.unpipe(socket);
      socket.unpipe(stream);
      socket.destroy();
      resolve();
    };
    const check = (): void => { if (toSocket && toStream) done(); };
    stream.pipe(socket);
    socket.pipe(stream);
    socket.on('finish', () => { toSocket = true; check(); });
    stream.on('finish', () => { toStream = true; check(); });
    socket.on('error', done);
    socket.on('close', done);
    stream.on('reset', done);
    stream.on('close', done);
    if (signal?.aborted) done(); else signal?.addEventListener('abort', done, { once: true });
  });
}
