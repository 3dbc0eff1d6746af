// HTTP(S)_PROXY and NO_PROXY for the daemon's own requests (registries, token servers,
// `docker import URL`, `ADD <url>`), as dockerd's Go transport takes them from its
// environment (golang.org/x/net/http/httpproxy): HTTPS_PROXY for https URLs, HTTP_PROXY for
// http ones, upper case before lower; NO_PROXY's hosts, domains (and their subdomains),
// IPs and CIDRs, with an optional port, or `*`; localhost and loopback addresses never go
// through a proxy. https goes through a CONNECT tunnel, http as an absolute URI to the proxy.
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';

type Env = Record<string, string | undefined>;

// Go's getEnvAny: the first of the two spellings that is set and not empty
const envOf = (env: Env, name: string): string => env[name] || env[name.toLowerCase()] || '';

/** The proxy's address for messages: its userinfo (a password) left out. */
const shown = (raw: string): string => raw.replace(/\/\/[^@/]*@/, '//***@').replace(/^[^/@]*@/, '***@');

/** The proxy for `url` from the environment, or null (none set, NO_PROXY, loopback). */
export function proxyFor(url: URL, env: Env = process.env): URL | null {
  const raw = envOf(env, url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY').trim();
  if (!raw) return null;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || isLoopback(host)) return null;
  if (noProxy(host, url.port || (url.protocol === 'https:' ? '443' : '80'), envOf(env, 'NO_PROXY'))) return null;
  // Go's parseProxy: a value without a scheme is http://
  let proxy: URL;
  try {
    proxy = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`);
  } catch {
    throw new Error(`invalid proxy address ${JSON.stringify(shown(raw))}`);
  }
  if (proxy.protocol !== 'http:' && proxy.protocol !== 'https:') throw new Error(`proxy ${proxy.protocol}//${proxy.host}: only http and https proxies are supported`);
  return proxy;
}

function isLoopback(host: string): boolean {
  const v4 = host.toLowerCase().replace(/^::ffff:/, '');
  return net.isIPv4(v4) ? v4.startsWith('127.') : net.isIPv6(host) ? host === '::1' : false;
}

/** Whether NO_PROXY's list spares host:port. */
export function noProxy(host: string, port: string, list: string): boolean {
  for (let entry of list.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (entry === '*') return true;
    // a CIDR
    const slash = entry.indexOf('/');
    if (slash > 0 && net.isIP(entry.slice(0, slash))) {
      if (net.isIP(host) && inCidr(host, entry.slice(0, slash), Number(entry.slice(slash + 1)))) return true;
      continue;
    }
    if (net.isIP(entry.replace(/^\[|\]$/g, ''))) { if (entry.replace(/^\[|\]$/g, '') === host) return true; continue; }
    // host[:port], .domain[:port]
    let entryPort = '';
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m) { entry = m[1]!; entryPort = m[2]!; }
    if (entryPort && entryPort !== port) continue;
    if (net.isIP(entry.replace(/^\[|\]$/g, ''))) { if (entry.replace(/^\[|\]$/g, '') === host) return true; continue; }
    if (entry.startsWith('*.')) entry = entry.slice(1);
    if (entry.startsWith('.')) { if (host.endsWith(entry)) return true; continue; }
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

function inCidr(ip: string, base: string, bits: number): boolean {
  const list = new net.BlockList();
  try {
    list.addSubnet(base, bits, net.isIPv6(base) ? 'ipv6' : 'ipv4');
    return list.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

function proxyAuth(proxy: URL): Record<string, string> {
  if (!proxy.username) return {};
  const decode = (s: string) => { try { return decodeURIComponent(s); } catch { return s; } };
  const user = decode(proxy.username);
  const pass = decode(proxy.password);
  return { 'Proxy-Authorization': `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}` };
}

/** CONNECT's deadline, as Go's Transport gives it when the request has none. */
export const CONNECT_TIMEOUT_MS = 60_000;

/** A socket to host:port through the proxy's CONNECT (within timeoutMs). */
export function connectThrough(proxy: URL, host: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    const target = `${net.isIPv6(host) ? `[${host}]` : host}:${port}`;
    const req = (proxy.protocol === 'https:' ? https : http).request({
      host: proxy.hostname, port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80),
      method: 'CONNECT', path: target, headers: { Host: target, ...proxyAuth(proxy) }, agent: false,
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        reject(new Error(`proxyconnect tcp: proxy ${proxy.host} answered CONNECT ${target} with ${res.statusCode} ${res.statusMessage ?? ''}`.trim()));
        return;
      }
      resolve(socket);
    });
    req.once('error', (e) => reject(Object.assign(new Error(`proxyconnect tcp: ${e.message}`), { code: (e as NodeJS.ErrnoException).code })));
    // a proxy that takes the connection and never answers: the dial fails, not hangs
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`proxy ${proxy.host} did not answer CONNECT ${target} in ${timeoutMs / 1000} s`)));
    req.end();
  });
}

/**
 * An https agent whose connections are CONNECT tunnels through `proxy`, with `base`'s TLS
 * options (its CA, client certificate, verification), keeping connections alive as `base`.
 */
export function tunnelingAgent(proxy: URL, base: https.Agent, timeoutMs = CONNECT_TIMEOUT_MS): https.Agent {
  const agent = new https.Agent({ ...(base as unknown as { options: https.AgentOptions }).options });
  (agent as unknown as { createConnection: unknown }).createConnection = (o: tls.ConnectionOptions & { host: string; port: number }, cb: (e: Error | null, s?: Duplex) => void) => {
    connectThrough(proxy, o.host, Number(o.port), timeoutMs).then((socket) => {
      const t = tls.connect({ ...o, socket, servername: o.servername ?? (net.isIP(o.host) ? undefined : o.host) });
      cb(null, t);
    }, (e: Error) => cb(e));
    return undefined;
  };
  return agent;
}

/** Request options for an http URL through `proxy`: the absolute URI to the proxy itself. */
export function viaHttpProxy(url: URL, proxy: URL): http.RequestOptions {
  return {
    host: proxy.hostname, port: proxy.port || (proxy.protocol === 'https:' ? 443 : 80), path: url.href,
    headers: { Host: url.host, ...proxyAuth(proxy) },
  };
}
