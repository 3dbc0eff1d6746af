// The server side of the WebSocket opening handshake (RFC 6455 §4.2) as kubelet's streaming
// server answers it: golang.org/x/net/websocket's handshake with apimachinery wsstream's
// subprotocol choice. What it refuses it refuses with x/net's bare answers (a status line,
// an empty header block, the error's text), and the connection closes.
import { createHash } from '../crypto.js';
import type http from 'node:http';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** wsstream.IsWebSocketRequest: `Upgrade: websocket` and a Connection header naming upgrade. */
export function isWebSocketRequest(req: http.IncomingMessage): boolean {
  const upgrade = req.headersDistinct.upgrade?.[0] ?? '';
  const connection = (req.headersDistinct.connection?.[0] ?? '').toLowerCase();
  return upgrade.toLowerCase() === 'websocket' && /(^|.*,\s*)upgrade($|\s*,)/.test(connection);
}

/** Sec-WebSocket-Accept: base64(SHA-1(key + GUID)). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(key + GUID).digest('base64');
}

/** The subprotocols the client offers, in its order (every header line, comma-separated). */
export function offeredProtocols(req: http.IncomingMessage): string[] {
  return (req.headersDistinct['sec-websocket-protocol'] ?? []).flatMap((v) => v.split(',')).map((p) => p.trim()).filter(Boolean);
}

/**
 * wsstream's handshake: the first protocol the client offers that the server supports; a
 * client offering none gets the "" protocol when the server lists it.
 */
export function chooseProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  return (offered.length ? offered : ['']).find((p) => supported.includes(p));
}

export type Handshake =
  | { ok: true; protocol: string; response: string }
  | { ok: false; response: string };

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 405: 'Method Not Allowed' };

function refuse(status: number, body = '', headers = ''): Handshake {
  return { ok: false, response: `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n${headers}\r\n${body}` };
}

/** Checks the client's opening handshake and answers it: a 101 to write, or a refusal. */
export function handshake(req: http.IncomingMessage, supported: readonly string[]): Handshake {
  if (req.method !== 'GET') return refuse(405, 'bad method');
  const key = req.headersDistinct['sec-websocket-key']?.[0]?.trim();
  if (!key) return refuse(400, 'mismatch challenge/response');
  if (req.headersDistinct['sec-websocket-version']?.[0]?.trim() !== '13') {
    return refuse(400, 'missing or bad WebSocket Version', 'Sec-WebSocket-Version: 13\r\n');
  }
  const protocol = chooseProtocol(offeredProtocols(req), supported);
  // x/net writes no reason and no body when the handshake callback says no.
  if (protocol === undefined) return refuse(403);
  // The "" protocol (a client that offered none) is not named back: a client must not be
  // answered a subprotocol it did not ask for (§4.1).
  const named = protocol ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '';
  return {
    ok: true,
    protocol,
    response: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
      + `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n${named}\r\n`,
  };
}
