// The WebSocket side of GET /containers/{id}/attach/ws as dockerd serves it (golang.org/x/net's
// websocket Server, no subprotocol, no origin check): each write one message, each message
// from the client input. A WebSocket has no half-close: the client's close frame, or its
// leaving, is both the end of its input and the end of the connection.
import type { Socket } from 'node:net';
import { WsConnection } from '../../common/websocket/connection.js';
import { handshake, isWebSocketRequest, offeredProtocols } from '../../common/websocket/handshake.js';
import { invalidArgument } from '../../common/errors.js';
import type { Ctx, RawStream } from './http.js';

export function webSocketStream(ctx: Ctx, type: 'text' | 'binary'): RawStream {
  const up = ctx.upgraded;
  if (!up || !isWebSocketRequest(ctx.req)) throw invalidArgument('this endpoint takes a WebSocket (Upgrade: websocket)');
  // x/net answers a client's one subprotocol back; we take whatever it offers first
  const hs = handshake(ctx.req, [offeredProtocols(ctx.req)[0] ?? '']);
  if (!hs.ok) {
    up.socket.end(hs.response);
    return closedStream();
  }
  up.socket.write(hs.response);
  const inputCbs: Array<(d: Buffer) => void> = [];
  let pending: Buffer[] = [];
  let gone = false;
  const goneCbs: Array<() => void> = [];
  const ws = new WsConnection(up.socket as Socket, {
    onMessage: (_t, data) => { if (inputCbs.length) for (const cb of inputCbs) cb(data); else pending.push(data); },
  });
  void ws.done.then(() => { gone = true; for (const cb of goneCbs.splice(0)) cb(); });
  ws.feed(up.head);
  const later = (cb: () => void) => { if (gone) cb(); else goneCbs.push(cb); };
  return {
    write: (d) => { if (!ws.isClosing) ws.send(type, d); },
    end: () => ws.close(),
    onInput: (cb) => { inputCbs.push(cb); for (const d of pending) cb(d); pending = []; },
    onInputEnd: later,
    onClose: later,
  };
}

/** The handshake was refused (and answered): a stream that is over. */
function closedStream(): RawStream {
  return { write: () => {}, end: () => {}, onInput: () => {}, onInputEnd: (cb) => cb(), onClose: (cb) => cb() };
}
