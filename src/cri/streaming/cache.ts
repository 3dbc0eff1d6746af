// Single-use tokens for streaming URLs (kubelet's requestCache): the CRI call that makes a
// URL stores its request under a random token; the first HTTP request with the token takes
// it out. Tokens expire after a minute; at most 1000 wait at a time.
import { randomBytes } from '../../common/crypto.js';
import { unavailable } from '../../common/errors.js';

export const DEFAULT_TOKEN_TTL_MS = 60_000;
export const DEFAULT_MAX_IN_FLIGHT = 1000;
/** kubelet's tokenLen: 8 URL-safe base64 characters (48 random bits). */
const TOKEN_LEN = 8;

export interface RequestCacheOptions {
  ttlMs?: number;
  maxInFlight?: number;
  /** Milliseconds since the epoch; a test passes its own clock. */
  now?: () => number;
}

export class RequestCache<T> {
  // Insertion order is age order (Map keeps it), so expired entries are at the front.
  private readonly entries = new Map<string, { req: T; expires: number }>();
  private readonly ttlMs: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;

  constructor(opts: RequestCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    this.maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    this.now = opts.now ?? Date.now;
  }

  get size(): number { return this.entries.size; }

  insert(req: T): string {
    this.gc();
    if (this.entries.size >= this.maxInFlight) throw unavailable('maximum number of in-flight requests exceeded');
    for (let i = 0; i < 10; i++) {
      const token = randomBytes(6).toString('base64url').slice(0, TOKEN_LEN);
      if (this.entries.has(token)) continue;
      this.entries.set(token, { req, expires: this.now() + this.ttlMs });
      return token;
    }
    throw unavailable('failed to generate a unique streaming token');
  }

  /** The request, once: the token is gone afterwards, whether it had expired or not. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    return this.now() > e.expires ? undefined : e.req;
  }

  private gc(): void {
    const now = this.now();
    for (const [token, e] of this.entries) {
      if (now <= e.expires) return;
      this.entries.delete(token);
    }
  }
}
