// A socket that answers from the daemon's first moment while what serves it is loaded only
// when a client first connects: gRPC front ends (grpc-js and their messages, several MB of
// heap) cost nothing until used: tsulad's CRI on a node only the docker CLI drives, the
// sandboxer's Controller when only containerd's shims (ttrpc) talk to it, and its task
// socket (the ttrpc server and protobuf) before its first container. A connection loads it
// with its first bytes, not at its connect: a liveness probe that connects and hangs up (the
// sandboxer's launcher checks both sockets so) loads nothing. Every protocol served so
// (gRPC, ttrpc) has the client speak first. Connections that come while it loads wait,
// their bytes held, and are served in the order they spoke.
import * as net from 'node:net';
import type { SocketClaim } from './unixsocket.js';
import type { Logger } from './log.js';
import { errorMessage } from './errors.js';

export interface ConnectionServer {
  serve(c: net.Socket): void;
  close(): Promise<void>;
}

export interface LazyEndpoint {
  /** Whether a client has made it load. */
  readonly loaded: boolean;
  close(): Promise<void>;
}

export async function serveLazily(claim: SocketClaim, what: string, load: () => Promise<ConnectionServer>, log: Logger): Promise<LazyEndpoint> {
  let server: Promise<ConnectionServer> | undefined;
  let ready: ConnectionServer | undefined;
  // every accepted connection, to end them at close: a net.Server's close waits for all of
  // them, and a client such as kubelet or containerd never hangs up by itself
  const conns = new Set<net.Socket>();
  // paused until served: a connection's first bytes wait in the kernel while the server loads
  const handOver = (s: ConnectionServer, c: net.Socket) => { s.serve(c); c.resume(); };
  const listener = net.createServer({ pauseOnConnect: true }, (c) => {
    conns.add(c);
    c.once('close', () => conns.delete(c));
    // a reset while it waits to be served must not be an uncaught 'error' (it just closes)
    c.on('error', () => {});
    if (ready) return handOver(ready, c);
    void firstBytes(c).then((spoke) => {
      if (!spoke) return void c.destroy();
      if (ready) return handOver(ready, c);
      server ??= load().then((s) => (ready = s), (e) => {
        log.error(`${what}: cannot start`, { err: errorMessage(e) });
        server = undefined; // the next client tries again
        throw e;
      });
      server.then((s) => handOver(s, c), () => c.destroy());
    });
  });
  await claim.listen(listener, { mode: 0o600 });
  // a failed accept (EMFILE) is said, not thrown: the socket keeps serving
  listener.on('error', (e) => log.warn(`${what}: socket error`, { socket: `unix://${claim.path}`, err: errorMessage(e) }));
  log.info(`${what} listening`, { socket: `unix://${claim.path}` });
  return {
    get loaded() { return !!ready; },
    close: async () => {
      const closed = new Promise<void>((r) => listener.close(() => r()));
      await (await server?.catch(() => null))?.close();
      for (const c of conns) c.destroy();
      await closed;
      await claim.release();
    },
  };
}

/**
 * Whether the client sends anything before it hangs up; what it sent is put back, and the
 * socket paused again, for the server it is handed to (node's http2 takes over bytes a socket
 * holds already, as for a socket sniffed before it is served).
 */
function firstBytes(c: net.Socket): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (spoke: boolean) => {
      c.off('data', onData); c.off('end', onEnd); c.off('close', onEnd); c.off('error', onEnd);
      resolve(spoke);
    };
    const onData = (chunk: Buffer) => { c.pause(); c.unshift(chunk); done(true); };
    const onEnd = () => done(false);
    c.on('data', onData); c.once('end', onEnd); c.once('close', onEnd); c.once('error', onEnd);
    c.resume();
  });
}
