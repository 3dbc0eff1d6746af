// A distribution-spec v2 client over node:http(s): which endpoints serve a registry (its
// mirrors from "registry-mirrors" first, then the registry itself; HTTPS, with plain HTTP
// only for "insecure-registries", loopback and http:// mirrors), the TLS trust for each host
// (docker's certs.d: <dir>/<host[:port]>/*.crt are CA roots added to the system's,
// client.cert + client.key a client certificate), authentication on 401, redirects, and
// registry errors turned into tsula's error kinds with a message that names the registry and
// the fix. Pull-side operations on one repository are in repository.ts.
import { createHash } from '../../common/crypto.js';
import { lookup } from 'node:dns/promises';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Readable } from 'node:stream';
import { invalidArgument, TsulaError, unauthenticated, unavailable } from '../../common/errors.js';
import { DEFAULT_DOMAIN } from '../reference.js';
import { Authenticator, RegistryAuthError, type AuthConfig } from './auth.js';
import { parseInsecureRegistry } from './insecure.js';
import { canonicalMirror, registryHostKey, type MirrorMap } from './mirrors.js';
import { registrySecureContext } from './trust.js';
import { goDialError } from '../../common/go-errno.js';
import { proxyFor, tunnelingAgent, viaHttpProxy } from '../../common/proxy.js';

const USER_AGENT = 'tsula/0.1.0';
const DOCKER_HUB = 'registry-1.docker.io';
const TLS_PLAIN = /wrong version number|packet length too long|unknown protocol|http request/i;
const CERT_CODES = new Set(['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_NOT_YET_VALID']);

export interface RegistryOptions {
  insecureRegistries?: string[];
  /** Registry host (as references name it: docker.io, registry.k8s.io) → mirror URLs, tried in order. */
  mirrors?: MirrorMap;
  /** daemon.json, named in messages that tell the user what to change. */
  configFile?: string;
  /**
   * Roots of per-registry TLS dirs, docker's certs.d layout (<root>/<host[:port]>/ca.crt …),
   * searched in order; default DEFAULT_CERTS_DIRS.
   */
  certsDirs?: string[];
  /** Treat loopback like any other host (HTTPS unless listed). For tests of the refusal path. */
  secureLoopback?: boolean;
  /** Socket idle timeout, ms (default 60 s). */
  timeoutMs?: number;
  debug?: (msg: string) => void;
}

/** Where docker and tsula look for a registry's CA and client certificates. */
export const DEFAULT_CERTS_DIRS = ['/etc/tsula/certs.d', '/etc/docker/certs.d'];

/** A registry's TLS material from its certs.d dir: extra CA roots and a client certificate. */
interface HostTls { ca: Buffer[]; cert?: Buffer; key?: Buffer; dir: string }

/**
 * Read <root>/<host>/ of the first root that has that dir, as docker does: every *.crt is a
 * CA, a *.cert with the *.key of the same name is the client's certificate (a half pair is
 * an error naming the missing file). Null when no root has a dir for the host.
 */
export async function readHostTls(roots: string[], host: string): Promise<HostTls | null> {
  if (!host || host.includes('/') || host.startsWith('.')) return null;
  for (const root of roots) {
    const dir = path.join(root, host);
    const names = await fs.readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return null;
      throw unavailable(`cannot read the TLS dir ${dir} of registry ${host}: ${e.message}`);
    });
    if (!names) continue;
    const out: HostTls = { ca: [], dir };
    for (const n of names.sort()) {
      if (n.endsWith('.crt')) out.ca.push(await fs.readFile(path.join(dir, n)));
      if (n.endsWith('.cert')) {
        const key = `${n.slice(0, -'.cert'.length)}.key`;
        if (!names.includes(key)) throw invalidArgument(`registry ${host}: ${path.join(dir, n)} has no key ${key} beside it`);
        out.cert = await fs.readFile(path.join(dir, n));
        out.key = await fs.readFile(path.join(dir, key));
      }
      if (n.endsWith('.key') && !names.includes(`${n.slice(0, -'.key'.length)}.cert`)) {
        throw invalidArgument(`registry ${host}: ${path.join(dir, n)} has no certificate ${n.slice(0, -'.key'.length)}.cert beside it`);
      }
    }
    return out;
  }
  return null;
}

export interface Endpoint {
  /** Registry host[:port] (what refs and credentials name), or the mirror's canonical URL. */
  name: string;
  /** Fixed base URL, /v2/ lives under its path (mirrors); for registries the scheme is found on first contact. */
  base?: URL;
  host: string;
  mirror: boolean;
}

/** Read a response body, refusing more than `limit` bytes. */
export async function readLimited(res: http.IncomingMessage, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > limit) { res.destroy(); throw invalidArgument(`${what} is larger than ${limit} bytes`); }
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

function hostOnly(host: string): string {
  const h = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, '');
  return h.toLowerCase();
}

function isLoopback(ip: string): boolean {
  return (net.isIPv4(ip) && ip.startsWith('127.')) || ip === '::1' || ip.startsWith('::ffff:127.');
}

/** Docker's registry-error text ("manifest unknown: manifest unknown"), from an errors[] body. */
export async function registryErrorText(res: http.IncomingMessage): Promise<string> {
  const buf = await readLimited(res, 64 << 10, 'error body').catch(() => Buffer.alloc(0));
  const text = buf.toString('utf8').trim();
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> };
    const parts = (body.errors ?? []).map((e) => `${(e.code ?? 'error').toLowerCase().replace(/_/g, ' ')}: ${e.message ?? ''}`);
    if (parts.length) return parts.join('; ');
  } catch { /* not JSON */ }
  return text.slice(0, 200) || `${res.statusCode} ${http.STATUS_CODES[res.statusCode ?? 0] ?? ''}`.trim();
}

/** A request body: bytes, or a file-like stream of known length (opened again on a retry). */
export type Body = string | Buffer | { open: () => Readable; length: number };

export class RegistryClient {
  readonly auth: Authenticator;
  private readonly agents = {
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: null as https.Agent | null, // made on first use: trust.ts may read a file then
    insecure: new https.Agent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: false }),
  };
  private readonly schemes = new Map<string, 'http:' | 'https:'>();
  /** Agents for registries with a certs.d dir, by host and the digest of what the dir holds. */
  private readonly tlsAgents = new Map<string, https.Agent>();
  private readonly insecureCache = new Map<string, Promise<boolean>>();
  /** CONNECT-tunnelling twins of the https agents, by proxy (common/proxy.ts). */
  private readonly tunnels = new WeakMap<https.Agent, Map<string, https.Agent>>();
  private readonly tunnelList: https.Agent[] = [];
  private readonly cidrs = new net.BlockList();
  private readonly names = new Set<string>();

  constructor(readonly opts: RegistryOptions = {}) {
    // (daemon.json's were checked at the start: one that is no entry is nobody's to trust)
    for (const raw of opts.insecureRegistries ?? []) {
      const e = parseInsecureRegistry(raw.trim());
      if ('cidr' in e) this.cidrs.addSubnet(e.cidr.address, e.cidr.prefix, e.cidr.family);
      else if ('host' in e) this.names.add(e.host);
    }
    this.auth = new Authenticator(async (url, init) => {
      const res = await this.send(url, { method: init.method, headers: { 'User-Agent': USER_AGENT, ...init.headers }, body: init.body, insecure: await this.isInsecure(url.host) });
      const body = await readLimited(res, 1 << 20, `token from ${url.host}`);
      return { status: res.statusCode ?? 0, body: body.toString('utf8') };
    });
  }

  close(): void {
    for (const a of Object.values(this.agents)) a?.destroy();
    for (const a of this.tlsAgents.values()) a.destroy();
    for (const a of this.tunnelList) a.destroy();
  }

  /** The agent's twin whose connections tunnel through `proxy`. */
  private tunnel(proxy: URL, base: https.Agent): https.Agent {
    let byProxy = this.tunnels.get(base);
    if (!byProxy) this.tunnels.set(base, byProxy = new Map());
    let t = byProxy.get(proxy.href);
    if (!t) { byProxy.set(proxy.href, t = tunnelingAgent(proxy, base, this.opts.timeoutMs)); this.tunnelList.push(t); }
    return t;
  }

  /** The agent for verified HTTPS to a registry without a certs.d dir. */
  private httpsAgent(): https.Agent {
    return this.agents.https ??= new https.Agent({ keepAlive: true, maxSockets: 16, secureContext: registrySecureContext() });
  }

  private get certsDirs(): string[] {
    return this.opts.certsDirs ?? DEFAULT_CERTS_DIRS;
  }

  /**
   * The agent for a verified HTTPS request to host: its certs.d CA and client certificate, if
   * any. The dir is read on every request, as docker does, so a CA put there works at once.
   */
  private async tlsAgent(host: string): Promise<{ agent: https.Agent; dir: string } | null> {
    const t = await readHostTls(this.certsDirs, host);
    if (!t) return null;
    const h = createHash('sha256');
    for (const b of [...t.ca, t.cert ?? Buffer.alloc(0), t.key ?? Buffer.alloc(0)]) h.update(createHash('sha256').update(b).digest());
    const key = `${host} ${h.digest('hex')}`;
    let agent = this.tlsAgents.get(key);
    if (!agent) {
      this.opts.debug?.(`registry ${host}: TLS from ${t.dir} (${t.ca.length} CA file(s)${t.cert ? ', a client certificate' : ''})`);
      const secureContext = registrySecureContext({ ca: t.ca.map((b) => b.toString('utf8')), cert: t.cert, key: t.key });
      agent = new https.Agent({ keepAlive: true, maxSockets: 16, secureContext });
      for (const [k, a] of this.tlsAgents) if (k.startsWith(`${host} `)) { a.destroy(); this.tlsAgents.delete(k); }
      this.tlsAgents.set(key, agent);
    }
    return { agent, dir: t.dir };
  }

  /** Whether `host` may be reached over plain HTTP or HTTPS without verification. */
  isInsecure(host: string): Promise<boolean> {
    let p = this.insecureCache.get(host);
    if (!p) {
      p = this.checkInsecure(host);
      this.insecureCache.set(host, p);
    }
    return p;
  }

  private async checkInsecure(host: string): Promise<boolean> {
    const lower = host.toLowerCase();
    const name = hostOnly(lower);
    if (this.names.has(lower) || this.names.has(name)) return true;
    const ips = net.isIP(name) ? [name] : (await lookup(name, { all: true }).catch(() => [])).map((a) => a.address);
    if (!this.opts.secureLoopback && (name === 'localhost' || ips.some(isLoopback))) return true;
    return ips.some((ip) => this.cidrs.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4'));
  }

  /**
   * Endpoints to try for a registry domain, in order: its mirrors (docker.io's or any other
   * registry's, as "registry-mirrors" lists them), then the registry itself, always last.
   */
  endpoints(domain: string): Endpoint[] {
    const out: Endpoint[] = [];
    for (const m of this.opts.mirrors?.[registryHostKey(domain)] ?? []) {
      let name: string;
      try { name = canonicalMirror(m); } catch { continue; } // daemon.json was checked: only a caller's own list gets here
      const base = new URL(name);
      base.pathname = base.pathname.replace(/\/+$/, ''); // "/" stays: a URL's path is never empty
      out.push({ name, base, host: base.host, mirror: true });
    }
    const host = domain === DEFAULT_DOMAIN ? DOCKER_HUB : domain;
    out.push({ name: domain, host, mirror: false });
    return out;
  }

  /** A request to an endpoint, answering auth challenges once; the caller reads the status. */
  async request(ep: Endpoint, path: string, o: { method?: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'; accept?: string; scope: string; creds?: AuthConfig; headers?: Record<string, string>; body?: Body; signal?: AbortSignal }): Promise<http.IncomingMessage> {
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...o.headers };
      if (o.accept) headers.Accept = o.accept;
      const authz = await this.auth.header(ep.name, o.scope, o.creds);
      if (authz) headers.Authorization = authz;
      const res = await this.sendTo(ep, path, o.method ?? 'GET', headers, o.body, o.signal);
      if (res.statusCode === 401 && attempt === 0) {
        let retry: boolean;
        try {
          retry = await this.auth.challenged(ep.name, res.headers['www-authenticate'], o.scope, o.creds, authz);
        } catch (e) {
          res.resume();
          // as Go's url.Error prints it: `Head "https://host/v2/x/manifests/1": no basic auth credentials`
          const m = o.method ?? 'GET';
          if (e instanceof RegistryAuthError) throw new RegistryAuthError(`${m[0]}${m.slice(1).toLowerCase()} "${this.urlOf(ep, path)}": ${e.message}`);
          throw e;
        }
        if (retry) { res.resume(); continue; }
      }
      return res;
    }
  }

  /** Check credentials against a registry, as docker's POST /auth does (its refusal a 401, errdefs.Unauthorized). */
  async login(server: string, creds: AuthConfig): Promise<void> {
    const ep = this.endpoints(server).at(-1)!;
    this.auth.forget(ep.name);
    let res: http.IncomingMessage;
    try {
      res = await this.request(ep, '/v2/', { scope: '', creds });
    } catch (e) {
      throw e instanceof RegistryAuthError ? unauthenticated(e.message) : e;
    }
    if (res.statusCode === 200) { res.resume(); return; }
    const text = await registryErrorText(res);
    const code = res.statusCode ?? 0;
    // dockerd's loginV2 words it so (the registry's own text is in tsulad's log only)
    if (code === 401 || code === 403) throw unauthenticated(`login attempt to ${this.urlOf(ep, '/v2/')} failed with status: ${code} ${http.STATUS_CODES[code] ?? ''}`.trim());
    throw unavailable(`login to ${server} failed: the registry answered ${code}: ${text}`);
  }

  /** The URL a request to `path` of `ep` went to (the scheme it was found to speak). */
  private urlOf(ep: Endpoint, path: string): string {
    if (/^https?:\/\//i.test(path)) return path;
    if (ep.base) return ep.base.toString().replace(/\/+$/, '') + path;
    return `${this.schemes.get(ep.host) ?? 'https:'}//${ep.host}${path}`;
  }

  private async sendTo(ep: Endpoint, path: string, method: string, headers: Record<string, string>, body?: Body, signal?: AbortSignal): Promise<http.IncomingMessage> {
    // an upload's Location: absolute, or a path on the registry; credentials go to the registry's host only
    if (/^https?:\/\//i.test(path)) {
      const url = new URL(path);
      const h = { ...headers };
      if (url.host !== ep.host && url.host !== ep.base?.host) delete h.Authorization;
      return this.send(url, { method, headers: h, body, signal, insecure: await this.isInsecure(url.host) });
    }
    if (ep.base) {
      const u = new URL(ep.base.toString());
      // a URL's path is never empty ("/" at least): join without doubling the slash
      u.pathname = ep.base.pathname.replace(/\/+$/, '') + path;
      return this.send(u, { method, headers, body, signal, insecure: await this.isInsecure(ep.host) });
    }
    const insecure = await this.isInsecure(ep.host);
    const known = this.schemes.get(ep.host);
    const url = (scheme: string) => new URL(`${scheme}//${ep.host}${path}`);
    if (known) return this.send(url(known), { method, headers, body, signal, insecure });
    try {
      const res = await this.send(url('https:'), { method, headers, body, signal, insecure });
      this.schemes.set(ep.host, 'https:');
      return res;
    } catch (e) {
      const cause = (e as { cause?: NodeJS.ErrnoException }).cause;
      const tlsFailed = !!cause && TLS_PLAIN.test(cause.message);
      // A plain-HTTP server answers a TLS hello with garbage (or hangs up): try HTTP where allowed.
      if (!tlsFailed && !(insecure && cause?.code === 'ECONNRESET')) throw e;
      if (!insecure) {
        throw unavailable(`registry ${ep.host} speaks plain HTTP: add it to "insecure-registries" in ${this.opts.configFile ?? '/etc/tsula/daemon.json'} (then restart tsulad) if you trust it`);
      }
      this.opts.debug?.(`registry ${ep.host}: no TLS, using plain HTTP`);
      const res = await this.send(url('http:'), { method, headers, body, signal, insecure });
      this.schemes.set(ep.host, 'http:');
      return res;
    }
  }

  /** One HTTP exchange, following redirects (dropping Authorization when the origin changes). */
  async send(url: URL, o: { method: string; headers: Record<string, string>; body?: Body; insecure: boolean; signal?: AbortSignal }, redirects = 0): Promise<http.IncomingMessage> {
    const isHttps = url.protocol === 'https:';
    const own = isHttps && !o.insecure ? await this.tlsAgent(url.host) : null;
    const direct = isHttps ? (o.insecure ? this.agents.insecure : own?.agent ?? this.httpsAgent()) : this.agents.http;
    // HTTPS_PROXY / HTTP_PROXY / NO_PROXY from tsulad's environment, as dockerd's
    let proxy: URL | null;
    try {
      proxy = proxyFor(url);
    } catch (e) {
      throw unavailable(`registry ${url.host}: ${(e as Error).message} (tsulad's ${isHttps ? 'HTTPS_PROXY' : 'HTTP_PROXY'})`);
    }
    const agent = proxy && isHttps ? this.tunnel(proxy, direct as https.Agent) : direct;
    const plainViaProxy = proxy && !isHttps ? viaHttpProxy(url, proxy) : null;
    const headers = { ...o.headers, ...(plainViaProxy?.headers as Record<string, string> | undefined) };
    const body = o.body;
    if (typeof body === 'string' || Buffer.isBuffer(body)) headers['Content-Length'] = String(Buffer.byteLength(body));
    else if (body) headers['Content-Length'] = String(body.length);
    return new Promise<http.IncomingMessage>((resolve, reject) => {
      // a signal that fires destroys the request (an upload under way stops sending)
      const onRes = (res: http.IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if ([301, 302, 303, 307, 308].includes(status) && res.headers.location && (o.method === 'GET' || o.method === 'HEAD')) {
          res.resume();
          if (redirects >= 5) { reject(unavailable(`too many redirects from ${url.host}`)); return; }
          const next = new URL(res.headers.location, url);
          const h = { ...o.headers };
          if (next.origin !== url.origin) delete h.Authorization;
          resolve(this.send(next, { ...o, headers: h, insecure: o.insecure && next.host === url.host }, redirects + 1));
          return;
        }
        res.setTimeout(this.opts.timeoutMs ?? 60_000, () => res.destroy(unavailable(`registry ${url.host} stopped sending data`)));
        resolve(res);
      };
      const signal = o.signal ? { signal: o.signal } : {};
      const req = plainViaProxy
        ? (proxy!.protocol === 'https:' ? https : http).request({ ...plainViaProxy, method: o.method, headers, ...(proxy!.protocol === 'https:' ? {} : { agent }), ...signal }, onRes)
        : (isHttps ? https : http).request(url, { method: o.method, headers, agent, ...signal }, onRes);
      req.setTimeout(this.opts.timeoutMs ?? 60_000, () => req.destroy(unavailable(`registry ${url.host} did not answer in time`)));
      req.on('error', (e: NodeJS.ErrnoException) => reject(this.transportError(url, e, own?.dir)));
      if (body && typeof body !== 'string' && !Buffer.isBuffer(body)) {
        const src = body.open();
        src.on('error', (e) => req.destroy(e));
        req.once('close', () => src.destroy()); // a request that ends early leaves no file open
        src.pipe(req);
      } else {
        req.end(body);
      }
    });
  }

  private transportError(url: URL, e: NodeJS.ErrnoException, tlsDir?: string): Error {
    if (e instanceof TsulaError) return e;
    if (e.message.startsWith('proxyconnect')) return unavailable(`registry ${url.host}: ${e.message} (the proxy in tsulad's ${url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY'})`);
    const code = e.code ?? '';
    if (TLS_PLAIN.test(e.message)) return new TsulaError('Unavailable', `registry ${url.host}: TLS handshake failed: ${e.message}`, { cause: e });
    // the server refused the handshake: it wants a client certificate, or not the one we sent
    if (/alert (bad certificate|certificate required|unknown ca|handshake failure)|alert number 4[0-9]|alert number 116/i.test(e.message)) {
      const where = tlsDir ?? path.join(this.certsDirs[0] ?? DEFAULT_CERTS_DIRS[0]!, url.host);
      return unavailable(`registry ${url.host} refused the TLS handshake (${e.message.trim()}): it may want a client certificate: put client.cert and client.key in ${where}`);
    }
    if (code === 'ECONNRESET') return new TsulaError('Unavailable', `registry ${url.host} closed the connection: ${e.message}`, { cause: e });
    if (CERT_CODES.has(code)) {
      const ca = path.join(tlsDir ?? path.join(this.certsDirs[0] ?? DEFAULT_CERTS_DIRS[0]!, url.host), 'ca.crt');
      const how = code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
        ? `the certificate does not fit (${tlsDir ? `CA from ${tlsDir}` : 'system CAs'})`
        : tlsDir ? `no CA in ${tlsDir} signed it` : `put the CA that signed it in ${ca}`;
      return unavailable(`registry ${url.host}: TLS certificate not trusted (${code}: ${e.message}): ${how}, or add the registry to "insecure-registries" in ${this.opts.configFile ?? '/etc/tsula/daemon.json'} if you trust it`);
    }
    const dial = goDialError(e, url);
    if (dial) return unavailable(`registry ${url.host} is unreachable: ${dial} (is the registry running and the name right?)`);
    return unavailable(`registry ${url.host}: ${e.message}`);
  }
}

