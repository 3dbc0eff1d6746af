// Registry authentication as the distribution spec and docker do it: a request answered
// 401 carries `WWW-Authenticate: Bearer realm=…,service=…,scope=…` (get a token from the
// realm, with the user's credentials as Basic auth, then retry with `Authorization: Bearer`)
// or `Basic realm=…` (send the credentials themselves). Credentials reach the daemon per
// request in docker's `X-Registry-Auth` header: base64url JSON {username,password,…}.
import { createHash } from '../../common/crypto.js';
import { TsulaError, invalidArgument } from '../../common/errors.js';
import { SingleFlight } from '../../common/singleflight.js';

/** docker's types.AuthConfig (the fields tsula uses). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:pass"), as stored in config.json files. */
  auth?: string;
  serveraddress?: string;
  /** An OAuth2 refresh token (docker's IdentityToken). */
  identitytoken?: string;
  /** A bearer token to send as is. */
  registrytoken?: string;
  /**
   * Only for the host serveraddress names (containerd's CRI ParseAuth): kubelet's credentials
   * go to no other registry. Docker's X-Registry-Auth is used for the image's registry as given.
   */
  onlyForServer?: boolean;
}

export interface Challenge {
  scheme: string; // lower case: "bearer", "basic"
  params: Record<string, string>;
}

/** Decode the X-Registry-Auth header; undefined when absent or empty ("e30=" is "{}"). */
export function decodeRegistryAuth(header: string | string[] | undefined): AuthConfig | undefined {
  const h = Array.isArray(header) ? header[0] : header;
  if (!h || !h.trim()) return undefined;
  let raw: unknown;
  try {
    // base64url as docker sends it; node's decoder takes the standard alphabet too.
    raw = JSON.parse(Buffer.from(h.trim(), 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument('invalid X-Registry-Auth header: want base64url-encoded JSON');
  }
  return normalizeAuth(raw);
}

export function encodeRegistryAuth(a: AuthConfig): string {
  return Buffer.from(JSON.stringify(a)).toString('base64url');
}

/** Check the shape of an auth config (from a header or a POST /auth body); fill user/pass from `auth`. */
export function normalizeAuth(raw: unknown): AuthConfig | undefined {
  if (raw === null || raw === undefined) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalidArgument('invalid registry auth: want a JSON object');
  const out: AuthConfig = {};
  for (const k of ['username', 'password', 'auth', 'serveraddress', 'identitytoken', 'registrytoken'] as const) {
    const v = (raw as Record<string, unknown>)[k] ?? (raw as Record<string, unknown>)[k[0]!.toUpperCase() + k.slice(1)];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') throw invalidArgument(`invalid registry auth: "${k}" must be a string`);
    out[k] = v;
  }
  if (out.auth && out.username === undefined) {
    const plain = Buffer.from(out.auth, 'base64').toString('utf8');
    const colon = plain.indexOf(':');
    if (colon < 0) throw invalidArgument('invalid registry auth: "auth" is not base64 of user:password');
    out.username = plain.slice(0, colon);
    out.password = plain.slice(colon + 1);
  }
  return Object.keys(out).length ? out : undefined;
}

/** Parse a WWW-Authenticate header into its challenges (RFC 7235: scheme, then k=v or k="v" pairs). */
export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  const text = Array.isArray(header) ? header.join(', ') : header ?? '';
  const out: Challenge[] = [];
  let i = 0;
  const ws = () => { while (i < text.length && /[\s,]/.test(text[i]!)) i++; };
  const token = () => { const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(text.slice(i)); if (!m) return ''; i += m[0].length; return m[0]; };
  while (i < text.length) {
    ws();
    const scheme = token();
    if (!scheme) { i++; continue; }
    const c: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(c);
    for (;;) {
      const save = i;
      ws();
      const key = token();
      while (i < text.length && text[i] === ' ') i++;
      if (!key || text[i] !== '=') { i = save; break; } // the next challenge's scheme
      i++;
      while (i < text.length && text[i] === ' ') i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i++];
        }
        i++;
      } else {
        value = token();
      }
      c.params[key.toLowerCase()] = value;
    }
  }
  return out;
}

export interface TokenResponse { status: number; body: string }
/** How the authenticator reaches a token realm (the registry client's transport). */
export type TokenFetch = (url: URL, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }) => Promise<TokenResponse>;

interface CachedToken { token: string; expires: number }

function credsKey(c?: AuthConfig): string {
  if (!c) return '-';
  return createHash('sha256').update(JSON.stringify([c.username, c.password, c.identitytoken, c.registrytoken])).digest('hex').slice(0, 16);
}

export function basicHeader(c: AuthConfig): string {
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

export const NO_BASIC_AUTH = 'no basic auth credentials';

/**
 * The registry's auth failed. A pull or push says so as dockerd does, with a 500 (moby's
 * translatePullError makes it errdefs.Unknown): a 401 would make the docker CLI prompt for a
 * login, and docker 28 waits there for ever without a TTY. A login (POST /auth) makes it a 401.
 */
export class RegistryAuthError extends TsulaError {
  constructor(message: string) {
    super('Internal', message);
  }
}
const registryAuthError = (m: string) => new RegistryAuthError(m);

const hasPassword = (c?: AuthConfig): c is AuthConfig => !!c && c.username !== undefined && c.password !== undefined;

/**
 * Remembers, per registry endpoint, which challenge it answered with, and caches bearer
 * tokens per (realm, service, scope, credentials) until they expire, so that only the first
 * request of a pull pays for the 401 round trip.
 */
export class Authenticator {
  private challenges = new Map<string, Challenge>();
  private tokens = new Map<string, CachedToken>();
  private inflight = new SingleFlight<string>();

  constructor(private readonly fetchToken: TokenFetch) {}

  /** The Authorization header to send to `endpoint` for `scope`, when its challenge is known. */
  async header(endpoint: string, scope: string, creds?: AuthConfig): Promise<string | undefined> {
    if (creds?.registrytoken) return `Bearer ${creds.registrytoken}`;
    const c = this.challenges.get(endpoint);
    if (!c) return undefined;
    if (c.scheme === 'basic') return hasPassword(creds) ? basicHeader(creds) : undefined;
    if (c.scheme === 'bearer') return `Bearer ${await this.token(c, scope, creds)}`;
    return undefined;
  }

  /**
   * Learn from a 401 to a request that carried `sent` (its Authorization, if any). Returns
   * whether retrying can help: a challenge we can answer that this request had not answered
   * (another request may have learnt it meanwhile: parallel first pulls each retry), or a
   * cached token that was refused. Throws when the registry wants credentials we do not have.
   */
  async challenged(endpoint: string, wwwAuthenticate: string | string[] | undefined, scope: string, creds?: AuthConfig, sent?: string): Promise<boolean> {
    const all = parseChallenges(wwwAuthenticate);
    const c = all.find((x) => x.scheme === 'bearer') ?? all.find((x) => x.scheme === 'basic');
    if (!c) return false;
    const known = this.challenges.get(endpoint);
    this.challenges.set(endpoint, c);
    if (c.scheme === 'basic') {
      // dockerd's registry client fails this way (docker/distribution's ErrNoBasicAuthCredentials)
      if (!hasPassword(creds)) throw registryAuthError(NO_BASIC_AUTH);
      // credentials this request sent were refused: trying them again cannot help
      return !sent?.startsWith('Basic ');
    }
    if (!c.params.realm) throw registryAuthError(`registry sent a bearer challenge without a realm: ${String(wwwAuthenticate)}`);
    // A token we already sent was refused: drop it and try once with a fresh one.
    const key = this.tokenKey(c, scope, creds);
    const had = this.tokens.delete(key);
    return !known || known.scheme !== 'bearer' || !sent?.startsWith('Bearer ') || had;
  }

  /** Drop what is remembered for an endpoint (a login check must really ask the registry). */
  forget(endpoint: string): void {
    this.challenges.delete(endpoint);
  }

  private tokenKey(c: Challenge, scope: string, creds?: AuthConfig): string {
    return JSON.stringify([c.params.realm, c.params.service ?? '', scope, credsKey(creds)]);
  }

  private async token(c: Challenge, scope: string, creds?: AuthConfig): Promise<string> {
    const key = this.tokenKey(c, scope, creds);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    return this.inflight.do(key, () => this.fetch(c, scope, creds).then((t) => { this.tokens.set(key, t); return t.token; }));
  }

  private async fetch(c: Challenge, scope: string, creds?: AuthConfig): Promise<CachedToken> {
    let realm: URL;
    try {
      realm = new URL(c.params.realm!);
    } catch {
      throw registryAuthError(`registry sent an invalid token realm "${c.params.realm}"`);
    }
    // a scope may name several (a cross-repository mount: "repository:a:pull,push repository:b:pull")
    const scopes = [...new Set([...scope.split(' '), c.params.scope].filter((s): s is string => !!s))];
    let res: TokenResponse;
    if (creds?.identitytoken) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.identitytoken, client_id: 'tsula' });
      if (c.params.service) form.set('service', c.params.service);
      if (scopes.length) form.set('scope', scopes.join(' '));
      res = await this.fetchToken(realm, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    } else {
      const url = new URL(realm);
      if (c.params.service) url.searchParams.set('service', c.params.service);
      for (const s of scopes) url.searchParams.append('scope', s);
      const headers: Record<string, string> = {};
      if (hasPassword(creds)) { headers.Authorization = basicHeader(creds); url.searchParams.set('account', creds.username!); }
      res = await this.fetchToken(url, { method: 'GET', headers });
    }
    if (res.status === 401 || res.status === 403) {
      throw registryAuthError(`unauthorized: ${hasPassword(creds) ? 'incorrect username or password' : 'authentication required'} (token server ${realm.host} answered ${res.status}${detail(res.body)})`);
    }
    if (res.status !== 200) throw registryAuthError(`token server ${realm.host} answered ${res.status}${detail(res.body)}`);
    let body: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown };
    try {
      body = JSON.parse(res.body) as typeof body;
    } catch {
      throw registryAuthError(`token server ${realm.host} sent malformed JSON`);
    }
    const token = typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw registryAuthError(`token server ${realm.host} sent no token`);
    // The spec's default lifetime is 60 s; renew 10 s early.
    const life = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    return { token, expires: Date.now() + Math.max(1, life - 10) * 1000 };
  }
}

function detail(body: string): string {
  const t = body.trim().replace(/\s+/g, ' ').slice(0, 200);
  return t ? `: ${t}` : '';
}
