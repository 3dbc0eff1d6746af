// Pull-side operations on one repository over its endpoints: the registry's mirrors in order,
// then the registry itself (RegistryClient.endpoints). As in docker and containerd's
// hosts.toml, a mirror that fails in any way (unreachable, 5xx, 404 for the manifest, auth it
// cannot pass) falls through to the next, then to the upstream. Blobs come from the endpoint
// that served the manifest, or from those after it in that order when it cannot serve one:
// blobs are content-addressed and verified by digest, so any copy will do. Mirrors are
// pull-only and never rename the image: the reference stays the upstream's.
import { createHash } from '../../common/crypto.js';
import type * as http from 'node:http';
import { errorKind, errorMessage, invalidArgument, notFound, TsulaError, internal, unavailable } from '../../common/errors.js';
import type { ParsedReference } from '../reference.js';
import { RegistryAuthError, type AuthConfig } from './auth.js';
import { readLimited, registryErrorText, type Endpoint, type RegistryClient } from './client.js';
import { registryKey } from './credentials.js';
import { MANIFEST_ACCEPT, MAX_MANIFEST } from './manifest.js';

export interface Manifest { body: Buffer; mediaType: string; digest: string }

/**
 * The credentials an endpoint gets. A mirror gets the pull's credentials only when they name
 * no server or name the mirror itself (containerd's rule): a login to registry.k8s.io is not
 * handed to whoever runs a mirror of it, nor to the token realm that mirror points at.
 */
export function credentialsFor(ep: Endpoint, creds?: AuthConfig): AuthConfig | undefined {
  if (!creds || !creds.serveraddress || (!ep.mirror && !creds.onlyForServer)) return creds;
  return registryKey(creds.serveraddress) === registryKey(ep.host) ? creds : undefined;
}

export class Repository {
  private readonly eps: Endpoint[];
  private chosen?: Endpoint;
  readonly scope: string;

  constructor(private readonly client: RegistryClient, readonly ref: ParsedReference, private readonly creds?: AuthConfig) {
    this.eps = client.endpoints(ref.domain);
    this.scope = `repository:${ref.path}:pull`;
  }

  /** The endpoint that served the manifest (the upstream before one did). */
  get endpoint(): Endpoint {
    return this.chosen ?? this.eps.at(-1)!;
  }

  /** GET a manifest by tag or digest; a digest reference is verified against the body. */
  async manifest(reference: string): Promise<Manifest> {
    return this.firstServing(`manifest ${this.ref.path}:${reference}`, (ep) => this.fetchManifest(ep, reference));
  }

  /**
   * HEAD a manifest by tag: its digest and media type as the registry names them (the
   * Docker-Content-Digest header), or undefined when it does not say (no such header, a
   * status other than 200: the GET then tells why). A HEAD is not counted by Docker Hub's pull
   * limits, and a manifest known here needs no GET at all (dockerd's tags.Get and manifest
   * store). A refused login is thrown: its `Head "…": no basic auth credentials` is dockerd's.
   */
  async head(reference: string): Promise<{ digest: string; mediaType: string } | undefined> {
    try {
      return await this.firstServing(`manifest ${this.ref.path}:${reference}`, async (ep) => {
        const res = await this.client.request(ep, `/v2/${this.ref.path}/manifests/${reference}`, {
          method: 'HEAD', accept: MANIFEST_ACCEPT, scope: this.scope, creds: credentialsFor(ep, this.creds),
        });
        res.resume();
        const digest = String(res.headers['docker-content-digest'] ?? '');
        if (res.statusCode !== 200 || !/^sha256:[0-9a-f]{64}$/.test(digest)) throw notFound(`no digest for ${reference} from ${ep.host}`);
        return { digest, mediaType: String(res.headers['content-type'] ?? '') };
      });
    } catch (e) {
      if (e instanceof RegistryAuthError) throw e;
      return undefined;
    }
  }

  /**
   * GET a blob, from byte `offset` on when given (a resumed download). The answer is 206 when
   * the registry honoured the range, 200 when it sends the whole blob; the caller streams and
   * verifies the body.
   */
  async blob(digest: string, offset = 0): Promise<http.IncomingMessage> {
    const headers = offset > 0 ? { Range: `bytes=${offset}-` } : undefined;
    return this.firstServing(`blob ${digest}`, async (ep) => {
      const res = await this.client.request(ep, `/v2/${this.ref.path}/blobs/${digest}`, { scope: this.scope, creds: credentialsFor(ep, this.creds), headers });
      if (res.statusCode === 200 || (offset > 0 && res.statusCode === 206)) return res;
      throw await this.statusError(ep, res, `blob ${digest} of ${this.ref.name}`);
    });
  }

  async tags(): Promise<string[]> {
    return this.firstServing(`tags of ${this.ref.path}`, async (ep) => {
      const res = await this.client.request(ep, `/v2/${this.ref.path}/tags/list`, { scope: this.scope, creds: credentialsFor(ep, this.creds) });
      if (res.statusCode !== 200) throw await this.statusError(ep, res, `tags of ${this.ref.name}`);
      let body: { tags?: unknown };
      try {
        body = JSON.parse((await readLimited(res, MAX_MANIFEST, 'tag list')).toString('utf8')) as { tags?: unknown };
      } catch (e) {
        throw e instanceof TsulaError ? e : invalidArgument(`registry ${ep.host} sent a malformed tag list for ${this.ref.name}: ${errorMessage(e)}`);
      }
      return Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === 'string').sort() : [];
    });
  }

  /**
   * Every endpoint until one served the manifest; after that, that one and those after it
   * (those before it failed already).
   */
  private candidates(): Endpoint[] {
    return this.chosen ? this.eps.slice(this.eps.indexOf(this.chosen)) : this.eps;
  }

  /**
   * `fn` on each candidate in turn until one succeeds; the first endpoint that does is kept for
   * what follows. When all fail, the error is the last one's (the upstream's), of its kind,
   * with what each mirror said after it, so the user sees every place that was tried.
   */
  private async firstServing<T>(what: string, fn: (ep: Endpoint) => Promise<T>): Promise<T> {
    const failed: Array<{ ep: Endpoint; err: unknown }> = [];
    for (const ep of this.candidates()) {
      try {
        const out = await fn(ep);
        this.chosen ??= ep;
        return out;
      } catch (err) {
        failed.push({ ep, err });
        if (ep.mirror) this.client.opts.debug?.(`mirror ${ep.name} failed for ${what} of ${this.ref.domain}: ${errorMessage(err)}`);
      }
    }
    const last = failed.at(-1)!;
    const mirrors = failed.filter((f) => f.ep.mirror && f !== last);
    if (!mirrors.length) throw last.err;
    const tried = mirrors.map((f) => `${f.ep.name}: ${errorMessage(f.err)}`).join('; ');
    throw new TsulaError(errorKind(last.err), `${errorMessage(last.err)}; mirrors tried first: ${tried}`, { cause: last.err });
  }

  private async fetchManifest(ep: Endpoint, reference: string): Promise<Manifest> {
    const res = await this.client.request(ep, `/v2/${this.ref.path}/manifests/${reference}`, { accept: MANIFEST_ACCEPT, scope: this.scope, creds: credentialsFor(ep, this.creds) });
    const name = `${this.ref.name}${reference.includes(':') ? '@' : ':'}${reference}`;
    if (res.statusCode !== 200) throw await this.statusError(ep, res, `manifest for ${name}`);
    const body = await readLimited(res, MAX_MANIFEST, `manifest for ${name}`);
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
    if (reference.includes(':') && reference !== digest) {
      throw invalidArgument(`digest mismatch for manifest ${name}: expected ${reference}, got ${digest}`);
    }
    return { body, mediaType: String(res.headers['content-type'] ?? ''), digest };
  }

  private async statusError(ep: Endpoint, res: http.IncomingMessage, what: string): Promise<Error> {
    const status = res.statusCode ?? 0;
    const text = await registryErrorText(res);
    if (status === 404) return notFound(`${what} not found: ${text}`);
    // moby's translatePullError: DENIED (and unknown names) is a 404 naming `docker login`; any
    // other refusal is a 500 (a 401 would make the docker CLI prompt for a login)
    if (status === 403 || (status === 401 && /denied/i.test(text))) {
      return notFound(`pull access denied for ${this.ref.name}, repository does not exist or may require 'docker login': ${text}`);
    }
    if (status === 401) return internal(`${what}: ${text}`);
    if (status === 429) return unavailable(`registry ${ep.host} is rate limiting: ${text}`);
    return unavailable(`registry ${ep.host} answered ${status} for ${what}: ${text}`);
  }
}
