// A socket that answers from the daemon's first moment while what serves it is loaded only
// when a client first connects: gRPC front ends (grpc-js and their messages, several MB of
// heap) cost nothing until used: tsulad's CRI on a node only the docker CLI drives, the
// sandboxer's Controller when only containerd's shims (ttrpc) talk to it, and its task
// socket (the ttrpc server and protobuf) before its first container. Connections that
// come while it loads wait, paused, and are served in order.
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
    if (ready) return handOver(ready, c);
    server ??= load().then((s) => (ready = s), (e) => {
      log.error(`${what}: cannot start`, { err: errorMessage(e) });
      server = undefined; // the next client tries again
      throw e;
    });
    server.then((s) => handOver(s, c), () => c.destroy());
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
