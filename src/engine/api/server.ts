// The engine's HTTP server on its unix socket: version prefix, routing, errors, upgrades.
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { promises as fs } from 'node:fs';
import { Router, sendError, sendJson, type Ctx } from './http.js';
import type { Logger } from '../../common/log.js';
import { errorMessage, httpStatus, invalidArgument } from '../../common/errors.js';
import { groupId } from '../../common/etc-group.js';
import type { SocketClaim } from '../../common/unixsocket.js';
import { API_VERSION, MIN_API_VERSION, VERSION } from './version.js';
import { compareVersions } from '../../common/compare.js';

const VERSION_PREFIX = /^\/v(\d+(?:\.\d+)*)(?=\/)/;

/** dockerd's VersionMiddleware: a /vX.Y/ outside [MIN_API_VERSION, API_VERSION] is a 400. */
function checkApiVersion(v: string): void {
  if (compareVersions(v, MIN_API_VERSION) < 0) {
    throw invalidArgument(`client version ${v} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  if (compareVersions(v, API_VERSION) > 0) throw invalidArgument(`client version ${v} is too new. Maximum supported API version is ${API_VERSION}`);
}

/** Rewrites an error a handler threw before it is answered (e.g. a bare ENOSPC into a clear one). */
export type ErrorMapper = (err: unknown, method: string, path: string) => unknown;

export function createApiServer(router: Router, log: Logger, mapError: ErrorMapper = (e) => e): http.Server {
  const dispatch = async (req: http.IncomingMessage, res: http.ServerResponse | null, upgraded?: Ctx['upgraded']) => {
    const url = new URL(req.url ?? '/', 'http://tsula');
    // dockerd's middlewares set these on every answer; the docker CLI reads OSType from its
    // ping (`run --device` checks paths against it: "unknown server OS" without it)
    if (res) {
      res.setHeader('Server', `tsula/${VERSION} (linux)`);
      res.setHeader('Api-Version', API_VERSION);
      res.setHeader('Ostype', 'linux');
      res.setHeader('Docker-Experimental', 'false');
    }
    const version = VERSION_PREFIX.exec(url.pathname)?.[1];
    const pathname = url.pathname.replace(VERSION_PREFIX, '');
    // dockerd's OPTIONS route on every path (a CORS preflight): 200, no body
    if (req.method === 'OPTIONS' && res) {
      res.writeHead(200, { 'Content-Length': '0' });
      res.end();
      return;
    }
    const m = router.match(req.method ?? 'GET', pathname);
    if (!m || m === 'method') {
      // dockerd's mux answers a known path's other methods as an unknown route (its
      // MethodNotAllowedHandler is the not-found one)
      const body = { message: 'page not found' };
      if (res) sendJson(res, 404, body);
      else upgraded?.socket.end(rawResponse(404, body));
      return;
    }
    try {
      if (version !== undefined) checkApiVersion(version);
      await m.h({ req, res, params: m.params, query: url.searchParams, upgraded, version: version ?? API_VERSION });
    } catch (err) {
      const e = mapError(err, req.method ?? 'GET', pathname);
      const status = httpStatus(e);
      // a client that hung up mid-upload (Ctrl-C on `tsula load`) is not the daemon's failure
      if (!req.complete && req.destroyed) log.info('client went away mid-request', { method: req.method, path: pathname, err: errorMessage(e) });
      else if (status >= 500) log.error('request failed', { method: req.method, path: pathname, err: errorMessage(e) });
      else log.debug('request refused', { method: req.method, path: pathname, err: errorMessage(e) });
      if (res) sendError(res, e, req);
      else if (upgraded && !upgraded.socket.destroyed) upgraded.socket.end(rawResponse(status, { message: errorMessage(e) }));
    }
  };
  const server = http.createServer({ keepAliveTimeout: 5000 }, (req, res) => { void dispatch(req, res); });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    void dispatch(req, null, { socket, head });
  });
  server.on('clientError', (_err, socket) => { socket.end('HTTP/1.1 400 Bad Request\r\n\r\n'); });
  // long-lived streams (logs -f, events, wait) must not be cut by a request timeout
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  return server;
}

function rawResponse(status: number, body: unknown): string {
  const text = JSON.stringify(body) + '\n';
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}

/**
 * Listen on the claimed API socket: mode 0660, group `group` when it exists (the claim
 * refused a path another live server answers on, and removes the socket only while ours).
 */
export async function listenUnix(server: http.Server, claim: SocketClaim, group: string, log: Logger): Promise<void> {
  const gid = await groupId(group);
  await claim.listen(server, {
    mode: 0o660,
    prepare: async (p) => {
      if (gid !== null) await fs.chown(p, 0, gid).catch((e) => log.warn('cannot chown API socket', { err: errorMessage(e) }));
    },
  });
}

